"""ViT encoder, MAE decoder, DINO-style heads and the downstream classifiers of SD-MAE.

Layout: ``MAE`` (pre-training: encoder on the visible tokens, lightweight decoder, projection heads)
and ``Classifier`` (fine-tuning, supervised baseline) both hold the encoder as the submodule named
``encoder``, so a pre-trained encoder is moved between them by copying ``params["encoder"]``.

Position embeddings are fixed sin-cos tables built on the host (numpy constants), never parameters, so
the optimizer and weight decay cannot touch them.
"""

from __future__ import annotations

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "decode_variant",
  "posemb_sincos_2d",
  "posemb_sincos_1d",
  "random_masking",
  "Encoder",
  "Decoder",
  "DINOHead",
  "gelu",
  "Attention",
  "MAE",
  "Classifier",
  "ProbeHead",
  "layer_id",
]

_WIDTHS = {  # name: (dim, depth, heads, mlp_ratio)
  "mu": (64, 4, 2, 4),  # a micro ViT for the embedded data on CPU
  "Ti": (192, 12, 3, 4),
  "S": (384, 12, 6, 4),
  "B": (768, 12, 12, 4),
}


def decode_variant(variant: str) -> dict:
  """'S/16' -> dict(dim=384, depth=12, heads=6, mlp_ratio=4, patch=16)."""
  m = re.fullmatch(r"(mu|Ti|S|B)/(\d+)", variant)
  if not m:
    raise ValueError(
      f"model.variant={variant!r} is not NAME/PATCH with NAME in {sorted(_WIDTHS)}, e.g. 'S/16'"
    )
  dim, depth, heads, ratio = _WIDTHS[m.group(1)]
  return dict(dim=dim, depth=depth, heads=heads, mlp_ratio=ratio, patch=int(m.group(2)))


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
  """MAE's 1-D table: [sin(pos w_i), cos(pos w_i)], w_i = 10000^(-i/(dim/2)), i < dim/2."""
  omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
  out = pos.reshape(-1)[:, None] * omega[None]
  return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def posemb_sincos_2d(dim: int, grid_h: int, grid_w: int) -> np.ndarray:
  """MAE's fixed 2-D table, (grid_h * grid_w, dim), row-major tokens: the first dim/2 channels encode
  the column (w) coordinate and the second half the row (h), as ``util/pos_embed.py`` ("w goes first")."""
  if dim % 4:
    raise ValueError(f"2-D sin-cos position embeddings need dim % 4 == 0, got {dim}")
  w, h = np.meshgrid(np.arange(grid_w, dtype=np.float64), np.arange(grid_h, dtype=np.float64))
  return np.concatenate([_sincos_1d(dim // 2, w), _sincos_1d(dim // 2, h)], axis=1).astype(
    np.float32
  )


def posemb_sincos_1d(dim: int, n: int) -> np.ndarray:
  """The official SD-MAE code's 1-D sinusoid table (``get_sinusoid_encoding_table``): channel j uses
  pos / 10000^(2 floor(j/2) / dim), sin on even j and cos on odd j."""
  pos = np.arange(n, dtype=np.float64)[:, None]
  j = np.arange(dim)
  angle = pos / np.power(10000, 2 * (j // 2) / dim)
  return np.where(j % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)


def posemb(kind: str, dim: int, gh: int, gw: int) -> np.ndarray:
  if kind == "sincos2d":
    return posemb_sincos_2d(dim, gh, gw)
  if kind == "sincos1d":
    return posemb_sincos_1d(dim, gh * gw)
  raise ValueError(
    f"model.posemb={kind!r} is unknown; use sincos2d (MAE) or sincos1d (SD-MAE code)"
  )


def random_masking(key, batch: int, num_tokens: int, mask_ratio: float):
  """Per-example random masking by argsort of uniform noise (MAE ``random_masking``).

  Returns ``(ids_keep (B, K), ids_restore (B, N), mask (B, N))`` with ``K = int(N (1 - mask_ratio))``
  and ``mask`` 1 on removed tokens, in the original token order.
  """
  if not 0.0 <= mask_ratio < 1.0:
    raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
  keep = int(num_tokens * (1 - mask_ratio))
  noise = jax.random.uniform(key, (batch, num_tokens))
  ids_shuffle = jnp.argsort(noise, axis=1)
  ids_restore = jnp.argsort(ids_shuffle, axis=1)
  mask = jnp.concatenate([jnp.zeros((batch, keep)), jnp.ones((batch, num_tokens - keep))], axis=1)
  mask = jnp.take_along_axis(mask, ids_restore, axis=1)
  return ids_shuffle[:, :keep], ids_restore, mask


def _gather_tokens(x, ids):
  return jnp.take_along_axis(x, ids[..., None], axis=1)


_dense_init = nn.initializers.xavier_uniform()


def gelu(x):
  """The exact GELU as PyTorch's ``nn.GELU()`` writes it, x/2 (1 + erf(x / sqrt 2)); equal to
  ``jax.nn.gelu(x, approximate=False)`` (its erfc form) to float rounding, and faster on XLA:CPU."""
  return 0.5 * x * (1.0 + jax.lax.erf(x * np.float32(1.0 / np.sqrt(2.0))))


class Attention(nn.Module):
  """Multi-head self-attention as timm's ``Attention`` in the MAE and SD-MAE code: one ``qkv`` Linear
  (dim -> 3 dim, with bias, xavier-uniform over the fused kernel as MAE's ``_init_weights``), scaled
  dot-product attention per head (``jax.nn.dot_product_attention``), the ``proj`` Linear."""

  dim: int
  heads: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, n, _ = x.shape
    qkv = nn.Dense(3 * self.dim, kernel_init=_dense_init, dtype=self.dtype, name="qkv")(x)
    q, k, v = jnp.split(qkv.reshape(b, n, 3, self.heads, self.dim // self.heads), 3, axis=2)
    y = jax.nn.dot_product_attention(q[:, :, 0], k[:, :, 0], v[:, :, 0])
    y = y.reshape(b, n, self.dim)
    return nn.Dense(self.dim, kernel_init=_dense_init, dtype=self.dtype, name="proj")(y)


class Block(nn.Module):
  """Pre-norm transformer block (LayerNorm eps 1e-6, qkv bias, exact GELU, optional drop path)."""

  dim: int
  heads: int
  mlp_ratio: float = 4.0
  drop_path: float = 0.0
  dtype: jnp.dtype = jnp.float32

  def _drop_path(self, x, deterministic):
    if deterministic or self.drop_path == 0.0:
      return x
    keep = 1.0 - self.drop_path
    mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return x * mask / keep

  @nn.compact
  def __call__(self, x, deterministic: bool = True):
    dense = functools.partial(nn.Dense, kernel_init=_dense_init, dtype=self.dtype)
    y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm1")(x)
    y = Attention(self.dim, self.heads, self.dtype, name="attn")(y)
    x = x + self._drop_path(y, deterministic)
    y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm2")(x)
    y = dense(int(self.dim * self.mlp_ratio), name="fc1")(y)
    y = dense(self.dim, name="fc2")(gelu(y))
    return x + self._drop_path(y, deterministic)


class Encoder(nn.Module):
  """Patch embedding + fixed position embedding + blocks + LayerNorm (``final_norm=False``: without it,
  as the fine-tuning ViTs of MAE and the SD-MAE code when they pool).

  ``ids_keep`` (B, K) selects the visible tokens (MAE); None encodes all tokens (downstream).
  """

  variant: str = "S/16"
  image_size: int = 224
  posemb: str = "sincos2d"
  drop_path: float = 0.0
  final_norm: bool = True
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, ids_keep=None, deterministic: bool = True):
    v = decode_variant(self.variant)
    p, d = v["patch"], v["dim"]
    if x.shape[1] % p or x.shape[2] % p:
      raise ValueError(f"image size {x.shape[1:3]} is not a multiple of the patch size {p}")
    x = nn.Conv(
      d, (p, p), (p, p), "VALID", kernel_init=_dense_init, dtype=self.dtype, name="patch_embed"
    )(x)
    gh, gw = x.shape[1:3]
    x = x.reshape(x.shape[0], gh * gw, d) + jnp.asarray(posemb(self.posemb, d, gh, gw), x.dtype)
    if ids_keep is not None:
      x = _gather_tokens(x, ids_keep)
    rates = np.linspace(0.0, self.drop_path, v["depth"])
    for i in range(v["depth"]):
      x = Block(d, v["heads"], v["mlp_ratio"], float(rates[i]), self.dtype, name=f"block_{i}")(
        x, deterministic
      )
    return nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm")(x) if self.final_norm else x


class Decoder(nn.Module):
  """MAE decoder: embed, append mask tokens, un-shuffle, position embedding, blocks, norm, predict
  the p*p*3 pixels of every token. Returns ``(pred (B, N, p*p*3), normed features (B, N, dim))``."""

  patch: int
  grid: tuple[int, int]
  dim: int = 192
  depth: int = 4
  heads: int = 3
  embed_bias: bool = True  # the official MAE has a bias; the SD-MAE code's projection has none
  posemb: str = "sincos2d"
  channels: int = 3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z_vis, ids_restore):
    b, k, _ = z_vis.shape
    n = ids_restore.shape[1]
    dense = functools.partial(nn.Dense, kernel_init=_dense_init, dtype=self.dtype)
    x = dense(self.dim, use_bias=self.embed_bias, name="embed")(z_vis)
    mask_token = self.param("mask_token", nn.initializers.normal(0.02), (1, 1, self.dim))
    mask_token = jnp.broadcast_to(mask_token.astype(x.dtype), (b, n - k, self.dim))
    x = _gather_tokens(jnp.concatenate([x, mask_token], axis=1), ids_restore)
    x = x + jnp.asarray(posemb(self.posemb, self.dim, *self.grid), x.dtype)
    for i in range(self.depth):
      x = Block(self.dim, self.heads, dtype=self.dtype, name=f"block_{i}")(x)
    feats = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm")(x)
    pred = dense(self.patch * self.patch * self.channels, name="pred")(feats)
    return pred, feats


class DINOHead(nn.Module):
  """MLP (Linear-GELU x (layers-1), Linear to bottleneck), L2-normalize, weight-normed Linear without
  bias whose gain is fixed at 1 (``norm_last_layer=True``): the kernel is L2-normalized per output.

  ``pool_axis``: the mean over that (token) axis of the outputs. The last layer is linear, so the mean
  is taken before it (mean_k(u_k) W = mean_k(u_k W)): the same result to float rounding, without the
  per-token (tokens x out_dim) products and their gradients."""

  out_dim: int = 4096
  hidden_dim: int = 2048
  bottleneck_dim: int = 256
  layers: int = 3
  dtype: jnp.dtype = jnp.float32  # of the MLP; the normalization and the last layer in float32

  @nn.compact
  def __call__(self, x, pool_axis: int | None = None):
    init = nn.initializers.truncated_normal(0.02)
    dense = functools.partial(nn.Dense, kernel_init=init, dtype=self.dtype)
    for i in range(self.layers - 1):
      x = gelu(dense(self.hidden_dim, name=f"mlp_{i}")(x))
    x = dense(self.bottleneck_dim, name=f"mlp_{self.layers - 1}")(x).astype(jnp.float32)
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    if pool_axis is not None:
      x = jnp.mean(x, axis=pool_axis)
    v = self.param("last_layer", init, (self.bottleneck_dim, self.out_dim))
    return x @ (v / jnp.maximum(jnp.linalg.norm(v, axis=0, keepdims=True), 1e-12))


class MAE(nn.Module):
  """Pre-training model. ``heads`` adds the student (encoder) and teacher (decoder) projection heads
  (SD-MAE and the self-contrastive variant); they act per visible token and are mean-pooled over the
  visible tokens, as the SD-MAE code (the pool before the heads' linear last layer, ``DINOHead``)."""

  variant: str = "S/16"
  image_size: int = 224
  posemb: str = "sincos2d"
  decoder_dim: int = 192
  decoder_depth: int = 4
  decoder_heads: int = 3
  decoder_embed_bias: bool = True
  heads: bool = False
  head: dict | None = None
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    v = decode_variant(self.variant)
    g = self.image_size // v["patch"]
    self.encoder = Encoder(self.variant, self.image_size, self.posemb, dtype=self.dtype)
    self.decoder = Decoder(
      v["patch"],
      (g, g),
      self.decoder_dim,
      self.decoder_depth,
      self.decoder_heads,
      self.decoder_embed_bias,
      self.posemb,
      dtype=self.dtype,
    )
    if self.heads:
      self.student_head = DINOHead(**(self.head or {}), dtype=self.dtype)
      self.teacher_head = DINOHead(**(self.head or {}), dtype=self.dtype)

  def __call__(self, x, ids_keep, ids_restore):
    """Returns dict(pred (B, N, p*p*3), z_vis (B, K, D) encoder tokens, y_vis (B, K, d) normed decoder
    features at the visible positions, and with heads q/p (B, out): the head outputs mean-pooled over
    the visible tokens)."""
    z_vis = self.encoder(x, ids_keep)
    pred, feats = self.decoder(z_vis, ids_restore)
    out = {
      "pred": pred.astype(jnp.float32),
      "z_vis": z_vis,
      "y_vis": _gather_tokens(feats, ids_keep),
    }
    if self.heads:
      out["q"] = self.student_head(z_vis, pool_axis=1)
      out["p"] = self.teacher_head(out["y_vis"], pool_axis=1)
    return out


class Classifier(nn.Module):
  """Encoder on all tokens, global average pool, LayerNorm (MAE's fc_norm), linear head (fine-tuning
  and the supervised baseline). ``encoder_norm=False`` (the SD-MAE code's ``use_mean_pooling`` head and
  MAE's ``global_pool``): no per-token LayerNorm before the pool; True keeps the encoder's final norm.
  The head is trunc-normal(0.02) x the code's ``init_scale`` 0.001."""

  num_classes: int
  variant: str = "S/16"
  image_size: int = 224
  posemb: str = "sincos2d"
  drop_path: float = 0.1
  encoder_norm: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    z = Encoder(
      self.variant,
      self.image_size,
      self.posemb,
      self.drop_path,
      self.encoder_norm,
      self.dtype,
      name="encoder",
    )(x, None, not train)
    z = nn.LayerNorm(epsilon=1e-6, name="fc_norm")(jnp.mean(z.astype(jnp.float32), axis=1))
    return nn.Dense(
      self.num_classes, kernel_init=nn.initializers.truncated_normal(2e-5), name="head"
    )(z)


class ProbeHead(nn.Module):
  """Linear probe on frozen features: BatchNorm without affine (eps 1e-6) + Linear (trunc-normal 0.01)."""

  num_classes: int

  @nn.compact
  def __call__(self, f, train: bool = False):
    f = nn.BatchNorm(
      use_running_average=not train,
      use_bias=False,
      use_scale=False,
      epsilon=1e-6,
      momentum=0.9,
      name="bn",
    )(f)
    return nn.Dense(
      self.num_classes, kernel_init=nn.initializers.truncated_normal(0.01), name="head"
    )(f)


def layer_id(path: tuple[str, ...], depth: int) -> int:
  """MAE's layer-decay id: patch embedding 0, encoder block i -> i + 1, everything else depth + 1."""
  if "patch_embed" in path:
    return 0
  for p in path:
    m = re.fullmatch(r"block_(\d+)", p)
    if m and "encoder" in path:
      return int(m.group(1)) + 1
  return depth + 1
