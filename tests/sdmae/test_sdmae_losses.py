"""SD-MAE formulas against plain NumPy: masking, patchify, norm-pix targets, eq. 1 (masked MSE),
eq. 2 (distillation with centering), eq. 4 (NT-Xent), position tables, DINO head, layer decay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sdmae import losses, models

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("n,ratio", [(64, 0.6), (196, 0.75), (144, 0.6), (10, 0.0)])
def test_masking_keeps_exactly_int_n_1_minus_m_per_example(n, ratio):
  ids_keep, ids_restore, mask = models.random_masking(jax.random.PRNGKey(3), 6, n, ratio)
  keep = int(n * (1 - ratio))
  assert ids_keep.shape == (6, keep)
  mask = np.asarray(mask)
  np.testing.assert_array_equal(mask.sum(1), n - keep)
  for b in range(6):
    assert set(np.asarray(ids_keep[b]).tolist()) == set(np.flatnonzero(mask[b] == 0).tolist())
    np.testing.assert_array_equal(np.sort(np.asarray(ids_restore[b])), np.arange(n))
  if 0 < keep < n:
    assert (
      len({tuple(np.sort(np.asarray(ids_keep[b]))) for b in range(6)}) > 1
    )  # differs per example


def test_patchify_matches_slicing_and_round_trips():
  x = RNG.normal(size=(2, 12, 8, 3)).astype(np.float32)
  t = np.asarray(losses.patchify(jnp.asarray(x), 4))
  assert t.shape == (2, 6, 48)
  np.testing.assert_array_equal(t[1, 3], x[1, 4:8, 4:8, :].reshape(-1))  # token (row 1, col 1)
  np.testing.assert_array_equal(np.asarray(losses.unpatchify(jnp.asarray(t), 4, 12, 8)), x)


def test_norm_pix_targets_equal_numpy():
  x = RNG.normal(size=(1, 8, 8, 3)).astype(np.float32) * 3 + 1
  p = 4
  patches = [x[0, i : i + p, j : j + p] for i in (0, 4) for j in (0, 4)]
  joint = np.stack([(q.reshape(-1) - q.mean()) / np.sqrt(q.var(ddof=1) + 1e-6) for q in patches])
  per_ch = np.stack(
    [((q - q.mean((0, 1))) / (q.std((0, 1), ddof=1) + 1e-6)).reshape(-1) for q in patches]
  )
  np.testing.assert_allclose(
    np.asarray(losses.pix_target(jnp.asarray(x), p, "joint"))[0], joint, rtol=1e-4, atol=1e-5
  )
  np.testing.assert_allclose(
    np.asarray(losses.pix_target(jnp.asarray(x), p, "per_channel"))[0], per_ch, rtol=1e-4, atol=1e-5
  )


def test_masked_mse_counts_only_masked_patches():
  pred, target = RNG.normal(size=(2, 5, 6)), RNG.normal(size=(2, 5, 6))
  mask = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 1, 1]], np.float32)
  want = np.mean(
    [np.mean((pred[b, i] - target[b, i]) ** 2) for b in range(2) for i in range(5) if mask[b, i]]
  )
  np.testing.assert_allclose(float(losses.masked_mse(pred, target, mask)), want, rtol=1e-6)
  pred2 = pred.copy()
  pred2[mask == 0] += 100.0  # visible patches do not matter
  np.testing.assert_allclose(float(losses.masked_mse(pred2, target, mask)), want, rtol=1e-6)


def _softmax(a):
  e = np.exp(a - a.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("center_on", ["probs", "logits"])
def test_distill_loss_equals_numpy(center_on):
  q_tok, p_tok = RNG.normal(size=(4, 7, 16)), RNG.normal(size=(4, 7, 16))
  center = RNG.normal(size=16) * 0.1
  q, p = q_tok.mean(1), p_tok.mean(1)
  t = _softmax((p - center) / 0.04)
  s = _softmax(q / 0.1)
  want = np.mean(np.sum(-t * np.log(s), -1))
  want_center = 0.9 * center + 0.1 * (t.mean(0) if center_on == "probs" else p.mean(0))
  loss, new_center = losses.distill_loss(
    jnp.asarray(q, jnp.float32),
    jnp.asarray(p, jnp.float32),
    jnp.asarray(center, jnp.float32),
    center_on=center_on,
  )
  np.testing.assert_allclose(float(loss), want, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(new_center), want_center, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("stop_grad", [True, False])
def test_teacher_gradient_follows_the_stop_gradient_config(stop_grad):
  q, p = (
    jnp.asarray(RNG.normal(size=(3, 8)), jnp.float32),
    jnp.asarray(RNG.normal(size=(3, 8)), jnp.float32),
  )
  g = jax.grad(lambda p: losses.distill_loss(q, p, jnp.zeros(8), stop_grad=stop_grad)[0])(p)
  assert (float(jnp.abs(g).max()) == 0.0) == stop_grad


def test_nt_xent_equals_numpy_loop():
  n, d, tau = 5, 6, 0.5
  q, p = RNG.normal(size=(n, d)), RNG.normal(size=(n, d))
  qn, pn = (
    q / np.linalg.norm(q, axis=1, keepdims=True),
    p / np.linalg.norm(p, axis=1, keepdims=True),
  )

  def view_loss(a, b):
    total = 0.0
    for i in range(n):
      pos = np.exp(a[i] @ b[i] / tau)
      denom = sum(np.exp(a[i] @ b[j] / tau) for j in range(n)) + sum(
        np.exp(a[i] @ a[j] / tau) for j in range(n) if j != i
      )
      total += -np.log(pos / denom)
    return total / n

  want = view_loss(qn, pn) + view_loss(pn, qn)
  np.testing.assert_allclose(
    float(losses.nt_xent(jnp.asarray(q), jnp.asarray(p), tau)), want, rtol=1e-4
  )


def test_posemb_2d_equals_the_mae_formula():
  d, gh, gw = 16, 3, 5
  table = models.posemb_sincos_2d(d, gh, gw)
  omega = [1 / 10000 ** (i / (d / 4)) for i in range(d // 4)]
  for r in range(gh):
    for c in range(gw):
      want = (
        [np.sin(c * w) for w in omega]
        + [np.cos(c * w) for w in omega]
        + [np.sin(r * w) for w in omega]
        + [np.cos(r * w) for w in omega]
      )
      np.testing.assert_allclose(table[r * gw + c], want, rtol=1e-5, atol=1e-6)
  t1 = models.posemb_sincos_1d(6, 4)
  np.testing.assert_allclose(t1[3, 2], np.sin(3 / 10000 ** (2 / 6)), rtol=1e-6)
  np.testing.assert_allclose(t1[3, 3], np.cos(3 / 10000 ** (2 / 6)), rtol=1e-6)


def test_position_embeddings_are_not_parameters_but_are_used():
  m = models.MAE(
    "mu/4",
    20,
    decoder_dim=16,
    decoder_depth=1,
    decoder_heads=2,
    heads=True,
    head=dict(out_dim=8, hidden_dim=8, bottleneck_dim=4),
  )
  x = jnp.asarray(RNG.normal(size=(2, 20, 20, 3)), jnp.float32)  # 25 tokens
  ids_keep, ids_restore, _ = models.random_masking(jax.random.PRNGKey(0), 2, 25, 0.5)
  params = m.init(jax.random.PRNGKey(1), x, ids_keep, ids_restore)["params"]
  assert not any(
    25 in v.shape for v in jax.tree.leaves(params)
  )  # no per-token table is a parameter
  assert "pos" not in jax.tree_util.keystr(params).lower()
  # the same visible patches at other positions give different encodings
  enc = models.Encoder("mu/4", 20)
  v = enc.init(jax.random.PRNGKey(0), x)
  swapped = x[:, ::-1]
  a = np.asarray(enc.apply(v, x))[:, ::-1]
  assert not np.allclose(np.sort(a, 1), np.sort(np.asarray(enc.apply(v, swapped)), 1), atol=1e-3)


def test_dino_head_last_layer_is_weight_normed_with_unit_gain():
  h = models.DINOHead(out_dim=10, hidden_dim=12, bottleneck_dim=6)
  x = jnp.asarray(RNG.normal(size=(3, 5)), jnp.float32)
  v = h.init(jax.random.PRNGKey(0), x)
  y = h.apply(v, x)
  v2 = jax.tree_util.tree_map_with_path(
    lambda p, a: a * 7.0 if "last_layer" in jax.tree_util.keystr(p) else a, v
  )
  np.testing.assert_allclose(np.asarray(h.apply(v2, x)), np.asarray(y), rtol=1e-5)
  assert float(jnp.abs(y).max()) <= 1.0 + 1e-5  # unit bottleneck times unit columns: cosines


def test_attention_equals_a_numpy_loop_over_heads():
  """timm's layout: the qkv output is (3, heads, head_dim) per token; softmax(q k^T / sqrt(head_dim)) v
  per head, the heads concatenated, then proj."""
  b, n, dim, heads = 2, 5, 12, 3
  x = RNG.normal(size=(b, n, dim)).astype(np.float32)
  att = models.Attention(dim, heads)
  v = att.init(jax.random.PRNGKey(1), jnp.asarray(x))["params"]
  v = jax.tree.map(
    lambda a: a + 0.1 * RNG.normal(size=a.shape).astype(np.float32), v
  )  # non-0 biases
  got = np.asarray(att.apply({"params": v}, jnp.asarray(x)))
  w = {k: {kk: np.asarray(vv, np.float64) for kk, vv in d.items()} for k, d in v.items()}
  hd = dim // heads
  want = np.zeros((b, n, dim))
  for i in range(b):
    qkv = (x[i] @ w["qkv"]["kernel"] + w["qkv"]["bias"]).reshape(n, 3, heads, hd)
    out = np.zeros((n, heads, hd))
    for h in range(heads):
      q, k, vv = qkv[:, 0, h], qkv[:, 1, h], qkv[:, 2, h]
      logits = q @ k.T / np.sqrt(hd)
      out[:, h] = _softmax(logits) @ vv
    want[i] = out.reshape(n, dim) @ w["proj"]["kernel"] + w["proj"]["bias"]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  lim = np.sqrt(6.0 / (dim + 3 * dim))  # xavier-uniform over the fused (dim, 3 dim) kernel
  k0 = np.asarray(att.init(jax.random.PRNGKey(1), jnp.asarray(x))["params"]["qkv"]["kernel"])
  assert k0.shape == (dim, 3 * dim) and np.abs(k0).max() <= lim and np.abs(k0).max() > 0.9 * lim


def test_gelu_is_the_exact_erf_gelu():
  from scipy import special

  x = np.linspace(-8.0, 8.0, 2001).astype(np.float32)
  want = 0.5 * x.astype(np.float64) * (1.0 + special.erf(x.astype(np.float64) / np.sqrt(2.0)))
  np.testing.assert_allclose(np.asarray(models.gelu(jnp.asarray(x))), want, rtol=1e-6, atol=1e-6)
  g = jax.vmap(jax.grad(models.gelu))(jnp.asarray(x))
  want_g = 0.5 * (1.0 + special.erf(x / np.sqrt(2.0))) + x * np.exp(-0.5 * x**2) / np.sqrt(
    2 * np.pi
  )
  np.testing.assert_allclose(np.asarray(g), want_g, rtol=1e-5, atol=1e-6)


def test_pooled_heads_give_the_per_token_loss_and_gradients():
  """The step's SD-MAE loss with the heads pooled before their last layer equals, with its gradients,
  the per-token formulation (each token through the whole head, then the mean), on a small model."""
  model, params, x, ids_keep, ids_restore, mask = _tiny_mae()
  center = jnp.asarray(RNG.normal(size=12) * 0.1, jnp.float32)

  def per_token(m, x):
    z = m.encoder(x, ids_keep)
    _, feats = m.decoder(z, ids_restore)
    y = jnp.take_along_axis(feats, ids_keep[..., None], axis=1)
    return m.student_head(z).mean(1), m.teacher_head(y).mean(1)

  def pooled(m, x):
    out = m(x, ids_keep, ids_restore)
    return out["q"], out["p"]

  def loss(params, method):
    q, p = model.apply({"params": params}, x, method=method)
    return losses.distill_loss(q, p, center)[0]

  l_new, g_new = jax.jit(jax.value_and_grad(lambda p: loss(p, pooled)))(params)
  l_old, g_old = jax.jit(jax.value_and_grad(lambda p: loss(p, per_token)))(params)
  np.testing.assert_allclose(float(l_new), float(l_old), rtol=1e-6)
  scale = max(float(jnp.abs(b).max()) for b in jax.tree.leaves(g_old))  # float32 rounding of it
  for a, b in zip(jax.tree.leaves(g_new), jax.tree.leaves(g_old)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale)
  assert sum(float(jnp.abs(a).sum()) for a in jax.tree.leaves(g_new["student_head"])) > 0


def test_layer_decay_ids_follow_mae():
  depth = 12
  assert models.layer_id(("encoder", "patch_embed", "kernel"), depth) == 0
  assert models.layer_id(("encoder", "block_0", "fc1", "kernel"), depth) == 1
  assert models.layer_id(("encoder", "block_11", "norm1", "scale"), depth) == 12
  assert models.layer_id(("head", "kernel"), depth) == 13
  assert models.layer_id(("encoder", "norm", "scale"), depth) == 13


def test_mixup_cutmix_labels_mix_like_the_images():
  x = jnp.asarray(RNG.uniform(size=(4, 8, 8, 3)), jnp.float32)
  y = jax.nn.one_hot(jnp.arange(4), 4)
  for kw in (dict(mixup_alpha=0.8), dict(cutmix_alpha=1.0)):
    xm, ym = losses.mixup_cutmix(jax.random.PRNGKey(2), x, y, **kw)
    np.testing.assert_allclose(np.asarray(ym.sum(-1)), 1.0, rtol=1e-6)
    lam = float(ym[0, 0])
    if "cutmix_alpha" in kw:  # lambda is the exact fraction of pixels kept from the image itself
      kept = np.mean(np.all(np.asarray(xm[0]) == np.asarray(x[0]), -1))
      np.testing.assert_allclose(lam, kept, atol=1e-6)
    else:
      np.testing.assert_allclose(
        np.asarray(xm[0]), lam * np.asarray(x[0]) + (1 - lam) * np.asarray(x[3]), rtol=1e-5
      )


def _tiny_mae():
  model = models.MAE(
    "mu/4",
    image_size=16,
    decoder_dim=8,
    decoder_depth=1,
    decoder_heads=2,
    heads=True,
    head=dict(out_dim=12, hidden_dim=10, bottleneck_dim=6),
  )
  x = jnp.asarray(RNG.normal(size=(2, 16, 16, 3)), jnp.float32)
  ids_keep, ids_restore, mask = models.random_masking(jax.random.PRNGKey(5), 2, 16, 0.75)
  params = model.init(jax.random.PRNGKey(0), x, ids_keep, ids_restore)["params"]
  return model, params, x, ids_keep, ids_restore, mask


def test_student_reads_encoder_tokens_and_teacher_decoder_tokens_at_the_kept_positions():
  """q = student head of the encoder's outputs for the K kept tokens; p = teacher head of the decoder's
  normed features gathered (by hand here) at those same K positions; masked pixels reach neither."""
  model, params, x, ids_keep, ids_restore, mask = _tiny_mae()
  out = model.apply({"params": params}, x, ids_keep, ids_restore)
  bound = model.bind({"params": params})
  z = bound.encoder(x, ids_keep)
  _, feats = bound.decoder(z, ids_restore)
  keep = np.asarray(ids_keep)
  feats_kept = np.stack([np.asarray(feats)[b, keep[b]] for b in range(2)])  # (B, K, decoder_dim)
  assert out["q"].shape == out["p"].shape == (2, 12) and feats_kept.shape == (2, 4, 8)
  np.testing.assert_allclose(  # per-token head outputs, then their mean over the kept tokens
    np.asarray(out["q"]), np.asarray(bound.student_head(z)).mean(1), rtol=1e-5, atol=1e-6
  )
  np.testing.assert_allclose(
    np.asarray(out["p"]),
    np.asarray(bound.teacher_head(jnp.asarray(feats_kept))).mean(1),
    rtol=1e-5,
    atol=1e-6,
  )
  # change the pixels of one masked patch and of one visible patch (patch grid 4x4 of 4x4 pixels)
  m = np.asarray(mask)[0]
  masked, visible = int(np.flatnonzero(m == 1)[0]), int(keep[0, 0])

  def bump(t):
    y = np.asarray(x).copy()
    r, c = divmod(t, 4)
    y[0, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 3.0
    return model.apply({"params": params}, jnp.asarray(y), ids_keep, ids_restore)

  o_m, o_v = bump(masked), bump(visible)
  np.testing.assert_allclose(np.asarray(o_m["q"]), np.asarray(out["q"]), atol=1e-6)
  np.testing.assert_allclose(np.asarray(o_m["p"]), np.asarray(out["p"]), atol=1e-6)
  assert not np.allclose(np.asarray(o_v["q"][0]), np.asarray(out["q"][0]), atol=1e-4)
  assert not np.allclose(np.asarray(o_v["p"][0]), np.asarray(out["p"][0]), atol=1e-4)


def test_pretrain_loss_weights_mse_by_alpha():
  """Eq. 3 in the task's loss: total = alpha * MSE + (1 - alpha) * distill for the paper's 0.2 and the
  code's 0.8, with the MSE recomputed in NumPy from the model's predictions on the masked patches
  (targets normalized as ``loss.norm_pix``) and the same parts under both weights."""
  import os

  from common import config as config_lib
  from sdmae import task as task_lib
  from tests.common.helpers import ROOT

  key = jax.random.PRNGKey(9)
  seen = []
  for alpha in (0.2, 0.8):
    cfg = config_lib.load_config(
      os.path.join(ROOT, "configs/sdmae/pretrain.py:embedded,sdmae,smoke"), {"loss.alpha": alpha}
    )
    t = task_lib.make_task(cfg)
    x = jnp.asarray(
      np.random.default_rng(1).random((2, cfg.model.image_size, cfg.model.image_size, 3)),
      jnp.float32,
    )
    params, extra = t.init(key, {"image": x})
    total, (parts, _) = t.loss(params, extra, {"image": x}, key)
    np.testing.assert_allclose(
      float(total),
      alpha * float(parts["mse"]) + (1 - alpha) * float(parts["distill"]),
      rtol=1e-5,
      atol=1e-7,
    )
    seen.append((float(parts["mse"]), float(parts["distill"]), float(total)))
  assert seen[0][:2] == pytest.approx(seen[1][:2], rel=1e-6) and seen[0][2] != pytest.approx(
    seen[1][2]
  )
  # the MSE part, from scratch
  p = models.decode_variant(cfg.model.variant)["patch"]
  n = (cfg.model.image_size // p) ** 2
  ids_keep, ids_restore, mask = models.random_masking(key, 2, n, cfg.mask_ratio)
  model = models.MAE(
    cfg.model.variant,
    cfg.model.image_size,
    cfg.model.posemb,
    cfg.model.decoder_dim,
    cfg.model.decoder_depth,
    cfg.model.decoder_heads,
    cfg.model.decoder_embed_bias,
    heads=True,
    head=dict(cfg.model.head),
  )
  pred = np.asarray(model.apply({"params": params}, x, ids_keep, ids_restore)["pred"])
  xs = np.asarray(x)
  g = cfg.model.image_size // p
  errs = []
  for b in range(2):
    for t_i in np.flatnonzero(np.asarray(mask)[b] == 1):
      r, c = divmod(int(t_i), g)
      patch = xs[b, r * p : (r + 1) * p, c * p : (c + 1) * p]  # (p, p, 3)
      if cfg.loss.norm_pix == "per_channel":
        patch = (patch - patch.mean((0, 1))) / (patch.std((0, 1), ddof=1) + 1e-6)
      elif cfg.loss.norm_pix == "joint":
        patch = (patch - patch.mean()) / np.sqrt(patch.var(ddof=1) + 1e-6)
      errs.append(np.mean((pred[b, t_i] - patch.reshape(-1)) ** 2))
  np.testing.assert_allclose(float(parts["mse"]), np.mean(errs), rtol=1e-4)


@pytest.mark.parametrize("mode", ["pretrain", "finetune"])
def test_bfloat16_compute_keeps_float32_state_and_the_loss_within_tolerance(mode):
  """``model.dtype=bfloat16``: same parameters (float32, the same tree), float32 loss and gradients;
  on CPU a parity check, not a speed claim. The tolerance, 2% of the loss and a gradient cosine
  above 0.99, is what bfloat16's 8-bit mantissa leaves of a float32 step on the embedded set."""
  import os

  from common import config as config_lib
  from sdmae import task as task_lib
  from tests.common.helpers import ROOT

  spec = "pretrain.py:embedded,sdmae,smoke" if mode == "pretrain" else "finetune.py:embedded,smoke"
  key = jax.random.PRNGKey(3)
  out = {}
  for dtype in ("float32", "bfloat16"):
    cfg = config_lib.load_config(os.path.join(ROOT, "configs/sdmae", spec), {"model.dtype": dtype})
    t = task_lib.make_task(cfg)
    size = cfg.model.image_size
    batch = {
      "image": jnp.asarray(np.random.default_rng(1).random((4, size, size, 3)), jnp.float32),
      "label": jnp.arange(4) % 2,
    }
    params, extra = t.init(jax.random.PRNGKey(0), batch)
    value_and_grad = jax.jit(jax.value_and_grad(t.loss, has_aux=True))
    (loss, _), grads = value_and_grad(params, extra, batch, key)
    out[dtype] = (params, loss, grads)
  (p32, l32, g32), (p16, l16, g16) = out["float32"], out["bfloat16"]
  assert jax.tree.structure(p32) == jax.tree.structure(p16)
  for a, b in zip(jax.tree.leaves(p32), jax.tree.leaves(p16)):
    assert b.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same initial values
  assert l16.dtype == jnp.float32 and all(g.dtype == jnp.float32 for g in jax.tree.leaves(g16))
  np.testing.assert_allclose(float(l16), float(l32), rtol=0.02)
  flat = lambda g: np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)])
  a, b = flat(g32), flat(g16)
  assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.99
  assert not np.array_equal(a, b)  # bfloat16 did compute something


def test_unknown_dtype_is_a_config_error():
  import os

  from common import config as config_lib
  from common.config import ConfigError
  from sdmae import task as task_lib
  from tests.common.helpers import ROOT

  cfg = config_lib.load_config(
    os.path.join(ROOT, "configs/sdmae/pretrain.py:embedded,sdmae,smoke"), {"model.dtype": "fp8"}
  )
  with pytest.raises(ConfigError, match="model.dtype"):
    task_lib.make_task(cfg)
