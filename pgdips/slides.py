"""PGDIPS on whole-slide images: a slide in its scanner's format in, pyramidal TIFF slides out.

  python -m pgdips.main normalize SLIDE --reference=REF --out=DIR [--config=configs/pgdips/he.py:cpu]
  python -m pgdips.main deconvolve SLIDE --out=DIR [--config=...] [--config.slide.mpp=0.5]

SLIDE is any file OpenSlide opens, or a folder of them (one output folder per slide, named after it).
Per slide:

1. the tissue is found on a low-resolution copy and gridded into ``slide.tile`` tiles at the chosen
   level (:mod:`common.data.slides`);
2. S, M and B are estimated once, by fitting PGDIPS to ``estimate_tiles`` crops of ``tile`` pixels at
   the centres of the tissue-richest grid tiles (:func:`pgdips.pipeline.shared_smb`);
3. every tissue tile is read out with them, ``slide.batch`` at a time over this process's devices: with
   ``readout="inverse"`` by inverting eq. 2 per pixel (cheap: the CPU path), with ``readout="net"`` by
   fitting the tile's DIP networks with S, M, B held (the paper's read-out: the accelerator path; each
   tile is fitted with ``overlap / 2`` pixels of context on every side and its centre kept);
4. finished tiles go to a chunked store on disk, the pyramid is built from it at the end.

Glass tiles are not solved: they are written as what the read-out makes of the slide's glass colour
(the median colour outside the tissue mask; zero concentration with the networks' read-out), so that
they meet the glass inside tissue tiles without a step (deconvolve: near-zero concentration;
normalize: the reference's glass). A killed run resumes from ``DIR/.pgdips-work`` (the estimate and every finished batch
of tiles) and gives the same files as an uninterrupted one. With several processes
(``jax.distributed``), each takes every n-th slide of the folder.

Outputs: normalize ``DIR/normalized.tiff``; deconvolve ``DIR/<stain>.tiff`` (8-bit: concentration in
OD units = value x the stain's ``scale`` in ``DIR/stains.json``, which also holds S, M, B); both
``DIR/overview.png`` (input and outputs side by side at low resolution) and ``DIR/stains.json``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from common import config as config_lib
from common import files, plotting, runtime
from common.data import pyramid
from common.data import slides as slides_lib
from common.errors import InputError, UserError
from common.logging import Progress, _fmt_time
from pgdips import physics, pipeline, report

__all__ = [
  "Estimate",
  "is_slide_input",
  "estimate",
  "readout_fn",
  "run_slide",
  "run",
  "output_names",
]

WORK = ".pgdips-work"
SCALE_PERCENTILE = 99.9  # deconvolve: this percentile of C on the estimation tiles ...
SCALE_VALUE = 200  # ... is written as this 8-bit value (denser stain up to 255 * scale)


def is_slide_input(path: str) -> bool:
  """A slide file, or a folder holding at least one slide."""
  if os.path.isdir(path):
    return bool(slides_lib.list_slides(path))
  return slides_lib.is_slide_path(path)


def check_slide_config(cfg) -> None:
  s = cfg.slide
  problems = [
    (int(s.level) >= 0, f"slide.level={s.level} must be >= 0"),
    (float(s.mpp) >= 0, f"slide.mpp={s.mpp} must be >= 0 (0: use slide.level)"),
    (int(s.tile) >= 16, f"slide.tile={s.tile} must be >= 16"),
    (int(s.batch) >= 1, f"slide.batch={s.batch} must be >= 1"),
    (
      int(s.tiff_tile) >= 16 and int(s.tiff_tile) % 16 == 0,
      f"slide.tiff_tile={s.tiff_tile} must be a multiple of 16 (TIFF tiles)",
    ),
    (
      s.compression in pyramid.COMPRESSIONS,
      f"slide.compression={s.compression!r} is unknown; use one of {pyramid.COMPRESSIONS}",
    ),
    (1 <= int(s.quality) <= 100, f"slide.quality={s.quality} must be in [1, 100]"),
    (
      float(cfg.match_percentile) == 0,
      f"match_percentile={cfg.match_percentile}: percentile matching is for images, not slides; use 0",
    ),
    (
      cfg.readout == "inverse" or int(cfg.overlap) % 2 == 0,
      f"overlap={cfg.overlap} must be even on slides with readout='net' (half on each side)",
    ),
  ]
  for ok, msg in problems:
    if not ok:
      raise config_lib.ConfigError(msg + "; set it with --config.<key>=...")


@dataclasses.dataclass
class Estimate:
  """What one slide's tiles are read out with."""

  fixed: dict  # S (N, 3), M (N,), B (3,): the shared estimate
  est: list  # the estimation tiles' StainResults (empty when the estimate is given)
  tiles: np.ndarray  # (E, tile, tile, 3) uint8: the estimation tiles


def _grid_tile(cfg) -> tuple[int, int]:
  """(grid tile, context margin) of the read-out."""
  if cfg.readout == "net":
    m = int(cfg.overlap) // 2
    return int(cfg.tile) - 2 * m, m
  return int(cfg.slide.tile), 0


def estimation_tiles(cfg, slide, grid) -> np.ndarray:
  """``estimate_tiles`` crops of ``tile`` pixels centred in the tissue-richest grid tiles."""
  t = int(cfg.tile)
  off = (grid.tile - t) // 2
  return np.stack(
    [
      slide.read(grid.level, x + off, y + off, t, t)
      for y, x in grid.richest(int(cfg.estimate_tiles))
    ]
  )


def estimate(cfg, tiles: np.ndarray, *, seed: int = 0, progress: bool = False) -> Estimate:
  """S, M, B shared by a slide's tiles, from PGDIPS fits of its estimation tiles."""
  est = pipeline.fit(
    cfg,
    tiles.astype(np.float32),
    seed=seed,
    chunk=int(cfg.progress_chunk),
    progress=progress,
    local=True,
  )
  pipeline.warn_if_names_ambiguous(cfg, est, "the estimation tiles")
  for e in est:
    pipeline._check_finite(e, "the estimation tiles")
  return Estimate(pipeline.shared_smb(est), est, tiles)


def _rows(cfg, fixed) -> np.ndarray:
  """The model rows M_n S_n the concentrations are read against (the stains turned apart to
  ``inverse_min_separation`` for the inverse read-out, as :func:`pipeline.invert`)."""
  s = np.asarray(fixed["stains"], np.float32)
  if cfg.readout == "inverse":
    s = np.asarray(physics.spread_stains(s, float(cfg.inverse_min_separation), xp=np), np.float32)
  return s


def readout_fn(cfg, fixed, emit):
  """A jitted ``(B, T, T, 3) uint8 -> (B, T, T, K) uint8``: C by inverting eq. 2 per pixel with S, M, B
  (:func:`physics.invert_model`), then ``emit(C)``."""
  s = jnp.asarray(fixed["stains"], jnp.float32)
  m = jnp.asarray(fixed["m"], jnp.float32)
  b_od = physics.transmittance_od(jnp.asarray(fixed["background"], jnp.float32), cfg.log_base)

  def f(rgb):
    od = physics.optical_density(rgb, cfg.i0, cfg.log_base) - b_od
    c, _ = physics.invert_model(od, s, m, float(cfg.inverse_min_separation), cfg.inverse_solver)
    return emit(c)

  return f


def normalize_emit(cfg, rows_ref, ref):
  """C -> uint8 RGB through the reference's S (read-out rows), M and B (the paper's normalization)."""
  s = jnp.asarray(rows_ref, jnp.float32)
  m = jnp.asarray(ref["m"], jnp.float32)
  b_od = physics.transmittance_od(jnp.asarray(ref["background"], jnp.float32), cfg.log_base)

  def emit(c):
    rgb = physics.to_rgb(physics.compose(c, s, m, b_od), cfg.i0, cfg.log_base)
    return jnp.round(rgb).astype(jnp.uint8)

  return emit


def deconvolve_emit(scale):
  """C -> uint8 ``round(C / scale)`` per stain, clipped to [0, 255]."""
  k = jnp.asarray(scale, jnp.float32)

  def emit(c):
    return jnp.clip(jnp.round(c / k), 0, 255).astype(jnp.uint8)

  return emit


def net_readout(cfg, fixed, emit, warm, grid, margin: int, seed: int):
  """The paper's read-out on a batch of context tiles: each tile's DIP networks fitted with S, M, B
  held (``tile_steps`` iterations, started from the first estimation tile's networks with
  ``tile_init="estimate"``), the centre kept, then ``emit``."""
  cfg_t = cfg
  if int(cfg.tile_steps) > 0:
    cfg_t = config_lib.replaced(cfg, {"num_steps": int(cfg.tile_steps)})
  emit_j = jax.jit(emit)
  t = int(cfg.tile)
  shape = (grid.rows * grid.tile + 2 * margin, grid.cols * grid.tile + 2 * margin)

  def f(rgb, pos, batch_index):
    kw = pipeline._tile_inputs(cfg, np.arange(len(pos)), list(pos), shape, seed)
    rs = pipeline.fit(
      cfg_t,
      rgb.astype(np.float32),
      seed=seed + 1 + batch_index,
      fixed=fixed,
      init_nets=warm,
      local=True,
      **kw,
    )
    c = np.stack([r.concentrations[margin : t - margin, margin : t - margin] for r in rs])
    return np.asarray(emit_j(c))

  return f


def _fingerprint(path: str, **extra) -> dict:
  st = os.stat(path)
  return {"input": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, **extra}


def _digest(obj) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Work:
  """``DIR/.pgdips-work``: the run's fingerprint, its estimate, the tile store and the finished batches."""

  def __init__(self, out: str, fingerprint: dict):
    self.dir = os.path.join(out, WORK)
    meta = os.path.join(self.dir, "run.json")
    if os.path.exists(meta):
      with open(meta) as f:
        old = json.load(f)
      if old != json.loads(json.dumps(fingerprint, default=str)):
        raise UserError(
          f"{self.dir} holds an unfinished run of another input or config; run the same command to "
          f"resume it, or delete {self.dir} to start over"
        )
      self.resumed = True
    else:
      os.makedirs(self.dir, exist_ok=True)
      files.write_json_atomic(meta, json.loads(json.dumps(fingerprint, default=str)))
      self.resumed = False
    self.log = os.path.join(self.dir, "done.txt")

  def load(self, name: str):
    p = os.path.join(self.dir, name + ".npz")
    if not os.path.exists(p):
      return None
    with np.load(p) as z:
      return {k: z[k] for k in z.files}

  def save(self, name: str, **arrays) -> None:
    with files.atomic_path(os.path.join(self.dir, name + ".npz")) as tmp:
      np.savez(tmp, **arrays)

  def done(self) -> set[int]:
    if not os.path.exists(self.log):
      return set()
    with open(self.log) as f:
      return {
        int(v) for v in f.read().split("\n") if v.strip().isdigit()
      }  # a torn last line: redone

  def mark(self, batches) -> None:
    with open(self.log, "a") as f:
      f.write("".join(f"{k}\n" for k in batches))
      f.flush()
      os.fsync(f.fileno())

  def remove(self) -> None:
    shutil.rmtree(self.dir, ignore_errors=True)


def read_out(slide, grid, store, work: _Work, fn, *, batch: int, margin: int = 0, progress=True):
  """Every tissue tile of ``grid`` through ``fn`` into ``store``, ``batch`` tiles at a time in a fixed
  batching (so a resumed run redoes exactly the unfinished batches). Tiles are read two batches ahead
  by reader threads and the store writes of a batch finish while the next one is computed; a batch is
  logged as done only when its writes are on disk. ``fn(rgb, positions, batch_index)``. Returns the
  number of tiles read out now."""
  pos = grid.positions()
  batches = [pos[i : i + batch] for i in range(0, len(pos), batch)]
  done = work.done()
  todo = [k for k in range(len(batches)) if k not in done]
  t = grid.tile + 2 * margin
  total = len(pos)
  finished = sum(len(batches[k]) for k in done if k < len(batches))

  def load(k):
    return np.stack([slide.read(grid.level, x - margin, y - margin, t, t) for y, x in batches[k]])

  bar = Progress(total, 1, finished, enabled=progress, label="tiles", every=10.0, unit="tiles")
  pending: list = []  # (batch index, write futures)
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    ahead = {k: pool.submit(load, k) for k in todo[:2]}
    for i, k in enumerate(todo):
      if i + 2 < len(todo):
        ahead[todo[i + 2]] = pool.submit(load, todo[i + 2])
      rgb = ahead.pop(k).result()
      out = fn(rgb, batches[k], k)
      futs = [store.write(y, x, o) for (y, x), o in zip(batches[k], out)]
      for kk, ff in pending:
        for f in ff:
          f.result()
        work.mark([kk])
      pending = [(k, futs)]
      finished += len(batches[k])
      bar.update(finished)
    for kk, ff in pending:
      for f in ff:
        f.result()
      work.mark([kk])
  return sum(len(batches[k]) for k in todo)


def band_reader(store: pyramid.TileStore, grid, glass: np.ndarray, channels=None):
  """``band(y0, y1)`` of the store with the glass tiles (never written) set to ``glass``."""
  glass = np.asarray(glass, np.uint8)
  t = grid.tile

  def band(y0, y1):
    b = store.read(y0, y1)
    if channels is not None:
      b = b[..., channels]
    for r in range(y0 // t, (y1 - 1) // t + 1):
      ya, yb = max(r * t, y0) - y0, min((r + 1) * t, y1) - y0
      for c in np.flatnonzero(~grid.tissue[r]):
        b[ya:yb, c * t : (c + 1) * t] = glass if channels is None else glass[channels]
    return b

  return band


def output_names(cfg, cmd: str) -> list[str]:
  if cmd == "normalize":
    return ["normalized.tiff", "stains.json", "overview.png"]
  return [f"{s}.tiff" for s in cfg.stains] + ["stains.json", "overview.png"]


def _reference(cfg, path: str, seed: int, progress: bool) -> tuple[dict, str]:
  """The reference's S, M, B (a slide: estimated as a slide's; an image: PGDIPS on the image) and a
  digest of the file for the resume fingerprint."""
  with open(path, "rb") as f:
    digest = hashlib.sha256(f.read(1 << 24)).hexdigest()[:16]
  if slides_lib.is_slide(path):
    slide, grid, _ = slides_lib.open_grid(path, _grid_tile(cfg)[0], cfg.slide.level, cfg.slide.mpp)
    with slide:
      e = estimate(cfg, estimation_tiles(cfg, slide, grid), seed=seed + 7, progress=progress)
    fixed = e.fixed
  else:
    img = report.read_rgb(path)
    r = pipeline.deconvolve(cfg, pipeline.check_rgb(img, path, float(cfg.i0)), seed=seed + 7)
    fixed = {"stains": r.fitted_stains if r.fitted_stains is not None else r.stains, "m": r.m}
    fixed["background"] = r.background
  return {k: np.asarray(v, np.float32) for k, v in fixed.items()}, digest


def run_slide(
  cfg,
  cmd: str,
  path: str,
  out: str,
  *,
  reference: dict | None = None,
  ref_digest: str = "",
  seed: int = 0,
  progress: bool = True,
  given: dict | None = None,
  identity: bool = False,
) -> dict:
  """One slide -> its output folder (see the module docstring). ``reference``: normalize's S, M, B.
  ``given``: use these S, M, B instead of estimating them (the benchmark's Macenko row); ``identity``:
  write the input tiles unchanged (the benchmark's I/O floor). Returns timings and counts."""
  t0 = time.monotonic()
  grid_tile, margin = _grid_tile(cfg)
  slide, grid, thumb = slides_lib.open_grid(path, grid_tile, cfg.slide.level, cfg.slide.mpp)
  with slide:
    cfg_json = json.loads(cfg.to_json_best_effort())
    work = _Work(
      out,
      _fingerprint(
        path,
        cmd=cmd,
        config=cfg_json,
        reference=ref_digest,
        seed=seed,
        identity=identity,
        given=None
        if given is None
        else _digest({k: np.asarray(v).tolist() for k, v in given.items()}),
      ),
    )
    n_stains = len(cfg.stains)
    saved = work.load("estimate")
    t_est = time.monotonic()
    if saved is None:
      if given is not None or identity:
        fixed = given or {
          "stains": physics.default_stains(cfg.stains),
          "m": np.ones(n_stains),
          "background": np.ones(3),
        }
        tiles = estimation_tiles(cfg, slide, grid)
        warm = None
      else:
        e = estimate(cfg, estimation_tiles(cfg, slide, grid), seed=seed, progress=progress)
        fixed, tiles = e.fixed, e.tiles
        warm = e.est[0].nets if cfg.readout == "net" and cfg.tile_init == "estimate" else None
      fixed = {k: np.asarray(v, np.float32) for k, v in fixed.items()}
      # the scale of the 8-bit maps (deconvolve) / of percentile matching (normalize), from the
      # estimation tiles read out the inverse way
      c_est = np.asarray(readout_fn(cfg, fixed, lambda c: c)(jnp.asarray(tiles))).reshape(
        -1, n_stains
      )
      scale = np.maximum(np.percentile(c_est, SCALE_PERCENTILE, axis=0), 1e-3) / SCALE_VALUE
      if warm is not None:
        with files.atomic_path(os.path.join(work.dir, "warm.pkl")) as tmp, open(tmp, "wb") as f:
          pickle.dump(jax.tree.map(np.asarray, warm), f)
      work.save("estimate", **fixed, scale=scale.astype(np.float32))
      saved = work.load("estimate")
    t_est = time.monotonic() - t_est
    fixed = {k: saved[k] for k in ("stains", "m", "background")}
    scale = saved["scale"]
    warm = None
    if os.path.exists(os.path.join(work.dir, "warm.pkl")):
      with open(os.path.join(work.dir, "warm.pkl"), "rb") as f:
        warm = pickle.load(f)  # this run's own file
    # what each tile becomes
    if cmd == "normalize":
      ref = reference
      emit = normalize_emit(cfg, _rows(cfg, ref), ref)
      channels = 3
    else:
      emit = deconvolve_emit(scale)
      channels = n_stains
    # glass tiles: what the read-out makes of the slide's glass colour, so that they meet the glass
    # inside tissue tiles without a step
    if cfg.readout == "inverse":
      glass = np.asarray(readout_fn(cfg, fixed, emit)(jnp.asarray(grid.glass[None, None, None])))
    else:  # the networks' maps are ~0 on glass
      glass = np.asarray(emit(jnp.zeros((1, n_stains), jnp.float32)))
    glass = glass.reshape(-1)
    if identity:
      channels, glass = 3, grid.glass
      fn = lambda rgb, pos, k: rgb
    elif cfg.readout == "net":
      fn = net_readout(cfg, fixed, emit, warm, grid, margin, seed)
    else:
      f = runtime.LocalBatched(readout_fn(cfg, fixed, emit))
      fn = lambda rgb, pos, k: f(rgb)
    h, w = grid.shape
    store = pyramid.TileStore(os.path.join(work.dir, "tiles.zarr"), (h, w, channels), grid.tile)
    if progress:
      n_t = int(grid.tissue.sum())
      print(
        f"{path}: level {grid.level} {w}x{h}"
        + (f" at {grid.mpp:.3g} um/px" if grid.mpp else "")
        + f", {n_t} tissue tiles of {grid.tissue.size} ({grid.tile} px)"
        + (" -- resuming" if work.resumed else ""),
        flush=True,
      )
    t_read = time.monotonic()
    read_out(
      slide, grid, store, work, fn, batch=int(cfg.slide.batch), margin=margin, progress=progress
    )
    t_read = time.monotonic() - t_read
    # the pyramids
    t_pyr = time.monotonic()
    sc = cfg.slide
    mpp = grid.mpp
    desc = f"medjax pgdips {cmd}: {os.path.basename(path)}"
    written = []
    if cmd == "normalize" or identity:
      p = os.path.join(out, "normalized.tiff")
      pyramid.write_pyramid(
        p,
        band_reader(store, grid, glass),
        (h, w, 3),
        tile=int(sc.tiff_tile),
        mpp=mpp,
        compression=sc.compression,
        quality=int(sc.quality),
        scratch=os.path.join(work.dir, "pyr"),
        fill=glass,
        description=desc,
      )
      written.append(p)
    else:
      for n, name in enumerate(cfg.stains):
        p = os.path.join(out, f"{name}.tiff")
        pyramid.write_pyramid(
          p,
          band_reader(store, grid, glass, [n]),
          (h, w, 1),
          tile=int(sc.tiff_tile),
          mpp=mpp,
          compression=sc.compression,
          quality=int(sc.quality),
          scratch=os.path.join(work.dir, "pyr"),
          fill=glass[n],
          description=desc + f" ({name})",
        )
        written.append(p)
    t_pyr = time.monotonic() - t_pyr
    info = {
      "input": os.path.abspath(path),
      "command": cmd,
      "level": grid.level,
      "mpp": mpp,
      "tile": grid.tile,
      "tissue_tiles": int(grid.tissue.sum()),
      "glass_tiles": int((~grid.tissue).sum()),
      "stain_names": list(cfg.stains),
      "stains": np.asarray(fixed["stains"]).tolist(),
      "m": np.asarray(fixed["m"]).tolist(),
      "background": np.asarray(fixed["background"]).tolist(),
      "stains_read": _rows(
        cfg, fixed
      ).tolist(),  # the rows C is read against (inverse_min_separation)
      "readout": cfg.readout,
      "files": {os.path.basename(p): os.path.basename(p) for p in written},
    }
    if cmd == "deconvolve":
      info["files"] = {name: f"{name}.tiff" for name in cfg.stains}
      info["scale"] = {name: float(scale[n]) for n, name in enumerate(cfg.stains)}
      info["scale_note"] = (
        "concentration (optical density per unit stain vector) = 8-bit value x scale; value "
        f"{SCALE_VALUE} is the {SCALE_PERCENTILE}th percentile on the estimation tiles"
      )
    elif reference is not None:
      info["reference"] = {k: np.asarray(v).tolist() for k, v in reference.items()}
      info["reference"]["stains_read"] = _rows(cfg, reference).tolist()
    files.write_json_atomic(os.path.join(out, "stains.json"), info)
    _overview(out, thumb, written, cmd, cfg)
    work.remove()
  elapsed = time.monotonic() - t0
  if progress:
    print(
      f"{path}: {info['tissue_tiles']} tissue tiles, {_fmt_time(elapsed)}; wrote "
      + ", ".join(written),
      flush=True,
    )
  return {
    "estimate_s": t_est,
    "readout_s": t_read,
    "pyramid_s": t_pyr,
    "total_s": elapsed,
    "tissue_tiles": info["tissue_tiles"],
    "pixels": h * w,
    "tile": grid.tile,
  }


def _overview(out: str, thumb: np.ndarray, written: list[str], cmd: str, cfg) -> None:
  """``out/overview.png``: the input and every output at the same low resolution."""
  panels = [("input", thumb)]
  h, w = thumb.shape[:2]
  for p in written:
    s = slides_lib.Slide(p, brightfield=False)
    with s:
      low, _ = slides_lib.low_res(s, max(h, w))
    title = os.path.basename(p)
    panels.append((title, low if low.shape[-1] == 3 else low[..., 0]))
  plotting.save_panels(os.path.join(out, "overview.png"), panels, ncols=len(panels), size=4)


def run(
  cfg, cmd: str, src: str, out: str, reference: str | None = None, seed: int = 0
) -> list[dict]:
  """A slide or a folder of slides (one output folder each, under ``out``); with several processes each
  takes every ``process_count``-th slide. Inputs and outputs are checked before any slide is solved."""
  pipeline.check_config(cfg)
  check_slide_config(cfg)
  paths = slides_lib.list_slides(src)
  if not paths:
    raise InputError(f"{src}: no whole-slide images in it (files OpenSlide opens)")
  folder = os.path.isdir(src)
  outs = [
    os.path.join(out, os.path.splitext(os.path.basename(p))[0]) if folder else out for p in paths
  ]
  if folder and len(set(outs)) != len(outs):
    raise InputError(f"{src}: two slides share a name stem; their output folders would collide")
  inputs = paths + ([reference] if reference else [])
  for o in outs:
    files.check_out_dir(o)
    files.check_outputs([os.path.join(o, n) for n in output_names(cfg, cmd)], inputs)
  ref = digest = None
  if cmd == "normalize":
    ref, digest = _reference(cfg, reference, seed, progress=True)
  mine = list(range(jax.process_index(), len(paths), jax.process_count()))
  return [
    run_slide(cfg, cmd, paths[i], outs[i], reference=ref, ref_digest=digest or "", seed=seed)
    for i in mine
  ]
