"""SD-MAE pre-training throughput: ViT-S/16 at 224x224, batch 8, mask ratio 0.6, MAE and SD-MAE
(heads 2048-256-4096) train steps of medjax (jitted, AdamW) against the PyTorch MAE step and the
PyTorch SD-MAE step written as the official code writes it (bench/torch_reference.py: its decoder
order, DINO heads with weight norm, loss and centre), in the same run. Also each step's FLOPs per
image (XLA's cost analysis) and achieved FLOP/s as a fraction of the float32 matmul peak measured here
(a jitted 2048^3 matmul). Then where the SD-MAE step's time goes, from a jax.profiler trace of its
XLA ops (``_common.op_times``): encoder, decoder, each head forward and backward, the losses, the
optimizer.

  python bench/sdmae.py [--steps=5] [--trace=true]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("steps", 5, "timed steps", lower_bound=1)
flags.DEFINE_bool("trace", True, "print where the SD-MAE step's time goes")

_MODULES = {
  "encoder": "encoder",
  "decoder": "decoder",
  "student_head": "student head",
  "teacher_head": "teacher head",
}


def part(op_name: str) -> str:
  """The part of the step an XLA op belongs to, from its ``op_name`` (the named scopes of
  ``sdmae.task`` and ``common.trainer``, flax's module names, and ``transpose(jvp(...))`` for the
  backward pass)."""
  direction = "backward" if "transpose(" in op_name else "forward"
  m = re.search(r"jvp\(MAE\)\)?/(\w+)", op_name)
  if m:
    return f"{_MODULES.get(m.group(1), 'model, outside the modules')} {direction}"
  for scope in ("masking", "losses"):
    if scope in op_name:
      return scope if scope == "masking" else f"{scope} {direction}"
  if "optimizer" in op_name:
    return "optimizer (AdamW)"
  if "norms" in op_name:
    return "gradient, parameter and update norms (logged)"
  return "other (parameter copies, layouts)"


def breakdown(step, state, batch, steps: int) -> list[str]:
  import collections

  times, wall = _common.op_times(step, state, batch, steps)
  parts = collections.Counter()
  for name, t in times.items():
    parts[part(name)] += t
  busy = sum(parts.values())
  rows = [f"| {k} | {1000 * v:.0f} | {v / busy:.1%} |" for k, v in parts.most_common()]
  return rows + [
    f"| all ops (busy time; wall time {1000 * wall:.0f} ms) | {1000 * busy:.0f} | 100% |"
  ]


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
  rows, traced = {}, []
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
    if method == "sdmae" and flags.FLAGS.trace:
      traced = breakdown(step, _common.init_state(t, tx, batch), batch, 3)
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
  if traced:
    print("\n| part of the SD-MAE step (batch 8) | ms per step | share of the ops' time |")
    print("|---|---|---|")
    print("\n".join(traced))


if __name__ == "__main__":
  from common import cli

  cli.run(main)
