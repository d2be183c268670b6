"""Segment an image from the command line.

  python -m segclassic.main [IMAGE ...] --method=otsu|iterative|local|adaptive_otsu|kmeans [--k=3]
      [--block_size=35] [--offset=10] [--window=32] [--var_threshold=150] --out=DIR

Writes ``<name>_mask.png`` (labels for k-means) and ``<name>_overlay.png`` for each image. With no
IMAGE it runs on images bundled with scikit-image (camera, coins, page, text).
"""

from __future__ import annotations

import os
import sys

import jax
import numpy as np

METHODS = ("otsu", "iterative", "local", "adaptive_otsu", "kmeans")


def _gray(img: np.ndarray) -> np.ndarray:
  if img.ndim == 3:
    from skimage.color import rgb2gray
    return (rgb2gray(img[..., :3]) * 255).round().astype(np.uint8)
  return img


def segment(img: np.ndarray, method: str, opts: dict) -> np.ndarray:
  """Returns a bool mask (thresholds) or int labels (k-means)."""
  import segclassic as sc
  if method == "kmeans":
    labels, _ = sc.kmeans_segment(img, int(opts.get("k", 3)), features=opts.get("features", "color"),
                                  position_weight=float(opts.get("position_weight", 1.0)), key=jax.random.PRNGKey(0))
    return np.asarray(labels)
  g = _gray(img)
  if method == "otsu":
    return np.asarray(g > sc.threshold_otsu(g))
  if method == "iterative":
    return np.asarray(g >= sc.threshold_iterative(g))
  if method == "local":
    t = sc.threshold_local(g, int(opts.get("block_size", 35)), offset=float(opts.get("offset", 10)))
    return np.asarray(g > t)
  if method == "adaptive_otsu":
    return np.asarray(sc.threshold_adaptive_otsu(g, int(opts.get("window", 32)),
                                                 float(opts.get("var_threshold", 150.0))))
  raise ValueError(f"--method={method!r} is unknown; use one of {', '.join(METHODS)}")


def write_outputs(img: np.ndarray, seg: np.ndarray, out: str, name: str) -> list[str]:
  from PIL import Image
  os.makedirs(out, exist_ok=True)
  mask_path = os.path.join(out, f"{name}_mask.png")
  if seg.dtype == bool:
    Image.fromarray(seg.astype(np.uint8) * 255).save(mask_path)
  else:
    Image.fromarray(seg.astype(np.uint8)).save(mask_path)
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(1, 2, figsize=(8, 4))
  ax[0].imshow(img, cmap="gray")
  ax[0].set_title(name)
  ax[1].imshow(img, cmap="gray")
  ax[1].imshow(np.ma.masked_where(seg == 0, seg) if seg.dtype == bool else seg, alpha=0.45,
               cmap="autumn" if seg.dtype == bool else "tab10")
  ax[1].set_title("segmentation overlay")
  for a in ax:
    a.axis("off")
  fig.tight_layout()
  overlay = os.path.join(out, f"{name}_overlay.png")
  fig.savefig(overlay, dpi=90)
  plt.close(fig)
  return [mask_path, overlay]


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  from common.config import parse_kv
  opts, images = parse_kv(argv)
  method, out = opts.get("method", "otsu"), opts.get("out", "segclassic_out")
  if method not in METHODS:
    print(f"error: --method={method!r} is unknown; use one of {', '.join(METHODS)}", file=sys.stderr)
    return 2
  from common.data import sources
  if images:
    items = []
    for p in images:
      if not os.path.isfile(p):
        print(f"error: image {p!r} does not exist", file=sys.stderr)
        return 2
      items.append((os.path.splitext(os.path.basename(p))[0], sources.read_image(p)))
  else:
    items = [(n, sources.bundled_gray(n)) for n in ("camera", "coins", "page", "text")]
  for name, img in items:
    try:
      seg = segment(img, method, opts)
    except ValueError as e:
      print(f"error: {name}: {e}", file=sys.stderr)
      return 2
    for p in write_outputs(img, seg, out, f"{name}_{method}"):
      print(p)
  return 0


if __name__ == "__main__":
  sys.exit(main())
