"""A ground-truth benchmark for stain deconvolution: images made by the forward model from known
concentration maps and stain vectors, with the non-idealities the paper names.

Concentrations come from real tissue: the hematoxylin and DAB channels of
``skimage.data.immunohistochemistry()`` (Ruifrok deconvolution, clipped at 0 and rescaled), so the maps
have real tissue structure. The image is then

  D = sat( sum_n M_n C_n S_n ) + B(x, y) (+ noise),    I = 255 * 10^-D

with saturation ``sat(d) = d_max tanh(d / d_max)`` (high concentrations), DAB light scatter as a
spectral factor M_DAB > 1, a non-uniform background illumination B(x, y) (a smooth vignetting field)
and Gaussian noise on the intensities.
"""

from __future__ import annotations

import os

import numpy as np

from pgdips import physics

__all__ = [
  "ihc_ground_truth",
  "slide_ground_truth",
  "synthesize",
  "rotate_away",
  "drifting_stains",
  "restain",
  "he_slide",
]

# the seven real stained images (README there), beside the checkout
STAINS_DIR = os.path.join(
  os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
  "shared",
  "data",
  "stains",
)


def ihc_ground_truth(size: int = 256, offset=(0, 0)) -> tuple[np.ndarray, np.ndarray]:
  """``(C (size, size, 2) in OD units, S (2, 3))`` for hematoxylin and DAB."""
  from skimage import data
  from skimage.color import rgb2hed

  hed = rgb2hed(data.immunohistochemistry())
  y0, x0 = offset
  crop = hed[y0 : y0 + size, x0 : x0 + size]
  c = np.clip(crop[..., [0, 2]], 0, None)
  c = c / np.percentile(c, 99.5, axis=(0, 1)) * np.array([0.9, 0.8])  # typical OD ranges
  return c.astype(np.float32), physics.default_stains(("hematoxylin", "dab"))


def slide_ground_truth(size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
  """A whole-slide-sized ``(size, size, 2)`` ground truth: the 512x512 IHC maps of
  :func:`ihc_ground_truth` mirrored (so that the tissue is continuous across the copies) and cropped."""
  c, s = ihc_ground_truth(512)
  block = np.concatenate(
    [np.concatenate([c, c[:, ::-1]], 1), np.concatenate([c[::-1], c[::-1, ::-1]], 1)], 0
  )
  reps = -(-size // 1024)
  return np.tile(block, (reps, reps, 1))[:size, :size], s


def rotate_away(v, lo_deg: float, hi_deg: float, rng, min_component: float = 0.03) -> np.ndarray:
  """The unit vector ``v`` turned by an angle drawn from [lo_deg, hi_deg] towards a random direction,
  redrawn until every component stays >= ``min_component`` (an optical density has no negative part)."""
  v = np.asarray(v, np.float64) / np.linalg.norm(v)
  for _ in range(1000):
    u = rng.normal(size=3)
    u -= u.dot(v) * v
    u /= np.linalg.norm(u)
    t = np.radians(rng.uniform(lo_deg, hi_deg))
    w = np.cos(t) * v + np.sin(t) * u
    if w.min() >= min_component:
      return w.astype(np.float32)
  raise ValueError(f"cannot turn {v} by {lo_deg}-{hi_deg} degrees inside the positive orthant")


def drifting_stains(c, s, k: int, end) -> np.ndarray:
  """Per-pixel stain vectors ``(H, W, N, 3)``: stain ``k``'s colour moves linearly from ``s[k]`` (no stain)
  to ``end`` (at the map's maximum) with its concentration (DAB browns and darkens as it densifies), the
  others fixed; every vector unit length."""
  h, w, n = c.shape
  out = np.broadcast_to(np.asarray(s, np.float32), (h, w, n, 3)).copy()
  t = (c[..., k] / max(float(c[..., k].max()), 1e-12))[..., None]
  v = (1 - t) * np.asarray(s[k], np.float32) + t * np.asarray(end, np.float32)
  out[..., k, :] = v / np.linalg.norm(v, axis=-1, keepdims=True)
  return out


def synthesize(
  c,
  s,
  *,
  m=(1.0, 1.0),
  saturation: float | None = None,
  background: float = 0.0,
  noise_std: float = 0.0,
  seed: int = 0,
) -> np.ndarray:
  """uint8 RGB image from concentrations ``(H, W, N)`` and unit stains ``(N, 3)`` (or per-pixel stains
  ``(H, W, N, 3)``, :func:`drifting_stains`)."""
  s = np.asarray(s, np.float32)
  eq = "hwn,n,nc->hwc" if s.ndim == 2 else "hwn,n,hwnc->hwc"
  d = np.einsum(eq, c, np.asarray(m, np.float32), s)
  if saturation:
    d = saturation * np.tanh(d / saturation)
  h, w = c.shape[:2]
  if background:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    field = background * (0.5 + 0.5 * ((xx - 0.3) ** 2 + (yy - 0.4) ** 2))  # smooth vignetting
    d = d + field[..., None] * np.array([1.0, 0.9, 0.8])
  i = 255.0 * np.power(10.0, -d)
  if noise_std:
    i = i + np.random.default_rng(seed).normal(0, noise_std, i.shape)
  return np.clip(np.round(i), 0, 255).astype(np.uint8)


def restain(rgb: np.ndarray, to: np.ndarray, amount: float = 1.0) -> np.ndarray:
  """An H&E image as if stained with other dyes: its Ruifrok H, E and residual concentrations (colour
  deconvolution with the three unit vectors) recombined with the rows ``to`` (H, E) and the residual
  vector, times ``amount``; uint8."""
  base = physics.default_stains(("hematoxylin", "eosin"))
  resid = np.cross(base[0], base[1])
  rows = np.concatenate([base, np.abs(resid)[None] / np.linalg.norm(resid)])
  od = -np.log10(np.maximum(np.asarray(rgb, np.float64)[..., :3], 1.0) / 255.0)
  c = od @ np.linalg.inv(rows)
  new = np.concatenate([np.asarray(to, np.float64), rows[2:]])
  new[:2] /= np.linalg.norm(new[:2], axis=1, keepdims=True)
  return np.clip(np.round(255 * 10.0 ** -(amount * c @ new)), 0, 255).astype(np.uint8)


def he_slide(
  path: str,
  shape: tuple[int, int],
  *,
  seed: int = 0,
  fill: float = 0.4,
  mpp: float = 0.5,
  stains=None,
  amount: float = 1.0,
  image: str | None = None,
) -> list[tuple[int, int, int, int]]:
  """A test slide of real H&E tissue: crops of 128-512 px of ``he.jpg`` (``../shared/data/stains``) in
  random orientations, laid out on glass over about ``fill`` of the area, optionally restained with
  ``stains`` (:func:`restain`), written as a pyramidal TIFF (:func:`common.data.slides.write_synthetic`)."""
  from PIL import Image

  from common.data import slides

  he = np.asarray(Image.open(image or os.path.join(STAINS_DIR, "he.jpg")).convert("RGB"))
  if stains is not None:
    he = restain(he, stains, amount)
  rng = np.random.default_rng(seed)
  pieces, area = [], 0
  while area < fill * shape[0] * shape[1]:
    h, w = (int(v) for v in rng.integers(128, 513, 2))
    y, x = int(rng.integers(0, 513 - h)), int(rng.integers(0, 513 - w))
    pieces.append(he[y : y + h, x : x + w])
    area += h * w
  return slides.write_synthetic(path, pieces, shape, mpp=mpp, seed=seed)
