"""Helpers for benchmarks that compare a jitted medjax train step with the PyTorch reference."""

import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_PY = os.environ.get("MEDJAX_TORCH_PYTHON", os.path.join(ROOT, ".venv-torch", "bin", "python"))


def torch_reference(*args) -> dict | None:
  """Runs bench/torch_reference.py under the torch interpreter; None (with a note) if there is none."""
  if not os.path.exists(TORCH_PY):
    print(
      f"(no PyTorch interpreter at {TORCH_PY}: run 'make bench' to create .venv-torch, or set "
      "MEDJAX_TORCH_PYTHON; the ratio is omitted)"
    )
    return None
  out = subprocess.run(
    [TORCH_PY, os.path.join(ROOT, "bench", "torch_reference.py"), *args],
    capture_output=True,
    text=True,
    check=True,
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def steps_per_sec(step, state, batch, steps: int, make_batch=None) -> float:
  """Steps per second of ``step``; ``make_batch()``, when given, makes each step's batch inside the
  timed loop (host work the step needs, e.g. noise an input pipeline draws)."""
  next_batch = make_batch or (lambda: batch)
  state, m = step(state, next_batch())
  jax.block_until_ready(m)
  for _ in range(3):
    state, m = step(state, next_batch())
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, next_batch())
  jax.block_until_ready(m)
  return steps / (time.perf_counter() - t0)


def init_state(task, tx, batch, seed=0):
  from common import trainer

  params, extra = task.init(jax.random.PRNGKey(seed), batch)
  return trainer.TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), extra)


sys.path.insert(0, ROOT)


def op_times(step, state, batch, steps: int = 3) -> tuple[dict, float]:
  """Per-op time of a jitted train step from a jax.profiler trace: ``({op_name: seconds per step},
  wall seconds per step)``. Every XLA:CPU thunk (a fusion, a dot, a copy...) is one trace event named
  after its HLO instruction; the instruction's ``op_name`` metadata in the compiled HLO says where it
  comes from (``jit(step)/transpose(jvp(MAE))/encoder/block_3/attn/...``: a backward op of the
  encoder). Thunks of one step can run side by side on the host's threads, so the op times add up to
  the step's busy time, which can exceed its wall time."""
  import collections
  import glob
  import re
  import tempfile

  compiled = step.lower(state, batch).compile()
  meta = {}
  for line in compiled.as_text().splitlines():
    m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name=\"([^\"]*)\"", line)
    if m:
      meta.setdefault(m.group(1), m.group(2))
  for _ in range(2):
    state, m = step(state, batch)
  jax.block_until_ready(m)
  out = tempfile.mkdtemp(prefix="medjax-trace-")
  jax.profiler.start_trace(out)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, batch)
  jax.block_until_ready(m)
  wall = (time.perf_counter() - t0) / steps
  jax.profiler.stop_trace()
  (path,) = glob.glob(os.path.join(out, "**", "*.xplane.pb"), recursive=True)
  times = collections.Counter()
  for plane in jax.profiler.ProfileData.from_file(path).planes:
    for line in plane.lines:
      if not line.name.startswith("tf_XLA"):
        continue
      for e in line.events:
        stats = dict(e.stats)
        if "hlo_op" in stats:
          times[meta.get(stats["hlo_op"], stats["hlo_op"])] += e.duration_ns * 1e-9 / steps
  return dict(times), wall
