"""A whole-slide-sized stitched deconvolution with and without shared S, M, B, and how visible the tile
seams are.

  python -m pgdips.stitch [--size=2048] [--compare=512] [--out=stitch_out] [--config=configs/pgdips/he.py:hdab,cpu,wsi]
                         [--config.tile_steps=...]

The image is the synthetic non-ideal H-DAB slide of :func:`pgdips.synthetic.slide_ground_truth` (real
tissue structure, known concentrations, a vignetting background across the whole slide), so the stitched
maps are scored against the truth. ``--compare`` also solves a corner crop of that size with per-tile
S, M, B, the case that makes seams.

Seam index: the residual ``r = C_est / k - C_true`` (``k`` a global least-squares scale per stain) is
averaged over strips of ``strip`` pixels just outside each overlap between two neighbouring tiles, and
the absolute difference of the two strip means is averaged over all neighbouring pairs. The same
statistic at strip pairs as far apart inside tiles (no boundary between them) is the control. The
ratio is not 1 even without tiles (the residual's structure differs between the two sets of strips), so
the table also scores a per-pixel least-squares estimate with the same S, M, B (no tiles, no seams): a
stitched result at that row's ratio has seams no more detectable than none at all. The truth-free
measure is :func:`pgdips.pipeline.overlap_disagreement`: how differently two neighbouring tiles
estimate the pixels they share, which blending turns into a ramp across the seam.
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import flags

from common import cli, metrics, plotting
from common import config as config_lib
from common.data import sources
from common.errors import UserError
from pgdips import evaluate, pipeline, synthetic

# the stitching benchmark's rendering: saturation, DAB scatter, uneven background, noise
CONDITION = dict(saturation=1.5, m=(1.0, 1.25), background=0.08, noise_std=2.0)


def _strip_pairs(
  length: int, tile: int, overlap: int, strip: int, boundary: bool
) -> list[tuple[slice, slice]]:
  """(left strip, right strip) index ranges along one axis: around each overlap between neighbouring
  tiles (``boundary``), or the same distance apart inside tiles (control)."""
  pos = pipeline.tile_positions(length, tile, overlap)
  out = []
  for a, b in zip(pos, pos[1:]):
    lo, hi = b, a + tile  # the overlap of tiles a and b
    if not boundary:  # same gap, centred in tile b's interior
      mid = b + tile // 2
      lo, hi = mid - (hi - lo) // 2, mid + (hi - lo) - (hi - lo) // 2
    if lo - strip >= 0 and hi + strip <= length:
      out.append((slice(lo - strip, lo), slice(hi, hi + strip)))
  return out


def seam_index(c_est, c_true, tile: int, overlap: int, strip: int = 8) -> dict:
  """{'seam': ..., 'control': ..., 'ratio': ...} per the module docstring, averaged over stains and both
  directions, in units of the mean true concentration."""
  c_est, c_true = np.asarray(c_est, np.float64), np.asarray(c_true, np.float64)
  k = np.sum(c_est * c_true, axis=(0, 1)) / np.maximum(np.sum(c_true * c_true, axis=(0, 1)), 1e-12)
  r = c_est / k - c_true
  r = r / np.maximum(c_true.mean(axis=(0, 1)), 1e-12)
  out = {}
  for kind in ("seam", "control"):
    vals = []
    for axis in (0, 1):
      rr = r if axis == 1 else r.transpose(1, 0, 2)
      rows = pipeline.tile_positions(rr.shape[0], tile, overlap)
      for left, right in _strip_pairs(rr.shape[1], tile, overlap, strip, kind == "seam"):
        for y in rows:  # one value per neighbouring tile pair: its rows
          band = slice(y + overlap, y + tile - overlap)
          vals.append(np.abs(rr[band, left].mean(axis=(0, 1)) - rr[band, right].mean(axis=(0, 1))))
    out[kind] = float(np.mean(vals)) if vals else float("nan")
  out["ratio"] = out["seam"] / out["control"] if out["control"] > 0 else float("nan")
  return out


def _score(r, c_true, cfg) -> dict:
  out = {
    f"pcc_{n}": float(metrics.pcc(r.concentrations[..., i].ravel(), c_true[..., i].ravel()))
    for i, n in enumerate(evaluate.STAINS)
  }
  out.update(seam_index(r.concentrations, c_true, int(cfg.tile), int(cfg.overlap)))
  return out


def run(cfg, size: int = 2048, compare: int = 512, out: str = ".", progress: bool = True) -> str:
  c_true, s = synthetic.slide_ground_truth(size)
  rng = np.random.default_rng(0)
  s_true = np.abs(s + rng.normal(0, 0.06, s.shape)).astype(np.float32)
  s_true /= np.linalg.norm(s_true, axis=1, keepdims=True)
  img = synthetic.synthesize(c_true, s_true, seed=0, **CONDITION)
  os.makedirs(out, exist_ok=True)
  rows, results = [], {}
  cases = [("shared S, M, B", size, True)]
  if compare:
    cases += [("shared S, M, B", compare, True), ("per-tile S, M, B", compare, False)]
  row = lambda n, name, sc, dt: (
    f"| {n}x{n} | {name} | {sc['pcc_hematoxylin']:.3f} | {sc['pcc_dab']:.3f} | "
    + (f"{sc['step']:.4f} | {sc['rms']:.3f}" if "step" in sc else "- | -")
    + f" | {sc['seam']:.4f} | {sc['control']:.4f} | {sc['ratio']:.2f} | {dt:.0f} |"
  )
  for name, n, share in cases:
    t0 = time.perf_counter()
    c = config_lib.replaced(cfg, {"share_smb": share})
    ts = pipeline.solve_tiles(c, img[:n, :n], progress=progress)
    r = results[(n, share)] = pipeline.stitch_tiles(c, ts, (n, n))
    dt = time.perf_counter() - t0
    sc = {**_score(r, c_true[:n, :n], cfg), **pipeline.overlap_disagreement(ts)}
    rows.append(row(n, name, sc, dt))
    print(rows[-1], flush=True)
    if (n, share) == (size, True):
      t0 = time.perf_counter()
      ref = results["pixelwise"] = pipeline.invert(cfg, img, ts.fixed)
      rows.append(
        row(
          n,
          "the same S, M, B, per-pixel least squares (no tiles)",
          _score(ref, c_true, cfg),
          time.perf_counter() - t0,
        )
      )
      print(rows[-1], flush=True)
  r = results[(size, True)]
  unit = lambda a: a / max(np.percentile(a, 99.5), 1e-6)
  full = (
    [("input", img)]
    + [(f"C {n} (stitched)", unit(r.concentrations[..., i])) for i, n in enumerate(evaluate.STAINS)]
    + [("reconstruction", r.recon)]
  )
  plotting.save_panels(
    os.path.join(out, "stitched.png"),
    full,
    ncols=4,
    size=6.0,
    suptitle=f"PGDIPS {size}x{size}, tiles {cfg.tile} overlap {cfg.overlap}, shared S, M, B",
  )
  t, ov = int(cfg.tile), int(cfg.overlap)
  mid = pipeline.tile_positions(size, t, ov)
  mid = mid[len(mid) // 2]  # a 4-tile corner in the middle of the slide, at full resolution
  win = (slice(max(mid - 128, 0), min(mid + ov + 128, size)),) * 2
  plotting.save_panels(
    os.path.join(out, "junction_slide.png"),
    [
      ("input", img[win]),
      ("C hematoxylin, stitched", unit(r.concentrations[win][..., 0])),
      (
        "C hematoxylin, per-pixel least squares",
        unit(results["pixelwise"].concentrations[win][..., 0]),
      ),
      ("C hematoxylin (truth)", unit(c_true[win][..., 0])),
    ],
    ncols=4,
    size=4.0,
    suptitle=f"{size}x{size}: tile overlap zone [{mid}, {mid + ov}) in both axes (window centre)",
  )
  if compare:
    # a 4-tile junction of the compare crop, both ways, at full resolution
    j = pipeline.tile_positions(compare, t, ov)[1]
    win = (slice(max(j - 96, 0), min(t + 96, compare)),) * 2
    zoom = [("input (junction)", img[win])]
    for share, lab in ((True, "shared"), (False, "per-tile")):
      cc = results[(compare, share)].concentrations[win][..., 0]
      zoom.append((f"C hematoxylin, {lab} S, M, B", unit(cc)))
    zoom.append(("C hematoxylin (truth)", unit(c_true[win][..., 0])))
    plotting.save_panels(
      os.path.join(out, "junction.png"),
      zoom,
      ncols=4,
      size=4.0,
      suptitle=f"tile overlap zone [{j}, {t}) in both axes",
    )
  md = "\n".join(
    [
      f"PGDIPS stitched on the synthetic non-ideal H-DAB slide (`python -m pgdips.stitch --size={size} "
      f"--compare={compare}`), tiles {cfg.tile} px overlapping {cfg.overlap} px, {cfg.num_steps} iterations "
      f"for the {cfg.estimate_tiles} S/M/B estimation tiles and {cfg.tile_steps or cfg.num_steps} per tile; "
      f"tile inputs `tile_noise={cfg.tile_noise}`, `tile_init={cfg.tile_init}`. Overlap step / rms: how "
      "differently neighbouring tiles estimate their shared pixels (`pipeline.overlap_disagreement`, no ground "
      "truth); seam index against the truth, in units of the mean true concentration (module docstring).",
      "",
      "| image | S, M, B | PCC H | PCC DAB | overlap step | overlap rms | seam | control | seam / control | s |",
      "|---|---|---|---|---|---|---|---|---|---|",
      *rows,
      "",
    ]
  )
  with open(os.path.join(out, "stitch.md"), "w") as f:
    f.write(md + "\n")
  return md


def _define_flags():
  cli.define_config(
    cli.config_path("pgdips/he.py:hdab,cpu,wsi"), "PGDIPS config of the stitched run"
  )
  flags.DEFINE_integer("size", 2048, "slide size in pixels", lower_bound=pipeline.MIN_SIZE)
  flags.DEFINE_integer(
    "compare",
    512,
    "also solve a corner crop of this size with per-tile S, M, B (0: skip)",
    lower_bound=0,
  )
  flags.DEFINE_string("out", "stitch_out", "output folder")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  pipeline.check_config(FLAGS.config)
  if FLAGS.compare > FLAGS.size:
    raise UserError(f"--compare={FLAGS.compare} is larger than --size={FLAGS.size}")
  print(run(FLAGS.config, FLAGS.size, FLAGS.compare, sources.check_out_dir(FLAGS.out)))
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
