"""Costs of the sliced generative autoencoders (shared/seeds/sliced_generative_models_paper.txt).

cost = RecError + log(d(P_E(X), N(0, I)))        (eq. 2, the default)
cost = RecError + lambda * d(P_E(X), N(0, I))    (eq. 1, ``cost="linear"``)
with d the sliced distance of eq. (3) over k random unit directions (``common.sliced``), or the
multivariate Cramer-Wold distance of CWAE as a reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common import sliced

__all__ = ["MODELS", "reconstruction_error", "cramer_wold_multivariate", "normality_index", "cost"]

MODELS = ("swae", "scfwae", "scwae", "scvmae", "sksae", "cwae", "ae")


def reconstruction_error(x, x_hat, reduction: str = "sum"):
  """Squared error per image, summed over pixels (``"sum"``, as the CWAE reference code and the
  paper's MSE(X) = 1/n sum ||x_i - D(E x_i)||^2) or averaged (``"mean"``), then averaged over the batch."""
  se = jnp.square(x - x_hat).reshape(x.shape[0], -1)
  if reduction == "sum":
    return jnp.mean(jnp.sum(se, axis=1))
  if reduction == "mean":
    return jnp.mean(se)
  raise ValueError(f"rec_reduction={reduction!r} is unknown; use 'sum' or 'mean'")


def cramer_wold_multivariate(z, gamma=None):
  """CWAE's closed-form Cramer-Wold distance of ``(n, D)`` codes to N(0, I) (Tabor et al. 2018; the
  D >= 2 asymptotic form of the reference code): 1/sqrt(1 + g) + 1/n^2 sum_ij (g + K|zi - zj|^2)^-1/2
  - 2/n sum_i (g + 1/2 + K|zi|^2)^-1/2 with K = 1/(2D - 3), g = (4/(3n))^(2/5)."""
  n, d = z.shape
  if d < 2:
    raise ValueError(
      "cramer_wold_multivariate needs a latent dimension >= 2; use common.sliced.cramer_wold in 1-D"
    )
  g = sliced.silverman_gamma(n) if gamma is None else gamma
  k = 1.0 / (2.0 * d - 3.0)
  sq = jnp.sum(z * z, axis=1)
  dist2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
  return (
    1.0 / jnp.sqrt(1.0 + g)
    + jnp.mean(1.0 / jnp.sqrt(g + k * dist2))
    - 2.0 * jnp.mean(1.0 / jnp.sqrt(g + 0.5 + k * sq))
  )


def normality_index(z, key, model: str, num_projections: int):
  """d(P_E(X), N(0, I)) for ``model``: eq. (3) with ``num_projections`` fresh directions (and, for SWAE,
  a fresh N(0, I) sample of the batch size), or CWAE's multivariate distance."""
  if model == "ae":
    return jnp.zeros((), z.dtype)
  if model == "cwae":
    return cramer_wold_multivariate(z)
  k_dir, k_prior = jax.random.split(key)
  v = sliced.random_directions(k_dir, num_projections, z.shape[-1], z.dtype)
  if model == "swae":
    prior = jax.random.normal(k_prior, z.shape, z.dtype)
    return jnp.mean(sliced.wasserstein_sample((z @ v.T).T, (prior @ v.T).T))
  if model not in sliced.DISTANCES:
    raise ValueError(f"model={model!r} is unknown; use one of {', '.join(MODELS)}")
  return sliced.sliced(sliced.DISTANCES[model], z, v)


def cost(rec, distance, kind: str = "log", lam: float = 1.0, log_eps: float = 0.0):
  """Eq. (2) ``rec + log(distance + log_eps)`` or eq. (1) ``rec + lam * distance``.

  In the log form a factor on the distance only adds a constant, so the gradient does not depend on
  it (the paper's argument for dropping the lambda grid search). ``log_eps`` (the PyTorch CWAE code
  adds 1e-7) defaults to 0 as in the paper.
  """
  if kind == "log":
    return rec + jnp.log(distance + log_eps)
  if kind == "linear":
    return rec + lam * distance
  raise ValueError(f"cost={kind!r} is unknown; use 'log' (eq. 2) or 'linear' (eq. 1)")
