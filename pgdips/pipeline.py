"""Whole images with PGDIPS: input checks, tiling with overlap, optional S/M/B shared across tiles,
blended stitching, and stain normalization to a reference image.

Sharing S, M and B (estimated once on the tissue-richest tiles, then held fixed while every tile's DIP
networks are fitted) is the paper's stated future work for seamless whole-slide results: with per-tile
stain vectors the same tissue gets different concentrations on either side of a tile border. With
S, M, B shared, what remains are the DIP maps' own tile-to-tile differences (each tile's networks are
an independent fit); two config values shrink them: ``tile_noise="slide"`` (tiles read crops of one
slide-wide noise field and start from the same weights, so overlapping tiles start as the same function
of the same input) and ``tile_init="estimate"`` (tiles start from the fitted networks of the first
estimation tile: at 60 iterations per tile as good as 200 from random weights, measured on a 704x704
crop). :func:`overlap_disagreement` measures the result without ground truth.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from common import config as config_lib
from common.errors import InputError
from common.logging import Progress
from pgdips import baselines, physics
from pgdips.result import StainResult
from pgdips.solver import solve_batch

__all__ = [
  "Tiles",
  "check_rgb",
  "warn_if_names_ambiguous",
  "tile_positions",
  "shared_smb",
  "blend_weights",
  "solve_tiles",
  "stitch_tiles",
  "overlap_disagreement",
  "deconvolve",
  "normalize",
  "recolor",
]


def check_rgb(img, name: str = "image", i0: float = 255.0) -> np.ndarray:
  """An 8-bit RGB brightfield image as float32 in [0, 255], or a one-line InputError saying what is wrong.
  A float image holds intensities in [0, ``i0``] (the config's I0, 255 by default, as 8-bit values): one
  in [0, 1] would put every pixel at the same optical density, so it is refused unless ``i0`` is 1."""
  a = np.asarray(img)
  if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1):
    raise InputError(
      f"{name} is grayscale {a.shape}; stain deconvolution needs an RGB brightfield image"
    )
  if a.ndim != 3 or a.shape[-1] not in (3, 4):
    raise InputError(f"{name} has shape {a.shape}; expected (H, W, 3) RGB")
  if a.shape[-1] == 4:
    alpha = a[..., 3]
    if not np.all(alpha == (255 if a.dtype == np.uint8 else alpha.max())):
      raise InputError(
        f"{name} has a non-opaque alpha channel; flatten it onto white first "
        "(e.g. PIL Image.alpha_composite) and pass RGB"
      )
    a = a[..., :3]
  if a.dtype == np.uint16:
    raise InputError(
      f"{name} is 16-bit; PGDIPS uses I0 = 255: convert with (img // 257).astype(np.uint8) "
      "or pass --config.i0=65535 with a float image"
    )
  if a.dtype != np.uint8:
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
      raise InputError(f"{name} contains NaN or infinite values")
    if a.min() < 0:
      raise InputError(f"{name} has negative intensities (min {a.min():.3g}); expected [0, {i0:g}]")
    if a.max() > i0:
      raise InputError(
        f"{name} has intensities up to {a.max():.4g}, above I0 = {i0:g}; scale it to [0, {i0:g}] "
        "or set --config.i0 to its white level"
      )
    if a.max() <= 1.0 < i0:
      raise InputError(
        f"{name} is a float image in [0, 1]; PGDIPS reads intensities in [0, {i0:g}] "
        f"(--config.i0): multiply it by {i0:g}, or pass --config.i0=1"
      )
  return a.astype(np.float32)


def check_config(cfg) -> None:
  """Config values that cannot be right fail here, in one line, before any image is read or solved."""
  levels = 2 ** len(cfg.net.channels)
  problems = [
    (int(cfg.num_steps) >= 1, f"num_steps={cfg.num_steps} must be >= 1"),
    (
      int(cfg.tile) >= levels and int(cfg.tile) % levels == 0,
      f"tile={cfg.tile} must be a positive multiple of {levels} (the DIP net has {len(cfg.net.channels)} levels)",
    ),
    (
      0 <= int(cfg.overlap) < int(cfg.tile),
      f"overlap={cfg.overlap} must be in [0, tile={cfg.tile})",
    ),
    (int(cfg.batch_tiles) >= 1, f"batch_tiles={cfg.batch_tiles} must be >= 1"),
    (int(cfg.estimate_tiles) >= 1, f"estimate_tiles={cfg.estimate_tiles} must be >= 1"),
    (int(cfg.tile_steps) >= 0, f"tile_steps={cfg.tile_steps} must be >= 0 (0: num_steps)"),
    (int(cfg.progress_chunk) >= 1, f"progress_chunk={cfg.progress_chunk} must be >= 1"),
    (
      float(cfg.optim.lr) > 0 and np.isfinite(float(cfg.optim.lr)),
      f"optim.lr={cfg.optim.lr} must be > 0",
    ),
    (
      float(cfg.optim.smb_lr_scale) >= 0,
      f"optim.smb_lr_scale={cfg.optim.smb_lr_scale} must be >= 0",
    ),
    (float(cfg.i0) > 0, f"i0={cfg.i0} must be > 0"),
    (
      cfg.tile_noise in ("slide", "tile"),
      f"tile_noise={cfg.tile_noise!r} is unknown; use 'slide' or 'tile'",
    ),
    (
      cfg.tile_init in ("random", "estimate"),
      f"tile_init={cfg.tile_init!r} is unknown; use 'random' or 'estimate'",
    ),
    (
      cfg.init_stains in ("ruifrok", "code", "macenko"),
      f"init_stains={cfg.init_stains!r} is unknown; use 'ruifrok', 'code' or 'macenko'",
    ),
    (
      len(cfg.b_range) == 2 and 0 < float(cfg.b_range[0]) < float(cfg.b_range[1]) <= 1,
      f"b_range={tuple(cfg.b_range)} must be (lo, hi) with 0 < lo < hi <= 1 (B is a transmittance)",
    ),
    (
      cfg.loss.anchor_reduce in ("mean", "sum"),
      f"loss.anchor_reduce={cfg.loss.anchor_reduce!r} is unknown; use 'mean' or 'sum' (the code)",
    ),
    (
      cfg.loss.exclusion_pairs in ("sum", "mean"),
      f"loss.exclusion_pairs={cfg.loss.exclusion_pairs!r} is unknown; use 'sum' (the code) or 'mean'",
    ),
    (
      int(cfg.loss.repulsion_stains) >= 2,
      f"loss.repulsion_stains={cfg.loss.repulsion_stains} must be >= 2",
    ),
    (
      cfg.readout in ("net", "inverse"),
      f"readout={cfg.readout!r} is unknown; use 'net' (the paper) or 'inverse'",
    ),
    (
      cfg.inverse_solver in ("clip", "nnls"),
      f"inverse_solver={cfg.inverse_solver!r} is unknown; use 'clip' (least squares clipped at 0) or 'nnls'",
    ),
    (
      0 <= float(cfg.inverse_min_separation) < 90,
      f"inverse_min_separation={cfg.inverse_min_separation} must be in [0, 90) degrees (0: invert the fit as it is)",
    ),
    (
      len(cfg.net.skips) == len(cfg.net.channels),
      f"net.skips has {len(cfg.net.skips)} entries for {len(cfg.net.channels)} net.channels; give one per level",
    ),
  ]
  for ok, msg in problems:
    if not ok:
      raise config_lib.ConfigError(msg + "; set it with --config.<key>=...")


MIN_SIZE = 8


def _check_size(rgb, name: str = "image") -> None:
  if min(rgb.shape[:2]) < MIN_SIZE:
    raise InputError(
      f"{name} is {rgb.shape[0]}x{rgb.shape[1]} pixels; PGDIPS needs at least {MIN_SIZE}x{MIN_SIZE}"
    )


def _check_finite(r, name: str = "image"):
  if not (np.all(np.isfinite(r.concentrations)) and np.all(np.isfinite(r.stains))):
    raise FloatingPointError(
      f"PGDIPS diverged on {name} (non-finite concentrations or stain vectors); lower "
      "--config.optim.lr"
    )
  return r


def warn_if_names_ambiguous(cfg, results, what: str = "the image") -> None:
  """One line on stderr when the stain names of some result are a guess (:func:`physics.name_stains`:
  two estimated stains about equally near one known colour)."""
  n = sum(bool(r.names_ambiguous) for r in results)
  if n:
    import sys

    where = what if len(results) == 1 else f"{n} of {len(results)} fits of {what}"
    print(
      f"note: stain names ambiguous in {where}: two estimated stains are within "
      f"{physics.NAMING_MARGIN_DEG:g} degrees of the same {'/'.join(cfg.stains)} colour; check the maps",
      file=sys.stderr,
      flush=True,
    )


def _tissue_od(tile, cfg) -> float:
  return float(np.mean(physics.optical_density(tile, cfg.i0, cfg.log_base)))


def tile_positions(length: int, tile: int, overlap: int) -> list[int]:
  """Start offsets along one axis: stride ``tile - overlap``, the last tile flush with the end."""
  if length <= tile:
    return [0]
  stride = tile - overlap
  pos = list(range(0, length - tile, stride))
  return pos + [length - tile]


def blend_weights(tile: int, overlap: int) -> np.ndarray:
  """(tile, tile) separable weights: 1 inside, a linear ramp over ``overlap`` pixels at every edge."""
  r = np.ones(tile, np.float32)
  if overlap > 0:
    ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    r[:overlap], r[-overlap:] = ramp, ramp[::-1]
  return np.outer(r, r)


def _pad_to(img, size):
  h, w = img.shape[:2]
  ph, pw = max(size - h, 0), max(size - w, 0)
  return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else img


def _uniform_field(seed, ks, ys, xs, cs, shape) -> np.ndarray:
  """U(-0.5, 0.5) values of a slide-wide ``(N, H, W, C)`` noise field at the given index ranges: a
  splitmix64 hash of (seed, flat index), so any crop is reproducible without the whole field."""
  h, w = shape
  idx = (
    (
      ks[:, None, None, None].astype(np.uint64) * np.uint64(h)
      + ys[None, :, None, None].astype(np.uint64)
    )
    * np.uint64(w)
    + xs[None, None, :, None].astype(np.uint64)
  ) * np.uint64(len(cs)) + cs[None, None, None, :].astype(np.uint64)
  z = idx + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)
  z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  z = z ^ (z >> np.uint64(31))
  return ((z >> np.uint64(40)).astype(np.float64) / 2.0**24 - 0.5).astype(np.float32)


def _tile_inputs(cfg, idx, pos, shape, seed) -> dict:
  """solve_batch's ``noise``/``same_init`` for the tiles ``idx``. ``tile_noise="slide"``: the networks'
  inputs are crops of one slide-wide noise field and every tile starts from the same weights, so two
  overlapping tiles start as the same function of the same input there (the convolutions are
  translation-equivariant for shifts that are multiples of the stride) and differ only by what their
  own pixels teach them. ``"tile"``: independent noise and weights per tile."""
  if cfg.tile_noise == "tile":
    return {}
  t, n, ch = int(cfg.tile), len(cfg.stains), int(cfg.net.input_channels)
  # drawn per tile from a counter-based generator keyed on the slide position: the same field wherever it
  # is cropped, without holding a slide-sized array
  noise = np.stack(
    [
      _uniform_field(
        seed, np.arange(n), np.arange(y, y + t), np.arange(x, x + t), np.arange(ch), shape
      )
      for y, x in (pos[j] for j in idx)
    ]
  ) * float(cfg.net.input_scale)
  return {"noise": noise.astype(np.float32), "same_init": True}


def shared_smb(est: list[StainResult]) -> dict:
  """The S, M, B every tile shares, from the estimation tiles' fits: the mean unit stain vectors
  (renormalized), the mean spectral factors and the mean background."""
  s = np.mean([e.stains for e in est], axis=0)
  return {
    "stains": s / np.linalg.norm(s, axis=1, keepdims=True),
    "m": np.mean([e.m for e in est], 0),
    "background": np.mean([e.background for e in est], 0),
  }


@dataclasses.dataclass
class Tiles:
  """The per-tile solves of a whole image, before stitching (:func:`solve_tiles`)."""

  tile: int
  overlap: int
  shape: tuple[int, int]  # the padded image's (H, W)
  pos: list[tuple[int, int]]  # tile offsets, row-major
  rgb: np.ndarray  # (T, tile, tile, 3) float32
  results: dict[int, StainResult]  # by tile index; background tiles are absent
  fixed: dict | None  # the shared S, M, B (``share_smb``)


def _check_tissue(rgb, cfg):
  if _tissue_od(rgb, cfg) < float(cfg.background_od):
    raise InputError(
      f"the image has no tissue (mean optical density {_tissue_od(rgb, cfg):.3f} < "
      f"background_od {cfg.background_od}); is it an all-white/background tile?"
    )


def fit(cfg, tiles: np.ndarray, *, fixed: dict | None = None, **kw) -> list[StainResult]:
  """:func:`pgdips.solver.solve_batch` with each tile's starting stain vectors: its Macenko estimate for
  ``init_stains="macenko"`` (none needed when S is ``fixed``), else the config's."""
  starts = None
  if cfg.init_stains == "macenko" and fixed is None:
    starts = baselines.macenko_starts(cfg, tiles)
  return solve_batch(cfg, tiles, fixed=fixed, starts=starts, **kw)


def solve_tiles(
  cfg, img, *, seed: int = 0, progress: bool = False, estimate_only: bool = False
) -> Tiles:
  """Tiles of ``cfg.tile`` overlapping by ``cfg.overlap`` (the image reflect-padded to at least one tile),
  background tiles skipped, the others solved ``cfg.batch_tiles`` at a time. With ``cfg.share_smb`` the
  stain vectors, spectral factors and background come first from the ``cfg.estimate_tiles`` tissue-richest
  tiles and are then held fixed for every tile (``cfg.tile_steps`` iterations each)."""
  check_config(cfg)
  rgb = check_rgb(img, i0=float(cfg.i0))
  _check_size(rgb)
  _check_tissue(rgb, cfg)
  t = int(cfg.tile)
  rgb_p = _pad_to(rgb, t)
  hp, wp = rgb_p.shape[:2]
  pos = [
    (y, x) for y in tile_positions(hp, t, cfg.overlap) for x in tile_positions(wp, t, cfg.overlap)
  ]
  tiles = np.stack([rgb_p[y : y + t, x : x + t] for y, x in pos])
  ods = np.array([_tissue_od(tl, cfg) for tl in tiles])
  tissue = np.flatnonzero(ods >= float(cfg.background_od))
  solve = lambda c, idx, **kw: fit(
    c,
    tiles[idx],
    chunk=int(cfg.progress_chunk),
    progress=progress,
    **_tile_inputs(cfg, idx, pos, (hp, wp), seed),
    **kw,
  )
  fixed = None
  if cfg.share_smb:
    pick = tissue[np.argsort(-ods[tissue])[: int(cfg.estimate_tiles)]]
    est = solve(cfg, pick, seed=seed)
    warn_if_names_ambiguous(cfg, est, "the estimation tiles")
    fixed = shared_smb(est)
  results = {}
  if estimate_only:
    return Tiles(t, int(cfg.overlap), (hp, wp), pos, tiles, results, fixed)
  bs = int(cfg.batch_tiles)
  warm = est[0].nets if fixed is not None and cfg.tile_init == "estimate" else None
  cfg_tiles = cfg
  if (
    fixed is not None and int(cfg.tile_steps) > 0
  ):  # only the DIP maps left to fit: fewer iterations
    cfg_tiles = config_lib.replaced(cfg, {"num_steps": int(cfg.tile_steps)})
  if progress:
    print(
      f"{len(tissue)} tissue tiles, {len(pos) - len(tissue)} background tiles skipped", flush=True
    )
  bar = Progress(len(tissue), 1, enabled=progress, label="tiles")
  for i in range(0, len(tissue), bs):
    idx = tissue[i : i + bs]
    for j, r in zip(idx, solve(cfg_tiles, idx, seed=seed + 1 + i, fixed=fixed, init_nets=warm)):
      results[int(j)] = r
    bar.update(i + len(idx))
  return Tiles(t, int(cfg.overlap), (hp, wp), pos, tiles, results, fixed)


def stitch_tiles(cfg, ts: Tiles, shape: tuple[int, int]) -> StainResult:
  """Blends the tiles' concentration maps with :func:`blend_weights` and crops to ``shape``; the
  reconstruction is the forward model of the blended maps (shared S, M, B) or the blended per-tile
  reconstructions (per-tile S, M, B, whose reported values are then the tiles' mean)."""
  (h, w), (hp, wp), t = shape, ts.shape, ts.tile
  n = len(cfg.stains)
  wts = blend_weights(t, ts.overlap)[..., None]
  acc_c = np.zeros((hp, wp, n), np.float32)
  acc_r = np.zeros((hp, wp, 3), np.float32)
  acc_w = np.zeros((hp, wp, 1), np.float32)
  for j, (y, x) in enumerate(ts.pos):
    r = ts.results.get(j)
    acc_c[y : y + t, x : x + t] += wts * (r.concentrations if r else 0.0)
    acc_r[y : y + t, x : x + t] += wts * (r.recon.astype(np.float32) if r else ts.rgb[j])
    acc_w[y : y + t, x : x + t] += wts
  conc = (acc_c / acc_w)[:h, :w]
  if ts.fixed is not None:
    stains, m, b = ts.fixed["stains"], ts.fixed["m"], ts.fixed["background"]
    recon = np.asarray(
      physics.to_rgb(
        physics.compose(conc, stains, m, physics.transmittance_od(b, cfg.log_base)),
        cfg.i0,
        cfg.log_base,
      )
    )
  else:
    rs = list(ts.results.values())
    stains, m, b = (np.mean([getattr(r, k) for r in rs], 0) for k in ("stains", "m", "background"))
    recon = (acc_r / acc_w)[:h, :w]
  return StainResult(
    concentrations=conc,
    stains=np.asarray(stains, np.float32),
    recon=np.round(recon).astype(np.uint8),
    m=np.asarray(m, np.float32),
    background=np.asarray(b, np.float32),
  )


def overlap_disagreement(ts: Tiles) -> dict:
  """How differently two neighbouring tiles estimate the pixels they share -- what blending turns into a
  seam, measured without any ground truth. Over every pair of horizontally or vertically adjacent solved
  tiles and every stain, on their overlap: ``step`` = |mean C_a - mean C_b| (a brightness step across the
  seam) and ``rms`` = root mean square of C_a - C_b (also texture), both divided by the mean of C over
  the solved tiles. Returns {'step', 'rms', 'pairs'}."""
  t = ts.tile
  where = {p: j for j, p in enumerate(ts.pos)}
  following = lambda v: dict(zip(v, v[1:]))  # offset -> the next offset along an axis
  next_y, next_x = (
    following(sorted({p[0] for p in ts.pos})),
    following(sorted({p[1] for p in ts.pos})),
  )
  scale = np.mean([r.concentrations.mean(axis=(0, 1)) for r in ts.results.values()], axis=0)
  steps, rms = [], []
  for j, (y, x) in enumerate(ts.pos):
    if j not in ts.results:
      continue
    for k in (
      where.get((y, next_x.get(x))),
      where.get((next_y.get(y), x)),
    ):  # right and below neighbours
      if k not in ts.results:
        continue
      ky, kx = ts.pos[k]
      a = ts.results[j].concentrations[ky - y :, kx - x :]  # tile j's view of the shared region
      b = ts.results[k].concentrations[: t - (ky - y), : t - (kx - x)]  # tile k's view of it
      d = (a - b) / np.maximum(scale, 1e-12)
      steps.append(np.abs(d.mean(axis=(0, 1))))
      rms.append(np.sqrt((d**2).mean(axis=(0, 1))))
  if not steps:
    return {"step": float("nan"), "rms": float("nan"), "pairs": 0}
  return {"step": float(np.mean(steps)), "rms": float(np.mean(rms)), "pairs": len(steps)}


def invert(cfg, img, fixed) -> StainResult:
  """Per-pixel least squares through the forward model (eq. 2) with given S, M, B (clipped at 0, or
  NNLS with ``inverse_solver="nnls"``; :func:`physics.unmix`): the
  ``readout="inverse"`` concentrations of a whole image, which need no tiles and so have no seams."""
  b_od = np.asarray(
    physics.transmittance_od(np.asarray(fixed["background"], np.float32), cfg.log_base), np.float64
  )
  s, m = np.asarray(fixed["stains"], np.float64), np.asarray(fixed["m"], np.float64)
  c, s_read = physics.invert_model(
    baselines.od_np(img, cfg.i0, cfg.log_base) - b_od,
    s,
    m,
    cfg.inverse_min_separation,
    cfg.inverse_solver,
    xp=np,
  )  # as solver.Solver.finish
  return StainResult(
    concentrations=c.astype(np.float32),
    stains=s_read.astype(np.float32),
    fitted_stains=s.astype(np.float32),
    recon=recolor(cfg, c, s_read, m, fixed["background"]),
    m=m.astype(np.float32),
    background=np.asarray(fixed["background"], np.float32),
  )


def deconvolve(cfg, img, *, seed: int = 0, progress: bool = False) -> StainResult:
  """PGDIPS on an image of any size: one solve when it fits in ``cfg.tile``, otherwise
  :func:`solve_tiles` then :func:`stitch_tiles`; with ``readout="inverse"`` and ``share_smb`` only the
  estimation tiles are solved and the whole image is inverted with their S, M, B (:func:`invert`)."""
  check_config(cfg)
  rgb = check_rgb(img, i0=float(cfg.i0))
  _check_size(rgb)
  h, w = rgb.shape[:2]
  t = int(cfg.tile)
  if h > t or w > t:
    if cfg.readout == "inverse" and cfg.share_smb:
      fixed = solve_tiles(cfg, rgb, seed=seed, progress=progress, estimate_only=True).fixed
      return _check_finite(invert(cfg, rgb, fixed))
    return _check_finite(
      stitch_tiles(cfg, solve_tiles(cfg, rgb, seed=seed, progress=progress), (h, w))
    )
  _check_tissue(rgb, cfg)
  levels = 2 ** len(cfg.net.channels)
  size = (
    -(-h // levels) * levels,
    -(-w // levels) * levels,
  )  # one tile, padded up to the network's stride
  x = np.pad(rgb, ((0, size[0] - h), (0, size[1] - w), (0, 0)), mode="reflect")
  r = fit(cfg, x[None], seed=seed, chunk=int(cfg.progress_chunk), progress=progress)[0]
  warn_if_names_ambiguous(cfg, [r])
  r.concentrations, r.recon = r.concentrations[:h, :w], r.recon[:h, :w]
  return _check_finite(r)


def recolor(cfg, conc, stains, m, background, which: int | None = None) -> np.ndarray:
  """uint8 RGB from concentrations through the forward model; ``which`` keeps one stain only (the
  per-stain recoloured images of the paper's figures, shown without the background)."""
  c = np.asarray(conc, np.float32)
  if which is not None:
    keep = np.zeros(c.shape[-1], np.float32)
    keep[which] = 1.0
    c = c * keep
    background = np.ones(3, np.float32)
  od = physics.compose(
    c,
    np.asarray(stains, np.float32),
    np.asarray(m, np.float32),
    physics.transmittance_od(np.asarray(background, np.float32), cfg.log_base),
  )
  return np.round(np.asarray(physics.to_rgb(od, cfg.i0, cfg.log_base))).astype(np.uint8)


def normalize(
  cfg,
  source,
  reference,
  *,
  seed: int = 0,
  progress: bool = False,
  source_result: StainResult | None = None,
):
  """Stain normalization (the paper's section on it): the source's concentrations recombined with the
  reference's S, M and B. ``cfg.match_percentile`` > 0 also rescales each source concentration map so
  that its percentile matches the reference's (Macenko-style; off by default, as in the paper).

  Returns ``(normalized uint8 RGB, source result, reference result)``; ``source_result`` reuses an
  earlier deconvolution of the source.
  """
  src = source_result or deconvolve(cfg, source, seed=seed, progress=progress)
  ref = deconvolve(cfg, reference, seed=seed + 7, progress=progress)
  c = src.concentrations
  q = float(cfg.match_percentile)
  if q > 0:
    scale = np.percentile(ref.concentrations, q, axis=(0, 1)) / np.maximum(
      np.percentile(c, q, axis=(0, 1)), 1e-6
    )
    c = c * scale
  return recolor(cfg, c, ref.stains, ref.m, ref.background), src, ref
