"""Segment images from the command line.

  python -m segclassic.main [IMAGE ...] --out=DIR [--method=otsu|iterative|minimum_error|local|adaptive_otsu|
      kmeans|thin|thicken] [--k=3] [--kmeans_init=kmeans++|random] [--block_size=35] [--offset=10]
      [--window=32] [--var_threshold=150] [--morph=guo_hall|hit_or_miss] [--max_num_iter=N]

``minimum_error`` is the Bayes-decision (Kittler-Illingworth) threshold; ``thin`` and ``thicken`` apply
to the Otsu mask (foreground: the pixels above the threshold), by Guo-Hall (scikit-image's) or the
lecture's hit-or-miss rotations (``--morph=hit_or_miss``); ``--kmeans_init=random`` is the lecture's
k-means (random centres, repeat until no centre changes).

Writes ``<name>_<method>_mask.png`` (labels for k-means) and ``<name>_<method>_overlay.png`` for each
image; inputs with the same file name get their parent folders in ``<name>``. With no IMAGE it runs on
images bundled with scikit-image (camera, coins, page, text).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import flags

from common import cli
from common.data import sources
from common.errors import UserError

METHODS = (
  "otsu",
  "iterative",
  "minimum_error",
  "local",
  "adaptive_otsu",
  "kmeans",
  "thin",
  "thicken",
)


def check_image(img: np.ndarray, name: str) -> np.ndarray:
  """8- or 16-bit integers, or floats in [0, 1] (scikit-image's convention); anything else is refused in
  one line (a float image in 0-255 would wrap around when converted to 8 bits)."""
  if img.dtype.kind == "f":
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > 1:
      raise UserError(
        f"image {name!r} is float with values in [{lo:.4g}, {hi:.4g}]; segclassic reads float images "
        "in [0, 1] (scikit-image's convention): divide by 255 (or the maximum) or save it as 8-bit"
      )
  elif img.dtype not in (np.uint8, np.uint16, np.bool_):
    raise UserError(
      f"image {name!r} has pixel type {img.dtype}; segclassic reads 8/16-bit integer or float "
      "[0, 1] images: convert it (e.g. to uint16) first"
    )
  return img


def _gray(img: np.ndarray) -> np.ndarray:
  if img.ndim == 3:
    from skimage.color import rgb2gray

    return (rgb2gray(img[..., :3]) * 255).round().astype(np.uint8)
  return img


def segment(
  img: np.ndarray,
  method: str,
  *,
  k: int = 3,
  features: str = "color",
  position_weight: float = 1.0,
  kmeans_init: str = "kmeans++",
  block_size: int = 35,
  offset: float = 10.0,
  window: int = 32,
  var_threshold: float = 150.0,
  morph: str = "guo_hall",
  max_num_iter: int | None = None,
) -> np.ndarray:
  """Returns a bool mask (thresholds, thinning) or int labels (k-means)."""
  import segclassic as sc

  if method == "kmeans":
    labels, _ = sc.kmeans_segment(
      img,
      k,
      features=features,
      position_weight=position_weight,
      key=jax.random.PRNGKey(0),
      init=kmeans_init,
    )
    return np.asarray(labels)
  g = _gray(img)
  if method == "otsu":
    return np.asarray(g > sc.threshold_otsu(g))
  if method == "minimum_error":
    return np.asarray(g > sc.threshold_minimum_error(g))
  if method in ("thin", "thicken"):
    fn = sc.thin if method == "thin" else sc.thicken
    return np.asarray(fn(g > sc.threshold_otsu(g), max_num_iter, method=morph))
  if method == "iterative":
    return np.asarray(g >= sc.threshold_iterative(g))
  if method == "local":
    t = sc.threshold_local(g, block_size, offset=offset)
    return np.asarray(g > t)
  if method == "adaptive_otsu":
    return np.asarray(sc.threshold_adaptive_otsu(g, window, var_threshold))
  raise UserError(f"--method={method!r} is unknown; use one of {', '.join(METHODS)}")


def write_outputs(img: np.ndarray, seg: np.ndarray, out: str, name: str) -> list[str]:
  from PIL import Image

  from common.files import atomic_path

  os.makedirs(out, exist_ok=True)
  mask_path = os.path.join(out, f"{name}_mask.png")
  if seg.dtype == bool:
    mask = seg.astype(np.uint8) * 255
  elif int(seg.max(initial=0)) > 255:  # more than 256 labels: a 16-bit PNG
    mask = seg.astype(np.uint16)
  else:
    mask = seg.astype(np.uint8)
  with atomic_path(mask_path) as tmp:
    Image.fromarray(mask).save(tmp, format="PNG")
  import matplotlib.pyplot as plt

  from common import plotting

  fig, ax = plt.subplots(1, 2, figsize=(8, 4))
  ax[0].imshow(img, cmap="gray")
  ax[0].set_title(name)
  ax[1].imshow(img, cmap="gray")
  ax[1].imshow(
    np.ma.masked_where(seg == 0, seg) if seg.dtype == bool else seg,
    alpha=0.45,
    cmap="autumn" if seg.dtype == bool else "tab10",
  )
  ax[1].set_title("segmentation overlay")
  for a in ax:
    a.axis("off")
  fig.tight_layout()
  overlay = os.path.join(out, f"{name}_overlay.png")
  return [mask_path, plotting.save_figure(fig, overlay, dpi=90)]


def _define_flags():
  flags.DEFINE_string("out", None, "output folder (required)", required=True)
  flags.DEFINE_enum("method", "otsu", METHODS, "segmentation method")
  flags.DEFINE_integer(
    "k",
    3,
    "k-means: number of clusters (labels above 255 are written as a 16-bit PNG)",
    lower_bound=1,
    upper_bound=65536,
  )
  flags.DEFINE_enum("features", "color", ("color", "color+position"), "k-means features")
  flags.DEFINE_enum(
    "kmeans_init",
    "kmeans++",
    ("kmeans++", "random"),
    "k-means start: k-means++ (several "
    "starts) or the lecture's random centres, iterated until no centre changes",
  )
  flags.DEFINE_enum(
    "morph",
    "guo_hall",
    ("guo_hall", "hit_or_miss"),
    "thin/thicken: Guo-Hall (scikit-image's) "
    "or the lecture's hit-or-miss with its structuring-element pair in 8 rotations",
  )
  flags.DEFINE_integer(
    "max_num_iter",
    None,
    "thin/thicken: at most this many iterations (default: until stable)",
    lower_bound=1,
  )
  flags.DEFINE_float(
    "position_weight", 1.0, "k-means: weight of the pixel position features", lower_bound=0
  )
  flags.DEFINE_integer("block_size", 35, "local threshold: odd block size", lower_bound=3)
  flags.DEFINE_float("offset", 10.0, "local threshold: offset subtracted from the local mean")
  flags.DEFINE_integer("window", 32, "adaptive Otsu: window size", lower_bound=2)
  flags.DEFINE_float(
    "var_threshold", 150.0, "adaptive Otsu: minimum window variance", lower_bound=0
  )


def main(argv) -> int:
  FLAGS = flags.FLAGS
  images = argv[1:]
  out = sources.check_out_dir(FLAGS.out)
  if FLAGS.method == "local" and FLAGS.block_size % 2 == 0:
    raise UserError(f"--block_size={FLAGS.block_size} must be odd")
  if images:
    names = sources.unique_stems(images)
    items = [
      (n, check_image(sources.read_image(p), p)) for n, p in zip(names, images)
    ]  # all read before any work
  else:
    items = [(n, sources.bundled_gray(n)) for n in ("camera", "coins", "page", "text")]
  outs = [
    os.path.join(out, f"{n}_{FLAGS.method}_{kind}.png")
    for n, _ in items
    for kind in ("mask", "overlay")
  ]
  sources.check_outputs(outs, images)
  kw = dict(
    k=FLAGS.k,
    features=FLAGS.features,
    position_weight=FLAGS.position_weight,
    kmeans_init=FLAGS.kmeans_init,
    block_size=FLAGS.block_size,
    offset=FLAGS.offset,
    window=FLAGS.window,
    var_threshold=FLAGS.var_threshold,
    morph=FLAGS.morph,
    max_num_iter=FLAGS.max_num_iter,
  )
  for name, img in items:
    seg = segment(img, FLAGS.method, **kw)
    for p in write_outputs(img, seg, out, f"{name}_{FLAGS.method}"):
      print(p)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
