"""Figures written as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["image_grid", "save_panels", "save_figure", "pyplot"]


def pyplot():
  """matplotlib.pyplot with the Agg backend, imported on first use (so that ``--help`` of a command that
  draws figures neither loads matplotlib nor writes its cache)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def image_grid(images: np.ndarray, ncols: int, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
  """``(N, H, W[, C])`` -> one ``(rows*H, ncols*W[, C])`` mosaic."""
  images = np.asarray(images, np.float32)
  if images.ndim == 3:
    images = images[..., None]
  n, h, w, c = images.shape
  rows = -(-n // ncols)
  out = np.full((rows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.float32)
  for i in range(n):
    r, k = divmod(i, ncols)
    out[
      pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w
    ] = images[i]
  return out[..., 0] if c == 1 else out


def save_panels(
  path: str,
  panels: Sequence[tuple[str, np.ndarray]],
  ncols: int | None = None,
  cmap: str = "gray",
  suptitle: str | None = None,
  size: float = 3.0,
) -> str:
  """Titled image panels in one PNG."""
  n = len(panels)
  ncols = ncols or min(n, 4)
  nrows = -(-n // ncols)
  plt = pyplot()
  fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, (title, img) in zip(axes.ravel(), panels):
    img = np.asarray(img)
    ax.imshow(img, cmap=None if img.ndim == 3 else cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
  if suptitle:
    fig.suptitle(suptitle)
  fig.tight_layout()
  return save_figure(fig, path, dpi=100)


def save_figure(fig, path: str, dpi: int = 100) -> str:
  """Saves a matplotlib figure atomically (:func:`common.files.atomic_path`) and closes it."""
  from common.files import atomic_path

  try:
    with atomic_path(path) as tmp:
      fig.savefig(tmp, dpi=dpi)
  finally:
    pyplot().close(fig)
  return path
