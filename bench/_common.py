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


def steps_per_sec(step, state, batch, steps: int) -> float:
  state, m = step(state, batch)
  jax.block_until_ready(m)
  for _ in range(3):
    state, m = step(state, batch)
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, batch)
  jax.block_until_ready(m)
  return steps / (time.perf_counter() - t0)


def init_state(task, tx, batch, seed=0):
  from common import trainer

  params, extra = task.init(jax.random.PRNGKey(seed), batch)
  return trainer.TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), extra)


sys.path.insert(0, ROOT)
