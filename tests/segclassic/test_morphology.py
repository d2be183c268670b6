"""segclassic morphology against scipy.ndimage and skimage.morphology.thin."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage import data
from skimage import morphology as skmorph
from skimage.morphology import _skeletonize

import segclassic as sc

RNG = np.random.default_rng(0)
FOOTPRINTS = [
  sc.cross(),
  np.ones((2, 2), bool),
  np.ones((3, 4), bool),
  np.ones((1, 3), bool),
  np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]], bool),
  sc.disk(2),
]


@pytest.mark.parametrize("fp", FOOTPRINTS, ids=lambda f: f"{f.shape}")
@pytest.mark.parametrize("bv", [0, 1])
@pytest.mark.parametrize("shape", [(9, 13), (16, 16), (3, 2)])
def test_binary_ops_equal_scipy(fp, bv, shape):
  a = RNG.random(shape) < 0.55
  for ours, ref in [
    (sc.erosion, ndi.binary_erosion),
    (sc.dilation, ndi.binary_dilation),
    (sc.opening, ndi.binary_opening),
    (sc.closing, ndi.binary_closing),
  ]:
    np.testing.assert_array_equal(
      np.asarray(ours(a, fp, border_value=bv)), ref(a, fp, border_value=bv), err_msg=ours.__name__
    )


@pytest.mark.parametrize("fp", FOOTPRINTS, ids=lambda f: f"{f.shape}")
@pytest.mark.parametrize("mode", ["reflect", "constant", "nearest", "mirror", "wrap"])
def test_grey_ops_equal_scipy(fp, mode):
  img = RNG.integers(0, 256, (12, 15)).astype(np.uint8)
  for ours, ref in [
    (sc.erosion, ndi.grey_erosion),
    (sc.dilation, ndi.grey_dilation),
    (sc.opening, ndi.grey_opening),
    (sc.closing, ndi.grey_closing),
  ]:
    np.testing.assert_array_equal(
      np.asarray(ours(img, fp, mode=mode, cval=7)),
      ref(img, footprint=fp, mode=mode, cval=7),
      err_msg=f"{ours.__name__} {mode}",
    )


def test_grey_float_on_camera():
  img = data.camera()[100:228, 100:228].astype(np.float32) / 255
  fp = sc.disk(3)
  np.testing.assert_array_equal(
    np.asarray(sc.opening(img, fp)), ndi.grey_opening(img, footprint=fp)
  )


@pytest.mark.parametrize("use_bg", ["default", "explicit", "empty"])
def test_hit_or_miss_equals_scipy(use_bg):
  a = RNG.random((14, 11)) < 0.5
  fg = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
  bg = {
    "default": None,
    "explicit": np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool),
    "empty": np.zeros((3, 3), bool),
  }[use_bg]
  np.testing.assert_array_equal(
    np.asarray(sc.hit_or_miss(a, fg, bg)), ndi.binary_hit_or_miss(a, fg, bg)
  )


def test_thin_luts_equal_skimage():
  np.testing.assert_array_equal(sc.morphology.THIN_LUTS[0], _skeletonize.G123_LUT)
  np.testing.assert_array_equal(sc.morphology.THIN_LUTS[1], _skeletonize.G123P_LUT)


@pytest.mark.parametrize("name", ["horse", "text", "coins"])
def test_thin_equals_skimage_on_bundled(name):
  img = data.horse() == 0 if name == "horse" else getattr(data, name)() > 100
  img = img[:160, :160]
  np.testing.assert_array_equal(np.asarray(sc.thin(img)), skmorph.thin(img))
  np.testing.assert_array_equal(
    np.asarray(sc.thin(img, max_num_iter=2)), skmorph.thin(img, max_num_iter=2)
  )


def test_thicken_is_dual_of_thinning_and_grows():
  a = RNG.random((20, 17)) < 0.3
  a = ndi.binary_opening(a | ndi.binary_dilation(a), sc.cross())
  t = np.asarray(sc.thicken(a))
  np.testing.assert_array_equal(t, ~skmorph.thin(~a))
  assert np.all(t[a])  # thickening only adds pixels
  t1 = np.asarray(sc.thicken(a, max_num_iter=1))
  np.testing.assert_array_equal(t1, ~skmorph.thin(~a, max_num_iter=1))


def test_batched_equals_per_image_and_jit():
  batch = RNG.random((3, 2, 10, 12)) < 0.5
  fp = np.ones((2, 3), bool)
  f = jax.jit(lambda x: sc.erosion(x, fp))
  out = np.asarray(f(batch))
  for i in range(3):
    for j in range(2):
      np.testing.assert_array_equal(out[i, j], ndi.binary_erosion(batch[i, j], fp))
  thinned = np.asarray(jax.jit(sc.thin)(batch[0]))
  np.testing.assert_array_equal(thinned[1], skmorph.thin(batch[0, 1]))
  np.testing.assert_array_equal(np.asarray(sc.thin(batch[0])), thinned)


def test_bad_inputs():
  with pytest.raises(ValueError, match="not binary"):
    sc.binary_erosion(np.array([[0, 2], [1, 0]]))
  with pytest.raises(ValueError, match="not binary"):
    sc.thin(np.array([[0, 3], [1, 0]]))
  with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
    sc.erosion(np.zeros(5, bool))
  with pytest.raises(ValueError, match="NaN"):
    sc.dilation(np.array([[0.0, np.nan], [1.0, 0.0]]))
  with pytest.raises(ValueError, match="overlap"):
    sc.hit_or_miss(np.zeros((4, 4), bool), np.ones((3, 3)), np.eye(3))


@settings(max_examples=30, deadline=None)
@given(
  st.integers(1, 9),
  st.integers(1, 9),
  st.integers(1, 4),
  st.integers(1, 4),
  st.integers(0, 2**31 - 1),
)
def test_property_random_footprints(h, w, kh, kw, seed):
  r = np.random.default_rng(seed)
  a = r.random((h, w)) < 0.5
  fp = r.random((kh, kw)) < 0.6
  fp.flat[r.integers(fp.size)] = True
  np.testing.assert_array_equal(np.asarray(sc.erosion(a, fp)), ndi.binary_erosion(a, fp))
  np.testing.assert_array_equal(np.asarray(sc.dilation(a, fp)), ndi.binary_dilation(a, fp))
  g = r.integers(0, 9, (h, w)).astype(np.int32)
  np.testing.assert_array_equal(np.asarray(sc.erosion(g, fp)), ndi.grey_erosion(g, footprint=fp))
  np.testing.assert_array_equal(np.asarray(sc.dilation(g, fp)), ndi.grey_dilation(g, footprint=fp))
