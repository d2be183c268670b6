"""SD-MAE experiments as shared-trainer Tasks, chosen by ``cfg.mode``:

- ``pretrain``: MAE (``cfg.method=mae``), SD-MAE (``sdmae``: eq. 1-3) or MAE + self-contrastive
  (``contrastive``: eq. 4-5). Eval: masked-patch MSE on the test split with a fixed mask.
- ``probe``: linear probe (BatchNorm without affine + Linear) on the frozen encoder of
  ``cfg.init.workdir``; the encoder rides in ``TrainState.extra`` (saved, never optimized).
- ``finetune``: the whole ViT classifier, layer-wise lr decay, drop path, mixup/cutmix; from the
  encoder of ``cfg.init.workdir``, or from scratch when it is empty (the supervised baseline).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from common import augment, checkpoint, data, plotting, runtime, trainer
from common import runs as runs_lib
from common.config import ConfigError
from common.errors import UserError
from sdmae import data as sd_data
from sdmae import losses
from sdmae.models import (
  MAE,
  Classifier,
  Encoder,
  ProbeHead,
  decode_variant,
  layer_id,
  random_masking,
)

__all__ = ["make_task", "load_pretrained_encoder"]


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _model_kwargs(m):
  """``model.dtype``: the compute dtype of the ViT ("bfloat16": matmuls, activations and LayerNorm
  outputs in bfloat16, their statistics in float32); parameters, gradients and optimizer state stay
  float32, the losses are computed in float32."""
  dtype = m.get("dtype", "float32")
  if dtype not in DTYPES:
    raise ConfigError(f"model.dtype={dtype!r} is unknown; use float32 or bfloat16")
  return dict(variant=m.variant, image_size=m.image_size, posemb=m.posemb, dtype=DTYPES[dtype])


def load_pretrained_encoder(workdir: str, model_cfg=None, flag: str = "init.workdir") -> dict:
  """The encoder params of a pre-training run, after checking that its ViT matches ``model_cfg`` (None:
  any). ``flag`` names the option that gave ``workdir`` in the one-line errors."""
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    raise UserError(
      f"{flag}={workdir!r} has no config.json; pre-train first with "
      "python -m sdmae.main --config=configs/sdmae/pretrain.py --workdir=..."
    )
  saved = checkpoint.read_config(workdir)
  if not str(saved.get("task", "")).startswith("sdmae") or saved.get("mode") != "pretrain":
    raise UserError(
      f"{flag}={workdir!r} is not an sdmae pre-training run (its config.json has "
      f"task={saved.get('task')!r}, mode={saved.get('mode')!r}); give the --workdir of "
      "python -m sdmae.main --config=configs/sdmae/pretrain.py"
    )
  run = runs_lib.load_run(workdir)
  pre = run.cfg.model
  for k in ("variant", "image_size", "posemb") if model_cfg is not None else ():
    if pre[k] != model_cfg[k]:
      raise UserError(
        f"model.{k}={model_cfg[k]!r} differs from the pre-trained encoder's {pre[k]!r} "
        f"(in {workdir}/config.json); set --config.model.{k}={pre[k]}"
      )
  return jax.tree.map(np.asarray, run.state["params"]["encoder"])


def _accuracy_eval(cfg, test_src, predict):
  emap = sd_data.eval_map(cfg.model.image_size)
  mesh = runtime.make_mesh()

  def evaluate(state, step):
    correct = total = 0
    for b in data.eval_batches(test_src, cfg.eval_batch_size, emap):
      pred = np.asarray(predict(state, runtime.shard_full_batch(mesh, b["image"]))).argmax(-1)
      correct += int(np.sum((pred == b["label"]) & b["mask"]))
      total += int(b["mask"].sum())
    return {"accuracy": correct / max(total, 1)}

  return evaluate


def _pretrain(cfg, train_src, test_src) -> trainer.Task:
  m, lc = cfg.model, cfg.loss
  method = cfg.method
  if method not in ("mae", "sdmae", "contrastive"):
    raise ValueError(f"method={method!r} is unknown; use mae, sdmae or contrastive")
  v = decode_variant(m.variant)
  p = v["patch"]
  n_tokens = (m.image_size // p) ** 2
  model = MAE(
    **_model_kwargs(m),
    decoder_dim=m.decoder_dim,
    decoder_depth=m.decoder_depth,
    decoder_heads=m.decoder_heads,
    decoder_embed_bias=m.decoder_embed_bias,
    heads=method != "mae",
    head=dict(m.head),
  )

  def forward(params, x, key):
    with jax.named_scope("masking"):
      ids_keep, ids_restore, mask = random_masking(key, x.shape[0], n_tokens, cfg.mask_ratio)
    return model.apply({"params": params}, x, ids_keep, ids_restore), mask

  def init(key, batch):
    x = batch["image"]
    ids_keep, ids_restore, _ = random_masking(key, x.shape[0], n_tokens, cfg.mask_ratio)
    params = model.init(key, x, ids_keep, ids_restore)["params"]
    extra = {"center": jnp.zeros((m.head.out_dim,))} if method == "sdmae" else {}
    return params, extra

  def loss(params, extra, batch, key):
    x = batch["image"]
    out, mask = forward(params, x, key)
    with jax.named_scope("losses"):
      return _losses(out, mask, x, extra)

  def _losses(out, mask, x, extra):
    mse = losses.masked_mse(out["pred"], losses.pix_target(x, p, lc.norm_pix), mask)
    metrics = {"mse": mse}
    if method == "sdmae":
      d, center = losses.distill_loss(
        out["q"],
        out["p"],
        extra["center"],
        student_temp=lc.student_temp,
        teacher_temp=lc.teacher_temp,
        stop_grad=lc.teacher_stop_grad,
        center_on=lc.center_on,
        center_momentum=lc.center_momentum,
      )
      metrics["distill"] = d
      return lc.alpha * mse + (1 - lc.alpha) * d, (metrics, {"center": center})
    if method == "contrastive":
      c = losses.nt_xent(out["q"], out["p"], lc.tau)
      metrics["contrastive"] = c
      return lc.beta * mse + (1 - lc.beta) * c, (metrics, extra)
    return mse, (metrics, extra)

  emap = sd_data.eval_map(m.image_size)
  eval_key = jax.random.PRNGKey(4321)
  mesh = runtime.make_mesh()

  @jax.jit
  def eval_step(params, x):
    out, mask = forward(params, x, eval_key)
    return (
      losses.masked_mse(out["pred"], losses.pix_target(x, p, lc.norm_pix), mask),
      out["pred"],
      mask,
    )

  def evaluate(state, step):
    vals = []
    for i, b in enumerate(data.eval_batches(test_src, cfg.eval_batch_size, emap)):
      if i * cfg.eval_batch_size >= cfg.eval_examples:
        break
      vals.append(float(eval_step(state.params, runtime.shard_full_batch(mesh, b["image"]))[0]))
    return {"mse": float(np.mean(vals))}

  def reconstruct(params, x):
    """(masked input, reconstruction with the visible patches pasted back), in [0, 1]. ``x`` is padded to
    the eval batch size so that the compiled eval step is reused (and the masks are the eval masks)."""
    n = len(x)
    xp = np.concatenate([x, np.repeat(x[-1:], max(cfg.eval_batch_size - n, 0), 0)])
    params = jax.device_put(
      params, runtime.replicated(mesh)
    )  # e.g. loaded on one device by evaluate
    _, pred, mask = eval_step(params, runtime.shard_full_batch(mesh, xp))
    pred, mask = np.asarray(pred)[:n], np.asarray(mask)[:n]
    pred, mask = np.asarray(pred), np.asarray(mask)[..., None]
    t = np.asarray(losses.patchify(jnp.asarray(x), p))
    if (
      lc.norm_pix != "none"
    ):  # as MAE's visualization: undo the per-patch normalization with the truth's stats
      if lc.norm_pix == "joint":
        mu, sd = t.mean(-1, keepdims=True), np.sqrt(t.var(-1, keepdims=True, ddof=1) + 1e-6)
      else:
        tc = t.reshape(*t.shape[:-1], p * p, 3)
        mu = np.repeat(tc.mean(-2, keepdims=True), p * p, -2).reshape(t.shape)
        sd = np.repeat(tc.std(-2, keepdims=True, ddof=1) + 1e-6, p * p, -2).reshape(t.shape)
      pred = pred * sd + mu
    h = w = m.image_size
    masked = np.asarray(losses.unpatchify(jnp.asarray(t * (1 - mask) + mask * t.min()), p, h, w))
    recon = np.asarray(losses.unpatchify(jnp.asarray(t * (1 - mask) + pred * mask), p, h, w))
    return sd_data.unnormalize(masked), sd_data.unnormalize(recon)

  def figures(state, workdir, step):
    b = next(data.eval_batches(test_src, 8, emap))
    masked, recon = reconstruct(state.params, b["image"])
    orig = sd_data.unnormalize(b["image"])
    grid = plotting.image_grid(np.concatenate([orig, masked, recon]), 8)
    return [
      plotting.save_panels(
        os.path.join(workdir, "figures", f"reconstruction_{step:06d}.png"),
        [(f"{method.upper()} step {step}: original / masked / reconstruction", grid)],
        ncols=1,
        size=6,
      )
    ]

  def train_data(cfg):
    return data.train_pipeline(
      train_src,
      global_batch=cfg.batch_size,
      seed=cfg.seed,
      **runtime.grain_read_options(cfg.data),
      random_map_fn=sd_data.train_map(m.image_size, cfg.data.crop_scale),
    )

  return trainer.Task(
    init=init,
    loss=loss,
    train_data=train_data,
    evaluate=evaluate,
    figures=figures,
    reconstruct=reconstruct,
  )


def _probe(cfg, train_src, test_src, num_classes) -> trainer.Task:
  m = cfg.model
  encoder = Encoder(**_model_kwargs(m))
  head = ProbeHead(num_classes)
  pretrained = {}

  def features(enc_params, x):
    return jnp.mean(encoder.apply({"params": enc_params}, x), axis=1)

  def init(key, batch):
    enc = encoder.init(key, batch["image"])[
      "params"
    ]  # replaced by the pre-trained weights in post_init
    f = jax.eval_shape(features, enc, batch["image"])
    v = head.init(key, jnp.zeros(f.shape, f.dtype))
    return v["params"], {"batch_stats": v["batch_stats"], "encoder": enc}

  def post_init(params, extra):
    if "enc" not in pretrained:
      pretrained["enc"] = load_pretrained_encoder(cfg.init.workdir, m)
    return params, {**extra, "encoder": pretrained["enc"]}

  def loss(params, extra, batch, key):
    f = jax.lax.stop_gradient(features(extra["encoder"], batch["image"]))
    logits, upd = head.apply(
      {"params": params, "batch_stats": extra["batch_stats"]},
      f,
      train=True,
      mutable=["batch_stats"],
    )
    y = jax.nn.one_hot(batch["label"], num_classes)
    ce = losses.cross_entropy(logits, y)
    acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return ce, ({"ce": ce, "train_accuracy": acc}, {**extra, **upd})

  @jax.jit
  def predict_fn(params, extra, x):
    return head.apply(
      {"params": params, "batch_stats": extra["batch_stats"]}, features(extra["encoder"], x)
    )

  def train_data(cfg):
    return data.train_pipeline(
      train_src,
      global_batch=cfg.batch_size,
      seed=cfg.seed,
      **runtime.grain_read_options(cfg.data),
      random_map_fn=sd_data.train_map(m.image_size, cfg.data.crop_scale, flip=True),
    )

  evaluate = _accuracy_eval(cfg, test_src, lambda s, x: predict_fn(s.params, s.extra, x))
  return trainer.Task(
    init=init, loss=loss, train_data=train_data, evaluate=evaluate, post_init=post_init
  )


def _finetune(cfg, train_src, test_src, num_classes) -> trainer.Task:
  m, lc = cfg.model, cfg.loss
  model = Classifier(
    num_classes, **_model_kwargs(m), drop_path=m.drop_path, encoder_norm=m.encoder_norm
  )
  depth = decode_variant(m.variant)["depth"]
  ac = cfg.aug
  spec = augment.parse_spec(ac.randaugment, ac.interpolation_order) if ac.randaugment else None
  mean, std = jnp.asarray(sd_data.MEAN), jnp.asarray(sd_data.STD)

  def augmented(key, x):
    """RandAugment on the [0, 1] crops, normalization, random erasing (timm's order, REFERENCES 1.1)."""
    k_ra, k_re = jax.random.split(key)
    if spec is not None:
      x = (augment.rand_augment(k_ra, x * std + mean, spec) - mean) / std
    if ac.reprob > 0:
      x = augment.random_erasing(k_re, x, ac.reprob, ac.remode, ac.recount)
    return x

  def init(key, batch):
    return model.init(key, batch["image"])["params"], {}

  def post_init(params, extra):
    if not cfg.init.workdir:
      return params, extra  # supervised from scratch
    enc = load_pretrained_encoder(cfg.init.workdir, m)
    return {
      **params,
      "encoder": {k: enc[k] for k in params["encoder"]},
    }, extra  # no "norm" when pooling bare

  def loss(params, extra, batch, key):
    k_mix, k_drop, k_aug = jax.random.split(key, 3)
    y = jax.nn.one_hot(batch["label"], num_classes)
    y = y * (1 - lc.label_smoothing) + lc.label_smoothing / num_classes
    x, y = losses.mixup_cutmix(
      k_mix, augmented(k_aug, batch["image"]), y, mixup_alpha=lc.mixup, cutmix_alpha=lc.cutmix
    )
    logits = model.apply({"params": params}, x, train=True, rngs={"dropout": k_drop})
    ce = losses.cross_entropy(logits, y)
    return ce, ({"ce": ce}, extra)

  def lr_scales(abstract_params):
    def scale(path, _):
      keys = tuple(getattr(k, "key", str(k)) for k in path)
      return float(cfg.layer_decay ** (depth + 1 - layer_id(keys, depth)))

    return jax.tree_util.tree_map_with_path(scale, abstract_params)

  predict = jax.jit(lambda params, x: model.apply({"params": params}, x))

  def train_data(cfg):
    return data.train_pipeline(
      train_src,
      global_batch=cfg.batch_size,
      seed=cfg.seed,
      **runtime.grain_read_options(cfg.data),
      random_map_fn=sd_data.train_map(m.image_size, cfg.data.crop_scale, flip=True),
    )

  evaluate = _accuracy_eval(cfg, test_src, lambda s, x: predict(s.params, x))
  return trainer.Task(
    init=init,
    loss=loss,
    train_data=train_data,
    evaluate=evaluate,
    lr_scales=lr_scales if cfg.layer_decay != 1.0 else None,
    post_init=post_init,
  )


def make_task(cfg) -> trainer.Task:
  train_src, test_src, num_classes, _ = sd_data.load(cfg.data)
  if cfg.mode == "pretrain":
    return _pretrain(cfg, train_src, test_src)
  if cfg.mode == "probe":
    return _probe(cfg, train_src, test_src, num_classes)
  if cfg.mode == "finetune":
    return _finetune(cfg, train_src, test_src, num_classes)
  raise ValueError(f"mode={cfg.mode!r} is unknown; use pretrain, probe or finetune")
