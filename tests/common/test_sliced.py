"""common.sliced against scipy.stats and numerical quadrature of the defining integrals."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from common import sliced

RNG = np.random.default_rng(0)


def _w2_quadrature(y):
  """int_0^1 (F_n^{-1}(t) - Phi^{-1}(t))^2 dt, one quad per step of F_n^{-1}."""
  ys = np.sort(np.asarray(y, np.float64))
  n = len(ys)
  total = 0.0
  for i in range(n):
    f = lambda t, yi=ys[i]: (yi - stats.norm.ppf(t)) ** 2
    total += integrate.quad(f, i / n, (i + 1) / n, limit=200)[0]
  return total


def _cw_quadrature(y, gamma):
  """|| 1/n sum N(y_i, gamma) - N(0, 1 + gamma) ||_2^2 by quadrature."""
  y = np.asarray(y, np.float64)
  sd = np.sqrt(gamma)

  def sq(x):
    mix = np.mean(stats.norm.pdf(x, loc=y, scale=sd))
    return (mix - stats.norm.pdf(x, scale=np.sqrt(1 + gamma))) ** 2

  lo, hi = min(y.min(), -1) - 12, max(y.max(), 1) + 12
  return integrate.quad(sq, lo, hi, limit=400, points=list(y[:50]))[0]


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_wasserstein_closed_form_matches_quadrature(n):
  y = RNG.normal(0.3, 1.4, size=n)
  got = float(sliced.wasserstein_closed_form(jnp.asarray(y, jnp.float32)))
  np.testing.assert_allclose(got, _w2_quadrature(y), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("n", [1, 2, 9, 50])
def test_cramer_wold_matches_quadrature(n):
  y = RNG.normal(-0.2, 0.8, size=n)
  got = float(sliced.cramer_wold(jnp.asarray(y, jnp.float32)))
  np.testing.assert_allclose(
    got, _cw_quadrature(y, sliced.silverman_gamma(n)), rtol=1e-4, atol=1e-7
  )


@pytest.mark.parametrize("n", [1, 2, 5, 100])
def test_cramer_von_mises_equals_scipy(n):
  y = RNG.normal(0.1, 1.2, size=n)
  if n >= 2:
    want = stats.cramervonmises(y, "norm").statistic / n
  else:  # scipy returns NaN for n = 1; the statistic's definition still applies
    u = np.sort(stats.norm.cdf(y))
    want = (1 / (12 * n) + np.sum(((2 * np.arange(1, n + 1) - 1) / (2 * n) - u) ** 2)) / n
  np.testing.assert_allclose(
    float(sliced.cramer_von_mises(jnp.asarray(y, jnp.float32))), want, rtol=1e-4, atol=1e-6
  )


@pytest.mark.parametrize("n", [1, 2, 5, 100])
def test_kolmogorov_smirnov_equals_scipy(n):
  y = RNG.standard_t(3, size=n)
  want = stats.kstest(y, "norm").statistic
  np.testing.assert_allclose(
    float(sliced.kolmogorov_smirnov(jnp.asarray(y, jnp.float32))), want, rtol=1e-5, atol=1e-6
  )


def test_cramer_von_mises_is_w2_of_uniformized_sample():
  """Eq. (4)'s derivation: W2^2 between Phi(Y) and U(0, 1), by quadrature."""
  y = RNG.normal(size=11)
  z = np.sort(stats.norm.cdf(y))
  n = len(z)
  want = sum(
    integrate.quad(lambda t, zi=z[i]: (zi - t) ** 2, i / n, (i + 1) / n)[0] for i in range(n)
  )
  np.testing.assert_allclose(
    float(sliced.cramer_von_mises(jnp.asarray(y, jnp.float32))), want, rtol=1e-5
  )


def test_wasserstein_sample_is_sorted_mse():
  y, z = RNG.normal(size=(3, 10)), RNG.normal(size=(3, 10))
  want = [np.mean((np.sort(a) - np.sort(b)) ** 2) for a, b in zip(y, z)]
  np.testing.assert_allclose(
    sliced.wasserstein_sample(y.astype(np.float32), z.astype(np.float32)), want, rtol=1e-5
  )


@pytest.mark.parametrize("name", list(sliced.DISTANCES))
def test_batched_equals_loop(name):
  fn = sliced.DISTANCES[name]
  if name == "swae":
    z = jnp.asarray(RNG.normal(size=(2, 3, 16)), jnp.float32)
    fn = functools.partial(fn, z=z)
  y = jnp.asarray(RNG.normal(size=(2, 3, 16)), jnp.float32)
  batched = jax.jit(fn)(y)
  assert batched.shape == (2, 3)
  loop = np.array(
    [
      [
        float(sliced.DISTANCES[name](y[i, j], *([z[i, j]] if name == "swae" else [])))
        for j in range(3)
      ]
      for i in range(2)
    ]
  )
  np.testing.assert_allclose(batched, loop, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(sliced.DISTANCES))
@pytest.mark.parametrize("n", [1, 2, 128])
def test_gradients_finite(name, n):
  fn = sliced.DISTANCES[name]
  y = jnp.asarray(RNG.normal(size=n), jnp.float32)
  if name == "swae":
    fn = functools.partial(fn, z=jnp.asarray(RNG.normal(size=n), jnp.float32))
  g = jax.grad(lambda v: jnp.log(fn(v) + 1e-12))(y)
  assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", ["scfwae", "scwae", "scvmae", "sksae"])
def test_distance_small_for_normal_and_grows_with_shift_and_scale(name):
  fn = sliced.DISTANCES[name]
  y = RNG.normal(size=4000).astype(np.float32)
  base = float(fn(y))
  assert base < 0.02
  assert float(fn(y + 1.0)) > 5 * base
  assert float(fn(2.0 * y)) > 5 * base


def test_sliced_is_mean_over_projections():
  key = jax.random.PRNGKey(0)
  v = sliced.random_directions(key, 5, 3)
  np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
  z = jnp.asarray(RNG.normal(size=(40, 3)), jnp.float32)
  got = sliced.sliced(sliced.cramer_von_mises, z, v)
  want = np.mean(
    [float(sliced.cramer_von_mises(np.asarray(z) @ np.asarray(v[i]))) for i in range(5)]
  )
  np.testing.assert_allclose(got, want, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-6, 6, allow_nan=False, width=32), min_size=1, max_size=40))
def test_property_ks_and_cvm_match_scipy(values):
  y = np.asarray(values, np.float64)
  np.testing.assert_allclose(
    float(sliced.kolmogorov_smirnov(y.astype(np.float32))),
    stats.kstest(y, "norm").statistic,
    atol=2e-6,
  )
  if len(y) >= 2:
    np.testing.assert_allclose(
      float(sliced.cramer_von_mises(y.astype(np.float32))),
      stats.cramervonmises(y, "norm").statistic / len(y),
      rtol=1e-4,
      atol=2e-6,
    )


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1, max_size=30))
def test_property_nonnegative(values):
  y = np.asarray(values, np.float32)
  for name in ["scfwae", "scwae", "scvmae", "sksae"]:
    assert float(sliced.DISTANCES[name](y)) >= -1e-5
