"""Scaling study: train any config for N steps at several device counts, batch sizes and sharding
strategies, and write a CSV and a PNG of what a study needs at every point.

  python -m common.scaling --config=configs/common/toy.py --devices=1,2,4 --batch_sizes=64,256 \\
      --mode=strong,weak --per_device_batch=16 --strategies=dp,fsdp --steps=50 --out=scaling_out

Modes: ``strong`` keeps each global batch of ``--batch_sizes`` fixed as devices grow; ``weak`` keeps
``--per_device_batch`` fixed (global batch = per-device x devices). Strategies: ``dp`` replicates the
train state (``sharding.mesh.fsdp=1``); ``fsdp`` splits it over all devices of the point
(``data=1, fsdp=n``, common.sharding).

Every point runs in its own process and reports: step time and examples/s (second half of the steps,
after compilation), achieved FLOP/s (XLA's cost analysis of the compiled step, one device's share, times
the devices, times steps/s), MFU (against ``runtime.PEAK_TFLOPS`` for known GPUs/TPUs; on CPU against
the matmul throughput of this host measured in the same run, which all simulated devices share), and
the per-device memory of the compiled step (arguments + outputs + temporaries - donated buffers;
plus the device's own peak where the platform keeps statistics).

On CPU the devices are simulated (``JAX_NUM_CPU_DEVICES``): they share this machine's cores, so expect
flat or falling curves here. On GPU the first n devices are made visible (``CUDA_VISIBLE_DEVICES``);
on TPU, run one point per slice size instead.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile

from common import logging as log_lib

FIELDS = [
  "mode",
  "strategy",
  "devices",
  "batch_size",
  "per_device_batch",
  "steps",
  "step_time_ms",
  "examples_per_sec",
  "examples_per_sec_per_device",
  "step_gflop_per_device",
  "achieved_tflops",
  "mfu",
  "peak_tflops_per_device",
  "compiled_peak_mb_per_device",
  "param_state_mb_per_device",
  "device_peak_mb",
  "platform",
]


def _point(
  spec: str, overrides: list[str], devices: int, batch: int, steps: int, strategy: str
) -> dict:
  env = dict(os.environ)
  env["JAX_NUM_CPU_DEVICES"] = str(devices)
  if os.environ.get("MEDJAX_SCALING_PLATFORM", "cpu") == "gpu":
    env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, range(devices)))
  fsdp = devices if strategy == "fsdp" else 1
  with tempfile.TemporaryDirectory() as wd:
    half = max(steps // 2, 1)
    args = [
      sys.executable,
      "-m",
      "common.main",
      f"--config={spec}",
      f"--workdir={wd}",
      f"--config.total_steps={steps}",
      f"--config.batch_size={batch}",
      f"--config.log_every={half}",
      "--config.ckpt_every=0",
      "--config.eval_every=0",
      "--config.figure_every=0",
      f"--config.sharding.mesh.fsdp={fsdp}",
      "--config.sharding.mesh.data=-1",
      *overrides,
    ]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode:
      raise RuntimeError(
        f"scaling point devices={devices} batch={batch} {strategy} failed:\n{proc.stderr[-2000:]}"
      )
    rows = [
      r for r in log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl")) if "perf/steps_per_sec" in r
    ]
    with open(os.path.join(wd, "perf.json")) as f:
      perf = json.load(f)
  sps = rows[-1]["perf/steps_per_sec"]
  flops = perf.get("step_flops_per_device") or float("nan")
  mem = perf.get("memory_bytes_per_device", {})
  device_peak = rows[-1].get("perf/device_peak_bytes")
  return {
    "strategy": strategy,
    "devices": devices,
    "batch_size": batch,
    "per_device_batch": batch / devices,
    "steps": steps,
    "step_time_ms": 1000.0 / sps,
    "examples_per_sec": sps * batch,
    "examples_per_sec_per_device": sps * batch / devices,
    "step_gflop_per_device": flops / 1e9,
    "achieved_tflops": flops * devices * sps / 1e12,
    "_peak": perf.get("peak_flops_per_device"),
    "compiled_peak_mb_per_device": mem.get("peak_bytes", float("nan")) / 2**20,
    "param_state_mb_per_device": mem.get("argument_bytes", float("nan")) / 2**20,
    "device_peak_mb": device_peak / 2**20 if device_peak else float("nan"),
    "platform": perf.get("platform", ""),
  }


def host_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
  """FLOP/s of a float32 n x n matmul on the default device, best of ``repeats`` (the CPU peak for MFU)."""
  import time

  import jax
  import jax.numpy as jnp

  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    f(a).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2.0 * n**3 / best


def run(
  spec: str,
  devices: list[int],
  batch_sizes: list[int],
  steps: int,
  out: str,
  overrides: list[str] = (),
  modes=("strong",),
  per_device_batch: int = 16,
  strategies=("dp",),
  cpu_peak: float | None = None,
) -> list[dict]:
  """Runs every point; returns the rows also written to ``scaling.csv`` / ``scaling.png``."""
  os.makedirs(out, exist_ok=True)
  points = []
  for mode in modes:
    batches = batch_sizes if mode == "strong" else [None]
    for b in batches:
      for strategy in strategies:
        for d in devices:
          points.append((mode, strategy, d, b if mode == "strong" else per_device_batch * d))
  results = []
  for mode, strategy, d, b in points:
    r = _point(spec, list(overrides), d, b, steps, strategy)
    peak_dev = r.pop("_peak")
    if peak_dev:  # a known accelerator: peak per device x devices
      r["peak_tflops_per_device"], r["mfu"] = (
        peak_dev / 1e12,
        r["achieved_tflops"] * 1e12 / (peak_dev * d),
      )
    else:  # CPU: the simulated devices share the host; MFU against the host's measured matmul rate
      cpu_peak = cpu_peak or host_matmul_flops()
      r["peak_tflops_per_device"], r["mfu"] = (
        cpu_peak / 1e12 / d,
        r["achieved_tflops"] * 1e12 / cpu_peak,
      )
    r = {"mode": mode, **r}
    print(
      json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}),
      flush=True,
    )
    results.append(r)
  with open(os.path.join(out, "scaling.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=FIELDS)
    w.writeheader()
    w.writerows(results)
  plot(results, spec, os.path.join(out, "scaling.png"))
  return results


def plot(results: list[dict], title: str, path: str) -> str:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from common import plotting

  panels = [
    ("step_time_ms", "step time (ms)"),
    ("examples_per_sec", "examples / s"),
    ("mfu", "MFU"),
    ("compiled_peak_mb_per_device", "compiled step memory / device (MB)"),
  ]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
  series = sorted(
    {
      (
        r["mode"],
        r["strategy"],
        r["batch_size"] if r["mode"] == "strong" else r["per_device_batch"],
      )
      for r in results
    },
    key=str,
  )
  for mode, strategy, b in series:
    rs = [
      r
      for r in results
      if r["mode"] == mode
      and r["strategy"] == strategy
      and (r["batch_size"] if mode == "strong" else r["per_device_batch"]) == b
    ]
    label = f"{mode}, {strategy}, " + (f"batch {b}" if mode == "strong" else f"{b:g}/device")
    for ax, (key, _) in zip(axes, panels):
      ax.plot(
        [r["devices"] for r in rs],
        [r[key] for r in rs],
        "o-" if strategy == "dp" else "s--",
        label=label,
      )
  for ax, (_, yl) in zip(axes, panels):
    ax.set_xlabel("devices")
    ax.set_ylabel(yl)
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle(f"scaling: {title}", fontsize=9)
  fig.tight_layout()
  return plotting.save_figure(fig, path, dpi=100)


def _define_flags():
  from absl import flags

  from common import cli

  cli.define_config()
  flags.DEFINE_list("devices", ["1", "2", "4"], "device counts")
  flags.DEFINE_list("batch_sizes", ["64"], "global batch sizes (strong scaling)")
  flags.DEFINE_list(
    "mode", ["strong"], "strong (fixed global batch) and/or weak (fixed per-device batch)"
  )
  flags.DEFINE_integer("per_device_batch", 16, "weak scaling: examples per device", lower_bound=1)
  flags.DEFINE_list(
    "strategies", ["dp"], "dp (replicated state) and/or fsdp (state split over all devices)"
  )
  flags.DEFINE_integer("steps", 40, "steps per point (timed over the second half)", lower_bound=2)
  flags.DEFINE_float(
    "cpu_peak_tflops", None, "CPU only: the host's peak instead of measuring a matmul"
  )
  flags.DEFINE_string("out", "scaling_out", "output folder (scaling.csv, scaling.png)")


def main(argv) -> int:
  import sys as _sys

  from absl import flags
  from ml_collections import config_flags

  from common import runtime
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
  if min(devices) < 1 or min(batches) < 1:
    raise UserError(
      f"--devices={FLAGS.devices} and --batch_sizes={FLAGS.batch_sizes} must be integers >= 1"
    )
  bad = [m for m in FLAGS.mode if m not in ("strong", "weak")] + [
    s for s in FLAGS.strategies if s not in ("dp", "fsdp")
  ]
  if bad:
    raise UserError(f"{bad[0]!r}: --mode takes strong,weak and --strategies takes dp,fsdp")
  uneven = [(b, d) for b in batches for d in devices if b % d] if "strong" in FLAGS.mode else []
  if uneven:
    b, d = uneven[0]
    raise UserError(
      f"--batch_sizes: {b} is not divisible by {d} devices; give batch sizes that every "
      "--devices count divides (strong scaling keeps the global batch)"
    )
  print(runtime.platform_summary(), flush=True)
  spec = config_flags.get_config_filename(FLAGS["config"])
  overrides = [a for a in _sys.argv[1:] if a.startswith("--config.")]  # passed on to every point
  run(
    spec,
    devices,
    batches,
    FLAGS.steps,
    sources.check_out_dir(FLAGS.out),
    overrides,
    tuple(FLAGS.mode),
    FLAGS.per_device_batch,
    tuple(FLAGS.strategies),
    FLAGS.cpu_peak_tflops * 1e12 if FLAGS.cpu_peak_tflops else None,
  )
  return 0


if __name__ == "__main__":
  from common import cli

  _define_flags()
  cli.run(main)
