"""pgdips: physics, exclusion loss (vs a NumPy loop), baselines on ground-truth synthetic images, and
the batched solver's contract (shapes, sharding over devices). PGDIPS's accuracy on a known-truth image
is tested in test_pipeline.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import config as config_lib
from common import metrics
from pgdips import baselines, losses, physics, pipeline, solver, synthetic
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
  assert np.isfinite(
    float(jax.grad(lambda x: losses.exclusion_loss(x, jnp.asarray(b)))(jnp.asarray(a)).sum())
  )


@pytest.fixture(scope="module")
def ground_truth():
  c, s = synthetic.ihc_ground_truth(128, (100, 100))
  return c, s, synthetic.synthesize(c, s)


def _pccs(res, c):
  return [
    float(metrics.pcc(res.concentrations[..., i].ravel(), c[..., i].ravel())) for i in range(2)
  ]


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
    assert (
      r.concentrations.shape == (32, 32, 2)
      and r.stains.shape == (2, 3)
      and r.recon.shape == (32, 32, 3)
    )
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


def test_three_stain_exclusion_is_the_sum_of_pairs_and_repulsion_is_pairwise_l1():
  rng = np.random.default_rng(2)
  c = rng.random((16, 18, 3))
  pairs = [_excl_numpy(c[..., i], c[..., j]) for i, j in ((0, 1), (0, 2), (1, 2))]
  np.testing.assert_allclose(float(losses.exclusion_loss_multi(c)), sum(pairs), rtol=1e-5)
  np.testing.assert_allclose(
    float(losses.exclusion_loss_multi(c, reduce="mean")), sum(pairs) / 3, rtol=1e-5
  )
  s = rng.random((3, 3))
  want = sum(np.abs(s[i] - s[j]).sum() / 3 for i, j in ((0, 1), (0, 2), (1, 2)))
  np.testing.assert_allclose(float(losses.stain_repulsion(s)), want, rtol=1e-6)


def test_anchor_loss_sum_is_the_codes_separate_mses():
  rng = np.random.default_rng(3)
  s, a, b, m = rng.random((2, 3)), rng.random((2, 3)), rng.random(3), rng.random(2) + 0.5
  mse = lambda x, y: np.mean((np.asarray(x) - np.asarray(y)) ** 2)
  code = (
    mse(s[0], a[0]) + mse(s[1], a[1]) + mse(b, np.ones(3)) + mse([m[0]], [1.0]) + mse([m[1]], [1.0])
  )
  np.testing.assert_allclose(float(losses.anchor_loss(s, a, b, m, "sum")), code, rtol=1e-6)
  mean = mse(s, a) + mse(b, np.ones(3)) + mse(m, np.ones(2))
  np.testing.assert_allclose(float(losses.anchor_loss(s, a, b, m, "mean")), mean, rtol=1e-6)


def test_perturbation_follows_the_codes_schedule():
  code = lambda step: (
    0.001 * (step // 100) if step < 1000 else 0.001
  )  # pgdips.py, _optimization_closure
  for step in (0, 99, 100, 450, 999, 1000, 1001, 5999):
    np.testing.assert_allclose(float(solver.perturbation(step)), code(step), atol=1e-9)
  assert float(solver.perturbation(5000, after=0.009)) == pytest.approx(0.009)


@pytest.mark.parametrize("n", [4, 5])
def test_align_corners_upsampling_equals_scipy_zoom(n):
  from scipy import ndimage

  from pgdips.models import upsample2

  x = np.random.default_rng(n).random((1, n, n + 2, 2)).astype(np.float32)
  got = np.asarray(upsample2(jnp.asarray(x), align_corners=True))
  # scipy's zoom without grid mode maps the first and last samples onto each other: align_corners=True
  want = np.stack([ndimage.zoom(x[0, ..., k], 2, order=1, grid_mode=False) for k in range(2)], -1)[
    None
  ]
  np.testing.assert_allclose(got, want, atol=1e-5)
  half = np.asarray(upsample2(jnp.asarray(x)))
  want_half = np.stack(
    [ndimage.zoom(x[0, ..., k], 2, order=1, grid_mode=True, mode="nearest") for k in range(2)], -1
  )
  np.testing.assert_allclose(half[0], want_half, atol=1e-5)


def test_code_preset_and_starting_vectors():
  cfg = config_lib.load_config(f"{ROOT}/configs/pgdips/he.py:hdab,code,smoke")
  assert (cfg.init_stains, cfg.max_concentration, tuple(cfg.b_range), cfg.loss.anchor_reduce) == (
    "code",
    1.0,
    (0.05, 0.95),
    "sum",
  )
  assert cfg.net.concat_norm and cfg.net.align_corners and cfg.smb_param == "net" and cfg.augment
  np.testing.assert_allclose(solver.initial_stains(cfg), [[0.60, 0.75, 0.29], [0.21, 0.91, 0.36]])
  params = solver.Solver(cfg, (16, 16)).init(
    np.zeros((16, 16, 3), np.float32), jax.random.PRNGKey(0)
  )["params"]
  assert any(
    "concat_norm_0" in str(k) for k in jax.tree_util.tree_flatten_with_path(params["nets"])[0][0][0]
  )
  # per-tile starting vectors: a direct-S solver starts at the given (unit) anchor
  cfg = config_lib.load_config(
    f"{ROOT}/configs/pgdips/he.py:hdab,smoke", {"init_stains": "macenko"}
  )
  c, s = synthetic.ihc_ground_truth(32, (200, 200))
  truth = np.array([[0.55, 0.75, 0.37], [0.20, 0.50, 0.84]], np.float32)
  truth /= np.linalg.norm(truth, axis=1, keepdims=True)
  img = synthetic.synthesize(c, truth)
  anchors = baselines.macenko_starts(cfg, img[None])
  np.testing.assert_allclose(
    anchors[0], baselines.macenko(img, reference=physics.default_stains(cfg.stains)).stains
  )
  sv = solver.Solver(cfg, (32, 32))
  carry = sv.init(img.astype(np.float32), jax.random.PRNGKey(0), anchor=anchors[0])
  np.testing.assert_allclose(
    np.asarray(sv._unpack(carry["params"], carry["z0"])[1]), anchors[0], atol=1e-3
  )
  assert baselines.macenko_starts(cfg, np.full((1, 32, 32, 3), 255, np.uint8))[0] == pytest.approx(
    physics.default_stains(cfg.stains)
  )
  # the solver does not compute the starts itself: a Macenko config without them is refused, and
  # pipeline.fit passes each tile's
  with pytest.raises(ValueError, match="starts"):
    solver.solve_batch(cfg, img[None])
  r = pipeline.fit(config_lib.replaced(cfg, {"num_steps": 1}), img[None])[0]
  assert np.degrees(np.arccos(np.clip(np.sum(r.fitted_stains * anchors[0], 1), -1, 1))).max() < 5


@pytest.mark.parametrize("n_stains", [2, 3])
def test_inverse_readout_inverts_the_fitted_model(n_stains):
  """readout='inverse': C is the clipped least-squares inversion of D - B with rows M_n S_n; on an image
  rendered (in float, no rounding) from known C, S, M, B that are the solver's current values it gives C
  back, and a stain absent from a pixel is 0, not negative. 'net' returns the networks' maps."""
  stains = ("hematoxylin", "dab") if n_stains == 2 else ("hematoxylin", "eosin", "dab")
  cfg = config_lib.load_config(
    ROOT + "/configs/pgdips/he.py:hdab,smoke", {"readout": "inverse", "stains": stains}
  )
  sv = solver.Solver(cfg, (16, 16))
  fast = {"xla_backend_optimization_level": 0}
  rng = np.random.default_rng(n_stains)
  s_true = physics.default_stains(stains)
  m_true, b_true = 0.8 + 0.4 * rng.random(n_stains), np.array([0.9, 0.85, 0.95])
  c_true = rng.random((16, 16, n_stains)).astype(np.float32)
  c_true[3, 4, 1] = 0.0
  od = np.einsum("hwn,n,nc->hwc", c_true, m_true, s_true) - np.log10(b_true)
  rgb = (255.0 * 10.0**-od).astype(np.float32)
  carry = jax.jit(sv.init, compiler_options=fast)(rgb, jax.random.PRNGKey(0))
  lo, hi = cfg.b_range
  s_pre = (
    0.9 * s_true / s_true.max(axis=1, keepdims=True)
  )  # inside the (0.05, 0.95) range; normalized to s_true
  carry["params"].update(
    s_raw=solver._logit((jnp.asarray(s_pre) - 0.05) / 0.9),
    m=jnp.asarray(m_true, jnp.float32),
    b_raw=solver._logit((jnp.asarray(b_true, jnp.float32) - lo) / (hi - lo)),
  )
  out = jax.jit(sv.finish, compiler_options=fast)(carry, rgb)
  np.testing.assert_allclose(np.asarray(out["stains"]), s_true, atol=1e-4)
  np.testing.assert_allclose(np.asarray(out["concentrations"]), c_true, atol=2e-3)
  assert float(out["concentrations"][3, 4, 1]) >= 0.0
  net = solver.Solver(config_lib.replaced(cfg, {"readout": "net"}), (16, 16))
  out_net = jax.jit(net.finish, compiler_options=fast)(carry, rgb)
  np.testing.assert_allclose(
    np.asarray(out_net["concentrations"]), np.asarray(out["net_concentrations"]), rtol=1e-6
  )
  with pytest.raises(ValueError, match="readout"):
    solver.Solver(config_lib.replaced(cfg, {"readout": "lstsq"}), (16, 16)).finish(carry, rgb)
  # fitted in another order (the networks' stain k fitted at the colour of stain perm[k]), the result is
  # named after the known colours: S, M and C come back in the configured order, the networks' maps with them
  perm = np.roll(np.arange(n_stains), 1)
  swapped = {
    **carry,
    "params": {
      **carry["params"],
      "s_raw": carry["params"]["s_raw"][perm],
      "m": carry["params"]["m"][perm],
    },
  }
  out_r = jax.jit(sv.finish, compiler_options=fast)(swapped, rgb)
  back = np.argsort(perm)
  np.testing.assert_array_equal(np.asarray(out_r["order"]), back)
  assert not bool(out_r["ambiguous"])
  np.testing.assert_allclose(np.asarray(out_r["stains"]), s_true, atol=1e-4)
  np.testing.assert_allclose(np.asarray(out_r["m"]), m_true, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(out_r["concentrations"]), c_true, atol=2e-3)
  np.testing.assert_allclose(
    np.asarray(out_r["net_concentrations"]),
    np.asarray(out["net_concentrations"])[..., back],
    rtol=1e-6,
  )
  if n_stains == 2:  # a near-collinear fit (3 degrees apart)
    a = s_true[0] / np.linalg.norm(s_true[0])
    u = np.cross(a, [0.0, 0.0, 1.0])
    b = np.cos(np.radians(3)) * a + np.sin(np.radians(3)) * u / np.linalg.norm(u)
    close = 0.9 * np.stack([a, b]) / np.stack([a, b]).max(axis=1, keepdims=True)
    carry["params"]["s_raw"] = solver._logit((jnp.asarray(close, jnp.float32) - 0.05) / 0.9)
    # the default: inverted with the pair turned apart to 20 degrees about its bisector (Rodrigues, by hand)
    out = jax.jit(sv.finish, compiler_options=fast)(carry, rgb)
    fit = np.asarray(out["fitted_stains"], np.float64)
    half = (20.0 - np.degrees(np.arccos(fit[0] @ fit[1]))) / 2
    read = np.stack([_rotate(fit[0], fit[0], fit[1], -half), _rotate(fit[1], fit[0], fit[1], half)])
    np.testing.assert_allclose(
      np.asarray(out["stains"]), read, atol=1e-5
    )  # the model that C belongs to
    od = -np.log10(rgb / 255.0) + np.log10(np.asarray(out["background"], np.float64))
    rows = np.asarray(out["m"], np.float64)[:, None] * read
    want = np.clip(np.linalg.lstsq(rows.T, od.reshape(-1, 3).T, rcond=None)[0].T, 0, None).reshape(
      16, 16, 2
    )
    np.testing.assert_allclose(np.asarray(out["concentrations"]), want, atol=2e-3)


def _nearest_first(est, ref, margin):
  """The greedy matching written as a sort: every (stain, reference) pair by its angle (math.acos),
  walked in order, a pair taken when both are free; ambiguous when a free rival stain lies within
  ``margin`` degrees of the taken pair's reference; then the ordering with the smallest summed angle."""
  import math

  n = len(est)
  unit = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]
  ang = {
    (i, j): math.degrees(
      math.acos(max(-1.0, min(1.0, sum(a * b for a, b in zip(unit(est[i]), unit(ref[j]))))))
    )
    for i in range(n)
    for j in range(n)
  }
  perm, used, ambiguous = [None] * n, set(), False
  for (i, j), a in sorted(ang.items(), key=lambda kv: (kv[1], kv[0])):
    if i in used or perm[j] is not None:
      continue
    ambiguous |= any(ang[k, j] - a < margin for k in range(n) if k != i and k not in used)
    perm[j] = i
    used.add(i)
  if (
    ambiguous
  ):  # nearness decides nothing: the ordering with the smallest summed angle (first of ties)
    import itertools

    perm = list(
      min(itertools.permutations(range(n)), key=lambda q: sum(ang[q[j], j] for j in range(n)))
    )
  return perm, ambiguous


@pytest.mark.parametrize("n", [2, 3, 4])
def test_name_stains_is_nearest_first(n):
  """physics.name_stains equals a sort-based greedy matching (numpy and jax.numpy alike), and the
  baselines name their estimates with it."""
  rng = np.random.default_rng(n)
  for _ in range(30):
    est, ref = (
      np.abs(rng.normal(size=(n, 3))) * rng.uniform(0.2, 3, (n, 1)),
      np.abs(rng.normal(size=(n, 3))),
    )
    want, amb = _nearest_first(est.tolist(), ref.tolist(), 3.0)
    perm, ambiguous = physics.name_stains(est, ref, xp=np)
    np.testing.assert_array_equal(perm, want)
    assert bool(ambiguous) == amb
    perm_j, amb_j = physics.name_stains(
      jnp.asarray(est, jnp.float32), jnp.asarray(ref, jnp.float32)
    )
    np.testing.assert_array_equal(np.asarray(perm_j), want)
    np.testing.assert_array_equal(baselines._named(est, ref)[0], est[want])


def test_name_stains_never_crosses_a_clearly_nearer_stain():
  """The H&E pair of issue 46 (Macenko's vectors on the centre 64-px crop of he.jpg: both on
  hematoxylin's side, 6.8 and 13.6 degrees from it): the one nearer hematoxylin is named hematoxylin,
  though a summed-cosine assignment names it eosin; the fitted PGDIPS pair of that figure likewise. Two
  stains equally near hematoxylin are flagged ambiguous."""
  ref = physics.default_stains(("hematoxylin", "eosin")).astype(np.float64)

  def turned(
    deg_h, deg_e
  ):  # a unit vector at these angles from H and E (in the half-space of +cross(H, E))
    a, b = np.radians(deg_h), np.radians(deg_e)
    g = ref[0] @ ref[1]
    x, y = np.linalg.solve([[1.0, g], [g, 1.0]], [np.cos(a), np.cos(b)])
    v = x * ref[0] + y * ref[1]
    return v + np.sqrt(max(0.0, 1 - v @ v)) * np.cross(ref[0], ref[1]) / np.linalg.norm(
      np.cross(ref[0], ref[1])
    )

  pair = np.stack([turned(13.6, 40.5), turned(6.8, 33.0)])  # as Macenko orders them: "H" first
  cos = pair / np.linalg.norm(pair, axis=1, keepdims=True) @ ref.T
  assert cos[0, 0] + cos[1, 1] > cos[1, 0] + cos[0, 1]  # the summed cosine keeps the crossed names
  perm, ambiguous = physics.name_stains(pair, ref, xp=np)
  assert list(perm) == [1, 0] and not ambiguous
  fitted = np.array([[0.381, 0.850, 0.364], [0.673, 0.693, 0.259]])  # issue 46: PGDIPS's "H", "E"
  assert list(physics.name_stains(fitted, ref, xp=np)[0]) == [1, 0]
  tie = np.stack([turned(15.0, 30.0), turned(16.0, 45.0)])
  assert bool(physics.name_stains(tie, ref, xp=np)[1])
  # both fitted vectors DAB-like, 13.4 and 14.9 degrees from DAB (a PGDIPS fit on a DAB-rich IHC crop):
  # nearness decides nothing, so the ordering with the smallest summed angle names them, flagged
  hdab = physics.default_stains(("hematoxylin", "dab")).astype(np.float64)
  fit = np.array([[0.119, 0.401, 0.908], [0.468, 0.588, 0.659]])
  perm, ambiguous = physics.name_stains(fit, hdab, xp=np)
  assert bool(ambiguous) and list(perm) == [1, 0]


def _rotate(v, a, b, deg):
  """``v`` turned by ``deg`` degrees about the normal of the plane of ``a`` and ``b`` (Rodrigues' formula;
  positive turns ``a`` towards ``b``)."""
  k = np.cross(a, b)
  k = k / np.linalg.norm(k)
  t = np.radians(deg)
  return v * np.cos(t) + np.cross(k, v) * np.sin(t) + k * (k @ v) * (1 - np.cos(t))


@pytest.mark.parametrize("deg", [0.0, 3.0, 12.0, 19.9, 20.0, 25.0, 60.0])
def test_spread_stains_turns_close_pairs_apart_in_their_plane(deg):
  """A pair ``deg`` apart, floor 20: below it each vector is turned (20 - deg) / 2 away from the other about
  their plane's normal, by Rodrigues' formula; at or above it the pair is unchanged. A collinear pair ends
  20 degrees apart about its common direction. A third stain far from both stays as it is; numpy and
  jax.numpy agree."""
  rng = np.random.default_rng(int(deg * 10))
  a = np.abs(rng.normal(size=3)) + 0.2
  a /= np.linalg.norm(a)
  w = np.cross(a, rng.normal(size=3))
  w /= np.linalg.norm(w)
  t = np.radians(deg)
  b = np.cos(t) * a + np.sin(t) * w
  third = np.cross(a, w)
  s = np.stack([2.0 * a, 0.5 * b, third])  # rows need not be unit
  got = physics.spread_stains(s, 20.0, xp=np)
  got_j = np.asarray(physics.spread_stains(jnp.asarray(s, jnp.float32), 20.0))
  np.testing.assert_allclose(got_j, got, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-9)
  np.testing.assert_allclose(got[2], third, atol=1e-9)
  if deg == 0.0:
    assert np.degrees(np.arccos(got[0] @ got[1])) == pytest.approx(20.0, abs=1e-6)
    np.testing.assert_allclose((got[0] + got[1]) / np.linalg.norm(got[0] + got[1]), a, atol=1e-9)
  elif deg < 20.0:
    half = (20.0 - deg) / 2
    np.testing.assert_allclose(got[0], _rotate(a, a, b, -half), atol=1e-9)
    np.testing.assert_allclose(got[1], _rotate(b, a, b, half), atol=1e-9)
  else:
    np.testing.assert_allclose(got[:2], np.stack([a, b]), atol=1e-9)
  np.testing.assert_allclose(
    physics.spread_stains(s, 0.0, xp=np), s / np.linalg.norm(s, axis=1, keepdims=True)
  )


@pytest.mark.parametrize("n", [2, 3])
def test_unmix_nnls_is_scipys_nnls_and_clip_is_clipped_least_squares(n):
  from scipy.optimize import nnls

  rng = np.random.default_rng(n)
  rows = np.abs(rng.normal(size=(n, 3))) + 0.05
  od = rng.normal(
    0.4, 0.5, (6, 7, 3)
  )  # many pixels whose least-squares solution has a negative part
  ref = np.stack([nnls(rows.T, p)[0] for p in od.reshape(-1, 3)]).reshape(6, 7, n)
  for xp in (np, jnp):
    got = np.asarray(physics.unmix(xp.asarray(od), xp.asarray(rows), "nnls", xp=xp))
    np.testing.assert_allclose(got, ref, atol=2e-5)
  ls = np.linalg.lstsq(rows.T, od.reshape(-1, 3).T, rcond=None)[0].T.reshape(6, 7, n)
  assert (ls < 0).any() and not np.allclose(
    np.clip(ls, 0, None), ref
  )  # the two read-outs differ here
  np.testing.assert_allclose(
    physics.unmix(od, rows, "clip", xp=np), np.clip(ls, 0, None), atol=1e-9
  )
  with pytest.raises(ValueError, match="inverse_solver"):
    physics.unmix(od, rows, "lasso", xp=np)


def test_a_diverged_fit_stops_at_the_next_check_naming_the_iteration():
  """A loss that is not finite (here from a NaN loss weight) stops the fit at the first progress check
  (every ``chunk`` iterations) with the tile and the iteration, instead of running every iteration on NaN."""
  cfg = config_lib.load_config(
    f"{ROOT}/configs/pgdips/he.py:hdab,smoke", {"loss.alpha": float("nan")}
  )
  tiles = np.full((1, 16, 16, 3), 120, np.uint8)
  with pytest.raises(FloatingPointError, match="tile 0 is nan at iteration 2"):
    solver.solve_batch(cfg, tiles, chunk=2)
