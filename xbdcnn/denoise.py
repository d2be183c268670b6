"""Denoise image files with a trained X-BDCNN or DnCNN (``python -m xbdcnn.main denoise``)."""

from __future__ import annotations

import jax
import numpy as np

from common import runs as runs_lib
from common.data import sources
from common.errors import UserError
from common.files import atomic_path

__all__ = ["load_denoiser", "denoise_file"]


def load_denoiser(workdir: str):
  """``apply(f_NHW1) -> g`` from a training workdir (its config.json and latest checkpoint)."""
  from xbdcnn.models import make_model

  run = runs_lib.load_run(workdir)
  if "model" not in run.cfg or "arch" not in run.cfg.model:
    raise UserError(f"{workdir} is not an xbdcnn training run (its config has no model.arch)")
  model = make_model(run.cfg.model)
  variables = run.variables
  return jax.jit(lambda f: model.apply(variables, f)[0])


def denoise_file(image: str, workdir: str, out: str, tile: int = 512) -> str:
  """Denoises one 8/16-bit or float grayscale file into ``out`` (same dtype). Inputs and the output
  path are checked before the network is loaded."""
  from xbdcnn.task import denoise_image

  if tile < 16:
    raise UserError(f"--tile={tile} is too small; use at least 16 (the U-Net downsamples by 4)")
  raw = sources.read_image(image, mode="gray")
  sources.check_outputs([out], [image])
  if not out.lower().endswith((".png", ".tif", ".tiff")):
    raise UserError(f"--out={out!r}: write .png or .tif/.tiff")
  if raw.dtype not in (np.uint8, np.uint16, np.float32):
    raise UserError(
      f"{image} has pixel type {raw.dtype}; denoise reads 8/16-bit integer or float images: "
      "convert it (e.g. to uint16) first"
    )
  if raw.dtype == np.float32 and not out.lower().endswith((".tif", ".tiff")):
    raise UserError(f"{image} is a float image; write it to a .tif/.tiff --out to keep its values")
  if raw.dtype == np.uint8:
    x, scale = raw.astype(np.float32) / 255.0, 255.0
  elif raw.dtype == np.uint16:
    x, scale = raw.astype(np.float32) / 65535.0, 65535.0
  else:
    x, scale = raw.astype(np.float32), None
  y = denoise_image(load_denoiser(workdir), x, tile=tile)
  if scale is not None:
    y = np.clip(np.round(y * scale), 0, scale).astype(raw.dtype)
  with atomic_path(out) as tmp:
    if out.lower().endswith((".tif", ".tiff")):
      import tifffile

      tifffile.imwrite(tmp, y)
    else:
      from PIL import Image

      Image.fromarray(y).save(tmp, format="PNG")
  return out
