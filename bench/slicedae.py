"""Sliced autoencoder train-step throughput: medjax (JAX, jitted) vs the same step in PyTorch (CPU),
same run. MNIST-sized MLP 784-200-200-200-8, batch 128, SWAE cost with 50 projections, Adam.

  python bench/slicedae.py [--steps=200]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("steps", 200, "timed steps", lower_bound=1)


def main(argv):
  del argv
  from common import config as config_lib
  from common import optim, trainer
  from slicedae import losses, models

  steps = flags.FLAGS.steps
  m = models.MLPAE((28, 28, 1), 8)

  def init(key, batch):
    return m.init(key, batch["image"])["params"], {}

  def loss(params, extra, batch, key):
    x_hat, aux = m.apply({"params": params}, batch["image"])
    rec = losses.reconstruction_error(batch["image"], x_hat)
    d = losses.normality_index(aux["z"], key, "swae", 50)
    return losses.cost(rec, d), ({"rec": rec}, extra)

  t = trainer.Task(init=init, loss=loss, train_data=None)
  o = config_lib.load_config(
    os.path.join(_common.ROOT, "configs/slicedae/digits.py")
  ).optim  # adam 1e-3, constant
  tx, sched = optim.make_optimizer(o, 1000)
  batch = {"image": np.random.default_rng(0).random((128, 28, 28, 1)).astype(np.float32)}
  step = jax.jit(trainer.make_train_step(t, tx, sched, 0), donate_argnums=(0,))
  jax_sps = _common.steps_per_sec(step, _common.init_state(t, tx, batch), batch, steps)
  ref = _common.torch_reference("slicedae", "--batch=128", f"--steps={steps}")
  print("| SWAE step (MLP 784-200-200-200-8, batch 128) | JAX | PyTorch | ratio JAX/PyTorch |")
  print("|---|---|---|---|")
  if ref:
    print(
      f"| train steps/s | {jax_sps:.1f} | {ref['train_steps_per_sec']:.1f} | {jax_sps / ref['train_steps_per_sec']:.2f} |"
    )
    print(f"(torch {ref['torch']}, jax {jax.__version__}, {jax.default_backend()})")
  else:
    print(f"| train steps/s | {jax_sps:.1f} | - | - |")


if __name__ == "__main__":
  from common import cli

  cli.run(main)
