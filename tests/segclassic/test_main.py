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
  np.testing.assert_array_equal(seg_main.segment(img, "thin", morph="hit_or_miss"),
                                np.asarray(sc.thin(mask, method="hit_or_miss")))
  lab = seg_main.segment(img, "kmeans", k=2, kmeans_init="random")
  assert len(np.unique(lab)) == 2


def test_cli_on_files_with_the_same_name(tmp_path):
  from skimage import data
  for d in ("a", "b"):
    (tmp_path / d).mkdir()
    Image.fromarray(data.coins()[:96, :128]).save(tmp_path / d / "coins.png")
  out = tmp_path / "out"
  proc = run_cli("segclassic.main", str(tmp_path / "a" / "coins.png"), str(tmp_path / "b" / "coins.png"),
                 "--method=kmeans", "--k=2", f"--out={out}")
  assert proc.returncode == 0, proc.stderr
  for d in ("a", "b"):  # two inputs, two distinct outputs
    mask = np.asarray(Image.open(out / f"{d}_coins_kmeans_mask.png"))
    assert mask.shape == (96, 128) and len(np.unique(mask)) == 2
    assert (out / f"{d}_coins_kmeans_overlay.png").exists()


def test_cli_errors_are_one_line(tmp_path):
  one_line_error(run_cli("segclassic.main", "--methd=kmeans", f"--out={tmp_path}"), "--methd", "--method")
  one_line_error(run_cli("segclassic.main", "--method=watershed", f"--out={tmp_path}"), "--method")
  one_line_error(run_cli("segclassic.main", str(tmp_path / "missing.png"), f"--out={tmp_path}"), "does not exist")
  (tmp_path / "empty.png").write_bytes(b"")
  one_line_error(run_cli("segclassic.main", str(tmp_path / "empty.png"), f"--out={tmp_path}"), "empty")
  assert not list((tmp_path).glob("*_mask.png"))
