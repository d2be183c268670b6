"""What every deconvolution method returns (PGDIPS and the baselines)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["StainResult"]


@dataclasses.dataclass
class StainResult:
  concentrations: np.ndarray  # (H, W, N) in optical-density units per unit stain vector
  stains: np.ndarray  # (N, 3) unit OD vectors, row j named after the configured stain j
  recon: np.ndarray  # (H, W, 3) uint8 reconstruction
  m: np.ndarray | None = None  # (N,) spectral correction factors
  background: np.ndarray | None = None  # (3,) background transmittance B in (0, 1]
  history: np.ndarray | None = None
  nets: object = None  # PGDIPS: the concentration networks' parameters (a pytree), in stain order
  net_concentrations: np.ndarray | None = (
    None  # PGDIPS: the networks' maps (= concentrations with readout="net")
  )
  fitted_stains: np.ndarray | None = (
    None  # PGDIPS: S as fitted (``stains``: the read-out's, inverse_min_separation)
  )
  order: np.ndarray | None = (
    None  # PGDIPS: fitted_stains = the fit's own rows in this order (physics.name_stains)
  )
  names_ambiguous: bool = (
    False  # two estimated stains about equally near one known colour (physics.name_stains)
  )
