"""SD-MAE on the user's own data: tile folders and whole slides in (pre-training sources), features out
(sdmae.embed), checked against OpenSlide and the encoder applied directly."""

import os

import h5py
import jax.numpy as jnp
import numpy as np
import openslide
import pytest
from PIL import Image

from common import config as config_lib
from common import trainer
from common.data import slides
from common.data.sources import DatasetNotFoundError
from sdmae import data as sd_data
from sdmae import task
from sdmae.models import Encoder
from tests.common.helpers import ROOT, one_line_error, run_cli, saved_params

CFG = os.path.join(ROOT, "configs/sdmae")


def _tiles(root, n, rng, size=40):
  paths = []
  for i in range(n):
    d = os.path.join(root, f"case{i % 3}", "deeper" if i % 2 else "")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"t{i}.png")
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
    paths.append(p)
  return paths


def _slide(path, seed=0):
  rng = np.random.default_rng(seed)
  pieces = [
    np.clip(np.array([150, 80, 160]) + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    for h, w in [(300, 260), (200, 340)]
  ]
  slides.write_synthetic(path, pieces, (600, 800), mpp=0.5, seed=seed, tile=128)


def test_folder_source_any_depth_and_classes(tmp_path):
  rng = np.random.default_rng(0)
  files = _tiles(str(tmp_path / "tiles"), 45, rng)
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:folder,cpu"), {"data.data_dir": str(tmp_path / "tiles")}
  )
  tr, te, k, _ = sd_data.load(cfg.data)
  assert (len(tr), len(te), k) == (43, 2, 1)  # every 20th file held out
  seen = {tr.source.files[i] for i in tr.indices} | {te.source.files[i] for i in te.indices}
  assert seen == set(files)
  # probe / fine-tune: one class per subfolder
  cfg = config_lib.load_config(
    os.path.join(CFG, "probe.py:folder,cpu"), {"data.data_dir": str(tmp_path / "tiles")}
  )
  tr, te, k, names = sd_data.load(cfg.data)
  assert names == ["case0", "case1", "case2"] and len(tr) + len(te) == 45
  empty = tmp_path / "empty"
  (empty / "sub").mkdir(parents=True)
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:folder,cpu"), {"data.data_dir": str(empty)}
  )
  with pytest.raises(DatasetNotFoundError, match="no images"):
    sd_data.load(cfg.data)


@pytest.fixture(scope="module")
def slide_run(tmp_path_factory):
  """A 4-step pre-training run on the tissue tiles of two small slides."""
  root = tmp_path_factory.mktemp("slides")
  for k in range(2):
    _slide(str(root / f"s{k}.tiff"), seed=k)
  over = {"data.data_dir": str(root), "data.source_size": 64, "data.mpp": 1.0}
  cfg = config_lib.load_config(os.path.join(CFG, "pretrain.py:slides,cpu,smoke"), over)
  tr, te, k, _ = sd_data.load(cfg.data)
  grids = [slides.open_grid(str(root / f"s{j}.tiff"), 64, mpp=1.0)[1] for j in range(2)]
  assert len(tr) + len(te) == sum(int(g.tissue.sum()) for g in grids)
  item = tr[0]
  x, y = item["coords"]
  ref = openslide.OpenSlide(str(root / "s0.tiff")).read_region((int(x), int(y)), 1, (64, 64))
  np.testing.assert_array_equal(item["image"], np.asarray(ref)[..., :3])
  wd = root / "run"
  trainer.train(cfg, task.make_task(cfg), str(wd), verbose=False)
  return root, wd


def test_embed_slides_and_tiles(slide_run, tmp_path):
  root, wd = slide_run
  out = tmp_path / "feats"
  proc = run_cli("sdmae.embed", f"--checkpoint={wd}", str(root), f"--out={out}", "--batch=8")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "ETA" in proc.stdout and "s1.tiff" in proc.stdout
  params = saved_params(str(wd))["encoder"]
  cfg = config_lib.load_config(os.path.join(CFG, "pretrain.py:slides,cpu,smoke"))
  enc = Encoder(variant=cfg.model.variant, image_size=cfg.model.image_size, posemb=cfg.model.posemb)
  for k in range(2):
    with h5py.File(out / f"s{k}.h5") as f:
      feats, coords = f["features"][:], f["coords"][:]
      assert f.attrs["mpp"] == pytest.approx(1.0) and f.attrs["level"] == 1
    _, g, _ = slides.open_grid(str(root / f"s{k}.tiff"), 64, mpp=1.0)
    assert feats.shape == (int(g.tissue.sum()), 64) and coords.shape == (len(feats), 2)
    osl = openslide.OpenSlide(str(root / f"s{k}.tiff"))
    for i in (0, len(feats) - 1):  # the tile at the coords, through the encoder directly
      rgba = np.asarray(osl.read_region(tuple(int(v) for v in coords[i]), 1, (64, 64)))
      tile = np.where(rgba[..., 3:] == 0, 255, rgba[..., :3]).astype(
        np.uint8
      )  # past the edge: glass
      x = sd_data.eval_map(32)({"image": tile})["image"][None]
      want = np.asarray(jnp.mean(enc.apply({"params": params}, x), axis=1))[0]
      np.testing.assert_allclose(feats[i], want, rtol=1e-4, atol=1e-5)
  # a second run skips the finished slides
  proc = run_cli("sdmae.embed", f"--checkpoint={wd}", str(root), f"--out={out}")
  assert proc.stdout.count("skipped") == 2, proc.stdout
  # a folder of tiles
  _tiles(str(tmp_path / "tiles"), 5, np.random.default_rng(1), size=64)
  proc = run_cli("sdmae.embed", f"--checkpoint={wd}", str(tmp_path / "tiles"), f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with h5py.File(out / "tiles.h5") as f:
    assert f["features"].shape == (5, 64) and len(f["paths"]) == 5


def test_embed_bad_input_is_one_line(slide_run, tmp_path):
  root, wd = slide_run
  (tmp_path / "nothing").mkdir()
  glass = str(tmp_path / "glass.tiff")
  slides.write_synthetic(glass, [], (256, 256), tile=64)
  other = tmp_path / "other_run"
  other.mkdir()
  (other / "config.json").write_text('{"task": "xbdcnn.task:make_task", "mode": "train"}')
  out = f"--out={tmp_path / 'o'}"
  one_line_error(
    run_cli("sdmae.embed", f"--checkpoint={wd}", str(tmp_path / "nothing"), out), "no images"
  )
  one_line_error(run_cli("sdmae.embed", f"--checkpoint={wd}", glass, out), "no tissue")
  one_line_error(
    run_cli("sdmae.embed", f"--checkpoint={other}", str(root), out),
    "is not an sdmae pre-training run",
  )
