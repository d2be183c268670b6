"""X-BDCNN losses (shared/seeds/xbdcnn_paper.txt, eq. 3-8). Images NHWC in [0, 1]; every term is a
mean over pixels (the paper writes sums; a constant factor only rescales the lambdas)."""

from __future__ import annotations

import jax.numpy as jnp

from common import metrics

__all__ = ["asymmetric_mse", "tv_loss", "mse_loss", "ssim_loss", "total_loss"]


def asymmetric_mse(est, true, alpha: float = 0.3):
  """Eq. 3: mean |alpha - 1[est - true < 0]| (est - true)^2. Under-estimation weighs 1 - alpha (0.7),
  over-estimation alpha (0.3): the correct sign (the public CBDNet port has it reversed, issue #27)."""
  d = est - true
  return jnp.mean(jnp.abs(alpha - (d < 0).astype(d.dtype)) * d * d)


def tv_loss(levels):
  """Eq. 4: ||grad_h l||^2 + ||grad_v l||^2, as means of squared forward differences."""
  dh = levels[..., :, 1:, :] - levels[..., :, :-1, :]
  dv = levels[..., 1:, :, :] - levels[..., :-1, :, :]
  return jnp.mean(dh * dh) + jnp.mean(dv * dv)


def mse_loss(g_hat, g):
  """Eq. 5."""
  return jnp.mean((g_hat - g) ** 2)


def ssim_loss(g_hat, g):
  """Eq. 6: 1 - SSIM (eq. 7; Gaussian window sigma 1.5, data range 1), averaged over the batch."""
  return 1.0 - jnp.mean(metrics.ssim(g_hat, g, data_range=1.0))


def total_loss(g_hat, g, levels_hat, levels, w) -> tuple:
  """Eq. 8 with weights ``w`` (lambda_mse, lambda_ssim, lambda_asym, lambda_tv, alpha).

  Returns ``(loss, parts)``; terms whose weight is 0 or whose inputs are absent (no NLE) are skipped."""
  parts = {"mse": mse_loss(g_hat, g)}
  loss = w.mse * parts["mse"]
  if w.ssim:
    parts["ssim_loss"] = ssim_loss(g_hat, g)
    loss = loss + w.ssim * parts["ssim_loss"]
  if levels_hat is not None:
    parts["asym"] = asymmetric_mse(levels_hat, levels, w.alpha)
    parts["tv"] = tv_loss(levels_hat)
    loss = loss + w.asym * parts["asym"] + w.tv * parts["tv"]
  return loss, parts
