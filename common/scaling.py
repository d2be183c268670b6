"""Scaling study: train any config for N steps at several device counts and batch sizes, and write a
CSV and a PNG of step time and examples/s.

  python -m common.scaling --config=configs/common/toy.py --devices=1,2,4 --batch_sizes=64,256 \\
      --steps=50 --out=scaling_out

Each point runs in its own process. On CPU the devices are simulated (``JAX_NUM_CPU_DEVICES``; they
share this machine's cores, so expect flat or falling curves here); on GPU the first n devices are made
visible (``CUDA_VISIBLE_DEVICES``); on TPU, run one point per slice size instead. The step time is
measured over the second half of the steps, after compilation.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile

from common import logging as log_lib



def _point(spec: str, overrides: list[str], devices: int, batch: int, steps: int) -> dict:
  env = dict(os.environ)
  env["JAX_NUM_CPU_DEVICES"] = str(devices)
  if os.environ.get("MEDJAX_SCALING_PLATFORM", "cpu") == "gpu":
    env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, range(devices)))
  with tempfile.TemporaryDirectory() as wd:
    half = max(steps // 2, 1)
    args = [sys.executable, "-m", "common.main", f"--config={spec}", f"--workdir={wd}",
            f"--config.total_steps={steps}", f"--config.batch_size={batch}", f"--config.log_every={half}",
            "--config.ckpt_every=0", "--config.eval_every=0", "--config.figure_every=0", *overrides]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode:
      raise RuntimeError(f"scaling point devices={devices} batch={batch} failed:\n{proc.stderr[-2000:]}")
    rows = [r for r in log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl")) if "perf/steps_per_sec" in r]
  sps = rows[-1]["perf/steps_per_sec"]
  return {"devices": devices, "batch_size": batch, "steps": steps, "step_time_ms": 1000.0 / sps,
          "examples_per_sec": sps * batch, "examples_per_sec_per_device": sps * batch / devices}


def run(spec: str, devices: list[int], batch_sizes: list[int], steps: int, out: str,
        overrides: list[str] = ()) -> list[dict]:
  os.makedirs(out, exist_ok=True)
  results = []
  for b in batch_sizes:
    for d in devices:
      r = _point(spec, list(overrides), d, b, steps)
      print(json.dumps(r), flush=True)
      results.append(r)
  with open(os.path.join(out, "scaling.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(results[0]))
    w.writeheader()
    w.writerows(results)
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for b in batch_sizes:
    rs = [r for r in results if r["batch_size"] == b]
    axes[0].plot([r["devices"] for r in rs], [r["step_time_ms"] for r in rs], "o-", label=f"batch {b}")
    axes[1].plot([r["devices"] for r in rs], [r["examples_per_sec"] for r in rs], "o-", label=f"batch {b}")
  for ax, yl in zip(axes, ["step time (ms)", "examples / s"]):
    ax.set_xlabel("devices")
    ax.set_ylabel(yl)
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend()
  fig.suptitle(f"scaling: {spec}")
  fig.tight_layout()
  fig.savefig(os.path.join(out, "scaling.png"), dpi=100)
  plt.close(fig)
  return results


def _define_flags():
  from absl import flags

  from common import cli
  cli.define_config()
  flags.DEFINE_list("devices", ["1", "2", "4"], "device counts")
  flags.DEFINE_list("batch_sizes", ["64"], "global batch sizes")
  flags.DEFINE_integer("steps", 40, "steps per point (timed over the second half)", lower_bound=2)
  flags.DEFINE_string("out", "scaling_out", "output folder (scaling.csv, scaling.png)")


def main(argv) -> int:
  import sys as _sys

  from absl import flags
  from ml_collections import config_flags

  from common.data import sources
  from common.errors import UserError
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  if FLAGS.config is None:
    raise UserError("missing --config=configs/<method>/<experiment>.py[:arg]")
  try:
    devices, batches = [int(x) for x in FLAGS.devices], [int(x) for x in FLAGS.batch_sizes]
  except ValueError:
    raise UserError("--devices and --batch_sizes are comma-separated integers") from None
  spec = config_flags.get_config_filename(FLAGS["config"])
  overrides = [a for a in _sys.argv[1:] if a.startswith("--config.")]  # passed on to every point
  run(spec, devices, batches, FLAGS.steps, sources.check_out_dir(FLAGS.out), overrides)
  return 0


if __name__ == "__main__":
  from common import cli
  _define_flags()
  cli.run(main)
