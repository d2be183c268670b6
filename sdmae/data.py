"""Datasets for SD-MAE: the real ones (PatchCamelyon HDF5 or tfds, NCT-CRC-HE folders without the
background class, ImageNet-100 from an ImageNet folder and a class list), the user's own (``folder``:
tiles at any depth, or class subfolders; ``slides``: tissue tiles of whole-slide images at a chosen
microns per pixel, through common.data.slides) and two embedded ones (a
procedural H&E-like tile generator with four tissue classes; DAB-rich vs DAB-poor patches of
scikit-image's immunohistochemistry image).

``load(cfg.data) -> (train_source, test_source, num_classes, class_names)``; examples are
``{"image": HxWx3 uint8 or float, "label": int32}``. ``train_map``/``eval_map`` turn them into
normalized float32 crops of ``image_size``.
"""

from __future__ import annotations

import os

import numpy as np

from common import data

__all__ = [
  "load",
  "train_map",
  "eval_map",
  "procedural_he",
  "ihc_patches",
  "MEAN",
  "STD",
  "HE_CLASSES",
  "unnormalize",
]

MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # ImageNet statistics, as the SD-MAE code
STD = np.array([0.229, 0.224, 0.225], np.float32)
HE_CLASSES = ("tumor", "stroma", "lymphocytes", "adipose")
PCAM_FILES = "camelyonpatch_level_2_split_{split}_{xy}.h5"


def unnormalize(x: np.ndarray) -> np.ndarray:
  return np.clip(x * STD + MEAN, 0.0, 1.0)


def _he_vectors():
  from skimage.color import rgb_from_hed

  return rgb_from_hed[0], rgb_from_hed[1]  # hematoxylin, eosin OD vectors (Ruifrok)


def _smooth_noise(rng, size, cells):
  """Uniform noise on a (cells+1)^2 lattice, bilinearly interpolated to (size, size)."""
  g = rng.uniform(size=(cells + 1, cells + 1))
  t = np.linspace(0, cells, size, endpoint=False)
  i = t.astype(int)
  f = t - i
  rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]  # (size, cells + 1)
  return rows[:, i] * (1 - f)[None] + rows[:, i + 1] * f[None]


def _ellipses(rng, size, n, r_range, elong, angle=None):
  yy, xx = np.mgrid[:size, :size].astype(np.float32)
  out = np.zeros((size, size), np.float32)
  for _ in range(n):
    cy, cx = rng.uniform(0, size, 2)
    r = rng.uniform(*r_range)
    a = rng.uniform(0, np.pi) if angle is None else angle + rng.normal(0, 0.15)
    ra, rb = r * elong, r / elong
    dy, dx = yy - cy, xx - cx
    u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
    d = (u / ra) ** 2 + (v / rb) ** 2
    out = np.maximum(out, np.clip(1.5 - d, 0, 1) * rng.uniform(0.7, 1.0))
  return out


def procedural_he(rng: np.random.Generator, size: int = 32, label: int | None = None) -> dict:
  """One H&E-like tile of a tissue class (tumor: crowded large pleomorphic nuclei; stroma: pink fibres
  with sparse elongated nuclei; lymphocytes: dense small round dark nuclei; adipose: empty cells with
  thin membranes), rendered by Beer-Lambert with Ruifrok's H and E vectors under a random per-tile
  stain strength and hue, plus noise."""
  label = int(rng.integers(len(HE_CLASSES))) if label is None else int(label)
  s = size / 32.0
  eosin = 0.25 + 0.25 * _smooth_noise(rng, size, 4)
  if label == 0:
    hema = (
      _ellipses(rng, size, int(rng.integers(5, 9)), (3.0 * s, 5.0 * s), rng.uniform(1.0, 1.5)) * 1.1
    )
  elif label == 1:
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[:size, :size]
    fibres = 0.5 + 0.5 * np.sin(
      (xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.6, 1.0) / s
    )
    eosin = eosin + 0.45 * fibres
    hema = _ellipses(rng, size, int(rng.integers(1, 4)), (2.0 * s, 3.0 * s), 2.5, angle) * 0.9
  elif label == 2:
    hema = _ellipses(rng, size, int(rng.integers(14, 24)), (1.3 * s, 2.0 * s), 1.0) * 1.6
    eosin = eosin * 0.6
  else:
    pts = rng.uniform(0, size, (int(rng.integers(3, 6)), 2))
    yy, xx = np.mgrid[:size, :size]
    d = np.sort(np.hypot(yy[..., None] - pts[:, 0], xx[..., None] - pts[:, 1]), axis=-1)
    eosin = 0.6 * np.exp(-(((d[..., 1] - d[..., 0]) / (0.8 * s)) ** 2)) + 0.03
    hema = _ellipses(rng, size, int(rng.integers(0, 2)), (1.5 * s, 2.0 * s), 1.5) * 0.8
  # per-tile staining variation (strength and hue), so that colour alone does not give the class away
  h_vec, e_vec = (v * np.exp(rng.normal(0, 0.1, 3)) for v in _he_vectors())
  od = (
    rng.uniform(0.6, 1.4) * hema[..., None] * h_vec
    + rng.uniform(0.6, 1.4) * eosin[..., None] * e_vec
  )
  img = np.exp(-od * np.log(10.0)) + rng.normal(0, 0.02, (size, size, 3))
  return {"image": np.clip(img, 0, 1).astype(np.float32), "label": np.int32(label)}


def ihc_patches(size: int = 32, train: bool = True) -> data.ArraySource:
  """Patches of ``skimage.data.immunohistochemistry()`` (stride size/2) labelled 1 when their mean DAB
  (``rgb2hed``) is above the median over all patches (DAB-rich vs DAB-poor tissue). Train and test are
  disjoint regions: columns left and right of x = 384."""
  from skimage.color import rgb2hed
  from skimage.data import immunohistochemistry

  img = immunohistochemistry()
  dab = rgb2hed(img)[..., 2]
  stride = size // 2
  crops, scores, is_train = [], [], []
  for y in range(0, img.shape[0] - size + 1, stride):
    for x in range(0, img.shape[1] - size + 1, stride):
      if x < 384 < x + size:
        continue  # straddles the split line
      crops.append(img[y : y + size, x : x + size])
      scores.append(dab[y : y + size, x : x + size].mean())
      is_train.append(x + size <= 384)
  scores, is_train = np.asarray(scores), np.asarray(is_train)
  labels = (scores > np.median(scores)).astype(np.int32)
  sel = is_train if train else ~is_train
  return data.ArraySource(image=np.stack(crops)[sel], label=labels[sel])


def _procedural_source(d, train: bool):
  size = int(d.source_size)
  n = d.num_train if train else d.num_test
  return data.ProceduralSource(
    lambda rng: procedural_he(rng, size), n, seed=d.seed + (0 if train else 1)
  )


def load(d):
  name = d.name
  if name == "procedural_he":
    return (
      _procedural_source(d, True),
      _procedural_source(d, False),
      len(HE_CLASSES),
      list(HE_CLASSES),
    )
  if name == "ihc":
    size = int(d.source_size)
    return ihc_patches(size, True), ihc_patches(size, False), 2, ["DAB-poor", "DAB-rich"]
  if name == "pcam":
    hint = (
      "download PatchCamelyon's HDF5 files (github.com/basveeling/pcam) into data.data_dir, "
      "or use data.name=pcam_tfds"
    )
    src = [
      data.H5Source(
        os.path.join(d.data_dir, PCAM_FILES.format(split=s, xy="x")),
        os.path.join(d.data_dir, PCAM_FILES.format(split=s, xy="y")),
        hint=hint,
      )
      for s in ("train", d.test_split)
    ]
    return src[0], src[1], 2, ["normal", "tumor"]
  if name == "pcam_tfds":
    src = [
      data.tfds_source("patch_camelyon", s, data_dir=d.data_dir or None)
      for s in ("train", d.test_split)
    ]
    return src[0], src[1], 2, ["normal", "tumor"]
  if name == "nct":
    hint = "NCT-CRC-HE-100K and CRC-VAL-HE-7K from zenodo.org/record/1214456, unzipped into data.data_dir"
    tr = data.ImageFolderSource(
      os.path.join(d.data_dir, "NCT-CRC-HE-100K"), exclude=("BACK",), hint=hint
    )
    te = data.ImageFolderSource(
      os.path.join(d.data_dir, "CRC-VAL-HE-7K"), classes=tr.classes, hint=hint
    )
    return tr, te, len(tr.classes), tr.classes
  if name == "imagenet100":
    if not os.path.isfile(d.class_list):
      raise data.DatasetNotFoundError(
        f"data.class_list={d.class_list!r} does not exist; give a text file "
        "with the 100 ImageNet synsets (n01558993 ...), one per line"
      )
    with open(d.class_list) as f:
      classes = [c.strip() for c in f if c.strip()]
    tr = data.ImageFolderSource(os.path.join(d.data_dir, "train"), classes=classes)
    te = data.ImageFolderSource(os.path.join(d.data_dir, "val"), classes=classes)
    return tr, te, len(classes), classes
  if name == "folder":
    return _folder(d)
  if name == "slides":
    return _slides(d)
  raise ValueError(
    f"data.name={name!r} is unknown; use procedural_he, ihc, pcam, pcam_tfds, nct, imagenet100, "
    "folder or slides"
  )


def _held_out(src, every: int = 20):
  """(train, test): every ``every``-th example held out (a source without its own test set)."""
  idx = np.arange(len(src))
  test = idx[every - 1 :: every] if len(src) >= every else idx[-1:]
  return data.Subset(src, np.setdiff1d(idx, test)), data.Subset(src, test)


def _folder(d):
  """The user's tiles: unlabelled at any depth (pre-training), or one class per subfolder."""
  if not d.data_dir:
    raise data.DatasetNotFoundError(
      "data.name=folder needs --config.data.data_dir=DIR, a folder of tiles (png/jpg/tif)"
    )
  if not d.labelled:
    tr = data.ImageFolderSource(d.data_dir, unlabelled=True)
    te = data.ImageFolderSource(d.test_dir, unlabelled=True) if d.test_dir else None
    if te is None:
      tr, te = _held_out(tr)
    return tr, te, 1, ["tissue"]
  tr = data.ImageFolderSource(d.data_dir)
  classes = list(tr.classes)
  if not classes:
    raise data.DatasetNotFoundError(
      f"data.data_dir={d.data_dir!r} has no class subfolders; a probe or fine-tuning needs "
      "DIR/<class>/*.png (pre-training takes tiles at any depth)"
    )
  te = data.ImageFolderSource(d.test_dir, classes=classes) if d.test_dir else None
  if te is None:
    tr, te = _held_out(tr)
  return tr, te, len(classes), classes


def _slides(d):
  """Tissue tiles of the user's whole-slide images at ``data.mpp`` (common.data.slides), unlabelled."""
  from common.data import slides

  if not d.data_dir:
    raise data.DatasetNotFoundError(
      "data.name=slides needs --config.data.data_dir=DIR, a folder of whole-slide images"
    )
  paths = slides.list_slides(d.data_dir)
  if not paths:
    raise data.DatasetNotFoundError(
      f"no whole-slide images (files OpenSlide opens) in data.data_dir={d.data_dir!r}"
    )
  src = slides.SlideTiles(paths, int(d.source_size), mpp=float(d.mpp) or None)
  tr, te = _held_out(src)
  return tr, te, 1, ["tissue"]


def _rgb_float(img):
  img = data.transforms.to_float(np.asarray(img))
  if img.ndim == 2:
    img = np.repeat(img[..., None], 3, -1)
  return img[..., :3]


def train_map(size: int, scale=(0.08, 1.0), flip: bool = False):
  """RandomResizedCrop (the only pre-training augmentation), optional flip (probe), normalization."""

  def fn(ex, rng):
    img = data.transforms.random_resized_crop(
      _rgb_float(ex["image"]), rng, size, scale=tuple(scale)
    )
    if flip:
      img = data.transforms.random_flip(img, rng)
    return {"image": (img - MEAN) / STD, "label": np.int32(ex.get("label", 0))}

  return fn


def eval_map(size: int):
  """Centre square crop, resize to ``size``, normalization."""

  def fn(ex):
    img = _rgb_float(ex["image"])
    s = min(img.shape[:2])
    img = data.transforms.center_crop(img, (s, s))
    if s != size:
      img = data.transforms.resize(img, (size, size))
    return {"image": (img - MEAN) / STD, "label": np.int32(ex.get("label", 0))}

  return fn
