"""Binary and grayscale morphology, hit-or-miss, thinning and thickening (segmentation lecture,
"Shape detection: hit-and-miss", "Difference between Erosion and Thinning").

Pure JAX on ``(..., H, W)`` batches; the footprint is a static (numpy) boolean array, unrolled at trace
time into shifted slices of one padded array, so a call is a handful of fused elementwise kernels with
static shapes on any device. Conventions follow ``scipy.ndimage`` exactly:

* the footprint's centre is ``size // 2`` along each axis (for even sizes, the lower-right middle);
* erosion: ``out[i] = AND/min over footprint j of in[i + j - centre]``;
* dilation uses the mirrored footprint with the centre moved back one pixel along even axes, which
  makes dilation the exact adjoint of erosion (as in scipy; skimage's even footprints differ by one
  pixel, skimage PR #7665);
* boolean images are binary: pixels outside the image are ``border_value`` (scipy's default 0, so
  erosion eats in from the edge); other dtypes are grayscale with scipy's ``mode`` border extension
  (default ``'reflect'``: ``dcba|abcd|dcba``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "erosion",
  "dilation",
  "opening",
  "closing",
  "hit_or_miss",
  "thin",
  "thicken",
  "binary_erosion",
  "binary_dilation",
  "binary_opening",
  "binary_closing",
  "cross",
  "square",
  "disk",
  "THIN_LUTS",
  "LECTURE_PAIRS",
  "lecture_pairs",
]

# scipy.ndimage border mode -> numpy/jnp.pad mode (shared with segclassic.thresholds)
PAD_MODES = {
  "reflect": "symmetric",
  "mirror": "reflect",
  "nearest": "edge",
  "wrap": "wrap",
  "constant": "constant",
}


def cross() -> np.ndarray:
  """The 3x3 cross, scipy's default structuring element."""
  return np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def square(n: int) -> np.ndarray:
  return np.ones((n, n), bool)


def disk(r: int) -> np.ndarray:
  y, x = np.mgrid[-r : r + 1, -r : r + 1]
  return (x * x + y * y) <= r * r


def _footprint(fp) -> np.ndarray:
  if fp is None:
    return cross()
  if isinstance(fp, jax.core.Tracer):
    raise TypeError("footprint must be a concrete (numpy) array: it fixes the program's shape")
  fp = np.asarray(fp).astype(bool)
  if fp.ndim != 2 or fp.size == 0:
    raise ValueError(f"footprint must be a non-empty 2-D array; got shape {fp.shape}")
  if not fp.any():
    raise ValueError("footprint has no True element")
  return fp


def _check_image(image, name: str) -> jax.Array:
  image = jnp.asarray(image)
  if image.ndim < 2:
    raise ValueError(f"{name}: expected an image (..., H, W); got shape {image.shape}")
  if jnp.issubdtype(image.dtype, jnp.floating) and not isinstance(image, jax.core.Tracer):
    if bool(jnp.any(jnp.isnan(image))):
      raise ValueError(f"{name}: the image contains NaN; fill or mask it first")
  return image


def _pad(x, fp_shape, center, mode, cval):
  pads = [(0, 0)] * (x.ndim - 2) + [(c, s - 1 - c) for s, c in zip(fp_shape, center)]
  if mode == "constant":
    return jnp.pad(x, pads, mode="constant", constant_values=jnp.asarray(cval, x.dtype))
  if mode not in PAD_MODES:
    raise ValueError(f"mode={mode!r} is unknown; use one of {', '.join(PAD_MODES)}")
  return jnp.pad(x, pads, mode=PAD_MODES[mode])


def _reduce(x, fp: np.ndarray, center, op, mode, cval):
  """op-reduction of ``x[i + j - center]`` over footprint elements j (x padded as ``mode`` says)."""
  h, w = x.shape[-2:]
  kh, kw = fp.shape
  p = _pad(x, fp.shape, center, mode, cval)
  if fp.all() and kh > 1 and kw > 1:  # separable: kh + kw slices instead of kh * kw
    rows = functools.reduce(op, [p[..., :, k : k + w] for k in range(kw)])
    return functools.reduce(op, [rows[..., j : j + h, :] for j in range(kh)])
  return functools.reduce(op, [p[..., j : j + h, k : k + w] for j, k in zip(*np.nonzero(fp))])


def _dilation_geometry(fp):
  center = tuple(s // 2 - (1 - s % 2) for s in fp.shape)
  return fp[::-1, ::-1], center


def erosion(
  image, footprint=None, *, border_value: int = 0, mode: str | None = None, cval: float = 0.0
):
  """Erosion. Boolean images: ``scipy.ndimage.binary_erosion(image, footprint, border_value=...)``, or with
  ``mode`` set, the border extended as ``mode`` says (``"nearest"``: the edge pixel replicated, the
  lecture's "padding the boundary with the same value as the neighbour"); others:
  ``scipy.ndimage.grey_erosion(image, footprint=footprint, mode=mode or "reflect", cval=cval)``."""
  fp = _footprint(footprint)
  x = _check_image(image, "erosion")
  center = tuple(s // 2 for s in fp.shape)
  if x.dtype == jnp.bool_:
    if mode is not None:
      return _reduce(x, fp, center, jnp.logical_and, mode, bool(cval))
    return _reduce(x, fp, center, jnp.logical_and, "constant", bool(border_value))
  return _reduce(x, fp, center, jnp.minimum, mode or "reflect", cval)


def dilation(
  image, footprint=None, *, border_value: int = 0, mode: str | None = None, cval: float = 0.0
):
  """Dilation. Boolean images: ``scipy.ndimage.binary_dilation`` (or ``mode``'s border, as
  :func:`erosion`); others: ``grey_dilation``."""
  fp, center = _dilation_geometry(_footprint(footprint))
  x = _check_image(image, "dilation")
  if x.dtype == jnp.bool_:
    if mode is not None:
      return _reduce(x, fp, center, jnp.logical_or, mode, bool(cval))
    return _reduce(x, fp, center, jnp.logical_or, "constant", bool(border_value))
  return _reduce(x, fp, center, jnp.maximum, mode or "reflect", cval)


def opening(
  image, footprint=None, *, border_value: int = 0, mode: str | None = None, cval: float = 0.0
):
  """Erosion then dilation (removes bright/foreground details smaller than the footprint)."""
  kw = dict(border_value=border_value, mode=mode, cval=cval)
  return dilation(erosion(image, footprint, **kw), footprint, **kw)


def closing(
  image, footprint=None, *, border_value: int = 0, mode: str | None = None, cval: float = 0.0
):
  """Dilation then erosion (fills dark/background gaps smaller than the footprint)."""
  kw = dict(border_value=border_value, mode=mode, cval=cval)
  return erosion(dilation(image, footprint, **kw), footprint, **kw)


def _binary(image, name):
  x = _check_image(image, name)
  if x.dtype != jnp.bool_:
    if not isinstance(x, jax.core.Tracer) and not bool(jnp.all((x == 0) | (x == 1))):
      raise ValueError(
        f"{name}: the image is not binary (values other than 0 and 1); threshold it first, "
        "e.g. image > segclassic.threshold_otsu(image)"
      )
    x = x.astype(bool)
  return x


def binary_erosion(image, footprint=None, border_value: int = 0, *, mode: str | None = None):
  """``scipy.ndimage.binary_erosion``; the image must hold only 0/1 (or bool). ``mode`` (e.g.
  ``"nearest"``, replicate padding) replaces the constant ``border_value`` outside the image."""
  return erosion(_binary(image, "binary_erosion"), footprint, border_value=border_value, mode=mode)


def binary_dilation(image, footprint=None, border_value: int = 0, *, mode: str | None = None):
  return dilation(
    _binary(image, "binary_dilation"), footprint, border_value=border_value, mode=mode
  )


def binary_opening(image, footprint=None, border_value: int = 0, *, mode: str | None = None):
  return opening(_binary(image, "binary_opening"), footprint, border_value=border_value, mode=mode)


def binary_closing(image, footprint=None, border_value: int = 0, *, mode: str | None = None):
  return closing(_binary(image, "binary_closing"), footprint, border_value=border_value, mode=mode)


def hit_or_miss(image, fg=None, bg=None):
  """Hit-or-miss transform: pixels where ``fg`` fits the foreground and ``bg`` fits the background.

  ``erosion(A, fg) & erosion(~A, bg)`` with scipy's borders (outside is background for the first
  and foreground-of-the-complement for the second, i.e. ``bg`` may hang over the edge); ``bg``
  defaults to the complement of ``fg``. Equal to ``scipy.ndimage.binary_hit_or_miss(image, fg, bg)``.
  """
  x = _binary(image, "hit_or_miss")
  fg = _footprint(fg)
  bg = ~fg if bg is None else np.asarray(bg, bool)
  if bg.shape != fg.shape:
    raise ValueError(f"hit_or_miss: fg {fg.shape} and bg {bg.shape} must have the same shape")
  if (fg & bg).any():
    raise ValueError(
      "hit_or_miss: fg and bg overlap; a pixel cannot be both foreground and background"
    )
  hit = erosion(x, fg, border_value=0)
  if not bg.any():
    return hit
  return hit & erosion(~x, bg, border_value=1)


def _thin_luts() -> tuple[np.ndarray, np.ndarray]:
  """Guo & Hall (1989) deletion tables for the two sub-iterations, indexed by the 8-neighbourhood code.

  Neighbour bit b (value 2**b) is, clockwise from the east: b0 E, b1 NE, b2 N, b3 NW, b4 W, b5 SW,
  b6 S, b7 SE (the weights [[8, 4, 2], [16, 0, 1], [32, 64, 128]]). A pixel is deleted when
    C(p) == 1: exactly one 4-neighbour b in {E, N, W, S} is 0 while one of the two 8-neighbours that
      follow it (b+1, b+2) is 1 (the pixel joins exactly one 8-connected component);
    2 <= min(N1, N2) <= 3, with N1 counting the pairs (b_{k-1} | b_k) and N2 the pairs (b_k | b_{k+1})
      for the diagonal k in {NE, NW, SW, SE} (end points and interior points survive);
    and, in the first sub-iteration, not ((N | NE | not SE) and E); in the second, not
      ((SW | S | not NW) and W) (deletes from one side at a time).
  """
  codes = np.arange(256)
  bits = [(codes >> i) & 1 == 1 for i in range(8)]
  c = sum(((~bits[i]) & (bits[i + 1] | bits[(i + 2) % 8])).astype(int) for i in (0, 2, 4, 6))
  n1 = sum((bits[k] | bits[k - 1]).astype(int) for k in (1, 3, 5, 7))
  n2 = sum((bits[k] | bits[(k + 1) % 8]).astype(int) for k in (1, 3, 5, 7))
  m = np.minimum(n1, n2)
  g12 = (c == 1) & (m >= 2) & (m <= 3)
  g3 = ~((bits[1] | bits[2] | ~bits[7]) & bits[0])
  g3p = ~((bits[5] | bits[6] | ~bits[3]) & bits[4])
  return g12 & g3, g12 & g3p


THIN_LUTS = _thin_luts()
_WEIGHTS = np.array([[8, 4, 2], [16, 0, 1], [32, 64, 128]], np.int32)


def _neighbour_code(x):
  p = jnp.pad(x.astype(jnp.int32), [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])
  h, w = x.shape[-2:]
  return sum(
    int(_WEIGHTS[j, k]) * p[..., j : j + h, k : k + w]
    for j in range(3)
    for k in range(3)
    if _WEIGHTS[j, k]
  )


def lecture_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
  """The lecture's thinning structuring-element pair ("Difference between Erosion and Thinning": FG
  000/111/111, BG 111/000/000) in its 8 rotations: pair k has the 8 outer cells moved k places clockwise
  around the centre (45k degrees); the centre stays foreground."""
  fg0 = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]], bool)
  ring = [
    (0, 0),
    (0, 1),
    (0, 2),
    (1, 2),
    (2, 2),
    (2, 1),
    (2, 0),
    (1, 0),
  ]  # clockwise from the top left
  pairs = []
  for k in range(8):
    fg = fg0.copy()
    for i, (r, c) in enumerate(ring):
      fg[ring[(i + k) % 8]] = fg0[r, c]
    bg = ~fg
    bg[1, 1] = False
    pairs.append((fg, bg))
  return pairs


LECTURE_PAIRS = lecture_pairs()


def _until_stable(x, one_pass, max_num_iter):
  """Applies ``one_pass`` until no image of the batch changes (or ``max_num_iter`` passes)."""
  limit = jnp.iinfo(jnp.int32).max if max_num_iter is None else int(max_num_iter)

  def cond(carry):
    _, changed, it = carry
    return changed & (it < limit)

  def body(carry):
    s, _, it = carry
    new = one_pass(s)
    return new, jnp.any(new != s), it + 1

  return jax.lax.while_loop(cond, body, (x, jnp.array(True), jnp.zeros((), jnp.int32)))[0]


def _thin_hit_or_miss(x, max_num_iter):
  def one_pass(s):
    for fg, bg in LECTURE_PAIRS:  # each pair on the result of the previous one
      s = s & ~hit_or_miss(s, fg, bg)
    return s

  return _until_stable(x, one_pass, max_num_iter)


def _thicken_hit_or_miss(x, max_num_iter):
  def one_pass(s):
    for (
      fg,
      bg,
    ) in LECTURE_PAIRS:  # the complement pair: a background centre whose 3x3 matches is added
      s = s | hit_or_miss(s, bg, fg)  # fg holds the centre: it must be background to be added
    return s

  return _until_stable(x, one_pass, max_num_iter)


_THIN_METHODS = ("guo_hall", "hit_or_miss")


def thin(image, max_num_iter: int | None = None, *, method: str = "guo_hall"):
  """Thinning to a one-pixel-wide skeleton.

  ``method="guo_hall"`` (default): Guo & Hall's two-sub-iteration algorithm, equal to
  ``skimage.morphology.thin``. ``method="hit_or_miss"``: the lecture's definition, A minus
  (A hit-or-miss B) with the lecture's SE pair in its 8 rotations (:data:`LECTURE_PAIRS`), pairs
  0..7 applied in turn within a pass, passes repeated until nothing changes. The two give different
  skeletons: the lecture's pair has no don't-care cells, so it removes fewer configurations.

  ``max_num_iter`` bounds the iterations (Guo-Hall) or passes (hit-or-miss). Batched over leading
  axes (the loop runs until every image is done; finished images do not change).
  """
  x = _binary(image, "thin")
  if method == "hit_or_miss":
    return _thin_hit_or_miss(x, max_num_iter)
  if method != "guo_hall":
    raise ValueError(f"thin: method={method!r} is unknown; use one of {', '.join(_THIN_METHODS)}")
  lut1, lut2 = (jnp.asarray(t) for t in THIN_LUTS)
  limit = jnp.iinfo(jnp.int32).max if max_num_iter is None else int(max_num_iter)

  def one_iteration(s):
    for lut in (lut1, lut2):
      s = s & ~lut[_neighbour_code(s)]
    return s

  def cond(carry):
    s, prev_count, it = carry
    return (jnp.any(jnp.sum(s, axis=(-2, -1)) != prev_count)) & (it < limit)

  def body(carry):
    s, _, it = carry
    count = jnp.sum(s, axis=(-2, -1))
    return one_iteration(s), count, it + 1

  init = (x, jnp.full(x.shape[:-2], -1, jnp.int32), jnp.zeros((), jnp.int32))
  return jax.lax.while_loop(cond, body, init)[0]


def thicken(image, max_num_iter: int | None = None, *, method: str = "guo_hall"):
  """Thickening. ``thicken(A) >= A`` always.

  ``method="guo_hall"`` (default): the dual of Guo-Hall thinning, ``~thin(~A)``: the background is
  thinned to a one-pixel-wide skeleton (the "skeleton by influence zones" between objects) and the
  objects grow until they nearly touch; pixels outside the image count as foreground here, so objects
  also grow towards the edge. ``method="hit_or_miss"``: the lecture's definition, A OR (A hit-or-miss
  B) with the complement of each lecture pair (a background pixel is added where its 3x3
  neighbourhood matches the pair with foreground and background swapped), the 8 rotations in turn
  within a pass, passes repeated until nothing changes.
  """
  x = _binary(image, "thicken")
  if method == "hit_or_miss":
    return _thicken_hit_or_miss(x, max_num_iter)
  if method != "guo_hall":
    raise ValueError(
      f"thicken: method={method!r} is unknown; use one of {', '.join(_THIN_METHODS)}"
    )
  return ~thin(~x, max_num_iter)
