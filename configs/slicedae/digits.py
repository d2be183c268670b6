"""Sliced generative autoencoders on scikit-learn's 8x8 digits (the embedded default).

Run one model (swae | scfwae | scwae | scvmae | sksae | cwae | ae):
  python -m slicedae.main --config=configs/slicedae/digits.py:scwae --workdir=/tmp/sae/scwae
Smoke variant: --config=configs/slicedae/digits.py:scwae,smoke
Convergence variant (20,000 steps, the curves flat; python -m slicedae.study runs all models): :scwae,long

Latent size: z = 8, a choice of this project, not the paper's 20 (which is for 784-pixel MNIST, as in
real.py). These images have 64 pixels; 20 latent dimensions for 1,500 training images of 64 pixels
leaves the encoder little to compress, and Mardia's statistics on the 297 held-out digits lose power
as D grows (the N(0, I) skewness at n = 297 is 3.2 +- 0.7 for D = 8 but 35.6 for D = 20). z = 8 is
also the CWAE PyTorch reference's MNIST latent (REFERENCES.md 3.1).
"""

import ml_collections

from common.config import distributed, parse_arg, sharding

# the first is the default
MODELS = ("scwae", "swae", "scfwae", "scvmae", "sksae", "cwae", "ae")


def base_config(a, *, data, model, total_steps, batch_size, lr, null_draws=1000):
  """``a``: the parsed arg (fields ``model`` and ``smoke``, see :func:`get_config`)."""
  name = a.model
  c = ml_collections.ConfigDict()
  c.task = "slicedae.task:make_task"
  c.seed = getattr(a, "seed", 0)
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
  c.loss = ml_collections.ConfigDict(
    dict(
      cost="log",  # eq. (2); "linear" is eq. (1) with lam
      lam=1.0,
      log_eps=0.0,  # the PyTorch CWAE code adds 1e-7 inside the log; the paper does not
      num_projections=50,  # k fresh directions per step (SWAE reference: 50)
      rec_reduction="sum",  # per-image sum of squared errors, batch mean (CWAE reference code)
    )
  )
  c.optim = ml_collections.ConfigDict(
    dict(
      name="adam",
      lr=lr,
      schedule="constant",
      warmup_steps=0,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      clip_norm=0.0,
    )
  )
  c.distributed = distributed()
  c.sharding = sharding()
  c.null_draws = (
    null_draws  # samples of N(0, I) at the eval's n and D for the Mardia null (mean, std, p)
  )
  c.fd = ml_collections.ConfigDict(
    dict(
      enabled=True,  # "FD (<data> CNN)": Frechet distance in a project-trained classifier (slicedae.fd)
      num_samples=2000,  # decoded prior samples against the held-out images' features
      batch_size=500,
      classifier_steps=500,  # Adam steps of batch 128 on the training split, seed below
      features=64,  # penultimate width = the feature dimension
      seed=0,
    )
  )
  c.fid = ml_collections.ConfigDict(
    dict(
      weights="",  # .npz from tools/fid_weights_to_npz.py; empty: FID not computed
      ref_stats="",  # pytorch-fid stats .npz (mu, sigma); empty: the first num_samples train images
      num_samples=10000,  # CWAE PyTorch protocol: 10,000 prior samples, batch 100
      batch_size=100,
      every=0,  # 0: at the final evaluation only
      seed=0,
    )
  )
  if a.smoke:
    c.total_steps, c.log_every, c.ckpt_every, c.eval_every, c.figure_every = 10, 5, 10, 10, 0
    c.null_draws, c.fd.classifier_steps, c.fd.num_samples = 50, 20, 200
  return c


def long_variant(c, total_steps, evals=40):
  """The convergence runs of ``slicedae.study``: more steps, ``evals`` evaluations for the curves."""
  c.total_steps, c.eval_every = total_steps, total_steps // evals
  c.log_every, c.ckpt_every, c.figure_every = total_steps // 20, total_steps // 10, total_steps
  return c


def get_config(arg=None):
  a = parse_arg(arg, model=MODELS, smoke=False, long=False, seed=0)
  c = base_config(
    a,
    data=dict(name="digits", num_test=297, data_dir="", image_size=8, center_crop=8),
    model=dict(
      arch="mlp", z_dim=8, hidden=(200, 200, 200), width=32, fc=128, widths=(128, 256, 512, 1024)
    ),
    total_steps=3000,
    batch_size=128,
    lr=1e-3,
  )
  return long_variant(c, 20000) if a.long and not a.smoke else c
