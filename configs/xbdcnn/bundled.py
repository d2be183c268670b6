"""X-BDCNN on the grayscale images scikit-image ships (split by image), 64x64 patches.

Run: python -m xbdcnn.main train --config=configs/xbdcnn/bundled.py --workdir=/tmp/xbd/xbdcnn
Variants (arg, comma-separated): xbdcnn (default) | dncnn | no_ssim | no_nle, plus 'smoke' or 'cpu'
(the CPU-scale reproduction of python -m xbdcnn.study).
  python -m xbdcnn.main train --config=configs/xbdcnn/bundled.py:no_nle --workdir=/tmp/xbd/no_nle
ChestX-ray8: --config=configs/xbdcnn/chestxray8.py --config.data.root=/data/chestxray8/images
"""

import ml_collections

from common.config import distributed, parse_arg, sharding

VARIANTS = ("xbdcnn", "dncnn", "no_ssim", "no_nle")


def parse(arg):
  return parse_arg(arg, variant=VARIANTS, smoke=False, cpu=False)


def base_config(a):
  """``a``: the parsed arg (:func:`parse`)."""
  variant = a.variant
  c = ml_collections.ConfigDict()
  c.task = "xbdcnn.task:make_task"
  c.variant = variant
  c.seed = 0
  c.total_steps = 2000
  c.batch_size = 8
  c.log_every = 100
  c.ckpt_every = 500
  c.keep_ckpts = 2
  c.eval_every = 250
  c.figure_every = 2000
  c.data = ml_collections.ConfigDict(
    dict(
      name="bundled",
      root="",
      split_seed=0,
      patch=48,
      num_train_patches=100_000,
      num_val_patches=64,
      # every image scikit-image ships without a download (RGB ones in gray) is in one split only; test
      # images are never trained on (tests/xbdcnn: test_bundled_splits_are_disjoint)
      train_images=(
        "astronaut",
        "brick",
        "cat",
        "chelsea",
        "checkerboard",
        "coffee",
        "grass",
        "gravel",
        "horse",
        "hubble_deep_field",
        "immunohistochemistry",
        "microaneurysms",
        "page",
        "retina",
        "rocket",
        "text",
      ),
      val_images=("cell",),
      test_images=("camera", "shepp_logan_phantom", "moon", "coins", "clock"),
      phantoms=(
        48,
        2,
        5,
      ),  # procedural chest radiographs (xbdcnn.phantoms) per split, disjoint seeds
      grain_threads=0,
      grain_prefetch=0,
    )
  )  # host threads / batches ahead; 0: the platform default (runtime)
  c.distributed = distributed()
  c.sharding = sharding()
  c.noise = ml_collections.ConfigDict(
    dict(
      convention="peak",  # p = Poisson(eta g)/eta, Var = g/eta (small eta = strong noise); or "gain"
      eta_range=(0.4, 1.9),
      sigma_range=(0.0, 20.0),
      clip=False,
    )
  )
  c.model = ml_collections.ConfigDict(
    dict(
      arch="xbdcnn",
      widths=(16, 32, 64),
      nle_width=16,
      use_nle=True,
      final_kernel=3,
      depth=17,
      dncnn_width=16,
      dncnn_bn=False,
    )
  )  # KAIR's DnCNN has BN; at batch 8 it stalled at the identity (models.DnCNN)
  # eq. 8 weights and eq. 3's alpha; reduction "sum": the paper's per-image sums (eq. 3-6), all divided by
  # the one constant H*W so the terms keep the paper's ratios ("mean": each term its own mean, xbdcnn.losses)
  c.loss = ml_collections.ConfigDict(
    dict(mse=0.4, ssim=0.6, asym=0.5, tv=0.05, alpha=0.3, reduction="sum")
  )
  # the paper: Adam 1e-3 for the first half of training, then 1e-4
  c.optim = ml_collections.ConfigDict(
    dict(
      name="adam",
      lr=1e-3,
      schedule="piecewise",
      piecewise_fractions=(0.5,),
      piecewise_factor=0.1,
      warmup_steps=0,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      clip_norm=0.0,
    )
  )
  if (
    variant == "dncnn"
  ):  # KAIR's DnCNN recipe is L1 + Adam 1e-4; here: the same data, budget and MSE
    c.model.arch = "dncnn"
    c.loss.ssim = 0.0
    c.loss.mse = 1.0
  elif variant == "no_ssim":
    c.loss.ssim = 0.0
  elif variant == "no_nle":
    c.model.use_nle = False
  if a.cpu and not a.smoke:
    # the CPU-scale reproduction (python -m xbdcnn.study): 2,500 steps of 16 patches of 48x48 (about 20 min
    # per network on one of 2 busy cores), lr 1e-3 then 1e-4 at half as the paper; 25 evaluations
    c.total_steps, c.batch_size = 2500, 16
    c.log_every, c.ckpt_every, c.eval_every, c.figure_every = 100, 500, 100, 2500
  if a.smoke:
    c.total_steps, c.log_every, c.ckpt_every, c.eval_every, c.figure_every = 6, 3, 6, 6, 0
    c.batch_size = 4
    c.data.patch = 32
    c.data.num_val_patches = 4
    c.model.widths = (8, 16, 32)
    c.model.depth = 5
    c.model.dncnn_width = 8
  return c


def get_config(arg=None):
  return base_config(parse(arg))
