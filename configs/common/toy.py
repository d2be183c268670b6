"""Toy regression through the shared trainer (the runtime's reference task).

Run: python -m common.main --config=configs/common/toy.py --workdir=/tmp/toy
Smoke variant (seconds): --config=configs/common/toy.py:smoke
"""

import ml_collections

from common.config import distributed, parse_arg, sharding


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = ml_collections.ConfigDict()
  c.task = "common.toy:make_task"
  c.seed = 0
  c.total_steps = 300
  c.batch_size = 64  # global, over all devices and processes
  c.log_every = 50
  c.ckpt_every = 100
  c.keep_ckpts = 3
  c.eval_every = 100
  c.figure_every = 300
  c.model = ml_collections.ConfigDict(dict(width=64, depth=2, dropout=0.1))
  c.data = ml_collections.ConfigDict(
    dict(num_examples=4096, grain_threads=0, grain_prefetch=0)
  )  # host threads / batches ahead; 0: the platform default (runtime)
  c.optim = ml_collections.ConfigDict(
    dict(
      name="adamw",
      lr=3e-3,
      schedule="cosine",
      warmup_steps=20,
      min_lr=0.0,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      weight_decay=1e-4,
      wd_mask="no_1d",
      clip_norm=1.0,
    )
  )
  c.distributed = distributed()
  c.sharding = sharding()
  if a.smoke:
    c.total_steps = 20
    c.log_every = 5
    c.ckpt_every = 10
    c.eval_every = 10
    c.figure_every = 0
  return c
