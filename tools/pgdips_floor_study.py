"""How the inverse read-out's separation floor (``inverse_min_separation``) acts on per-tile stain
estimates, without solving PGDIPS: every hard ground-truth tile of the given seeds (pgdips.evaluate's
benchmark_set) is unmixed with its Macenko vectors turned apart to each floor (physics.spread_stains),
by the same clipped least squares as the baselines, and scored by concentration PCC against the truth,
split by the tile's true stain separation. Seconds per seed; the floor of configs/pgdips/he.py was
chosen with seeds 0-8.

  .venv/bin/python tools/pgdips_floor_study.py --seeds=0-8 --floors=0,10,15,20,25,30,37
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from common import metrics  # noqa: E402
from pgdips import baselines, evaluate, physics  # noqa: E402

flags.DEFINE_string("seeds", "0-8", "benchmark seeds: a range A-B or a comma list")
flags.DEFINE_list("floors", ["0", "10", "15", "20", "25", "30", "37"], "floors in degrees")
flags.DEFINE_integer("num_images", 16, "tiles per seed", lower_bound=1)
flags.DEFINE_float("close_deg", 20.0, "true stain separation that splits the tiles")


def _seeds(text):
  if "-" in text:
    a, b = (int(v) for v in text.split("-"))
    return list(range(a, b + 1))
  return [int(v) for v in text.split(",")]


def main(argv):
  del argv
  F = flags.FLAGS
  floors = [float(f) for f in F.floors]
  ref = physics.default_stains(evaluate.STAINS)
  pcc = {f: [] for f in floors}
  sep = []
  for seed in _seeds(F.seeds):
    for img, c, s in evaluate.benchmark_set(F.num_images, 64, "hard", seed):
      sep.append(evaluate.angle_deg(s[0], s[1]))
      est = baselines.macenko(img, reference=ref).stains.astype(np.float64)
      od = baselines.od_np(img)
      for f in floors:
        conc = baselines.lstsq_concentrations(od, physics.spread_stains(est, f, xp=np))
        pcc[f].append([metrics.pcc(conc[..., k].ravel(), c[..., k].ravel()) for k in range(2)])
  close = np.asarray(sep) < F.close_deg
  print(f"Macenko's vectors with a separation floor: mean PCC H / DAB over {len(sep)} hard tiles (seeds {F.seeds})\n")
  print(f"| floor (deg) | all {len(sep)} | {close.sum()} tiles < {F.close_deg:g} deg apart | {(~close).sum()} others |")
  print("|---|---|---|---|")
  for f in floors:
    r = np.asarray(pcc[f])
    cells = [f"{r[m].mean(0)[0]:.3f} / {r[m].mean(0)[1]:.3f}" for m in (np.ones_like(close), close, ~close)]
    print(f"| {f:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)
