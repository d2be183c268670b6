"""PGDIPS on whole slides: pyramids out that OpenSlide opens, values equal to a plain NumPy read-out with
the written S, M, B, glass tiles, resume after a crash, bad input, several processes."""

import json
import os
import subprocess

import numpy as np
import openslide
import portpicker
import pytest
import tifffile
from PIL import Image

from common import config as config_lib
from common.data import slides as slides_lib
from pgdips import slides
from tests.common.helpers import ROOT, env_with_devices, one_line_error, run_cli

STAINS = os.path.join(ROOT, "..", "shared", "data", "stains")
CONFIG = os.path.join(ROOT, "configs", "pgdips", "he.py")
OVERRIDES = {"slide.tile": 256, "slide.batch": 2, "slide.tiff_tile": 128}


def _cfg(**kw):
  return config_lib.load_config(CONFIG + ":cpu,smoke", {**OVERRIDES, **kw})


def _he_slide(path, seed=0, shape=(700, 1100)):
  he = np.asarray(Image.open(os.path.join(STAINS, "he.jpg")).convert("RGB"))
  pieces = [he[:260, :300], he[250:, 200:420], he[100:300, 330:]]
  return slides_lib.write_synthetic(path, pieces, shape, mpp=0.25, seed=seed, tile=128)


@pytest.fixture(scope="module")
def he_slide(tmp_path_factory):
  p = str(tmp_path_factory.mktemp("he") / "case 1.tiff")
  _he_slide(p)
  return p


def _level0(path):
  with tifffile.TiffFile(path) as tf:
    return tf.pages[0].asarray()


def _od(rgb):
  return -np.log10(np.maximum(rgb.astype(np.float64), 1.0) / 255.0)


def _numpy_concentrations(rgb, s, m, b):
  """Eq. 2 inverted per pixel with np.linalg.lstsq, clipped at 0."""
  rows = np.asarray(m)[:, None] * np.asarray(s)
  d = (_od(rgb) + np.log10(np.asarray(b))).reshape(-1, 3)
  c = np.linalg.lstsq(rows.T, d.T, rcond=None)[0].T
  return np.maximum(c, 0).reshape(rgb.shape[:2] + (len(s),))


def _grid_masks(shape, tile, tissue):
  m = np.repeat(np.repeat(tissue, tile, 0), tile, 1)[: shape[0], : shape[1]]
  return m


def test_deconvolve_slide(he_slide, tmp_path):
  cfg = _cfg()
  out = str(tmp_path / "d")
  slides.run(cfg, "deconvolve", he_slide, out)
  info = json.load(open(os.path.join(out, "stains.json")))
  assert set(os.listdir(out)) == {"hematoxylin.tiff", "eosin.tiff", "stains.json", "overview.png"}
  src = _level0(he_slide)
  s, m, b = (np.asarray(info[k]) for k in ("stains_read", "m", "background"))
  c = _numpy_concentrations(src, s, m, b)
  _, grid, _ = slides_lib.open_grid(he_slide, 256)
  tissue = _grid_masks(src.shape, 256, grid.tissue)
  assert 0 < tissue.mean() < 1
  for n, name in enumerate(cfg.stains):
    osl = openslide.OpenSlide(os.path.join(out, info["files"][name]))
    assert osl.properties["openslide.vendor"] == "generic-tiff"
    assert float(osl.properties["openslide.mpp-x"]) == pytest.approx(0.25)
    assert osl.level_dimensions[0] == (1100, 700) and osl.level_count >= 3
    got = np.asarray(osl.read_region((0, 0), 0, (1100, 700)))[..., 0].astype(int)
    want = np.clip(np.round(c[..., n] / info["scale"][name]), 0, 255)
    assert np.abs(got - want)[tissue].max() <= 1
    glass_values = np.unique(got[~tissue])
    assert len(glass_values) == 1 and glass_values[0] <= 3  # glass: one near-zero value
  assert not os.path.exists(os.path.join(out, slides.WORK))


def test_normalize_resumes_after_a_crash(he_slide, tmp_path, monkeypatch):
  cfg = _cfg(**{"slide.batch": 1})
  ref = os.path.join(STAINS, "he.jpg")
  whole = str(tmp_path / "whole")
  slides.run(cfg, "normalize", he_slide, whole, ref)
  got = _level0(os.path.join(whole, "normalized.tiff"))
  info = json.load(open(os.path.join(whole, "stains.json")))
  # values: the source's C (its S, M, B) through the reference's S, M, B, in NumPy
  s, m, b = (np.asarray(info[k]) for k in ("stains_read", "m", "background"))
  r = info["reference"]
  rs, rm, rb = np.asarray(r["stains_read"]), np.asarray(r["m"]), np.asarray(r["background"])
  src = _level0(he_slide)
  c = _numpy_concentrations(src, s, m, b)
  od = c @ (rm[:, None] * rs) - np.log10(rb)
  want = np.clip(np.round(255 * 10.0**-od), 0, 255)
  _, grid, _ = slides_lib.open_grid(he_slide, 256)
  tissue = _grid_masks(src.shape, 256, grid.tissue)
  assert np.abs(got.astype(int) - want)[tissue].max() <= 1

  # a crash after two batches: nothing under the final name, the batches kept
  crashed = str(tmp_path / "crashed")
  calls = {"n": 0}
  real = slides.runtime.LocalBatched.__call__

  def dying(self, x):
    calls["n"] += 1
    if calls["n"] > 2:
      raise KeyboardInterrupt
    return real(self, x)

  monkeypatch.setattr(slides.runtime.LocalBatched, "__call__", dying)
  with pytest.raises(KeyboardInterrupt):
    slides.run(cfg, "normalize", he_slide, crashed, ref)
  assert not os.path.exists(os.path.join(crashed, "normalized.tiff"))
  done = open(os.path.join(crashed, slides.WORK, "done.txt")).read().split()
  assert len(done) in (1, 2)
  monkeypatch.setattr(slides.runtime.LocalBatched, "__call__", real)

  def no_estimate(*a, **k):
    raise AssertionError("the estimate is kept, not redone")

  monkeypatch.setattr(slides, "estimate", no_estimate)
  slides.run(cfg, "normalize", he_slide, crashed, ref)
  np.testing.assert_array_equal(_level0(os.path.join(crashed, "normalized.tiff")), got)
  # another config over the unfinished run of the first: refused, nothing touched
  os.makedirs(os.path.join(crashed, slides.WORK))
  with open(os.path.join(crashed, slides.WORK, "run.json"), "w") as f:
    json.dump({"input": "other"}, f)
  with pytest.raises(Exception, match="unfinished run of another input or config"):
    slides.run(cfg, "normalize", he_slide, crashed, ref)


def test_bad_slide_input_is_one_line(tmp_path, he_slide):
  broken = tmp_path / "cut.svs"
  broken.write_bytes(b"II*\x00" + b"\x00" * 64)
  glass = str(tmp_path / "glass.tiff")
  slides_lib.write_synthetic(glass, [], (256, 256), tile=64)
  cfg = f"--config={CONFIG}:cpu,smoke"
  cases = [
    (["deconvolve", str(broken)], "OpenSlide cannot open it"),
    (["deconvolve", glass], "has no tissue"),
    (["deconvolve", he_slide, "--config.slide.mpp=0.3"], "no level at 0.3 um/px"),
  ]
  for args, msg in cases:
    proc = run_cli("pgdips.main", *args[:2], cfg, *args[2:], f"--out={tmp_path / 'o'}", devices=1)
    one_line_error(proc, msg)
    assert not os.path.exists(tmp_path / "o" / "hematoxylin.tiff")
  # the output would overwrite the input
  d = tmp_path / "same"
  d.mkdir()
  os.link(he_slide, d / "normalized.tiff")
  proc = run_cli(
    "pgdips.main",
    "normalize",
    str(d / "normalized.tiff"),
    cfg,
    f"--out={d}",
    f"--reference={os.path.join(STAINS, 'he.jpg')}",
    devices=1,
  )
  one_line_error(proc, "normalized.tiff")


@pytest.mark.slow
def test_two_processes_write_the_files_of_one(tmp_path):
  folder = tmp_path / "slides"
  folder.mkdir()
  for k in range(3):
    _he_slide(str(folder / f"s{k}.tiff"), seed=k, shape=(400, 600))
  args = [
    "-m",
    "pgdips.main",
    "deconvolve",
    str(folder),
    f"--config={CONFIG}:cpu,smoke",
    *(f"--config.{k}={v}" for k, v in OVERRIDES.items()),
  ]
  one = tmp_path / "one"
  proc = subprocess.run(
    [os.sys.executable, *args, f"--out={one}"],
    env=env_with_devices(2),
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  port = portpicker.pick_unused_port()
  procs = []
  for pid in range(2):
    env = env_with_devices(2)
    env.update(
      JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid)
    )
    procs.append(
      subprocess.Popen(
        [os.sys.executable, *args, f"--out={tmp_path / 'two'}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
      )
    )
  outs = [p.communicate(timeout=600)[0] for p in procs]
  for p, o in zip(procs, outs):
    assert p.returncode == 0, o[-3000:]
  assert "s0.tiff" in outs[0] and "s1.tiff" in outs[1]  # each process its own slides
  for k in range(3):
    for name in ("hematoxylin.tiff", "eosin.tiff"):
      np.testing.assert_array_equal(
        _level0(tmp_path / "two" / f"s{k}" / name), _level0(one / f"s{k}" / name)
      )
    a = json.load(open(one / f"s{k}" / "stains.json"))
    b = json.load(open(tmp_path / "two" / f"s{k}" / "stains.json"))
    assert a["stains"] == b["stains"] and a["scale"] == b["scale"]
