"""The synthetic H-DAB table with its controls, over seeds, in one resumable command.

  python -m pgdips.study --out=runs/pgdips_study [--seeds=25,26,27,28,29] [--num_images=16] \
      [--conditions=hard] [--config=configs/pgdips/he.py:hdab,cpu] [--config.num_steps=...]

Every seed draws its own set of ``--num_images`` synthetic images (``pgdips.evaluate``: crops of
scikit-image's IHC image, each with its own true stain vectors and the condition's non-idealities) and
scores Ruifrok, Macenko, Vahadane, PGDIPS and, with the inverted read-out, the controls: the baselines'
vectors through the same read-out with no fit, and the same PGDIPS fits read out through the networks
(the paper's read-out). A seed's images are crops of one source image, so the seed is the unit of
replication: each cell is the mean over seeds of the per-seed mean (± std over seeds), and the paired
tests (exact Wilcoxon signed-rank, two-sided) pair the per-seed means; with 5 seeds the smallest possible
p is 0.062, with 10 it is 0.002.

Each seed is kept in ``OUT/seed_S/per_image.csv`` (every image's scores, written when the seed is done) and
skipped when the command runs again. Writes ``OUT/table.md`` (also printed) and ``OUT/seed_means.csv``.
Budget: about 8 min per seed of 16 images on 2 CPU cores.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
from absl import flags

from common import cli
from common.data import sources
from common.errors import UserError
from common.files import write_text_atomic
from pgdips import evaluate, pipeline

SEEDS = ("25", "26", "27", "28", "29")


def seed_means(runs) -> dict:
  """Runs at several seeds (each ``{condition: {method: [scores per image]}}``) -> ``{condition: {method:
  [one score dict per seed, the mean over its images]}}``."""
  out: dict = {}
  for res in runs:
    for cond, per in res.items():
      for method, scores in per.items():
        mean = {k: float(np.mean([sc[k] for sc in scores])) for k in scores[0]}
        out.setdefault(cond, {}).setdefault(method, []).append(mean)
  return out


def seed_means_csv(means: dict, seeds) -> str:
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(["condition", "seed", "method", *evaluate.SCORE_KEYS])
  for cond, per in means.items():
    for method, rows in per.items():
      for sd, row in zip(seeds, rows):
        w.writerow([cond, sd, method, *(f"{row[k]:.6g}" for k in evaluate.SCORE_KEYS)])
  return buf.getvalue()


def run_study(
  cfg, out: str, seeds, num_images: int = 16, size: int = 64, conditions=("hard",), verbose=True
) -> str:
  """Solves the seeds not yet in ``out``, then writes and returns the table (markdown)."""
  runs = []
  for sd in seeds:
    path = os.path.join(out, f"seed_{sd}", "per_image.csv")
    if not os.path.isfile(path):
      res = evaluate.run(cfg, num_images, size, sd, progress=verbose, conditions=conditions)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      write_text_atomic(path, evaluate.per_image_csv(res))
      if verbose:
        print(f"seed {sd}: {path}", flush=True)
    runs.append(evaluate.read_per_image(path))
  means = seed_means(runs)
  md = (
    f"{num_images} synthetic {size}x{size} H-DAB images per condition at each of the seeds "
    f"{', '.join(map(str, seeds))}; each row is the mean over seeds of the per-seed mean (± std over "
    "seeds), and the paired tests pair the per-seed means (a seed's images are crops of one source "
    f"image, so the seed is the unit). {evaluate.describe(cfg)}\n\n"
    + evaluate.table(means, unit="seeds")
  )
  write_text_atomic(os.path.join(out, "seed_means.csv"), seed_means_csv(means, seeds))
  write_text_atomic(os.path.join(out, "table.md"), md + "\n")
  return md


def _define_flags():
  cli.define_config(
    cli.config_path("pgdips/he.py:hdab,cpu"),
    "PGDIPS config (default: the H-DAB CPU preset, 400 iterations)",
  )
  flags.DEFINE_string("out", None, "study folder (seed_S/per_image.csv, table.md)", required=True)
  flags.DEFINE_list("seeds", list(SEEDS), "one image set per seed, the unit of the paired tests")
  flags.DEFINE_integer("num_images", 16, "synthetic images per seed and condition", lower_bound=1)
  flags.DEFINE_integer("size", 64, "image size in pixels", lower_bound=pipeline.MIN_SIZE)
  flags.DEFINE_list(
    "conditions", ["hard"], f"synthetic conditions: {', '.join(evaluate.CONDITIONS)}"
  )
  flags.DEFINE_bool("quiet", False, "no progress lines")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  pipeline.check_config(FLAGS.config)
  conditions = evaluate.check_conditions(FLAGS.conditions)
  seeds = []
  for k in FLAGS.seeds:
    if not k.isdigit():
      raise UserError(f"--seeds: {k!r} is not a non-negative integer")
    seeds.append(int(k))
  md = run_study(
    FLAGS.config,
    sources.check_out_dir(FLAGS.out),
    seeds,
    FLAGS.num_images,
    FLAGS.size,
    conditions,
    verbose=not FLAGS.quiet,
  )
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
