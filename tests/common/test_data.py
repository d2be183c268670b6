"""common.data: real-format sources on small files, pipelines, resume, and one-line errors."""

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from common import data
from common.data import transforms


def test_image_folder_8_16_bit_png_jpg_tif(tmp_path):
  rng = np.random.default_rng(0)
  (tmp_path / "ADI").mkdir()
  (tmp_path / "BACK").mkdir()
  (tmp_path / "TUM").mkdir()
  a8 = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
  a16 = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
  Image.fromarray(a8).save(tmp_path / "ADI" / "a.png")
  Image.fromarray(a16).save(tmp_path / "ADI" / "b16.png")
  Image.fromarray(a8).save(tmp_path / "TUM" / "c.jpg", quality=95)
  tifffile.imwrite(tmp_path / "TUM" / "d.tif", a16)
  Image.fromarray(a8).save(tmp_path / "BACK" / "e.png")
  src = data.ImageFolderSource(str(tmp_path), exclude=["BACK"])
  assert src.classes == ["ADI", "TUM"] and len(src) == 4
  ex = [src[i] for i in range(4)]
  np.testing.assert_array_equal(ex[0]["image"], a8)
  assert ex[1]["image"].dtype == np.uint16
  np.testing.assert_array_equal(ex[1]["image"], a16)
  assert ex[2]["image"].shape == (12, 10, 3) and ex[2]["label"] == 1
  np.testing.assert_array_equal(ex[3]["image"], a16)


def test_missing_paths_give_one_line_errors(tmp_path):
  with pytest.raises(data.DatasetNotFoundError, match="does not exist") as e:
    data.ImageFolderSource(str(tmp_path / "nope"), hint="download NCT-CRC-HE-100K")
  assert "\n" not in str(e.value)
  with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
    data.H5Source(str(tmp_path / "x.h5"))
  with pytest.raises(
    data.DatasetNotFoundError, match="tfds build mnist --file_format=array_record"
  ):
    data.tfds_source("mnist", "train", data_dir=str(tmp_path))


def test_h5_pcam_layout(tmp_path):
  x = np.random.default_rng(1).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
  y = np.array([0, 1, 1, 0, 1, 0], np.uint8).reshape(6, 1, 1, 1)
  with h5py.File(tmp_path / "camelyonpatch_level_2_split_valid_x.h5", "w") as f:
    f["x"] = x
  with h5py.File(tmp_path / "camelyonpatch_level_2_split_valid_y.h5", "w") as f:
    f["y"] = y
  src = data.H5Source(
    str(tmp_path / "camelyonpatch_level_2_split_valid_x.h5"),
    str(tmp_path / "camelyonpatch_level_2_split_valid_y.h5"),
  )
  assert len(src) == 6
  np.testing.assert_array_equal(src[4]["image"], x[4])
  assert int(src[4]["label"]) == 1
  batch = next(iter(data.train_pipeline(src, global_batch=4, seed=0)))
  assert batch["image"].shape == (4, 96, 96, 3) and batch["label"].shape == (4,)


def test_tfds_mock_data_through_grain():
  import tensorflow_datasets as tfds

  with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.tfds_source("patch_camelyon", "train")
    batch = next(iter(data.train_pipeline(src, global_batch=4, seed=0)))
  assert batch["image"].shape == (4, 96, 96, 3) and batch["image"].dtype == np.uint8


def test_pipeline_deterministic_reshuffles_and_resumes():
  src = data.ArraySource(i=np.arange(20))
  aug = lambda e, rng: dict(e, noise=rng.normal())
  mk = lambda: data.train_pipeline(src, global_batch=4, seed=3, random_map_fn=aug)
  a = [b["i"].tolist() for _, b in zip(range(10), iter(mk()))]
  b = [b["i"].tolist() for _, b in zip(range(10), iter(mk()))]
  assert a == b
  epoch1, epoch2 = sorted(sum(a[:5], [])), sorted(sum(a[5:], []))
  assert epoch1 == epoch2 == list(range(20)) and sum(a[:5], []) != sum(a[5:], [])
  it = iter(mk())
  for _ in range(3):
    next(it)
  state = it.get_state()
  rest = [next(it)["noise"].tolist() for _ in range(4)]
  it2 = iter(mk())
  it2.set_state(state)
  assert [next(it2)["noise"].tolist() for _ in range(4)] == rest


def test_process_shards_make_the_global_batch():
  src = data.ArraySource(i=np.arange(64))
  whole = next(iter(data.train_pipeline(src, global_batch=8, seed=0)))["i"]
  parts = [
    next(iter(data.train_pipeline(src, global_batch=8, seed=0, process_index=p, process_count=4)))[
      "i"
    ]
    for p in range(4)
  ]
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_eval_batches_pad_and_mask():
  src = data.ArraySource(i=np.arange(10))
  bs = list(data.eval_batches(src, 4))
  assert [b["mask"].sum() for b in bs] == [4, 4, 2] and bs[-1]["i"].shape == (4,)


def test_bundled_and_digits():
  assert data.bundled_gray("camera").dtype == np.uint8
  assert data.bundled_gray("retina").ndim == 2
  assert data.bundled_rgb("immunohistochemistry").shape[-1] == 3
  d = data.digits()
  assert len(d) == 1797 and d[0]["image"].shape == (8, 8, 1) and d[0]["image"].max() <= 1.0
  with pytest.raises(ValueError, match="unknown bundled"):
    data.bundled_gray("nonexistent_image")


def test_transforms():
  rng = np.random.default_rng(0)
  img = rng.random((50, 40, 3)).astype(np.float32)
  out = transforms.random_resized_crop(img, rng, 16)
  assert out.shape == (16, 16, 3) and out.dtype == np.float32
  assert transforms.random_crop(img, rng, (10, 12)).shape == (10, 12, 3)
  flips = {transforms.random_flip(img, np.random.default_rng(s))[0, 0, 0] for s in range(20)}
  assert flips == {img[0, 0, 0], img[0, -1, 0]}
  np.testing.assert_allclose(transforms.to_float(np.array([0, 255], np.uint8)), [0, 1])
  np.testing.assert_allclose(transforms.to_float(np.array([0, 65535], np.uint16)), [0, 1])
