"""slicedae: the classifier Fréchet distance (FD) and the convergence study command."""

import os

import ml_collections
import numpy as np
import pytest

from slicedae import task


@pytest.fixture(scope="module")
def digits_classifier():
  from slicedae import fd

  x, y = task.embedded_arrays("digits")
  model, params = fd.train_classifier(x[:-297], y[:-297], 10, steps=300)
  return fd.ClassifierFeatures(model, params), x[-297:], y[-297:]


def test_fd_is_zero_for_identical_sets_and_grows_with_noise_and_blur(digits_classifier):
  """The FID path with the project's digits CNN: 0 for a set against itself, then larger the more
  noise or blur is added (the perturbations that raise FID, Heusel et al. 2017, Fig. 1)."""
  from scipy import ndimage

  from common import inception
  from slicedae import fd

  ext, x, y = digits_classifier
  assert ext.accuracy(x, y) > 0.85
  ref = inception.statistics(ext(x))
  assert abs(fd.distance(ext, x, ref)) < 1e-7 * np.trace(
    ref[1]
  )  # float64 rounding of the matrix root
  rng = np.random.default_rng(0)
  noisy = [
    fd.distance(ext, np.clip(x + s * rng.standard_normal(x.shape), 0, 1), ref)
    for s in (0.05, 0.15, 0.3)
  ]
  blurred = [
    fd.distance(ext, ndimage.gaussian_filter(x, (0, s, s, 0)), ref) for s in (0.4, 0.8, 1.5)
  ]
  assert 0 < noisy[0] < noisy[1] < noisy[2], noisy
  assert 0 < blurred[0] < blurred[1] < blurred[2], blurred


def test_fd_is_the_fid_formula_on_the_classifier_features(digits_classifier):
  """distance() = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) on the features, with scipy's sqrtm."""
  from scipy import linalg

  from slicedae import fd

  ext, x, _ = digits_classifier
  a, b = ext(x[:150]), ext(x[150:])
  mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
  want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
  np.testing.assert_allclose(fd.distance(ext, x[:150], (mu2, s2)), want, rtol=1e-5)


def test_fd_classifier_training_is_deterministic():
  from slicedae import fd

  x, y = task.embedded_arrays("digits")
  f1 = fd.ClassifierFeatures(*fd.train_classifier(x[:200], y[:200], 10, steps=20))(x[-50:])
  f2 = fd.ClassifierFeatures(*fd.train_classifier(x[:200], y[:200], 10, steps=20))(x[-50:])
  np.testing.assert_array_equal(f1, f2)


def test_lfw_split_holds_faces_and_non_faces():
  x, y = task.embedded_arrays("lfw")
  assert x.shape == (200, 24, 24, 1) and y.sum() == 100
  assert (
    0.3 < y[-40:].mean() < 0.7
  )  # the held-out 40 are not all non-faces (the unpermuted order was)


@pytest.mark.slow
def test_study_trains_resumes_and_writes_table_with_null(tmp_path, monkeypatch):
  """slicedae.study on a smoke budget: trains two models, skips them on a re-run, and Table 1 carries
  the N(0, I) column, both kinds of p-value and a verdict per model; the curves have the null line."""
  from slicedae import study

  out = str(tmp_path / "s")
  study.run_study(out, ("digits",), ("scwae", "ae"), variant="smoke", verbose=False, seeds=(0, 1))
  mtime = os.path.getmtime(tmp_path / "s" / "digits" / "scwae" / "metrics.jsonl")
  md = study.run_study(
    out, ("digits",), ("scwae", "ae"), variant="smoke", verbose=False, seeds=(0, 1)
  )["digits"]
  assert os.path.getmtime(tmp_path / "s" / "digits" / "scwae" / "metrics.jsonl") == mtime  # skipped
  assert "| Method | SCWAE | SCWAE (scwae_s1) | AE | AE (ae_s1) | N(0, I), n=297, D=8 |" in md
  assert (
    "| Mean ± std over seeds | SCWAE, 2 seeds | AE, 2 seeds |" in md
    and "| N(0, I) rejected at 5% (runs) |" in md
  )
  assert "| p vs N(0, I), skewness / kurtosis (Monte Carlo) |" in md and "| N(0, I) at 5% |" in md
  assert "Mardia's tests p" in md and "| FD (digits CNN) |" in md and "(real train images)" in md
  verdicts = [l for l in md.splitlines() if l.startswith("| N(0, I) at 5% |")][0]
  assert verdicts.count("rejected") == 4
  assert (tmp_path / "s" / "digits" / "curves.png").stat().st_size > 1000
  with pytest.raises(Exception, match="unknown 'sweae'"):
    study.run_study(out, ("digits",), ("sweae",))


def test_fd_labels_from_tfds_through_mock_data():
  """The classifier of the real datasets learns their own labels: MNIST's 10 classes from the tfds
  source, the train images taken from the autoencoder's own split."""
  import tensorflow_datasets as tfds

  from slicedae import fd

  d = ml_collections.ConfigDict(
    dict(name="mnist", num_test=6, data_dir="", image_size=28, center_crop=28)
  )
  with tfds.testing.mock_data(num_examples=12):
    train, test_x, _ = task.load_splits(d)
    train_x, train_y, test_y, k = fd.labelled_data(d, train, test_x)
  assert k == 10 and train_x.shape == (12, 28, 28, 1) and test_y.shape == (6,)
  assert train_y.dtype == np.int32 and 0 <= train_y.min() and train_y.max() < 10
