"""The paper's Table 2 protocol on DeepLIIF sets: deconvolve the IHC panel, compare the maps with the
co-registered ground truth.

A DeepLIIF set is one PNG of six co-registered square panels side by side (the public release's test
set has 598): IHC (hematoxylin + DAB), hematoxylin-only restain, mIF DAPI, mIF Lap2, mIF Ki-67,
segmentation mask. Ground truth per set:

* ``h_od``: the optical density of the hematoxylin-only restain, -log10(I / 255) averaged over the
  channels (the same OD convention as the deconvolution);
* ``dapi``: the DAPI panel's grey level (nuclei, i.e. where hematoxylin binds);
* ``ki67``: the Ki-67 panel's grey level (the DAB-labelled marker).

Scores: Pearson correlation (PCC) of the estimated concentration map with each ground truth, and SSIM
after rescaling both maps to [0, 1] by their own 1st/99th percentiles (SSIM is scale-dependent and the
maps are in different units). The official evaluation script (``deepliif.py`` of the PGDIPS code)
correlates exp(-C) with the inverted DAPI grey level instead; a monotone but non-linear change, so its
PCCs are not the same numbers as these.
"""

from __future__ import annotations

import os

import numpy as np

from common import metrics
from common.data import sources
from common.errors import InputError
from pgdips import baselines

__all__ = ["PANELS", "read_set", "find_sets", "ground_truth", "crops", "score", "TARGETS"]

PANELS = ("ihc", "hem", "dapi", "lap2", "ki67", "seg")
# (stain index in an H-DAB result, ground-truth name)
TARGETS = (("hematoxylin", "h_od"), ("hematoxylin", "dapi"), ("dab", "ki67"))


def split_panels(img: np.ndarray, name: str = "image") -> dict:
  """A ``(S, 6 S, 3)`` DeepLIIF set -> {panel name: (S, S, 3) uint8}, or a one-line InputError."""
  a = np.asarray(img)
  if a.ndim != 3 or a.shape[-1] != 3 or a.shape[1] != 6 * a.shape[0]:
    raise InputError(
      f"{name} has shape {a.shape}; a DeepLIIF set is six square RGB panels side by side "
      "(H, 6 H, 3): IHC, hematoxylin, DAPI, Lap2, Ki-67, segmentation"
    )
  s = a.shape[0]
  return {p: a[:, i * s : (i + 1) * s] for i, p in enumerate(PANELS)}


def read_set(path: str) -> dict:
  return split_panels(sources.read_image(path, mode="rgb"), path)


def find_sets(path: str) -> list[str]:
  """One DeepLIIF PNG, or every ``*.png`` in a folder (sorted); a one-line error when there is none."""
  if os.path.isdir(path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".png"))
    if not files:
      raise InputError(f"{path} holds no .png files; give a DeepLIIF set PNG or a folder of them")
    return files
  if not os.path.exists(path):
    raise InputError(f"{path} does not exist; give a DeepLIIF set PNG or a folder of them")
  return [path]


def _grey(rgb) -> np.ndarray:
  return np.asarray(rgb, np.float64).mean(-1)


def ground_truth(panels: dict, i0: float = 255.0, log_base: int = 10) -> dict:
  """{'h_od', 'dapi', 'ki67'}: ``(S, S)`` float maps (see the module docstring)."""
  return {
    "h_od": baselines.od_np(panels["hem"], i0, log_base).mean(-1),
    "dapi": _grey(panels["dapi"]),
    "ki67": _grey(panels["ki67"]),
  }


def crops(panels: dict, size: int, n: int, seed: int = 0) -> list[dict]:
  """``n`` co-registered crops of every panel, top-left corners drawn from ``seed`` (no two the same)."""
  s = panels["ihc"].shape[0]
  if not 0 < size <= s:
    raise InputError(f"crop size {size} must be in (0, {s}]")
  rng = np.random.default_rng(seed)
  out, seen = [], set()
  while len(out) < n:
    y, x = (int(v) for v in rng.integers(0, s - size + 1, 2))
    if (y, x) in seen and len(seen) < (s - size + 1) ** 2:
      continue
    seen.add((y, x))
    out.append({k: v[y : y + size, x : x + size] for k, v in panels.items()})
  return out


def _unit(m):
  lo, hi = np.percentile(m, (1, 99))
  return np.clip((m - lo) / max(hi - lo, 1e-12), 0, 1)


def score(result, truth: dict, stains=("hematoxylin", "dab")) -> dict:
  """{'pcc_h_od', 'ssim_h_od', 'pcc_dapi', ..., 'pcc_ki67', 'ssim_ki67'} of a StainResult's maps."""
  out = {}
  for stain, gt in TARGETS:
    c = np.asarray(result.concentrations[..., list(stains).index(stain)], np.float64)
    t = truth[gt]
    out[f"pcc_{gt}"] = float(metrics.pcc(c.ravel(), t.ravel())) if c.std() > 0 else 0.0
    out[f"ssim_{gt}"] = float(
      metrics.ssim(_unit(c)[..., None], _unit(t)[..., None], data_range=1.0)
    )
  return out
