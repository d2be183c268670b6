"""Thresholding from the segmentation lecture: basic global (iterative), Otsu, local, locally
adaptive Otsu; histogram and histogram equalization (the lecture's "Image histogram" review).

All are pure JAX and jit-able. The global thresholds take ``(..., H, W)`` and return one threshold per
image (``(...)``), equal to the per-image result; the maps (local, adaptive Otsu) are ``(..., H, W)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from common import threshold as _thr
from common.metrics import gaussian_kernel1d
from segclassic.morphology import PAD_MODES

__all__ = [
  "threshold_otsu",
  "otsu_variances",
  "threshold_iterative",
  "threshold_local",
  "threshold_adaptive_otsu",
  "threshold_minimum_error",
  "minimum_error_criterion",
  "bayes_threshold",
  "histogram",
  "equalize_hist",
]

histogram = _thr.histogram


def _check(image, name):
  image = jnp.asarray(image)
  if image.ndim < 2:
    raise ValueError(
      f"{name}: expected grayscale images (..., H, W); got shape {image.shape} "
      "(convert colour with skimage.color.rgb2gray)"
    )
  if jnp.issubdtype(image.dtype, jnp.floating) and not isinstance(image, jax.core.Tracer):
    if bool(jnp.any(~jnp.isfinite(image))):
      raise ValueError(f"{name}: the image contains NaN or inf; fill or mask them first")
  return image


def _per_image(fn, x):
  """``fn`` of one (H, W) image, mapped over the leading axes of ``x`` (vmap: one program for the batch)."""
  if x.ndim == 2:
    return fn(x)
  lead = x.shape[:-2]
  out = jax.vmap(fn)(x.reshape((-1,) + x.shape[-2:]))
  return out.reshape(lead + out.shape[1:])


def threshold_otsu(image, nbins: int = 256):
  """Otsu's threshold (``common.threshold.otsu``), equal to ``skimage.filters.threshold_otsu``; one per image."""
  return _per_image(lambda x: _thr.otsu(x, nbins), _check(image, "threshold_otsu"))


def otsu_variances(hist, levels=None) -> dict:
  """The lecture's Otsu table: for each candidate T (background = levels < T, foreground >= T),
  the weights, means and variances of both classes, the within-class variance
  W_b s_b^2 + W_f s_f^2 and the between-class variance W_b W_f (m_b - m_f)^2.

  Args:
    hist: counts per gray level ``(L,)``.
    levels: the gray level of each bin (default 0..L-1).

  Returns:
    dict of ``(L,)`` arrays: T, w_b, m_b, var_b, w_f, m_f, var_f, within, between. An empty class has
    weight, mean and variance 0, as in the lecture's table.
  """
  h = jnp.asarray(hist, jnp.float32)
  v = (
    jnp.arange(h.shape[0], dtype=jnp.float32)
    if levels is None
    else jnp.asarray(levels, jnp.float32)
  )
  n = jnp.sum(h)
  excl = lambda a: jnp.concatenate(
    [jnp.zeros((1,), a.dtype), jnp.cumsum(a)[:-1]]
  )  # sum over levels < T
  nb, sb = excl(h), excl(h * v)
  nf, sf = n - nb, jnp.sum(h * v) - sb
  safe = lambda a: jnp.where(a > 0, a, 1.0)
  m_b, m_f = jnp.where(nb > 0, sb / safe(nb), 0.0), jnp.where(nf > 0, sf / safe(nf), 0.0)
  # variances from centred sums (more accurate than E[x^2] - E[x]^2 in float32)
  lower = jnp.arange(len(v))[None, :] < jnp.arange(len(v))[:, None]  # [T, level]: level < T
  var_b = jnp.sum(jnp.where(lower, h * (v[None, :] - m_b[:, None]) ** 2, 0.0), axis=1) / safe(nb)
  var_f = jnp.sum(jnp.where(~lower, h * (v[None, :] - m_f[:, None]) ** 2, 0.0), axis=1) / safe(nf)
  w_b, w_f = nb / n, nf / n
  return {
    "T": v,
    "w_b": w_b,
    "m_b": m_b,
    "var_b": var_b,
    "w_f": w_f,
    "m_f": m_f,
    "var_f": var_f,
    "within": w_b * var_b + w_f * var_f,
    "between": w_b * w_f * (m_b - m_f) ** 2,
  }


def threshold_iterative(image, tol: float = 0.5, initial=None, max_iter: int = 256):
  """The lecture's basic global thresholding: start at T0 (default: the image mean), split into
  G1 = {f >= T} and G2 = {f < T}, set T = (m1 + m2) / 2, repeat until T moves by less than ``tol``.

  The limit is a fixed point of T = (m1 + m2) / 2, i.e. (within ``tol``) one of the thresholds of
  ``skimage.filters.threshold_isodata(image, return_all=True)``. If a class is empty its mean is
  taken as T itself.
  """
  x = _check(image, "threshold_iterative").astype(jnp.float32)
  if x.ndim > 2:
    return _per_image(lambda im: threshold_iterative(im, tol, initial, max_iter), x)
  t0 = jnp.mean(x) if initial is None else jnp.asarray(initial, jnp.float32)

  def new_t(t):
    hi = x >= t
    n1, n2 = jnp.sum(hi), jnp.sum(~hi)
    m1 = jnp.where(n1 > 0, jnp.sum(jnp.where(hi, x, 0.0)) / jnp.maximum(n1, 1), t)
    m2 = jnp.where(n2 > 0, jnp.sum(jnp.where(hi, 0.0, x)) / jnp.maximum(n2, 1), t)
    return 0.5 * (m1 + m2)

  def cond(c):
    t, prev, i = c
    return (jnp.abs(t - prev) >= tol) & (i < max_iter)

  def body(c):
    t, _, i = c
    return new_t(t), t, i + 1

  return jax.lax.while_loop(cond, body, (new_t(t0), t0, jnp.ones((), jnp.int32)))[0]


def _filter1d(x, kernel, axis, mode, cval):
  r = (kernel.shape[0] - 1) // 2
  pads = [(0, 0)] * x.ndim
  pads[axis] = (r, r)
  if mode == "constant":
    p = jnp.pad(x, pads, constant_values=cval)
  else:
    p = jnp.pad(x, pads, mode=PAD_MODES[mode])
  n = x.shape[axis]
  out = 0.0
  for i in range(kernel.shape[0]):
    out = out + kernel[i] * jax.lax.slice_in_dim(p, i, i + n, axis=axis)
  return out


def threshold_local(
  image,
  block_size: int,
  method: str = "gaussian",
  offset: float = 0.0,
  mode: str = "reflect",
  param=None,
  cval: float = 0.0,
):
  """Local threshold image ``T(x, y) - offset`` (foreground is ``image > T``); equal to
  ``skimage.filters.threshold_local`` for the 'gaussian' (sigma = (block_size - 1) / 6 unless ``param``)
  and 'mean' (block_size box) methods, with scipy's border modes. Works on ``(..., H, W)``."""
  x = jnp.asarray(image)
  if x.ndim < 2:
    raise ValueError(f"threshold_local: expected (..., H, W); got shape {x.shape}")
  if int(block_size) % 2 == 0 or block_size < 1:
    raise ValueError(f"threshold_local: block_size must be odd and positive; got {block_size}")
  if mode not in PAD_MODES:
    raise ValueError(
      f"threshold_local: mode={mode!r} is unknown; use reflect, mirror, nearest, wrap or constant"
    )
  x = x.astype(jnp.float32)
  if method == "gaussian":
    sigma = (block_size - 1) / 6.0 if param is None else float(param)
    k = gaussian_kernel1d(sigma, truncate=4.0) if sigma > 0 else np.ones(1, np.float32)
  elif method == "mean":
    k = np.full(block_size, 1.0 / block_size, np.float32)
  else:
    raise ValueError(
      f"threshold_local: method={method!r} is not supported; use 'gaussian' or 'mean'"
    )
  k = jnp.asarray(k, jnp.float32)
  t = _filter1d(_filter1d(x, k, x.ndim - 2, mode, cval), k, x.ndim - 1, mode, cval)
  return t - offset


def threshold_adaptive_otsu(image, window: int, var_threshold: float, *, global_threshold=None):
  """The lecture's locally adaptive thresholding, returning the foreground mask ``(H, W)`` bool.

  The image is cut into ``window`` x ``window`` tiles (the last row/column of tiles is completed by
  reflection). In a non-uniform tile (intensity variance > ``var_threshold``) pixels are foreground
  when above the tile's own Otsu threshold; a uniform tile is all foreground or all background by
  comparing its mean with the mean Otsu threshold of the non-uniform tiles among its 3x3 tile
  neighbours (so slow shading is followed), or, when it has none, with ``global_threshold`` (default:
  the image's Otsu threshold).
  """
  x = _check(image, "threshold_adaptive_otsu")
  if window < 2:
    raise ValueError(f"threshold_adaptive_otsu: window must be >= 2; got {window}")
  if x.ndim > 2:
    return _per_image(
      lambda im: threshold_adaptive_otsu(
        im, window, var_threshold, global_threshold=global_threshold
      ),
      x,
    )
  h, w = x.shape
  g = threshold_otsu(x) if global_threshold is None else global_threshold
  ph, pw = (-h) % window, (-w) % window
  xp = jnp.pad(x, ((0, ph), (0, pw)), mode="symmetric")
  nh, nw = xp.shape[0] // window, xp.shape[1] // window
  tiles = xp.reshape(nh, window, nw, window).transpose(0, 2, 1, 3).reshape(nh * nw, window, window)
  tf = tiles.astype(jnp.float32)
  var = jnp.var(tf, axis=(1, 2))
  t_local = jax.vmap(_thr.otsu)(tiles).astype(jnp.float32)
  busy = var > var_threshold
  # reference level for a uniform tile: the mean Otsu threshold of the non-uniform tiles among its 3x3
  # tile neighbours (this follows slow shading), else the global threshold
  grid_t = jnp.where(busy, t_local, 0.0).reshape(nh, nw)
  grid_n = busy.astype(jnp.float32).reshape(nh, nw)
  box = lambda a: sum(jnp.pad(a, 1)[i : i + nh, j : j + nw] for i in range(3) for j in range(3))
  s_t, s_n = box(grid_t).reshape(-1), box(grid_n).reshape(-1)
  ref = jnp.where(s_n > 0, s_t / jnp.maximum(s_n, 1.0), jnp.asarray(g, jnp.float32))
  uniform_fg = jnp.mean(tf, axis=(1, 2)) > ref
  fg = jnp.where(busy[:, None, None], tf > t_local[:, None, None], uniform_fg[:, None, None])
  fg = fg.reshape(nh, nw, window, window).transpose(0, 2, 1, 3).reshape(nh * window, nw * window)
  return fg[:h, :w]


def minimum_error_criterion(counts, centers):
  """Kittler & Illingworth's criterion for every split of a histogram (the lecture's "Bayes decision"
  with Gaussian class pdfs fitted to each side):

    J(T) = 1 + 2 [P1 ln s1 + P2 ln s2] - 2 [P1 ln P1 + P2 ln P2],

  class 1 the bins with centre <= T, class 2 the rest; P the class weights, s the standard deviations.
  Splits where a class holds fewer than two distinct levels (no spread) are +inf. Returns ``(L,)``, indexed like ``centers``.
  """
  h = jnp.asarray(counts, jnp.float32)
  v = jnp.asarray(centers, jnp.float32)
  n = jnp.sum(h)
  v0 = v - jnp.sum(h * v) / n  # about the global mean: small magnitudes for the cumulative sums
  n1, s1 = jnp.cumsum(h), jnp.cumsum(h * v0)
  n2, s2 = n - n1, s1[-1] - s1
  safe = lambda a: jnp.where(a > 0, a, 1.0)
  m1, m2 = s1 / safe(n1), s2 / safe(n2)
  # variances from centred sums over an [T, level] mask (E[x^2] - E[x]^2 from running sums loses ~1e-4 of
  # the criterion in float32 on a 512x512 image, enough to pick the wrong one of two near-equal minima)
  lower = jnp.arange(v.shape[0])[None, :] <= jnp.arange(v.shape[0])[:, None]
  var1 = jnp.sum(jnp.where(lower, h * (v0[None, :] - m1[:, None]) ** 2, 0.0), axis=1) / safe(n1)
  var2 = jnp.sum(jnp.where(lower, 0.0, h * (v0[None, :] - m2[:, None]) ** 2), axis=1) / safe(n2)
  p1, p2 = n1 / n, n2 / n
  # a class needs two distinct occupied levels to have a spread: exact, where a computed variance of a
  # single-valued class is rounding noise (log of ~1e-10 would win the argmin)
  occ1 = jnp.cumsum((h > 0).astype(jnp.int32))
  occ2 = occ1[-1] - occ1
  ok = (occ1 >= 2) & (occ2 >= 2) & (var1 > 0) & (var2 > 0)
  j = (
    1.0
    + (p1 * jnp.log(safe(var1)) + p2 * jnp.log(safe(var2)))
    - 2.0 * (p1 * jnp.log(safe(p1)) + p2 * jnp.log(safe(p2)))
  )  # 2 ln s = ln var
  return jnp.where(ok, j, jnp.inf)


def threshold_minimum_error(image, nbins: int = 256):
  """Kittler-Illingworth minimum-error threshold: the bin centre T minimizing
  :func:`minimum_error_criterion` on the image histogram (``common.threshold.histogram``: one bin per
  value for integer images). Foreground is ``image > T``. One threshold per image of ``(..., H, W)``;
  an image with no valid split (constant, or one class without spread) returns its minimum."""

  def one(x):
    counts, centers = _thr.histogram(x, nbins)
    j = minimum_error_criterion(counts, centers)
    t = centers[jnp.argmin(j)]
    return jnp.where(jnp.isfinite(jnp.min(j)), t, centers[0]).astype(centers.dtype)

  return _per_image(one, _check(image, "threshold_minimum_error"))


def bayes_threshold(mean1, std1, prior1, mean2, std2, prior2):
  """The Bayes decision threshold between two Gaussian classes: where the weighted pdfs
  ``prior1 N(x; mean1, std1)`` and ``prior2 N(x; mean2, std2)`` cross between the means.

  Solves ``a x^2 + b x + c = 0`` with ``a = 1/(2 s2^2) - 1/(2 s1^2)``, ``b = m1/s1^2 - m2/s2^2``,
  ``c = m2^2/(2 s2^2) - m1^2/(2 s1^2) + ln(p1 s2 / (p2 s1))`` (the log of the ratio of the two
  weighted pdfs); with equal spreads the single root ``-c / b``. Of two roots the one between the
  means is returned (the other lies in a tail); if neither is, the one nearer the midpoint.
  """
  m1, s1, p1, m2, s2, p2 = (
    jnp.asarray(v, jnp.float32) for v in (mean1, std1, prior1, mean2, std2, prior2)
  )
  a = 0.5 / s2**2 - 0.5 / s1**2
  b = m1 / s1**2 - m2 / s2**2
  c = 0.5 * m2**2 / s2**2 - 0.5 * m1**2 / s1**2 + jnp.log(p1 * s2 / (p2 * s1))
  linear = jnp.abs(a) < 1e-12 * (jnp.abs(b) + 1e-30)
  disc = jnp.sqrt(jnp.maximum(b * b - 4.0 * a * c, 0.0))
  safe_a = jnp.where(linear, 1.0, a)
  r1, r2 = (-b + disc) / (2.0 * safe_a), (-b - disc) / (2.0 * safe_a)
  lo, hi = jnp.minimum(m1, m2), jnp.maximum(m1, m2)
  inside1, inside2 = (r1 >= lo) & (r1 <= hi), (r2 >= lo) & (r2 <= hi)
  mid = 0.5 * (m1 + m2)
  nearer = jnp.where(jnp.abs(r1 - mid) <= jnp.abs(r2 - mid), r1, r2)
  quad = jnp.where(inside1 & ~inside2, r1, jnp.where(inside2 & ~inside1, r2, nearer))
  return jnp.where(linear, -c / jnp.where(b == 0, 1.0, b), quad)


def equalize_hist(image, nbins: int = 256):
  """Histogram equalization, equal to ``skimage.exposure.equalize_hist`` (float32 in [0, 1])."""
  x = jnp.asarray(image)
  counts, centers = histogram(x, nbins)
  cdf = jnp.cumsum(counts)
  cdf = cdf / cdf[-1]
  if jnp.issubdtype(
    x.dtype, jnp.integer
  ):  # every value sits on a bin centre: interpolation is a lookup
    return cdf[x.astype(jnp.int32) - centers[0]]
  out = jnp.interp(x.reshape(-1).astype(jnp.float32), centers.astype(jnp.float32), cdf)
  return out.reshape(x.shape)
