"""How the PGDIPS fit's accuracy moves with the iteration count: one fit per hard ground-truth tile
(pgdips.evaluate's benchmark_set, its seed and its keys) is read out at checkpoints (solve_batch's
``readouts``: exactly what a fit of that many iterations returns, no schedule depends on num_steps) and
scored by concentration PCC against the truth, paired against the tile's Macenko estimate (the preset's
start) with the two-sided Wilcoxon test. About 40 s per tile and 1000 iterations here; the iteration count
of configs/pgdips/he.py's cpu preset was chosen with seeds 18, 21 and 24.

  .venv/bin/python tools/pgdips_budget_study.py --seed=18 --num_images=16 --steps=1000 \\
      --checks=100,200,300,400,500,600,700,800,1000 [--config.net.perturb_std=0]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from common import cli, config as config_lib, metrics  # noqa: E402
from pgdips import baselines, evaluate, physics, solver  # noqa: E402

flags.DEFINE_integer("seed", 18, "benchmark seed (the tiles and the networks' keys, as pgdips.evaluate)")
flags.DEFINE_integer("num_images", 16, "hard tiles", lower_bound=1)
flags.DEFINE_integer("steps", 1000, "iterations of the fit", lower_bound=1)
flags.DEFINE_list("checks", ["100", "200", "300", "400", "500", "600", "700", "800", "1000"], "read-out iterations")
cli.define_config(cli.config_path("pgdips/he.py:hdab,cpu"), "PGDIPS config (num_steps is --steps)")


def _pcc(result, items):
  return np.array([[evaluate.score(r, c, s)[f"pcc_{n}"] for n in evaluate.STAINS]
                   for r, (_, c, s) in zip(result, items)])


def main(argv):
  del argv
  F = flags.FLAGS
  cfg = config_lib.replaced(F.config, {"num_steps": F.steps})
  items = evaluate.benchmark_set(F.num_images, 64, "hard", F.seed)
  ref = physics.default_stains(evaluate.STAINS)
  mac = _pcc([baselines.macenko(it[0], reference=ref) for it in items], items)
  print(f"PGDIPS minus Macenko, concentration PCC, hard set seed {F.seed}, {len(items)} tiles "
        f"(Macenko {mac[:, 0].mean():.4f} / {mac[:, 1].mean():.4f})\n")
  print("| iterations | PCC H | PCC DAB | Δ H | p | won | Δ DAB | p | won |")
  print("|---|---|---|---|---|---|---|---|---|")

  def row(step, results):
    pcc = _pcc(results, items)
    cells = []
    for j in range(2):
      t = metrics.paired_difference(pcc[:, j] - mac[:, j])
      cells += [f"{t['mean']:+.4f}", f"{t['p']:.2g}", f"{t['won']}/{t['n']}"]
    print(f"| {step} | {pcc[:, 0].mean():.4f} | {pcc[:, 1].mean():.4f} | " + " | ".join(cells) + " |", flush=True)

  final = solver.solve_batch(cfg, np.stack([it[0] for it in items]), seed=F.seed,
                             readouts=[int(c) for c in F.checks], on_readout=row)
  row(F.steps, final)


if __name__ == "__main__":
  app.run(main)
