"""2 processes x 2 simulated devices via jax.distributed on 127.0.0.1 == 1 process x 4 devices."""

import os
import subprocess

import jax
import numpy as np
import portpicker
import pytest

from tests.common.helpers import ROOT, env_with_devices, run_train, saved_params, train_cmd


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
  overrides = ("--config.total_steps=12", "--config.ckpt_every=6", "--config.eval_every=0", "--config.batch_size=16")
  single = str(tmp_path / "single")
  run_train(single, *overrides, devices=4)
  want = saved_params(single)

  multi = str(tmp_path / "multi")
  port = portpicker.pick_unused_port()
  procs = []
  for pid in range(2):
    env = env_with_devices(2)
    env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid))
    procs.append(subprocess.Popen(train_cmd(multi, *overrides), env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outs = [p.communicate(timeout=600)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  got = saved_params(multi)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
