"""Numpy image transforms for grain maps (run on the host, per example).

Random transforms take a ``np.random.Generator`` supplied by ``grain.MapDataset.random_map``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["random_resized_crop", "random_flip", "random_crop", "center_crop", "resize", "to_float"]


def to_float(img: np.ndarray) -> np.ndarray:
  """uint8 -> [0, 1], uint16 -> [0, 1], floats unchanged; float32 out."""
  if img.dtype == np.uint8:
    return img.astype(np.float32) / 255.0
  if img.dtype == np.uint16:
    return img.astype(np.float32) / 65535.0
  return img.astype(np.float32)


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """Bilinear (antialiased when shrinking) resize of an HxW or HxWxC image to ``size`` (h, w)."""
  from skimage.transform import resize as sk_resize

  out = sk_resize(
    img.astype(np.float32), size + img.shape[2:], order=1, anti_aliasing=True, preserve_range=True
  )
  return out.astype(np.float32)


def random_resized_crop(
  img: np.ndarray,
  rng: np.random.Generator,
  size: int | tuple[int, int],
  scale=(0.08, 1.0),
  ratio=(3 / 4, 4 / 3),
) -> np.ndarray:
  """Inception-style crop: area fraction in ``scale``, log-uniform aspect ratio in ``ratio``, resized
  to ``size``; falls back to a centre crop after 10 tries (as torchvision does)."""
  size = (size, size) if isinstance(size, int) else tuple(size)
  h, w = img.shape[:2]
  area = h * w
  for _ in range(10):
    target = area * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    cw = int(round(math.sqrt(target * aspect)))
    ch = int(round(math.sqrt(target / aspect)))
    if 0 < cw <= w and 0 < ch <= h:
      y0 = int(rng.integers(0, h - ch + 1))
      x0 = int(rng.integers(0, w - cw + 1))
      return resize(img[y0 : y0 + ch, x0 : x0 + cw], size)
  s = min(h, w)
  return resize(center_crop(img, (s, s)), size)


def center_crop(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  h, w = img.shape[:2]
  ch, cw = size
  y0, x0 = (h - ch) // 2, (w - cw) // 2
  return img[y0 : y0 + ch, x0 : x0 + cw]


def random_crop(img: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
  h, w = img.shape[:2]
  ch, cw = size
  if ch > h or cw > w:
    raise ValueError(f"random_crop: crop {size} is larger than the image {img.shape[:2]}")
  y0 = int(rng.integers(0, h - ch + 1))
  x0 = int(rng.integers(0, w - cw + 1))
  return img[y0 : y0 + ch, x0 : x0 + cw]


def random_flip(img: np.ndarray, rng: np.random.Generator, vertical: bool = False) -> np.ndarray:
  if rng.random() < 0.5:
    img = img[:, ::-1]
  if vertical and rng.random() < 0.5:
    img = img[::-1]
  return np.ascontiguousarray(img)
