"""slicedae: losses, models, data, a short training of every model, and the Table 1 writer."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from common import config as config_lib
from common import logging as log_lib
from common import trainer
from slicedae import losses, models, task
from tests.common.helpers import ROOT, one_line_error, run_cli

CFG = os.path.join(ROOT, "configs/slicedae/digits.py")
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["swae", "scfwae", "scwae", "scvmae", "sksae", "cwae"])
@pytest.mark.parametrize("n", [2, 3, 64])
def test_cost_gradients_finite(name, n):
  z = jnp.asarray(RNG.normal(size=(n, 4)), jnp.float32)
  g = jax.grad(
    lambda z: losses.cost(0.0, losses.normality_index(z, jax.random.PRNGKey(0), name, 16))
  )(z)
  assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", ["swae", "scfwae", "scwae", "scvmae", "sksae", "cwae"])
def test_index_small_for_normal_large_for_shifted(name):
  z = jnp.asarray(RNG.normal(size=(1000, 5)), jnp.float32)
  key = jax.random.PRNGKey(1)
  base = float(losses.normality_index(z, key, name, 50))
  assert float(losses.normality_index(z + 1.5, key, name, 50)) > 4 * base
  assert float(losses.normality_index(z * 2.5, key, name, 50)) > 4 * base


def test_log_cost_is_invariant_to_rescaling_the_distance():
  z = jnp.asarray(RNG.normal(size=(32, 4)), jnp.float32)
  key = jax.random.PRNGKey(2)
  f = lambda lam: jax.grad(
    lambda z: losses.cost(jnp.sum(z**2), lam * losses.normality_index(z, key, "scwae", 20))
  )(z)
  np.testing.assert_allclose(f(1.0), f(37.0), rtol=1e-5, atol=1e-6)
  lin = lambda lam: jax.grad(
    lambda z: losses.cost(0.0, losses.normality_index(z, key, "scwae", 20), "linear", lam)
  )(z)
  np.testing.assert_allclose(lin(3.0), 3.0 * lin(1.0), rtol=1e-5, atol=1e-8)


def test_sksae_gradient_reaches_one_sample_per_slice():
  z = jnp.asarray(RNG.normal(size=(50, 1)), jnp.float32)
  g = jax.grad(lambda z: losses.normality_index(z, jax.random.PRNGKey(0), "sksae", 1))(z)
  assert np.count_nonzero(np.asarray(g)) == 1


def test_swae_slice_equals_sorted_difference():
  z = jnp.asarray(RNG.normal(size=(40, 3)), jnp.float32)
  key = jax.random.PRNGKey(3)
  got = float(losses.normality_index(z, key, "swae", 5))
  k_dir, k_prior = jax.random.split(key)
  from common import sliced

  v = np.asarray(sliced.random_directions(k_dir, 5, 3))
  prior = np.asarray(jax.random.normal(k_prior, z.shape))
  want = np.mean(
    [np.mean((np.sort(np.asarray(z) @ v[i]) - np.sort(prior @ v[i])) ** 2) for i in range(5)]
  )
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_reconstruction_error_conventions():
  x, y = RNG.random((4, 3, 3, 1)), RNG.random((4, 3, 3, 1))
  np.testing.assert_allclose(
    float(losses.reconstruction_error(x, y, "sum")), np.sum((x - y) ** 2) / 4, rtol=1e-5
  )
  np.testing.assert_allclose(
    float(losses.reconstruction_error(x, y, "mean")), np.mean((x - y) ** 2), rtol=1e-5
  )


@pytest.mark.parametrize(
  "arch,shape",
  [("mlp", (28, 28, 1)), ("conv", (32, 32, 3)), ("conv", (24, 24, 1)), ("dcgan", (64, 64, 3))],
)
def test_model_shapes(arch, shape):
  m = ml_collections.ConfigDict(
    dict(arch=arch, z_dim=16, hidden=(20, 20), width=8, fc=16, widths=(8, 16, 32, 64))
  )
  model = models.make_model(m, shape)
  x = jnp.zeros((2,) + shape)
  v = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))
  (x_hat, aux) = jax.eval_shape(lambda v: model.apply(v, x), v)
  assert x_hat.shape == x.shape and aux["z"].shape == (2, 16)


def test_tfds_mnist_through_mock_data():
  import tensorflow_datasets as tfds

  d = ml_collections.ConfigDict(
    dict(name="mnist", num_test=8, data_dir="", image_size=28, center_crop=28)
  )
  with tfds.testing.mock_data(num_examples=16):
    train, test_x, shape = task.load_splits(d)
    assert (
      shape == (28, 28, 1)
      and test_x.shape == (8, 28, 28, 1)
      and 0 <= test_x.min() <= test_x.max() <= 1
    )
    assert train[0]["image"].shape == (28, 28, 1)


@pytest.mark.slow
def test_short_training_every_model(tmp_path):
  """All five sliced models (and CWAE) reduce the reconstruction error and end with latent codes far
  closer to N(0, I) in Mardia's skewness and kurtosis than the plain AE."""
  finals = {}
  for name in ("ae", "swae", "scfwae", "scwae", "scvmae", "sksae"):
    cfg = config_lib.load_config(
      CFG + f":{name}",
      {
        "total_steps": 400,
        "eval_every": 100,
        "log_every": 400,
        "ckpt_every": 400,
        "figure_every": 400,
        "batch_size": 64,
        "null_draws": 100,
        "fd.num_samples": 300,
        "fd.classifier_steps": 100,
      },
    )
    trainer.train(cfg, task.make_task(cfg), str(tmp_path / name), verbose=False)
    rows = [
      r for r in log_lib.read_jsonl(str(tmp_path / name / "metrics.jsonl")) if "eval/rec_error" in r
    ]
    assert rows[-1]["eval/rec_error"] < rows[0]["eval/rec_error"], (name, rows[0], rows[-1])
    finals[name] = rows[-1]
  for name in ("swae", "scfwae", "scwae", "scvmae", "sksae"):
    assert abs(finals[name]["eval/kurtosis_normalized"]) < 0.2 * abs(
      finals["ae"]["eval/kurtosis_normalized"]
    ), finals
    assert finals[name]["eval/skewness"] < 0.2 * finals["ae"]["eval/skewness"], finals
  assert os.path.exists(tmp_path / "scwae" / "figures" / "samples_000400.png")
  # Table 1 from the workdirs
  out = tmp_path / "table"
  proc = run_cli(
    "slicedae.evaluate", f"--workdirs={','.join(str(tmp_path / n) for n in finals)}", f"--out={out}"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (out / "table1.md").read_text()
  assert (
    "| Method | SWAE | SKSAE | SCWAE | SCVMAE | SCFWAE | AE | N(0, I), n=297, D=8 |" in md
    and "not computed" in md
  )
  assert (out / "curves.png").stat().st_size > 1000


def test_evaluate_missing_workdir(tmp_path):
  one_line_error(run_cli("slicedae.evaluate", f"--workdirs={tmp_path / 'nope'}"), "does not exist")


@pytest.mark.slow
def test_lfw_conv_smoke(tmp_path):
  cfg = config_lib.load_config(os.path.join(ROOT, "configs/slicedae/lfw.py:scfwae,smoke"))
  state = trainer.train(cfg, task.make_task(cfg), str(tmp_path), verbose=False)
  assert int(state.step) == 10
  rows = [r for r in log_lib.read_jsonl(str(tmp_path / "metrics.jsonl")) if "eval/rec_error" in r]
  assert rows and np.isfinite(rows[-1]["eval/rec_error"])


@pytest.mark.slow
def test_fid_during_training_and_from_the_evaluate_cli(tmp_path, capsys):
  """FID with user-supplied weights (random ones here, in pytorch-fid's layout): logged at the final
  evaluation, recomputed identically by ``slicedae.evaluate --fid_weights`` from the checkpoint."""
  import jax
  import jax.numpy as jnp

  from common import inception

  v = inception.InceptionV3().init(jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3)))
  weights = tmp_path / "fid.npz"
  np.savez(weights, **inception.to_npz_layout(v))
  cfg = config_lib.load_config(
    CFG + ":swae,smoke", {"fid.weights": str(weights), "fid.num_samples": 12, "fid.batch_size": 6}
  )
  wd = tmp_path / "run"
  trainer.train(cfg, task.make_task(cfg), str(wd), verbose=False)
  rows = [r for r in log_lib.read_jsonl(str(wd / "metrics.jsonl")) if "eval/fid" in r]
  assert len(rows) == 1 and rows[0]["step"] == 10 and rows[0]["eval/fid"] > 0
  out = tmp_path / "table"
  proc = run_cli(
    "slicedae.evaluate",
    f"--workdirs={wd}",
    f"--out={out}",
    f"--fid_weights={weights}",
    "--fid_num_samples=12",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (out / "table1.md").read_text()
  assert f"| FID | {rows[0]['eval/fid']:.2f} |" in md
  one_line_error(
    run_cli("slicedae.evaluate", f"--workdirs={wd}", f"--fid_weights={tmp_path / 'missing.npz'}"),
    "fid_weights_to_npz",
  )


def test_evaluate_keys_columns_by_run(tmp_path):
  """Two SCWAE runs under different labels are two columns (keyed by model name, one was dropped)."""
  for label, seed in (("a_scwae", 0), ("b_scwae", 1)):
    cfg = config_lib.load_config(CFG + ":scwae,smoke", {"seed": seed})
    trainer.train(cfg, task.make_task(cfg), str(tmp_path / label), verbose=False)
  from slicedae import evaluate

  runs = evaluate.collect([str(tmp_path / "a_scwae"), f"second={tmp_path / 'b_scwae'}"])
  md = evaluate.table(runs)
  assert md.splitlines()[0] == "| Method | SCWAE (a_scwae) | SCWAE (second) | N(0, I), n=297, D=8 |"
  assert (
    runs["a_scwae"]["rows"][-1] != runs["second"]["rows"][-1]
  )  # different seeds, different numbers
