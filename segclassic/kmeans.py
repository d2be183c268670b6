"""Segmentation as clustering (lecture, "K-Means clustering"): pixels as points in colour (3-D) or
colour + position (5-D) space, k-means++ initialisation and Lloyd iterations, all in JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["kmeans", "kmeans_features", "kmeans_segment"]


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


def _lloyd(x, centers, max_iter, tol):
  k = centers.shape[0]

  def step(c):
    labels = jnp.argmin(_sq_dists(x, c), axis=1)
    sums = jax.ops.segment_sum(x, labels, k)
    counts = jax.ops.segment_sum(jnp.ones(x.shape[0], x.dtype), labels, k)
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], c)  # empty: keep

  def cond(s):
    c, shift, i = s
    return (shift > tol) & (i < max_iter)

  def body(s):
    c, _, i = s
    new = step(c)
    return new, jnp.sum((new - c) ** 2), i + 1

  c, _, _ = jax.lax.while_loop(cond, body, (centers, jnp.inf, 0))
  d = _sq_dists(x, c)
  labels = jnp.argmin(d, axis=1)
  return labels, c, jnp.sum(jnp.min(d, axis=1))


def kmeans(x, k: int, key, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-4):
  """k-means on ``(N, F)`` points: ``n_init`` k-means++ starts run in parallel (vmap), best inertia kept.

  ``tol`` is relative to the mean per-feature variance (as scikit-learn). Returns
  ``(labels (N,), centers (k, F), inertia)``.
  """
  x = jnp.asarray(x, jnp.float32)
  if x.ndim != 2:
    raise ValueError(f"kmeans: expected points (N, F); got shape {x.shape}")
  if not 1 <= k <= x.shape[0]:
    raise ValueError(f"kmeans: k={k} must be between 1 and the number of points {x.shape[0]}")
  abs_tol = tol * jnp.mean(jnp.var(x, axis=0))
  keys = jax.random.split(key, n_init)
  labels, centers, inertia = jax.vmap(lambda kk: _lloyd(x, _kmeanspp(kk, x, k), max_iter, abs_tol))(keys)
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
    raise ValueError(f"kmeans_segment: features={features!r} is unknown; use 'color' or 'color+position'")
  return jnp.concatenate(feats, axis=1)


def kmeans_segment(image, k: int, *, features: str = "color", position_weight: float = 1.0,
                   n_init: int = 4, max_iter: int = 100, key=None):
  """Segments an image into ``k`` clusters. Returns ``(labels (H, W) int32, centers (k, F))``."""
  key = jax.random.PRNGKey(0) if key is None else key
  x = kmeans_features(image, features, position_weight)
  labels, centers, _ = kmeans(x, k, key, n_init=n_init, max_iter=max_iter)
  return labels.reshape(jnp.asarray(image).shape[:2]).astype(jnp.int32), centers
