"""The shared trainer on 4 simulated devices: it trains, logs, checkpoints, resumes, and stops on NaN."""

import glob
import os
import signal
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import checkpoint, data, toy, trainer
from common import config as config_lib
from common import logging as log_lib
from common.errors import UserError
from tests.common.helpers import (
  ROOT,
  assert_trees_equal,
  env_with_devices,
  run_train,
  saved_params,
  train_cmd,
)

TOY = os.path.join(ROOT, "configs/common/toy.py")


def test_four_devices():
  assert jax.device_count() == 4


def test_toy_trains_sharded_and_logs(tmp_path):
  cfg = config_lib.load_config(
    TOY,
    [
      "total_steps=120",
      "log_every=20",
      "ckpt_every=40",
      "keep_ckpts=2",
      "eval_every=40",
      "figure_every=120",
    ],
  )
  state = trainer.train(cfg, toy.make_task(cfg), str(tmp_path), verbose=False)
  assert int(state.step) == 120
  assert state.params["head"]["kernel"].sharding.is_fully_replicated
  rows = log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))
  train_rows = [r for r in rows if "loss" in r]
  assert [r["step"] for r in train_rows] == [20, 40, 60, 80, 100, 120]
  evals = [r["eval/mse"] for r in rows if "eval/mse" in r]
  ys = np.stack([toy._example(np.random.default_rng([999, i]))["y"] for i in range(256)])
  baseline = float(np.var(ys))  # the MSE of predicting the mean
  assert len(evals) == 3 and evals[0] > evals[1] > evals[2] and evals[-1] < 0.7 * baseline, (
    evals,
    baseline,
  )
  assert {"grad_norm", "lr", "perf/examples_per_sec"} <= set(train_rows[-1])
  assert glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*"))
  steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
  assert steps == [80, 120]  # keep_ckpts=2
  assert glob.glob(str(tmp_path / "figures" / "*.png"))
  meta = checkpoint.Checkpointer(str(tmp_path / "checkpoints")).metadata()
  assert meta["config"]["total_steps"] == 120


def test_golden_single_step():
  """One optimizer step of the toy task from seed 0 on a fixed batch.

  If this fails after an intentional change to the toy model, its init, the optimizer chain or the
  step's rng derivation, recompute the constants (print the values below) and update them in the
  same commit, saying why. Any other failure is a regression in the trainer.
  """
  cfg = config_lib.load_config(TOY, ["optim.warmup_steps=0"])
  task = toy.make_task(cfg)
  rng = np.random.default_rng(7)
  batch = {
    "x": rng.normal(size=(8, toy.DIM)).astype(np.float32),
    "y": rng.normal(size=(8, 1)).astype(np.float32),
  }
  from common import optim

  tx, sched = optim.make_optimizer(cfg.optim, 100)
  params, extra = task.init(jax.random.PRNGKey(0), batch)
  state = trainer.TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), extra)
  new, metrics = jax.jit(trainer.make_train_step(task, tx, sched, 0))(state, batch)
  total = float(sum(jnp.sum(x) for x in jax.tree.leaves(new.params)))
  np.testing.assert_allclose(float(metrics["loss"]), GOLDEN_LOSS, rtol=1e-5)
  np.testing.assert_allclose(total, GOLDEN_PARAM_SUM, rtol=1e-5)
  assert int(new.step) == 1


GOLDEN_LOSS = 1.3837921619415283  # captured 2026-11-23, jax 0.12.0.1, flax 0.12.12
GOLDEN_PARAM_SUM = -11.813868522644043


class _NaNAfter:
  """An in-memory source whose examples from index ``k`` on are NaN."""

  def __init__(self, n, k):
    self.n, self.k = n, k

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    x = np.full((toy.DIM,), np.nan if i >= self.k else 0.1 * (i % 7), np.float32)
    return {"x": x, "y": np.zeros((1,), np.float32)}


def test_nonfinite_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
  cfg = config_lib.load_config(
    TOY + ":smoke",
    ["total_steps=20", "ckpt_every=5", "log_every=100", "eval_every=0", "batch_size=8"],
  )
  task = toy.make_task(cfg)
  task.train_data = lambda c: data.train_pipeline(
    _NaNAfter(400, 7 * 8), global_batch=8, seed=0, shuffle=False
  )
  task.evaluate = None
  # the 8th batch is NaN: step 8 counted from 1, as checkpoint numbers are
  with pytest.raises(FloatingPointError, match=r"non-finite .* at step 8 .*checkpoints/5$"):
    trainer.train(cfg, task, str(tmp_path), verbose=False)
  steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
  assert steps == [5]
  params = saved_params(str(tmp_path))
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))


def test_bad_batch_size_message(tmp_path):
  cfg = config_lib.load_config(TOY + ":smoke", ["batch_size=6"])
  with pytest.raises(UserError, match="not divisible by the 4 devices"):
    trainer.train(cfg, toy.make_task(cfg), str(tmp_path), verbose=False)


def _latest_step(wd):
  d = os.path.join(wd, "checkpoints")
  steps = [int(s) for s in os.listdir(d) if s.isdigit()] if os.path.isdir(d) else []
  return max(steps, default=-1)


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_is_bit_identical(tmp_path):
  """SIGKILL before the first save, right after saves (while async writes may be in flight), and
  mid-interval; the re-run of the same command must end on the uninterrupted run's parameters."""
  overrides = (
    "--config.total_steps=60",
    "--config.ckpt_every=4",
    "--config.log_every=4",
    "--config.eval_every=0",
  )
  ref = str(tmp_path / "ref")
  run_train(ref, *overrides)
  want = saved_params(ref)
  rng = np.random.default_rng(0)
  wd = str(tmp_path / "killed")
  for wait_for_step in (-1, 8, 24, 40):
    p = subprocess.Popen(
      train_cmd(wd, *overrides),
      env=env_with_devices(4),
      cwd=ROOT,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while (
      time.time() < deadline
      and p.poll() is None
      and (_latest_step(wd) < wait_for_step or not os.path.isdir(os.path.join(wd, "checkpoints")))
    ):
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    p.send_signal(signal.SIGKILL)
    p.wait()
  assert _latest_step(wd) < 60, "the killed runs finished; the test did not interrupt anything"
  out = run_train(wd, *overrides).stdout
  assert "resumed from" in out
  assert_trees_equal(saved_params(wd), want)


def test_corrupt_latest_checkpoint_falls_back(tmp_path, capsys):
  cfg = config_lib.load_config(TOY + ":smoke", ["total_steps=10", "ckpt_every=5", "eval_every=0"])
  ref = tmp_path / "ref"
  trainer.train(cfg, toy.make_task(cfg), str(ref), verbose=False)
  want = saved_params(str(ref))
  wd = tmp_path / "run"
  trainer.train(cfg, toy.make_task(cfg), str(wd), verbose=False)
  # corrupt every file of the latest state checkpoint
  for f in glob.glob(str(wd / "checkpoints" / "10" / "state" / "**" / "*"), recursive=True):
    if os.path.isfile(f):
      with open(f, "r+b") as fh:
        fh.write(b"\x00garbage" * 8)
  state = trainer.train(cfg, toy.make_task(cfg), str(wd), verbose=False)
  assert "unreadable" in capsys.readouterr().out
  assert os.path.isdir(wd / "checkpoints" / "10.corrupt")
  assert int(state.step) == 10
  assert_trees_equal(saved_params(str(wd)), want)
