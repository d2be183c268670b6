"""Inception-v3 feature extractor for FID, in the layout of pytorch-fid (mseitzer) so that its
published weights load by name.

The network is the 2015 TF Inception-v3 used by the original FID code (TTUR): torchvision's layout with
pytorch-fid's four changes (average pools that do not count padding in Mixed_5*/6*/7b, and a max pool
in the last block's pool branch). Features are the 2048-d global average pool ("pool3").

Weights are never downloaded. Convert pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` once in
an environment with PyTorch (``python tools/fid_weights_to_npz.py IN.pth OUT.npz``) and pass the .npz
path; its keys are the PyTorch state-dict names (``Mixed_5b.branch1x1.conv.weight`` ...).
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "InceptionV3",
  "load_variables",
  "FeatureExtractor",
  "to_npz_layout",
  "statistics",
  "FID_INPUT_SIZE",
]

FID_INPUT_SIZE = 299


class BasicConv(nn.Module):
  """Conv (no bias) + BatchNorm(eps=1e-3, inference) + ReLU; submodules named as torch's."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(
      self.features,
      self.kernel,
      (self.stride, self.stride),
      padding=[(self.padding[0],) * 2, (self.padding[1],) * 2],
      use_bias=False,
      name="conv",
    )(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def avg_pool_exclude_pad(x):
  """3x3, stride 1, pad 1 average that divides by the number of in-image pixels
  (torch ``avg_pool2d(count_include_pad=False)``)."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
  ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
  n = jax.lax.reduce_window(ones, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
  return s / n


def _max3(x, stride, pad):
  return nn.max_pool(x, (3, 3), (stride, stride), padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), stride=2, name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max3(x, 2, 0)], -1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c, **row, name="branch7x7_2")(b7)
    b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
    bd = BasicConv(c, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c, **col, name="branch7x7dbl_2")(bd)
    bd = BasicConv(c, **row, name="branch7x7dbl_3")(bd)
    bd = BasicConv(c, **col, name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), stride=2, name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max3(x, 2, 0)], -1)


class InceptionE(nn.Module):
  max_pool_branch: bool  # pytorch-fid's FIDInceptionE_2 (the last block) pools with max

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate(
      [
        BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
      ],
      -1,
    )
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate(
      [
        BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
      ],
      -1,
    )
    pooled = _max3(x, 1, 1) if self.max_pool_branch else avg_pool_exclude_pad(x)
    bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
  """(N, H, W, 3) images already scaled to [-1, 1] -> (N, 2048) pool3 features."""

  @nn.compact
  def __call__(self, x):
    x = BasicConv(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max3(x, 2, 0)
    x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max3(x, 2, 0)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, c in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
      x = InceptionC(c, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(False, name="Mixed_7b")(x)
    x = InceptionE(True, name="Mixed_7c")(x)
    return jnp.mean(x, axis=(1, 2))


# --- weights -----------------------------------------------------------------------------------

_TORCH_LEAF = {
  ("params", "kernel"): "weight",
  ("params", "scale"): "weight",
  ("params", "bias"): "bias",
  ("batch_stats", "mean"): "running_mean",
  ("batch_stats", "var"): "running_var",
}


def _torch_names(template) -> dict[tuple, str]:
  """Flax variable path -> PyTorch state-dict key, for every leaf of ``template``."""
  out = {}
  for path, _ in jax.tree_util.tree_flatten_with_path(template)[0]:
    keys = tuple(p.key for p in path)
    coll, *mods, leaf = keys
    out[keys] = ".".join(mods) + "." + _TORCH_LEAF[(coll, leaf)]
  return out


def _template():
  return jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3)))


def load_variables(path: str) -> dict:
  """Flax variables of :class:`InceptionV3` from a .npz of the pytorch-fid state dict.

  Conv weights are (O, I, kh, kw) there and (kh, kw, I, O) here. Unknown extra keys (``fc.*``,
  ``num_batches_tracked``) are ignored; a missing or mis-shaped one is a one-line error.
  """
  if not path or not os.path.isfile(path):
    raise FileNotFoundError(
      f"Inception-v3 FID weights not found at {path!r}; convert pytorch-fid's "
      "pt_inception-2015-12-05-6726825d.pth with tools/fid_weights_to_npz.py and pass the .npz path"
    )
  template = _template()
  names = _torch_names(template)
  with np.load(path) as f:
    arrays = {k: f[k] for k in f.files}

  def leaf(kpath, spec):
    keys = tuple(p.key for p in kpath)
    key = names[keys]
    if key not in arrays:
      raise KeyError(f"{path!r} has no {key!r}; is it a pytorch-fid Inception-v3 state dict?")
    a = arrays[key].astype(np.float32)
    if keys[-1] == "kernel":
      a = a.transpose(2, 3, 1, 0)
    if a.shape != spec.shape:
      raise ValueError(f"{key} in {path} has shape {a.shape}, the network needs {spec.shape}")
    return jnp.asarray(a)

  return jax.tree_util.tree_map_with_path(leaf, template)


def to_npz_layout(variables) -> dict[str, np.ndarray]:
  """The inverse of :func:`load_variables` (Flax variables -> PyTorch-named arrays)."""
  names = _torch_names(variables)
  out = {}
  for path, v in jax.tree_util.tree_flatten_with_path(variables)[0]:
    keys = tuple(p.key for p in path)
    a = np.asarray(v)
    out[names[keys]] = a.transpose(3, 2, 0, 1) if keys[-1] == "kernel" else a
  return out


class FeatureExtractor:
  """Images in [0, 1] (N, H, W, C) with C in {1, 3} -> (N, 2048) float64 pool3 features.

  As pytorch-fid: grayscale repeated to 3 channels, bilinear resize to 299x299 without antialiasing
  (torch ``interpolate(align_corners=False)``), scaled to [-1, 1]. Batches are padded to a fixed size so
  one compiled function serves every call.
  """

  def __init__(self, variables, batch_size: int = 100):
    self.variables, self.batch_size = variables, batch_size
    model = InceptionV3()

    @jax.jit
    def feats(v, x):
      x = jax.image.resize(
        x, (x.shape[0], FID_INPUT_SIZE, FID_INPUT_SIZE, 3), "bilinear", antialias=False
      )
      return model.apply(v, 2.0 * x - 1.0)

    self._feats = feats

  def __call__(self, images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f"FID images must be (N, H, W, 1 or 3) in [0, 1], got shape {images.shape}")
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)
    out, bs = [], self.batch_size
    for i in range(0, len(images), bs):
      xb = images[i : i + bs]
      n = len(xb)
      if n < bs:
        xb = np.concatenate([xb, np.zeros((bs - n, *xb.shape[1:]), xb.dtype)])
      out.append(np.asarray(self._feats(self.variables, xb), np.float64)[:n])
    return np.concatenate(out)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of features, sigma with the N-1 denominator as pytorch-fid (``np.cov``)."""
  f = np.asarray(features, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)
