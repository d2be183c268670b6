"""SD-MAE losses: norm-pix MSE on masked patches (eq. 1), self-distillation (eq. 2), the total (eq. 3),
the self-contrastive NT-Xent variant (eq. 4-5); patchify/unpatchify; downstream cross-entropy, mixup
and cutmix.

Where the paper and the official code disagree (REFERENCES.md section 1.1) the choice is an argument:
- ``alpha`` weights the MSE (paper eq. 3: 0.2 * MSE + 0.8 * distill); the code computes
  0.2 * distill + 0.8 * MSE, i.e. ``alpha=0.8`` here.
- ``norm_pix``: "per_channel" (the SD-MAE code: per patch and channel, (x - mean) / (std_unbiased +
  1e-6)), "joint" (official MAE: over all p*p*3 values, / sqrt(var_unbiased + 1e-6)) or "none".
- teacher stop-gradient (DINO detaches; the SD-MAE code does not), centering on probabilities (code)
  or logits (DINO).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
  "patchify",
  "unpatchify",
  "pix_target",
  "masked_mse",
  "distill_loss",
  "nt_xent",
  "cross_entropy",
  "mixup_cutmix",
]


def patchify(x, p: int):
  """(B, H, W, C) -> (B, (H/p)(W/p), p*p*C), tokens row-major, pixels (row, col, channel) in a token.
  The p columns and C channels of a patch row are adjacent in memory and move as one block of p*C
  (a 5-D transpose: several times faster on XLA:CPU than the 6-D one)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // p, p, w // p, p * c).transpose(0, 1, 3, 2, 4)
  return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(t, p: int, h: int, w: int, c: int = 3):
  b = t.shape[0]
  x = t.reshape(b, h // p, w // p, p, p * c).transpose(0, 1, 3, 2, 4)
  return x.reshape(b, h, w, c)


def pix_target(x, p: int, norm_pix: str = "joint", channels: int = 3):
  t = patchify(x, p)
  if norm_pix == "none":
    return t
  if norm_pix == "joint":
    mean = t.mean(-1, keepdims=True)
    var = t.var(-1, keepdims=True, ddof=1)
    return (t - mean) / jnp.sqrt(var + 1e-6)
  if norm_pix == "per_channel":
    tc = t.reshape(*t.shape[:-1], p * p, channels)
    mean = tc.mean(-2, keepdims=True)
    std = jnp.sqrt(tc.var(-2, keepdims=True, ddof=1))
    return ((tc - mean) / (std + 1e-6)).reshape(t.shape)
  raise ValueError(f"loss.norm_pix={norm_pix!r} is unknown; use joint, per_channel or none")


def masked_mse(pred, target, mask):
  """Eq. (1): per-patch mean squared error, averaged over the removed patches only."""
  per_patch = jnp.mean((pred - target) ** 2, axis=-1)
  return jnp.sum(per_patch * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def distill_loss(
  q,
  p,
  center,
  *,
  student_temp=0.1,
  teacher_temp=0.04,
  stop_grad=False,
  center_on="probs",
  center_momentum=0.9,
):
  """Eq. (2): cross-entropy between the teacher softmax (decoder head) and the student softmax (encoder
  head); ``q`` and ``p`` (B, out) are the heads' outputs mean-pooled over the visible tokens
  (``models.DINOHead(pool_axis=1)``).

  Returns ``(loss, new_center)``. The batch mean for the center is over the global batch (under jit
  with a sharded batch, XLA inserts the all-reduce the PyTorch code does by hand).
  """
  teacher = jax.nn.softmax((p - center) / teacher_temp, axis=-1)
  if stop_grad:
    teacher = jax.lax.stop_gradient(teacher)
  loss = jnp.mean(jnp.sum(-teacher * jax.nn.log_softmax(q / student_temp, axis=-1), axis=-1))
  if center_on == "probs":
    batch_center = jnp.mean(teacher, axis=0)
  elif center_on == "logits":
    batch_center = jnp.mean(p, axis=0)
  else:
    raise ValueError(
      f"loss.center_on={center_on!r} is unknown; use probs (SD-MAE code) or logits (DINO)"
    )
  new_center = center * center_momentum + jax.lax.stop_gradient(batch_center) * (
    1 - center_momentum
  )
  return loss, new_center


def nt_xent(q, p, tau=0.5):
  """Eq. (4) as SimCLR's ``add_contrastive_loss``: positives (q_i, p_i), negatives every other q and p
  of the batch; (B, d) inputs, cosine similarity, temperature tau. Returns the mean over both views."""
  q = q / jnp.maximum(jnp.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
  p = p / jnp.maximum(jnp.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
  n = q.shape[0]
  big = 1e9 * jnp.eye(n)
  aa, bb = q @ q.T / tau - big, p @ p.T / tau - big
  ab, ba = q @ p.T / tau, p @ q.T / tau
  labels = jnp.arange(n)
  la = -jnp.take_along_axis(jax.nn.log_softmax(jnp.concatenate([ab, aa], 1)), labels[:, None], 1)
  lb = -jnp.take_along_axis(jax.nn.log_softmax(jnp.concatenate([ba, bb], 1)), labels[:, None], 1)
  return jnp.mean(la) + jnp.mean(lb)


def cross_entropy(logits, labels_onehot, mask=None):
  ce = -jnp.sum(labels_onehot * jax.nn.log_softmax(logits), axis=-1)
  if mask is None:
    return jnp.mean(ce)
  return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def mixup_cutmix(key, x, y_onehot, *, mixup_alpha=0.0, cutmix_alpha=0.0, switch_prob=0.5):
  """Batch mixup (lambda ~ Beta(a, a), mixed with the reversed batch) or cutmix (a box of area 1-lambda
  pasted from the reversed batch, lambda corrected to the box's true area), chosen with ``switch_prob``
  when both are on (timm's Mixup in 'batch' mode)."""
  if mixup_alpha <= 0 and cutmix_alpha <= 0:
    return x, y_onehot
  k1, k2, k3, k4 = jax.random.split(key, 4)
  xr, yr = x[::-1], y_onehot[::-1]
  use_cut = (
    (jax.random.uniform(k1) < switch_prob)
    if (mixup_alpha > 0 and cutmix_alpha > 0)
    else cutmix_alpha > 0
  )
  lam_mix = jax.random.beta(k2, mixup_alpha, mixup_alpha) if mixup_alpha > 0 else 1.0
  lam_cut = jax.random.beta(k3, cutmix_alpha, cutmix_alpha) if cutmix_alpha > 0 else 1.0
  h, w = x.shape[1:3]
  cut = jnp.sqrt(1.0 - lam_cut)
  ch, cw = (cut * h).astype(jnp.int32), (cut * w).astype(jnp.int32)
  cy, cx = jax.random.randint(k4, (2,), 0, jnp.array([h, w]))
  y0, y1 = jnp.clip(cy - ch // 2, 0, h), jnp.clip(cy + ch // 2, 0, h)
  x0, x1 = jnp.clip(cx - cw // 2, 0, w), jnp.clip(cx + cw // 2, 0, w)
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None]
  box = ((rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)).astype(x.dtype)[None, ..., None]
  lam_box = 1.0 - jnp.sum(box) / (h * w)
  x_cut, x_mix = x * (1 - box) + xr * box, lam_mix * x + (1 - lam_mix) * xr
  lam = jnp.where(use_cut, lam_box, lam_mix)
  return jnp.where(use_cut, x_cut, x_mix), lam * y_onehot + (1 - lam) * yr
