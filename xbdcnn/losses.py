"""X-BDCNN losses (shared/seeds/xbdcnn_paper.txt, eq. 3-8). Images NHWC in [0, 1].

The paper writes every term as a sum over the image: eq. 3 over the level maps, eq. 4 as squared
L2 norms of the gradients, eq. 5 and 6 over the pixels x in Omega. The terms therefore cover different
numbers of elements (eq. 3: 2HW, two level maps; eq. 4: about 4HW, two maps in two directions; eq. 5:
HW; eq. 6: the (H-10)(W-10) SSIM map), and the lambdas of eq. 8 weigh those sums.

``reduction="sum"`` (default, the paper): each term is its per-image sum, averaged over the batch,
and every term is divided by the same constant H*W, so the ratios of the terms are exactly those of
the paper's sums while the loss stays on a per-pixel scale (independent of the patch size).
``reduction="mean"``: each term averaged over its own elements; this changes the effective weights
(lambda_asym x 1/2, lambda_TV about x 1/4, lambda_SSIM x HW/((H-10)(W-10)) relative to the sums).
"""

from __future__ import annotations

import jax.numpy as jnp

from common import metrics

__all__ = ["asymmetric_mse", "tv_loss", "mse_loss", "ssim_loss", "total_loss", "REDUCTIONS"]

REDUCTIONS = ("sum", "mean")


def _reduce(per_element, reduction: str, hw: int):
  """Sum over all but the batch axis, batch mean, / (H W); or the plain mean."""
  if reduction == "mean":
    return jnp.mean(per_element)
  if reduction != "sum":
    raise ValueError(f"loss.reduction={reduction!r} is unknown; use one of {REDUCTIONS}")
  return jnp.mean(jnp.sum(per_element.reshape(per_element.shape[0], -1), axis=1)) / hw


def _hw(x) -> int:
  return int(x.shape[-3]) * int(x.shape[-2])


def asymmetric_mse(est, true, alpha: float = 0.3, reduction: str = "mean"):
  """Eq. 3: sum |alpha - 1[est - true < 0]| (est - true)^2. Under-estimation weighs 1 - alpha (0.7),
  over-estimation alpha (0.3): the correct sign (the public CBDNet port has it reversed, issue #27)."""
  d = est - true
  return _reduce(jnp.abs(alpha - (d < 0).astype(d.dtype)) * d * d, reduction, _hw(est))


def tv_loss(levels, reduction: str = "mean"):
  """Eq. 4: ||grad_h l||^2 + ||grad_v l||^2 of forward differences (``mean``: each norm as a mean)."""
  dh = levels[..., :, 1:, :] - levels[..., :, :-1, :]
  dv = levels[..., 1:, :, :] - levels[..., :-1, :, :]
  return _reduce(dh * dh, reduction, _hw(levels)) + _reduce(dv * dv, reduction, _hw(levels))


def mse_loss(g_hat, g, reduction: str = "mean"):
  """Eq. 5: sum over pixels of (g_hat - g)^2."""
  return _reduce((g_hat - g) ** 2, reduction, _hw(g))


def ssim_loss(g_hat, g, reduction: str = "mean"):
  """Eq. 6: sum over the SSIM map (eq. 7; Gaussian window sigma 1.5, data range 1) of 1 - SSIM(x);
  ``mean``: 1 - mean SSIM."""
  return _reduce(1.0 - metrics.ssim(g_hat, g, data_range=1.0, return_map=True), reduction, _hw(g))


def total_loss(g_hat, g, levels_hat, levels, w) -> tuple:
  """Eq. 8 with weights ``w`` (lambda_mse, lambda_ssim, lambda_asym, lambda_tv, alpha, reduction).

  Returns ``(loss, parts)``; terms whose weight is 0 or whose inputs are absent (no NLE) are skipped."""
  r = w.reduction
  parts = {"mse": mse_loss(g_hat, g, r)}
  loss = w.mse * parts["mse"]
  if w.ssim:
    parts["ssim_loss"] = ssim_loss(g_hat, g, r)
    loss = loss + w.ssim * parts["ssim_loss"]
  if levels_hat is not None:
    parts["asym"] = asymmetric_mse(levels_hat, levels, w.alpha, r)
    parts["tv"] = tv_loss(levels_hat, r)
    loss = loss + w.asym * parts["asym"] + w.tv * parts["tv"]
  return loss, parts
