"""Shared helpers for runtime tests: running the trainer in subprocesses, comparing saved params."""

import os
import subprocess
import sys

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env_with_devices(n: int) -> dict:
  env = dict(os.environ)
  env["JAX_NUM_CPU_DEVICES"] = str(n)
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def train_cmd(workdir: str, *overrides: str, config: str = "configs/common/toy.py:smoke") -> list[str]:
  return [sys.executable, "-m", "common.main", f"--config={os.path.join(ROOT, config)}",
          f"--workdir={workdir}", *overrides]


def run_train(workdir: str, *overrides: str, devices: int = 4, **kw) -> subprocess.CompletedProcess:
  proc = subprocess.run(train_cmd(workdir, *overrides), env=env_with_devices(devices), cwd=ROOT,
                        capture_output=True, text=True, timeout=600, **kw)
  if proc.returncode:
    raise AssertionError(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
  return proc


def saved_params(workdir: str, step=None):
  from common import checkpoint
  state, _ = checkpoint.load_state(workdir, step)
  return jax.tree.map(np.asarray, state["params"])


def assert_trees_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(x, y)
