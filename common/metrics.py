"""Image-quality and distribution metrics shared by the methods.

All are pure jnp functions, batched over leading axes. Images are ``(..., H, W, C)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from common.errors import InputError

__all__ = [
  "ssim",
  "psnr",
  "snr",
  "pcc",
  "mardia_skewness",
  "mardia_kurtosis",
  "mardia_test",
  "mardia_null",
  "null_p_values",
  "frechet_distance",
  "gaussian_kernel1d",
  "paired_difference",
  "paired_cells",
]

_IMG_AXES = (-3, -2, -1)


def _float(x):
  x = jnp.asarray(x)
  return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """The 1-D kernel of ``scipy.ndimage.gaussian_filter1d`` (radius ``int(truncate * sigma + 0.5)``),
  computed in float64 on the host (it is a static constant) and returned as float32."""
  radius = int(truncate * sigma + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  w = np.exp(-0.5 / (sigma * sigma) * x * x)
  return (w / w.sum()).astype(np.float32)


def _valid_filter(x_NxHxWxC, kernel):
  """Separable 'valid' correlation over H and W, channel by channel."""
  k = kernel.shape[0]
  n, h, w, c = x_NxHxWxC.shape
  x = jnp.moveaxis(x_NxHxWxC, -1, 1).reshape(n * c, 1, h, w)
  kh = kernel.reshape(1, 1, k, 1).astype(x.dtype)
  kw = kernel.reshape(1, 1, 1, k).astype(x.dtype)
  dn = ("NCHW", "OIHW", "NCHW")
  hp = jax.lax.Precision.HIGHEST
  x = jax.lax.conv_general_dilated(x, kh, (1, 1), "VALID", dimension_numbers=dn, precision=hp)
  x = jax.lax.conv_general_dilated(x, kw, (1, 1), "VALID", dimension_numbers=dn, precision=hp)
  return jnp.moveaxis(x.reshape(n, c, h - k + 1, w - k + 1), 1, -1)


def ssim(
  x: jax.Array,
  y: jax.Array,
  *,
  data_range: float,
  sigma: float = 1.5,
  k1: float = 0.01,
  k2: float = 0.03,
  return_map: bool = False,
) -> jax.Array:
  """Mean structural similarity of ``(..., H, W, C)`` images (Wang et al. 2004).

  Equal to ``skimage.metrics.structural_similarity(x, y, data_range=..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, channel_axis=-1)``: Gaussian window truncated at 3.5 sigma
  (11x11 for sigma 1.5); skimage filters with reflected borders and then drops a border of half a window,
  which is exactly the 'valid' part computed here, so the borders never enter.

  Returns:
    ``(...)`` mean SSIM (or the ``(..., H-10, W-10, C)`` map with ``return_map``).
  """
  x, y = _float(x), _float(y)
  if x.shape != y.shape:
    raise ValueError(f"ssim: images must have the same shape; got {x.shape} and {y.shape}")
  if x.ndim < 3:
    raise ValueError(
      f"ssim expects (..., H, W, C) images; got shape {x.shape} (add a channel axis)"
    )
  kernel = gaussian_kernel1d(sigma, truncate=3.5)
  win = kernel.shape[0]
  if x.shape[-3] < win or x.shape[-2] < win:
    raise ValueError(
      f"ssim: images of {x.shape[-3]}x{x.shape[-2]} are smaller than the {win}x{win} window"
    )
  lead = x.shape[:-3]
  x4 = x.reshape((-1,) + x.shape[-3:])
  y4 = y.reshape((-1,) + y.shape[-3:])
  stack = jnp.concatenate([x4, y4, x4 * x4, y4 * y4, x4 * y4], axis=-1)
  f = _valid_filter(stack, kernel)
  c = x.shape[-1]
  ux, uy, uxx, uyy, uxy = (f[..., i * c : (i + 1) * c] for i in range(5))
  vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
  c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
  s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
  s = s.reshape(lead + s.shape[1:])
  return s if return_map else jnp.mean(s, axis=_IMG_AXES)


def _check_layout(name, x, y, axis) -> None:
  # a 2-D (H, W) image read as (H, W, C) would silently reduce over the wrong axes
  if axis == _IMG_AXES and (x.ndim < 3 or y.ndim < 3):
    raise InputError(
      f"{name} expects (..., H, W, C) images; got shapes {x.shape} and {y.shape}: add a channel "
      "axis (x[..., None]) or pass axis="
    )
  if x.shape != y.shape:
    raise InputError(f"{name}: images must have the same shape; got {x.shape} and {y.shape}")


def psnr(x: jax.Array, y: jax.Array, *, data_range: float, axis=_IMG_AXES) -> jax.Array:
  """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE), per image (reduces ``axis``)."""
  x, y = _float(x), _float(y)
  _check_layout("psnr", x, y, axis)
  mse = jnp.mean((x - y) ** 2, axis=axis)
  return 10.0 * jnp.log10(data_range**2 / mse)


def snr(reference: jax.Array, estimate: jax.Array, *, axis=_IMG_AXES) -> jax.Array:
  """Signal-to-noise ratio in dB, 10 log10(sum ref^2 / sum (ref - est)^2), per image."""
  r, e = _float(reference), _float(estimate)
  _check_layout("snr", r, e, axis)
  return 10.0 * jnp.log10(jnp.sum(r**2, axis=axis) / jnp.sum((r - e) ** 2, axis=axis))


def pcc(x: jax.Array, y: jax.Array, *, axis=-1) -> jax.Array:
  """Pearson correlation coefficient over ``axis`` (an int or tuple; e.g. (-2, -1) for maps)."""
  x, y = _float(x), _float(y)
  xc = x - jnp.mean(x, axis=axis, keepdims=True)
  yc = y - jnp.mean(y, axis=axis, keepdims=True)
  num = jnp.sum(xc * yc, axis=axis)
  return num / jnp.sqrt(jnp.sum(xc**2, axis=axis) * jnp.sum(yc**2, axis=axis))


def _standardize(x):
  xc = x - jnp.mean(x, axis=-2, keepdims=True)
  cov = jnp.einsum("...ni,...nj->...ij", xc, xc) / x.shape[-2]
  w, v = jnp.linalg.eigh(cov)
  inv_sqrt = jnp.einsum("...ij,...j,...kj->...ik", v, 1.0 / jnp.sqrt(w), v)
  return jnp.einsum("...ni,...ij->...nj", xc, inv_sqrt)


def mardia_skewness(x: jax.Array, *, standardize: bool = False) -> jax.Array:
  """Mardia's skewness b_{1,D} = 1/n^2 sum_{j,k} (x_j^T x_k)^3 of ``(..., n, D)`` samples.

  As in the sliced-models paper (section 5) the sample is compared with N(0, I) as it is. The paper
  gives 0 as the N(0, I) value; that is the population value only: for n draws of N(0, I_D) the
  j = k terms make the expectation D(D + 2)(D + 4) / n (3.23 at D = 8, n = 297), see
  :func:`mardia_null`. ``standardize=True`` gives the classical statistic on the whitened sample
  (the one :func:`mardia_test` turns into a p-value).
  """
  x = _float(x)
  if standardize:
    x = _standardize(x)
  g = jnp.einsum("...id,...jd->...ij", x, x)
  return jnp.mean(g**3, axis=(-2, -1))


def mardia_kurtosis(
  x: jax.Array, *, standardize: bool = False, normalized: bool = False
) -> jax.Array:
  """Mardia's kurtosis b_{2,D} = 1/n sum_j ||x_j||^4 of ``(..., n, D)`` samples.

  The N(0, I) value is D(D + 2); ``normalized=True`` returns b_{2,D} - D(D + 2), the "normalized"
  kurtosis of the paper's Table 1.
  """
  x = _float(x)
  if standardize:
    x = _standardize(x)
  b2 = jnp.mean(jnp.sum(x**2, axis=-1) ** 2, axis=-1)
  d = x.shape[-1]
  return b2 - d * (d + 2) if normalized else b2


def _mardia_np(x: np.ndarray, chunk: int = 2048) -> tuple[float, float]:
  """(b1, b2) of an (n, D) float64 sample as it is, the gram matrix taken in row chunks (memory n x chunk)."""
  n = len(x)
  b1 = sum(float(np.sum((x[i : i + chunk] @ x.T) ** 3)) for i in range(0, n, chunk)) / n**2
  b2 = float(np.mean(np.sum(x * x, axis=1) ** 2))
  return b1, b2


def mardia_test(z) -> dict[str, float]:
  """Mardia's tests of multivariate normality (any mean and covariance) for an (n, D) sample.

  On the sample whitened with its ML covariance: A = n b1 / 6 against chi^2 with D(D+1)(D+2)/6
  degrees of freedom (skewness), and B = (b2 - D(D+2)) / sqrt(8 D(D+2) / n) against N(0, 1), two-sided
  (kurtosis); Mardia (1970), Biometrika 57(3). Returns the whitened b1, b2 and both p-values.
  """
  from scipy import stats

  z = np.asarray(z, np.float64)
  n, d = z.shape
  if n <= d:
    raise InputError(f"mardia_test needs more samples than dimensions, got n={n}, D={d}")
  zc = z - z.mean(0)
  w, v = np.linalg.eigh(zc.T @ zc / n)
  if w.min() <= 1e-12 * max(w.max(), 1e-300):
    raise InputError(
      f"mardia_test: the sample covariance is singular (rank < D={d}); the latent has collapsed"
    )
  b1, b2 = _mardia_np(zc @ (v / np.sqrt(w)) @ v.T)
  a_stat = n * b1 / 6.0
  b_stat = (b2 - d * (d + 2)) / np.sqrt(8.0 * d * (d + 2) / n)
  return {
    "b1": b1,
    "b2": b2,
    "p_skewness": float(stats.chi2.sf(a_stat, d * (d + 1) * (d + 2) / 6.0)),
    "p_kurtosis": float(2.0 * stats.norm.sf(abs(b_stat))),
  }


def mardia_null(
  n: int, d: int, draws: int = 1000, seed: int = 0, *, mean=None, cov=None
) -> dict[str, np.ndarray]:
  """The paper's statistics (:func:`mardia_skewness`, normalized :func:`mardia_kurtosis`, sample as
  it is) over ``draws`` samples of n points of N(0, I_D): arrays ``skewness`` and ``kurtosis``, the
  finite-sample null to compare a latent with (at n = 297, D = 8 the skewness is 3.2 +- 0.7, not 0).
  ``mean``/``cov``: samples of N(mean, cov) instead (what a Gaussian with a latent's own first two
  moments would score)."""
  rng = np.random.default_rng(seed)
  if mean is None and cov is None:
    draw = lambda: rng.standard_normal((n, d))
  else:
    mean = np.zeros(d) if mean is None else np.asarray(mean, np.float64)
    cov = np.eye(d) if cov is None else np.asarray(cov, np.float64)
    draw = lambda: rng.multivariate_normal(mean, cov, size=n)
  out = np.array([_mardia_np(draw()) for _ in range(draws)])
  return {"skewness": out[:, 0], "kurtosis": out[:, 1] - d * (d + 2)}


def null_p_values(
  skewness: float, kurtosis: float, null: dict[str, np.ndarray]
) -> dict[str, float]:
  """Monte-Carlo p-values of the paper's statistics against :func:`mardia_null` (add-one rule):
  skewness one-sided (large is non-normal), kurtosis two-sided about the null mean."""
  s, k = null["skewness"], null["kurtosis"]
  m = len(s)
  p_s = (1 + np.count_nonzero(s >= skewness)) / (m + 1)
  p_k = (1 + np.count_nonzero(np.abs(k - k.mean()) >= abs(kurtosis - k.mean()))) / (m + 1)
  return {"p_skewness": float(p_s), "p_kurtosis": float(p_k)}


def _sqrtm_psd(a, xp=jnp):
  w, v = xp.linalg.eigh(a)
  return xp.einsum("...ij,...j,...kj->...ik", v, xp.sqrt(xp.clip(w, 0.0, None)), v)


def frechet_distance(mu1, cov1, mu2, cov2, *, xp=jnp):
  """Frechet distance between N(mu1, cov1) and N(mu2, cov2) (the FID formula).

  ||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2)); the trace term is computed as
  tr((s1 cov2 s1)^(1/2)) with s1 = cov1^(1/2), which has the same eigenvalues and is symmetric PSD.
  ``xp=numpy`` computes in float64 on the host (what FID on 2048-d Inception features needs).
  """
  if xp is jnp:
    mu1, mu2, cov1, cov2 = map(_float, (mu1, mu2, cov1, cov2))
  else:
    mu1, mu2, cov1, cov2 = (np.asarray(a, np.float64) for a in (mu1, mu2, cov1, cov2))
  s1 = _sqrtm_psd(cov1, xp)
  m = s1 @ cov2 @ s1
  m = 0.5 * (m + xp.swapaxes(m, -1, -2))
  tr_sqrt = xp.sum(xp.sqrt(xp.clip(xp.linalg.eigvalsh(m), 0.0, None)), axis=-1)
  diff = mu1 - mu2
  return (
    xp.sum(diff**2, axis=-1)
    + xp.trace(cov1, axis1=-2, axis2=-1)
    + xp.trace(cov2, axis1=-2, axis2=-1)
    - 2.0 * tr_sqrt
  )


def paired_difference(d, *, smaller_wins: bool = False, test: str = "wilcoxon", **test_kw) -> dict:
  """Summary of per-item differences ``d`` (method minus reference on the same items): mean, std
  (ddof 1), the two-sided p of a paired test on them (``wilcoxon``: scipy's signed-rank, ``test_kw``
  passed on, e.g. ``method="exact"``; ``t``: the paired t-test, i.e. a one-sample t-test of ``d``), and
  the items won (``d > 0``, or ``d < 0`` with ``smaller_wins``). p is 1 when every difference is 0
  and nan with fewer than 2 items."""
  from scipy import stats

  d = np.asarray(d, np.float64).ravel()
  n = len(d)
  if n < 2:
    p = float("nan")
  elif not np.any(d != 0):
    p = 1.0
  elif test == "wilcoxon":
    p = float(stats.wilcoxon(d, **test_kw).pvalue)
  elif test == "t":
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if np.any(d != d[0]) else 0.0
  else:
    raise ValueError(f"paired test {test!r} is unknown; use 'wilcoxon' or 't'")
  return dict(
    mean=float(d.mean()) if n else float("nan"),
    std=float(d.std(ddof=1)) if n > 1 else 0.0,
    p=p,
    won=int(np.sum(d < 0) if smaller_wins else np.sum(d > 0)),
    n=n,
  )


def paired_cells(d, *, digits: int = 3, p_format: str = ".2g", **kw) -> list[str]:
  """``[mean ± std, p, won/n]`` of :func:`paired_difference`, formatted for a markdown table."""
  r = paired_difference(d, **kw)
  return [
    f"{r['mean']:+.{digits}f} ± {r['std']:.{digits}f}",
    format(r["p"], p_format),
    f"{r['won']}/{r['n']}",
  ]
