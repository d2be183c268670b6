"""One-dimensional distances to N(0, 1) and their sliced versions.

Source: Knop et al., "Sliced generative models" (shared/seeds/sliced_generative_models_paper.txt),
section 4, used through eq. (3): d(P_E(X), P_Z) = 1/k sum_i d_S(v_i^T X, N(0, 1)).

Every distance takes a sample ``y`` of shape ``(..., n)`` and reduces the last axis; leading axes are
batch axes. All are pure, differentiable and jit-able. n is static (the last axis length).

Two slips in the paper are corrected here (the math is followed, not the printed line):
  * SCvMAE, eq. (4): the last line prints ``+ 1/n^2 sum z_(i)(2i - 1)``; integrating
    -2 sum z_(i) int_{(i-1)/n}^{i/n} t dt gives ``- 1/n^2 sum z_(i)(2i - 1)``. With the minus sign the
    value equals the Cramer-von Mises statistic divided by n (what the text claims it coincides with).
  * SKSAE: the paper prints ``max_i |i/n - Phi(y_(i))|``; the supremum of |F_n - Phi| also has to look
    just below each jump, ``Phi(y_(i)) - (i-1)/n``. The full form equals ``scipy.stats.kstest``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr, ndtri

__all__ = [
  "wasserstein_sample",
  "wasserstein_closed_form",
  "cramer_wold",
  "cramer_von_mises",
  "kolmogorov_smirnov",
  "silverman_gamma",
  "random_directions",
  "sliced",
  "DISTANCES",
]

_SQRT_2_OVER_PI = 0.7978845608028654


def _sorted(y: jax.Array) -> jax.Array:
  y = jnp.asarray(y)
  if y.ndim == 0:
    raise ValueError("sample must have at least one axis (..., n); got a scalar")
  if not jnp.issubdtype(y.dtype, jnp.floating):
    y = y.astype(jnp.float32)
  return jnp.sort(y, axis=-1)


def wasserstein_sample(y: jax.Array, z: jax.Array) -> jax.Array:
  """Squared W2 between two equal-size 1-D samples (SWAE, section 4): 1/n sum (y_(i) - z_(i))^2.

  Args:
    y: ``(..., n)`` sample.
    z: ``(..., n)`` sample, e.g. drawn from N(0, 1) (broadcast against ``y``).
  """
  ys, zs = _sorted(y), _sorted(z)
  if ys.shape[-1] != zs.shape[-1]:
    raise ValueError(
      f"wasserstein_sample needs equal sample sizes; got {ys.shape[-1]} and {zs.shape[-1]}"
    )
  return jnp.mean((ys - zs) ** 2, axis=-1)


def wasserstein_closed_form(y: jax.Array) -> jax.Array:
  """Squared W2 between the empirical law of ``y`` and N(0, 1) (SCFWAE, section 4).

  d = 1 + 1/n sum y_(i)^2 + sqrt(2/pi) sum y_(i) (exp(-Q_{i/n}^2 / 2) - exp(-Q_{(i-1)/n}^2 / 2)),
  with Q_r the r-quantile of N(0, 1) (Q_0 = -inf, Q_1 = +inf, where the exponentials are 0).
  """
  ys = _sorted(y)
  n = ys.shape[-1]
  q = ndtri(jnp.arange(1, n, dtype=ys.dtype) / n)  # interior quantiles Q_{i/n}, i=1..n-1
  e = jnp.exp(-0.5 * q**2)
  zero = jnp.zeros((1,), ys.dtype)
  e_hi = jnp.concatenate([e, zero])  # exp(-Q_{i/n}^2/2), i = 1..n
  e_lo = jnp.concatenate([zero, e])  # exp(-Q_{(i-1)/n}^2/2)
  return 1.0 + jnp.mean(ys**2, axis=-1) + _SQRT_2_OVER_PI * jnp.sum(ys * (e_hi - e_lo), axis=-1)


def silverman_gamma(n: int) -> float:
  """Silverman's rule of thumb for the kernel variance: gamma = (4 / (3 n))^(2/5)."""
  return (4.0 / (3.0 * n)) ** 0.4


def _normal_pdf0(mean: jax.Array, var) -> jax.Array:
  """Density of N(mean, var) at 0."""
  return jnp.exp(-0.5 * mean**2 / var) / jnp.sqrt(2.0 * jnp.pi * var)


def cramer_wold(y: jax.Array, gamma: float | None = None) -> jax.Array:
  """Squared 1-D Cramer-Wold distance between ``y`` and N(0, 1) (SCWAE, section 4).

  Both laws are smoothed with N(0, gamma) and compared in L2:
  d = 1/n^2 sum_{i,j} p_{y_i - y_j, 2 gamma}(0) + p_{0, 2 + 2 gamma}(0) - 2/n sum_i p_{y_i, 1 + 2 gamma}(0),
  with p_{m, s} the density of N(m, s) (s a variance) and gamma = (4/(3n))^(2/5) unless given.
  """
  y = jnp.asarray(y)
  y = y.astype(jnp.float32) if not jnp.issubdtype(y.dtype, jnp.floating) else y
  n = y.shape[-1]
  g = silverman_gamma(n) if gamma is None else gamma
  diff = y[..., :, None] - y[..., None, :]
  pair = jnp.mean(_normal_pdf0(diff, 2.0 * g), axis=(-2, -1))
  cross = jnp.mean(_normal_pdf0(y, 1.0 + 2.0 * g), axis=-1)
  return pair + _normal_pdf0(jnp.zeros((), y.dtype), 2.0 + 2.0 * g) - 2.0 * cross


def cramer_von_mises(y: jax.Array) -> jax.Array:
  """Cramer-von Mises distance to N(0, 1) (SCvMAE, eq. 4, sign of the last line corrected).

  d = 1/n sum z_(i)^2 - 1/n^2 sum z_(i)(2i - 1) + 1/3, with z_(i) = Phi(y_(i));
  equal to ``scipy.stats.cramervonmises(y, 'norm').statistic / n``.
  """
  z = ndtr(_sorted(y))
  n = z.shape[-1]
  odd = jnp.arange(1, 2 * n, 2, dtype=z.dtype)
  return jnp.mean(z**2, axis=-1) - jnp.sum(z * odd, axis=-1) / n**2 + 1.0 / 3.0


def kolmogorov_smirnov(y: jax.Array) -> jax.Array:
  """Kolmogorov-Smirnov distance sup |F_n - Phi| (SKSAE, section 4, with the lower-jump term).

  d = max_i max(i/n - Phi(y_(i)), Phi(y_(i)) - (i-1)/n); equal to ``scipy.stats.kstest(y, 'norm')``.
  Non-smooth: its gradient reaches one sample per slice.
  """
  z = ndtr(_sorted(y))
  n = z.shape[-1]
  i = jnp.arange(1, n + 1, dtype=z.dtype)
  return jnp.maximum(jnp.max(i / n - z, axis=-1), jnp.max(z - (i - 1) / n, axis=-1))


def random_directions(key: jax.Array, k: int, d: int, dtype=jnp.float32) -> jax.Array:
  """k directions drawn uniformly on the unit sphere of R^d: ``(k, d)``."""
  v = jax.random.normal(key, (k, d), dtype)
  return v / jnp.linalg.norm(v, axis=-1, keepdims=True)


def sliced(
  distance_fn: Callable[[jax.Array], jax.Array], z: jax.Array, directions: jax.Array
) -> jax.Array:
  """Eq. (3): the mean over the k directions v of ``distance_fn(z @ v)``.

  Args:
    distance_fn: a 1-D distance taking ``(..., n)`` (use ``functools.partial`` for extra arguments,
      e.g. the prior sample of ``wasserstein_sample``).
    z: ``(..., n, D)`` latent codes.
    directions: ``(k, D)`` unit vectors.

  Returns:
    ``(...)`` the sliced distance.
  """
  proj_KxN = jnp.einsum("...nd,kd->...kn", z, directions)
  return jnp.mean(distance_fn(proj_KxN), axis=-1)


DISTANCES = {
  "swae": wasserstein_sample,
  "scfwae": wasserstein_closed_form,
  "scwae": cramer_wold,
  "scvmae": cramer_von_mises,
  "sksae": kolmogorov_smirnov,
}
