"""X-BDCNN train-step and inference throughput: medjax (JAX, jitted) vs the same network in PyTorch
(CPU), in the same run. Both train on one clean batch of 8 48x48 patches (the embedded config) with
new Poisson-Gaussian noise and its level maps drawn for every step (per image eta ~ U(0.4, 1.9),
sigma ~ U(0, 20), the "peak" convention), Adam, and the loss without its SSIM term (MSE + asymmetric +
TV on both sides). medjax draws the noise as its input pipeline does (``noise.noisy_example``, NumPy),
here in the timed loop before each step, not overlapped with it; PyTorch draws it inside its step.

  python bench/xbdcnn.py [--steps=30]

Then a breakdown of the JAX step (where the time goes): the host noise synthesis, the forward pass,
forward + backward, and the whole step with Adam; each with and without oneDNN convolutions
(runtime.conv_compiler_options; the trainer uses them for this task).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("steps", 30, "timed steps", lower_bound=1)
flags.DEFINE_bool("profile", True, "print the breakdown of the JAX step")


def _time(f, *args, n=20):
  import time

  jax.block_until_ready(f(*args))
  t0 = time.perf_counter()
  for _ in range(n):
    out = f(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / n


def noisy_batches(cfg, clean):
  """A function giving a new noisy batch of the clean patches at each call, as the input pipeline."""
  from xbdcnn import noise

  rng = np.random.default_rng(0)

  def make():
    ex = [noise.noisy_example(rng, g, cfg.noise) for g in clean]
    return {
      "image": clean,
      "noisy": np.stack([e["noisy"] for e in ex]),
      "levels": np.stack([e["levels"] for e in ex]),
    }

  return make


def breakdown(cfg, steps):
  """Seconds per call of the step's parts, as markdown rows."""
  import time

  from common import nn as nn_util
  from common import optim, runtime, trainer
  from xbdcnn import losses, task
  from xbdcnn.models import make_model

  t = task.make_task(cfg)
  model = make_model(cfg.model)
  clean = np.random.default_rng(0).random((8, 48, 48, 1)).astype(np.float32)
  make = noisy_batches(cfg, clean)
  batch = make()
  key = jax.random.PRNGKey(0)
  g, f, levels = (jnp.asarray(batch[k]) for k in ("image", "noisy", "levels"))
  params, extra = nn_util.split_variables(model.init(key, g))

  def loss(params, f):
    (g_hat, aux), _ = nn_util.apply_train(model, params, extra, f)
    return losses.total_loss(g_hat, g, aux["levels"], levels, cfg.loss)[0]

  tx, sched = optim.make_optimizer(cfg.optim, 1000)
  t0 = time.perf_counter()
  for _ in range(20):
    make()
  rows = [
    f"| NumPy (host) | noise synthesis (Poisson + Gaussian, 8 patches) | "
    f"{1000 * (time.perf_counter() - t0) / 20:.1f} |"
  ]
  for label, opts in (("XLA", {}), ("oneDNN", runtime.conv_compiler_options())):
    jit = lambda fn: jax.jit(fn, compiler_options=opts)
    step = jax.jit(
      trainer.make_train_step(t, tx, sched, 0), donate_argnums=(0,), compiler_options=opts
    )
    parts = {
      "forward": _time(jit(lambda p, f: model.apply({"params": p, **extra}, f)[0]), params, f),
      "forward + backward": _time(jit(jax.grad(loss)), params, f),
      "whole train step (host noise, forward, backward, Adam)": 1.0
      / _common.steps_per_sec(step, _common.init_state(t, tx, batch), batch, steps, make),
    }
    rows += [f"| {label} | {k} | {1000 * v:.1f} |" for k, v in parts.items()]
  return rows


def main(argv):
  del argv
  from common import config as config_lib
  from common import optim, trainer
  from xbdcnn import task

  steps = flags.FLAGS.steps
  cfg = config_lib.load_config(
    os.path.join(_common.ROOT, "configs/xbdcnn/bundled.py"), {"loss.ssim": 0.0}
  )
  t = task.make_task(cfg)
  make = noisy_batches(cfg, np.random.default_rng(0).random((8, 48, 48, 1)).astype(np.float32))
  batch = make()
  tx, sched = optim.make_optimizer(cfg.optim, 1000)
  step = jax.jit(  # as the trainer compiles it
    trainer.make_train_step(t, tx, sched, 0),
    donate_argnums=(0,),
    compiler_options=t.compiler_options,
  )
  jax_sps = _common.steps_per_sec(step, _common.init_state(t, tx, batch), batch, steps, make)
  from xbdcnn.models import make_model

  m = make_model(cfg.model)
  v = m.init(jax.random.PRNGKey(0), jnp.zeros((1, 512, 512, 1)))
  f = jax.jit(lambda x: m.apply(v, x)[0])
  x = jnp.asarray(np.random.default_rng(1).random((1, 512, 512, 1)), jnp.float32)
  f(x).block_until_ready()
  import time

  t0 = time.perf_counter()
  for _ in range(5):
    f(x).block_until_ready()
  jax_inf = 5 / (time.perf_counter() - t0)
  ref = _common.torch_reference("xbdcnn", "--batch=8", "--size=48", f"--steps={steps}")
  print("| X-BDCNN (embedded widths 16-32-64) | JAX | PyTorch | ratio JAX/PyTorch |")
  print("|---|---|---|---|")
  if ref:
    print(
      f"| train steps/s (batch 8, 48x48, new noise every step on both sides) | {jax_sps:.1f} | {ref['train_steps_per_sec']:.1f} | "
      f"{jax_sps / ref['train_steps_per_sec']:.2f} |"
    )
    print(
      f"| inference 512x512 images/s | {jax_inf:.1f} | {ref['infer_512_per_sec']:.1f} | "
      f"{jax_inf / ref['infer_512_per_sec']:.2f} |"
    )
    print(f"(torch {ref['torch']}, jax {jax.__version__}, {jax.default_backend()})")
  else:
    print(
      f"| train steps/s | {jax_sps:.1f} | - | - |\n| inference 512x512 images/s | {jax_inf:.1f} | - | - |"
    )
  if flags.FLAGS.profile:
    print("\n| compiler | part of the JAX train step (batch 8, 48x48) | ms |\n|---|---|---|")
    print("\n".join(breakdown(cfg, steps)))
    if ref:
      print(
        f"(PyTorch whole step, noise synthesis included: {1000 / ref['train_steps_per_sec']:.1f} ms)"
      )


if __name__ == "__main__":
  from common import cli

  cli.run(main)
