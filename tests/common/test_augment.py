"""common.augment against PIL (the library timm's RandAugment calls) and a plain loop of timm's erasing."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from common import augment

FILL = (124, 116, 104)


def _image(h, w, seed=0, low=0, high=256):
  rng = np.random.default_rng(seed)
  base = rng.integers(low, high, (h, w, 3))
  smooth = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1)) // 3  # some spatial structure
  return np.where(rng.random((h, w, 1)) < 0.5, base, smooth).astype(np.uint8)


def _ours(img, name, magnitude, sign=1.0, order=1):
  out = augment.apply_op(jnp.asarray(img, jnp.float32), name, magnitude, sign, order)
  return np.asarray(out)


def _solarize_add(img, add, thresh=128):  # the op as timm writes it: a lookup table through PIL
  lut = [min(255, i + add) if i < thresh else i for i in range(256)]
  return img.point(lut * 3)


def _pil(img, name, magnitude, sign=1.0, resample=Image.BILINEAR):
  im = Image.fromarray(img)
  m = magnitude / 10.0
  kw = dict(resample=resample, fillcolor=FILL)
  factor = 1.0 + sign * m * 0.9
  w, h = im.size
  ref = {
    "AutoContrast": lambda: ImageOps.autocontrast(im),
    "Equalize": lambda: ImageOps.equalize(im),
    "Invert": lambda: ImageOps.invert(im),
    "Rotate": lambda: im.rotate(sign * m * 30.0, **kw),
    "PosterizeIncreasing": lambda: ImageOps.posterize(im, 4 - int(m * 4)),
    "Posterize": lambda: ImageOps.posterize(im, int(m * 4)),
    "SolarizeIncreasing": lambda: ImageOps.solarize(im, 256 - int(m * 256)),
    "Solarize": lambda: ImageOps.solarize(im, int(m * 256)),
    "SolarizeAdd": lambda: _solarize_add(im, int(m * 110)),
    "ColorIncreasing": lambda: ImageEnhance.Color(im).enhance(factor),
    "ContrastIncreasing": lambda: ImageEnhance.Contrast(im).enhance(factor),
    "BrightnessIncreasing": lambda: ImageEnhance.Brightness(im).enhance(factor),
    "SharpnessIncreasing": lambda: ImageEnhance.Sharpness(im).enhance(factor),
    "Color": lambda: ImageEnhance.Color(im).enhance(m * 1.8 + 0.1),
    "ShearX": lambda: im.transform(im.size, Image.AFFINE, (1, sign * m * 0.3, 0, 0, 1, 0), **kw),
    "ShearY": lambda: im.transform(im.size, Image.AFFINE, (1, 0, 0, sign * m * 0.3, 1, 0), **kw),
    "TranslateXRel": lambda: im.transform(
      im.size, Image.AFFINE, (1, 0, sign * m * 0.45 * w, 0, 1, 0), **kw
    ),
    "TranslateYRel": lambda: im.transform(
      im.size, Image.AFFINE, (1, 0, 0, 0, 1, sign * m * 0.45 * h), **kw
    ),
  }[name]()
  return np.asarray(ref, np.float32)


POINT_OPS = [
  "AutoContrast",
  "Equalize",
  "Invert",
  "PosterizeIncreasing",
  "Posterize",
  "SolarizeIncreasing",
  "Solarize",
  "SolarizeAdd",
]
BLEND_OPS = [
  "ColorIncreasing",
  "ContrastIncreasing",
  "BrightnessIncreasing",
  "SharpnessIncreasing",
  "Color",
]
GEOMETRY = ["Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


@pytest.mark.parametrize("name", [n for n in POINT_OPS if n != "AutoContrast"])
@pytest.mark.parametrize("shape,magnitude", [((17, 24), 9.0), ((32, 31), 4.3), ((8, 8), 9.9)])
def test_point_ops_equal_pil(name, shape, magnitude):
  img = _image(*shape, seed=len(name), low=30, high=220)  # equalize has work to do
  np.testing.assert_array_equal(_ours(img, name, magnitude), _pil(img, name, magnitude))


def test_posterize_to_zero_bits_is_black():
  img = _image(8, 9)
  assert not _ours(img, "PosterizeIncreasing", 10.0).any()  # bits 4 - 4: Pillow < 9 gave black


def _check_autocontrast(img):
  """Ours is the exact floor((i - lo) 255 / (hi - lo)); PIL computes it in float64 and truncates, so where
  the exact value is an integer k it may give k - 1."""
  ours, ref = _ours(img, "AutoContrast", 9.0), _pil(img, "AutoContrast", 9.0)
  lo, hi = img.min(axis=(0, 1)).astype(int), img.max(axis=(0, 1)).astype(int)
  i = img.astype(int)
  span = np.maximum(hi - lo, 1)
  exact = np.where(hi > lo, (i - lo) * 255 // span, i)
  np.testing.assert_array_equal(ours, exact)
  on_integer = ((i - lo) * 255 % span == 0) & (hi > lo)
  assert np.all((ref == ours) | (on_integer & (ref == ours - 1)))


@pytest.mark.parametrize("shape", [(17, 24), (8, 8), (32, 31)])
def test_autocontrast_equals_pil_up_to_its_float_truncation(shape):
  _check_autocontrast(_image(*shape, seed=2, low=30, high=220))


def test_equalize_and_autocontrast_leave_flat_channels_alone():
  img = _image(9, 10)
  img[..., 1] = 77
  np.testing.assert_array_equal(_ours(img, "Equalize", 9.0), _pil(img, "Equalize", 9.0))
  _check_autocontrast(img)


@pytest.mark.parametrize("name", BLEND_OPS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_blend_ops_match_pil_to_one_level(name, sign):
  for shape, magnitude in (((19, 26), 9.0), ((32, 32), 6.5)):
    img = _image(*shape, seed=3)
    d = np.abs(_ours(img, name, magnitude, sign) - _pil(img, name, magnitude, sign))
    assert d.max() <= 1.0, (
      name,
      d.max(),
    )  # PIL's grey level rounds in fixed point, dm-pix in float
    assert np.mean(d) < 0.05, (name, np.mean(d))


@pytest.mark.parametrize("name", GEOMETRY)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_geometry_nearest_equals_pil(name, sign):
  img = _image(21, 28, seed=5)
  ours = _ours(img, name, 7.3, sign, order=0)
  ref = _pil(img, name, 7.3, sign, resample=Image.NEAREST)
  assert np.mean(np.any(ours != ref, -1)) < 0.01  # ties at exact half-pixels may round either way


@pytest.mark.parametrize("name", GEOMETRY)
def test_geometry_bilinear_matches_pil_inside(name):
  img = _image(24, 27, seed=7)
  ours, ref = _ours(img, name, 9.0, 1.0, order=1), _pil(img, name, 9.0, 1.0)
  filled = np.all(ref == np.asarray(FILL, np.float32), -1)
  # away from the fill frame (PIL clamps at the edge, dm-pix mixes with the fill over the last pixel)
  from scipy import ndimage

  inner = ~ndimage.binary_dilation(filled, iterations=2)
  inner[:2], inner[-2:], inner[:, :2], inner[:, -2:] = False, False, False, False
  assert inner.sum() > 100
  assert np.abs(ours - ref)[inner].max() <= 1.0
  assert np.mean(filled == np.all(ours == np.asarray(FILL, np.float32), -1)) > 0.9


def test_parse_spec_reads_timm_strings():
  s = augment.parse_spec("rand-m9-mstd0.5-inc1")
  assert (s.magnitude, s.num_layers, s.magnitude_std, s.increasing, s.prob) == (
    9.0,
    2,
    0.5,
    True,
    0.5,
  )
  assert augment.parse_spec("rand-n3-m5").ops == augment.OPS
  with pytest.raises(ValueError, match="unknown part"):
    augment.parse_spec("rand-m9-zz1")


def test_rand_augment_batch_changes_images_per_example():
  x = jnp.asarray(np.stack([_image(16, 16, seed=i) for i in range(8)]) / 255.0, jnp.float32)
  y = np.asarray(
    jax.jit(lambda k, x: augment.rand_augment(k, x, "rand-m9-mstd0.5-inc1"))(jax.random.key(0), x)
  )
  assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
  np.testing.assert_allclose(y * 255, np.round(y * 255), atol=1e-3)  # stays on 8-bit levels
  changed = np.any(np.abs(y - np.asarray(x)) > 1e-6, axis=(1, 2, 3))
  # each of 2 ops applies with probability 1/2 (some ops can be no-ops): most images change, not all alike
  assert changed.sum() >= 4
  assert len({y[i].tobytes() for i in range(8)}) == 8


def _timm_box(u, h, w):
  """timm's RandomErasing._erase loop (count 1), with its random calls replaced by the draws u."""
  area = h * w
  for a in range(10):
    target_area = (0.02 + (1 / 3 - 0.02) * u[a, 0]) * area
    lo, hi = math.log(0.3), math.log(1 / 0.3)
    aspect = math.exp(lo + (hi - lo) * u[a, 1])
    bh = int(round(math.sqrt(target_area * aspect)))
    bw = int(round(math.sqrt(target_area / aspect)))
    if bw < w and bh < h:
      top = int(u[a, 2] * (h - bh + 1))  # random.randint(0, h - bh)
      left = int(u[a, 3] * (w - bw + 1))
      return top, left, bh, bw, True
  return None


@pytest.mark.parametrize("h,w", [(32, 32), (15, 40), (5, 3)])
def test_erase_box_is_timms_loop(h, w):
  rng = np.random.default_rng(h * w)
  for _ in range(50):
    u = rng.random((10, 4)).astype(np.float32)
    got = tuple(int(v) for v in augment.erase_box(jnp.asarray(u), h, w))
    ref = _timm_box(u.astype(np.float64), h, w)
    if ref is None:
      assert got[-1] == 0
    else:
      assert got == tuple(int(v) for v in ref)


def test_random_erasing_rate_and_fill():
  x = jnp.full((400, 16, 16, 3), 5.0)
  y = np.asarray(augment.random_erasing(jax.random.key(1), x, prob=0.25))
  hit = np.any(y != 5.0, axis=(1, 2, 3))
  # binomial(400, 0.25): mean 100, sd 8.7
  assert 70 < hit.sum() < 130
  vals = y[y != 5.0]
  assert abs(vals.mean()) < 0.05 and abs(vals.std() - 1.0) < 0.05
  frac = np.mean(np.any(y[hit] != 5.0, -1), axis=(1, 2))
  assert frac.min() >= 0.01 and frac.max() <= 0.4
