"""The lecture's own algorithms and worked examples: hit-or-miss thinning and thickening, replicate
padding on the 8x8 example, the Bayes decision / minimum-error threshold, the lecture's k-means, and
every global threshold on batches."""

import importlib

import jax
import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy import optimize, stats
from skimage import data

import segclassic as sc
from segclassic import morphology

km = importlib.import_module(
  "segclassic.kmeans"
)  # the module (segclassic.kmeans is also a function)

RNG = np.random.default_rng(19)

# "Difference between Erosion and Thinning"
LECTURE_FG = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]], bool)
LECTURE_BG = np.array([[1, 1, 1], [0, 0, 0], [0, 0, 0]], bool)


def _blobs(shape, seed):
  rng = np.random.default_rng(seed)
  x = ndi.gaussian_filter(rng.random(shape), 1.5)
  return x > np.percentile(x, 45)


def _numpy_thin(a, pairs):
  """The lecture's definition, literally: A <- A minus (A hit-or-miss B_k) for k = 0..7, until stable."""
  a = a.copy()
  while True:
    before = a.copy()
    for fg, bg in pairs:
      a = a & ~ndi.binary_hit_or_miss(a, fg, bg)
    if (a == before).all():
      return a


def _numpy_thicken(a, pairs):
  """A <- A or (A hit-or-miss of the complement pair), k = 0..7, until stable."""
  a = a.copy()
  while True:
    before = a.copy()
    for fg, bg in pairs:
      a = a | ndi.binary_hit_or_miss(a, bg, fg)
    if (a == before).all():
      return a


def test_lecture_pairs_are_the_printed_pair_rotated():
  fg0, bg0 = morphology.LECTURE_PAIRS[0]
  np.testing.assert_array_equal(fg0, LECTURE_FG)
  np.testing.assert_array_equal(bg0, LECTURE_BG)
  for k in range(4):  # every second pair is a 90-degree clockwise rotation
    fg, bg = morphology.LECTURE_PAIRS[2 * k]
    np.testing.assert_array_equal(fg, np.rot90(LECTURE_FG, -k))
    np.testing.assert_array_equal(bg, np.rot90(LECTURE_BG, -k))
  fg1, bg1 = morphology.LECTURE_PAIRS[1]  # 45 degrees: the outer ring moved one cell clockwise
  np.testing.assert_array_equal(fg1, [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
  np.testing.assert_array_equal(bg1, [[0, 1, 1], [0, 0, 1], [0, 0, 0]])


@pytest.mark.parametrize("shape,seed", [((17, 23), 0), ((32, 32), 1), ((9, 14), 2)])
def test_hit_or_miss_thinning_and_thickening_equal_the_numpy_loop(shape, seed):
  a = _blobs(shape, seed)
  pairs = morphology.LECTURE_PAIRS
  np.testing.assert_array_equal(np.asarray(sc.thin(a, method="hit_or_miss")), _numpy_thin(a, pairs))
  np.testing.assert_array_equal(
    np.asarray(sc.thicken(a, method="hit_or_miss")), _numpy_thicken(a, pairs)
  )


def test_hit_or_miss_thinning_on_a_bundled_image_batched_and_jitted():
  horse = ~data.horse()[::4, ::4]  # the horse as foreground, 82x100
  want = _numpy_thin(horse, morphology.LECTURE_PAIRS)
  batch = np.stack([horse, _blobs(horse.shape, 5)])
  got = jax.jit(lambda x: sc.thin(x, method="hit_or_miss"))(batch)
  np.testing.assert_array_equal(np.asarray(got[0]), want)
  np.testing.assert_array_equal(np.asarray(got[1]), _numpy_thin(batch[1], morphology.LECTURE_PAIRS))
  assert 0 < want.sum() < 0.5 * horse.sum()  # thinned, not erased
  one = np.asarray(sc.thin(horse, 1, method="hit_or_miss"))  # max_num_iter counts passes
  np.testing.assert_array_equal(one, _numpy_thin_passes(horse, 1))


def _numpy_thin_passes(a, n):
  a = a.copy()
  for _ in range(n):
    for fg, bg in morphology.LECTURE_PAIRS:
      a = a & ~ndi.binary_hit_or_miss(a, fg, bg)
  return a


def test_the_two_thinnings_differ_on_a_bar():
  bar = np.zeros((5, 10), bool)
  bar[1:4, 1:9] = True
  guo = np.asarray(sc.thin(bar))
  hom = np.asarray(sc.thin(bar, method="hit_or_miss"))
  from skimage.morphology import thin as sk_thin

  np.testing.assert_array_equal(guo, sk_thin(bar))
  np.testing.assert_array_equal(hom, _numpy_thin(bar, morphology.LECTURE_PAIRS))
  assert (guo != hom).any()
  with pytest.raises(ValueError, match="method"):
    sc.thin(bar, method="zhang")


# The lecture's 8x8 erosion/dilation example ("Padding the boundary with the same value as the
# neighbor"), 3x3 square. Expected outputs written by hand from the rule (and equal to the lecture's).
IM8 = np.array(
  [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 0, 0, 1, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 0, 1, 1, 1, 1, 0, 0],
  ],
  bool,
)
ERODED8 = np.array(
  [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 1, 1, 1, 0, 0],
    [0, 0, 1, 1, 1, 1, 0, 0],
    [0, 0, 0, 1, 1, 0, 0, 0],
    [0, 0, 0, 1, 1, 0, 0, 0],
  ],
  bool,
)
DILATED8 = np.array([[1, 1, 1, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 1, 1, 1]] + [[1] * 8] * 6, bool)


def test_the_lectures_8x8_example_with_replicate_padding():
  se = np.ones((3, 3), bool)
  np.testing.assert_array_equal(np.asarray(sc.binary_erosion(IM8, se, mode="nearest")), ERODED8)
  np.testing.assert_array_equal(np.asarray(sc.binary_dilation(IM8, se, mode="nearest")), DILATED8)
  # the constant borders cannot give both (why the lecture pads with the neighbour)
  assert not np.asarray(sc.binary_erosion(IM8, se, border_value=0))[7].any()  # last row lost
  assert np.asarray(sc.binary_dilation(IM8, se, border_value=1))[0].all()  # first row filled
  # replicate padding equals scipy's grey morphology with mode='nearest' on 0/1 images
  for fn, ref in ((sc.binary_opening, ndi.grey_opening), (sc.binary_closing, ndi.grey_closing)):
    img = _blobs((13, 16), 3)
    want = ref(img.astype(np.uint8), footprint=se, mode="nearest").astype(bool)
    np.testing.assert_array_equal(np.asarray(fn(img, se, mode="nearest")), want)


def _numpy_criterion(v, t):
  a, b = v[v <= t], v[v > t]
  if a.size == 0 or b.size == 0 or a.var() == 0 or b.var() == 0:
    return np.inf
  p1, p2 = a.size / v.size, b.size / v.size
  return (
    1 + 2 * (p1 * np.log(a.std()) + p2 * np.log(b.std())) - 2 * (p1 * np.log(p1) + p2 * np.log(p2))
  )


def _numpy_minimum_error(img):
  """Brute force in float64 over every split of the pixel values (no histogram code shared with the
  library): ``(best threshold, its criterion)``."""
  v = img.astype(np.float64).ravel()
  js = {t: _numpy_criterion(v, t) for t in np.unique(v)[:-1]}
  t = min(js, key=js.get)
  return t, js[t]


def _assert_minimum_error(img):
  """The library's threshold is the brute-force minimum, or (a near tie closer than float32 resolves:
  1e-6 of J) a split whose float64 criterion equals the minimum to that precision."""
  t_ref, j_ref = _numpy_minimum_error(img)
  t = int(sc.threshold_minimum_error(img))
  if t != t_ref:
    j = _numpy_criterion(img.astype(np.float64).ravel(), t)
    assert j - j_ref <= 1e-6 * abs(j_ref), (t, t_ref, j, j_ref)


def _two_gaussians(n, m1, s1, p1, m2, s2, seed):
  rng = np.random.default_rng(seed)
  k = rng.random(n) < p1
  x = np.where(k, rng.normal(m1, s1, n), rng.normal(m2, s2, n))
  return np.clip(np.round(x), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_minimum_error_threshold_equals_brute_force(seed):
  img = _two_gaussians(40 * 50, 70, 12, 0.3, 160, 25, seed).reshape(40, 50)
  _assert_minimum_error(img)
  _assert_minimum_error(
    _two_gaussians(33 * 17, 120, 30, 0.6, 200, 8, seed).reshape(33, 17)
  )  # odd sizes
  _assert_minimum_error(data.camera()[::8, ::8])
  lone = img.copy()
  lone[0, 0] = (
    255  # a level held by one pixel: a class of it alone has no spread and is not a split
  )
  _assert_minimum_error(lone)


def test_minimum_error_on_a_full_size_texture():
  """512x512 grass: the criterion's minimum at 241 (float64 J 8.305821) is within 1e-5 of a split
  240 levels away (T = 1, J 8.305911); float32 running-sum variances picked T = 1, and a computed
  variance of the one-pixel class above 241 won as log(rounding noise)."""
  _assert_minimum_error(data.grass())


def test_bayes_threshold_is_the_crossing_of_the_weighted_pdfs():
  # equal spreads: the closed form (m1 + m2) / 2 - s^2 ln(p2 / p1) / (m2 - m1) (the smaller class's side shrinks)
  m1, m2, s, p1 = 60.0, 150.0, 20.0, 0.3
  want = (m1 + m2) / 2 - s**2 * np.log((1 - p1) / p1) / (m2 - m1)
  np.testing.assert_allclose(float(sc.bayes_threshold(m1, s, p1, m2, s, 1 - p1)), want, rtol=1e-5)
  # unequal spreads: the root of the pdf difference between the means (scipy's brentq)
  for a, sa, pa, b, sb, pb in (
    (70, 12, 0.3, 160, 25, 0.7),
    (200, 30, 0.6, 90, 10, 0.4),
    (50, 5, 0.5, 60, 15, 0.5),
  ):
    f = lambda x: pa * stats.norm.pdf(x, a, sa) - pb * stats.norm.pdf(x, b, sb)
    root = optimize.brentq(f, min(a, b), max(a, b))
    np.testing.assert_allclose(float(sc.bayes_threshold(a, sa, pa, b, sb, pb)), root, rtol=1e-4)


def test_minimum_error_lands_near_the_bayes_threshold_of_the_true_classes():
  img = _two_gaussians(256 * 256, 70, 12, 0.3, 160, 25, seed=7).reshape(256, 256)
  bayes = float(sc.bayes_threshold(70, 12, 0.3, 160, 25, 0.7))
  assert abs(int(sc.threshold_minimum_error(img)) - bayes) <= 2.0, (
    int(sc.threshold_minimum_error(img)),
    bayes,
  )


def test_every_global_threshold_on_a_batch_equals_per_image_under_jit():
  imgs = np.stack(
    [
      data.camera()[::4, ::4],
      data.coins()[:128, :128],
      data.moon()[::4, ::4],
      _two_gaussians(128 * 128, 70, 12, 0.3, 160, 25, 3).reshape(128, 128),
    ]
  )
  batch = imgs.reshape(2, 2, 128, 128)
  for fn in (sc.threshold_otsu, sc.threshold_iterative, sc.threshold_minimum_error):
    got = np.asarray(jax.jit(fn)(batch))
    assert got.shape == (2, 2)
    want = np.array([float(fn(im)) for im in imgs]).reshape(2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=fn.__name__)
  maps = np.asarray(jax.jit(lambda x: sc.threshold_adaptive_otsu(x, 32, 150.0))(batch))
  assert maps.shape == (2, 2, 128, 128)
  np.testing.assert_array_equal(
    maps[1, 0], np.asarray(sc.threshold_adaptive_otsu(imgs[2], 32, 150.0))
  )


def _numpy_lecture_kmeans(x, c):
  """Steps 2-4 of the lecture in NumPy: assign, take means, repeat while a centre changed."""
  it = 0
  while True:
    labels = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    new = np.array([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(len(c))])
    it += 1
    if np.array_equal(new, c):
      return new, it
    c = new


def test_lecture_kmeans_stops_when_the_centres_stop_changing():
  img = data.astronaut()[::16, ::16]
  x = np.asarray(sc.kmeans_features(img))
  key = jax.random.PRNGKey(3)
  labels, centers, _ = sc.kmeans(x, 4, key, n_init=1, init="random")
  c = np.asarray(centers)
  # the result is a fixed point: one more assign + mean step changes no centre
  np.testing.assert_array_equal(np.asarray(km.lloyd_step(x, centers)), c)
  # and it is where the NumPy loop of the lecture stops from the same random start
  start = np.asarray(km._random_init(jax.random.split(key, 1)[0], x, 4))
  assert len({tuple(r) for r in start}) == 4 and all(
    (x == r).all(1).any() for r in start
  )  # distinct data points
  want, iters = _numpy_lecture_kmeans(x.astype(np.float32), start)
  np.testing.assert_allclose(c, want, atol=1e-5)
  assert iters > 1
  lab, _ = sc.kmeans_segment(img, 4, init="random", n_init=1, key=key)
  assert lab.shape == img.shape[:2]
  with pytest.raises(ValueError, match="init"):
    sc.kmeans(x, 4, key, init="forgy")
