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


def train_cmd(
  workdir: str, *overrides: str, config: str = "configs/common/toy.py:smoke"
) -> list[str]:
  return [
    sys.executable,
    "-m",
    "common.main",
    f"--config={os.path.join(ROOT, config)}",
    f"--workdir={workdir}",
    *overrides,
  ]


def run_train(workdir: str, *overrides: str, devices: int = 4, **kw) -> subprocess.CompletedProcess:
  proc = subprocess.run(
    train_cmd(workdir, *overrides),
    env=env_with_devices(devices),
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
    **kw,
  )
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


def run_cli(
  module: str,
  *args: str,
  devices: int = 4,
  cwd: str | None = None,
  timeout: int = 600,
  env: dict | None = None,
) -> subprocess.CompletedProcess:
  """``python -m module args...`` as a user runs it (a fresh process: absl flags are per process)."""
  e = env_with_devices(devices)
  e.setdefault("MPLBACKEND", "Agg")
  e.update(env or {})
  return subprocess.run(
    [sys.executable, "-m", module, *args],
    env=e,
    cwd=cwd or ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
  """Asserts a failed run printed exactly one ``error:`` line (containing ``fragments``) and no traceback."""
  assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith("error: ")]
  assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  for f in fragments:
    assert f in errors[0], (f, errors[0])
  return errors[0]
