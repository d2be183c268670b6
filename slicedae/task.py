"""The sliced autoencoder as a shared-trainer Task: data, loss (eq. 1/2 with eq. 3), evaluation
(reconstruction error, Mardia skewness and normalized kurtosis, classical SWAE distance) and figures
(samples, reconstructions with odd rows real, latent interpolations)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from common import nn as nn_util
from common import data, metrics, plotting, runtime, sliced, trainer
from slicedae import losses
from slicedae.models import make_model

__all__ = ["make_task", "load_splits", "fid_reference_stats"]


def _celeba_map(size: int, crop: int):
  def fn(ex):
    img = ex["image"]
    h, w = img.shape[:2]
    img = data.transforms.center_crop(img, (min(crop, h), min(crop, w)))
    return {"image": data.transforms.resize(data.transforms.to_float(img), (size, size))}
  return fn


def _to_float(ex):
  img = data.transforms.to_float(ex["image"])
  return {"image": img if img.ndim == 3 else img[..., None]}


def load_splits(d):
  """``(train_source, test_images ndarray, image_shape)`` for the config's ``data`` block."""
  if d.name == "digits":
    src = data.digits()
    x = src.arrays["image"]
    n_test = d.num_test
    return data.ArraySource(image=x[:-n_test]), x[-n_test:], x.shape[1:]
  if d.name == "lfw":
    from skimage.data import lfw_subset
    x = lfw_subset().astype(np.float32)[:, :24, :24, None]  # 200 faces, 25x25 -> 24x24 (even for convs)
    n_test = d.num_test
    return data.ArraySource(image=x[:-n_test]), x[-n_test:], x.shape[1:]
  if d.name in ("mnist", "cifar10", "celeb_a"):
    fn = _celeba_map(d.image_size, d.center_crop) if d.name == "celeb_a" else _to_float
    train = data.tfds_source(d.name, "train", data_dir=d.data_dir or None)
    test = data.tfds_source(d.name, "test", data_dir=d.data_dir or None)
    train = _Mapped(train, fn)
    test_x = np.stack([fn(test[i])["image"] for i in range(min(len(test), d.num_test))])
    return train, test_x, test_x.shape[1:]
  raise ValueError(f"data.name={d.name!r} is unknown; use digits, lfw, mnist, cifar10 or celeb_a")


class _Mapped:
  def __init__(self, src, fn):
    self.src, self.fn = src, fn

  def __len__(self):
    return len(self.src)

  def __getitem__(self, i):
    return self.fn(self.src[i])


def _first_images(src, n: int) -> np.ndarray:
  return np.stack([src[i]["image"] for i in range(min(n, len(src)))])


def fid_reference_stats(f, train_src, extractor) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of the real images for FID: ``fid.ref_stats`` (a pytorch-fid ``--save-stats`` .npz
  with ``mu``/``sigma``, e.g. from ``precalc_fid.py`` of the CWAE code) or the first
  ``fid.num_samples`` training images."""
  from common import inception
  if f.ref_stats:
    if not os.path.isfile(f.ref_stats):
      raise FileNotFoundError(f"fid.ref_stats={f.ref_stats!r} does not exist; leave it empty to use the train set")
    with np.load(f.ref_stats) as z:
      return z["mu"], z["sigma"]
  return inception.statistics(extractor(_first_images(train_src, f.num_samples)))


def make_task(cfg) -> trainer.Task:
  train_src, test_x, image_shape = load_splits(cfg.data)
  model = make_model(cfg.model, image_shape)
  name = cfg.model.name

  variables = nn_util.merge

  def init(key, batch):
    return nn_util.split_variables(model.init(key, batch["image"]))

  def loss(params, extra, batch, key):
    x = batch["image"]
    (x_hat, aux), extra = nn_util.apply_train(model, params, extra, x)
    rec = losses.reconstruction_error(x, x_hat, cfg.loss.rec_reduction)
    d = losses.normality_index(aux["z"], key, name, cfg.loss.num_projections)
    total = rec if name == "ae" else losses.cost(rec, d, cfg.loss.cost, cfg.loss.lam, cfg.loss.log_eps)
    return total, ({"rec": rec, "distance": d}, extra)

  def train_data(cfg):
    return data.train_pipeline(train_src, global_batch=cfg.batch_size, seed=cfg.seed,
                               **runtime.grain_read_options(cfg.data))

  @jax.jit
  def encode_decode(params, extra, x):
    return model.apply(variables(params, extra), x)

  decode = jax.jit(lambda p, e, z: model.apply(variables(p, e), z, method=model.decode))
  eval_key = jax.random.PRNGKey(1234)
  eval_dirs = sliced.random_directions(eval_key, 50, cfg.model.z_dim)

  def encode_all(state):
    params, extra = state.params, state.extra
    zs, recs = [], []
    bs = cfg.eval_batch_size
    for i in range(0, len(test_x), bs):
      xb = test_x[i:i + bs]
      n = len(xb)
      if n < bs:
        xb = np.concatenate([xb, np.repeat(xb[-1:], bs - n, 0)])
      x_hat, aux = encode_decode(params, extra, xb)
      zs.append(np.asarray(aux["z"])[:n])
      recs.append(np.asarray(x_hat)[:n])
    return np.concatenate(zs), np.concatenate(recs)

  fid_state = {}

  def fid(state) -> float:
    """FID of ``fid.num_samples`` decoded N(0, I) samples (batch ``fid.batch_size``) against the
    reference statistics, as the CWAE PyTorch code (10,000 samples, batch 100)."""
    from common import inception
    f = cfg.fid
    if "extractor" not in fid_state:
      fid_state["extractor"] = inception.FeatureExtractor(inception.load_variables(f.weights), f.batch_size)
      fid_state["ref"] = fid_reference_stats(f, train_src, fid_state["extractor"])
    key = jax.random.PRNGKey(f.seed)
    samples = []
    for i in range(0, f.num_samples, f.batch_size):
      z = jax.random.normal(jax.random.fold_in(key, i), (f.batch_size, cfg.model.z_dim))
      samples.append(np.clip(np.asarray(decode(state.params, state.extra, z)), 0.0, 1.0))
    feats = fid_state["extractor"](np.concatenate(samples)[:f.num_samples])
    mu, sigma = inception.statistics(feats)
    return float(metrics.frechet_distance(mu, sigma, *fid_state["ref"], xp=np))

  def evaluate(state, step):
    out = _evaluate(state)
    f = cfg.fid
    if f.weights and (step >= cfg.total_steps or (f.every and step % f.every == 0)):
      out["fid"] = fid(state)
    return out

  def _evaluate(state):
    z, x_hat = encode_all(state)
    rec = float(losses.reconstruction_error(jnp.asarray(test_x), jnp.asarray(x_hat), cfg.loss.rec_reduction))
    prior = jax.random.normal(jax.random.fold_in(eval_key, 1), z.shape)
    swae = float(jnp.mean(sliced.wasserstein_sample((z @ eval_dirs.T).T, (prior @ eval_dirs.T).T)))
    return {"rec_error": rec, "skewness": float(metrics.mardia_skewness(z)),
            "kurtosis_normalized": float(metrics.mardia_kurtosis(z, normalized=True)), "swae_distance": swae}

  def figures(state, workdir, step):
    out = os.path.join(workdir, "figures")
    z_dim = cfg.model.z_dim
    samples = np.asarray(decode(state.params, state.extra, jax.random.normal(jax.random.PRNGKey(7), (64, z_dim))))
    z, x_hat = encode_all(state)
    n = 8
    rows = []
    for r in range(4):  # odd rows (1st, 3rd, ...) real test images, even rows their reconstructions
      rows += [test_x[r * n:(r + 1) * n], x_hat[r * n:(r + 1) * n]]
    recon = np.concatenate(rows)
    t = np.linspace(0, 1, 10)[:, None]
    interp = np.concatenate([
        np.asarray(decode(state.params, state.extra, jnp.asarray((1 - t) * z[2 * i] + t * z[2 * i + 1])))
        for i in range(6)])
    sq = lambda a: a[..., 0] if a.shape[-1] == 1 else a
    paths = []
    for title, imgs, cols in [("samples", samples, 8), ("reconstructions", recon, n), ("interpolations", interp, 10)]:
      grid = plotting.image_grid(sq(np.clip(imgs, 0, 1)), cols)
      paths.append(plotting.save_panels(os.path.join(out, f"{title}_{step:06d}.png"),
                                        [(f"{name.upper()} {title}, step {step}", grid)], ncols=1, size=5))
    return paths

  return trainer.Task(init=init, loss=loss, train_data=train_data, evaluate=evaluate, figures=figures, fid=fid)


