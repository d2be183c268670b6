"""Random-access data sources (``len`` + ``__getitem__``) that grain can read.

Each returns examples as dicts of numpy arrays. A missing dataset raises :class:`DatasetNotFoundError`
with one line saying what is missing and how to prepare it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["DatasetNotFoundError", "ArraySource", "ImageFolderSource", "H5Source", "ProceduralSource",
           "tfds_source", "bundled_gray", "bundled_rgb", "digits", "read_image"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class DatasetNotFoundError(FileNotFoundError):
  """A dataset is not where the config says; the message says how to prepare it."""


class ArraySource:
  """In-memory arrays with a common leading axis: ``ArraySource(image=x, label=y)``."""

  def __init__(self, **arrays: np.ndarray):
    if not arrays:
      raise ValueError("ArraySource needs at least one array")
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
      raise ValueError(f"ArraySource arrays differ in length: {lengths}")
    self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
    self._n = next(iter(lengths.values()))

  def __len__(self) -> int:
    return self._n

  def __getitem__(self, i: int) -> dict:
    return {k: v[i] for k, v in self.arrays.items()}


def read_image(path: str) -> np.ndarray:
  """Reads png/jpg/tif/bmp keeping the bit depth (8- or 16-bit) as uint8/uint16; HxW or HxWxC."""
  ext = os.path.splitext(path)[1].lower()
  if ext in (".tif", ".tiff"):
    import tifffile
    img = tifffile.imread(path)
  else:
    from PIL import Image
    with Image.open(path) as im:
      if im.mode in ("I;16", "I;16B", "I;16L"):
        img = np.asarray(im, dtype=np.uint16)
      elif im.mode == "I":
        img = np.asarray(im).astype(np.uint16) if np.asarray(im).max() < 65536 else np.asarray(im)
      elif im.mode in ("L", "RGB"):
        img = np.asarray(im)
      else:
        img = np.asarray(im.convert("RGB"))
  return np.ascontiguousarray(img)


class ImageFolderSource:
  """``root/<class>/*.{png,jpg,tif,...}``: one class per subfolder (sorted names -> labels 0..K-1).

  Args:
    root: dataset folder.
    classes: restrict to these class names (e.g. an ImageNet-100 class list), in this label order.
    exclude: class names to leave out (e.g. NCT-CRC's background class ``BACK``).
    transform: optional function applied to each decoded image.
    flat_ok: allow a folder of images with no class subfolders (labels are then all 0).
  """

  def __init__(self, root: str, classes: Sequence[str] | None = None, exclude: Sequence[str] = (),
               transform: Callable | None = None, flat_ok: bool = False, hint: str = ""):
    if not os.path.isdir(root):
      raise DatasetNotFoundError(f"image folder {root!r} does not exist; expected {root}/<class>/*.png|jpg|tif"
                                 + (f" ({hint})" if hint else ""))
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    names = [c for c in (classes if classes is not None else found) if c not in set(exclude)]
    missing = [c for c in names if c not in found]
    if missing:
      raise DatasetNotFoundError(f"class folders {missing[:5]} are missing under {root!r}")
    files, labels = [], []
    for label, c in enumerate(names):
      for dirpath, _, fnames in sorted(os.walk(os.path.join(root, c))):
        for f in sorted(fnames):
          if f.lower().endswith(IMAGE_EXTENSIONS):
            files.append(os.path.join(dirpath, f))
            labels.append(label)
    if not names and flat_ok:
      files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.lower().endswith(IMAGE_EXTENSIONS))
      labels = [0] * len(files)
    if not files:
      raise DatasetNotFoundError(f"no images (png/jpg/tif) found under {root!r}" + (f" ({hint})" if hint else ""))
    self.root, self.classes, self.files = root, names, files
    self.labels = np.asarray(labels, np.int32)
    self.transform = transform

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, i: int) -> dict:
    img = read_image(self.files[i])
    if self.transform is not None:
      img = self.transform(img)
    return {"image": img, "label": self.labels[i]}


class H5Source:
  """Images (and optional labels) in HDF5 files, read lazily, e.g. PatchCamelyon's
  ``camelyonpatch_level_2_split_<split>_x.h5`` (key ``x``, N x 96 x 96 x 3 uint8) and ``..._y.h5``
  (key ``y``, N x 1 x 1 x 1). The file handle is opened in each process on first access.
  """

  def __init__(self, x_path: str, y_path: str | None = None, x_key: str = "x", y_key: str = "y", hint: str = ""):
    for p in (x_path, y_path):
      if p is not None and not os.path.isfile(p):
        raise DatasetNotFoundError(f"HDF5 file {p!r} does not exist" + (f"; {hint}" if hint else ""))
    import h5py
    with h5py.File(x_path, "r") as f:
      if x_key not in f:
        raise DatasetNotFoundError(f"{x_path!r} has no dataset {x_key!r} (it has {list(f.keys())})")
      self._n = len(f[x_key])
    self.x_path, self.y_path, self.x_key, self.y_key = x_path, y_path, x_key, y_key
    self._fx = self._fy = None

  def __len__(self) -> int:
    return self._n

  def __getstate__(self):
    d = dict(self.__dict__)
    d["_fx"] = d["_fy"] = None
    return d

  def __getitem__(self, i: int) -> dict:
    import h5py
    if self._fx is None:
      self._fx = h5py.File(self.x_path, "r")
      self._fy = h5py.File(self.y_path, "r") if self.y_path else None
    out = {"image": np.asarray(self._fx[self.x_key][i])}
    if self._fy is not None:
      out["label"] = np.asarray(self._fy[self.y_key][i]).reshape(()).astype(np.int32)
    return out


class ProceduralSource:
  """``length`` examples made by ``fn(np.random.Generator) -> dict``, the generator seeded by (seed, i),
  so example i is the same in every process and every run."""

  def __init__(self, fn: Callable[[np.random.Generator], Any], length: int, seed: int = 0):
    self.fn, self.length, self.seed = fn, int(length), int(seed)

  def __len__(self) -> int:
    return self.length

  def __getitem__(self, i: int):
    return self.fn(np.random.default_rng([self.seed, int(i)]))


def tfds_source(name: str, split: str, data_dir: str | None = None, **kwargs):
  """``tfds.data_source`` over a dataset prepared once in the array_record format (no TensorFlow here).

  Prepare it once in an environment with TensorFlow and network access::

    pip install tensorflow tensorflow-datasets
    tfds build NAME --file_format=array_record --data_dir=DIR
  """
  import tensorflow_datasets as tfds
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir, download=False, **kwargs)
  except Exception as e:  # noqa: BLE001  tfds raises several types for "not prepared"
    raise DatasetNotFoundError(
        f"tfds dataset {name!r} (split {split!r}) is not prepared as array_record in "
        f"{data_dir or '~/tensorflow_datasets'} ({type(e).__name__}); prepare it once with TensorFlow: "
        f"tfds build {name} --file_format=array_record --data_dir=DIR") from None


_GRAY = ("camera", "coins", "page", "text", "moon", "horse", "brick", "grass", "gravel", "cell",
         "shepp_logan_phantom", "microaneurysms", "checkerboard", "clock")
_RGB = ("immunohistochemistry", "retina", "astronaut", "coffee", "chelsea", "hubble_deep_field", "skin")


def bundled_gray(name: str) -> np.ndarray:
  """A grayscale image scikit-image ships (``retina``/``immunohistochemistry`` are converted to gray)."""
  from skimage import color, data
  if name in _RGB:
    img = getattr(data, name)()
    return (color.rgb2gray(img) * 255).round().astype(np.uint8)
  if name not in _GRAY and not hasattr(data, name):
    raise ValueError(f"unknown bundled image {name!r}; choose one of {', '.join(_GRAY + _RGB)}")
  img = getattr(data, name)()
  if img.dtype == bool:
    img = img.astype(np.uint8) * 255
  if img.dtype != np.uint8:
    img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8) if img.dtype.kind == "f" else img
  return img


def bundled_rgb(name: str) -> np.ndarray:
  """An RGB image scikit-image ships (e.g. ``immunohistochemistry``, ``retina``)."""
  from skimage import data
  if name not in _RGB:
    raise ValueError(f"unknown bundled RGB image {name!r}; choose one of {', '.join(_RGB)}")
  return getattr(data, name)()[..., :3]


def digits() -> ArraySource:
  """scikit-learn's 1,797 real 8x8 handwritten digits as float32 in [0, 1] with labels."""
  from sklearn.datasets import load_digits
  d = load_digits()
  return ArraySource(image=(d.images / 16.0).astype(np.float32)[..., None], label=d.target.astype(np.int32))
