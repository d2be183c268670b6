"""Random-access data sources (``len`` + ``__getitem__``) that grain can read.

Each returns examples as dicts of numpy arrays. A missing dataset raises :class:`DatasetNotFoundError`
with one line saying what is missing and how to prepare it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from common.errors import InputError, UserError
from common.files import check_out_dir, check_outputs  # noqa: F401  (re-exported: the CLIs' checks)

__all__ = [
  "DatasetNotFoundError",
  "ArraySource",
  "ImageFolderSource",
  "H5Source",
  "ProceduralSource",
  "tfds_source",
  "bundled_gray",
  "bundled_rgb",
  "digits",
  "read_image",
  "UnreadableImageError",
  "unique_stems",
  "check_outputs",
  "check_out_dir",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def is_image_file(path: str) -> bool:
  """An image by its extension, or a DICOM file by its content (hospital exports often have no
  extension)."""
  from common.data import dicom

  return path.lower().endswith(IMAGE_EXTENSIONS) or (os.path.isfile(path) and dicom.is_dicom(path))


class DatasetNotFoundError(UserError, FileNotFoundError):
  """A dataset is not where the config says; the message says how to prepare it."""


class UnreadableImageError(InputError):
  """An image file is missing, empty, truncated, not an image, transparent or non-finite."""


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


def read_image(path: str, mode: str | None = None) -> np.ndarray:
  """Reads png/jpg/tif/bmp keeping the bit depth (uint8 / uint16, float TIFF as float32).

  Every way a file can be unreadable ends in one :class:`UnreadableImageError` line naming the file.
  Transparency is handled honestly: an alpha channel that is fully opaque is dropped, any transparent
  pixel is refused (compositing onto a guessed background would invent tissue or signal). Non-finite
  values in a float image are refused, not masked: a denoiser or deconvolution would spread them.

  Args:
    path: the file.
    mode: None (HxW or HxWx3 as stored), ``"gray"`` (HxW required) or ``"rgb"`` (HxWx3 required).

  Returns:
    ``(H, W)`` or ``(H, W, 3)`` array.
  """
  if not os.path.exists(path):
    raise UnreadableImageError(f"image {path!r} does not exist")
  if os.path.isdir(path):
    raise UnreadableImageError(f"{path!r} is a directory, not an image file")
  if os.path.getsize(path) == 0:
    raise UnreadableImageError(f"image {path!r} is empty (0 bytes)")
  from common.data import dicom

  # DICOM by content, whatever the name: grey-scale, scaled to [0, 1] by BitsStored
  if dicom.is_dicom(path):
    img = dicom.read(path)
    if len(img.stored) > 1:
      raise UnreadableImageError(
        f"{path!r} is a {len(img.stored)}-frame DICOM; give single-frame images"
      )
    if mode == "rgb":
      raise UnreadableImageError(
        f"image {path!r} is grey-scale DICOM; this method needs an RGB image"
      )
    return dicom.to_unit(img)[0]
  ext = os.path.splitext(path)[1].lower()
  try:
    if ext in (".tif", ".tiff"):
      import tifffile

      img = tifffile.imread(path)
      if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[-1] not in (3, 4):
        img = np.moveaxis(img, 0, -1)  # planar (C, H, W) TIFF
    else:
      from PIL import Image

      with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L"):
          img = np.asarray(im, dtype=np.uint16)
        elif im.mode == "I":
          a = np.asarray(im)
          img = a.astype(np.uint16) if 0 <= a.min() and a.max() < 65536 else a
        elif im.mode == "F":
          img = np.asarray(im, np.float32)
        elif im.mode in ("L", "RGB", "LA", "RGBA"):
          img = np.asarray(im)
        elif im.mode in ("P", "PA"):
          img = np.asarray(im.convert("RGBA"))
        else:  # 1, CMYK, YCbCr, LAB, HSV
          img = np.asarray(im.convert("RGB"))
  except Exception as e:  # noqa: BLE001  (PIL/tifffile raise many types for a bad file)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UnreadableImageError(
      f"image {path!r} cannot be read ({type(e).__name__}: {first})"
    ) from None
  img = np.ascontiguousarray(img)
  if img.ndim == 3 and img.shape[-1] in (2, 4):
    img = _drop_opaque_alpha(img, path)
  if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3) or min(img.shape[:2]) < 1:
    raise UnreadableImageError(
      f"image {path!r} has shape {img.shape}; expected HxW gray or HxWx3 RGB"
    )
  if img.dtype.kind == "f":
    bad = int(np.size(img) - np.isfinite(img).sum())
    if bad:
      raise UnreadableImageError(
        f"image {path!r} has {bad} NaN/inf values; fill them first (e.g. with a "
        "median of the neighbours)"
      )
    img = img.astype(np.float32)
  if mode == "gray" and img.ndim != 2:
    raise UnreadableImageError(
      f"image {path!r} is RGB ({img.shape}); this method needs a grayscale image "
      "(convert it, e.g. skimage.color.rgb2gray)"
    )
  if mode == "rgb" and img.ndim != 3:
    raise UnreadableImageError(
      f"image {path!r} is grayscale ({img.shape}); this method needs an RGB "
      "(brightfield stained) image"
    )
  return img


def _drop_opaque_alpha(img: np.ndarray, path: str) -> np.ndarray:
  alpha = img[..., -1]
  full = np.iinfo(img.dtype).max if img.dtype.kind in "ui" else 1.0
  n = int((alpha < full).sum())
  if n:
    raise UnreadableImageError(
      f"image {path!r} has transparent pixels (alpha < {full} in {n} of {alpha.size}); flatten it onto its "
      "real background first (e.g. PIL Image.alpha_composite onto white for a brightfield scan)"
    )
  return np.ascontiguousarray(img[..., :-1] if img.shape[-1] == 4 else img[..., 0])


class ImageFolderSource:
  """``root/<class>/*.{png,jpg,tif,...}``: one class per subfolder (sorted names -> labels 0..K-1).

  Args:
    root: dataset folder.
    classes: restrict to these class names (e.g. an ImageNet-100 class list), in this label order.
    exclude: class names to leave out (e.g. NCT-CRC's background class ``BACK``).
    transform: optional function applied to each decoded image.
    flat_ok: allow a folder of images with no class subfolders (labels are then all 0).
    unlabelled: every image under ``root`` at any depth, label 0 (tiles for self-supervised training).
  """

  def __init__(
    self,
    root: str,
    classes: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    transform: Callable | None = None,
    flat_ok: bool = False,
    hint: str = "",
    unlabelled: bool = False,
  ):
    if not os.path.isdir(root):
      raise DatasetNotFoundError(
        f"image folder {root!r} does not exist; expected {root}/<class>/*.png|jpg|tif"
        + (f" ({hint})" if hint else "")
      )
    if unlabelled:
      classes, exclude = [], ()
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    names = [c for c in (classes if classes is not None else found) if c not in set(exclude)]
    missing = [c for c in names if c not in found]
    if missing:
      raise DatasetNotFoundError(f"class folders {missing[:5]} are missing under {root!r}")
    files, labels = [], []
    for label, c in enumerate(names):
      for dirpath, _, fnames in sorted(os.walk(os.path.join(root, c))):
        for f in sorted(fnames):
          if is_image_file(os.path.join(dirpath, f)):
            files.append(os.path.join(dirpath, f))
            labels.append(label)
    if unlabelled:
      files = sorted(
        os.path.join(dp, f)
        for dp, _, fs in os.walk(root)
        for f in fs
        if not f.startswith(".") and is_image_file(os.path.join(dp, f))
      )
      labels = [0] * len(files)
    elif not names and flat_ok:
      files = sorted(
        os.path.join(root, f) for f in os.listdir(root) if is_image_file(os.path.join(root, f))
      )
      labels = [0] * len(files)
    if not files:
      raise DatasetNotFoundError(
        f"no images (png/jpg/tif) found under {root!r}" + (f" ({hint})" if hint else "")
      )
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


class Subset:
  """The examples ``indices`` of a source, in that order."""

  def __init__(self, source, indices):
    self.source, self.indices = source, np.asarray(indices, np.int64)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, i: int):
    return self.source[int(self.indices[i])]


class H5Source:
  """Images (and optional labels) in HDF5 files, read lazily, e.g. PatchCamelyon's
  ``camelyonpatch_level_2_split_<split>_x.h5`` (key ``x``, N x 96 x 96 x 3 uint8) and ``..._y.h5``
  (key ``y``, N x 1 x 1 x 1). The file handle is opened in each process on first access.
  """

  def __init__(
    self, x_path: str, y_path: str | None = None, x_key: str = "x", y_key: str = "y", hint: str = ""
  ):
    for p in (x_path, y_path):
      if p is not None and not os.path.isfile(p):
        raise DatasetNotFoundError(
          f"HDF5 file {p!r} does not exist" + (f"; {hint}" if hint else "")
        )
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
      f"tfds build {name} --file_format=array_record --data_dir=DIR"
    ) from None


_GRAY = (
  "camera",
  "coins",
  "page",
  "text",
  "moon",
  "horse",
  "brick",
  "grass",
  "gravel",
  "cell",
  "shepp_logan_phantom",
  "microaneurysms",
  "checkerboard",
  "clock",
)
_RGB = (
  "immunohistochemistry",
  "retina",
  "astronaut",
  "coffee",
  "chelsea",
  "hubble_deep_field",
  "skin",
  "cat",
  "rocket",
)


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
  return ArraySource(
    image=(d.images / 16.0).astype(np.float32)[..., None], label=d.target.astype(np.int32)
  )


def unique_stems(paths: Sequence[str]) -> list[str]:
  """Output names for input files: the file stem, and for inputs that share a name, as many parent
  folders as it takes to tell them apart (``a/x.png``, ``b/x.png``, ``c/y.tif`` -> ``a_x``, ``b_x``, ``y``)."""
  parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
  parts = [p[:-1] + [os.path.splitext(p[-1])[0]] for p in parts]
  depth = [1] * len(parts)
  name = lambda i: "_".join(q for q in parts[i][-depth[i] :] if q)
  for _ in range(max((len(p) for p in parts), default=1)):
    names = [name(i) for i in range(len(parts))]
    dup = [i for i, n in enumerate(names) if names.count(n) > 1]
    if not dup:
      return names
    for i in dup:
      depth[i] += 1
  return [f"{os.path.splitext(os.path.basename(p))[0]}_{i}" for i, p in enumerate(paths)]
