"""On-device image augmentation: timm's RandAugment (``rand-m9-mstd0.5-inc1``) and random erasing, as
the SD-MAE fine-tuning code uses them (its ``run_class_finetuning.py``: ``--aa rand-m9-mstd0.5-inc1
--reprob 0.25 --remode pixel --recount 1``, through timm's ``create_transform``).

timm runs these per image on the host with PIL. Here they run batched inside the jitted train step
(per-example keys, ``vmap``), so the host pipeline stays a crop and a flip and an accelerator does the
rest. Each op follows PIL's definition on 8-bit levels: the image is quantized to 0..255 on entry, and
the blends truncate as ``PIL.Image.blend`` does (tests/common/test_augment.py checks every op against
PIL). The geometric ops sample with dm-pix's bilinear interpolation, with PIL's pixel-centre convention and a
per-channel fill (timm fills with the ImageNet mean, (124, 116, 104)); ``order=1`` is bilinear where
timm's fine-tuning uses bicubic (dm-pix has orders 0 and 1 only), ``order=0`` is PIL's NEAREST.

``rand_augment(key, images, spec)`` and ``random_erasing(key, images, prob)`` take NHWC batches; the
first works on [0, 1] images, the second on normalized ones (timm erases after normalization, with
N(0, 1) pixels in ``pixel`` mode).
"""

from __future__ import annotations

import dataclasses
import math
import re

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "RandAugmentSpec",
  "parse_spec",
  "apply_op",
  "rand_augment",
  "erase_box",
  "random_erasing",
  "OPS",
  "OPS_INCREASING",
  "GEOMETRIC",
  "FILL",
]

MAX_LEVEL = 10.0
FILL = tuple(
  round(255 * m) for m in (0.485, 0.456, 0.406)
)  # timm's img_mean hparam: (124, 116, 104)
# timm's op lists (auto_augment.py: _RAND_TRANSFORMS and _RAND_INCREASING_TRANSFORMS), in its order
OPS = (
  "AutoContrast",
  "Equalize",
  "Invert",
  "Rotate",
  "Posterize",
  "Solarize",
  "SolarizeAdd",
  "Color",
  "Contrast",
  "Brightness",
  "Sharpness",
  "ShearX",
  "ShearY",
  "TranslateXRel",
  "TranslateYRel",
)
OPS_INCREASING = (
  "AutoContrast",
  "Equalize",
  "Invert",
  "Rotate",
  "PosterizeIncreasing",
  "SolarizeIncreasing",
  "SolarizeAdd",
  "ColorIncreasing",
  "ContrastIncreasing",
  "BrightnessIncreasing",
  "SharpnessIncreasing",
  "ShearX",
  "ShearY",
  "TranslateXRel",
  "TranslateYRel",
)


@dataclasses.dataclass(frozen=True)
class RandAugmentSpec:
  """timm's ``rand-mM-nN-mstdS-incI``: N ops per image, magnitude M of 10 drawn per op as N(M, S)
  clipped to [0, 10], each op applied with probability ``prob``; ``inc`` picks the ops whose
  strength increases with M."""

  magnitude: float = 9.0
  num_layers: int = 2
  magnitude_std: float = 0.5
  increasing: bool = True
  prob: float = 0.5
  order: int = 1

  @property
  def ops(self) -> tuple[str, ...]:
    return OPS_INCREASING if self.increasing else OPS


def parse_spec(spec: str, order: int = 1) -> RandAugmentSpec:
  """'rand-m9-mstd0.5-inc1' -> RandAugmentSpec (timm's ``rand_augment_transform`` grammar)."""
  parts = spec.split("-")
  kw = dict(
    magnitude=MAX_LEVEL, num_layers=2, magnitude_std=0.0, increasing=False
  )  # timm's defaults
  if parts[0] != "rand":
    raise ValueError(
      f"RandAugment spec {spec!r} must start with 'rand-' (e.g. 'rand-m9-mstd0.5-inc1')"
    )
  for p in parts[1:]:
    m = re.fullmatch(r"(mstd|inc|m|n|p)([0-9.]+)", p)
    if not m:
      raise ValueError(
        f"RandAugment spec {spec!r}: unknown part {p!r}; use m<magnitude>, n<ops>, mstd<std>, "
        "inc<0|1>, p<prob>"
      )
    k, v = m.groups()
    key = {
      "m": "magnitude",
      "n": "num_layers",
      "mstd": "magnitude_std",
      "inc": "increasing",
      "p": "prob",
    }[k]
    kw[key] = {"num_layers": int, "increasing": lambda s: bool(int(s))}.get(key, float)(v)
  if order not in (0, 1):
    raise ValueError(
      f"RandAugment interpolation order={order} is unsupported; use 0 (nearest) or 1 (bilinear)"
    )
  return RandAugmentSpec(order=order, **kw)


# ---- PIL's ops on 8-bit levels (float arrays HxWx3 holding integers 0..255) ----


def _blend(degenerate, img, factor):
  """PIL ``Image.blend(degenerate, img, factor)``: clipped to 0..255 and truncated to an integer."""
  return jnp.clip(jnp.floor(degenerate + factor * (img - degenerate)), 0.0, 255.0)


def _luma(img):
  """PIL's RGB -> L (rec. 601 weights, rounded), via dm-pix's grayscale."""
  return jnp.floor(dm_pix.rgb_to_grayscale(img / 255.0)[..., 0] * 255.0 + 0.5)


def _autocontrast(img):
  lo, hi = img.min(axis=(0, 1)), img.max(axis=(0, 1))
  # PIL: int(ix * scale + offset); in exact integers here (float32 would truncate k - eps to k - 1)
  span = jnp.maximum(hi - lo, 1.0).astype(jnp.int32)
  out = (((img - lo).astype(jnp.int32) * 255) // span).astype(img.dtype)
  return jnp.where(hi > lo, out, img)


def _equalize_channel(ch):
  q = ch.astype(jnp.int32).ravel()
  h = jnp.bincount(q, length=256)
  last = jnp.max(jnp.where(h > 0, jnp.arange(256), 0))
  step = (h.sum() - h[last]) // 255
  lut = jnp.minimum((step // 2 + jnp.cumsum(h) - h) // jnp.maximum(step, 1), 255)
  return jnp.where(step > 0, lut[q].reshape(ch.shape).astype(ch.dtype), ch)


def _equalize(img):
  return jnp.stack([_equalize_channel(img[..., c]) for c in range(img.shape[-1])], -1)


def _posterize(img, bits):
  """``i & ~(2^(8 - bits) - 1)``; bits 0 (PosterizeIncreasing at magnitude 10) is black, as Pillow < 9
  did (newer Pillow rejects it, so timm's call would raise there)."""
  div = 2.0 ** (8 - bits)
  return jnp.floor(img / div) * div


def _solarize(img, threshold):
  return jnp.round(dm_pix.solarize(img / 255.0, threshold / 255.0) * 255.0)


def _solarize_add(img, add, threshold=128.0):
  return jnp.where(img < threshold, jnp.minimum(img + add, 255.0), img)


def _smooth(img):
  """PIL ``ImageFilter.SMOOTH`` (3x3, weights 1 around a 5, / 13), the one-pixel border left as is."""
  k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0
  h, w = img.shape[:2]
  acc = sum(float(k[i, j]) * img[i : h - 2 + i, j : w - 2 + j] for i in range(3) for j in range(3))
  return img.at[1:-1, 1:-1].set(jnp.clip(jnp.floor(acc + 0.5), 0.0, 255.0))


def _pil_affine(img, coeffs, order):
  """PIL ``Image.transform(size, AFFINE, (a, b, c, d, e, f))``: output pixel (x, y) reads the input at
  (a x + b y + c, d x + e y + f) in continuous coordinates (pixel centres at +0.5), filled with FILL.
  Each channel is sampled in 2-D with dm-pix (bilinear, constant outside) or nearest neighbour;
  dm-pix's ``affine_transform`` interpolates in 3-D (channels too), 10x slower with per-image
  coefficients."""
  a, b, c, d, e, f = coeffs
  h, w = img.shape[:2]
  ys, xs = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  coords = jnp.stack(
    [d * xs + e * ys + (0.5 * (d + e) + f - 0.5), a * xs + b * ys + (0.5 * (a + b) + c - 0.5)]
  )
  fill = jnp.asarray(FILL, img.dtype)
  if order == 1:
    sample = lambda ch: dm_pix.flat_nd_linear_interpolate_constant(ch, coords, cval=0.0)
  else:
    sample = lambda ch: jax.scipy.ndimage.map_coordinates(
      ch, list(coords), order=0, mode="constant", cval=0.0
    )
  out = jnp.stack([sample(img[..., k] - fill[k]) for k in range(img.shape[-1])], -1)
  return jnp.clip(jnp.round(out + fill), 0.0, 255.0)


def _rotate_coeffs(degrees, h, w):
  """PIL ``Image.rotate(degrees)`` (counter-clockwise about the centre, size kept) as affine coefficients."""
  t = -jnp.deg2rad(degrees)
  cos, sin = jnp.cos(t), jnp.sin(t)
  cx, cy = w / 2.0, h / 2.0
  return (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy)


GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


def apply_op(img, name: str, magnitude, sign=1.0, order: int = 1):
  """One timm RandAugment op on an 8-bit-level image (HxWx3 floats 0..255) at ``magnitude`` of 10;
  ``sign`` (+-1) is timm's random negation of the signed ops."""
  m = jnp.asarray(magnitude, jnp.float32) / MAX_LEVEL
  h, w = img.shape[:2]
  if name == "AutoContrast":
    return _autocontrast(img)
  if name == "Equalize":
    return _equalize(img)
  if name == "Invert":
    return 255.0 - img
  if name in GEOMETRIC:
    return _pil_affine(img, _geometry_coeffs(name, m, sign, h, w), order)
  if name == "Posterize":
    return _posterize(img, jnp.floor(m * 4.0))
  if name == "PosterizeIncreasing":
    return _posterize(img, 4.0 - jnp.floor(m * 4.0))
  if name == "Solarize":
    return _solarize(img, jnp.floor(m * 256.0))
  if name == "SolarizeIncreasing":
    return _solarize(img, 256.0 - jnp.floor(m * 256.0))
  if name == "SolarizeAdd":
    return _solarize_add(img, jnp.floor(m * 110.0))
  if name.endswith("Increasing"):
    factor, name = 1.0 + sign * m * 0.9, name[: -len("Increasing")]
  else:
    factor = m * 1.8 + 0.1
  if name == "Color":
    return _blend(jnp.repeat(_luma(img)[..., None], 3, -1), img, factor)
  if name == "Contrast":
    return _blend(jnp.full_like(img, jnp.floor(jnp.mean(_luma(img)) + 0.5)), img, factor)
  if name == "Brightness":
    return _blend(jnp.zeros_like(img), img, factor)
  if name == "Sharpness":
    return _blend(_smooth(img), img, factor)
  raise ValueError(f"unknown RandAugment op {name!r}; use one of {OPS + OPS_INCREASING}")


def _geometry_coeffs(name, m, sign, h, w):
  """PIL affine coefficients of a geometric op at magnitude fraction ``m`` (per image)."""
  one, zero = jnp.ones_like(m), jnp.zeros_like(m)
  shear, move = sign * m * 0.3, sign * m * 0.45
  if name == "Rotate":
    return _rotate_coeffs(sign * m * 30.0, h, w)
  return {
    "ShearX": (one, shear, zero, zero, one, zero),
    "ShearY": (one, zero, zero, shear, one, zero),
    "TranslateXRel": (one, zero, move * w, zero, one, zero),
    "TranslateYRel": (one, zero, zero, zero, one, move * h),
  }[name]


def _layer(x, op, mag, sign, spec: RandAugmentSpec):
  """One RandAugment layer on a batch of 8-bit-level images: image i gets op ``op[i]``. The geometric
  ops share one affine resampling (their coefficients selected per image); the others are cheap and
  computed for the whole batch, then selected (a per-image ``lax.switch`` under ``vmap`` evaluates
  every branch inside one fusion and ran 13x slower)."""
  n, h, w, _ = x.shape
  m = mag / MAX_LEVEL
  names = spec.ops
  geo = [i for i, name in enumerate(names) if name in GEOMETRIC]
  coeffs = [jnp.full(op.shape, v, jnp.float32) for v in (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)]  # identity
  for i in geo:
    c = _geometry_coeffs(names[i], m, sign, h, w)
    coeffs = [jnp.where(op == i, ci, cj) for ci, cj in zip(c, coeffs)]
  out = jax.vmap(lambda img, *c: _pil_affine(img, c, spec.order))(x, *coeffs)
  for i, name in enumerate(names):
    if name in GEOMETRIC:
      continue
    y = jax.vmap(lambda img, mg, sg, name=name: apply_op(img, name, mg, sg, spec.order))(
      x, mag, sign
    )
    out = jnp.where((op == i)[:, None, None, None], y, out)
  return out


def rand_augment(key, images, spec: RandAugmentSpec | str):
  """RandAugment on a batch of [0, 1] images (NHWC, 3 channels): per image and layer, an op drawn
  uniformly with replacement (timm), a magnitude N(M, std) clipped to [0, 10], a random sign for the
  signed ops, applied with probability ``spec.prob``."""
  if isinstance(spec, str):
    spec = parse_spec(spec)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"rand_augment needs NHWC RGB images; got shape {images.shape}")
  n = images.shape[0]
  x = jnp.round(jnp.clip(images.astype(jnp.float32), 0.0, 1.0) * 255.0)
  for k in jax.random.split(key, spec.num_layers):
    k_op, k_p, k_m, k_s = jax.random.split(k, 4)
    op = jax.random.randint(k_op, (n,), 0, len(spec.ops))
    mag = jnp.clip(
      spec.magnitude + spec.magnitude_std * jax.random.normal(k_m, (n,)), 0.0, MAX_LEVEL
    )
    sign = jnp.where(jax.random.bernoulli(k_s, 0.5, (n,)), -1.0, 1.0)
    y = _layer(x, op, mag, sign, spec)
    x = jnp.where((jax.random.uniform(k_p, (n,)) < spec.prob)[:, None, None, None], y, x)
  return (x / 255.0).astype(images.dtype)


def erase_box(u, h: int, w: int, min_area=0.02, max_area=1 / 3, min_aspect=0.3):
  """timm's ``RandomErasing`` box from its uniform draws ``u`` (10 attempts x 4: area, log-aspect, top,
  left): the first attempt whose box fits (h_box < h and w_box < w) wins. Returns (top, left, bh, bw,
  found)."""
  area = (min_area + (max_area - min_area) * u[:, 0]) * h * w
  lo, hi = math.log(min_aspect), math.log(1.0 / min_aspect)
  aspect = jnp.exp(lo + (hi - lo) * u[:, 1])
  bh = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
  bw = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
  ok = (bw < w) & (bh < h)
  i = jnp.argmax(ok)
  top = jnp.floor(u[i, 2] * (h - bh[i] + 1)).astype(jnp.int32)  # randint(0, h - bh), inclusive
  left = jnp.floor(u[i, 3] * (w - bw[i] + 1)).astype(jnp.int32)
  return top, left, bh[i], bw[i], jnp.any(ok)


def random_erasing(key, images, prob: float = 0.25, mode: str = "pixel", count: int = 1):
  """timm's RandomErasing on normalized NHWC images: with probability ``prob`` per image, ``count``
  boxes (area 2-33%, aspect 0.3-3.3) are filled with N(0, 1) per pixel (``pixel``), per box and channel
  (``rand``) or zeros (``const``)."""
  if mode not in ("pixel", "rand", "const"):
    raise ValueError(f"random erasing mode={mode!r} is unknown; use pixel, rand or const")
  n, h, w, c = images.shape
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]

  def one(k, x):
    k_p, *ks = jax.random.split(k, 1 + count)
    hit = jax.random.uniform(k_p) < prob
    for kb in ks:
      k_u, k_v = jax.random.split(kb)
      top, left, bh, bw, found = erase_box(jax.random.uniform(k_u, (10, 4)), h, w)
      inside = (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw) & found & hit
      shape = (h, w, c) if mode == "pixel" else (1, 1, c)
      fill = (
        jax.random.normal(k_v, shape, x.dtype) if mode != "const" else jnp.zeros((1, 1, c), x.dtype)
      )
      x = jnp.where(inside[..., None], fill, x)
    return x

  return jax.vmap(one)(jax.random.split(key, n), images)
