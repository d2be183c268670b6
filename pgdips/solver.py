"""PGDIPS zero-shot stain deconvolution as a pure function ``solve(rgb, key) -> result``.

One DIP network per stain produces its concentration map from fixed noise; the stain vectors S, the
per-stain spectral factors M and the background B are optimized directly (the paper), all with one
Adam, for ``num_steps`` iterations written as a ``lax.scan``. Because the solve is pure, a batch of
tiles is solved at once with ``vmap`` (each tile its own parameters) and spread over the devices of the
runtime's ('data',) mesh (:func:`solve_batch`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from common import runtime
from pgdips import losses, physics
from pgdips.models import SkipNet

__all__ = ["StainResult", "make_solver", "solve_batch"]


@dataclasses.dataclass
class StainResult:
  """What every deconvolution method returns (PGDIPS and the baselines)."""
  concentrations: np.ndarray  # (H, W, N) in optical-density units per unit stain vector
  stains: np.ndarray          # (N, 3) unit OD vectors
  recon: np.ndarray           # (H, W, 3) uint8 reconstruction
  m: np.ndarray | None = None  # (N,) spectral correction factors
  background: np.ndarray | None = None  # (3,) background transmittance B in (0, 1]
  history: np.ndarray | None = None


def _logit(p):
  p = jnp.clip(p, 1e-4, 1 - 1e-4)
  return jnp.log(p) - jnp.log1p(-p)


def make_solver(cfg, shape: tuple[int, int]):
  """Returns ``solve(rgb_HxWx3 float/uint8, key) -> dict of arrays`` for images of ``shape``."""
  h, w = shape
  levels = len(cfg.net.channels)
  if h % 2**levels or w % 2**levels:
    raise ValueError(f"PGDIPS tiles must be divisible by {2**levels} (the DIP net has {levels} levels); "
                     f"got {h}x{w}: crop, pad or tile the image")
  n = len(cfg.stains)
  net = SkipNet(tuple(cfg.net.channels), tuple(cfg.net.skips), cfg.net.kernel, 1)
  default = jnp.asarray(physics.default_stains(cfg.stains))
  l = cfg.loss
  tx = optax.adam(cfg.optim.lr)

  def unpack(p):
    s_pre = 0.9 * jax.nn.sigmoid(p["s_raw"]) + 0.05         # (N, 3) in [0.05, 0.95]
    s = s_pre / jnp.linalg.norm(s_pre, axis=1, keepdims=True)
    b_trans = 0.9 * jax.nn.sigmoid(p["b_raw"]) + 0.1 if cfg.background else jnp.ones(3)
    m = p["m"] if cfg.spectral_correction else jnp.ones(n)
    return s_pre, s, m, b_trans

  def concentrations(p, z):
    # a Python loop over the N (2-3) stain networks: vmapping them inside the tile vmap made XLA build
    # an invalid grouped convolution
    return jnp.stack([net.apply(p["nets"][i], z[i])[..., 0] for i in range(n)], axis=-1)  # (H, W, N)

  def solve(rgb, key):
    d = physics.optical_density(rgb, cfg.i0, cfg.log_base)
    k_net, k_z, k_steps = jax.random.split(key, 3)
    z0 = jax.random.uniform(k_z, (n, h, w, cfg.net.input_channels), minval=-0.5, maxval=0.5) * cfg.net.input_scale
    nets = tuple(net.init(k, z0[i]) for i, k in enumerate(jax.random.split(k_net, n)))
    params = {"nets": nets, "s_raw": _logit((jnp.clip(default, 0.05, 0.95) - 0.05) / 0.9),
              "m": jnp.ones(n), "b_raw": jnp.full((3,), 2.0)}

    def loss_fn(p, step, k):
      ramp = cfg.net.perturb_std * jnp.minimum(step // 100, 9) / 9.0
      z = z0 + ramp * jax.random.normal(k, z0.shape)
      c = concentrations(p, z) * cfg.max_concentration
      s_pre, s, m, b_trans = unpack(p)
      d_hat = physics.compose(c, s, m, physics.transmittance_od(b_trans, cfg.log_base))
      rec = losses.recon_loss(d_hat, d, l.recon)
      excl = losses.exclusion_loss_multi(c / cfg.max_concentration)
      anchor = jnp.mean((s_pre - default) ** 2) + jnp.mean((b_trans - 1.0) ** 2) + jnp.mean((m - 1.0) ** 2)
      total = l.alpha * rec + l.beta * excl + jnp.where(step < l.anchor_steps, l.anchor_weight, 0.0) * anchor
      return total, (rec, excl)

    def step_fn(carry, step):
      p, opt = carry
      (total, (rec, excl)), g = jax.value_and_grad(loss_fn, has_aux=True)(p, step, jax.random.fold_in(k_steps, step))
      upd, opt = tx.update(g, opt, p)
      return (optax.apply_updates(p, upd), opt), jnp.stack([total, rec, excl])

    (p, _), hist = jax.lax.scan(step_fn, (params, tx.init(params)), jnp.arange(cfg.num_steps))
    c = concentrations(p, z0) * cfg.max_concentration
    _, s, m, b_trans = unpack(p)
    recon = physics.to_rgb(physics.compose(c, s, m, physics.transmittance_od(b_trans, cfg.log_base)), cfg.i0,
                           cfg.log_base)
    return {"concentrations": c, "stains": s, "m": m, "background": b_trans, "recon": recon, "history": hist}

  return solve


def solve_batch(cfg, tiles: np.ndarray, seed: int = 0) -> list[StainResult]:
  """Solves ``(B, H, W, 3)`` tiles at once: vmapped over tiles, the batch split over the mesh's devices
  (B is padded to a multiple of the device count)."""
  tiles = np.asarray(tiles)
  b = len(tiles)
  mesh = runtime.make_mesh()
  nd = jax.device_count()
  pad = (-b) % nd
  x = np.concatenate([tiles, np.repeat(tiles[-1:], pad, 0)]) if pad else tiles
  keys = jax.random.split(jax.random.PRNGKey(seed), len(x))
  solve = make_solver(cfg, tiles.shape[1:3])
  sharding = runtime.data_sharding(mesh)
  # shard_map: each device vmaps over its own tiles. (Letting the SPMD partitioner split a vmapped
  # per-tile convolution, which XLA lowers to a grouped convolution, produced an invalid program.)
  spec = jax.sharding.PartitionSpec("data")
  fn = jax.jit(jax.shard_map(jax.vmap(solve), mesh=mesh, in_specs=(spec, spec), out_specs=spec))
  out = jax.device_get(fn(jax.device_put(x.astype(np.float32), sharding), jax.device_put(keys, sharding)))
  return [StainResult(concentrations=out["concentrations"][i], stains=out["stains"][i],
                      recon=np.round(out["recon"][i]).astype(np.uint8), m=out["m"][i],
                      background=out["background"][i], history=out["history"][i]) for i in range(b)]


