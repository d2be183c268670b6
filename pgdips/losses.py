"""PGDIPS losses: reconstruction and the exclusion loss (eq. 3: L = alpha L_recon + beta L_excl)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

__all__ = ["exclusion_loss", "exclusion_loss_multi", "recon_loss", "stain_repulsion", "anchor_loss"]


def _avg_pool2(x):
  h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
  x = x[:h, :w]
  return x.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def exclusion_loss(c1, c2, levels: int = 3):
  """Exclusion loss of Zhang et al. (2018) as in Double-DIP (and the PGDIPS code) for two ``(H, W)``
  maps: at ``levels`` scales (2x average pooling between them) take forward differences, squash them
  with 2 sigmoid(g) - 1, and average mean(g1^2 g2^2)^(1/4) over scales, then over the x and y
  directions. Low when the two maps do not have edges in the same places."""
  tx, ty = 0.0, 0.0
  for _ in range(levels):
    sq = lambda g: 2.0 * jax.nn.sigmoid(g) - 1.0
    gx1, gx2 = sq(c1[:, 1:] - c1[:, :-1]), sq(c2[:, 1:] - c2[:, :-1])
    gy1, gy2 = sq(c1[1:, :] - c1[:-1, :]), sq(c2[1:, :] - c2[:-1, :])
    tx = tx + jnp.mean(gx1**2 * gx2**2) ** 0.25
    ty = ty + jnp.mean(gy1**2 * gy2**2) ** 0.25
    c1, c2 = _avg_pool2(c1), _avg_pool2(c2)
  return (tx / levels + ty / levels) / 2.0


def exclusion_loss_multi(conc, levels: int = 3, reduce: str = "sum"):
  """Exclusion loss over all pairs of the ``(H, W, N)`` concentration maps: their ``"sum"`` (the
  official code, which adds one term per pair) or ``"mean"``. Equal for two stains."""
  n = conc.shape[-1]
  pairs = list(itertools.combinations(range(n), 2))
  total = sum(exclusion_loss(conc[..., i], conc[..., j], levels) for i, j in pairs)
  if reduce not in ("sum", "mean"):
    raise ValueError(f"loss.exclusion_pairs={reduce!r} is unknown; use 'sum' (the code) or 'mean'")
  return total if reduce == "sum" else total / len(pairs)


def stain_repulsion(s_pre):
  """Sum over stain pairs of the mean absolute difference of the ``(N, 3)`` stain vectors before
  normalization (the official code subtracts 0.01 times this with 3 stains, pushing them apart)."""
  n = s_pre.shape[0]
  return sum(jnp.mean(jnp.abs(s_pre[i] - s_pre[j])) for i, j in itertools.combinations(range(n), 2))


def anchor_loss(s_pre, anchor, b_trans, m, reduce: str = "mean"):
  """The colour-anchoring prior: squared distance of S (before normalization) to its starting vectors,
  of B to 1 and of M to 1. ``"sum"`` (the official code): one MSE per stain vector, one for B and one
  per spectral factor, added; ``"mean"``: one mean each over S, B and M (S and M weigh 1/N as much)."""
  if reduce == "sum":
    return (
      jnp.sum(jnp.mean((s_pre - anchor) ** 2, axis=1))
      + jnp.mean((b_trans - 1.0) ** 2)
      + jnp.sum((m - 1.0) ** 2)
    )
  if reduce == "mean":
    return (
      jnp.mean((s_pre - anchor) ** 2) + jnp.mean((b_trans - 1.0) ** 2) + jnp.mean((m - 1.0) ** 2)
    )
  raise ValueError(f"loss.anchor_reduce={reduce!r} is unknown; use 'mean' or 'sum' (the code)")


def recon_loss(d_hat, d, kind: str = "mse"):
  """Eq. 2's pixel-wise misfit: ``"mse"`` (the paper) or ``"l1_ref"`` (the official code: L1 per channel
  plus L1 of the channel sums)."""
  if kind == "mse":
    return jnp.mean((d_hat - d) ** 2)
  if kind == "l1_ref":
    return jnp.sum(jnp.mean(jnp.abs(d_hat - d), axis=(0, 1))) + jnp.mean(
      jnp.abs(d_hat.sum(-1) - d.sum(-1))
    )
  raise ValueError(f"loss.recon={kind!r} is unknown; use 'mse' or 'l1_ref'")
