"""The FID Inception-v3 port: weight layout (checked against a plain NumPy conv + BN), the
count_include_pad=False average pool (NumPy loop), shapes, and the one-line errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import inception

RNG = np.random.default_rng(0)


def test_avg_pool_exclude_pad_equals_numpy_loop():
  x = RNG.normal(size=(1, 5, 4, 2)).astype(np.float32)
  want = np.zeros_like(x)
  for i in range(5):
    for j in range(4):
      win = x[0, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
      want[0, i, j] = win.reshape(-1, 2).mean(0)
  np.testing.assert_allclose(
    np.asarray(inception.avg_pool_exclude_pad(jnp.asarray(x))), want, rtol=1e-6
  )


def _numpy_basic_conv(x, w_oihw, gamma, beta, mean, var, pad):
  """Direct correlation in the PyTorch weight layout, then BN(eps=1e-3) and ReLU."""
  o, i, kh, kw = w_oihw.shape
  xp = np.pad(x, ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
  H, W = xp.shape[0] - kh + 1, xp.shape[1] - kw + 1
  y = np.zeros((H, W, o))
  for a in range(H):
    for b in range(W):
      patch = xp[a : a + kh, b : b + kw, :]  # (kh, kw, i)
      y[a, b] = np.einsum("hwi,oihw->o", patch, w_oihw)
  y = (y - mean) / np.sqrt(var + 1e-3) * gamma + beta
  return np.maximum(y, 0)


def test_torch_layout_weights_load_into_the_right_places(tmp_path):
  """A random state dict in pytorch-fid naming/layout; one asymmetric (1x7) conv of Mixed_6b checked
  against NumPy, and the round trip through to_npz_layout is exact."""
  template = inception._template()
  arrays = {}
  for path, spec in jax.tree_util.tree_flatten_with_path(template)[0]:
    arrays[path] = RNG.normal(size=spec.shape).astype(np.float32)
  variables = jax.tree_util.tree_unflatten(
    jax.tree_util.tree_structure(template), [jnp.asarray(a) for a in arrays.values()]
  )
  npz = inception.to_npz_layout(variables)
  # variances must be positive for the BN check
  npz = {k: (np.abs(v) + 0.5 if k.endswith("running_var") else v) for k, v in npz.items()}
  npz["fc.weight"] = np.zeros((1008, 2048), np.float32)  # extra keys are ignored
  path = tmp_path / "w.npz"
  np.savez(path, **npz)
  loaded = inception.load_variables(str(path))
  back = inception.to_npz_layout(loaded)
  for k, v in back.items():
    np.testing.assert_array_equal(v, npz[k])
  assert npz["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)

  pre = "Mixed_6b.branch7x7_2"
  x = RNG.normal(size=(6, 9, 128)).astype(np.float32)
  conv = inception.BasicConv(128, (1, 7), padding=(0, 3))
  v = {
    "params": loaded["params"]["Mixed_6b"]["branch7x7_2"],
    "batch_stats": loaded["batch_stats"]["Mixed_6b"]["branch7x7_2"],
  }
  got = np.asarray(conv.apply(v, jnp.asarray(x[None])))[0]
  want = _numpy_basic_conv(
    x,
    npz[f"{pre}.conv.weight"],
    npz[f"{pre}.bn.weight"],
    npz[f"{pre}.bn.bias"],
    npz[f"{pre}.bn.running_mean"],
    npz[f"{pre}.bn.running_var"],
    (0, 3),
  )
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-3)


def test_missing_weights_is_a_one_line_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="fid_weights_to_npz"):
    inception.load_variables(str(tmp_path / "nope.npz"))
  np.savez(tmp_path / "bad.npz", x=np.zeros(3))
  with pytest.raises(KeyError, match="pytorch-fid"):
    inception.load_variables(str(tmp_path / "bad.npz"))


def test_feature_extractor_shapes_and_grayscale():
  v = inception.InceptionV3().init(jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3)))
  fx = inception.FeatureExtractor(v, batch_size=2)
  g = RNG.uniform(size=(3, 8, 8, 1)).astype(np.float32)
  f1 = fx(g)
  f3 = fx(np.repeat(g, 3, -1))
  assert f1.shape == (3, 2048) and f1.dtype == np.float64
  np.testing.assert_allclose(f1, f3, rtol=1e-6)  # grayscale is repeated to three channels
  with pytest.raises(ValueError, match="FID images"):
    fx(g[..., 0])
