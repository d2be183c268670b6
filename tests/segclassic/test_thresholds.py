"""segclassic thresholds, k-means and histogram helpers against skimage / sklearn / the lecture."""

import jax
import numpy as np
import pytest
from skimage import data, exposure, filters
from sklearn.cluster import KMeans

import segclassic as sc

RNG = np.random.default_rng(3)

# the lecture's 6-level, 6x6 example: 8, 7, 2, 6, 9, 4 pixels at levels 0..5
LECTURE_HIST = np.array([8, 7, 2, 6, 9, 4])


def test_lecture_otsu_table():
  t = sc.otsu_variances(LECTURE_HIST)
  np.testing.assert_allclose(t["within"][3], 0.4909, atol=1e-4)
  np.testing.assert_allclose(t["between"][3], 2.6287, atol=1e-4)
  np.testing.assert_allclose(
    t["within"], [3.1196, 1.5268, 0.5561, 0.4909, 0.9779, 2.2491], atol=1e-4
  )
  np.testing.assert_allclose(t["between"], [0, 1.5928, 2.5635, 2.6287, 2.1417, 0.8705], atol=1e-4)
  np.testing.assert_allclose(t["w_b"][3], 0.4722, atol=1e-4)
  np.testing.assert_allclose(t["m_f"][3], 3.8947, atol=1e-4)
  np.testing.assert_allclose(t["var_b"][3], 0.4637, atol=1e-4)
  # within + between = total variance for every T
  levels = np.repeat(np.arange(6), LECTURE_HIST)
  np.testing.assert_allclose(t["within"] + t["between"], levels.var(), atol=1e-4)
  # and the argmax is where skimage's Otsu puts it (foreground > t, i.e. levels >= t + 1)
  img = levels.reshape(6, 6).astype(np.uint8)
  assert int(np.argmax(t["between"])) == filters.threshold_otsu(img) + 1


@pytest.mark.parametrize("name", ["camera", "coins", "moon", "page"])
def test_iterative_is_an_isodata_fixed_point(name):
  img = getattr(data, name)()
  t = float(sc.threshold_iterative(img))
  fixed = filters.threshold_isodata(img, return_all=True)
  assert np.min(np.abs(fixed - t)) <= 1.0, (t, fixed)


def test_iterative_on_float_and_initial():
  img = np.concatenate([RNG.normal(0.2, 0.05, 500), RNG.normal(0.8, 0.05, 500)]).reshape(20, 50)
  t = float(sc.threshold_iterative(img.astype(np.float32), tol=1e-4, initial=0.3))
  assert 0.45 < t < 0.55


@pytest.mark.parametrize("method", ["gaussian", "mean"])
@pytest.mark.parametrize("block", [3, 11, 35])
@pytest.mark.parametrize("mode", ["reflect", "nearest", "constant", "mirror", "wrap"])
def test_threshold_local_equals_skimage(method, block, mode):
  img = data.page()[:90, :77]
  want = filters.threshold_local(img, block, method=method, offset=2.5, mode=mode, cval=3.0)
  got = np.asarray(sc.threshold_local(img, block, method=method, offset=2.5, mode=mode, cval=3.0))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * 255)


def test_threshold_local_float_and_batched():
  imgs = RNG.random((2, 30, 31)).astype(np.float32)
  got = np.asarray(jax.jit(lambda x: sc.threshold_local(x, 7))(imgs))
  for i in range(2):
    np.testing.assert_allclose(got[i], filters.threshold_local(imgs[i], 7), rtol=1e-5, atol=1e-6)


def test_adaptive_otsu_beats_global_on_page():
  page = data.page()
  glob = page > filters.threshold_otsu(page)
  adapt = np.asarray(sc.threshold_adaptive_otsu(page, window=32, var_threshold=150.0))
  # the page's lower-left is shaded: global Otsu turns it into "text"; the adaptive mask keeps it paper.
  # Measure on the local-threshold reference segmentation (skimage's own local method).
  ref = page > filters.threshold_local(page, 35, offset=10)
  acc = lambda m: float(np.mean(m == ref))
  assert acc(adapt) > acc(glob) + 0.05, (acc(adapt), acc(glob))
  assert acc(adapt) > 0.9


def test_kmeans_inertia_within_one_percent_of_sklearn():
  img = data.coffee()[::4, ::4]
  for features, k in [("color", 3), ("color+position", 4)]:
    x = np.asarray(sc.kmeans_features(img, features, position_weight=0.5))
    _, _, inertia = sc.kmeans(x, k, jax.random.PRNGKey(0), n_init=4)
    ref = KMeans(k, n_init=4, random_state=0).fit(x.astype(np.float64)).inertia_
    assert float(inertia) <= 1.01 * ref, (features, float(inertia), ref)


def test_kmeans_segment_shapes_and_errors():
  labels, centers = sc.kmeans_segment(data.camera()[::8, ::8], 3, key=jax.random.PRNGKey(1))
  assert (
    labels.shape == (64, 64) and centers.shape == (3, 1) and set(np.unique(labels)) <= {0, 1, 2}
  )
  with pytest.raises(ValueError, match="features"):
    sc.kmeans_segment(data.camera()[:8, :8], 2, features="texture")
  with pytest.raises(ValueError, match="k=0"):
    sc.kmeans(np.zeros((5, 2)), 0, jax.random.PRNGKey(0))


def test_equalize_hist_equals_skimage():
  for img in (data.moon(), data.camera()[:50, :60], RNG.random((20, 21)).astype(np.float32)):
    np.testing.assert_allclose(
      np.asarray(sc.equalize_hist(img)), exposure.equalize_hist(img), atol=2e-6
    )


def test_bad_inputs_give_clear_errors():
  with pytest.raises(ValueError, match="odd"):
    sc.threshold_local(np.zeros((8, 8)), 4)
  with pytest.raises(ValueError, match=r"grayscale images \(\.\.\., H, W\)"):
    sc.threshold_otsu(np.zeros((5,), np.uint8))
  with pytest.raises(ValueError, match="NaN"):
    sc.threshold_iterative(np.array([[0.0, np.nan]]))
