"""pgdips: physics, exclusion loss (vs a NumPy loop), baselines on ground-truth synthetic images, and
the batched solver's contract (shapes, sharding over devices). PGDIPS's accuracy on a known-truth image
is tested in test_pipeline.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import config as config_lib, metrics
from pgdips import baselines, losses, physics, solver, synthetic
from tests.common.helpers import ROOT


def test_optical_density_round_trip_and_zero_safe():
  rgb = np.array([[[0, 1, 255], [128, 64, 200]]], np.uint8)
  d = np.asarray(physics.optical_density(rgb))
  np.testing.assert_allclose(d, -np.log10(np.maximum(rgb, 1) / 255.0), rtol=1e-5)
  assert np.all(np.isfinite(d))
  np.testing.assert_allclose(np.asarray(physics.to_rgb(d)), np.maximum(rgb, 1), rtol=1e-4)


def test_compose_equals_numpy():
  rng = np.random.default_rng(0)
  c, s, m, b = rng.random((4, 5, 2)), rng.random((2, 3)), rng.random(2), rng.random(3)
  want = np.einsum("hwn,n,nc->hwc", c, m, s) + b
  np.testing.assert_allclose(np.asarray(physics.compose(c, s, m, b)), want, rtol=1e-5)


def _excl_numpy(c1, c2, levels=3):
  sig = lambda g: 2.0 / (1.0 + np.exp(-g)) - 1.0
  tx = ty = 0.0
  for _ in range(levels):
    gx1, gx2 = sig(np.diff(c1, axis=1)), sig(np.diff(c2, axis=1))
    gy1, gy2 = sig(np.diff(c1, axis=0)), sig(np.diff(c2, axis=0))
    tx += np.mean(gx1**2 * gx2**2) ** 0.25
    ty += np.mean(gy1**2 * gy2**2) ** 0.25
    h, w = c1.shape[0] // 2 * 2, c1.shape[1] // 2 * 2
    pool = lambda a: a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    c1, c2 = pool(c1), pool(c2)
  return (tx / levels + ty / levels) / 2


def test_exclusion_loss_equals_numpy_and_prefers_separated_maps():
  rng = np.random.default_rng(1)
  a, b = rng.random((32, 30)), rng.random((32, 30))
  np.testing.assert_allclose(float(losses.exclusion_loss(a, b)), _excl_numpy(a, b), rtol=1e-5)
  edge = np.zeros((32, 32))
  edge[:, 16:] = 1.0
  other = np.zeros((32, 32))
  other[16:, :] = 1.0
  assert float(losses.exclusion_loss(edge, edge)) > 5 * float(losses.exclusion_loss(edge, other))
  assert np.isfinite(float(jax.grad(lambda x: losses.exclusion_loss(x, jnp.asarray(b)))(jnp.asarray(a)).sum()))


@pytest.fixture(scope="module")
def ground_truth():
  c, s = synthetic.ihc_ground_truth(128, (100, 100))
  return c, s, synthetic.synthesize(c, s)


def _pccs(res, c):
  return [float(metrics.pcc(res.concentrations[..., i].ravel(), c[..., i].ravel())) for i in range(2)]


def test_ruifrok_with_true_vectors_recovers_concentrations(ground_truth):
  c, s, img = ground_truth
  r = baselines.ruifrok(img, s)
  assert min(_pccs(r, c)) > 0.99
  assert r.recon.shape == img.shape and r.recon.dtype == np.uint8


def test_macenko_and_vahadane_on_ground_truth(ground_truth):
  c, s, img = ground_truth
  for fn, floor in ((baselines.macenko, 0.9), (baselines.vahadane, 0.8)):
    r = fn(img, reference=s)
    cos = np.sum(r.stains * s, axis=1)
    assert np.all(cos > 0.95), (fn.__name__, r.stains, s)
    assert min(_pccs(r, c)) > floor, (fn.__name__, _pccs(r, c))


def test_synthetic_non_idealities_change_the_image(ground_truth):
  c, s, img = ground_truth
  sat = synthetic.synthesize(c, s, saturation=0.8)
  scat = synthetic.synthesize(c, s, m=(1.0, 1.4))
  bg = synthetic.synthesize(c, s, background=0.1)
  for other in (sat, scat, bg):
    assert np.mean(np.abs(other.astype(int) - img.astype(int))) > 1.0
  assert sat.min() >= img.min()  # saturation caps the optical density


def test_macenko_background_tile_message():
  with pytest.raises(ValueError, match="tissue pixels"):
    baselines.macenko(np.full((16, 16, 3), 250, np.uint8))


@pytest.mark.slow
def test_batched_solver_contract_on_devices():
  cfg = config_lib.load_config(f"{ROOT}/configs/pgdips/he.py:hdab,smoke")
  c, s = synthetic.ihc_ground_truth(32)
  tiles = np.stack([synthetic.synthesize(c, s)] * 3)  # 3 tiles on 4 devices: run on 3 of them
  res = solver.solve_batch(cfg, tiles)
  assert len(res) == 3
  for r in res:
    assert r.concentrations.shape == (32, 32, 2) and r.stains.shape == (2, 3) and r.recon.shape == (32, 32, 3)
    np.testing.assert_allclose(np.linalg.norm(r.stains, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(r.history)) and r.history.shape == (cfg.num_steps, 3)
  with pytest.raises(ValueError, match="divisible by 4"):
    solver.make_solver(cfg, (30, 32))


def test_scanned_chunks_equal_the_host_step_loop(monkeypatch):
  """The accelerator path (``chunk`` steps per lax.scan) computes what the CPU path (one jitted step
  per iteration) does; the switch is common.runtime.host_step_loop."""
  from common import runtime
  cfg = config_lib.load_config(f"{ROOT}/configs/pgdips/he.py:hdab,smoke", {"num_steps": 5})
  c, s = synthetic.ihc_ground_truth(16, (16, 16))
  tiles = np.stack([synthetic.synthesize(c, s)])
  assert runtime.host_step_loop()  # CPU
  loop = solver.solve_batch(cfg, tiles, seed=1)[0]
  monkeypatch.setenv("MEDJAX_PLATFORM", "accelerator")
  assert not runtime.host_step_loop() and not runtime.host_bincount()
  scanned = solver.solve_batch(cfg, tiles, seed=1, chunk=2)[0]  # chunks of 2, 2, 1
  assert scanned.history.shape == loop.history.shape == (5, 3)
  np.testing.assert_allclose(scanned.history, loop.history, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(scanned.concentrations, loop.concentrations, rtol=1e-4, atol=1e-5)
