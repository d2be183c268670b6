"""Otsu's threshold, shared by segclassic and by pgdips' tissue masks.

Otsu (1979): choose the histogram split that maximizes the between-class variance
w1 w2 (m1 - m2)^2 (segmentation lecture, "Otsu's method").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from common import runtime

__all__ = ["histogram", "otsu", "otsu_from_histogram"]

_INT_BINS = {
  np.dtype(np.uint8): (0, 256),
  np.dtype(np.int8): (-128, 256),
  np.dtype(np.uint16): (0, 65536),
  np.dtype(np.int16): (-32768, 65536),
}


def _np_bincount(idx, length, offset=0):
  idx = np.asarray(idx)
  rows = idx.reshape(-1, idx.shape[-1])
  out = np.stack(
    [np.bincount(r.astype(np.intp) - offset if offset else r, minlength=length) for r in rows]
  )
  return out.reshape(idx.shape[:-1] + (length,)).astype(np.int32)


def _bincount(idx, length: int, offset: int = 0):
  """``jnp.bincount(idx - offset, length)`` of a 1-D integer array (batched under vmap).

  XLA's scatter-add is fast on GPU/TPU but serial on CPU (about 4x slower than ``numpy.bincount``
  there), so on the CPU backend the counting is a host callback on the raw (e.g. uint8) values;
  elsewhere it stays on the device.
  """
  if not runtime.host_bincount():
    return jnp.bincount(idx.astype(jnp.int32) - offset, length=length)
  out = jax.ShapeDtypeStruct(idx.shape[:-1] + (length,), jnp.int32)
  fn = functools.partial(_np_bincount, length=length, offset=offset)
  return jax.pure_callback(fn, out, idx, vmap_method="expand_dims")


def histogram(image: jax.Array, nbins: int = 256) -> tuple[jax.Array, jax.Array]:
  """Histogram of a whole image, as ``skimage.exposure.histogram(image, nbins)`` up to empty end bins.

  Integer images (8- and 16-bit): one bin per value of the dtype's full range (skimage trims the range
  to [min, max]; the extra bins are empty, so they change nothing downstream). Float images: ``nbins``
  uniform bins over [min, max], binned exactly like ``numpy.histogram`` (float32 arithmetic).

  Returns:
    ``(counts float32 (B,), bin_centers (B,))``.
  """
  image = jnp.asarray(image)
  flat = image.reshape(-1)
  if jnp.issubdtype(image.dtype, jnp.integer):
    if np.dtype(image.dtype) not in _INT_BINS:
      raise ValueError(
        f"histogram: integer images must be 8- or 16-bit, got {image.dtype}; "
        "convert to float32 (values are then binned into nbins bins)"
      )
    lo, n = _INT_BINS[np.dtype(image.dtype)]
    counts = _bincount(flat, n, lo).astype(jnp.float32)
    return counts, jnp.arange(lo, lo + n, dtype=jnp.int32)
  x = flat.astype(jnp.float32) if image.dtype != jnp.float32 else flat
  mn, mx = jnp.min(x), jnp.max(x)
  same = mx == mn
  # numpy widens an empty range by 0.5 each side
  mn, mx = jnp.where(same, mn - 0.5, mn), jnp.where(same, mx + 0.5, mx)
  delta = mx - mn
  edges = jnp.arange(nbins + 1, dtype=jnp.float32) * (delta / nbins) + mn
  edges = edges.at[-1].set(mx)
  idx = (((x - mn) / delta) * nbins).astype(jnp.int32)
  idx = jnp.where(idx == nbins, nbins - 1, idx)
  idx = jnp.where(x < edges[idx], idx - 1, idx)
  idx = jnp.where((x >= edges[idx + 1]) & (idx != nbins - 1), idx + 1, idx)
  counts = _bincount(idx, nbins).astype(jnp.float32)
  return counts, (edges[:-1] + edges[1:]) / 2.0


def otsu_from_histogram(counts: jax.Array, bin_centers: jax.Array) -> jax.Array:
  """Otsu's threshold from a histogram: the bin center maximizing w1 w2 (m1 - m2)^2.

  Candidates where one class is empty score 0 (skimage trims empty end bins instead; the result is
  the same). Ties go to the first candidate, like ``numpy.argmax``.
  """
  counts = counts.astype(jnp.float32)
  centers = bin_centers.astype(jnp.float32)
  w1 = jnp.cumsum(counts)
  w2 = jnp.cumsum(counts[::-1])[::-1]
  s1 = jnp.cumsum(counts * centers)
  s2 = jnp.cumsum((counts * centers)[::-1])[::-1]
  m1 = s1 / jnp.where(w1 > 0, w1, 1.0)
  m2 = s2 / jnp.where(w2 > 0, w2, 1.0)
  var12 = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
  var12 = jnp.where((w1[:-1] > 0) & (w2[1:] > 0), var12, -1.0)
  return bin_centers[jnp.argmax(var12)]


def otsu(image: jax.Array, nbins: int = 256) -> jax.Array:
  """Otsu's threshold of a whole image, equal to ``skimage.filters.threshold_otsu``.

  Foreground is ``image > threshold``. A constant image returns its value. Integer images use one bin
  per integer (``nbins`` is then ignored), float images ``nbins`` bins over [min, max]. Use ``jax.vmap``
  for a batch. The result has the image's dtype for integer images, float32 otherwise.
  """
  image = jnp.asarray(image)
  if image.size == 0:
    raise ValueError("otsu: the image is empty")
  counts, centers = histogram(image, nbins)
  t = otsu_from_histogram(counts, centers)
  first = image.reshape(-1)[0]
  out_dtype = image.dtype if jnp.issubdtype(image.dtype, jnp.integer) else jnp.float32
  # constant image <=> one non-empty bin (a non-constant float image fills the first and last bins);
  # read off the histogram, this saves a pass over the pixels
  constant = jnp.sum(counts > 0) == 1
  return jnp.where(constant, first.astype(out_dtype), t.astype(out_dtype))
