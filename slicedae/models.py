"""Autoencoders of the sliced generative models (architectures of the CWAE reference code,
shared/REFERENCES.md section 3.1). Each returns ``(reconstruction, {"z": latent})`` and exposes
``encode`` / ``decode`` for sampling and interpolation. Images are NHWC in [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn

__all__ = ["MLPAE", "ConvAE", "DCGANAE", "make_model"]


class MLPAE(nn.Module):
  """MNIST: 784-200-200-200-z, ReLU, mirrored decoder with a sigmoid output."""

  image_shape: Sequence[int]
  z_dim: int = 8
  hidden: Sequence[int] = (200, 200, 200)

  def setup(self):
    self.enc = [nn.Dense(h, name=f"enc_{i}") for i, h in enumerate(self.hidden)]
    self.enc_out = nn.Dense(self.z_dim, name="enc_z")
    self.dec = [nn.Dense(h, name=f"dec_{i}") for i, h in enumerate(reversed(self.hidden))]
    self.dec_out = nn.Dense(int(math.prod(self.image_shape)), name="dec_x")

  def encode(self, x, train: bool = False):
    h = x.reshape(x.shape[0], -1)
    for layer in self.enc:
      h = nn.relu(layer(h))
    return self.enc_out(h)

  def decode(self, z, train: bool = False):
    h = z
    for layer in self.dec:
      h = nn.relu(layer(h))
    return nn.sigmoid(self.dec_out(h)).reshape((z.shape[0],) + tuple(self.image_shape))

  def __call__(self, x, train: bool = False):
    z = self.encode(x, train)
    return self.decode(z, train), {"z": z}


class ConvAE(nn.Module):
  """CIFAR-10 (and small images): strided convs -> FC -> z; FC -> transposed convs -> sigmoid."""

  image_shape: Sequence[int]
  z_dim: int = 64
  width: int = 32
  fc: int = 128

  def setup(self):
    h, w, c = self.image_shape
    self.c_in = nn.Conv(c, (2, 2), name="conv_0")
    self.c1 = nn.Conv(self.width, (2, 2), strides=(2, 2), name="conv_1")
    self.c2 = nn.Conv(self.width, (3, 3), name="conv_2")
    self.c3 = nn.Conv(self.width, (3, 3), name="conv_3")
    self.fc_e = nn.Dense(self.fc, name="enc_fc")
    self.fc_z = nn.Dense(self.z_dim, name="enc_z")
    self.hh, self.ww = -(-h // 2), -(-w // 2)
    self.fc_d1 = nn.Dense(self.fc, name="dec_fc")
    self.fc_d2 = nn.Dense(self.hh * self.ww * self.width, name="dec_map")
    self.t1 = nn.ConvTranspose(self.width, (3, 3), name="deconv_1")
    self.t2 = nn.ConvTranspose(self.width, (3, 3), name="deconv_2")
    self.t3 = nn.ConvTranspose(self.width, (2, 2), strides=(2, 2), name="deconv_3")
    self.c_out = nn.Conv(c, (2, 2), name="conv_out")

  def encode(self, x, train: bool = False):
    h = nn.relu(self.c_in(x))
    h = nn.relu(self.c1(h))
    h = nn.relu(self.c3(nn.relu(self.c2(h))))
    return self.fc_z(nn.relu(self.fc_e(h.reshape(h.shape[0], -1))))

  def decode(self, z, train: bool = False):
    h, w, _ = self.image_shape
    m = nn.relu(self.fc_d2(nn.relu(self.fc_d1(z)))).reshape(
      z.shape[0], self.hh, self.ww, self.width
    )
    m = nn.relu(self.t2(nn.relu(self.t1(m))))
    m = nn.relu(self.t3(m))[:, :h, :w]
    return nn.sigmoid(self.c_out(m))

  def __call__(self, x, train: bool = False):
    z = self.encode(x, train)
    return self.decode(z, train), {"z": z}


class DCGANAE(nn.Module):
  """CelebA 64x64: conv 128-256-512-1024 (4x4 stride 2, BN, ReLU) -> z; z -> 1024x8x8 -> transposed
  convs 512-256-128 -> 3x3 conv -> sigmoid."""

  image_shape: Sequence[int]
  z_dim: int = 64
  widths: Sequence[int] = (128, 256, 512, 1024)

  @nn.compact
  def encode(self, x, train: bool = False):
    h = x
    for i, wd in enumerate(self.widths):
      h = nn.Conv(wd, (4, 4), strides=(2, 2), name=f"enc_conv_{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, name=f"enc_bn_{i}")(h))
    return nn.Dense(self.z_dim, name="enc_z")(h.reshape(h.shape[0], -1))

  @nn.compact
  def decode(self, z, train: bool = False):
    s = self.image_shape[0] // 8
    h = nn.Dense(s * s * self.widths[-1], name="dec_fc")(z).reshape(
      z.shape[0], s, s, self.widths[-1]
    )
    for i, wd in enumerate(reversed(self.widths[:-1])):
      h = nn.ConvTranspose(wd, (4, 4), strides=(2, 2), name=f"dec_deconv_{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, name=f"dec_bn_{i}")(h))
    return nn.sigmoid(nn.Conv(self.image_shape[-1], (3, 3), name="dec_out")(h))

  def __call__(self, x, train: bool = False):
    z = self.encode(x, train)
    return self.decode(z, train), {"z": z}


def make_model(m, image_shape):
  """``m``: the config's ``model`` block (arch = mlp | conv | dcgan)."""
  if m.arch == "mlp":
    return MLPAE(tuple(image_shape), m.z_dim, tuple(m.hidden))
  if m.arch == "conv":
    return ConvAE(tuple(image_shape), m.z_dim, m.width, m.fc)
  if m.arch == "dcgan":
    return DCGANAE(tuple(image_shape), m.z_dim, tuple(m.widths))
  raise ValueError(f"model.arch={m.arch!r} is unknown; use mlp, conv or dcgan")
