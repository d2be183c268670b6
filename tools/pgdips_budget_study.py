"""How the PGDIPS fit's accuracy moves with the iteration count: one long fit per hard ground-truth tile
(pgdips.evaluate's benchmark_set) is read out at checkpoints (Solver.finish, the preset's inverse read-out)
and scored by concentration PCC against the truth, paired against the tile's Macenko estimate (the fit's
start) with the two-sided Wilcoxon test. The fit up to a checkpoint is exactly a fit of that many
iterations: no schedule of the solver depends on num_steps. About 40 s per tile and 1000 iterations here;
the iteration count of configs/pgdips/he.py's cpu preset was chosen with seeds 18, 21 and 24.

  .venv/bin/python tools/pgdips_budget_study.py --seed=18 --num_images=16 --steps=1000 \\
      --checks=100,200,300,400,500,600,700,800,1000 [--config.net.perturb_std=0]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from common import cli, metrics  # noqa: E402
from pgdips import baselines, evaluate, physics, solver as solver_lib  # noqa: E402

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
  cfg = F.config
  items = evaluate.benchmark_set(F.num_images, 64, "hard", F.seed)
  x = jnp.asarray(np.stack([it[0] for it in items]).astype(np.float32))
  sol = solver_lib.Solver(cfg, (64, 64))
  anchors = jnp.asarray(solver_lib.macenko_anchors(cfg, np.asarray(x)))
  keys = jax.random.split(jax.random.PRNGKey(F.seed), len(items))  # solve_batch's keys
  carry = jax.jit(jax.vmap(sol.init, in_axes=(0, 0, None, None, None, 0)))(x, keys, None, None, None, anchors)
  step, finish = jax.jit(jax.vmap(sol.step)), jax.jit(jax.vmap(sol.finish))
  ref = physics.default_stains(evaluate.STAINS)
  mac = _pcc([baselines.macenko(it[0], reference=ref) for it in items], items)
  checks = sorted({int(c) for c in F.checks if int(c) <= F.steps} | {F.steps})
  print(f"PGDIPS minus Macenko, concentration PCC, hard set seed {F.seed}, {len(items)} tiles "
        f"(Macenko {mac[:, 0].mean():.4f} / {mac[:, 1].mean():.4f})\n")
  print("| iterations | PCC H | PCC DAB | Δ H | p | won | Δ DAB | p | won |")
  print("|---|---|---|---|---|---|---|---|---|")
  for i in range(1, F.steps + 1):
    carry, _ = step(carry, x)
    if i not in checks:
      continue
    out = jax.device_get(finish(carry, x))
    res = [solver_lib.StainResult(concentrations=out["concentrations"][k], stains=out["stains"][k], recon=None,
                                  fitted_stains=out["fitted_stains"][k], order=out["order"][k])
           for k in range(len(items))]
    pcc = _pcc(res, items)
    d = pcc - mac
    cells = []
    for j in range(2):
      t = metrics.paired_difference(d[:, j])
      cells += [f"{t['mean']:+.4f}", f"{t['p']:.2g}", f"{t['won']}/{t['n']}"]
    print(f"| {i} | {pcc[:, 0].mean():.4f} | {pcc[:, 1].mean():.4f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
  app.run(main)
