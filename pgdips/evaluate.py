"""Stain deconvolution against ground truth: synthetic images with known concentrations and stain
vectors (the paper's Table 1 layout), and real DeepLIIF sets (the paper's Table 2 protocol).

  python -m pgdips.evaluate [--out=DIR] [--conditions=hard,near] [--num_images=12] [--size=64] [--seed=0]
                            [--config=configs/pgdips/he.py:hdab,cpu] [--config.num_steps=...]
  python -m pgdips.evaluate --deepliif=PATH [--crops=8] [--crop_size=128] [--whole] ...

Over several seeds, with paired tests: ``python -m pgdips.study``.

Synthetic images: H-DAB concentration maps from crops of scikit-image's immunohistochemistry image,
rendered by the forward model. Every image draws its own true vectors, each turned away from Ruifrok's
(the starting point of PGDIPS and the fixed-vector baseline) by an angle in the condition's range:

* ``hard``: 10-25 degrees, with every non-ideality: DAB light scatter (M_DAB = 1.25), a DAB colour that
  moves 8-15 degrees further as its concentration rises, saturation at high concentration, a
  non-uniform background illumination and intensity noise.
* ``near``: the same non-idealities, vectors 0-10 degrees off (fixed vectors are nearly right).
* ``ideal``: 10-25 degrees, noise only.

Scores per image: PCC and SSIM of each concentration map against the truth and the angle between the
estimated and the true stain vector (with drift, the concentration-weighted mean colour). The table of
one seed gives mean ± std over its images and no test: they are crops of one source image, not
independent samples (``pgdips.study`` pairs the per-seed means).

DeepLIIF (:mod:`pgdips.deepliif`): one set PNG or a folder of them; each set's IHC panel (or ``--crops``
co-registered crops of it) is deconvolved and scored against the hematoxylin-only OD, DAPI and Ki-67.
The set is the unit: a set's crops are averaged, and with 5 or more sets PGDIPS minus each method is
paired over the sets (Wilcoxon signed-rank, two-sided).
``--whole`` also solves the whole panel (tiled, S/M/B shared: ``configs/pgdips/he.py`` ``tile``; with
``readout="inverse"`` only the estimation tiles are solved, then the panel is inverted).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import numpy as np
from absl import flags

from common import cli, metrics
from common.data import sources
from common.errors import UserError
from common.files import write_text_atomic
from pgdips import baselines, deepliif, physics, pipeline, synthetic

STAINS = ("hematoxylin", "dab")
_NON_IDEAL = dict(saturation=1.5, m=(1.0, 1.25), background=0.08, noise_std=2.0, drift=(8.0, 15.0))
CONDITIONS = {
  "hard": dict(angle=(10.0, 25.0), **_NON_IDEAL),
  "near": dict(angle=(0.0, 10.0), **_NON_IDEAL),
  "ideal": dict(angle=(10.0, 25.0), noise_std=1.0),
}
METHODS = ("Ruifrok", "Macenko", "Vahadane", "PGDIPS")
SCORE_KEYS = tuple(
  f"{k}_{n}" for n in STAINS for k in ("pcc", "ssim", "angle")
)  # per_image.csv's columns
NET_ROW = "PGDIPS, net C"  # with readout="inverse": the same fit's network maps, for comparison
# with readout="inverse": each baseline's vectors through the same read-out (separation floor and inversion,
# M = 1, no background) with no fit: what the read-out alone adds (the control for the fit)
CONTROLS = {"Ruifrok + read-out": "Ruifrok", "Macenko + read-out": "Macenko"}


def _methods(cfg):
  inv = cfg.readout == "inverse"
  return METHODS + ((NET_ROW, *CONTROLS) if inv else ())


def _net_c(r):
  return dataclasses.replace(r, concentrations=r.net_concentrations)


def _fitted(r):
  """A result's stains as fitted (PGDIPS with a read-out floor keeps them apart from ``stains``)."""
  return r.stains if r.fitted_stains is None else r.fitted_stains


def readout_control(cfg, img, stains):
  """``stains`` (a baseline's) read out as the preset reads PGDIPS's fit, with no fit: eq. 2 inverted
  with the pairs closer than ``inverse_min_separation`` turned apart, M = 1 and no background."""
  n = len(stains)
  return pipeline.invert(
    cfg, img, {"stains": stains, "m": np.ones(n, np.float32), "background": np.ones(3, np.float32)}
  )


def relabelled(r) -> bool:
  """Whether a fit's stains are named in another order than its networks fitted them
  (:func:`physics.name_stains`)."""
  return r.order is not None and not np.array_equal(r.order, np.arange(len(r.order)))


def _baseline_rows(cfg, per, img, scorer):
  """Appends each baseline's scores on ``img``, and its read-out control where ``per`` has that row."""
  results = baselines.all_baselines(img, STAINS, cfg.i0, cfg.log_base)
  for name, r in results.items():
    per[name].append(scorer(r))
  for row, base in CONTROLS.items():
    if row in per:
      per[row].append(scorer(readout_control(cfg, img, results[base].stains)))


def _pgdips_rows(cfg, per, img, r, scorer):
  """Appends the fit ``r``'s scores to the PGDIPS row and to the alternative read-outs' rows."""
  per["PGDIPS"].append(scorer(r))
  if NET_ROW in per:
    per[NET_ROW].append(scorer(_net_c(r)))


def check_conditions(names) -> tuple[str, ...]:
  """``--conditions``, checked against :data:`CONDITIONS`."""
  bad = [c for c in names if c not in CONDITIONS]
  if bad:
    raise UserError(f"--conditions: {bad[0]!r} is unknown; use some of {', '.join(CONDITIONS)}")
  return tuple(names)


def benchmark_set(num_images: int, size: int, condition: str, seed: int = 0):
  """[(rgb uint8, true C (size, size, 2), true S (2, 3))], image i drawn from (seed, i) alone."""
  spec = dict(CONDITIONS[condition])
  lo, hi = spec.pop("angle")
  drift = spec.pop("drift", None)
  ref = physics.default_stains(STAINS)
  out = []
  for i in range(num_images):
    rng = np.random.default_rng([seed, i])
    off = (int(rng.integers(0, 512 - size)), int(rng.integers(0, 512 - size)))
    c, _ = synthetic.ihc_ground_truth(size, offset=off)
    s = np.stack([synthetic.rotate_away(v, lo, hi, rng) for v in ref])
    s_img, s_true = s, s
    if drift:
      s_img = synthetic.drifting_stains(c, s, 1, synthetic.rotate_away(s[1], *drift, rng))
      w = c[..., :, None] * s_img  # concentration-weighted mean colour of each stain
      s_true = w.sum((0, 1)) / np.linalg.norm(w.sum((0, 1)), axis=-1, keepdims=True)
    out.append(
      (synthetic.synthesize(c, s_img, seed=seed * 1000 + i, **spec), c, s_true.astype(np.float32))
    )
  return out


def angle_deg(a, b) -> np.ndarray:
  return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def score(result, c_true, s_true) -> dict:
  """PCC, SSIM and angle per stain, ``true_separation`` (degrees between the two true stains: the
  tile's conditioning, which no method controls) and ``fit_separation`` (between the method's two, as
  fitted: before PGDIPS's read-out floor, ``inverse_min_separation``). The angles are the result's
  ``stains``, the vectors its concentrations belong to."""
  fit = _fitted(result)
  out = {
    "true_separation": float(angle_deg(s_true[0], s_true[1])),
    "fit_separation": float(angle_deg(fit[0], fit[1])),
    "relabelled": float(relabelled(result)),
  }
  for i, name in enumerate(STAINS):
    est, true = result.concentrations[..., i], c_true[..., i]
    out[f"pcc_{name}"] = float(metrics.pcc(est.ravel(), true.ravel()))
    out[f"ssim_{name}"] = float(
      metrics.ssim(est[..., None], true[..., None], data_range=float(true.max()))
    )
    out[f"angle_{name}"] = float(angle_deg(result.stains[i], s_true[i]))
  return out


def run(
  cfg,
  num_images: int = 12,
  size: int = 64,
  seed: int = 0,
  progress: bool = False,
  conditions=("hard", "near"),
) -> dict:
  """{condition: {method: [score dict per image]}}."""
  res = {}
  for cond in conditions:
    items = benchmark_set(num_images, size, cond, seed)
    per = {m: [] for m in _methods(cfg)}
    for img, c, s in items:
      _baseline_rows(cfg, per, img, lambda q, c=c, s=s: score(q, c, s))
    for r, (img, c, s) in zip(
      pipeline.fit(
        cfg,
        np.stack([it[0] for it in items]),
        seed=seed,
        chunk=int(cfg.progress_chunk),
        progress=progress,
      ),
      items,
    ):
      _pgdips_rows(cfg, per, img, r, lambda q: score(q, c, s))
    res[cond] = per
  return res


def per_image_csv(res) -> str:
  """One row per (condition, image, method) with every score and the tile's true stain separation, for
  diagnosing which tiles fail. Written with ``csv`` so that method names with commas are quoted."""
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(
    [
      "condition",
      "image",
      "method",
      "true_separation_deg",
      "fit_separation_deg",
      "relabelled",
      *SCORE_KEYS,
    ]
  )
  for cond, per in res.items():
    for method, scores in per.items():
      for i, sc in enumerate(scores):
        w.writerow(
          [
            cond,
            i,
            method,
            f"{sc['true_separation']:.2f}",
            f"{sc['fit_separation']:.2f}",
            int(sc.get("relabelled", 0)),
            *(f"{sc[k]:.6g}" for k in SCORE_KEYS),
          ]
        )
  return buf.getvalue()


def read_per_image(path) -> dict:
  """:func:`per_image_csv`'s file back as ``{condition: {method: [score dict per image]}}``."""
  res: dict = {}
  with open(path, newline="") as f:
    for row in csv.DictReader(f):
      sc = {
        "true_separation": float(row["true_separation_deg"]),
        "fit_separation": float(row["fit_separation_deg"]),
        "relabelled": float(row.get("relabelled") or 0),
        **{k: float(row[k]) for k in SCORE_KEYS},
      }
      res.setdefault(row["condition"], {}).setdefault(row["method"], []).append(sc)
  return res


def _cell(v, k):
  f = ".1f" if k == "angle" else ".3f"
  return f"{v.mean():{f}}" if len(v) == 1 else f"{v.mean():{f}} ± {v.std():{f}}"


def method_table(per: dict, columns) -> list[str]:
  """``columns``: [(score key, header)]; rows mean ± std over the images (the value alone for one)."""
  lines = [
    "| Method | " + " | ".join(h for _, h in columns) + " |",
    "|---" * (1 + len(columns)) + "|",
  ]
  for method, scores in per.items():
    lines.append(
      f"| {method} | "
      + " | ".join(_cell(np.array([s[k] for s in scores]), k.split("_")[0]) for k, _ in columns)
      + " |"
    )
  return lines


def paired_table(per: dict, keys, reference: str = "PGDIPS", unit: str = "images") -> list[str]:
  """PGDIPS minus each other method per image (or per ``unit``): mean ± std, Wilcoxon p (two-sided),
  images won (for an angle, won = smaller)."""
  n = len(per[reference])
  if n < 5:
    return [f"(paired tests need 5 or more {unit}; there are {n})"]
  lines = [
    f"**{reference} minus each method, paired over the {n} {unit}** (Wilcoxon signed-rank, two-sided)",
    "",
    "| vs | " + " | ".join(f"Δ{k} | p | won" for k in keys) + " |",
    "|---" * (1 + 3 * len(keys)) + "|",
  ]
  ref = {k: np.array([s[k] for s in per[reference]]) for k in keys}
  for method in per:
    if method == reference:
      continue
    cells = []
    for k in keys:
      cells += metrics.paired_cells(
        ref[k] - np.array([s[k] for s in per[method]]), smaller_wins=k.startswith("angle")
      )
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return lines


def describe(cfg) -> str:
  """One sentence on the PGDIPS configuration a table was made with."""
  return (
    f"PGDIPS: {cfg.num_steps} iterations, lr {cfg.optim.lr}, nets {tuple(cfg.net.channels)}, "
    f"start {cfg.init_stains}, C read out by {cfg.readout!r}."
  )


def table(res, unit: str = "images", paired: bool = True) -> str:
  cols = [
    (
      f"{k}_{n}",
      f"{k.upper() if k != 'angle' else 'angle'} {n}" + (" (deg)" if k == "angle" else ""),
    )
    for n in STAINS
    for k in ("pcc", "ssim", "angle")
  ]
  lines = []
  for cond, per in res.items():
    lo, hi = CONDITIONS[cond]["angle"]
    lines += [
      f"Condition: {cond} (true vectors {lo:g}-{hi:g} degrees from Ruifrok's)",
      "",
    ] + method_table(per, cols)
    if paired:
      keys = [f"pcc_{n}" for n in STAINS] + [f"angle_{n}" for n in STAINS]
      lines += [""] + paired_table(per, keys, unit=unit)
    lines += [""]
  return "\n".join(lines)


def run_deepliif(
  cfg,
  paths,
  n_crops: int = 8,
  crop_size: int = 128,
  whole: bool = False,
  seed: int = 0,
  progress: bool = False,
) -> dict:
  """{'crops': {method: [scores per set]}, 'whole': {method: [scores per set]}}: ``n_crops`` crops per set
  solved as one batch, a set's scores the mean over its crops; ``whole``: every set's whole IHC panel
  (tiled by ``cfg.tile``)."""
  out = {
    "crops": {m: [] for m in _methods(cfg)},
    "whole": {m: [] for m in _methods(cfg) if m != NET_ROW},
  }
  for path in paths:
    panels = deepliif.read_set(path)
    if n_crops:
      cs = deepliif.crops(panels, crop_size, n_crops, seed)
      truths = [deepliif.ground_truth(c, cfg.i0, cfg.log_base) for c in cs]
      per = {m: [] for m in out["crops"]}
      for c, t in zip(cs, truths):
        _baseline_rows(cfg, per, c["ihc"], lambda q, t=t: deepliif.score(q, t))
      for r, c, t in zip(
        pipeline.fit(
          cfg,
          np.stack([c["ihc"] for c in cs]),
          seed=seed,
          chunk=int(cfg.progress_chunk),
          progress=progress,
        ),
        cs,
        truths,
      ):
        _pgdips_rows(cfg, per, c["ihc"], r, lambda q: deepliif.score(q, t))
      for m, scores in per.items():
        out["crops"][m].append({k: float(np.mean([sc[k] for sc in scores])) for k in scores[0]})
    if whole:
      t = deepliif.ground_truth(panels, cfg.i0, cfg.log_base)
      _baseline_rows(cfg, out["whole"], panels["ihc"], lambda q, t=t: deepliif.score(q, t))
      out["whole"]["PGDIPS"].append(
        deepliif.score(pipeline.deconvolve(cfg, panels["ihc"], seed=seed, progress=progress), t)
      )
  return {k: v for k, v in out.items() if v["PGDIPS"]}


def deepliif_table(res, n_crops: int = 0) -> str:
  keys = [f"{m}_{g}" for _, g in deepliif.TARGETS for m in ("pcc", "ssim")]
  names = {"h_od": "H vs H-only OD", "dapi": "H vs DAPI", "ki67": "DAB vs Ki-67"}
  cols = [(k, f"{k.split('_')[0].upper()} {names[k.split('_', 1)[1]]}") for k in keys]
  lines = []
  for part, per in res.items():
    lines += (
      [
        f"DeepLIIF, {part} ({len(per['PGDIPS'])} sets"
        + (f", each the mean over its {n_crops} crops)" if part == "crops" else ")"),
        "",
      ]
      + method_table(per, cols)
      + [""]
    )
    lines += paired_table(per, [f"pcc_{g}" for _, g in deepliif.TARGETS], unit="sets") + [""]
  return "\n".join(lines)


def _define_flags():
  cli.define_config(
    cli.config_path("pgdips/he.py:hdab,cpu"),
    "PGDIPS config (default: the H-DAB CPU preset, 400 iterations); "
    "configs/pgdips/he.py:hdab for the paper's (a GPU run)",
  )
  flags.DEFINE_string(
    "out", ".", "output folder (table.md; per_image.csv for the synthetic protocol)"
  )
  flags.DEFINE_list(
    "conditions", ["hard", "near"], f"synthetic conditions: {', '.join(CONDITIONS)}"
  )
  flags.DEFINE_integer("num_images", 12, "synthetic images per condition", lower_bound=1)
  flags.DEFINE_integer("size", 64, "image size in pixels", lower_bound=pipeline.MIN_SIZE)
  flags.DEFINE_integer("seed", 0, "images and PGDIPS seed")
  flags.DEFINE_string(
    "deepliif",
    None,
    "a DeepLIIF set PNG (six panels side by side) or a folder of them: "
    "the real-data protocol instead of the synthetic one",
  )
  flags.DEFINE_integer("crops", 8, "DeepLIIF: crops per set (0: none)", lower_bound=0)
  flags.DEFINE_integer("crop_size", 128, "DeepLIIF: crop size", lower_bound=pipeline.MIN_SIZE)
  flags.DEFINE_bool("whole", False, "DeepLIIF: also solve every whole IHC panel")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  cfg = FLAGS.config
  pipeline.check_config(cfg)
  out = sources.check_out_dir(FLAGS.out)
  head = describe(cfg) + "\n\n"
  if FLAGS.deepliif:
    paths = deepliif.find_sets(FLAGS.deepliif)
    for p in paths:
      deepliif.read_set(p)  # every set checked before any solve
    if not FLAGS.crops and not FLAGS.whole:
      raise UserError("--crops=0 without --whole leaves nothing to solve")
    res = run_deepliif(
      cfg, paths, FLAGS.crops, FLAGS.crop_size, FLAGS.whole, FLAGS.seed, progress=True
    )
    md = (
      f"{len(paths)} DeepLIIF set(s); {FLAGS.crops} crops of {FLAGS.crop_size} px per set"
      + (", and the whole panels" if FLAGS.whole else "")
      + ". "
      + head
      + deepliif_table(res, FLAGS.crops)
    )
  else:
    res = run(
      cfg,
      FLAGS.num_images,
      FLAGS.size,
      FLAGS.seed,
      progress=True,
      conditions=check_conditions(FLAGS.conditions),
    )
    md = (
      f"{FLAGS.num_images} synthetic {FLAGS.size}x{FLAGS.size} H-DAB images per condition, seed {FLAGS.seed}. "
      + head
      + table(res, paired=False)
      + "\nPaired tests over seeds: python -m pgdips.study.\n"
    )
    per_image = per_image_csv(res)
  if not FLAGS.deepliif:
    write_text_atomic(os.path.join(out, "per_image.csv"), per_image)
  write_text_atomic(os.path.join(out, "table.md"), md + "\n")
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
