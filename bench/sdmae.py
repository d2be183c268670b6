"""SD-MAE pre-training throughput: ViT-S/16 at 224x224, batch 8, mask ratio 0.6, MAE and SD-MAE
(heads 2048-256-4096) train steps of medjax (jitted, AdamW) against the PyTorch MAE step and the
PyTorch SD-MAE step written as the official code writes it (bench/torch_reference.py: its decoder
order, DINO heads with weight norm, loss and centre), in the same run. Also each step's FLOPs per
image (XLA's cost analysis) and achieved FLOP/s as a fraction of the float32 matmul peak measured here
(a jitted 2048^3 matmul).

  python bench/sdmae.py [--steps=5]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("steps", 5, "timed steps", lower_bound=1)


def main(argv):
  del argv
  from common import config as config_lib
  from common import optim, trainer
  from sdmae import task as task_lib

  steps, batch_size = flags.FLAGS.steps, 8
  batch = {
    "image": np.random.default_rng(0).random((batch_size, 224, 224, 3)).astype(np.float32),
    "label": np.zeros(batch_size, np.int32),
  }
  rows = {}
  for method in ("mae", "sdmae"):
    cfg = config_lib.load_config(
      os.path.join(_common.ROOT, f"configs/sdmae/pretrain.py:nct,{method}")
    )
    t = task_lib._pretrain(cfg, [batch], [batch])
    tx, sched = optim.make_optimizer(cfg.optim, 1000)
    step = jax.jit(trainer.make_train_step(t, tx, sched, 0), donate_argnums=(0,))
    state = _common.init_state(t, tx, batch)
    cost = step.lower(state, batch).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", float("nan"))) / batch_size
    sps = _common.steps_per_sec(step, state, batch, steps)
    rows[method] = (sps * batch_size, flops)
  from common import scaling

  peak = scaling.host_matmul_flops()
  refs = {
    m: _common.torch_reference(m, f"--batch={batch_size}", f"--steps={steps}")
    for m in ("mae", "sdmae")
  }
  torch_ips = {m: r["train_steps_per_sec"] * batch_size for m, r in refs.items() if r}
  print(f"float32 matmul peak here (jitted 2048^3, best of 5): {peak / 1e9:.1f} GFLOP/s")
  print(
    "| ViT-S/16 pre-training step, batch 8, 224x224, mask 0.6 | images/s | GFLOP/image (train step) "
    "| GFLOP/s | fraction of matmul peak | PyTorch images/s (same method) | ratio JAX/PyTorch |"
  )
  print("|---|---|---|---|---|---|---|")
  for method, (ips, flops) in rows.items():
    t = torch_ips.get(method)
    ratio = f"{ips / t:.2f}" if t else "-"
    print(
      f"| medjax {method.upper()} | {ips:.2f} | {flops / 1e9:.1f} | {ips * flops / 1e9:.1f} | "
      f"{ips * flops / peak:.2f} | {f'{t:.2f}' if t else '-'} | {ratio} |"
    )
  if refs.get("mae"):
    print(
      f"(torch {refs['mae']['torch']}, jax {jax.__version__}, {jax.default_backend()}; the PyTorch SD-MAE step "
      "is the official code's structure, bench/torch_reference.py:bench_mae(distill=True))"
    )


if __name__ == "__main__":
  from common import cli

  cli.run(main)
