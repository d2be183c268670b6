"""Pyramidal slides out: a chunked on-disk store of finished tiles, and the tiled pyramidal TIFF that
OpenSlide, QuPath and tiffslide open as a slide.

:class:`TileStore` is a zarr array (tensorstore, installed with orbax) of the full-resolution result,
chunked like the tiles that fill it: a killed run keeps every chunk it wrote, and the pyramid is built
from the store at the end. :func:`write_pyramid` streams it into OpenSlide's generic-tiff layout: every
level tiled, level 0 first, each reduced level (half the previous one, a 2x2 box mean) the next image of
the main IFD chain marked reduced-resolution (NewSubfileType 1), microns per pixel in the resolution
tags (pixels per centimetre). Memory holds two bands of tiles per level, never a whole level: each
reduced level is written to a scratch store while the level above it is streamed out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import numpy as np

from common.files import atomic_path

__all__ = ["TileStore", "write_pyramid", "COMPRESSIONS"]

COMPRESSIONS = ("deflate", "jpeg", "none")


def _spec(path: str) -> dict:
  return {"driver": "zarr", "kvstore": {"driver": "file", "path": os.path.abspath(path)}}


class TileStore:
  """An ``(H, W, C)`` uint8 array on disk in ``chunk`` x ``chunk`` pieces, created or reopened."""

  def __init__(self, path: str, shape: tuple[int, int, int], chunk: int):
    import tensorstore as ts

    self.path, self.shape, self.chunk = path, tuple(int(v) for v in shape), int(chunk)
    spec = _spec(path)
    if os.path.exists(os.path.join(path, ".zarray")):
      self._a = ts.open(spec, open=True).result()
      if tuple(self._a.shape) != self.shape:
        raise ValueError(f"{path} holds shape {tuple(self._a.shape)}, not {self.shape}")
    else:
      spec["metadata"] = {
        "shape": list(self.shape),
        "chunks": [self.chunk, self.chunk, self.shape[2]],
        "dtype": "|u1",
        "compressor": {"id": "blosc", "cname": "lz4", "clevel": 1, "shuffle": 1},
        "fill_value": 0,
      }
      self._a = ts.open(spec, create=True, open=True).result()

  def write(self, y: int, x: int, block: np.ndarray):
    """Starts writing ``block`` at ``(y, x)`` (cropped to the array); returns a future (``.result()``
    waits until it is on disk)."""
    h, w = min(block.shape[0], self.shape[0] - y), min(block.shape[1], self.shape[1] - x)
    return self._a[y : y + h, x : x + w].write(np.ascontiguousarray(block[:h, :w]))

  def read(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
    x1 = self.shape[1] if x1 is None else x1
    return np.asarray(self._a[y0:y1, x0:x1].read().result())


def _half(band: np.ndarray) -> np.ndarray:
  """2x2 box mean (rounded half up), an odd last row/column averaged with itself."""
  h, w = band.shape[:2]
  b = np.pad(band, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge").astype(np.uint16)
  s = b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]
  return ((s + 2) // 4).astype(np.uint8)


def _tiles(band: np.ndarray, tile: int, fill: np.ndarray) -> Iterator[np.ndarray]:
  """The row of ``tile`` x ``tile`` tiles of a band (fewer rows at the bottom edge), padded with ``fill``."""
  h, w, c = band.shape
  for x in range(0, w, tile):
    t = np.empty((tile, tile, c), np.uint8)
    t[...] = fill
    t[:h, : min(tile, w - x)] = band[:, x : x + tile]
    yield t


def write_pyramid(
  path: str,
  band: Callable[[int, int], np.ndarray],
  shape: tuple[int, int, int],
  *,
  tile: int = 256,
  mpp: float | None = None,
  compression: str = "deflate",
  quality: int = 90,
  scratch: str,
  fill=255,
  description: str = "",
) -> list[tuple[int, int]]:
  """Writes an ``(H, W, C)`` uint8 image (C = 1 or 3) given as ``band(y0, y1)`` -> rows ``y0:y1`` as a
  pyramidal TIFF at ``path`` (atomically: a temporary name, renamed when complete). Levels halve until
  one tile holds the image. ``scratch``: a folder for the reduced levels' stores (removed afterwards).
  Returns the levels' (H, W)."""
  import tifffile

  if compression not in COMPRESSIONS:
    raise ValueError(f"compression {compression!r} is not one of {COMPRESSIONS}")
  h, w, c = shape
  fill = np.broadcast_to(np.asarray(fill, np.uint8), (c,))
  kw = dict(
    tile=(tile, tile),
    photometric="rgb" if c == 3 else "minisblack",
    compression={"deflate": "zlib", "jpeg": "jpeg", "none": None}[compression],
    compressionargs={"jpeg": {"level": quality}, "deflate": {"level": 6}}.get(compression),
    resolutionunit="CENTIMETER" if mpp else None,
    maxworkers=os.cpu_count() or 1,
    metadata=None,
  )
  os.makedirs(scratch, exist_ok=True)
  sizes = [(h, w)]
  while max(sizes[-1]) > tile:
    sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
  levels: list[Callable[[int, int], np.ndarray]] = [band]

  pending: list = []  # writes of the level being built, awaited before it is streamed

  def stream(k: int) -> Iterator[np.ndarray]:
    """Level k's tiles in row-major order; on the way, level k+1 is written to its scratch store.
    (tifffile stops pulling after the last tile, so nothing may follow the last ``yield``.)"""
    for f in pending:
      f.result()
    pending.clear()
    lh, lw = sizes[k]
    nxt = None
    if k + 1 < len(sizes):
      nxt = TileStore(os.path.join(scratch, f"level{k + 1}.zarr"), (*sizes[k + 1], c), tile)
      levels.append(lambda y0, y1, s=nxt: s.read(y0, y1))
    for y in range(0, lh, 2 * tile):  # two tile rows -> one row of the next level
      b = levels[k](y, min(y + 2 * tile, lh))
      if nxt is not None:
        pending.append(nxt.write(y // 2, 0, _half(b)))
      for yy in range(0, b.shape[0], tile):
        yield from _tiles(b[yy : yy + tile], tile, fill)

  try:
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=True) as tw:
      for k, (lh, lw) in enumerate(sizes):
        res = (1e4 / (mpp * w / lw), 1e4 / (mpp * h / lh)) if mpp else None
        tw.write(
          stream(k),
          shape=(lh, lw, c) if c > 1 else (lh, lw),
          dtype=np.uint8,
          subfiletype=1 if k else 0,
          resolution=res,
          description=description if k == 0 and description else None,
          **kw,
        )
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return sizes
