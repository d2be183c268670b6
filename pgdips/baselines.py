"""Classical stain deconvolution baselines, returning the same :class:`StainResult` as PGDIPS.

* Ruifrok & Johnston (2001): fixed vectors (``skimage.color.rgb2hed``'s matrix, or any N x 3).
* Macenko et al. (2009): SVD plane of the tissue optical densities, extreme angles at the
  ``alpha`` / ``100 - alpha`` percentiles (torchstain's parameters: beta = 0.15, alpha = 1).
* Vahadane et al. (2016): sparse non-negative dictionary learning with scikit-learn instead of SPAMS
  (lambda = 0.1 for the dictionary, 0.01 for the codes; tissue = luminosity < 0.8, StainTools').
Optical density is ``-ln(I / 240)``-style in those tools; here it follows the config (log10, I0 = 255
by default) so that every method is compared in the same units.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from pgdips import physics
from pgdips.result import StainResult

__all__ = ["ruifrok", "macenko", "vahadane", "all_baselines", "od_np", "lstsq_concentrations"]


def od_np(rgb, i0=255.0, log_base=10):
  i = np.maximum(np.asarray(rgb, np.float64), 1.0)
  return -(np.log10(i / i0) if log_base == 10 else np.log(i / i0))


def _to_rgb(od, i0, log_base):
  return np.clip(np.round(i0 * np.power(float(log_base), -od)), 0, 255).astype(np.uint8)


def lstsq_concentrations(od, stains):
  """Per-pixel least-squares concentrations of ``(H, W, 3)`` optical densities for stain rows ``(N, 3)``,
  clipped at 0."""
  flat = od.reshape(-1, 3)
  c, *_ = np.linalg.lstsq(stains.T, flat.T, rcond=None)
  return np.clip(c.T, 0, None).reshape(od.shape[:2] + (stains.shape[0],))


def _result(od, stains, i0, log_base, ambiguous=False):
  stains = stains / np.linalg.norm(stains, axis=1, keepdims=True)
  c = lstsq_concentrations(od, stains)
  return StainResult(
    concentrations=c.astype(np.float32),
    stains=stains.astype(np.float32),
    recon=_to_rgb(c @ stains, i0, log_base),
    names_ambiguous=bool(ambiguous),
  )


def ruifrok(rgb, stains=None, i0=255.0, log_base=10) -> StainResult:
  """Fixed stain vectors (default: skimage's H, E, DAB rows, using the first two: H and E)."""
  from skimage.color import rgb_from_hed

  s = np.asarray(rgb_from_hed[:2] if stains is None else stains, np.float64)
  return _result(od_np(rgb, i0, log_base), s, i0, log_base)


def _named(stains, reference):
  """Estimated stain rows named after the known colours ``reference`` (:func:`physics.name_stains`)
  -> (rows in reference order, ambiguous)."""
  if reference is None:
    return stains, False
  perm, ambiguous = physics.name_stains(stains, np.asarray(reference, np.float64), xp=np)
  return stains[perm], bool(ambiguous)


def macenko(
  rgb, beta: float = 0.15, alpha: float = 1.0, i0=255.0, log_base=10, reference=None
) -> StainResult:
  od = od_np(rgb, i0, log_base)
  flat = od.reshape(-1, 3)
  tissue = flat[np.all(flat >= beta * (np.log10(np.e) if log_base == 10 else 1.0), axis=1)]
  if len(tissue) < 10:
    raise ValueError(
      "macenko: fewer than 10 tissue pixels above the OD threshold; is the tile background?"
    )
  _, vecs = np.linalg.eigh(np.cov(tissue.T))
  plane = vecs[:, 1:3]
  proj = tissue @ plane
  phi = np.arctan2(proj[:, 1], proj[:, 0])
  lo, hi = np.percentile(phi, alpha), np.percentile(phi, 100 - alpha)
  v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
  v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
  v1, v2 = (v1 if v1.sum() > 0 else -v1), (v2 if v2.sum() > 0 else -v2)
  stains = np.stack([v1, v2] if v1[0] > v2[0] else [v2, v1])  # hematoxylin (more red OD) first
  stains, ambiguous = _named(np.abs(stains), reference)
  return _result(od, stains, i0, log_base, ambiguous)


def vahadane(
  rgb,
  lam_dict: float = 0.1,
  lam_code: float = 0.01,
  luminosity: float = 0.8,
  i0=255.0,
  log_base=10,
  reference=None,
  max_pixels: int = 20000,
  seed: int = 0,
) -> StainResult:
  from skimage.color import rgb2lab
  from sklearn.decomposition import DictionaryLearning

  od = od_np(rgb, i0, log_base)
  lum = rgb2lab(np.asarray(rgb, np.uint8))[..., 0] / 100.0
  tissue = od[lum < luminosity]
  if len(tissue) < 10:
    raise ValueError(
      "vahadane: fewer than 10 tissue pixels (luminosity < 0.8); is the tile background?"
    )
  rng = np.random.default_rng(seed)
  if len(tissue) > max_pixels:
    tissue = tissue[rng.choice(len(tissue), max_pixels, replace=False)]
  k = 2 if reference is None else len(reference)  # more than two stains: one atom per reference row
  dl = DictionaryLearning(
    n_components=k,
    alpha=lam_dict,
    positive_dict=True,
    positive_code=True,
    fit_algorithm="cd",
    transform_algorithm="lasso_cd",
    max_iter=50,
    random_state=seed,
  )
  with (
    warnings.catch_warnings()
  ):  # coordinate descent stops at max_iter on small tiles; the fit is still used
    warnings.simplefilter("ignore", ConvergenceWarning)
    dl.fit(tissue)
  stains = dl.components_
  stains = stains / np.maximum(np.linalg.norm(stains, axis=1, keepdims=True), 1e-8)
  stains = stains[np.argsort(-stains[:, 0])]  # hematoxylin first
  stains, ambiguous = _named(stains, reference)
  from sklearn.decomposition import sparse_encode

  with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    c = sparse_encode(
      od.reshape(-1, 3), stains, algorithm="lasso_cd", alpha=lam_code, positive=True
    )
  c = c.reshape(od.shape[:2] + (k,))
  return StainResult(
    concentrations=c.astype(np.float32),
    stains=stains.astype(np.float32),
    recon=_to_rgb(c @ stains, i0, log_base),
    names_ambiguous=ambiguous,
  )


def all_baselines(rgb, stains, i0: float = 255.0, log_base: int = 10) -> dict:
  """{'Ruifrok', 'Macenko', 'Vahadane'}: StainResults for the named ``stains`` (``physics.RUIFROK`` keys),
  estimated vectors ordered like the fixed ones. Macenko only for two stains (its SVD plane holds two);
  Vahadane learns one dictionary atom per stain."""
  ref = physics.default_stains(stains)
  out = {"Ruifrok": ruifrok(rgb, ref, i0, log_base)}
  if len(ref) == 2:
    out["Macenko"] = macenko(rgb, i0=i0, log_base=log_base, reference=ref)
  out["Vahadane"] = vahadane(rgb, i0=i0, log_base=log_base, reference=ref)
  return out


def macenko_starts(cfg, tiles: np.ndarray) -> np.ndarray:
  """``(B, N, 3)``: each tile's Macenko stain vectors, ordered like ``cfg.stains``' Ruifrok vectors; those
  vectors where Macenko cannot run (a tile without tissue, N != 2). PGDIPS's starts and anchoring
  targets for ``init_stains="macenko"``."""
  base = physics.default_stains(cfg.stains)
  out = []
  for t in tiles:
    try:
      if len(base) != 2:
        raise ValueError
      out.append(macenko(t, i0=cfg.i0, log_base=cfg.log_base, reference=base).stains)
    except ValueError:
      out.append(base)
  return np.asarray(out, np.float32)
