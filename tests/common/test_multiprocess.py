"""2 processes x 2 simulated devices via jax.distributed on 127.0.0.1 == 1 process x 4 devices."""

import os
import subprocess

import jax
import numpy as np
import portpicker
import pytest

from tests.common.helpers import ROOT, env_with_devices, run_train, saved_params, train_cmd


@pytest.mark.slow
@pytest.mark.parametrize("fsdp", [1, 2])
def test_two_processes_match_one_process(tmp_path, fsdp):
  """fsdp=2: the mesh is data=2 x fsdp=2 over both processes, parameters and optimizer state split
  across them; the sharded checkpoint is saved by both and read back on one device."""
  overrides = (
    "--config.total_steps=12",
    "--config.ckpt_every=6",
    "--config.eval_every=0",
    "--config.batch_size=16",
    f"--config.sharding.mesh.fsdp={fsdp}",
    "--config.sharding.min_size=0",
  )
  single = str(tmp_path / "single")
  run_train(single, *overrides, devices=4)
  want = saved_params(single)

  multi = str(tmp_path / "multi")
  port = portpicker.pick_unused_port()
  procs = []
  for pid in range(2):
    env = env_with_devices(2)
    env.update(
      JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid)
    )
    procs.append(
      subprocess.Popen(
        train_cmd(multi, *overrides),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
      )
    )
  outs = [p.communicate(timeout=600)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  got = saved_params(multi)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  if fsdp > 1:  # the 2-process sharded checkpoint resumed by one process on a data=4 mesh
    more = [o for o in overrides if "total_steps" not in o and "sharding.mesh" not in o]
    out = run_train(
      multi,
      *more,
      "--config.total_steps=18",
      "--config.sharding.mesh.fsdp=1",
      "--allow_config_change=total_steps,sharding.mesh.fsdp",
      devices=4,
    ).stdout
    assert "resumed from" in out and "data=4 x fsdp=1" in out
    assert (
      sorted(int(d) for d in os.listdir(os.path.join(multi, "checkpoints")) if d.isdigit())[-1]
      == 18
    )
