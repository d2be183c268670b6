"""X-BDCNN (noise-level estimator + U-Net denoiser, CBDNet-like) and the DnCNN baseline.

Both return ``(denoised, aux)``; X-BDCNN's aux holds the estimated level maps ``"levels"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["NLE", "NBD", "XBDCNN", "DnCNN", "make_model"]


class Up2x2(nn.Module):
  """A 2x2, stride-2 transposed convolution written as one matmul + depth-to-space (identical maths:
  each input pixel writes a 2x2 output block); XLA's CPU backward pass of ConvTranspose was ~10x
  slower than this."""

  features: int

  @nn.compact
  def __call__(self, x):
    n, h, w, c = x.shape
    k = self.param("kernel", nn.initializers.lecun_normal(), (c, 2, 2, self.features))
    b = self.param("bias", nn.initializers.zeros, (self.features,))
    y = jnp.einsum("nhwc,cabf->nhawbf", x, k).reshape(n, 2 * h, 2 * w, self.features)
    return y + b


def _conv(c, name, k=3):
  return nn.Conv(c, (k, k), padding="SAME", name=name)


class NLE(nn.Module):
  """Noise-level estimation: five 3x3 convs of 32 channels, ReLU after each (so levels >= 0), the
  output of layer 1 added to the output of layer 4 (the paper's skip from the first to the fourth)."""

  width: int = 32
  out_channels: int = 2

  @nn.compact
  def __call__(self, f):
    h1 = nn.relu(_conv(self.width, "conv_1")(f))
    h = nn.relu(_conv(self.width, "conv_2")(h1))
    h = nn.relu(_conv(self.width, "conv_3")(h))
    h = nn.relu(_conv(self.width, "conv_4")(h)) + h1
    return nn.relu(_conv(self.out_channels, "conv_5")(h))


class NBD(nn.Module):
  """Non-blind denoiser: a symmetric U-Net with 2 down / 2 up (CBDNet widths 64-128-256, 2+3+6+3+2
  3x3 convs, 2x2 average pooling, 2x2 stride-2 transposed convs (:class:`Up2x2`), additive skips), a last conv
  (``final_kernel``; the paper says 3x3, CBDNet uses 1x1): 17 convs, ReLU after all but the last;
  global residual ``g = f + R(f, levels)``."""

  widths: Sequence[int] = (64, 128, 256)
  final_kernel: int = 3

  @nn.compact
  def __call__(self, f, levels=None):
    x = f if levels is None else jnp.concatenate([f, levels], axis=-1)
    w1, w2, w3 = self.widths
    c = iter(range(1, 17))

    def block(h, w, n):
      for _ in range(n):
        h = nn.relu(_conv(w, f"conv_{next(c)}")(h))
      return h

    s1 = block(x, w1, 2)
    s2 = block(nn.avg_pool(s1, (2, 2), (2, 2)), w2, 3)
    h = block(nn.avg_pool(s2, (2, 2), (2, 2)), w3, 6)
    h = Up2x2(w2, name="up_1")(h) + s2
    h = block(h, w2, 3)
    h = Up2x2(w1, name="up_2")(h) + s1
    h = block(h, w1, 2)
    return f + nn.Conv(f.shape[-1], (self.final_kernel,) * 2, padding="SAME", name="conv_17")(h)


class XBDCNN(nn.Module):
  widths: Sequence[int] = (64, 128, 256)
  nle_width: int = 32
  use_nle: bool = True
  final_kernel: int = 3

  @nn.compact
  def __call__(self, f, train: bool = False):
    h, w = f.shape[-3:-1]
    if h % 4 or w % 4:
      raise ValueError(
        f"X-BDCNN needs H and W divisible by 4 (two 2x poolings); got {h}x{w}; pad or tile"
      )
    levels = NLE(self.nle_width, name="nle")(f) if self.use_nle else None
    g = NBD(tuple(self.widths), self.final_kernel, name="nbd")(f, levels)
    return g, {"levels": levels}


class DnCNN(nn.Module):
  """DnCNN (Zhang et al. 2017; KAIR's network_dncnn): conv+ReLU, (depth-2) x (conv+BN+ReLU), conv;
  the network predicts the noise and returns ``f - noise``. ``batch_norm=False`` drops the BN layers
  (deepinv's DnCNN): with batches of 8 small patches whose noise level differs per image, the BN
  version stayed at the identity for hundreds of steps here while the BN-free one learned at once."""

  depth: int = 17
  width: int = 64
  batch_norm: bool = True

  @nn.compact
  def __call__(self, f, train: bool = False):
    h = nn.relu(_conv(self.width, "conv_0")(f))
    for i in range(1, self.depth - 1):
      h = _conv(self.width, f"conv_{i}")(h)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"bn_{i}")(h)
      h = nn.relu(h)
    return f - _conv(f.shape[-1], f"conv_{self.depth - 1}")(h), {"levels": None}


def make_model(m):
  if m.arch == "xbdcnn":
    return XBDCNN(tuple(m.widths), m.nle_width, m.use_nle, m.final_kernel)
  if m.arch == "dncnn":
    return DnCNN(m.depth, m.dncnn_width, m.dncnn_bn)
  raise ValueError(f"model.arch={m.arch!r} is unknown; use xbdcnn or dncnn")
