"""Procedural chest-radiograph-like images: more X-ray-like training (and held-out) data than the
photographs scikit-image ships, with any number of distinct images.

A frontal chest view in transmission contrast (dense = bright): a body outline of soft tissue on
a dark background, two darker lung fields, a bright spine with vertebral segments, ribs as bright
curved bands over the lungs, two clavicles, a heart shadow and low-frequency vascular texture, then
a slight detector blur. Every shape is drawn with random position, size and density from the seed,
so images of different seeds differ; values are in [0, 1]. Not a simulation of anatomy or of the
imaging physics (the noise model is ``xbdcnn.noise``): a source of smooth regions, thin bright edges and
soft gradients, the structures an X-ray denoiser has to keep.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["chest_phantom"]


def _soft(mask_dist: np.ndarray, width: float) -> np.ndarray:
  """1 inside (negative distance), 0 outside, a smooth step of ``width`` pixels at the edge."""
  return 1.0 / (1.0 + np.exp(np.clip(mask_dist / max(width, 1e-3), -40, 40)))


def chest_phantom(seed: int, size: int = 256) -> np.ndarray:
  """A (size, size) float32 image in [0, 1], deterministic in ``seed``."""
  rng = np.random.default_rng([seed, 8128])
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size  # unit square
  u = lambda a, b: rng.uniform(a, b)
  img = np.full((size, size), u(0.03, 0.12))
  # body (soft tissue): a wide ellipse
  cx, cy = 0.5 + u(-0.04, 0.04), 0.55 + u(-0.04, 0.04)
  ax, ay = u(0.40, 0.48), u(0.50, 0.60)
  body = _soft(np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2) - 1.0, 0.02)
  img += body * u(0.40, 0.55)
  # lungs: two ellipses, air = less attenuation = darker
  for side in (-1, 1):
    lx, ly = cx + side * u(0.16, 0.21), cy - u(0.02, 0.08)
    rx, ry = u(0.11, 0.15), u(0.24, 0.32)
    d = np.sqrt(((xx - lx) / rx) ** 2 + ((yy - ly) / ry) ** 2) - 1.0
    img -= _soft(d, 0.03) * body * u(0.22, 0.32)
  # spine and vertebrae
  spine = _soft(np.abs(xx - cx) - u(0.035, 0.05), 0.006)
  seg = 0.5 + 0.5 * np.cos(2 * np.pi * (yy - u(0, 1)) / u(0.055, 0.075))
  img += spine * body * (u(0.15, 0.22) + 0.06 * seg)
  # ribs: bright arcs y = y0 + k (x - cx)^2 on each side, thin bands
  for side in (-1, 1):
    y0 = cy - u(0.30, 0.36)
    for _ in range(int(rng.integers(8, 11))):
      k, w = u(0.8, 1.6), u(0.006, 0.011)
      d = np.abs(yy - (y0 + k * (xx - cx) ** 2)) - w
      within = _soft(np.abs(xx - (cx + side * 0.2)) - u(0.17, 0.22), 0.01) * (
        side * (xx - cx) > 0.03
      )
      img += _soft(d, 0.003) * within * body * u(0.06, 0.11)
      y0 += u(0.045, 0.065)
  # clavicles: two slanted bands at the top
  for side in (-1, 1):
    a, y0 = side * u(0.15, 0.3), cy - u(0.38, 0.44)
    d = np.abs(yy - (y0 + a * (xx - cx))) - u(0.008, 0.013)
    img += _soft(d, 0.004) * _soft(np.abs(xx - cx - side * 0.17) - 0.15, 0.01) * u(0.10, 0.16)
  # heart: a blob left of centre (patient's left = image right), lower half
  hx, hy = cx + u(0.03, 0.09), cy + u(0.08, 0.15)
  d = np.sqrt(((xx - hx) / u(0.11, 0.15)) ** 2 + ((yy - hy) / u(0.10, 0.13)) ** 2) - 1.0
  img += _soft(d, 0.03) * u(0.12, 0.2)
  # vascular markings: smoothed noise, stronger near the hila
  tex = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 90)
  tex /= tex.std() + 1e-12
  img += 0.025 * tex * body
  img = ndimage.gaussian_filter(img, 0.6)  # detector blur
  img *= min(1.0, 0.95 / img.max())  # no saturated bone over the heart
  return np.clip(img, 0.0, 1.0).astype(np.float32)
