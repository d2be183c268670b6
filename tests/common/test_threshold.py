"""common.threshold.otsu against skimage.filters.threshold_otsu."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data, exposure, filters

from common import threshold

RNG = np.random.default_rng(2)
OTSU = jax.jit(threshold.otsu, static_argnames="nbins")


@pytest.mark.parametrize("name", ["camera", "coins", "page", "text", "moon"])
def test_equals_skimage_on_bundled_uint8(name):
  img = getattr(data, name)()
  assert int(OTSU(img)) == filters.threshold_otsu(img)


@pytest.mark.parametrize("shape", [(7, 5), (64, 64), (33, 80)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_equals_skimage_random_integer(shape, dtype):
  info = np.iinfo(dtype)
  lo, hi = max(info.min, -3000), min(info.max, 3000 if dtype != np.uint8 else 255)
  a = RNG.integers(lo, hi, size=shape).astype(dtype)
  b = (RNG.random(shape) < 0.4) * RNG.integers(0, (hi - lo) // 3, size=shape)
  img = np.clip(a.astype(np.int64) + b, lo, hi).astype(dtype)
  assert int(OTSU(img)) == int(filters.threshold_otsu(img))


@pytest.mark.parametrize("nbins", [16, 256, 255])
@pytest.mark.parametrize("shape", [(40, 40), (9, 13)])
def test_equals_skimage_random_float32(nbins, shape):
  img = np.concatenate(
    [RNG.normal(0.2, 0.1, size=shape), RNG.normal(0.7, 0.15, size=shape)]
  ).astype(np.float32)
  want = filters.threshold_otsu(img, nbins=nbins)
  np.testing.assert_allclose(float(OTSU(img, nbins=nbins)), want, rtol=0, atol=1e-6)


def test_histogram_equals_skimage_float32():
  img = RNG.random((50, 50)).astype(np.float32) * 3 - 1
  c, b = threshold.histogram(img, 256)
  wc, wb = exposure.histogram(img, 256)
  np.testing.assert_array_equal(np.asarray(c), wc)
  np.testing.assert_allclose(np.asarray(b), wb, atol=1e-6)


def test_constant_and_two_level_images():
  assert int(OTSU(np.full((5, 5), 7, np.uint8))) == 7
  assert float(OTSU(np.full((5, 5), 0.25, np.float32))) == 0.25
  two = np.array([[0, 0, 255, 255]] * 3, np.uint8)
  assert int(OTSU(two)) == filters.threshold_otsu(two)


def test_vmap_batch_equals_loop():
  imgs = np.stack([data.camera()[:64, :64], data.coins()[:64, :64], data.moon()[:64, :64]])
  got = jax.vmap(threshold.otsu)(imgs)
  np.testing.assert_array_equal(np.asarray(got), [filters.threshold_otsu(i) for i in imgs])


def test_bad_dtype_message():
  with pytest.raises(ValueError, match="8- or 16-bit"):
    threshold.otsu(np.zeros((3, 3), np.int32))


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 30), st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_property_uint8_random(h, w, seed):
  img = np.random.default_rng(seed).integers(0, 256, size=(h, w)).astype(np.uint8)
  assert int(threshold.otsu(img)) == int(filters.threshold_otsu(img))


def test_device_bincount_path_equals_skimage(monkeypatch):
  """The accelerator path (jnp.bincount on the device) gives the CPU path's (host numpy) threshold."""
  monkeypatch.setenv("MEDJAX_PLATFORM", "accelerator")
  img = np.random.default_rng(3).integers(0, 256, (37, 41)).astype(np.uint8)
  assert int(threshold.otsu(img)) == int(filters.threshold_otsu(img))
  counts, _ = threshold.histogram(img)
  np.testing.assert_array_equal(np.asarray(counts), exposure.histogram(img)[0])
