"""The hybrid Poisson-Gaussian X-ray noise model (shared/seeds/xbdcnn_paper.txt, eq. 1-2).

f = p + n (eq. 1): p is Poisson with parameter from the clean image g (eq. 2), n ~ N(0, sigma^2), all on
the paper's 0-255 scale. The paper scales the Poisson part by a factor eta "to control its intensity"
and calls eta in {0.4, 0.6, 0.8} strong noise, so smaller eta means more noise. The default here (the
"peak" convention, deepinv's gain 1/eta) is

    p_255 = Poisson(eta * g_255) / eta        E[p] = g,  Var[p] = g_255 / eta,

so at g_255 = 128 the Poisson std is 17.9 for eta = 0.4 and 8.2 for eta = 1.9. The "gain" convention
(``p_255 = eta * Poisson(g_255 / eta)``, Var = eta * g_255) is the other reading, selectable in the
config. Images enter and leave in [0, 1]; no clipping unless asked (real detectors do clip).

The noise-level maps the estimator learns are two channels on the [0, 1] scale: the Gaussian std
sigma / 255 (constant) and the Poisson std sqrt(Var[p]) / 255 (signal dependent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["add_noise", "noise_levels", "sample_params", "noisy_example"]


def photons_per_level(eta, convention: str = "peak"):
  """``a`` in ``p = Poisson(a g) / a`` (g on the 0-255 scale): ``eta`` for "peak", ``1 / eta`` for "gain";
  Var[p] = g / a. Works on NumPy and JAX arrays alike."""
  if convention == "peak":
    return eta
  if convention == "gain":
    return 1.0 / eta
  raise ValueError(f"poisson convention {convention!r} is unknown; use 'peak' or 'gain'")


def poisson_variance(g01, eta, convention: str = "peak"):
  """Var[p] on the 0-255 scale for clean intensities ``g01`` in [0, 1]."""
  return 255.0 * g01 / photons_per_level(eta, convention)


def noise_levels(g01, eta, sigma, convention: str = "peak"):
  """``(..., H, W, 2)`` ground-truth level maps: [sigma/255, sqrt(Var[p])/255]. ``eta`` and ``sigma``
  broadcast against the leading axes of ``g01`` (one value per image). NumPy in, NumPy out."""
  xp = np if isinstance(g01, np.ndarray) else jnp
  eta = xp.asarray(eta, xp.float32)[..., None, None, None]
  sigma = xp.asarray(sigma, xp.float32)[..., None, None, None]
  var_p = poisson_variance(g01, eta, convention)
  return xp.concatenate(
    [xp.broadcast_to(sigma / 255.0, g01.shape), xp.sqrt(var_p) / 255.0], axis=-1
  ).astype(xp.float32)


def add_noise(key, g01, eta, sigma, convention: str = "peak", clip: bool = False):
  """Noisy images in [0, 1] scale for clean ``(..., H, W, 1)`` images ``g01``, per-image eta, sigma."""
  kp, kg = jax.random.split(key)
  eta = jnp.asarray(eta, jnp.float32)[..., None, None, None]
  sigma = jnp.asarray(sigma, jnp.float32)[..., None, None, None]
  g = 255.0 * jnp.clip(g01, 0.0, None)
  a = photons_per_level(eta, convention)
  p = jax.random.poisson(kp, a * g).astype(jnp.float32) / a
  f = (p + sigma * jax.random.normal(kg, g.shape)) / 255.0
  return jnp.clip(f, 0.0, 1.0) if clip else f


def sample_params(key, n: int, eta_range=(0.4, 1.9), sigma_range=(0.0, 20.0)):
  """Per-image eta ~ U(eta_range), sigma ~ U(sigma_range) (the paper's training ranges)."""
  ke, ks = jax.random.split(key)
  eta = jax.random.uniform(ke, (n,), minval=eta_range[0], maxval=eta_range[1])
  sigma = jax.random.uniform(ks, (n,), minval=sigma_range[0], maxval=sigma_range[1])
  return eta, sigma


def noisy_example(rng: np.random.Generator, g01: np.ndarray, n_cfg) -> dict:
  """One training example's noise, drawn on the host by the input pipeline (NumPy; its random map's
  generator, a function of the example's position in the stream): eta ~ U(eta_range), sigma ~
  U(sigma_range), ``f`` as :func:`add_noise` and the level maps of :func:`noise_levels`, for a clean ``(H, W, 1)`` image. The pipeline's threads draw it while
  the device runs the previous step (NumPy's Poisson sampler: ~1 ms for 8 48x48 patches on this CPU,
  ``jax.random.poisson``'s rejection loop inside the step: 8-14 ms)."""
  eta = rng.uniform(*n_cfg.eta_range)
  sigma = rng.uniform(*n_cfg.sigma_range)
  g = 255.0 * np.clip(g01.astype(np.float64), 0.0, None)
  a = photons_per_level(eta, n_cfg.convention)
  p = rng.poisson(a * g) / a
  f = (p + sigma * rng.standard_normal(g.shape)) / 255.0
  if n_cfg.clip:
    f = np.clip(f, 0.0, 1.0)
  levels = noise_levels(
    g01.astype(np.float32), np.float32(eta), np.float32(sigma), n_cfg.convention
  )
  return {"noisy": f.astype(np.float32), "levels": levels}
