"""A workdir belongs to one run: config changes refused, shapes never called corruption, one process at a
time, nothing due at a step lost to a kill, no duplicate metric rows; and the step's own guarantees
(rng changes with the step, one compile per shape, health metrics)."""

import json
import os

import chex
import jax
import numpy as np
import pytest

from common import config as config_lib
from common import logging as log_lib
from common import runs as runs_lib
from common import toy, trainer
from common import workdir as wd_lib
from common.errors import UserError
from tests.common.helpers import ROOT, one_line_error, run_cli

TOY = os.path.join(ROOT, "configs/common/toy.py")


def _cfg(**over):
  base = {"total_steps": 10, "ckpt_every": 5, "log_every": 5, "eval_every": 0, "figure_every": 0}
  return config_lib.load_config(TOY + ":smoke", {**base, **over})


def _steps(wd):
  return sorted(int(s) for s in os.listdir(os.path.join(wd, "checkpoints")) if s.isdigit())


def test_changed_config_is_refused_and_the_run_kept(tmp_path):
  wd = str(tmp_path)
  trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  before = _steps(wd)
  for over, key in (
    ({"model.width": 32}, "model.width"),
    ({"optim.name": "sgd"}, "optim.name"),
    ({"batch_size": 16}, "batch_size"),
  ):
    cfg = _cfg(total_steps=20, **over)
    with pytest.raises(UserError, match=rf"another config \(.*{key}.*--allow_config_change="):
      trainer.train(cfg, toy.make_task(cfg), wd, verbose=False)
    assert _steps(wd) == before and not [
      d for d in os.listdir(os.path.join(wd, "checkpoints")) if "corrupt" in d
    ]
    assert json.load(open(os.path.join(wd, "config.json")))["total_steps"] == 10  # not rewritten
  # an allowed change resumes
  state = trainer.train(
    _cfg(total_steps=15),
    toy.make_task(_cfg()),
    wd,
    verbose=False,
    allow_config_change=("total_steps",),
  )
  assert int(state.step) == 15
  assert json.load(open(os.path.join(wd, "config.json")))["total_steps"] == 15


def test_shape_mismatch_is_not_corruption(tmp_path):
  wd = str(tmp_path)
  trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  cfg = _cfg(total_steps=20, **{"model.width": 32})
  with pytest.raises(UserError, match="holds another model .*saved .*64.*now .*32"):
    trainer.train(
      cfg, toy.make_task(cfg), wd, verbose=False, allow_config_change=("model.width", "total_steps")
    )
  assert _steps(wd) == [5, 10] and not [
    d for d in os.listdir(os.path.join(wd, "checkpoints")) if "corrupt" in d
  ]


def test_live_lock_refuses_and_stale_lock_is_taken_over(tmp_path, capsys):
  wd = str(tmp_path)
  held = wd_lib.Lock(wd)
  with pytest.raises(UserError, match=f"in use by process {os.getpid()}"):
    trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  held.release()
  with open(os.path.join(wd, ".lock"), "w") as f:
    f.write("999999999 some-host\n")  # a run that was killed: its flock went with it
  trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  assert "stale lock of process 999999999" in capsys.readouterr().err


class _Killed(BaseException):
  """Stands in for SIGKILL: nothing after it runs, not even ``except Exception``."""


def test_nothing_due_at_a_step_is_lost_to_a_kill(tmp_path):
  """eval and save both due at step 10; the run dies during that evaluation. The re-run redoes it."""
  wd = str(tmp_path)
  cfg = _cfg(total_steps=15, eval_every=5)
  task = toy.make_task(cfg)
  evaluate = task.evaluate

  def dying_eval(state, step):
    if step == 10:
      raise _Killed()
    return evaluate(state, step)

  task.evaluate = dying_eval
  with pytest.raises(_Killed):
    trainer.train(cfg, task, wd, verbose=False)
  assert _steps(wd) == [5]  # the step-10 checkpoint is written only after everything due at step 10
  trainer.train(cfg, toy.make_task(cfg), wd, verbose=False)
  rows = log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  assert [r["step"] for r in rows if "eval/mse" in r] == [5, 10, 15]
  assert [r["step"] for r in rows if "loss" in r] == [5, 10, 15]  # each once


def test_restart_without_checkpoint_writes_each_row_once(tmp_path):
  wd = str(tmp_path)
  trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  import shutil

  shutil.rmtree(os.path.join(wd, "checkpoints"))  # e.g. killed before the first save
  trainer.train(_cfg(), toy.make_task(_cfg()), wd, verbose=False)
  rows = log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  assert [r["step"] for r in rows if "loss" in r] == [5, 10]
  assert [r["step"] for r in rows if "eval/mse" in r] == [10]  # the final evaluation


def test_keep_ckpts_zero_and_bad_values_fail_before_any_work(tmp_path):
  for over, key in (
    ({"keep_ckpts": 0}, "keep_ckpts"),
    ({"optim.lr": -1.0}, "optim.lr"),
    ({"total_steps": 0}, "total_steps"),
  ):
    cfg = _cfg(**over)
    with pytest.raises(config_lib.ConfigError, match=key):
      trainer.train(cfg, toy.make_task(cfg), str(tmp_path / key), verbose=False)
    assert not os.path.exists(tmp_path / key)  # nothing computed, nothing written


def _probe_task(cfg, traces):
  """The toy task whose loss reports a uniform draw from the step's key, and counts its traces."""
  task = toy.make_task(cfg)
  inner = task.loss

  @chex.assert_max_traces(n=1)
  def loss(params, extra, batch, key):
    traces.append(1)
    value, (metrics, extra) = inner(params, extra, batch, key)
    return value, (dict(metrics, rng_probe=jax.random.uniform(key)), extra)

  task.loss = loss
  return task


def test_step_rng_is_fold_in_of_the_step_and_the_step_compiles_once(tmp_path):
  chex.clear_trace_counter()
  traces = []
  cfg = _cfg(total_steps=6, log_every=1, ckpt_every=3, eval_every=2)
  trainer.train(cfg, _probe_task(cfg, traces), str(tmp_path), verbose=False)
  assert len(traces) == 1  # one shape, one compile, across logging, evaluation and checkpoints
  rows = [r for r in log_lib.read_jsonl(str(tmp_path / "metrics.jsonl")) if "rng_probe" in r]
  base = jax.random.PRNGKey(cfg.seed)
  # row k is the update from step k-1 to k: its key is fold_in(base, k - 1)
  want = [float(jax.random.uniform(jax.random.fold_in(base, r["step"] - 1))) for r in rows]
  np.testing.assert_allclose([r["rng_probe"] for r in rows], want, rtol=1e-6)
  assert len(set(r["rng_probe"] for r in rows)) == len(rows)
  for r in rows:  # health metrics next to grad_norm (the first update is 0: lr warms up from 0)
    assert r["param_norm"] > 0 and r["grad_norm"] > 0 and (r["update_norm"] > 0) == (r["step"] > 1)


def test_load_run_reads_config_state_and_step(tmp_path):
  trainer.train(_cfg(), toy.make_task(_cfg()), str(tmp_path), verbose=False)
  run = runs_lib.load_run(str(tmp_path))
  assert run.step == 10 and run.cfg.model.width == 64 and set(run.variables) == {"params"}
  assert run.task().evaluate is not None
  with pytest.raises(UserError, match="not a training workdir"):
    runs_lib.load_run(str(tmp_path / "checkpoints"))


def test_cli_refuses_a_changed_config_in_one_line(tmp_path):
  wd = str(tmp_path / "run")
  cfg = f"--config={TOY}:smoke"
  assert run_cli("common.main", cfg, f"--workdir={wd}").returncode == 0
  one_line_error(
    run_cli("common.main", cfg, f"--workdir={wd}", "--config.model.width=32"),
    "model.width: 64 -> 32",
    "--allow_config_change=model.width",
  )
  assert _steps(wd) == [10, 20]
  one_line_error(run_cli("common.main", f"--config={TOY}:smok", f"--workdir={wd}"), "smok", "smoke")
  one_line_error(
    run_cli("common.main", cfg, f"--workdir={wd}", "--total_steps=5"), "unknown flag --total_steps"
  )
  one_line_error(
    run_cli("common.main", cfg, f"--workdir={wd}", "--cofig.total_steps=5"), "unknown flag"
  )
  one_line_error(
    run_cli("common.main", cfg, f"--workdir={wd}", "--config.total_stepz=5"), "total_stepz"
  )
  one_line_error(
    run_cli(
      "common.main",
      cfg,
      f"--workdir={wd}",
      "--config.optim.lr=-1",
      "--allow_config_change=optim.lr",
    ),
    "optim.lr",
  )


def test_second_process_on_a_busy_workdir_is_refused(tmp_path):
  import subprocess
  import sys
  import time

  from tests.common.helpers import env_with_devices

  wd = str(tmp_path / "run")
  cmd = [
    sys.executable,
    "-m",
    "common.main",
    f"--config={TOY}",
    f"--workdir={wd}",
    "--config.total_steps=100000",
    "--config.log_every=1000",
  ]
  first = subprocess.Popen(
    cmd, env=env_with_devices(4), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
  )
  try:
    deadline = time.time() + 120
    while time.time() < deadline and not (
      os.path.exists(os.path.join(wd, ".lock")) and os.path.getsize(os.path.join(wd, ".lock")) > 0
    ):
      time.sleep(0.1)
    one_line_error(
      run_cli(
        "common.main",
        f"--config={TOY}",
        f"--workdir={wd}",
        "--config.total_steps=100000",
        "--config.log_every=1000",
      ),
      f"in use by process {first.pid}",
    )
  finally:
    first.kill()
    first.wait()


def test_full_disk_is_one_line_and_the_rerun_finishes(tmp_path):
  """A real full disk: a 600 KB tmpfs (needs mount rights, as root in CI; skipped with the reason
  otherwise). The write of the first checkpoint fails; after the disk grows, the same command finishes."""
  import subprocess

  mnt = tmp_path / "small"
  mnt.mkdir()
  r = subprocess.run(
    ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True, text=True
  )
  if r.returncode:
    pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()[:80]})")
  try:
    args = (f"--config={TOY}:smoke", f"--workdir={mnt / 'run'}", "--config.model.width=512")
    one_line_error(run_cli("common.main", *args), "disk full")
    subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
    proc = run_cli("common.main", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _steps(str(mnt / "run"))[-1] == 20
  finally:
    subprocess.run(["umount", str(mnt)], capture_output=True)
