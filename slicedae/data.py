"""The data of the sliced autoencoders: the embedded sets (scikit-learn's digits, scikit-image's faces)
and the tfds sets, split as every run and the FD classifier see them."""

from __future__ import annotations

import numpy as np

from common import data

__all__ = ["embedded_arrays", "load_splits"]


def _celeba_map(size: int, crop: int):
  def fn(ex):
    img = ex["image"]
    h, w = img.shape[:2]
    img = data.transforms.center_crop(img, (min(crop, h), min(crop, w)))
    return {"image": data.transforms.resize(data.transforms.to_float(img), (size, size))}

  return fn


def _to_float(ex):
  img = data.transforms.to_float(ex["image"])
  return {"image": img if img.ndim == 3 else img[..., None]}


def embedded_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
  """(images, labels) of an embedded set in split order: the last ``num_test`` are held out.

  digits: scikit-learn's 1,797 digits in their own (already mixed) order. lfw: scikit-image's
  ``lfw_subset`` (100 faces then 100 non-faces, label 1 = face), 25x25 cropped to 24x24 (even sizes for
  the convs), in a fixed seeded permutation so that both kinds are in either split.
  """
  if name == "digits":
    src = data.digits()
    return src.arrays["image"], src.arrays["label"]
  from skimage.data import lfw_subset

  x = lfw_subset().astype(np.float32)[:, :24, :24, None]
  y = (np.arange(len(x)) < 100).astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  return x[order], y[order]


def load_splits(d):
  """``(train_source, test_images ndarray, image_shape)`` for the config's ``data`` block."""
  if d.name in ("digits", "lfw"):
    x, _ = embedded_arrays(d.name)
    n_test = d.num_test
    if not 0 < n_test < len(x):
      raise ValueError(
        f"data.num_test={n_test} must be in 1..{len(x) - 1} for data.name={d.name!r}"
      )
    return data.ArraySource(image=x[:-n_test]), x[-n_test:], x.shape[1:]
  if d.name in ("mnist", "cifar10", "celeb_a"):
    fn = _celeba_map(d.image_size, d.center_crop) if d.name == "celeb_a" else _to_float
    train = data.tfds_source(d.name, "train", data_dir=d.data_dir or None)
    test = data.tfds_source(d.name, "test", data_dir=d.data_dir or None)
    train = _Mapped(train, fn)
    test_x = np.stack([fn(test[i])["image"] for i in range(min(len(test), d.num_test))])
    return train, test_x, test_x.shape[1:]
  raise ValueError(f"data.name={d.name!r} is unknown; use digits, lfw, mnist, cifar10 or celeb_a")


class _Mapped:
  def __init__(self, src, fn):
    self.src, self.fn = src, fn

  def __len__(self):
    return len(self.src)

  def __getitem__(self, i):
    return self.fn(self.src[i])
