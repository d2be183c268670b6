"""Whole-slide images through OpenSlide: levels, microns per pixel, tiles, a tissue mask and a grid of
tissue tiles, and a grain-compatible source of tissue tiles.

Any file OpenSlide opens is a slide (Aperio .svs, Hamamatsu .ndpi, MIRAX .mrxs, Leica .scn, Ventana
.bif, Philips TIFF, DICOM WSI, tiled TIFF); OpenSlide comes from the ``openslide-bin`` wheel, no system
package. Coordinates: :meth:`Slide.read` takes pixel offsets *at the level read*; a tile's level-0
offset is that times the level's downsample (what OpenSlide's ``read_region`` takes). Pixels outside the
scanned area (alpha 0) come back as white glass.

The tissue mask is computed on a low-resolution copy (at most ``max_side`` pixels a side, read level by
level in strips, so a slide is never held whole): the largest per-channel optical density of each
pixel, Otsu's threshold of it (:func:`common.threshold.otsu`) kept within [``od_min``, ``od_max``] (a
slide that is nearly all glass or all tissue still gets a sensible cut), then a binary opening and
closing with a disk (segclassic's operators) to drop dust and fill small holes. A grid tile is tissue
when any mask pixel under it is.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from common.errors import InputError

__all__ = [
  "SlideError",
  "Slide",
  "TileGrid",
  "SlideTiles",
  "is_slide",
  "is_slide_path",
  "list_slides",
  "low_res",
  "tissue_mask",
  "tile_grid",
]

MPP_TOLERANCE = 0.1  # a level matches a requested MPP within 10%
# the scanners' own extensions: such a file that OpenSlide cannot open is a broken slide, not an image
SLIDE_SUFFIXES = (".svs", ".ndpi", ".vms", ".vmu", ".mrxs", ".scn", ".bif", ".svslide")


class SlideError(InputError):
  """A slide that cannot be used, with what to do about it (one line)."""


def _openslide():
  import openslide

  return openslide


def is_slide(path: str) -> bool:
  """A file OpenSlide recognizes (a scanner format or a tiled TIFF); PNG, JPEG and strip TIFFs are not."""
  if not os.path.isfile(path):
    return False
  try:
    return _openslide().OpenSlide.detect_format(path) is not None
  except Exception:  # noqa: BLE001 -- unreadable files are not slides; the image reader says why
    return False


def is_slide_path(path: str) -> bool:
  """A slide, or a file with a scanner's extension (which :class:`Slide` then explains if it cannot
  open it)."""
  return is_slide(path) or (os.path.isfile(path) and path.lower().endswith(SLIDE_SUFFIXES))


def list_slides(path: str) -> list[str]:
  """``path`` itself if it is a slide, else the slides directly inside the folder ``path`` (sorted);
  MIRAX .mrxs companions (the data folder beside each .mrxs) are skipped."""
  if os.path.isfile(path):
    return [path] if is_slide_path(path) else []
  if not os.path.isdir(path):
    raise SlideError(f"{path}: no such file or folder")
  return [
    p
    for p in (os.path.join(path, n) for n in sorted(os.listdir(path)) if not n.startswith("."))
    if is_slide_path(p)
  ]


def _tiff_channels(path: str) -> str | None:
  """Why a TIFF-family slide is not an 8-bit RGB brightfield image, or None (also for non-TIFF files)."""
  import tifffile

  try:
    with tifffile.TiffFile(path) as tf:
      page = tf.pages[0]
      spp, bits = int(page.samplesperpixel), int(np.dtype(page.dtype).itemsize * 8)
      photometric = page.photometric.name if page.photometric is not None else "?"
      pages = len(tf.pages)
  except Exception:  # noqa: BLE001 -- not a TIFF: OpenSlide's own checks apply
    return None
  if photometric in ("RGB", "YCBCR") and spp in (3, 4) and bits == 8:
    return None
  return f"{spp} sample(s) of {bits} bits per pixel ({photometric}, {pages} pages)"


class Slide:
  """One whole-slide image, opened with OpenSlide. Picklable (by path), so grain workers reopen it."""

  def __init__(self, path: str, brightfield: bool = True):
    self.path, self._brightfield = path, brightfield
    if not os.path.isfile(path):
      raise SlideError(f"{path}: no such file")
    osl = _openslide()
    try:
      self._s = osl.OpenSlide(path)
    except (osl.OpenSlideError, osl.OpenSlideUnsupportedFormatError) as e:
      raise SlideError(
        f"{path}: OpenSlide cannot open it ({e}); is it a whole-slide image "
        "(.svs, .ndpi, .mrxs, .scn, .bif, tiled TIFF) and complete?"
      ) from None
    why = _tiff_channels(path) if brightfield else None
    if why is not None:
      raise SlideError(
        f"{path} is not an 8-bit RGB brightfield slide ({why}); a fluorescence or multiplexed "
        "slide needs its channels unmixed by other tools: give a brightfield (H&E, IHC) slide"
      )
    self.dimensions = [
      tuple(int(v) for v in d) for d in self._s.level_dimensions
    ]  # (w, h) per level
    self.downsamples = [float(d) for d in self._s.level_downsamples]
    props = self._s.properties
    try:
      self.mpp = float(props["openslide.mpp-x"])
    except (KeyError, ValueError):
      self.mpp = None
    self.vendor = props.get("openslide.vendor", "?")

  def __getstate__(self):
    return {"path": self.path, "brightfield": self._brightfield}

  def __setstate__(self, state):
    self.__init__(state["path"], state["brightfield"])

  def close(self) -> None:
    self._s.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  @property
  def level_count(self) -> int:
    return len(self.dimensions)

  def level_mpp(self, level: int) -> float | None:
    return None if self.mpp is None else self.mpp * self.downsamples[level]

  def describe_levels(self) -> str:
    return ", ".join(
      f"{k}: {w}x{h}" + (f" at {self.level_mpp(k):.3g} um/px" if self.mpp else "")
      for k, (w, h) in enumerate(self.dimensions)
    )

  def level_for(self, level: int | None = None, mpp: float | None = None) -> int:
    """The level to work at: ``level`` as given, or the one whose microns per pixel is within 10% of
    ``mpp``; neither -> level 0. A level or MPP the slide does not have is a one-line SlideError."""
    if mpp:
      if self.mpp is None:
        raise SlideError(
          f"{self.path} does not record its microns per pixel; choose a level instead "
          f"(--config.slide.level; levels {self.describe_levels()})"
        )
      err = [abs(self.level_mpp(k) / mpp - 1) for k in range(self.level_count)]
      k = int(np.argmin(err))
      if err[k] > MPP_TOLERANCE:
        raise SlideError(
          f"{self.path} has no level at {mpp:g} um/px (levels {self.describe_levels()}); "
          "choose one of those"
        )
      return k
    level = 0 if level is None else int(level)
    if not 0 <= level < self.level_count:
      raise SlideError(
        f"{self.path} has no level {level} (levels {self.describe_levels()}); choose one of those"
      )
    return level

  def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB of the region at ``(x, y)`` in ``level``'s pixels, on white where the
    slide is transparent (outside the scanned area or the slide)."""
    ds = self.downsamples[level]
    rgba = np.asarray(
      self._s.read_region((int(round(x * ds)), int(round(y * ds))), level, (int(w), int(h)))
    )
    a = rgba[..., 3:4].astype(np.uint16)
    if np.all(a == 255):
      return np.ascontiguousarray(rgba[..., :3])
    # OpenSlide returns premultiplied-free RGBA with alpha 0 outside the scan: composite on white
    rgb = (rgba[..., :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return rgb.astype(np.uint8)


def low_res(slide: Slide, max_side: int = 2048, strip: int = 1024) -> tuple[np.ndarray, float]:
  """The whole slide at most ``max_side`` pixels a side -> (uint8 RGB, its downsample from level 0):
  the level nearest below that size, reduced by an integer box filter if it is still larger, read in
  strips so that memory stays bounded on single-level slides."""
  w0, h0 = slide.dimensions[0]
  target = max(w0, h0) / max_side
  level = 0
  for k, ds in enumerate(slide.downsamples):
    if ds <= target * 1.0001:
      level = k
  ds = slide.downsamples[level]
  f = max(1, math.ceil(target / ds - 1e-9))
  w, h = slide.dimensions[level]
  rows = []
  band = max(f, strip // f * f)
  for y in range(0, h, band):
    bh = min(band, h - y)
    a = slide.read(level, 0, y, w, bh).astype(np.float32)
    hh, ww = -(-bh // f) * f, -(-w // f) * f
    a = np.pad(a, ((0, hh - bh), (0, ww - w), (0, 0)), mode="edge")
    rows.append(a.reshape(hh // f, f, ww // f, f, 3).mean(axis=(1, 3)))
  return np.round(np.concatenate(rows)).astype(np.uint8), ds * f


def _od_max(rgb: np.ndarray) -> np.ndarray:
  return -np.log10(np.maximum(rgb.astype(np.float32), 1.0) / 255.0).max(axis=-1)


def tissue_mask(
  rgb: np.ndarray, od_min: float = 0.05, od_max: float = 0.3, radius: int = 2
) -> np.ndarray:
  """Boolean tissue mask of a low-resolution RGB slide image (see the module docstring)."""
  import jax.numpy as jnp

  from common.threshold import otsu
  from segclassic import morphology

  od = _od_max(rgb)
  t = float(np.clip(float(otsu(jnp.asarray(od))), od_min, od_max))
  m = jnp.asarray(od > t)
  fp = morphology.disk(max(1, radius // 2))
  m = morphology.binary_opening(m, fp)
  m = morphology.binary_closing(m, morphology.disk(radius))
  return np.asarray(m, bool)


def check_brightfield(rgb: np.ndarray, path: str) -> None:
  """A slide whose low-resolution image is mostly dark is a fluorescence (dark-field) slide."""
  if float(np.median(rgb.max(axis=-1))) < 100:
    raise SlideError(
      f"{path} has a dark background (median brightness {np.median(rgb.max(axis=-1)):.0f} of 255): "
      "it looks like a fluorescence slide; give a brightfield (H&E, IHC) slide"
    )


@dataclasses.dataclass
class TileGrid:
  """Non-overlapping ``tile`` x ``tile`` tiles of one level (edge tiles extend past the slide and read as
  glass there), with which ones hold tissue and how much."""

  path: str
  level: int
  tile: int
  shape: tuple[int, int]  # (h, w) of the level
  downsample: float  # level 0 pixels per pixel of this level
  mpp: float | None  # of this level
  tissue: np.ndarray  # (rows, cols) bool
  score: np.ndarray  # (rows, cols) mean optical density of the tissue under each tile (0 on glass)
  glass: np.ndarray  # (3,) uint8: the median colour of the slide's glass (white if it has none)

  @property
  def rows(self) -> int:
    return self.tissue.shape[0]

  @property
  def cols(self) -> int:
    return self.tissue.shape[1]

  def positions(self) -> list[tuple[int, int]]:
    """(y, x) offsets at this level of the tissue tiles, row-major."""
    return [(int(r) * self.tile, int(c) * self.tile) for r, c in np.argwhere(self.tissue)]

  def richest(self, n: int) -> list[tuple[int, int]]:
    """(y, x) of the ``n`` tissue tiles with the highest tissue score (the tissue-richest)."""
    rc = np.argwhere(self.tissue)
    order = np.argsort(-self.score[self.tissue], kind="stable")[:n]
    return [(int(rc[i, 0]) * self.tile, int(rc[i, 1]) * self.tile) for i in order]


def tile_grid(
  slide: Slide, level: int, tile: int, mask: np.ndarray, mask_rgb: np.ndarray, mask_ds: float
) -> TileGrid:
  """The grid of ``tile``-pixel tiles at ``level`` over a tissue mask computed at ``mask_ds``."""
  w, h = slide.dimensions[level]
  ds = slide.downsamples[level]
  rows, cols = -(-h // tile), -(-w // tile)
  od = _od_max(mask_rgb)
  tissue = np.zeros((rows, cols), bool)
  score = np.zeros((rows, cols), np.float32)
  scale = tile * ds / mask_ds  # mask pixels per tile
  mh, mw = mask.shape
  for r in range(rows):
    y0, y1 = int(r * scale), min(mh, max(int(r * scale) + 1, math.ceil((r + 1) * scale)))
    for c in range(cols):
      x0, x1 = int(c * scale), min(mw, max(int(c * scale) + 1, math.ceil((c + 1) * scale)))
      m = mask[y0:y1, x0:x1]
      if m.any():
        tissue[r, c] = True
        score[r, c] = float(od[y0:y1, x0:x1][m].mean()) * float(m.mean())
  bg = mask_rgb[~mask]
  glass = np.median(bg, axis=0).astype(np.uint8) if len(bg) else np.full(3, 255, np.uint8)
  return TileGrid(slide.path, level, tile, (h, w), ds, slide.level_mpp(level), tissue, score, glass)


def open_grid(
  path: str,
  tile: int,
  level: int | None = None,
  mpp: float | None = None,
  max_side: int = 2048,
) -> tuple[Slide, TileGrid, np.ndarray]:
  """Opens a slide and grids its tissue: (slide, grid, low-resolution RGB). A slide without tissue, a
  dark-field slide, a level or MPP it lacks: one-line SlideErrors."""
  slide = Slide(path)
  k = slide.level_for(level, mpp)
  rgb, ds = low_res(slide, max_side)
  check_brightfield(rgb, path)
  grid = tile_grid(slide, k, tile, tissue_mask(rgb), rgb, ds)
  if not grid.tissue.any():
    where = f"level {k}" + (f" ({grid.mpp:.3g} um/px)" if grid.mpp else "")
    raise SlideError(f"{path} has no tissue at {where}: the tissue mask is empty (all glass?)")
  return slide, grid, rgb


class SlideTiles:
  """A grain-compatible random-access source of the tissue tiles of one or more slides: item ``i`` is
  ``{"image": (tile, tile, 3) uint8, "coords": (x, y) at level 0, "slide": index, "mpp": float}``.
  Slides are gridded once at construction and reopened lazily in each worker."""

  def __init__(self, paths, tile: int, level: int | None = None, mpp: float | None = None):
    self.paths = list(paths)
    if not self.paths:
      raise SlideError("no slides given")
    self.tile = int(tile)
    self.grids = []
    for p in self.paths:
      s, g, _ = open_grid(p, tile, level, mpp)
      s.close()
      self.grids.append(g)
    self._index = np.array(
      [(k, y, x) for k, g in enumerate(self.grids) for y, x in g.positions()], np.int64
    )
    self._open: dict[int, Slide] = {}

  def __len__(self) -> int:
    return len(self._index)

  def __getstate__(self):
    return {k: v for k, v in self.__dict__.items() if k != "_open"}

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._open = {}

  def __getitem__(self, i: int) -> dict:
    k, y, x = (int(v) for v in self._index[i])
    g = self.grids[k]
    if k not in self._open:
      self._open[k] = Slide(self.paths[k])
    img = self._open[k].read(g.level, x, y, self.tile, self.tile)
    return {
      "image": img,
      "coords": np.array([round(x * g.downsample), round(y * g.downsample)], np.int64),
      "slide": k,
      "mpp": np.float32(g.mpp or 0.0),
    }


def write_synthetic(
  path: str,
  pieces,
  shape: tuple[int, int],
  *,
  mpp: float = 0.5,
  seed: int = 0,
  tile: int = 256,
  glass=(242, 241, 246),
  compression: str = "deflate",
) -> list[tuple[int, int, int, int]]:
  """A test slide: the RGB ``pieces`` (each used once, in a random dihedral orientation) laid out at
  random non-overlapping places on glass (a faint noise around ``glass``), written band by band as a
  pyramidal TIFF in OpenSlide's generic-tiff layout at ``mpp``. Returns each piece's (y, x, h, w)."""
  from common.data import pyramid

  rng = np.random.default_rng(seed)
  h, w = shape
  placed: list[tuple[int, int, int, int]] = []
  arrays = []
  for p in pieces:
    a = np.rot90(np.asarray(p)[..., :3], int(rng.integers(4)))
    a = a[:, ::-1] if rng.integers(2) else a
    ph, pw = min(a.shape[0], h), min(a.shape[1], w)
    a = a[:ph, :pw]
    for _ in range(200):
      y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
      if all(
        y + ph <= yy or yy + hh <= y or x + pw <= xx or xx + ww <= x for yy, xx, hh, ww in placed
      ):
        placed.append((y, x, ph, pw))
        arrays.append(np.ascontiguousarray(a))
        break
  glass = np.asarray(glass, np.float32)

  def band(y0, y1):
    r = np.random.default_rng([seed, y0])
    b = np.clip(glass + r.normal(0, 1.5, (y1 - y0, w, 3)), 0, 255).astype(np.uint8)
    for (y, x, ph, pw), a in zip(placed, arrays):
      ya, yb = max(y, y0), min(y + ph, y1)
      if ya < yb:
        b[ya - y0 : yb - y0, x : x + pw] = a[ya - y : yb - y]
    return b

  pyramid.write_pyramid(
    path,
    band,
    (h, w, 3),
    tile=tile,
    mpp=mpp,
    compression=compression,
    scratch=path + ".scratch",
    fill=glass.astype(np.uint8),
  )
  return placed
