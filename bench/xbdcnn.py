"""X-BDCNN train-step and inference throughput: medjax (JAX, jitted) vs the same network in PyTorch
(CPU), in the same run. Both use batch 8 of 48x48 patches (the embedded config), Adam, and the loss
without its SSIM term (MSE + asymmetric + TV on both sides).

  python bench/xbdcnn.py [--steps=30]
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


def main(argv):
  del argv
  from common import config as config_lib, optim, trainer
  from xbdcnn import task
  steps = flags.FLAGS.steps
  cfg = config_lib.load_config(os.path.join(_common.ROOT, "configs/xbdcnn/bundled.py"), {"loss.ssim": 0.0})
  t = task.make_task(cfg)
  batch = {"image": np.random.default_rng(0).random((8, 48, 48, 1)).astype(np.float32)}
  tx, sched = optim.make_optimizer(cfg.optim, 1000)
  step = jax.jit(trainer.make_train_step(t, tx, sched, 0), donate_argnums=(0,))
  jax_sps = _common.steps_per_sec(step, _common.init_state(t, tx, batch), batch, steps)
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
    print(f"| train steps/s (batch 8, 48x48) | {jax_sps:.1f} | {ref['train_steps_per_sec']:.1f} | "
          f"{jax_sps / ref['train_steps_per_sec']:.2f} |")
    print(f"| inference 512x512 images/s | {jax_inf:.1f} | {ref['infer_512_per_sec']:.1f} | "
          f"{jax_inf / ref['infer_512_per_sec']:.2f} |")
    print(f"(torch {ref['torch']}, jax {jax.__version__}, {jax.default_backend()})")
  else:
    print(f"| train steps/s | {jax_sps:.1f} | - | - |\n| inference 512x512 images/s | {jax_inf:.1f} | - | - |")


if __name__ == "__main__":
  from common import cli
  cli.run(main)
