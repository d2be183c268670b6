"""A Fréchet distance in the features of a classifier the project trains: "FD (digits CNN)".

FID needs Inception-v3 weights that are never downloaded here. Without them, sample quality is
measured the same way with the network swapped: a small CNN is trained on the run's own training
images and labels (digits: the 10 classes; lfw: face / non-face; MNIST, CIFAR-10: their classes;
CelebA: the ``Male`` attribute), and the Fréchet distance (``common.metrics.frechet_distance``, float64)
is taken between its penultimate-layer features of decoded N(0, I) samples and of the held-out test
images. It is named after its network and never called FID: the numbers are not comparable with FID
values in papers, only between runs on the same data.

The classifier is trained deterministically (fixed seed, fixed batch order) on the training split
only, so every run on one dataset is scored by the same network; its held-out accuracy is reported
with the distance.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
  "Classifier",
  "ClassifierFeatures",
  "train_classifier",
  "name_for",
  "labelled_data",
  "distance",
  "build",
]


def name_for(dataset: str) -> str:
  """The table's name for the distance, e.g. ``FD (digits CNN)``."""
  return f"FD ({dataset} CNN)"


class Classifier(nn.Module):
  """conv32 -> conv64/2 -> conv64/2 -> dense(features) -> dense(classes); ReLU. Returns (logits, features)."""

  num_classes: int
  features: int = 64

  @nn.compact
  def __call__(self, x):
    h = nn.relu(nn.Conv(32, (3, 3))(x))
    h = nn.relu(nn.Conv(64, (3, 3), strides=(2, 2))(h))
    h = nn.relu(nn.Conv(64, (3, 3), strides=(2, 2))(h))
    f = nn.relu(nn.Dense(self.features)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.num_classes)(f), f


def labelled_data(d, train_src, test_x: np.ndarray, max_train: int = 20000):
  """(train_x, train_y, test_y, num_classes) for the config's data block; ``train_src``/``test_x``
  are the autoencoder's own splits (``slicedae.data.load_splits``), so the classifier sees exactly
  the autoencoder's training images and is scored on its held-out ones."""
  from slicedae import data as sd_data

  if d.name in ("digits", "lfw"):
    x, y = sd_data.embedded_arrays(d.name)
    n_test = len(test_x)
    return x[:-n_test], y[:-n_test], y[-n_test:], int(y.max()) + 1
  from common import data

  label = (
    (lambda ex: int(ex["attributes"]["Male"]))
    if d.name == "celeb_a"
    else (lambda ex: int(ex["label"]))
  )
  train = data.tfds_source(d.name, "train", data_dir=d.data_dir or None)
  test = data.tfds_source(d.name, "test", data_dir=d.data_dir or None)
  n = min(len(train_src), max_train)
  train_x = np.stack([train_src[i]["image"] for i in range(n)])
  train_y = np.array([label(train[i]) for i in range(n)], np.int32)
  test_y = np.array([label(test[i]) for i in range(len(test_x))], np.int32)
  return train_x, train_y, test_y, 2 if d.name == "celeb_a" else 10


def train_classifier(
  train_x,
  train_y,
  num_classes: int,
  *,
  steps: int = 1500,
  batch_size: int = 128,
  lr: float = 1e-3,
  features: int = 64,
  seed: int = 0,
):
  """Adam on cross-entropy, batches drawn by a seeded NumPy generator: the same weights for the
  same data and arguments. Returns (model, params)."""
  model = Classifier(num_classes, features)
  params = model.init(jax.random.PRNGKey(seed), jnp.asarray(train_x[:1]))["params"]
  tx = optax.adam(lr)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, x, y):
    def loss(p):
      logits, _ = model.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    g = jax.grad(loss)(params)
    upd, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, upd), opt

  rng = np.random.default_rng(seed)
  bs = min(batch_size, len(train_x))
  for _ in range(steps):
    idx = rng.choice(len(train_x), bs, replace=False)
    params, opt = step(params, opt, train_x[idx], train_y[idx])
  return model, params


class ClassifierFeatures:
  """Images (N, H, W, C) in [0, 1] -> (N, features) float64 penultimate activations, in fixed-size
  padded batches (one compiled function); the drop-in for ``common.inception.FeatureExtractor``."""

  def __init__(self, model, params, batch_size: int = 500):
    self.model, self.params, self.batch_size = model, params, batch_size
    self._apply = jax.jit(lambda p, x: model.apply({"params": p}, x))

  def logits_and_features(self, images):
    images = np.asarray(images, np.float32)
    logits, feats, bs = [], [], self.batch_size
    for i in range(0, len(images), bs):
      xb = images[i : i + bs]
      n = len(xb)
      if n < bs:
        xb = np.concatenate([xb, np.zeros((bs - n, *xb.shape[1:]), xb.dtype)])
      lo, f = self._apply(self.params, xb)
      logits.append(np.asarray(lo)[:n])
      feats.append(np.asarray(f, np.float64)[:n])
    return np.concatenate(logits), np.concatenate(feats)

  def __call__(self, images) -> np.ndarray:
    return self.logits_and_features(images)[1]

  def accuracy(self, images, labels) -> float:
    return float(np.mean(np.argmax(self.logits_and_features(images)[0], -1) == np.asarray(labels)))


def distance(extractor, images, ref) -> float:
  """The FID formula for any feature network: Fréchet distance (float64) between the Gaussian fitted
  to ``extractor(images)`` and ``ref`` = (mu, sigma) (``common.inception.statistics`` of the reference
  features). FID is this with ``common.inception.FeatureExtractor``."""
  from common import inception, metrics

  mu, sigma = inception.statistics(extractor(images))
  return float(metrics.frechet_distance(mu, sigma, *ref, xp=np))


_BUILT: dict = {}


def build(d, f, train_src, test_x, batch_size: int = 500):
  """(extractor, test accuracy) for a config's data block ``d`` and ``fd`` block ``f``. Kept per
  process for each (data, classifier settings): runs scored in one process share the network."""
  key = (
    d.name,
    d.data_dir,
    int(d.num_test),
    int(f.classifier_steps),
    int(f.features),
    int(f.seed),
    batch_size,
  )
  if key not in _BUILT:
    _BUILT[key] = _build(d, f, train_src, test_x, batch_size)
  return _BUILT[key]


def _build(d, f, train_src, test_x, batch_size):
  train_x, train_y, test_y, k = labelled_data(d, train_src, test_x)
  model, params = train_classifier(
    train_x, train_y, k, steps=f.classifier_steps, features=f.features, seed=f.seed
  )
  ext = ClassifierFeatures(model, params, batch_size)
  return ext, ext.accuracy(test_x, test_y)
