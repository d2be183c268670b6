"""Optical physics of PGDIPS (shared/seeds/pgdips_paper.txt): optical density and the adapted
Beer-Lambert model with spectral and background correction.

    D = -log10(I / I0)                                   (eq. 1)
    D_hat = sum_n M_n C_n S_n + 1 B                      (the model inside eq. 2)

I0 = 255 and log10 as the paper and the official code (StainTools / torchstain use ln and I0 = 240;
``log_base`` and ``i0`` are config values). Zero pixels are safe: I is floored at 1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = [
  "optical_density",
  "transmittance_od",
  "to_rgb",
  "compose",
  "unmix",
  "spread_stains",
  "name_stains",
  "invert_model",
  "RUIFROK",
  "default_stains",
]

# Ruifrok & Johnston (2001) OD vectors (rows), as in scikit-image's rgb_from_* matrices
RUIFROK = {
  "hematoxylin": (0.65, 0.70, 0.29),  # rgb_from_hed
  "eosin": (0.07, 0.99, 0.11),
  "dab": (0.27, 0.57, 0.78),
  "fast_red": (0.214, 0.851, 0.478),  # rgb_from_rbd (also the red counterstain of Alcian blue)
  "alcian_blue": (0.875, 0.458, 0.158),  # rgb_from_ahx
  "aniline_blue": (0.853, 0.509, 0.113),  # rgb_from_bro (the collagen stain of Masson's trichrome)
  "acid_fuchsin": (0.1, 0.737, 0.668),  # rgb_from_bpx's Ponceau-fuchsin (trichrome's red)
}


def default_stains(names) -> np.ndarray:
  """Unit OD vectors ``(N, 3)`` for stain names (Ruifrok's) or explicit triples."""
  rows = [RUIFROK[n] if isinstance(n, str) else n for n in names]
  v = np.asarray(rows, np.float32)
  return v / np.linalg.norm(v, axis=1, keepdims=True)


def _log(x, base):
  return jnp.log10(x) if base == 10 else jnp.log(x)


def optical_density(rgb, i0: float = 255.0, log_base: int = 10):
  """``(..., 3)`` uint8 or [0, 255] float -> OD ``-log(max(I, 1) / i0)`` (>= 0 where I <= i0)."""
  i = jnp.maximum(jnp.asarray(rgb, jnp.float32), 1.0)
  return -_log(i / i0, log_base)


def transmittance_od(t, log_base: int = 10):
  """Optical density ``-log(t)`` of a transmittance ``t`` in (0, 1] (the background term B)."""
  return -_log(t, log_base)


def to_rgb(od, i0: float = 255.0, log_base: int = 10):
  """Inverse of :func:`optical_density` (float, clipped to [0, i0])."""
  return jnp.clip(i0 * jnp.power(float(log_base), -od), 0.0, i0)


def compose(conc, stains, m=None, b=None):
  """``D_hat = sum_n M_n C_n S_n + B``: conc ``(..., H, W, N)``, stains ``(N, 3)``, m ``(N,)``,
  b ``(3,)`` (background optical density) -> ``(..., H, W, 3)``."""
  m = jnp.ones(stains.shape[0]) if m is None else m
  d = jnp.einsum("...n,n,nc->...c", conc, m, stains)
  return d if b is None else d + b


def unmix(od, rows, method: str = "clip", xp=jnp):
  """Concentrations ``(..., N)`` from optical densities ``(..., 3)`` and model rows ``(N, 3)`` (eq. 2
  without B: od = C rows), per pixel. ``clip``: least squares clipped at 0 (the fixed-vector baselines'
  read-out). ``nnls``: exact non-negative least squares, by solving least squares on every non-empty
  subset of the stains and keeping the feasible solution with the smallest residual (the optimum of a
  convex problem is the least-squares solution on its support); 2^N - 1 small solves, for N <= 4.
  ``xp``: jax.numpy (inside jit) or numpy."""
  n = rows.shape[0]
  if method == "clip":
    return xp.maximum(od @ rows.T @ xp.linalg.inv(rows @ rows.T), 0.0)
  if method != "nnls":
    raise ValueError(f"inverse_solver={method!r} is unknown; use 'clip' or 'nnls'")
  if n > 4:
    raise ValueError(
      f"inverse_solver='nnls' enumerates stain subsets; {n} stains is too many (use 'clip')"
    )
  import itertools

  best_c = xp.zeros(od.shape[:-1] + (n,), od.dtype)
  best_r = xp.sum(od * od, axis=-1)  # the empty support: C = 0
  for k in range(1, n + 1):
    for subset in itertools.combinations(range(n), k):
      a = rows[np.asarray(subset)]
      c_s = od @ a.T @ xp.linalg.inv(a @ a.T)
      r = xp.sum((od - c_s @ a) ** 2, axis=-1)
      ok = xp.all(c_s >= 0, axis=-1) & (r < best_r)
      full = xp.zeros(od.shape[:-1] + (n,), od.dtype)
      for j, s in enumerate(subset):
        full = full + c_s[..., j : j + 1] * xp.asarray(np.eye(n, dtype=np.float32)[s], od.dtype)
      best_c = xp.where(ok[..., None], full, best_c)
      best_r = xp.where(ok, r, best_r)
  return best_c


def spread_stains(stains, min_deg: float, xp=jnp):
  """Unit stain rows ``(N, 3)`` in which every pair closer than ``min_deg`` degrees is turned apart,
  symmetrically about its bisector and within the plane the two span, to exactly ``min_deg`` (pairs
  already apart are unchanged; with 3+ stains the pairs are visited in order). The read-out's floor on
  the conditioning of the inversion: two unit stains theta apart invert with condition number
  cot(theta / 2), 5.7 at 20 degrees. Collinear pairs are spread in the plane of the pair and the
  channel axis least aligned with them. ``min_deg`` 0: the rows normalized, nothing else."""
  s = stains / xp.linalg.norm(stains, axis=-1, keepdims=True)
  if min_deg <= 0:
    return s
  half = np.radians(float(min_deg)) / 2
  rows = [s[i] for i in range(s.shape[0])]
  for i in range(len(rows)):
    for j in range(i + 1, len(rows)):
      a, b = rows[i], rows[j]
      mid = a + b
      mid = mid / xp.maximum(xp.linalg.norm(mid), 1e-12)
      d = a - b  # orthogonal to a + b for unit a, b
      axis = xp.asarray(np.eye(3, dtype=np.float32))[xp.argmin(xp.abs(mid))]
      fallback = axis - (axis @ mid) * mid  # a collinear pair: any direction orthogonal to it
      nd = xp.linalg.norm(d)
      d = xp.where(nd > 1e-7, d / xp.maximum(nd, 1e-12), fallback / xp.linalg.norm(fallback))
      close = a @ b > np.cos(2 * half)
      rows[i] = xp.where(close, np.cos(half) * mid + np.sin(half) * d, a)
      rows[j] = xp.where(close, np.cos(half) * mid - np.sin(half) * d, b)
  return xp.stack(rows)


# two stains within this many degrees of the same known stain colour are "about equally near" it
NAMING_MARGIN_DEG = 3.0


def name_stains(stains, reference, margin: float = NAMING_MARGIN_DEG, xp=jnp):
  """Names estimated stain rows ``(N, 3)`` after the known stain colours ``reference`` ``(N, 3)`` (the
  Ruifrok vectors of the configured stains) -> (``perm`` int ``(N,)``, ``ambiguous`` bool):
  ``stains[perm][j]`` is the stain named ``reference[j]``.

  Nearest first: the (stain, reference) pair at the smallest angle takes that name, both leave the
  pool, and so on. A stain that is the nearest of all to a known colour, by more than ``margin``
  degrees over every other stain, is never named otherwise, so a pair with one member clearly nearer
  hematoxylin cannot be named the wrong way round (a summed-cosine assignment can: two estimated H&E
  vectors 17 degrees apart, both on hematoxylin's side, 6.8 and 13.6 degrees from it).
  ``ambiguous``: at some step another unnamed stain was within ``margin`` degrees of the reference
  being named (two stains about equally near one colour). Then nearness decides nothing and the names
  are those of the ordering with the smallest summed angle (N <= 4). Ties go to the lower index.
  ``xp``: jax.numpy (traceable) or numpy."""
  import itertools

  n = stains.shape[0]
  if n > 4:
    raise ValueError(f"name_stains compares the {n}! orderings of the stains; use at most 4")
  unit = lambda v: v / xp.maximum(xp.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
  ang = xp.degrees(xp.arccos(xp.clip(unit(stains) @ unit(reference).T, -1.0, 1.0)))  # ang[i, j]
  used_i, used_j = xp.zeros(n, bool), xp.zeros(n, bool)
  assign = xp.zeros((n, n), ang.dtype)
  ambiguous = xp.zeros((), bool)
  eye = xp.asarray(np.eye(n, dtype=np.float32), ang.dtype)
  for _ in range(n):
    free = ang + xp.where(used_i[:, None] | used_j[None, :], np.inf, 0.0)
    k = xp.argmin(free.reshape(-1))
    i, j = k // n, k % n
    col = free[:, j] + xp.where(xp.arange(n) == i, np.inf, 0.0)  # the rivals for reference j
    ambiguous = ambiguous | (xp.min(col) - free[i, j] < margin)
    assign = assign + eye[i][:, None] * eye[j][None, :]
    used_i, used_j = used_i | (eye[i] > 0), used_j | (eye[j] > 0)
  perms = np.asarray(list(itertools.permutations(range(n))), np.int32)
  total = xp.stack([sum(ang[int(q[j]), j] for j in range(n)) for q in perms])
  closest = xp.asarray(perms)[xp.argmin(total)]
  return xp.where(ambiguous, closest, xp.argmax(assign, axis=0)), ambiguous


def invert_model(od_net, stains, m, min_separation: float = 0.0, method: str = "clip", xp=jnp):
  """Eq. 2 inverted per pixel: ``od_net`` ``(..., 3)`` is D - B, the model rows are M_n S_n with the unit
  stains turned apart to ``min_separation`` degrees first (:func:`spread_stains`) -> (C ``(..., N)``, the
  stain rows C belongs to ``(N, 3)``). PGDIPS's ``readout="inverse"``, per tile and for a whole image."""
  s_read = spread_stains(stains, float(min_separation), xp=xp)
  return unmix(od_net, m[:, None] * s_read, method, xp=xp), s_read
