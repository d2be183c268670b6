"""PGDIPS batched throughput: tiles per second against the number of tiles solved at once (vmapped,
split over the devices), same tile size and iteration count.

  python bench/pgdips.py [--size=32] [--steps=100] [--batches=1,2,4,8] [--official=PATH]

``--official=PATH`` (a checkout of GJiananChen/PGDIPS) is not run here: its script needs CUDA-era
dependencies and a GPU; the ratio column is left empty without it.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402


def main():
  from common import config as config_lib
  from pgdips import solver, synthetic
  opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
  size, steps = int(opts.get("size", 32)), int(opts.get("steps", 100))
  batches = [int(b) for b in opts.get("batches", "1,2,4,8").split(",")]
  cfg = config_lib.load_config(os.path.join(_common.ROOT, "configs/pgdips/he.py:hdab,cpu"), {"num_steps": steps})
  c, s = synthetic.ihc_ground_truth(size, offset=(100, 100))
  tile = synthetic.synthesize(c, s, noise_std=1.0)
  print(f"| tiles at once ({size}x{size}, {steps} iterations, {jax.device_count()} devices) | s per call | tiles/s | speed-up vs 1 |")
  print("|---|---|---|---|")
  base = None
  for b in batches:
    tiles = np.stack([tile] * b)
    solver.solve_batch(cfg, tiles)  # compile
    t0 = time.perf_counter()
    solver.solve_batch(cfg, tiles)
    dt = time.perf_counter() - t0
    tps = b / dt
    base = base or tps
    print(f"| {b} | {dt:.2f} | {tps:.3f} | {tps / base:.2f} |")
  print(f"(jax {jax.__version__}, {jax.default_backend()}, {os.cpu_count()} host cores)")


if __name__ == "__main__":
  main()
