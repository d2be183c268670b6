"""The deep-image-prior "skip" network of PGDIPS / Double-DIP (shared/REFERENCES.md section 2.1):
an encoder-decoder fed with fixed noise, stride-2 downsampling, bilinear upsampling, skip branches,
per-channel normalization, LeakyReLU(0.2), 1x1 output conv and a sigmoid (concentrations in (0, 1)).
Two details of the reference are switches: ``concat_norm`` (the reference normalizes the upsampled
features, concatenated with the skip branch where there is one, before the up convolution) and
``align_corners`` (the reference's ``nn.Upsample(..., align_corners=True)``; False is half-pixel
bilinear, ``jax.image.resize``).

The reference uses BatchNorm on a batch of one image, i.e. a per-channel normalization over the
spatial axes; that is written here as GroupNorm with one channel per group (the same statistics, and no
running averages to carry). Padding is zero ('SAME') rather than the reference's reflection.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["SkipNet", "upsample2"]


def _align_corners_matrix(n: int) -> jnp.ndarray:
  """``(2n, n)`` linear interpolation with the corner samples aligned (PyTorch align_corners=True)."""
  pos = jnp.arange(2 * n) * (n - 1) / max(2 * n - 1, 1)
  lo = jnp.floor(pos).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, n - 1)
  f = pos - lo
  return jax.nn.one_hot(lo, n) * (1 - f)[:, None] + jax.nn.one_hot(hi, n) * f[:, None]


def upsample2(h, align_corners: bool = False):
  """2x bilinear upsampling of ``(N, H, W, C)``: half-pixel (``jax.image.resize``) or corner-aligned."""
  n, hh, ww, c = h.shape
  if not align_corners:
    return jax.image.resize(h, (n, 2 * hh, 2 * ww, c), "bilinear")
  return jnp.einsum("yh,xw,nhwc->nyxc", _align_corners_matrix(hh), _align_corners_matrix(ww), h)


class SkipNet(nn.Module):
  channels: Sequence[int] = (8, 16, 32, 64, 128)
  skips: Sequence[int] = (0, 0, 0, 4, 4)
  kernel: int = 5
  out_channels: int = 1
  concat_norm: bool = False
  align_corners: bool = False

  @nn.compact
  def __call__(self, z):
    """``z``: ``(H, W, C)`` noise -> ``(H, W, out_channels)`` in (0, 1). H, W divisible by 2**levels."""
    k = (self.kernel, self.kernel)
    norm = lambda name: nn.GroupNorm(num_groups=None, group_size=1, name=name)
    act = lambda x: nn.leaky_relu(x, 0.2)
    h = z[None]
    skips = []
    for i, (c, s) in enumerate(zip(self.channels, self.skips)):
      skips.append(
        act(norm(f"skip_norm_{i}")(nn.Conv(s, (1, 1), name=f"skip_{i}")(h))) if s else None
      )
      h = act(norm(f"down_norm_a_{i}")(nn.Conv(c, k, strides=(2, 2), name=f"down_a_{i}")(h)))
      h = act(norm(f"down_norm_b_{i}")(nn.Conv(c, k, name=f"down_b_{i}")(h)))
    for i in reversed(range(len(self.channels))):
      h = upsample2(h, self.align_corners)
      if skips[i] is not None:
        h = jnp.concatenate([h, skips[i]], axis=-1)
      if self.concat_norm:
        h = norm(f"concat_norm_{i}")(h)
      h = act(norm(f"up_norm_a_{i}")(nn.Conv(self.channels[i], k, name=f"up_a_{i}")(h)))
      h = act(norm(f"up_norm_b_{i}")(nn.Conv(self.channels[i], (1, 1), name=f"up_b_{i}")(h)))
    return nn.sigmoid(nn.Conv(self.out_channels, (1, 1), name="out")(h))[0]
