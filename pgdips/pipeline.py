"""Whole images with PGDIPS: input checks, tiling with overlap, optional S/M/B shared across tiles,
blended stitching, and stain normalization to a reference image.

Sharing S, M and B (estimated once on the tissue-richest tiles, then held fixed while every tile's DIP
networks are fitted) is the paper's stated future work for seamless whole-slide results: with per-tile
stain vectors the same tissue gets different concentrations on either side of a tile border.
"""

from __future__ import annotations

import numpy as np

from common import config as config_lib
from pgdips import physics
from pgdips.solver import StainResult, solve_batch

__all__ = ["check_rgb", "tile_positions", "blend_weights", "deconvolve", "normalize", "recolor"]


def check_rgb(img, name: str = "image") -> np.ndarray:
  """An 8-bit RGB brightfield image as float32 in [0, 255], or a one-line ValueError saying what is wrong."""
  a = np.asarray(img)
  if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1):
    raise ValueError(f"{name} is grayscale {a.shape}; stain deconvolution needs an RGB brightfield image")
  if a.ndim != 3 or a.shape[-1] not in (3, 4):
    raise ValueError(f"{name} has shape {a.shape}; expected (H, W, 3) RGB")
  if a.shape[-1] == 4:
    alpha = a[..., 3]
    if not np.all(alpha == (255 if a.dtype == np.uint8 else alpha.max())):
      raise ValueError(f"{name} has a non-opaque alpha channel; flatten it onto white first "
                       "(e.g. PIL Image.alpha_composite) and pass RGB")
    a = a[..., :3]
  if a.dtype == np.uint16:
    raise ValueError(f"{name} is 16-bit; PGDIPS uses I0 = 255: convert with (img // 257).astype(np.uint8) "
                     "or pass --config.i0=65535 with a float image")
  if a.dtype != np.uint8:
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
      raise ValueError(f"{name} contains NaN or infinite values")
    if a.min() < 0:
      raise ValueError(f"{name} has negative intensities (min {a.min():.3g}); expected [0, 255]")
  return a.astype(np.float32)


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


def deconvolve(cfg, img, *, seed: int = 0, progress: bool = False) -> StainResult:
  """PGDIPS on an image of any size: one solve when it fits in ``cfg.tile``, otherwise tiles of
  ``cfg.tile`` with ``cfg.overlap`` pixels of overlap, blended. With ``cfg.share_smb`` the stain vectors,
  spectral factors and background come from ``cfg.estimate_tiles`` tissue-rich tiles and are shared."""
  rgb = check_rgb(img)
  h, w = rgb.shape[:2]
  bg_od = float(cfg.background_od)
  if _tissue_od(rgb, cfg) < bg_od:
    raise ValueError(f"the image has no tissue (mean optical density {_tissue_od(rgb, cfg):.3f} < "
                     f"background_od {bg_od}); is it an all-white/background tile?")
  t = int(cfg.tile)
  levels = 2 ** len(cfg.net.channels)
  if h <= t and w <= t:  # one tile, padded up to the network's stride
    size = (-(-h // levels) * levels, -(-w // levels) * levels)
    x = np.pad(rgb, ((0, size[0] - h), (0, size[1] - w), (0, 0)), mode="reflect")
    r = solve_batch(cfg, x[None], seed=seed, chunk=int(cfg.progress_chunk), progress=progress)[0]
    r.concentrations, r.recon = r.concentrations[:h, :w], r.recon[:h, :w]
    return r
  if t % levels:
    raise ValueError(f"tile={t} must be divisible by {levels} (the DIP net has {len(cfg.net.channels)} levels)")
  rgb_p = _pad_to(rgb, t)
  hp, wp = rgb_p.shape[:2]
  pos = [(y, x) for y in tile_positions(hp, t, cfg.overlap) for x in tile_positions(wp, t, cfg.overlap)]
  tiles = np.stack([rgb_p[y:y + t, x:x + t] for y, x in pos])
  ods = np.array([_tissue_od(tl, cfg) for tl in tiles])
  tissue = np.flatnonzero(ods >= bg_od)
  fixed = None
  if cfg.share_smb:
    pick = tissue[np.argsort(-ods[tissue])[:int(cfg.estimate_tiles)]]
    est = solve_batch(cfg, tiles[pick], seed=seed, chunk=int(cfg.progress_chunk), progress=progress)
    s = np.mean([e.stains for e in est], axis=0)
    fixed = {"stains": s / np.linalg.norm(s, axis=1, keepdims=True), "m": np.mean([e.m for e in est], 0),
             "background": np.mean([e.background for e in est], 0)}
  results = {}
  bs = int(cfg.batch_tiles)
  cfg_tiles = cfg
  if fixed is not None and int(cfg.tile_steps) > 0:  # only the DIP maps left to fit: fewer iterations
    cfg_tiles = config_lib.replaced(cfg, {"num_steps": int(cfg.tile_steps)})
  for i in range(0, len(tissue), bs):
    idx = tissue[i:i + bs]
    if progress:
      print(f"tiles {i + 1}-{i + len(idx)} of {len(tissue)} ({len(pos) - len(tissue)} background tiles skipped)",
            flush=True)
    for j, r in zip(idx, solve_batch(cfg_tiles, tiles[idx], seed=seed + 1 + i, fixed=fixed,
                                     chunk=int(cfg.progress_chunk), progress=progress)):
      results[int(j)] = r
  n = len(cfg.stains)
  wts = blend_weights(t, int(cfg.overlap))
  acc_c = np.zeros((hp, wp, n), np.float32)
  acc_r = np.zeros((hp, wp, 3), np.float32)
  acc_w = np.zeros((hp, wp, 1), np.float32)
  for j, (y, x) in enumerate(pos):
    c = results[j].concentrations if j in results else np.zeros((t, t, n), np.float32)
    rec = results[j].recon.astype(np.float32) if j in results else tiles[j]
    acc_c[y:y + t, x:x + t] += wts[..., None] * c
    acc_r[y:y + t, x:x + t] += wts[..., None] * rec
    acc_w[y:y + t, x:x + t] += wts[..., None]
  conc = (acc_c / acc_w)[:h, :w]
  if fixed is not None:
    stains, m, b = fixed["stains"], fixed["m"], fixed["background"]
    recon = np.asarray(physics.to_rgb(physics.compose(conc, stains, m, physics.transmittance_od(b, cfg.log_base)),
                                      cfg.i0, cfg.log_base))
  else:
    rs = list(results.values())
    stains, m, b = (np.mean([getattr(r, k) for r in rs], 0) for k in ("stains", "m", "background"))
    recon = (acc_r / acc_w)[:h, :w]
  return StainResult(concentrations=conc, stains=np.asarray(stains, np.float32), recon=np.round(recon).astype(np.uint8),
                     m=np.asarray(m, np.float32), background=np.asarray(b, np.float32))


def recolor(cfg, conc, stains, m, background, which: int | None = None) -> np.ndarray:
  """uint8 RGB from concentrations through the forward model; ``which`` keeps one stain only (the
  per-stain recoloured images of the paper's figures, shown without the background)."""
  c = np.asarray(conc, np.float32)
  if which is not None:
    keep = np.zeros(c.shape[-1], np.float32)
    keep[which] = 1.0
    c = c * keep
    background = np.ones(3, np.float32)
  od = physics.compose(c, np.asarray(stains, np.float32), np.asarray(m, np.float32),
                       physics.transmittance_od(np.asarray(background, np.float32), cfg.log_base))
  return np.round(np.asarray(physics.to_rgb(od, cfg.i0, cfg.log_base))).astype(np.uint8)


def normalize(cfg, source, reference, *, seed: int = 0, progress: bool = False,
              source_result: StainResult | None = None):
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
    scale = (np.percentile(ref.concentrations, q, axis=(0, 1))
             / np.maximum(np.percentile(c, q, axis=(0, 1)), 1e-6))
    c = c * scale
  return recolor(cfg, c, ref.stains, ref.m, ref.background), src, ref
