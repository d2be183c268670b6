"""Segmentation as clustering (lecture, "K-Means clustering"): pixels as points in colour (3-D) or
colour + position (5-D) space and Lloyd iterations, all in JAX.

Two initialisations: ``"kmeans++"`` (default; several starts, the best inertia kept, stopping when the
centres move less than a tolerance, as scikit-learn) and ``"random"``, the lecture's algorithm: K
distinct points drawn at random as the centres, then (2) assign each point to its closest centre,
(3) move each centre to the mean of its points, (4) repeat while any centre changed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["kmeans", "kmeans_features", "kmeans_segment", "lloyd_step"]


def _sq_dists(x, c):
  return jnp.maximum(jnp.sum(x * x, 1)[:, None] - 2.0 * x @ c.T + jnp.sum(c * c, 1)[None, :], 0.0)


def _kmeanspp(key, x, k):
  n = x.shape[0]
  k0, key = jax.random.split(key)
  first = x[jax.random.randint(k0, (), 0, n)]
  centers = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(first)
  d2 = jnp.sum((x - first) ** 2, axis=1)
  for i in range(1, k):
    key, sub = jax.random.split(key)
    # D^2 sampling; if every point sits on a centre already, fall back to uniform
    total = jnp.sum(d2)
    p = jnp.where(total > 0, d2 / jnp.where(total > 0, total, 1.0), 1.0 / n)
    c = x[jax.random.choice(sub, n, p=p)]
    centers = centers.at[i].set(c)
    d2 = jnp.minimum(d2, jnp.sum((x - c) ** 2, axis=1))
  return centers


def _random_init(key, x, k):
  """The lecture's step 1: K distinct data points chosen uniformly at random."""
  return x[jax.random.choice(key, x.shape[0], (k,), replace=False)]


def lloyd_step(x, c):
  """Steps 2-3 of the lecture: assign each point to its closest centre, move each centre to the mean
  of its points (a centre that gets no point stays where it is)."""
  k = c.shape[0]
  labels = jnp.argmin(_sq_dists(x, c), axis=1)
  sums = jax.ops.segment_sum(x, labels, k)
  counts = jax.ops.segment_sum(jnp.ones(x.shape[0], x.dtype), labels, k)
  return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], c)


def _lloyd(x, centers, max_iter, tol):
  # tol < 0: the lecture's rule, repeat while any centre changed at all
  def cond(s):
    c, shift, changed, i = s
    return jnp.where(tol < 0, changed, shift > tol) & (i < max_iter)

  def body(s):
    c, _, _, i = s
    new = lloyd_step(x, c)
    return new, jnp.sum((new - c) ** 2), jnp.any(new != c), i + 1

  c, _, _, _ = jax.lax.while_loop(cond, body, (centers, jnp.inf, jnp.array(True), 0))
  d = _sq_dists(x, c)
  labels = jnp.argmin(d, axis=1)
  return labels, c, jnp.sum(jnp.min(d, axis=1))


def kmeans(
  x, k: int, key, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-4, init: str = "kmeans++"
):
  """k-means on ``(N, F)`` points: ``n_init`` starts run in parallel (vmap), best inertia kept.

  ``init="kmeans++"``: k-means++ seeding, stopping when the centres move less than ``tol`` (relative to
  the mean per-feature variance, as scikit-learn). ``init="random"``: the lecture's random centres and
  its stopping rule (no centre changed; ``tol`` is not used), ``max_iter`` only as a guard. Returns
  ``(labels (N,), centers (k, F), inertia)``.
  """
  x = jnp.asarray(x, jnp.float32)
  if x.ndim != 2:
    raise ValueError(f"kmeans: expected points (N, F); got shape {x.shape}")
  if not 1 <= k <= x.shape[0]:
    raise ValueError(f"kmeans: k={k} must be between 1 and the number of points {x.shape[0]}")
  if init not in ("kmeans++", "random"):
    raise ValueError(f"kmeans: init={init!r} is unknown; use 'kmeans++' or 'random'")
  seed = _kmeanspp if init == "kmeans++" else _random_init
  abs_tol = tol * jnp.mean(jnp.var(x, axis=0)) if init == "kmeans++" else -1.0
  keys = jax.random.split(key, n_init)
  labels, centers, inertia = jax.vmap(lambda kk: _lloyd(x, seed(kk, x, k), max_iter, abs_tol))(keys)
  best = jnp.argmin(inertia)
  return labels[best], centers[best], inertia[best]


def kmeans_features(image, features: str = "color", position_weight: float = 1.0):
  """Per-pixel features ``(H*W, F)``: the colour (integer images scaled to [0, 1]) and, for
  ``'color+position'``, ``position_weight * (row / (H-1), col / (W-1))``."""
  img = jnp.asarray(image)
  if img.ndim not in (2, 3):
    raise ValueError(f"kmeans_segment: expected (H, W) or (H, W, C); got shape {img.shape}")
  if jnp.issubdtype(img.dtype, jnp.integer):
    img = img.astype(jnp.float32) / float(jnp.iinfo(img.dtype).max)
  img = img.astype(jnp.float32)
  if img.ndim == 2:
    img = img[..., None]
  h, w, c = img.shape
  feats = [img.reshape(h * w, c)]
  if features == "color+position":
    yy, xx = jnp.meshgrid(jnp.linspace(0.0, 1.0, h), jnp.linspace(0.0, 1.0, w), indexing="ij")
    feats.append(position_weight * jnp.stack([yy.reshape(-1), xx.reshape(-1)], axis=1))
  elif features != "color":
    raise ValueError(
      f"kmeans_segment: features={features!r} is unknown; use 'color' or 'color+position'"
    )
  return jnp.concatenate(feats, axis=1)


def kmeans_segment(
  image,
  k: int,
  *,
  features: str = "color",
  position_weight: float = 1.0,
  n_init: int = 4,
  max_iter: int = 100,
  key=None,
  init: str = "kmeans++",
):
  """Segments an image into ``k`` clusters. Returns ``(labels (H, W) int32, centers (k, F))``.
  ``init="random"`` is the lecture's k-means (see the module docstring)."""
  key = jax.random.PRNGKey(0) if key is None else key
  x = kmeans_features(image, features, position_weight)
  labels, centers, _ = kmeans(x, k, key, n_init=n_init, max_iter=max_iter, init=init)
  return labels.reshape(jnp.asarray(image).shape[:2]).astype(jnp.int32), centers
