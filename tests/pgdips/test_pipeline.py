"""pgdips whole-image pipeline: input checks, tiling and blended stitching (with the solver replaced by
a known per-pixel function, so the stitched map is checked exactly), normalization against the forward
model computed by hand, batched == per-tile, the CLI."""

import os

import jax
import numpy as np
import pytest

from common import config as config_lib
from common.errors import InputError
from pgdips import pipeline, solver
from pgdips.result import StainResult
from tests.common.helpers import ROOT, one_line_error, run_cli

CFG = os.path.join(ROOT, "configs/pgdips/he.py")


def test_bad_inputs_are_one_line_errors():
  rgb = np.full((16, 16, 3), 120, np.uint8)
  with pytest.raises(ValueError, match="grayscale"):
    pipeline.check_rgb(rgb[..., 0])
  with pytest.raises(ValueError, match="alpha"):
    pipeline.check_rgb(np.concatenate([rgb, np.full((16, 16, 1), 7, np.uint8)], -1))
  opaque = pipeline.check_rgb(np.concatenate([rgb, np.full((16, 16, 1), 255, np.uint8)], -1))
  assert opaque.shape == (16, 16, 3)
  with pytest.raises(ValueError, match="16-bit"):
    pipeline.check_rgb(rgb.astype(np.uint16))
  bad = rgb.astype(np.float32)
  bad[3, 3, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    pipeline.check_rgb(bad)
  cfg = config_lib.load_config(CFG + ":smoke")
  with pytest.raises(ValueError, match="no tissue"):
    pipeline.deconvolve(cfg, np.full((32, 32, 3), 255, np.uint8))
  tissue = np.full((40, 40, 3), 120, np.uint8)  # larger than the tile: the tiled path
  for key, bad in (
    ("tile_noise", "global"),
    ("tile_init", "warm"),
    ("num_steps", 0),
    ("tile", 0),
    ("tile", 2),
    ("batch_tiles", 0),
    ("optim.lr", -1.0),
    ("inverse_min_separation", 95.0),
  ):
    with pytest.raises(config_lib.ConfigError, match=key):  # before any tile is solved
      pipeline.deconvolve(config_lib.replaced(cfg, {"tile": 32, "overlap": 8, key: bad}), tissue)
  with pytest.raises(InputError, match="at least 8x8"):  # a 1x1 image used to train on a NaN loss
    pipeline.deconvolve(cfg, np.full((1, 1, 3), 120, np.uint8))


@pytest.mark.parametrize(
  "length,tile,overlap", [(100, 32, 8), (64, 32, 8), (33, 32, 4), (20, 32, 8)]
)
def test_tile_positions_cover_everything(length, tile, overlap):
  pos = pipeline.tile_positions(length, tile, overlap)
  covered = np.zeros(max(length, tile), bool)
  for p in pos:
    covered[p : p + tile] = True
  assert covered[:length].all() and pos[-1] + tile >= length
  assert all(b - a <= tile - overlap for a, b in zip(pos, pos[1:]))


def _fake_solve(cfg, tiles, seed=0, fixed=None, chunk=0, progress=False, **inputs):
  """C = a fixed per-pixel function of the tile's pixels (what a perfect tile solver would give)."""
  out = []
  for t in np.asarray(tiles, np.float32):
    c = np.stack([1 - t[..., 0] / 255.0, 1 - t[..., 2] / 255.0], -1)  # white (background) -> 0
    out.append(
      StainResult(
        concentrations=c,
        stains=np.eye(2, 3, dtype=np.float32),
        recon=t.astype(np.uint8),
        m=np.ones(2, np.float32),
        background=np.ones(3, np.float32),
      )
    )
  return out


def test_stitching_reproduces_a_pixelwise_map_exactly(monkeypatch):
  monkeypatch.setattr(pipeline, "solve_batch", _fake_solve)
  rng = np.random.default_rng(0)
  img = rng.integers(30, 220, (100, 75, 3)).astype(np.uint8)
  img[:40, :40] = (
    255  # a background corner: its tile is skipped (C = 0, as the fake gives for white)
  )
  cfg = config_lib.load_config(CFG + ":smoke", {"tile": 32, "overlap": 8, "share_smb": False})
  r = pipeline.deconvolve(cfg, img)
  want = np.stack([1 - img[..., 0] / 255.0, 1 - img[..., 2] / 255.0], -1)
  np.testing.assert_allclose(r.concentrations, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(r.recon, img)


def test_inverse_readout_of_a_large_image_solves_only_the_estimation_tiles(monkeypatch):
  """readout='inverse' with shared S, M, B: the estimation tiles are solved, then the whole image is
  inverted with their mean S, M, B (a per-pixel NumPy solve here), no other tile is solved."""
  calls = []

  def fake(cfg, tiles, seed=0, fixed=None, **kw):
    calls.append((len(tiles), fixed is None))
    s = np.array([[0.65, 0.70, 0.29], [0.27, 0.57, 0.78]], np.float32)
    return [
      StainResult(
        concentrations=np.zeros(t.shape[:2] + (2,), np.float32),
        stains=s / np.linalg.norm(s, axis=1, keepdims=True),
        recon=None,
        m=np.array([1.0, 1.25], np.float32),
        background=np.array([0.9, 0.95, 1.0], np.float32),
      )
      for t in tiles
    ]

  monkeypatch.setattr(pipeline, "solve_batch", fake)
  img = np.random.default_rng(3).integers(40, 220, (70, 90, 3)).astype(np.uint8)
  cfg = config_lib.load_config(
    CFG + ":hdab,smoke", {"tile": 32, "overlap": 8, "readout": "inverse", "estimate_tiles": 2}
  )
  r = pipeline.deconvolve(cfg, img)
  assert calls == [(2, True)]
  s, m, b = (
    fake(cfg, img[None, :8, :8])[0].stains.astype(np.float64),
    np.array([1.0, 1.25]),
    np.array([0.9, 0.95, 1.0]),
  )
  rows = m[:, None] * s
  od = -np.log10(np.maximum(img.astype(np.float64), 1) / 255.0) + np.log10(b)
  for y, x in ((0, 0), (33, 47), (69, 89)):
    want = np.clip(np.linalg.lstsq(rows.T, od[y, x], rcond=None)[0], 0, None)
    np.testing.assert_allclose(r.concentrations[y, x], want, rtol=1e-4, atol=1e-5)
  assert r.concentrations.shape == (70, 90, 2) and r.recon.shape == (70, 90, 3)
  with pytest.raises(config_lib.ConfigError, match="readout"):
    pipeline.deconvolve(config_lib.replaced(cfg, {"readout": "lsq"}), img)


def test_overlap_disagreement_is_zero_for_a_pixelwise_solver_and_matches_a_hand_step(monkeypatch):
  monkeypatch.setattr(pipeline, "solve_batch", _fake_solve)
  img = np.random.default_rng(2).integers(30, 220, (56, 80, 3)).astype(np.uint8)
  cfg = config_lib.load_config(CFG + ":smoke", {"tile": 32, "overlap": 8, "share_smb": False})
  ts = pipeline.solve_tiles(cfg, img)
  assert ts.pos == [(y, x) for y in (0, 24) for x in (0, 24, 48)]
  d = pipeline.overlap_disagreement(ts)
  assert d["pairs"] == 7 and d["step"] == 0.0 and d["rms"] == 0.0  # 2 rows x 2 + 3 columns x 1
  # tile 4 (row 1, column 1) estimates 0.1 more of stain 0: only its 3 neighbour pairs disagree
  ts.results[4].concentrations = ts.results[4].concentrations + np.array([0.1, 0.0], np.float32)
  scale = np.mean([r.concentrations.mean(axis=(0, 1)) for r in ts.results.values()], axis=0)
  d = pipeline.overlap_disagreement(ts)
  want = 3 * (0.1 / scale[0]) / (7 * 2)  # per pair and stain, averaged
  np.testing.assert_allclose([d["step"], d["rms"]], [want, want], rtol=1e-5)


def test_slide_noise_field_is_the_same_wherever_it_is_cropped():
  f = lambda y, x, size: pipeline._uniform_field(
    0, np.arange(2), np.arange(y, y + size), np.arange(x, x + size), np.arange(3), (96, 96)
  )
  a, b = f(0, 0, 64), f(32, 16, 64)
  np.testing.assert_array_equal(a[:, 32:, 16:], b[:, :32, :48])
  assert a.min() >= -0.5 and a.max() < 0.5
  np.testing.assert_allclose([a.mean(), a.std()], [0.0, 12**-0.5], atol=0.01)
  assert abs(np.corrcoef(a[0].ravel(), a[1].ravel())[0, 1]) < 0.05  # stains get independent inputs
  assert not np.array_equal(
    a,
    pipeline._uniform_field(1, np.arange(2), np.arange(64), np.arange(64), np.arange(3), (96, 96)),
  )


def test_tiles_with_the_same_input_and_weights_solve_identically():
  cfg = config_lib.load_config(CFG + ":hdab,smoke")
  tile = np.random.default_rng(0).integers(40, 200, (1, 16, 16, 3)).astype(np.uint8)
  z = np.random.default_rng(1).uniform(-0.005, 0.005, (1, 2, 16, 16, 3)).astype(np.float32)
  same = solver.solve_batch(cfg, np.repeat(tile, 2, 0), noise=np.repeat(z, 2, 0), same_init=True)
  np.testing.assert_array_equal(same[0].concentrations, same[1].concentrations)
  other = solver.solve_batch(cfg, np.repeat(tile, 2, 0))  # independent noise and weights per tile
  assert not np.allclose(other[0].concentrations, other[1].concentrations)
  with pytest.raises(ValueError, match="noise has 1 tiles for a batch of 2"):
    solver.solve_batch(cfg, np.repeat(tile, 2, 0), noise=z)


def test_normalization_recombines_with_the_reference_physics(monkeypatch):
  c_src = np.random.default_rng(1).uniform(0, 1, (8, 8, 2)).astype(np.float32)
  s_ref = np.array([[0.6, 0.7, 0.3], [0.2, 0.9, 0.3]], np.float32)
  s_ref /= np.linalg.norm(s_ref, axis=1, keepdims=True)
  m_ref, b_ref = np.array([1.1, 0.9], np.float32), np.array([0.95, 0.9, 0.97], np.float32)
  results = iter(
    [
      StainResult(c_src, np.eye(2, 3, dtype=np.float32), None, np.ones(2), np.ones(3)),
      StainResult(c_src * 0 + 0.5, s_ref, None, m_ref, b_ref),
    ]
  )
  monkeypatch.setattr(pipeline, "deconvolve", lambda *a, **k: next(results))
  cfg = config_lib.load_config(CFG)
  out, _, _ = pipeline.normalize(cfg, None, None)
  od = np.einsum("hwn,n,nc->hwc", c_src, m_ref, s_ref) - np.log10(b_ref)
  np.testing.assert_allclose(out, np.round(np.clip(255 * 10**-od, 0, 255)), atol=1)


@pytest.mark.slow
def test_batched_equals_per_tile_and_cli(tmp_path):
  cfg = config_lib.load_config(CFG + ":hdab,smoke")
  from pgdips import synthetic

  c, s = synthetic.ihc_ground_truth(32, (50, 60))
  c2, _ = synthetic.ihc_ground_truth(32, (300, 200))
  tiles = np.stack([synthetic.synthesize(c, s), synthetic.synthesize(c2, s)])
  batched = solver.solve_batch(cfg, tiles, seed=3)
  keys = jax.random.split(jax.random.PRNGKey(3), 2)  # 2 tiles on 2 of the 4 devices, no padding
  one = jax.jit(solver.make_solver(cfg, (32, 32)))
  for i in range(2):
    alone = one(tiles[i].astype(np.float32), keys[i])
    np.testing.assert_allclose(
      batched[i].concentrations, np.asarray(alone["concentrations"]), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(batched[i].stains, np.asarray(alone["stains"]), rtol=1e-4, atol=1e-6)

  from PIL import Image

  Image.fromarray(tiles[0]).save(tmp_path / "in.png")
  Image.fromarray(tiles[1]).save(tmp_path / "ref.png")
  hdab = f"--config={CFG}:hdab,smoke"
  proc = run_cli(
    "pgdips.main", "deconvolve", str(tmp_path / "in.png"), hdab, f"--out={tmp_path / 'd'}"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  z = np.load(tmp_path / "d" / "result.npz")
  assert (
    z["C"].shape == (32, 32, 2)
    and z["S"].shape == (2, 3)
    and z["M"].shape == (2,)
    and z["B"].shape == (3,)
  )
  assert (tmp_path / "d" / "figure.png").stat().st_size > 1000 and (
    tmp_path / "d" / "C_dab.png"
  ).exists()
  proc = run_cli(
    "pgdips.main",
    "normalize",
    str(tmp_path / "in.png"),
    f"--reference={tmp_path / 'ref.png'}",
    hdab,
    f"--out={tmp_path / 'n'}",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert np.asarray(Image.open(tmp_path / "n" / "normalized.png")).shape == (32, 32, 3)
  one_line_error(
    run_cli("pgdips.main", "deconvolve", str(tmp_path / "missing.png"), f"--out={tmp_path}"),
    "does not exist",
  )

  # a larger-than-tile image with S, M, B shared across tiles (fixed-S/M/B solves)
  big = np.concatenate([np.concatenate([tiles[0], tiles[1]], 1)] * 2, 0)[:56, :50]
  cfg_t = config_lib.load_config(
    CFG + ":hdab,smoke", {"tile": 32, "overlap": 8, "estimate_tiles": 2}
  )
  r = pipeline.deconvolve(cfg_t, big)
  assert r.concentrations.shape == (56, 50, 2) and r.recon.shape == (56, 50, 3)
  np.testing.assert_allclose(np.linalg.norm(r.stains, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_pgdips_recovers_stains_and_concentrations_on_a_short_cpu_run():
  """Synthetic H-DAB (32x32, known truth) whose true stain vectors are ~10 degrees from the Ruifrok
  vectors PGDIPS starts from here (``make_solver``; the preset itself starts at Macenko's): the `cpu` config
  at 1000 iterations brings both angles under 7 degrees and both concentration PCCs over 0.9. Measured
  10.4/11.1 -> 5.4/5.6 degrees, PCC 0.992/0.959 on one machine and 0.4/1.4 degrees, PCC 0.998/0.994 on
  another: where the fit ends depends on the floating-point path, so the bound is 7, not 5. The truth is
  scored independently of the solver (angles and PCC in NumPy)."""
  from pgdips import physics, synthetic

  cfg = config_lib.load_config(CFG + ":hdab,cpu", {"num_steps": 1000})
  c, s = synthetic.ihc_ground_truth(32, offset=(150, 180))
  rng = np.random.default_rng(0)
  s_true = np.abs(s + rng.normal(0, 0.3, s.shape))
  s_true /= np.linalg.norm(s_true, axis=1, keepdims=True)
  img = synthetic.synthesize(c, s_true, noise_std=1.0)
  angle = lambda a: np.degrees(np.arccos(np.clip(np.sum(a * s_true, 1), -1, 1)))
  a0 = angle(physics.default_stains(cfg.stains))
  out = jax.device_get(
    jax.jit(solver.make_solver(cfg, (32, 32)))(img.astype(np.float32), jax.random.PRNGKey(0))
  )
  a1 = angle(np.asarray(out["stains"], np.float64))
  pcc = [
    np.corrcoef(out["concentrations"][..., i].ravel(), c[..., i].ravel())[0, 1] for i in range(2)
  ]
  assert np.all(a0 > 10.0), a0
  assert np.all(a1 < 7.0) and min(pcc) > 0.9, (a1, pcc)


def test_seam_index_against_a_hand_computed_step():
  from pgdips import stitch

  rng = np.random.default_rng(0)
  c_true = 1.0 + 0.1 * rng.random((96, 96, 1))
  # a smooth rescaled estimate has no seams: the global scale is divided out, both statistics ~0
  s0 = stitch.seam_index(3.0 * c_true, c_true, tile=32, overlap=8, strip=4)
  assert s0["seam"] < 1e-9 and s0["control"] < 1e-9
  # tiles at 0, 24, 48, 64 on both axes; a +0.5 step at x = 28 (inside the overlap [24, 32) of the first
  # two tiles) separates the strips [20, 24) and [32, 36) of that pair only: 4 of the 24 pair-rows see it
  est = c_true.copy()
  est[:, 28:] += 0.5
  s = stitch.seam_index(est, c_true, tile=32, overlap=8, strip=4)
  k = np.sum(est * c_true) / np.sum(c_true**2)
  r = (est / k - c_true) / c_true.mean()
  want = []
  for axis_r in (r, r.transpose(1, 0, 2)):
    for lo, hi in ((24, 32), (48, 56), (64, 80)):  # the overlaps of neighbouring tiles
      for y in (0, 24, 48, 64):
        band = slice(y + 8, y + 24)
        want.append(abs(axis_r[band, lo - 4 : lo].mean() - axis_r[band, hi : hi + 4].mean()))
  np.testing.assert_allclose(s["seam"], np.mean(want), rtol=1e-9)
  assert s["seam"] > 0.9 * 4 / 24 * (0.5 / k) / c_true.mean()  # the step after the global rescale


def test_slide_ground_truth_is_mirror_continuous():
  from pgdips import synthetic

  c, s = synthetic.slide_ground_truth(1100)
  assert c.shape == (1100, 1100, 2) and s.shape == (2, 3)
  np.testing.assert_array_equal(c[:, 511], c[:, 512])
  np.testing.assert_array_equal(c[511], c[512])
  np.testing.assert_array_equal(c[:512, :512], synthetic.ihc_ground_truth(512)[0])


def test_stain_and_background_network_heads():
  """smb_param='net' (the official code's form): S_k and B are the centre pixel of their own DIP nets."""
  cfg = config_lib.load_config(CFG + ":hdab,smoke", {"smb_param": "net"})
  sv = solver.Solver(cfg, (16, 16))
  fast = {"xla_backend_optimization_level": 0}  # one-off programs: compile time is the cost
  carry = jax.jit(sv.init, compiler_options=fast)(
    np.full((16, 16, 3), 120.0, np.float32), jax.random.PRNGKey(0)
  )
  assert len(carry["params"]["stain_nets"]) == 2 and "s_raw" not in carry["params"]
  carry, hist = jax.jit(sv.run, static_argnums=2, compiler_options=fast)(
    carry, np.full((16, 16, 3), 120.0, np.float32), 3
  )
  out = jax.jit(sv.finish, compiler_options=fast)(carry, np.full((16, 16, 3), 120.0, np.float32))
  np.testing.assert_allclose(np.linalg.norm(out["stains"], axis=1), 1.0, rtol=1e-5)
  b = np.asarray(out["background"])
  assert np.all((b > 0.05) & (b < 0.95)) and np.all(np.isfinite(np.asarray(hist)))
  # the centre pixel of the head's output is what S is made of (stain 0 is the one named after the first
  # configured stain: network order[0])
  k = int(out["order"][0])
  head = sv.head.apply(carry["params"]["stain_nets"][k], carry["z0"]["stain"][k])[8, 8]
  pre = 0.9 * np.asarray(head) + 0.05
  np.testing.assert_allclose(np.asarray(out["stains"][0]), pre / np.linalg.norm(pre), rtol=1e-5)
  with pytest.raises(ValueError, match="smb_param"):
    solver.Solver(config_lib.load_config(CFG + ":smoke", {"smb_param": "heads"}), (16, 16))


def test_stitch_cli_writes_table_and_figures(tmp_path):
  proc = run_cli(
    "pgdips.stitch",
    "--size=96",
    "--compare=56",
    f"--out={tmp_path}",
    "--config.num_steps=3",
    "--config.tile_steps=2",
    "--config.tile=32",
    "--config.overlap=8",
    "--config.estimate_tiles=1",
    "--config.net.channels=(4, 8)",
    "--config.net.skips=(0, 2)",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (tmp_path / "stitch.md").read_text()
  assert md.count("| 96x96 |") == 2 and md.count("| 56x56 |") == 2  # + the per-pixel row at 96
  assert "least squares" in md and "overlap step" in md
  assert (tmp_path / "stitched.png").stat().st_size > 1000 and (tmp_path / "junction.png").exists()
  assert (tmp_path / "junction_slide.png").exists()


def test_invert_inverts_the_forward_model():
  from pgdips import synthetic

  cfg = config_lib.load_config(CFG + ":hdab")
  c, s = synthetic.ihc_ground_truth(24, (100, 100))
  m, b = np.array([1.0, 1.2], np.float32), np.array([0.9, 0.95, 1.0], np.float32)
  od = np.einsum("hwn,n,nc->hwc", c, m, s) - np.log10(b)
  img = 255.0 * 10.0**-od  # float, no rounding: exact inversion expected
  r = pipeline.invert(cfg, img, {"stains": s, "m": m, "background": b})
  np.testing.assert_allclose(r.concentrations, c, atol=1e-4)


def test_dihedral_transforms_are_the_eight_symmetries():
  x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
  got = [np.asarray(solver.dihedral(x, a)) for a in range(8)]
  want = [np.rot90(np.flip(x, 1) if f else x, k, axes=(1, 2)) for k in range(4) for f in (0, 1)]
  assert sorted(g.tobytes() for g in got) == sorted(w.tobytes() for w in want)
  rect = np.arange(4 * 6 * 1, dtype=np.float32).reshape(4, 6, 1)
  got4 = {np.asarray(solver.dihedral(rect, a, square=False)).tobytes() for a in range(4)}
  assert got4 == {
    rect.tobytes(),
    rect[::-1].tobytes(),
    rect[:, ::-1].tobytes(),
    rect[::-1, ::-1].tobytes(),
  }
  cfg = config_lib.load_config(CFG + ":hdab,smoke", {"augment": True})
  out = solver.make_solver(cfg, (16, 16))(
    np.full((16, 16, 3), 120.0, np.float32), jax.random.PRNGKey(0)
  )
  assert np.all(np.isfinite(np.asarray(out["history"])))


def test_evaluate_cli_writes_the_table(tmp_path):
  proc = run_cli(
    "pgdips.evaluate",
    f"--out={tmp_path}",
    "--num_images=5",
    "--size=32",
    f"--config={CFG}:hdab,smoke",
    "--conditions=hard",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (tmp_path / "table.md").read_text()
  assert md.count("| PGDIPS |") == 1 and md.count("| Macenko |") == 1 and "5 iterations" in md
  assert "10-25 degrees" in md and "Wilcoxon" not in md  # one seed's crops: no test (pgdips.study)
  import csv

  from pgdips import baselines, evaluate

  rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
  assert len(rows) == 5 * 4 and {r["method"] for r in rows} == {
    "PGDIPS",
    "Macenko",
    "Ruifrok",
    "Vahadane",
  }
  items = evaluate.benchmark_set(5, 32, "hard", 0)
  mac = [
    r for r in rows if r["method"] == "Macenko"
  ]  # the baseline rescored independently of the CLI
  for r, (img, c, s) in zip(mac, items):
    m = baselines.all_baselines(img, evaluate.STAINS, 255.0, 10.0)["Macenko"]
    est = m.concentrations
    np.testing.assert_allclose(
      float(r["pcc_dab"]), np.corrcoef(est[..., 1].ravel(), c[..., 1].ravel())[0, 1], rtol=1e-4
    )
    deg = lambda a, b: np.degrees(
      np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
    )
    np.testing.assert_allclose(float(r["true_separation_deg"]), deg(s[0], s[1]), atol=0.01)
    np.testing.assert_allclose(
      float(r["fit_separation_deg"]), deg(m.stains[0], m.stains[1]), atol=0.01
    )
  one_line_error(
    run_cli(
      "pgdips.evaluate", f"--out={tmp_path}", f"--config={CFG}:hdab,smoke", "--config.nope=1"
    ),
    "nope",
  )


def test_per_image_csv_quotes_method_names_with_commas():
  import csv
  import io

  from pgdips import evaluate

  sc = {
    "true_separation": 12.345,
    "fit_separation": 3.0,
    **{f"{k}_{n}": 0.5 for n in evaluate.STAINS for k in ("pcc", "ssim", "angle")},
  }
  text = evaluate.per_image_csv({"hard": {evaluate.NET_ROW: [sc, sc], "Macenko": [sc]}})
  rows = list(csv.reader(io.StringIO(text)))
  assert all(len(r) == len(rows[0]) == 12 for r in rows), rows
  assert [r[2] for r in rows[1:]] == [evaluate.NET_ROW, evaluate.NET_ROW, "Macenko"] and rows[1][
    3
  ] == "12.35"


def test_float_images_are_intensities_up_to_i0():
  """A float RGB image holds intensities in [0, I0]: one in [0, 1] (every pixel at nearly the same optical
  density) and one above I0 are refused in one line; with --config.i0=1 the [0, 1] image is accepted."""
  rgb = np.random.default_rng(0).integers(40, 250, (16, 16, 3)).astype(np.float32)
  np.testing.assert_array_equal(pipeline.check_rgb(rgb), rgb)
  with pytest.raises(ValueError, match=r"float image in \[0, 1\].*multiply it by 255"):
    pipeline.check_rgb(rgb / 255)
  with pytest.raises(ValueError, match="above I0 = 255"):
    pipeline.check_rgb(rgb * 2)
  np.testing.assert_array_equal(pipeline.check_rgb(rgb / 255, i0=1.0), rgb / 255)
