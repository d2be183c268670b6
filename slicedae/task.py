"""The sliced autoencoder as a shared-trainer Task: data, loss (eq. 1/2 with eq. 3), evaluation
(reconstruction error, Mardia skewness and normalized kurtosis, classical SWAE distance) and figures
(samples, reconstructions with odd rows real, latent interpolations)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from common import data, metrics, plotting, runtime, sliced, trainer
from common import nn as nn_util
from slicedae import losses
from slicedae.data import embedded_arrays, load_splits  # noqa: F401  (re-exported)
from slicedae.models import make_model

__all__ = ["make_task", "load_splits", "embedded_arrays", "fid_reference_stats"]


def _first_images(src, n: int) -> np.ndarray:
  return np.stack([src[i]["image"] for i in range(min(n, len(src)))])


def fid_reference_stats(f, train_src, extractor) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of the real images for FID: ``fid.ref_stats`` (a pytorch-fid ``--save-stats`` .npz
  with ``mu``/``sigma``, e.g. from ``precalc_fid.py`` of the CWAE code) or the first
  ``fid.num_samples`` training images."""
  from common import inception

  if f.ref_stats:
    if not os.path.isfile(f.ref_stats):
      raise FileNotFoundError(
        f"fid.ref_stats={f.ref_stats!r} does not exist; leave it empty to use the train set"
      )
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
    total = (
      rec if name == "ae" else losses.cost(rec, d, cfg.loss.cost, cfg.loss.lam, cfg.loss.log_eps)
    )
    return total, ({"rec": rec, "distance": d}, extra)

  def train_data(cfg):
    return data.train_pipeline(
      train_src, global_batch=cfg.batch_size, seed=cfg.seed, **runtime.grain_read_options(cfg.data)
    )

  @jax.jit
  def encode_decode(params, extra, x):
    return model.apply(variables(params, extra), x)

  decode = jax.jit(lambda p, e, z: model.apply(variables(p, e), z, method=model.decode))
  eval_key = jax.random.PRNGKey(1234)
  eval_dirs = sliced.random_directions(eval_key, 50, cfg.model.z_dim)

  train_probe = _first_images(train_src, len(test_x))

  def encode_all(state, images):
    params, extra = state.params, state.extra
    zs, recs = [], []
    bs = cfg.eval_batch_size
    for i in range(0, len(images), bs):
      xb = images[i : i + bs]
      n = len(xb)
      if n < bs:
        xb = np.concatenate([xb, np.repeat(xb[-1:], bs - n, 0)])
      x_hat, aux = encode_decode(params, extra, xb)
      zs.append(np.asarray(aux["z"])[:n])
      recs.append(np.asarray(x_hat)[:n])
    return np.concatenate(zs), np.concatenate(recs)

  fid_state = {}

  def frechet(state, extractor, ref, num_samples: int, batch_size: int, seed: int) -> float:
    """The FID computation with any feature network: ``num_samples`` decoded N(0, I) samples (batch
    ``batch_size``, clipped to [0, 1]) -> features -> Fréchet distance to the reference (mu, sigma)."""
    from slicedae import fd as fd_lib

    key = jax.random.PRNGKey(seed)
    samples = []
    for i in range(0, num_samples, batch_size):
      z = jax.random.normal(jax.random.fold_in(key, i), (batch_size, cfg.model.z_dim))
      samples.append(np.clip(np.asarray(decode(state.params, state.extra, z)), 0.0, 1.0))
    return fd_lib.distance(extractor, np.concatenate(samples)[:num_samples], ref)

  def fid(state) -> float:
    """FID of ``fid.num_samples`` decoded N(0, I) samples (batch ``fid.batch_size``) against the
    reference statistics, as the CWAE PyTorch code (10,000 samples, batch 100)."""
    from common import inception

    f = cfg.fid
    if "extractor" not in fid_state:
      fid_state["extractor"] = inception.FeatureExtractor(
        inception.load_variables(f.weights), f.batch_size
      )
      fid_state["ref"] = fid_reference_stats(f, train_src, fid_state["extractor"])
    return frechet(
      state, fid_state["extractor"], fid_state["ref"], f.num_samples, f.batch_size, f.seed
    )

  def fd_classifier(state) -> dict[str, float]:
    """``fd`` (module ``slicedae.fd``): the same path with the project's classifier, against the
    held-out images; ``fd_floor`` is the same distance for real training images (what a perfect
    generator would score at this sample size)."""
    from common import inception
    from slicedae import fd as fd_lib

    f = cfg.fd
    if "fd" not in fid_state:
      ext, acc = fd_lib.build(cfg.data, f, train_src, test_x)
      ref = inception.statistics(ext(test_x))
      floor = fd_lib.distance(ext, _first_images(train_src, f.num_samples), ref)
      fid_state["fd"] = (ext, ref, {"fd_floor": floor, "fd_classifier_accuracy": acc})
    ext, ref, consts = fid_state["fd"]
    return {"fd": frechet(state, ext, ref, f.num_samples, f.batch_size, f.seed), **consts}

  def evaluate(state, step):
    out = _evaluate(state)
    if cfg.fd.enabled:
      out.update(fd_classifier(state))
    f = cfg.fid
    if f.weights and (step >= cfg.total_steps or (f.every and step % f.every == 0)):
      out["fid"] = fid(state)
    return out

  null_cache = {}

  def latent_stats(z, prefix=""):
    var = np.var(z, axis=0)
    return {
      f"{prefix}skewness": float(metrics.mardia_skewness(z)),
      f"{prefix}kurtosis_normalized": float(metrics.mardia_kurtosis(z, normalized=True)),
      f"{prefix}latent_mean_norm": float(np.linalg.norm(z.mean(0))),
      f"{prefix}latent_var_min": float(var.min()),
      f"{prefix}latent_var_max": float(var.max()),
    }

  def _evaluate(state):
    z, x_hat = encode_all(state, test_x)
    rec = float(
      losses.reconstruction_error(jnp.asarray(test_x), jnp.asarray(x_hat), cfg.loss.rec_reduction)
    )
    prior = jax.random.normal(jax.random.fold_in(eval_key, 1), z.shape)
    swae = float(jnp.mean(sliced.wasserstein_sample((z @ eval_dirs.T).T, (prior @ eval_dirs.T).T)))
    out = {"rec_error": rec, "swae_distance": swae, **latent_stats(z)}
    # the latent of as many training images: tells a fit that does not generalize from one that is off
    z_train, _ = encode_all(state, train_probe)
    out.update(latent_stats(z_train, "train_"))
    # the paper's statistics against N(0, I) at the same n and D, and Mardia's tests of normality
    if "null" not in null_cache:
      null_cache["null"] = metrics.mardia_null(len(z), z.shape[1], cfg.null_draws, seed=0)
    null = null_cache["null"]
    p_null = metrics.null_p_values(out["skewness"], out["kurtosis_normalized"], null)
    out.update(
      {
        "null_skewness_mean": float(null["skewness"].mean()),
        "null_skewness_std": float(null["skewness"].std()),
        "null_kurtosis_mean": float(null["kurtosis"].mean()),
        "null_kurtosis_std": float(null["kurtosis"].std()),
        "p_skewness_vs_null": p_null["p_skewness"],
        "p_kurtosis_vs_null": p_null["p_kurtosis"],
      }
    )
    try:
      t = metrics.mardia_test(z)
      out.update({"mardia_p_skewness": t["p_skewness"], "mardia_p_kurtosis": t["p_kurtosis"]})
    except ValueError:  # a collapsed (rank-deficient) latent, e.g. early in training: no test
      pass
    return out

  def figures(state, workdir, step):
    out = os.path.join(workdir, "figures")
    z_dim = cfg.model.z_dim
    samples = np.asarray(
      decode(state.params, state.extra, jax.random.normal(jax.random.PRNGKey(7), (64, z_dim)))
    )
    z, x_hat = encode_all(state, test_x)
    n = 8
    rows = []
    for r in range(4):  # odd rows (1st, 3rd, ...) real test images, even rows their reconstructions
      rows += [test_x[r * n : (r + 1) * n], x_hat[r * n : (r + 1) * n]]
    recon = np.concatenate(rows)
    t = np.linspace(0, 1, 10)[:, None]
    interp = np.concatenate(
      [
        np.asarray(
          decode(state.params, state.extra, jnp.asarray((1 - t) * z[2 * i] + t * z[2 * i + 1]))
        )
        for i in range(6)
      ]
    )
    sq = lambda a: a[..., 0] if a.shape[-1] == 1 else a
    paths = []
    for title, imgs, cols in [
      ("samples", samples, 8),
      ("reconstructions", recon, n),
      ("interpolations", interp, 10),
    ]:
      grid = plotting.image_grid(sq(np.clip(imgs, 0, 1)), cols)
      paths.append(
        plotting.save_panels(
          os.path.join(out, f"{title}_{step:06d}.png"),
          [(f"{name.upper()} {title}, step {step}", grid)],
          ncols=1,
          size=5,
        )
      )
    return paths

  return trainer.Task(
    init=init, loss=loss, train_data=train_data, evaluate=evaluate, figures=figures, fid=fid
  )
