"""PGDIPS zero-shot stain deconvolution as a pure function ``solve(rgb, key) -> result``.

One DIP network per stain produces its concentration map from fixed noise; the stain vectors S, the
per-stain spectral factors M and the background B are optimized directly (the paper), all with one
Adam, for ``num_steps`` iterations written as a ``lax.scan``. Because the solve is pure, a batch of
tiles is solved at once with ``vmap`` (each tile its own parameters) and spread over the devices of the
runtime's ('data',) mesh (:func:`solve_batch`).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax

from common import runtime
from common.logging import Progress
from pgdips import losses, physics
from pgdips.models import SkipNet
from pgdips.result import StainResult

__all__ = [
  "StainResult",
  "Solver",
  "dihedral",
  "make_solver",
  "solve_batch",
  "initial_stains",
]


def dihedral(x, a, square: bool = True):
  """The ``a``-th dihedral transform of the ``(..., H, W, C)`` array ``x``: identity, the three flips
  and, for square images, the transposes of those four (the 90/270-degree rotations and the two
  diagonal mirrors) -- the official code's 8 augmentations. ``a`` may be traced."""
  ops = [
    lambda v: v,
    lambda v: jnp.flip(v, -3),
    lambda v: jnp.flip(v, -2),
    lambda v: jnp.flip(v, (-3, -2)),
  ]
  if square:
    ops += [lambda v, f=f: jnp.swapaxes(f(v), -3, -2) for f in ops[:4]]
  return jax.lax.switch(a, ops, x)


CODE_STAINS = (
  (0.60, 0.75, 0.29),
  (0.21, 0.91, 0.36),
)  # the official code's default_stain_vector_1/_2


def initial_stains(cfg) -> np.ndarray:
  """``(N, 3)`` starting stain vectors and colour-anchoring targets: ``init_stains="ruifrok"`` the unit
  Ruifrok vectors of ``cfg.stains`` (also for "macenko", where the caller passes each tile's estimate
  as ``starts``: :func:`pgdips.pipeline.solve_tiles`); ``"code"`` the official code's two raw triples (every config of the code, H&E and IHC alike;
  a third stain keeps its Ruifrok vector)."""
  base = physics.default_stains(cfg.stains)
  if cfg.init_stains in ("ruifrok", "macenko"):
    return base
  if cfg.init_stains == "code":
    return np.asarray([CODE_STAINS[i] if i < 2 else base[i] for i in range(len(base))], np.float32)
  raise ValueError(
    f"init_stains={cfg.init_stains!r} is unknown; use 'ruifrok', 'code' or 'macenko'"
  )


def perturbation(step, peak: float = 0.009, after: float = 0.001):
  """Std of the noise added to the networks' inputs at ``step`` (from 0): the official code's
  ``0.001 * (step // 100)`` for the first 1000 steps, written as ``peak * (step // 100) / 9``, then ``after``."""
  return jnp.where(step < 1000, peak * jnp.minimum(step // 100, 9) / 9.0, after)


def _logit(p):
  p = jnp.clip(p, 1e-4, 1 - 1e-4)
  return jnp.log(p) - jnp.log1p(-p)


class Solver:
  """PGDIPS for images of one ``shape`` as pure functions (each vmap-able over tiles):

    init(rgb, key) -> carry;  run(carry, rgb, num_steps) -> (carry, history (num_steps, 3));
    finish(carry, rgb) -> dict(concentrations, net_concentrations, stains, m, background, recon)

  ``solve(rgb, key)`` chains them. ``run`` advances ``num_steps`` Adam iterations in one ``lax.scan``;
  ``step(carry, rgb)`` is one of them (what :func:`solve_batch` calls, jitted, from a Python loop). With ``fixed`` =
  dict(stains, m, background) S, M and B are held at those values and only the DIP networks are
  optimized (the shared-S/M/B tiling of whole-slide images).
  """

  def __init__(self, cfg, shape: tuple[int, int], fixed: bool = False):
    h, w = shape
    levels = len(cfg.net.channels)
    if h % 2**levels or w % 2**levels:
      raise ValueError(
        f"PGDIPS tiles must be divisible by {2**levels} (the DIP net has {levels} levels); "
        f"got {h}x{w}: crop, pad or tile the image"
      )
    self.cfg, self.shape, self.n = cfg, (h, w), len(cfg.stains)
    net_kw = dict(concat_norm=bool(cfg.net.concat_norm), align_corners=bool(cfg.net.align_corners))
    self.net = SkipNet(tuple(cfg.net.channels), tuple(cfg.net.skips), cfg.net.kernel, 1, **net_kw)
    self.default = jnp.asarray(initial_stains(cfg))
    self.reference = jnp.asarray(
      physics.default_stains(cfg.stains)
    )  # what the fitted stains are named after
    self.b_lo, self.b_hi = (float(v) for v in cfg.b_range)
    self.fixed = bool(fixed)
    if cfg.smb_param not in ("direct", "net"):
      raise ValueError(
        f"smb_param={cfg.smb_param!r} is unknown; use 'direct' (the paper) or 'net' (the official code)"
      )
    self.smb_net = cfg.smb_param == "net" and not self.fixed
    self.head = SkipNet(tuple(cfg.net.channels), tuple(cfg.net.skips), cfg.net.kernel, 3, **net_kw)
    self.tx = optax.adam(cfg.optim.lr)
    scale = float(cfg.optim.smb_lr_scale)
    if scale != 1.0:  # Adam is invariant to gradient scale, so scaling its updates scales the lr
      self.tx = optax.chain(
        self.tx, optax.masked(optax.scale(scale), lambda p: {k: k != "nets" for k in p})
      )

  def _unpack(self, p, z):
    """-> (S before normalization (N, 3), unit S (N, 3), M (N,), B transmittance (3,)).

    ``smb_param="direct"`` (the paper): S and B are free parameters squashed into range.
    ``smb_param="net"`` (the official code): S_k and B are the centre pixel of their own DIP net's
    3-channel sigmoid output, fed with that net's noise ``z["stain"][k]`` / ``z["bg"]``."""
    cfg, n = self.cfg, self.n
    if self.fixed:
      f = p["fixed"]
      return f["stains"], f["stains"], f["m"], f["background"]
    if self.smb_net:
      ch, cw = self.shape[0] // 2, self.shape[1] // 2
      centre = lambda net_p, zi: self.head.apply(net_p, zi)[ch, cw]
      s_pre = 0.9 * jnp.stack([centre(p["stain_nets"][i], z["stain"][i]) for i in range(n)]) + 0.05
      b_sig = centre(p["bg_net"], z["bg"])
    else:
      s_pre = 0.9 * jax.nn.sigmoid(p["s_raw"]) + 0.05  # (N, 3) in [0.05, 0.95]
      b_sig = jax.nn.sigmoid(p["b_raw"])
    b_trans = self.b_lo + (self.b_hi - self.b_lo) * b_sig if cfg.background else jnp.ones(3)
    s = s_pre / jnp.linalg.norm(s_pre, axis=1, keepdims=True)
    m = p["m"] if cfg.spectral_correction else jnp.ones(n)
    return s_pre, s, m, b_trans

  def _concentrations(self, p, z):
    # a Python loop over the N (2-3) stain networks: vmapping them inside the tile vmap made XLA build
    # an invalid grouped convolution
    return jnp.stack(
      [self.net.apply(p["nets"][i], z["conc"][i])[..., 0] for i in range(self.n)], axis=-1
    )

  def init(self, rgb, key, fixed: dict | None = None, noise_in=None, nets_in=None, anchor=None):
    """``fixed`` (with ``Solver(..., fixed=True)``): dict(stains (N, 3), m (N,), background (3,)).
    ``anchor``: this tile's ``(N, 3)`` starting stain vectors and colour-anchoring target (default: the
    config's :func:`initial_stains`; for ``init_stains="macenko"`` the tile's Macenko estimate).
    ``noise_in``: the concentration networks' fixed inputs ``(N, H, W, input_channels)`` (default: drawn
    from ``key`` as U(-0.5, 0.5) * input_scale). ``nets_in``: the concentration networks' initial weights
    (default: drawn from ``key``)."""
    cfg, n, (h, w) = self.cfg, self.n, self.shape
    k_net, k_z, k_steps, k_head, k_zh = jax.random.split(key, 5)
    noise = lambda k, lead: (
      jax.random.uniform(k, lead + (h, w, cfg.net.input_channels), minval=-0.5, maxval=0.5)
      * cfg.net.input_scale
    )
    z0 = {"conc": noise(k_z, (n,)) if noise_in is None else jnp.asarray(noise_in, jnp.float32)}
    nets = tuple(self.net.init(k, z0["conc"][i]) for i, k in enumerate(jax.random.split(k_net, n)))
    if nets_in is not None:
      nets = jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype), nets, tuple(nets_in))
    params = {"nets": nets}
    anchor = self.default if anchor is None else jnp.asarray(anchor, jnp.float32)
    if self.smb_net:
      k_s, k_b = jax.random.split(k_head)
      z0.update(stain=noise(k_zh, (n,)), bg=noise(jax.random.fold_in(k_zh, 1), ()))
      params.update(
        stain_nets=tuple(
          self.head.init(k, z0["stain"][i]) for i, k in enumerate(jax.random.split(k_s, n))
        ),
        bg_net=self.head.init(k_b, z0["bg"]),
        m=jnp.ones(n),
      )
    elif not self.fixed:
      params.update(
        s_raw=_logit((jnp.clip(anchor, 0.05, 0.95) - 0.05) / 0.9),
        m=jnp.ones(n),
        b_raw=jnp.full((3,), 2.0, jnp.float32),
      )  # not weak-typed: the step would compile twice
    carry = {
      "params": params,
      "opt": self.tx.init(params),
      "z0": z0,
      "key": k_steps,
      "step": jnp.zeros((), jnp.int32),
      "anchor": anchor,
    }
    if self.fixed:
      carry["fixed"] = {
        k: jnp.asarray(fixed[k], jnp.float32) for k in ("stains", "m", "background")
      }
    return carry

  def _with_fixed(self, p, carry):
    return {**p, "fixed": carry["fixed"]} if self.fixed else p

  def _loss(self, p, d, z0, step, k, anchor):
    cfg, l = self.cfg, self.cfg.loss
    ramp = perturbation(step, cfg.net.perturb_std, cfg.net.perturb_after)
    z = {"conc": z0["conc"] + ramp * jax.random.normal(k, z0["conc"].shape)}
    for i, name in enumerate(("stain", "bg")):
      if name in z0:
        z[name] = z0[name] + ramp * jax.random.normal(jax.random.fold_in(k, i + 1), z0[name].shape)
    if (
      cfg.augment
    ):  # the code: odd iterations the original, even ones cycle the dihedral transforms
      square = self.shape[0] == self.shape[1]
      a = jnp.where(step % 2 == 1, 0, (step // 2) % (8 if square else 4))
      z = jax.tree.map(lambda v: dihedral(v, a, square), z)
      d = dihedral(d, a, square)
    c = self._concentrations(p, z) * cfg.max_concentration
    s_pre, s, m, b_trans = self._unpack(p, z)
    d_hat = physics.compose(c, s, m, physics.transmittance_od(b_trans, cfg.log_base))
    rec = losses.recon_loss(d_hat, d, l.recon)
    excl = losses.exclusion_loss_multi(c / cfg.max_concentration, reduce=l.exclusion_pairs)
    total = l.alpha * rec + l.beta * excl
    if not self.fixed:
      if (
        self.n >= l.repulsion_stains and l.repulsion
      ):  # the code's term pushing the stain vectors apart
        total = total - l.repulsion * losses.stain_repulsion(s_pre)
      total = total + jnp.where(step < l.anchor_steps, l.anchor_weight, 0.0) * losses.anchor_loss(
        s_pre, anchor, b_trans, m, l.anchor_reduce
      )
    return total, (rec, excl)

  def step(self, carry, rgb):
    """One Adam iteration -> (carry, [total, reconstruction, exclusion] losses)."""
    d = physics.optical_density(rgb, self.cfg.i0, self.cfg.log_base)
    p, opt, step = carry["params"], carry["opt"], carry["step"]
    k = jax.random.fold_in(carry["key"], step)
    loss = lambda q: self._loss(
      self._with_fixed(q, carry), d, carry["z0"], step, k, carry["anchor"]
    )
    (total, (rec, excl)), g = jax.value_and_grad(loss, has_aux=True)(p)
    upd, opt = self.tx.update(g, opt, p)
    return {
      **carry,
      "params": optax.apply_updates(p, upd),
      "opt": opt,
      "step": step + 1,
    }, jnp.stack([total, rec, excl])

  def run(self, carry, rgb, num_steps: int):
    """``num_steps`` iterations as one ``lax.scan`` (pure; :func:`solve_batch` instead drives the jitted
    :meth:`step` from Python: XLA:CPU runs the convolutions' input gradients inside a while loop ~5x
    slower than the same step outside one, measured at 128x128)."""
    return jax.lax.scan(lambda c, _: self.step(c, rgb), carry, None, length=num_steps)

  def finish(self, carry, rgb):
    """The fitted model. ``readout="net"`` (the paper): C is the networks' output. ``"inverse"``: C is the
    per-pixel least-squares inversion of eq. 2 with the fitted S, M and B, clipped at 0 (or exact NNLS,
    ``inverse_solver="nnls"``), as the
    fixed-vector baselines read theirs out (the networks and their priors then serve to find S, M and B;
    ``net_concentrations`` keeps the networks' maps). Stain pairs fitted closer than
    ``inverse_min_separation`` degrees are inverted turned apart to that angle
    (:func:`physics.spread_stains`: the inversion's condition number stays below cot(theta / 2)), and the
    result's ``stains`` are those rows (C, S, M, B stay one model; ``fitted_stains`` is S as fitted). A fitted S is first named
    after the known colours of ``cfg.stains`` (:func:`physics.name_stains`, nearest first; M and the
    networks' maps follow): the stain fitted at hematoxylin's colour is called hematoxylin whatever
    network or start it came from (``order``; ``ambiguous``: two fitted stains about equally near one)."""
    cfg, p = self.cfg, self._with_fixed(carry["params"], carry)
    c_net = self._concentrations(p, carry["z0"]) * cfg.max_concentration
    _, s, m, b_trans = self._unpack(p, carry["z0"])
    order, ambiguous = jnp.arange(self.n), jnp.zeros((), bool)
    if not self.fixed:  # the fitted stains named after the known colours they are nearest
      order, ambiguous = physics.name_stains(s, self.reference)
      s, m, c_net = s[order], m[order], c_net[..., order]
    b_od = physics.transmittance_od(b_trans, cfg.log_base)
    if cfg.readout == "net":
      c, s_out = c_net, s
    elif cfg.readout == "inverse":
      d = physics.optical_density(rgb, cfg.i0, cfg.log_base) - b_od
      c, s_out = physics.invert_model(d, s, m, cfg.inverse_min_separation, cfg.inverse_solver)
    else:
      raise ValueError(f"readout={cfg.readout!r} is unknown; use 'net' (the paper) or 'inverse'")
    recon = physics.to_rgb(physics.compose(c, s_out, m, b_od), cfg.i0, cfg.log_base)
    return {
      "concentrations": c,
      "net_concentrations": c_net,
      "stains": s_out,
      "fitted_stains": s,
      "order": order,
      "ambiguous": ambiguous,
      "m": m,
      "background": b_trans,
      "recon": recon,
    }

  def solve(self, rgb, key, fixed: dict | None = None):
    carry, hist = self.run(self.init(rgb, key, fixed), rgb, self.cfg.num_steps)
    return {**self.finish(carry, rgb), "history": hist}


def make_solver(cfg, shape: tuple[int, int], fixed: bool = False):
  """Returns the pure ``solve(rgb_HxWx3 float/uint8, key[, fixed]) -> dict of arrays`` for ``shape``."""
  return Solver(cfg, shape, fixed).solve


_PROGRAMS: dict = {}
# config values the per-tile programs do not read (the iteration count is the Python loop's; the rest are
# the whole-image pipeline's): left out of the cache key, so that configs differing only in them (a
# per-tile-S/M/B run after a shared one, another iteration count) reuse the compiled programs
_NOT_IN_PROGRAMS = (
  "num_steps",
  "tile",
  "overlap",
  "share_smb",
  "estimate_tiles",
  "tile_steps",
  "tile_noise",
  "tile_init",
  "batch_tiles",
  "background_od",
  "progress_chunk",
  "match_percentile",
  "slide",
)


def _programs(cfg, shape, fixed: bool, mesh):
  """Jitted, device-sharded (init, step, finish) for one (config, tile shape, fixed) -- cached, so
  repeated calls (tiles of a large image, the CLI's two images) compile once."""
  used = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_IN_PROGRAMS}
  key = (
    json.dumps(used, sort_keys=True, default=str),
    tuple(shape),
    fixed,
    tuple(d.id for d in mesh.devices.flat),
    tuple(runtime.conv_compiler_options()),
  )
  if key not in _PROGRAMS:
    solver = Solver(cfg, shape, fixed)
    spec, rep = jax.sharding.PartitionSpec("data"), jax.sharding.PartitionSpec()
    # shard_map: each device vmaps over its own tiles. (Letting the SPMD partitioner split a vmapped
    # per-tile convolution, which XLA lowers to a grouped convolution, produced an invalid program.)
    # init and finish run once per batch: compiled without LLVM optimization (the weight initializers'
    # threefry kernels otherwise take most of the compile time: 18 s -> 2.5 s for a 2-level net's init)
    once = {"xla_backend_optimization_level": 0}
    init = jax.jit(
      jax.shard_map(
        jax.vmap(solver.init, in_axes=(0, 0, None, 0, None, 0)),
        mesh=mesh,
        in_specs=(spec, spec, rep, spec, rep, spec),
        out_specs=spec,
      ),
      compiler_options=once,
    )
    conv = runtime.conv_compiler_options()
    step = jax.jit(
      jax.shard_map(jax.vmap(solver.step), mesh=mesh, in_specs=spec, out_specs=spec),
      donate_argnums=0,
      compiler_options=conv or None,
    )
    finish = jax.jit(
      jax.shard_map(
        jax.vmap(lambda c, x: _with_nets(solver.finish(c, x), c["params"]["nets"])),
        mesh=mesh,
        in_specs=spec,
        out_specs=spec,
      ),
      compiler_options=once,
    )
    # accelerators (runtime.host_step_loop() False): n steps as one lax.scan per call, compiled per n
    scans = {}

    def scan(n: int):
      if n not in scans:
        scans[n] = jax.jit(
          jax.shard_map(
            jax.vmap(lambda c, x: solver.run(c, x, n)), mesh=mesh, in_specs=spec, out_specs=spec
          ),
          donate_argnums=0,
          compiler_options=conv or None,
        )
      return scans[n]

    _PROGRAMS[key] = (init, step, finish, scan)
  return _PROGRAMS[key]


def _with_nets(out: dict, nets) -> dict:
  """:meth:`Solver.finish`'s output with the concentration networks' parameters in its stain order."""
  stacked = jax.tree.map(lambda *v: jnp.stack(v), *nets)
  return {
    **out,
    "nets": tuple(
      jax.tree.map(lambda v, k=k: v[out["order"][k]], stacked) for k in range(len(nets))
    ),
  }


def solve_batch(
  cfg,
  tiles: np.ndarray,
  seed: int = 0,
  fixed: dict | None = None,
  chunk: int = 0,
  progress: bool = False,
  noise: np.ndarray | None = None,
  same_init: bool = False,
  init_nets=None,
  local: bool = False,
  starts: np.ndarray | None = None,
) -> list[StainResult]:
  """Solves ``(B, H, W, 3)`` tiles at once: vmapped over tiles, the batch split over the mesh's devices
  (B is padded to a multiple of the device count on multi-host runs; on one host a batch that does not
  divide the device count runs on the largest device subset that it divides). With ``progress``, a
  progress line with the ETA is printed every ``chunk`` iterations.

  ``noise`` ``(B, N, H, W, C)``: the networks' inputs per tile (default: drawn per tile from ``seed``);
  ``same_init``: every tile's networks start from the same weights (the whole-slide tiling, where
  neighbouring tiles should start from the same function of a slide-wide noise field); ``init_nets``:
  start every tile's concentration networks from these weights (a result's ``nets``); ``local``: this
  process's devices only (each process solving its own images, as the whole-slide runs do); ``starts``
  ``(B, N, 3)``: each tile's starting stain vectors and colour-anchoring targets (default: the config's
  :func:`initial_stains`; required for ``init_stains="macenko"`` unless S is ``fixed``, see
  :func:`pgdips.pipeline.solve_tiles`)."""
  tiles = np.asarray(tiles)
  b = len(tiles)
  devices = jax.local_devices() if local else jax.devices()
  nd = len(devices)
  if (local or jax.process_count() == 1) and b % nd:
    # fewer (or not a multiple of) tiles than devices: use the largest device subset that divides the
    # batch rather than padding with duplicate tiles that cost as much as real ones
    nd = max(m for m in range(1, min(b, nd) + 1) if b % m == 0)
    mesh = jax.make_mesh(
      (nd,), ("data",), devices=devices[:nd], axis_types=(jax.sharding.AxisType.Auto,)
    )
  elif local:
    mesh = jax.make_mesh(
      (nd,), ("data",), devices=devices, axis_types=(jax.sharding.AxisType.Auto,)
    )
  else:
    mesh = runtime.make_mesh()
  pad = (-b) % nd
  x = np.concatenate([tiles, np.repeat(tiles[-1:], pad, 0)]) if pad else tiles
  sharding = runtime.data_sharding(mesh)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(x))
  if same_init:
    keys = jnp.repeat(keys[:1], len(x), axis=0)
  if noise is not None:
    noise = np.asarray(noise, np.float32)
    if noise.shape[0] != b:
      raise ValueError(f"noise has {noise.shape[0]} tiles for a batch of {b}")
    noise = jax.device_put(
      np.concatenate([noise, np.repeat(noise[-1:], pad, 0)]) if pad else noise, sharding
    )
  init, step, finish, scan = _programs(cfg, tiles.shape[1:3], fixed is not None, mesh)
  total = int(cfg.num_steps)
  chunk = min(chunk, total) if chunk and chunk > 0 else total
  x_dev = jax.device_put(x.astype(np.float32), sharding)
  fixed_in = (
    None
    if fixed is None
    else {k: np.asarray(fixed[k], np.float32) for k in ("stains", "m", "background")}
  )
  if starts is None:
    if cfg.init_stains == "macenko" and fixed is None:
      raise ValueError(
        "init_stains='macenko' needs each tile's Macenko vectors: pass starts= "
        "(pgdips.pipeline.solve_tiles does)"
      )
    starts = np.broadcast_to(initial_stains(cfg), (b, len(cfg.stains), 3))
  starts = np.asarray(starts, np.float32)
  if starts.shape != (b, len(cfg.stains), 3):
    raise ValueError(f"starts has shape {starts.shape}; expected {(b, len(cfg.stains), 3)}")
  anchors = np.concatenate([starts, np.repeat(starts[-1:], pad, 0)]) if pad else starts
  carry = init(
    x_dev,
    jax.device_put(keys, sharding),
    fixed_in,
    noise,
    init_nets,
    jax.device_put(np.ascontiguousarray(anchors, np.float32), sharding),
  )
  bar = Progress(total, len(x), enabled=progress)
  hists = []
  if runtime.host_step_loop():  # CPU: one jitted step per iteration (see Solver.run)
    for i in range(total):
      carry, h = step(carry, x_dev)
      hists.append(h[:, None])
      if (i + 1) % chunk == 0 or i + 1 == total:
        _check_loss(np.asarray(h)[:, 0], i + 1, b)
        if progress:
          bar.update(i + 1, {"loss": float(np.mean(np.asarray(h)[:, 0]))})
  else:  # GPU/TPU: ``chunk`` iterations per dispatch, scanned on the device
    done = 0
    for end in sorted(set(range(chunk, total, chunk)) | {total}):
      carry, h = scan(end - done)(carry, x_dev)
      hists.append(h)
      done = end
      if end % chunk == 0 or end == total:
        last = np.asarray(h[:, -1, 0])  # one scalar per tile to the host; the history stays
        _check_loss(last, end, b)
        if progress:
          bar.update(done, {"loss": float(np.mean(last))})
  return _results(
    cfg, jax.device_get(finish(carry, x_dev)), np.concatenate(jax.device_get(hists), axis=1), b
  )


def _check_loss(loss: np.ndarray, step: int, b: int) -> None:
  """Stops a fit whose loss is no longer finite (at the progress checks, every ``chunk`` iterations)."""
  bad = np.flatnonzero(~np.isfinite(loss[:b]))
  if bad.size:
    raise FloatingPointError(
      f"PGDIPS diverged: the loss of tile {int(bad[0])} is {float(loss[bad[0]])} at "
      f"iteration {step}; lower --config.optim.lr"
    )


def _results(cfg, out: dict, hist: np.ndarray, b: int) -> list[StainResult]:
  """The first ``b`` tiles of a batched :meth:`Solver.finish` (host arrays) and history ``(B, steps, 3)``."""
  return [
    StainResult(
      concentrations=out["concentrations"][i],
      net_concentrations=out["net_concentrations"][i],
      stains=out["stains"][i],
      fitted_stains=out["fitted_stains"][i],
      order=out["order"][i],
      names_ambiguous=bool(out["ambiguous"][i]),
      recon=np.round(out["recon"][i]).astype(np.uint8),
      m=out["m"][i],
      background=out["background"][i],
      history=hist[i],
      nets=jax.tree.map(lambda v: v[i], out["nets"]),
    )
    for i in range(b)
  ]
