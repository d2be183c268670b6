"""pgdips.evaluate: the synthetic benchmark's construction (angles, drift, seeds), the paired statistics
(vs scipy), and the DeepLIIF protocol (panel split, ground truth, scores, CLI) on a set written in the
real layout."""

import csv
import os

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from common.errors import InputError
from pgdips import baselines, deepliif, evaluate, physics, synthetic
from tests.common.helpers import ROOT, one_line_error, run_cli

CFG = os.path.join(ROOT, "configs/pgdips/he.py")


def _deg(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.mark.parametrize("cond,lo,hi", [("hard", 10, 25), ("near", 0, 10)])
def test_benchmark_vectors_are_turned_away_from_every_default(cond, lo, hi):
  ref = physics.default_stains(evaluate.STAINS)
  items = evaluate.benchmark_set(6, 32, cond, seed=3)
  for img, c, s in items:
    assert img.dtype == np.uint8 and img.shape == (32, 32, 3) and c.shape == (32, 32, 2)
    assert np.all(s > 0)
    # hematoxylin exactly in range; DAB's reported vector is its drifted mean colour, further off
    assert lo - 1e-3 <= _deg(s[0], ref[0]) <= hi + 1e-3
    assert _deg(s[1], ref[1]) >= lo - 1e-3
  # image i depends on (seed, i) only
  np.testing.assert_array_equal(evaluate.benchmark_set(2, 32, cond, seed=3)[1][0], items[1][0])


def test_rotation_and_drift_by_hand():
  rng = np.random.default_rng(0)
  v = np.array([0.65, 0.70, 0.29])
  for _ in range(20):
    w = synthetic.rotate_away(v, 10, 25, rng)
    assert (
      10 - 1e-3 <= _deg(v, w) <= 25 + 1e-3
      and np.isclose(np.linalg.norm(w), 1, atol=1e-6)
      and w.min() >= 0.03
    )
  c = np.zeros((2, 3, 2), np.float32)
  c[0, 0, 1], c[1, 2, 1], c[0, 1, 1] = 0.0, 2.0, 1.0
  s = physics.default_stains(("hematoxylin", "dab"))
  end = np.array([0.3, 0.6, 0.74], np.float32)
  px = synthetic.drifting_stains(c, s, 1, end)
  np.testing.assert_allclose(px[0, 0, 1], s[1], atol=1e-6)  # no DAB: its base colour
  np.testing.assert_allclose(
    px[1, 2, 1], end / np.linalg.norm(end), atol=1e-6
  )  # the maximum: the end colour
  mid = 0.5 * s[1] + 0.5 * end
  np.testing.assert_allclose(px[0, 1, 1], mid / np.linalg.norm(mid), atol=1e-6)
  np.testing.assert_allclose(px[..., 0, :], np.broadcast_to(s[0], (2, 3, 3)), atol=1e-7)
  # rendering with per-pixel vectors: a plain loop over pixels
  img = synthetic.synthesize(c + 0.3, px)
  for y in range(2):
    for x in range(3):
      d = sum((c[y, x, k] + 0.3) * px[y, x, k] for k in range(2))
      np.testing.assert_array_equal(img[y, x], np.clip(np.round(255 * 10.0**-d), 0, 255))


def test_paired_table_matches_scipy():
  rng = np.random.default_rng(1)
  a, b = rng.random(7), rng.random(7)
  per = {"PGDIPS": [{"pcc_x": v} for v in a], "Macenko": [{"pcc_x": v} for v in b]}
  row = [line for line in evaluate.paired_table(per, ["pcc_x"]) if line.startswith("| Macenko")][0]
  cells = [x.strip() for x in row.strip("|").split("|")]
  assert cells[2] == f"{stats.wilcoxon(a - b).pvalue:.2g}" and cells[3] == f"{int(np.sum(a > b))}/7"
  assert cells[1].startswith(f"{(a - b).mean():+.3f}")
  assert (
    "need 5"
    in evaluate.paired_table({"PGDIPS": per["PGDIPS"][:3], "M": per["Macenko"][:3]}, ["pcc_x"])[0]
  )


def _deepliif_set(size=32, seed=0):
  """A set in the DeepLIIF layout rendered from known maps with Ruifrok's vectors: the IHC panel, an
  H-only restain, DAPI = H concentration and Ki-67 = DAB concentration as grey levels."""
  c, s = synthetic.ihc_ground_truth(size, offset=(150 + seed, 200))
  ihc = synthetic.synthesize(c, s)
  hem = synthetic.synthesize(c * np.array([1.0, 0.0], np.float32), s)
  grey = lambda m: np.repeat(np.round(255 * m / m.max()).astype(np.uint8)[..., None], 3, -1)
  seg = np.zeros_like(ihc)
  return np.concatenate([ihc, hem, grey(c[..., 0]), seg, grey(c[..., 1]), seg], axis=1)


def test_deepliif_panels_truth_and_scores():
  img = _deepliif_set()
  p = deepliif.split_panels(img)
  assert list(p) == list(deepliif.PANELS) and all(v.shape == (32, 32, 3) for v in p.values())
  t = deepliif.ground_truth(p)
  np.testing.assert_allclose(
    t["h_od"], (-np.log10(np.maximum(p["hem"], 1) / 255.0)).mean(-1), rtol=1e-12
  )
  r = baselines.ruifrok(p["ihc"], physics.default_stains(("hematoxylin", "dab")))
  sc = deepliif.score(r, t)
  h, d = r.concentrations[..., 0].ravel(), r.concentrations[..., 1].ravel()
  assert sc["pcc_dapi"] == pytest.approx(stats.pearsonr(h, t["dapi"].ravel())[0], abs=1e-5)
  assert sc["pcc_ki67"] == pytest.approx(stats.pearsonr(d, t["ki67"].ravel())[0], abs=1e-5)
  assert min(sc["pcc_h_od"], sc["pcc_dapi"], sc["pcc_ki67"]) > 0.97  # the rendering's own vectors
  # crops are co-registered: every panel cut at the same place
  coded = np.concatenate(
    [np.full((32, 32, 3), 0, np.uint8) + np.arange(32, dtype=np.uint8)[:, None, None]] * 6, 1
  )
  for cr in deepliif.crops(deepliif.split_panels(coded), 8, 5, seed=2):
    assert len({v[:, :, 0].tobytes() for v in cr.values()}) == 1
  with pytest.raises(InputError, match="six square RGB panels"):
    deepliif.split_panels(img[:, :100])


def test_deepliif_cli(tmp_path):
  data = tmp_path / "sets"
  data.mkdir()
  for i in range(2):
    Image.fromarray(_deepliif_set(seed=i)).save(data / f"set{i}.png")
  proc = run_cli(
    "pgdips.evaluate",
    f"--deepliif={data}",
    "--crops=3",
    "--crop_size=16",
    "--whole",
    f"--out={tmp_path / 'out'}",
    f"--config={CFG}:hdab,smoke",
    "--config.tile=32",
    "--config.overlap=8",
    "--config.readout=inverse",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (tmp_path / "out" / "table.md").read_text()
  assert "DeepLIIF, crops (2 sets, each the mean over its 3 crops)" in md
  assert "DeepLIIF, whole (2 sets)" in md and md.count("| Macenko + read-out |") == 2
  assert md.count("| PGDIPS |") == 2 and "| Vahadane | " in md
  assert "paired tests need 5 or more sets; there are 2" in md  # crops of a set are not independent
  (tmp_path / "bad.png").write_bytes(b"not a png")
  one_line_error(
    run_cli("pgdips.evaluate", f"--deepliif={tmp_path / 'bad.png'}", f"--out={tmp_path / 'o2'}"),
    "bad.png",
  )
  Image.fromarray(np.zeros((16, 40, 3), np.uint8)).save(tmp_path / "narrow.png")
  one_line_error(
    run_cli("pgdips.evaluate", f"--deepliif={tmp_path / 'narrow.png'}", f"--out={tmp_path / 'o3'}"),
    "six square RGB panels",
  )


def test_readout_control_inverts_a_baselines_vectors_as_the_preset_reads_its_fit():
  """'Macenko + read-out' and 'Ruifrok + read-out': a baseline's vectors, turned apart to the preset's
  20-degree floor about their bisector (Rodrigues, by hand) and inverted with M = 1 and no background
  (clipped least squares, NumPy); listed only with readout='inverse'."""
  from common import config as config_lib
  from pgdips import evaluate

  cfg = config_lib.load_config(CFG + ":hdab,cpu")
  assert {"Macenko + read-out", "Ruifrok + read-out"} <= set(evaluate._methods(cfg))
  assert "Macenko + read-out" not in evaluate._methods(config_lib.replaced(cfg, {"readout": "net"}))
  rng = np.random.default_rng(0)
  img = rng.integers(60, 250, (8, 8, 3)).astype(np.uint8)
  a = np.array([0.65, 0.70, 0.29]) / np.linalg.norm([0.65, 0.70, 0.29])
  w = np.cross(a, [0.0, 0.0, 1.0])
  w /= np.linalg.norm(w)
  for deg in (12.0, 30.0):
    t = np.radians(deg)
    s = np.stack([a, np.cos(t) * a + np.sin(t) * w])
    got = evaluate.readout_control(cfg, img, s)
    half = np.radians(
      max(0.0, 20.0 - deg) / 2
    )  # each turned by half the missing angle, away from the other
    read = np.stack(
      [np.cos(-half) * a + np.sin(-half) * w, np.cos(t + half) * a + np.sin(t + half) * w]
    )
    np.testing.assert_allclose(got.stains, read, atol=1e-6)
    od = -np.log10(np.maximum(img, 1) / 255.0)
    want = np.clip(np.linalg.lstsq(read.T, od.reshape(-1, 3).T, rcond=None)[0].T, 0, None).reshape(
      8, 8, 2
    )
    np.testing.assert_allclose(got.concentrations, want, rtol=1e-4, atol=1e-5)


def test_study_pairs_per_seed_means_and_resumes(tmp_path, monkeypatch):
  """pgdips.study: the seed is the unit. Its paired p-values are scipy's Wilcoxon on the differences of
  per-seed means computed here from the per-image files; a second run solves nothing."""
  from common import config as config_lib
  from pgdips import study

  cfg = config_lib.load_config(CFG + ":hdab,cpu", {"num_steps": 2, "net.channels": (4,)})
  seeds = [1, 2, 3, 4, 5]
  md = study.run_study(cfg, str(tmp_path), seeds, num_images=2, size=16, verbose=False)
  per_seed = {}
  for sd in seeds:
    rows = list(csv.DictReader(open(tmp_path / f"seed_{sd}" / "per_image.csv")))
    for m in ("PGDIPS", "Macenko + read-out"):
      per_seed.setdefault(m, []).append(
        np.mean([float(r["pcc_dab"]) for r in rows if r["method"] == m])
      )
  assert len(rows) == 2 * len(evaluate._methods(cfg))
  diff = np.array(per_seed["PGDIPS"]) - np.array(per_seed["Macenko + read-out"])
  row = next(
    line
    for line in md.splitlines()
    if line.startswith("| Macenko + read-out | +") or line.startswith("| Macenko + read-out | -")
  )
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[5] == format(stats.wilcoxon(diff).pvalue, ".2g")  # the DAB PCC column's p
  assert cells[4].startswith(f"{diff.mean():+.3f}")
  assert "paired over the 5 seeds" in md and (tmp_path / "seed_means.csv").is_file()
  monkeypatch.setattr(
    evaluate, "run", lambda *a, **k: pytest.fail("a finished seed was solved again")
  )
  assert study.run_study(cfg, str(tmp_path), seeds, num_images=2, size=16, verbose=False) == md
