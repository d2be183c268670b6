"""common.metrics against scikit-image, scipy and plain NumPy loops."""

import jax
import numpy as np
import pytest
import scipy.linalg
from skimage import data
from skimage import metrics as skm

from common import metrics

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("shape", [(11, 11, 1), (32, 27, 3), (64, 64, 2)])
def test_ssim_equals_skimage(shape):
  x = RNG.random(shape).astype(np.float32)
  y = np.clip(x + 0.2 * RNG.normal(size=shape), 0, 1).astype(np.float32)
  want = skm.structural_similarity(
    x,
    y,
    data_range=1.0,
    gaussian_weights=True,
    sigma=1.5,
    use_sample_covariance=False,
    channel_axis=-1,
  )
  np.testing.assert_allclose(float(metrics.ssim(x, y, data_range=1.0)), want, atol=2e-5)


def test_ssim_on_camera_uint8_range():
  cam = data.camera()[:128, :128].astype(np.float32)
  noisy = np.clip(cam + RNG.normal(0, 20, cam.shape), 0, 255).astype(np.float32)
  want = skm.structural_similarity(
    cam[..., None],
    noisy[..., None],
    data_range=255,
    gaussian_weights=True,
    sigma=1.5,
    use_sample_covariance=False,
    channel_axis=-1,
  )
  np.testing.assert_allclose(
    float(metrics.ssim(cam[..., None], noisy[..., None], data_range=255.0)), want, atol=2e-5
  )


def test_ssim_batched_and_errors():
  x = RNG.random((2, 3, 16, 16, 1)).astype(np.float32)
  y = RNG.random((2, 3, 16, 16, 1)).astype(np.float32)
  b = jax.jit(lambda a, c: metrics.ssim(a, c, data_range=1.0))(x, y)
  assert b.shape == (2, 3)
  np.testing.assert_allclose(b[1, 2], metrics.ssim(x[1, 2], y[1, 2], data_range=1.0), rtol=1e-6)
  with pytest.raises(ValueError, match="smaller than"):
    metrics.ssim(x[..., :8, :8, :], y[..., :8, :8, :], data_range=1.0)
  with pytest.raises(ValueError, match="channel"):
    metrics.ssim(x[0, 0, ..., 0], y[0, 0, ..., 0], data_range=1.0)


def test_psnr_snr_equal_skimage_and_numpy():
  x = RNG.random((20, 20, 3))
  y = x + 0.05 * RNG.normal(size=x.shape)
  np.testing.assert_allclose(
    float(metrics.psnr(x, y, data_range=1.0)),
    skm.peak_signal_noise_ratio(x, y, data_range=1.0),
    rtol=1e-5,
  )
  want_snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
  np.testing.assert_allclose(float(metrics.snr(x, y)), want_snr, rtol=1e-5)


def test_pcc_equals_numpy_corrcoef():
  x, y = RNG.random((4, 50)), RNG.random((4, 50))
  want = [np.corrcoef(a, b)[0, 1] for a, b in zip(x, y)]
  np.testing.assert_allclose(metrics.pcc(x, y), want, rtol=1e-5)
  m1, m2 = RNG.random((3, 8, 9)), RNG.random((3, 8, 9))
  np.testing.assert_allclose(
    metrics.pcc(m1, m2, axis=(-2, -1)),
    [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(m1, m2)],
    rtol=1e-5,
  )


def test_mardia_equals_loops():
  x = RNG.normal(size=(30, 4))
  b1 = sum((x[j] @ x[k]) ** 3 for j in range(30) for k in range(30)) / 30**2
  b2 = sum(np.sum(x[j] ** 2) ** 2 for j in range(30)) / 30
  np.testing.assert_allclose(float(metrics.mardia_skewness(x)), b1, rtol=1e-4)
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x)), b2, rtol=1e-5)
  np.testing.assert_allclose(
    float(metrics.mardia_kurtosis(x, normalized=True)), b2 - 24, rtol=1e-4, atol=1e-4
  )
  # classical (standardized) skewness: Mahalanobis inner products with the ML covariance
  xc = x - x.mean(0)
  s_inv = np.linalg.inv(xc.T @ xc / 30)
  g = xc @ s_inv @ xc.T
  np.testing.assert_allclose(
    float(metrics.mardia_skewness(x, standardize=True)), np.mean(g**3), rtol=1e-3
  )
  np.testing.assert_allclose(
    float(metrics.mardia_kurtosis(x, standardize=True)), np.mean(np.diag(g) ** 2), rtol=1e-3
  )


def test_mardia_normal_expectations():
  x = RNG.normal(size=(20000, 3)).astype(np.float32)
  assert abs(float(metrics.mardia_skewness(x[:2000]))) < 1.0
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x)), 15.0, rtol=0.05)


def test_mardia_test_equals_loops_and_scipy():
  """A = n b1 / 6 ~ chi2(D(D+1)(D+2)/6), B = (b2 - D(D+2)) / sqrt(8 D(D+2) / n) ~ N(0, 1), written out."""
  from scipy import stats

  x = RNG.normal(size=(40, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 2.0, 0.1], [0.0, 0.0, 0.5]]) + 4.0
  n, d = x.shape
  xc = x - x.mean(0)
  s_inv = np.linalg.inv(xc.T @ xc / n)
  b1 = sum((xc[j] @ s_inv @ xc[k]) ** 3 for j in range(n) for k in range(n)) / n**2
  b2 = sum((xc[j] @ s_inv @ xc[j]) ** 2 for j in range(n)) / n
  got = metrics.mardia_test(x)
  np.testing.assert_allclose([got["b1"], got["b2"]], [b1, b2], rtol=1e-9)
  np.testing.assert_allclose(got["p_skewness"], stats.chi2.sf(n * b1 / 6, 10), rtol=1e-9)
  np.testing.assert_allclose(
    got["p_kurtosis"], 2 * stats.norm.sf(abs((b2 - 15) / np.sqrt(8 * 15 / n))), rtol=1e-9
  )


def test_mardia_test_size_and_power():
  """Under normality the skewness test rejects about 5% at 5%; skewed and heavy-tailed samples are rejected."""
  rng = np.random.default_rng(5)
  p = np.array(
    [
      metrics.mardia_test(rng.normal(size=(150, 3)) * [1, 3, 0.2] + 7)["p_skewness"]
      for _ in range(400)
    ]
  )
  assert 0.02 <= np.mean(p < 0.05) <= 0.09, np.mean(p < 0.05)
  assert metrics.mardia_test(rng.exponential(size=(150, 3)))["p_skewness"] < 1e-3
  assert metrics.mardia_test(rng.standard_t(3, size=(300, 3)))["p_kurtosis"] < 1e-3
  with pytest.raises(ValueError, match="singular"):
    metrics.mardia_test(np.repeat(rng.normal(size=(50, 1)), 3, axis=1))


def test_mardia_null_matches_the_known_moments():
  """Sample as it is against N(0, I_D): E b1 = D(D+2)(D+4)/n (only j = k terms survive), E b2 = D(D+2),
  var b2 = (E||x||^8 - (D(D+2))^2) / n with E||x||^8 = D(D+2)(D+4)(D+6)."""
  n, d = 120, 4
  null = metrics.mardia_null(n, d, draws=3000, seed=1)
  np.testing.assert_allclose(null["skewness"].mean(), d * (d + 2) * (d + 4) / n, rtol=0.05)
  sd = np.sqrt((d * (d + 2) * (d + 4) * (d + 6) - (d * (d + 2)) ** 2) / n)
  assert abs(null["kurtosis"].mean()) < 4 * sd / np.sqrt(3000)
  np.testing.assert_allclose(null["kurtosis"].std(), sd, rtol=0.08)
  # N(0, 4 I): b1 scales by 2^6 and b2 by 2^4 (the statistics take the sample as it is)
  wide = metrics.mardia_null(n, d, draws=1500, seed=2, cov=4 * np.eye(d))
  np.testing.assert_allclose(wide["skewness"].mean(), 64 * d * (d + 2) * (d + 4) / n, rtol=0.06)
  np.testing.assert_allclose(wide["kurtosis"].mean(), 15 * d * (d + 2), rtol=0.02)
  # and the jnp statistics agree with the chunked NumPy ones
  z = np.random.default_rng(1).standard_normal((n, d))
  np.testing.assert_allclose(null["skewness"][0], float(metrics.mardia_skewness(z)), rtol=1e-4)


def test_null_p_values_by_hand():
  null = {"skewness": np.array([1.0, 2.0, 3.0, 4.0]), "kurtosis": np.array([-2.0, -1.0, 1.0, 2.0])}
  got = metrics.null_p_values(3.5, 1.5, null)
  assert got == {"p_skewness": 2 / 5, "p_kurtosis": 3 / 5}
  assert metrics.null_p_values(10.0, -9.0, null) == {"p_skewness": 1 / 5, "p_kurtosis": 1 / 5}


def test_frechet_distance_equals_scipy_sqrtm():
  d = 6
  a, b = RNG.normal(size=(50, d)), RNG.normal(size=(60, d)) * 1.5 + 0.3
  mu1, mu2 = a.mean(0), b.mean(0)
  c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  want = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * np.real(scipy.linalg.sqrtm(c1 @ c2)))
  np.testing.assert_allclose(float(metrics.frechet_distance(mu1, c1, mu2, c2)), want, rtol=1e-4)
  assert abs(float(metrics.frechet_distance(mu1, c1, mu1, c1))) < 1e-4


def test_frechet_distance_float64_numpy_path_equals_scipy_sqrtm():
  d = 40
  a, b = RNG.normal(size=(300, d)), RNG.normal(size=(200, d)) * 0.8 - 0.1
  mu1, mu2 = a.mean(0), b.mean(0)
  c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  want = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * np.real(scipy.linalg.sqrtm(c1 @ c2)))
  got = metrics.frechet_distance(mu1, c1, mu2, c2, xp=np)
  assert isinstance(got, np.floating)
  np.testing.assert_allclose(got, want, rtol=1e-9)


def test_paired_difference_is_scipys_tests_and_a_plain_count():
  from scipy import stats

  rng = np.random.default_rng(3)
  a, b = rng.normal(1.0, 1.0, 12), rng.normal(0.5, 1.0, 12)
  r = metrics.paired_difference(a - b)
  assert r["p"] == pytest.approx(stats.wilcoxon(a, b).pvalue) and r["n"] == 12
  assert r["won"] == sum(1 for x, y in zip(a, b) if x > y)
  assert r["mean"] == pytest.approx(np.mean(a - b)) and r["std"] == pytest.approx(
    np.std(a - b, ddof=1)
  )
  t = metrics.paired_difference(a - b, test="t", smaller_wins=True)
  assert t["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue) and t["won"] == 12 - r["won"]
  assert metrics.paired_difference(np.zeros(6))["p"] == 1.0
  assert metrics.paired_cells([0.5, 0.25, 1.0], digits=2, test="t")[2] == "3/3"
