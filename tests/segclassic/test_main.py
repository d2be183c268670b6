"""The segclassic CLI on files and on bundled images, run as a user runs it."""

import numpy as np
from PIL import Image

from segclassic import main as seg_main
from tests.common.helpers import one_line_error, run_cli


def test_segment_every_method():
  from skimage import data

  img = data.coins()[:96, :128]
  for method in seg_main.METHODS:
    seg = seg_main.segment(img, method, k=2)
    assert seg.shape == (96, 128) and len(np.unique(seg)) == 2, method
  import segclassic as sc

  mask = img > sc.threshold_otsu(img)
  np.testing.assert_array_equal(
    seg_main.segment(img, "thin", morph="hit_or_miss"),
    np.asarray(sc.thin(mask, method="hit_or_miss")),
  )
  lab = seg_main.segment(img, "kmeans", k=2, kmeans_init="random")
  assert len(np.unique(lab)) == 2


def test_cli_on_files_with_the_same_name(tmp_path):
  from skimage import data

  for d in ("a", "b"):
    (tmp_path / d).mkdir()
    Image.fromarray(data.coins()[:96, :128]).save(tmp_path / d / "coins.png")
  out = tmp_path / "out"
  proc = run_cli(
    "segclassic.main",
    str(tmp_path / "a" / "coins.png"),
    str(tmp_path / "b" / "coins.png"),
    "--method=kmeans",
    "--k=2",
    f"--out={out}",
  )
  assert proc.returncode == 0, proc.stderr
  for d in ("a", "b"):  # two inputs, two distinct outputs
    mask = np.asarray(Image.open(out / f"{d}_coins_kmeans_mask.png"))
    assert mask.shape == (96, 128) and len(np.unique(mask)) == 2
    assert (out / f"{d}_coins_kmeans_overlay.png").exists()


def test_cli_errors_are_one_line(tmp_path):
  one_line_error(
    run_cli("segclassic.main", "--methd=kmeans", f"--out={tmp_path}"), "--methd", "--method"
  )
  one_line_error(run_cli("segclassic.main", "--method=watershed", f"--out={tmp_path}"), "--method")
  one_line_error(
    run_cli("segclassic.main", str(tmp_path / "missing.png"), f"--out={tmp_path}"), "does not exist"
  )
  (tmp_path / "empty.png").write_bytes(b"")
  one_line_error(
    run_cli("segclassic.main", str(tmp_path / "empty.png"), f"--out={tmp_path}"), "empty"
  )
  assert not list((tmp_path).glob("*_mask.png"))


def test_float_images_follow_scikit_images_convention(tmp_path):
  """A float RGB image in [0, 1] segments as its 8-bit original does; one in 0-255 (which would wrap
  around on conversion) and an int32 image are refused in one line, before any output is written."""
  import tifffile
  from skimage import data

  rgb = data.astronaut()[::4, ::4]
  assert seg_main.check_image(rgb.astype(np.float32) / 255, "x").dtype == np.float32
  np.testing.assert_array_equal(
    seg_main.segment(seg_main.check_image(rgb / 255.0, "x"), "otsu"), seg_main.segment(rgb, "otsu")
  )
  tifffile.imwrite(tmp_path / "f255.tif", rgb.astype(np.float32))
  tifffile.imwrite(tmp_path / "i32.tif", rgb[..., 0].astype(np.int32))
  out = tmp_path / "out"
  one_line_error(
    run_cli("segclassic.main", str(tmp_path / "f255.tif"), f"--out={out}"),
    "[0, 1]",
    "divide by 255",
  )
  one_line_error(run_cli("segclassic.main", str(tmp_path / "i32.tif"), f"--out={out}"), "int32")
  assert not out.exists() or not list(out.iterdir())


def test_more_than_256_labels_are_written_in_16_bits(tmp_path):
  """Labels 256-259 stay themselves (an 8-bit mask would wrap them to 0-3); PIL reads them back."""
  img = np.zeros((20, 20), np.uint8)
  seg = np.arange(400).reshape(20, 20) % 260
  paths = seg_main.write_outputs(img, seg, str(tmp_path), "many")
  back = np.asarray(Image.open(paths[0]))
  np.testing.assert_array_equal(back, seg)
  few = seg_main.write_outputs(img, seg % 7, str(tmp_path), "few")
  assert np.asarray(Image.open(few[0])).dtype == np.uint8
