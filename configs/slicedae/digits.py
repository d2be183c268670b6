"""Sliced generative autoencoders on scikit-learn's 8x8 digits (the embedded default).

Run one model (swae | scfwae | scwae | scvmae | sksae | cwae | ae):
  python -m slicedae.main --config=configs/slicedae/digits.py:scwae --workdir=/tmp/sae/scwae
Smoke variant: --config=configs/slicedae/digits.py:scwae,smoke
"""

import ml_collections

from common.config import distributed, parse_arg, sharding

# the first is the default
MODELS = ("scwae", "swae", "scfwae", "scvmae", "sksae", "cwae", "ae")


def base_config(a, *, data, model, total_steps, batch_size, lr):
  """``a``: the parsed arg (fields ``model`` and ``smoke``, see :func:`get_config`)."""
  name = a.model
  c = ml_collections.ConfigDict()
  c.task = "slicedae.task:make_task"
  c.seed = 0
  c.total_steps = total_steps
  c.batch_size = batch_size
  c.eval_batch_size = 256
  c.log_every = max(total_steps // 20, 1)
  c.ckpt_every = max(total_steps // 4, 1)
  c.keep_ckpts = 2
  c.eval_every = max(total_steps // 10, 1)
  c.figure_every = total_steps
  # grain_*: host threads / batches ahead; 0: the platform default (common.runtime.grain_read_options)
  c.data = ml_collections.ConfigDict(dict(data, grain_threads=0, grain_prefetch=0))
  c.model = ml_collections.ConfigDict(dict(model, name=name))
  c.loss = ml_collections.ConfigDict(dict(
      cost="log",             # eq. (2); "linear" is eq. (1) with lam
      lam=1.0,
      log_eps=0.0,            # the PyTorch CWAE code adds 1e-7 inside the log; the paper does not
      num_projections=50,     # k fresh directions per step (SWAE reference: 50)
      rec_reduction="sum",    # per-image sum of squared errors, batch mean (CWAE reference code)
  ))
  c.optim = ml_collections.ConfigDict(dict(name="adam", lr=lr, schedule="constant", warmup_steps=0,
                                           b1=0.9, b2=0.999, eps=1e-8, clip_norm=0.0))
  c.distributed = distributed()
  c.sharding = sharding()
  c.fid = ml_collections.ConfigDict(dict(
      weights="",             # .npz from tools/fid_weights_to_npz.py; empty: FID not computed
      ref_stats="",           # pytorch-fid stats .npz (mu, sigma); empty: the first num_samples train images
      num_samples=10000,      # CWAE PyTorch protocol: 10,000 prior samples, batch 100
      batch_size=100,
      every=0,                # 0: at the final evaluation only
      seed=0,
  ))
  if a.smoke:
    c.total_steps, c.log_every, c.ckpt_every, c.eval_every, c.figure_every = 10, 5, 10, 10, 0
  return c


def get_config(arg=None):
  return base_config(parse_arg(arg, model=MODELS, smoke=False), data=dict(name="digits", num_test=297, data_dir="", image_size=8, center_crop=8),
                     model=dict(arch="mlp", z_dim=8, hidden=(200, 200, 200), width=32, fc=128,
                                widths=(128, 256, 512, 1024)),
                     total_steps=3000, batch_size=128, lr=1e-3)
