"""SD-MAE / MAE / MAE+self-contrastive pre-training (paper section 3.2; details REFERENCES.md 1.1).

  python -m sdmae.main --config=configs/sdmae/pretrain.py:embedded,sdmae --workdir=runs/sdmae_emb
  python -m sdmae.main --config=configs/sdmae/pretrain.py:nct,sdmae --config.data.data_dir=/data/nct \
      --workdir=runs/sdmae_nct

arg: comma-separated tokens, a dataset (embedded [procedural H&E, default] | ihc | pcam [224, S/16] |
pcam96 [96x96, S/8] | pcam_tfds | nct | imagenet100 | folder [your tiles] | slides [your whole-slide
images]), a method (sdmae [default] | mae | contrastive), ``cpu`` for the embedded sets' scale (32 px,
ViT-mu/4, 600 steps) on any dataset, ``smoke`` for a 4-step run, ``mask=0.75`` to override the mask ratio.

  python -m sdmae.main --config=configs/sdmae/pretrain.py:slides --config.data.data_dir=/data/slides \
      --config.data.mpp=0.5 --config.total_steps=20000 --workdir=runs/sdmae_slides
The paper: ViT-S/16, 224x224, batch 1024, 100 epochs with 5 warm-up, AdamW, cosine, mask 0.6 (pathology)
or 0.75 (ImageNet-100), decoder 4 x 192, heads with bottleneck 256 and 4096 outputs, alpha = beta = 0.2.
"""

import ml_collections

from common.config import distributed, parse_arg, sharding

DATASETS = {  # name: (data.name, image_size, variant, train size, mask ratio)
  "embedded": ("procedural_he", 32, "mu/4", 2048, 0.6),
  "ihc": ("ihc", 32, "mu/4", 0, 0.6),
  "pcam": ("pcam", 224, "S/16", 262144, 0.6),
  "pcam96": ("pcam", 96, "S/8", 262144, 0.6),
  "pcam_tfds": ("pcam_tfds", 224, "S/16", 262144, 0.6),
  "nct": ("nct", 224, "S/16", 89343, 0.6),
  "imagenet100": ("imagenet100", 224, "S/16", 126689, 0.75),
  # the user's own data (data.data_dir): 51,200 is nominal (5,000 steps of 1,024 over 100 "epochs");
  # set --config.total_steps for your data
  "folder": ("folder", 224, "S/16", 51200, 0.6),
  "slides": ("slides", 224, "S/16", 51200, 0.6),
}
METHODS = ("sdmae", "mae", "contrastive")


def parse(arg, **extra):
  """The arg as fields dataset, method, smoke, seed and mask (None: the dataset's ratio), and the
  ``extra`` fields of one config."""
  return parse_arg(
    arg, dataset=tuple(DATASETS), method=METHODS, smoke=False, seed=0, mask=None, cpu=False, **extra
  )


def is_small(a) -> bool:
  """The embedded sets and the ``cpu`` token: small models and batches."""
  return a.dataset in ("embedded", "ihc") or a.cpu


def base(a, mode):
  """``a``: the parsed arg (:func:`parse`)."""
  ds, method = a.dataset, a.method
  data_name, size, variant, n_train, mask = DATASETS[ds]
  small = is_small(a)
  if a.cpu:  # the embedded sets' scale on the user's data: a CPU run
    size, variant = 32, "mu/4"
  c = ml_collections.ConfigDict()
  c.task = "sdmae.task:make_task"
  c.mode = mode
  c.method = method
  c.seed = a.seed
  c.mask_ratio = float(mask if a.mask is None else a.mask)
  c.data = ml_collections.ConfigDict(
    dict(
      name=data_name,
      data_dir="",
      image_size=size,
      source_size=size,
      num_train=n_train or 1,
      num_test=512,
      seed=0,
      crop_scale=(0.08, 1.0),  # SD-MAE code: RandomResizedCrop scale 0.08-1 (MAE: 0.2-1)
      # PCam: the dataset's official split (262,144 train / 32,768 valid / 32,768 test); the paper reports
      # 245,760 / 40,960 following TransPath [22], a split it does not publish
      test_split="test",
      class_list="",
      # folder: data_dir holds tiles at any depth (pre-training), or class subfolders (probe, fine-tune),
      # test_dir the test tiles (empty: every 20th file of data_dir is held out);
      # slides: data_dir holds whole-slide images, tiles of source_size read at mpp
      test_dir="",
      mpp=0.5,
      labelled=mode != "pretrain",
      grain_threads=0,
      grain_prefetch=0,
    )
  )  # host threads / batches ahead; 0: the platform default (runtime)
  c.model = ml_collections.ConfigDict(
    dict(
      variant=variant,
      image_size=size,
      posemb="sincos2d",  # the SD-MAE code uses a 1-D table: "sincos1d"
      decoder_dim=64 if small else 192,
      decoder_depth=2 if small else 4,
      decoder_heads=2 if small else 3,
      decoder_embed_bias=True,  # SD-MAE code: False (a bias-free projection)
      drop_path=0.1,
      # compute dtype: "bfloat16" (parameters, gradients and AdamW state stay float32, as big_vision
      # and MaxText); on accelerators, where it pays
      dtype="float32",
      head=dict(
        out_dim=256 if small else 4096,  # the paper's "4096 hidden" is the code's output size
        hidden_dim=256 if small else 2048,
        bottleneck_dim=64 if small else 256,
        layers=3,
      ),
    )
  )
  c.loss = ml_collections.ConfigDict(
    dict(
      norm_pix="joint",  # official MAE (the paper follows its protocol); SD-MAE code: "per_channel"
      alpha=0.2,  # eq. 3 weight of the MSE (the code effectively uses 0.8)
      beta=0.2,
      tau=0.5,  # eq. 4-5
      student_temp=0.1,
      teacher_temp=0.04,
      teacher_stop_grad=False,  # SD-MAE code (DINO detaches)
      center_on="probs",
      center_momentum=0.9,  # code centers probabilities
      label_smoothing=0.0,
      mixup=0.0,
      cutmix=0.0,
    )
  )
  c.init = ml_collections.ConfigDict(dict(workdir=""))
  c.distributed = distributed()
  c.sharding = sharding()
  c.layer_decay = 1.0
  batch = 64 if small else 1024
  epochs = 100
  steps = 600 if small else epochs * n_train // batch
  c.batch_size = batch
  c.eval_batch_size = 128 if small else 256
  c.eval_examples = 512 if small else 4096
  c.total_steps = steps
  c.optim = ml_collections.ConfigDict(
    dict(
      name="adamw",
      lr=(1.5e-3 if small else 6e-4 * batch / 256),
      schedule="cosine",
      min_lr=1e-5,
      # b2 0.999: the SD-MAE code (torch's default; its --opt_betas is unset); the official MAE uses 0.95
      warmup_steps=steps // 20,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      weight_decay=0.05,
      wd_mask="no_1d",
      clip_norm=0.0,
    )
  )
  c.log_every = max(steps // 30, 1)
  c.ckpt_every = max(steps // 5, 1)
  c.keep_ckpts = 2
  c.eval_every = max(steps // 5, 1)
  c.figure_every = steps
  if a.smoke:
    c.total_steps, c.batch_size, c.log_every, c.ckpt_every, c.eval_every, c.figure_every = (
      4,
      8,
      2,
      4,
      4,
      4,
    )
    c.eval_examples = c.eval_batch_size = 16
    c.optim.warmup_steps = 1
  return c


def get_config(arg=None):
  return base(parse(arg), "pretrain")
