"""segclassic vs scikit-image / scipy on a batch of images, timed in the same run.

  python bench/segclassic.py [--batch=64] [--size=512] [--repeats=3]

For each operator: one jitted JAX call on the whole (B, H, W) batch (compiled first, best of
``repeats``) against a Python loop of the reference over the B images (best of ``repeats``). Prints a
markdown table; ratio = reference time / JAX time (> 1 means JAX is faster). Results are checked equal
before timing.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage as ndi
from skimage import data, exposure, filters, morphology, transform

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import segclassic as sc  # noqa: E402


def _numpy_thin_hit_or_miss(a):
  """The lecture's thinning with scipy's hit-or-miss, pair by pair, until stable."""
  from segclassic.morphology import LECTURE_PAIRS

  while True:
    before = a
    for fg, bg in LECTURE_PAIRS:
      a = a & ~ndi.binary_hit_or_miss(a, fg, bg)
    if (a == before).all():
      return a


def _numpy_minimum_error(img):
  """Kittler-Illingworth on the 256-bin histogram in NumPy (float64, two-pass variances), first minimum."""
  h = np.bincount(img.ravel(), minlength=256).astype(np.float64)
  v = np.arange(256.0)
  n1, s1 = np.cumsum(h), np.cumsum(h * v)
  n2, s2 = n1[-1] - n1, s1[-1] - s1
  with np.errstate(divide="ignore", invalid="ignore"):
    m1, m2 = s1 / n1, s2 / n2
    low = v[None, :] <= v[:, None]
    var1 = np.where(low, h * (v[None, :] - m1[:, None]) ** 2, 0).sum(1) / n1
    var2 = np.where(low, 0, h * (v[None, :] - m2[:, None]) ** 2).sum(1) / n2
    p1, p2 = n1 / n1[-1], n2 / n1[-1]
    j = 1 + p1 * np.log(var1) + p2 * np.log(var2) - 2 * (p1 * np.log(p1) + p2 * np.log(p2))
  occ1 = np.cumsum(h > 0)
  j[~((occ1 >= 2) & (occ1[-1] - occ1 >= 2))] = np.inf  # a class needs two distinct levels
  return int(np.argmin(j))


def _images(b: int, size: int) -> np.ndarray:
  names = ["camera", "coins", "page", "text", "moon", "brick", "grass", "gravel"]
  base = []
  for n in names:
    im = getattr(data, n)()
    im = transform.resize(im, (size, size), preserve_range=True, anti_aliasing=True).astype(
      np.uint8
    )
    base.append(im)
  rng = np.random.default_rng(0)
  out = [np.roll(base[i % len(base)], rng.integers(0, size, 2), axis=(0, 1)) for i in range(b)]
  return np.stack(out)


def _best(fn, repeats):
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return best


from absl import flags  # noqa: E402

flags.DEFINE_integer("batch", 64, "images per batch", lower_bound=1)
flags.DEFINE_integer("size", 512, "image size", lower_bound=16)
flags.DEFINE_integer("repeats", 3, "timing repeats (best of)", lower_bound=1)


def main(argv):
  del argv
  b, size, repeats = flags.FLAGS.batch, flags.FLAGS.size, flags.FLAGS.repeats
  imgs = _images(b, size)
  binary = imgs > 128
  fp = sc.disk(2)
  corner_fg = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
  corner_bg = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
  cases = [
    (
      "otsu",
      imgs,
      jax.vmap(sc.threshold_otsu),
      lambda x: np.array([filters.threshold_otsu(i) for i in x]),
    ),
    (
      "threshold_local gaussian 35",
      imgs,
      lambda x: sc.threshold_local(x, 35),
      lambda x: np.stack([filters.threshold_local(i, 35) for i in x]),
    ),
    (
      "equalize_hist",
      imgs,
      jax.vmap(sc.equalize_hist),
      lambda x: np.stack([exposure.equalize_hist(i) for i in x]),
    ),
    (
      "binary erosion disk(2)",
      binary,
      lambda x: sc.erosion(x, fp),
      lambda x: np.stack([ndi.binary_erosion(i, fp) for i in x]),
    ),
    (
      "binary dilation disk(2)",
      binary,
      lambda x: sc.dilation(x, fp),
      lambda x: np.stack([ndi.binary_dilation(i, fp) for i in x]),
    ),
    (
      "binary opening disk(2)",
      binary,
      lambda x: sc.opening(x, fp),
      lambda x: np.stack([ndi.binary_opening(i, fp) for i in x]),
    ),
    (
      "binary closing disk(2)",
      binary,
      lambda x: sc.closing(x, fp),
      lambda x: np.stack([ndi.binary_closing(i, fp) for i in x]),
    ),
    (
      "grey erosion 5x5",
      imgs,
      lambda x: sc.erosion(x, np.ones((5, 5), bool)),
      lambda x: np.stack([ndi.grey_erosion(i, footprint=np.ones((5, 5), bool)) for i in x]),
    ),
    (
      "grey opening disk(2)",
      imgs,
      lambda x: sc.opening(x, fp),
      lambda x: np.stack([ndi.grey_opening(i, footprint=fp) for i in x]),
    ),
    (
      "hit_or_miss 3x3",
      binary,
      lambda x: sc.hit_or_miss(x, corner_fg, corner_bg),
      lambda x: np.stack([ndi.binary_hit_or_miss(i, corner_fg, corner_bg) for i in x]),
    ),
    ("thin", binary, sc.thin, lambda x: np.stack([morphology.thin(i) for i in x])),
    (
      "thin, lecture hit-or-miss",
      binary,
      lambda x: sc.thin(x, method="hit_or_miss"),
      lambda x: np.stack([_numpy_thin_hit_or_miss(i) for i in x]),
    ),
    (
      "binary erosion 3x3, replicate padding",
      binary,
      lambda x: sc.binary_erosion(x, np.ones((3, 3), bool), mode="nearest"),
      lambda x: np.stack(
        [
          ndi.grey_erosion(
            i.astype(np.uint8), footprint=np.ones((3, 3), bool), mode="nearest"
          ).astype(bool)
          for i in x
        ]
      ),
    ),
    (
      "minimum-error threshold",
      imgs,
      sc.threshold_minimum_error,
      lambda x: np.array([_numpy_minimum_error(i) for i in x]),
    ),
  ]
  rows = []
  print(
    f"# segclassic benchmark: batch {b} x {size}x{size}, {jax.device_count()} {jax.default_backend()} device(s), "
    f"best of {repeats}\n"
  )
  print("| operator | JAX (ms) | reference loop (ms) | ratio ref/JAX |")
  print("|---|---|---|---|")
  for name, x, ours, ref in cases:
    f = jax.jit(ours)
    xj = jnp.asarray(x)
    got = np.asarray(f(xj))
    want = ref(x)
    if got.dtype == bool or want.dtype == bool or np.issubdtype(want.dtype, np.integer):
      ok = np.array_equal(got, want)
    else:
      ok = np.allclose(got, want, rtol=1e-4, atol=1e-3)
    t_j = _best(lambda: f(xj).block_until_ready(), repeats)
    t_r = _best(lambda: ref(x), repeats if not name.startswith("thin") else 1)
    rows.append((name, t_j, t_r))
    print(
      f"| {name}{'' if ok else ' (MISMATCH)'} | {t_j * 1e3:.1f} | {t_r * 1e3:.1f} | {t_r / t_j:.2f} |",
      flush=True,
    )
  return 0


if __name__ == "__main__":
  from common import cli

  cli.run(main)
