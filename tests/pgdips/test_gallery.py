"""pgdips.gallery on the seven real stained images of ../shared/data/stains/ (skipped, with the reason,
where that folder is absent): every image read with its stains, the reconstruction errors against a
plain NumPy computation, figures and table from a short run, one-line errors of the CLI."""

import os

import numpy as np
import pytest

from common import config as config_lib
from pgdips import baselines, gallery, physics
from tests.common.helpers import ROOT, one_line_error, run_cli

CFG = os.path.join(ROOT, "configs/pgdips/he.py")
MISSING = gallery.missing_message(gallery.DATA)
needs_data = pytest.mark.skipif(MISSING is not None, reason=f"real stain images absent: {MISSING}")


def test_recon_errors_by_hand():
  a = np.array([[[255, 100, 10]]], np.uint8)
  b = np.array([[[250, 110, 0]]], np.uint8)
  e = gallery.recon_errors(a, b)
  assert e["rmse"] == pytest.approx(np.sqrt((25 + 100 + 100) / 3))
  od = lambda v: -np.log10(max(v, 1) / 255.0)
  want = (abs(od(255) - od(250)) + abs(od(100) - od(110)) + abs(od(10) - od(0))) / 3
  assert e["od_mae"] == pytest.approx(want)


def test_every_image_has_known_stains():
  for name, (_, stains) in gallery.IMAGES.items():
    assert len(stains) in (2, 3) and physics.default_stains(stains).shape == (len(stains), 3), name
  assert gallery.missing_message("/nonexistent/stains").startswith("/nonexistent/stains not found")


@needs_data
def test_real_images_load_at_their_sizes():
  sizes = {
    "he": (512, 512),
    "ihc": (1000, 1000),
    "deepliif": (512, 512),
    "smacd34": (512, 512),
    "alcianblue": (914, 1014),
    "fibronectin": (905, 1085),
    "trichrome": (895, 969),
  }
  for name, hw in sizes.items():
    img = gallery.load(name)
    assert img.dtype == np.uint8 and img.shape == hw + (3,), (name, img.shape)


@needs_data
def test_gallery_run_writes_figures_and_the_error_table(tmp_path):
  cfg = config_lib.load_config(CFG + ":smoke")
  md = gallery.run(cfg, str(tmp_path), names=("he", "trichrome"), crop=32)
  assert (tmp_path / "he.png").stat().st_size > 0 and (
    tmp_path / "trichrome.png"
  ).stat().st_size > 0
  rows = [l for l in md if l.startswith("| he |") or l.startswith("| trichrome |")]
  methods = [(r.split("|")[1].strip(), r.split("|")[2].strip()) for r in rows]
  # Macenko's SVD plane holds two stains: no Macenko row for the 3-stain trichrome
  assert methods == [
    ("he", "PGDIPS"),
    ("he", "Ruifrok"),
    ("he", "Macenko"),
    ("he", "Vahadane"),
    ("trichrome", "PGDIPS"),
    ("trichrome", "Ruifrok"),
    ("trichrome", "Vahadane"),
  ]
  # the Ruifrok row recomputed with a per-pixel NumPy solve of the fixed 3-stain trichrome vectors
  rgb = gallery.centre_crop(gallery.load("trichrome"), 32).astype(np.float64)
  od = -np.log10(np.maximum(rgb, 1) / 255.0)
  s = np.array([physics.RUIFROK[n] for n in gallery.IMAGES["trichrome"][1]], np.float64)
  s /= np.linalg.norm(s, axis=1, keepdims=True)
  rec = np.zeros_like(od)
  for y in range(32):
    for x in range(32):
      c = np.clip(np.linalg.solve(s @ s.T, s @ od[y, x]), 0, None)
      rec[y, x] = np.clip(np.round(255 * 10 ** -(c @ s)), 0, 255)
  ruifrok = [r for r in rows if r.startswith("| trichrome | Ruifrok |")][0]
  assert float(ruifrok.split("|")[3]) == pytest.approx(
    np.sqrt(np.mean((rgb - rec) ** 2)), abs=0.006
  )
  assert (tmp_path / "gallery.md").read_text().startswith("Reconstruction error")
  assert baselines.all_baselines(rgb.astype(np.uint8), ("hematoxylin", "dab")).keys() == {
    "Ruifrok",
    "Macenko",
    "Vahadane",
  }


def test_gallery_cli_errors(tmp_path):
  one_line_error(
    run_cli("pgdips.gallery", f"--out={tmp_path}", f"--data={tmp_path / 'none'}"),
    "not found",
    "--data",
  )
  one_line_error(
    run_cli("pgdips.gallery", f"--out={tmp_path}", "--images=he,hne"), "'hne' is unknown"
  )
  if MISSING is None:
    one_line_error(
      run_cli(
        "pgdips.gallery", f"--out={tmp_path}", "--images=he", "--crop=600", f"--config={CFG}:smoke"
      ),
      "--crop=600",
    )
