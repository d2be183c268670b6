"""common.metrics against scikit-image, scipy and plain NumPy loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from skimage import data, metrics as skm

from common import metrics

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("shape", [(11, 11, 1), (32, 27, 3), (64, 64, 2)])
def test_ssim_equals_skimage(shape):
  x = RNG.random(shape).astype(np.float32)
  y = np.clip(x + 0.2 * RNG.normal(size=shape), 0, 1).astype(np.float32)
  want = skm.structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, channel_axis=-1)
  np.testing.assert_allclose(float(metrics.ssim(x, y, data_range=1.0)), want, atol=2e-5)


def test_ssim_on_camera_uint8_range():
  cam = data.camera()[:128, :128].astype(np.float32)
  noisy = np.clip(cam + RNG.normal(0, 20, cam.shape), 0, 255).astype(np.float32)
  want = skm.structural_similarity(cam[..., None], noisy[..., None], data_range=255, gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False, channel_axis=-1)
  np.testing.assert_allclose(float(metrics.ssim(cam[..., None], noisy[..., None], data_range=255.0)), want, atol=2e-5)


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
  np.testing.assert_allclose(float(metrics.psnr(x, y, data_range=1.0)),
                             skm.peak_signal_noise_ratio(x, y, data_range=1.0), rtol=1e-5)
  want_snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
  np.testing.assert_allclose(float(metrics.snr(x, y)), want_snr, rtol=1e-5)


def test_pcc_equals_numpy_corrcoef():
  x, y = RNG.random((4, 50)), RNG.random((4, 50))
  want = [np.corrcoef(a, b)[0, 1] for a, b in zip(x, y)]
  np.testing.assert_allclose(metrics.pcc(x, y), want, rtol=1e-5)
  m1, m2 = RNG.random((3, 8, 9)), RNG.random((3, 8, 9))
  np.testing.assert_allclose(metrics.pcc(m1, m2, axis=(-2, -1)),
                             [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(m1, m2)], rtol=1e-5)


def test_mardia_equals_loops():
  x = RNG.normal(size=(30, 4))
  b1 = sum((x[j] @ x[k]) ** 3 for j in range(30) for k in range(30)) / 30**2
  b2 = sum(np.sum(x[j] ** 2) ** 2 for j in range(30)) / 30
  np.testing.assert_allclose(float(metrics.mardia_skewness(x)), b1, rtol=1e-4)
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x)), b2, rtol=1e-5)
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x, normalized=True)), b2 - 24, rtol=1e-4, atol=1e-4)
  # classical (standardized) skewness: Mahalanobis inner products with the ML covariance
  xc = x - x.mean(0)
  s_inv = np.linalg.inv(xc.T @ xc / 30)
  g = xc @ s_inv @ xc.T
  np.testing.assert_allclose(float(metrics.mardia_skewness(x, standardize=True)), np.mean(g**3), rtol=1e-3)
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x, standardize=True)), np.mean(np.diag(g) ** 2), rtol=1e-3)


def test_mardia_normal_expectations():
  x = RNG.normal(size=(20000, 3)).astype(np.float32)
  assert abs(float(metrics.mardia_skewness(x[:2000]))) < 1.0
  np.testing.assert_allclose(float(metrics.mardia_kurtosis(x)), 15.0, rtol=0.05)


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
