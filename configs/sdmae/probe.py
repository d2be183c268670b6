"""Linear probe on a pre-trained encoder (BatchNorm without affine + Linear; SGD momentum 0.9, lr 0.1 x
batch/256, no weight decay, 90 epochs, as the SD-MAE code's run_mae_eval_linear.py).

  python -m sdmae.main --config=configs/sdmae/probe.py:embedded --config.init.workdir=runs/sdmae_emb \
      --workdir=runs/sdmae_emb_probe
"""

import ml_collections

from configs.sdmae import pretrain as _pre


def get_config(arg=None):
  a = _pre.parse(arg)
  c = _pre.base(a, "probe")
  ds = a.dataset
  small = _pre.is_small(a)
  n_train = _pre.DATASETS[ds][3]
  c.batch_size = 64 if small else 512
  if not a.smoke:
    c.total_steps = 300 if small else 90 * n_train // c.batch_size
  c.optim = ml_collections.ConfigDict(
    dict(
      name="sgd",
      lr=0.1 * c.batch_size / 256,
      momentum=0.9,
      nesterov=False,
      schedule="cosine",
      min_lr=0.0,
      warmup_steps=c.total_steps // 10,
      weight_decay=0.0,
      wd_mask="all",
      clip_norm=0.0,
    )
  )
  c.log_every, c.eval_every = max(c.total_steps // 20, 1), max(c.total_steps // 3, 1)
  c.ckpt_every, c.figure_every = c.total_steps, 0
  return c
