"""X-BDCNN entry point.

  python -m xbdcnn.main train --config=configs/xbdcnn/bundled.py[:variant] --workdir=DIR
  python -m xbdcnn.main denoise IMAGE --checkpoint=DIR --out=FILE [--tile=512]

``denoise`` accepts 8- and 16-bit PNG/TIFF (or float TIFF) of any size and writes the same dtype.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def load_denoiser(workdir: str):
  """``apply(f_NHW1) -> g`` from a training workdir (its config.json and latest checkpoint)."""
  import jax
  import ml_collections
  from common import checkpoint
  from xbdcnn.models import make_model
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{workdir} has no config.json; pass the --workdir of a finished "
                            "'python -m xbdcnn.main train' run as --checkpoint")
  with open(path) as f:
    cfg = ml_collections.ConfigDict(json.load(f))
  state, _ = checkpoint.load_state(workdir)
  model = make_model(cfg.model)
  variables = {"params": state["params"], **(state.get("extra") or {})}
  return jax.jit(lambda f: model.apply(variables, f)[0])


def denoise_file(image: str, workdir: str, out: str, tile: int = 512) -> str:
  from common.data.sources import read_image
  from xbdcnn.task import denoise_image
  if not os.path.isfile(image):
    raise FileNotFoundError(f"image {image!r} does not exist")
  raw = read_image(image)
  if raw.ndim == 3:
    raise ValueError(f"{image} has {raw.shape[-1]} channels; X-ray denoising expects a grayscale image")
  if raw.dtype == np.uint8:
    x, scale = raw.astype(np.float32) / 255.0, 255.0
  elif raw.dtype == np.uint16:
    x, scale = raw.astype(np.float32) / 65535.0, 65535.0
  else:
    x, scale = raw.astype(np.float32), None
  y = denoise_image(load_denoiser(workdir), x, tile=tile)
  if scale is not None:
    y = np.clip(np.round(y * scale), 0, scale).astype(raw.dtype)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if out.lower().endswith((".tif", ".tiff")) or y.dtype == np.float32:
    import tifffile
    tifffile.imwrite(out, y)
  else:
    from PIL import Image
    Image.fromarray(y).save(out)
  return out


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] not in ("train", "denoise"):
    print(__doc__, file=sys.stderr)
    return 2
  cmd, rest = argv[0], argv[1:]
  if cmd == "train":
    from common import main as common_main
    return common_main.main(rest)
  from common.config import parse_kv
  opts, images = parse_kv(rest)
  if len(images) != 1 or "checkpoint" not in opts or "out" not in opts:
    print("usage: python -m xbdcnn.main denoise IMAGE --checkpoint=WORKDIR --out=FILE", file=sys.stderr)
    return 2
  try:
    print(denoise_file(images[0], opts["checkpoint"], opts["out"], int(opts.get("tile", 512))))
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  from absl import flags
  flags.FLAGS.mark_as_parsed()
  sys.exit(main())
