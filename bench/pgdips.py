"""PGDIPS batched throughput: tiles per second against the number of tiles solved at once (vmapped,
split over the devices), same tile size and iteration count; and, with ``--official=PATH`` (a checkout
of GJiananChen/PGDIPS), the official PyTorch script on the same tile and iteration count in the same run.

  python bench/pgdips.py [--size=32] [--steps=100] [--batches=1,2,4,8] [--official=PATH]
                         [--official_size=128] [--official_steps=10]

The official comparison uses the paper's networks (5 levels, 8-128 channels, 5x5 kernels; the official
net needs tiles of at least 128 px) on both sides, and medjax with ``smb_param="net"`` so that both
run the same five networks (2 concentration, 2 stain, 1 background). The official script runs under the
PyTorch venv (``make bench`` creates .venv-torch) through bench/_pgdips_official.py.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402


def _tile(size):
  from pgdips import synthetic

  c, s = synthetic.ihc_ground_truth(size, offset=(100, 100))
  return synthetic.synthesize(c, s, noise_std=1.0)


def _seconds(cfg, tiles):
  from pgdips import pipeline

  pipeline.fit(cfg, tiles)  # compile
  t0 = time.perf_counter()
  pipeline.fit(cfg, tiles)
  return time.perf_counter() - t0


def batched(size, steps, batches):
  from common import config as config_lib

  cfg = config_lib.load_config(
    os.path.join(_common.ROOT, "configs/pgdips/he.py:hdab,cpu"), {"num_steps": steps}
  )
  tile = _tile(size)
  print(
    f"| tiles at once ({size}x{size}, {steps} iterations, `cpu` nets, {jax.device_count()} devices) "
    "| s per call | tiles/s | speed-up vs 1 |"
  )
  print("|---|---|---|---|")
  base = None
  for b in batches:
    dt = _seconds(cfg, np.stack([tile] * b))
    tps = b / dt
    base = base or tps
    print(f"| {b} | {dt:.2f} | {tps:.3f} | {tps / base:.2f} |")


def official(path, size, steps):
  from PIL import Image

  from common import config as config_lib

  tile = _tile(size)
  with tempfile.TemporaryDirectory() as tmp:
    png = os.path.join(tmp, "tile.png")
    Image.fromarray(tile).save(png)
    if not os.path.exists(_common.TORCH_PY):
      print(
        f"(no PyTorch interpreter at {_common.TORCH_PY}: run 'make bench'; official comparison omitted)"
      )
      return
    out = subprocess.run(
      [
        _common.TORCH_PY,
        os.path.join(_common.ROOT, "bench", "_pgdips_official.py"),
        path,
        png,
        str(steps + 1),
      ],
      capture_output=True,
      text=True,
    )
    if out.returncode:
      print(
        f"(the official script failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"
      )
      return
    ref = json.loads(out.stdout.strip().splitlines()[-1])
  print(
    f"\n| {size}x{size} tile, paper nets, {steps} iterations | s per iteration | ratio (official / medjax) |"
  )
  print("|---|---|---|")
  print(
    f"| official PyTorch script (CPU, torch {ref.get('torch', '?')}) | {ref['s_per_step']:.3f} | 1.00 |"
  )
  for param in ("net", "direct"):
    cfg = config_lib.load_config(
      os.path.join(_common.ROOT, "configs/pgdips/he.py:hdab"),
      {"num_steps": steps, "smb_param": param},
    )
    # per iteration: the difference of a (3 steps)- and a steps-iteration solve, so that the per-solve
    # init, finish and transfers (outside the official timing too) cancel
    long = config_lib.replaced(cfg, {"num_steps": 3 * steps})
    s = (_seconds(long, tile[None]) - _seconds(cfg, tile[None])) / (2 * steps)
    what = (
      "5 networks as the official code"
      if param == "net"
      else "2 networks, S and B direct (the paper)"
    )
    print(f"| medjax, smb_param={param} ({what}) | {s:.3f} | {ref['s_per_step'] / s:.2f} |")


from absl import flags  # noqa: E402

flags.DEFINE_integer("size", 32, "tile size", lower_bound=8)
flags.DEFINE_integer("steps", 100, "timed iterations", lower_bound=1)
flags.DEFINE_list("batches", ["1", "2", "4", "8"], "tiles solved at once")
flags.DEFINE_string("official", None, "a checkout of the official PGDIPS code: also time it")
flags.DEFINE_integer(
  "official_size", 128, "tile size of the official-code comparison", lower_bound=8
)
flags.DEFINE_integer(
  "official_steps", 10, "iterations of the official-code comparison", lower_bound=1
)


def profile(path, size, steps):
  """Where the 5-network step's time goes: forward + backward + Adam of one network alone, medjax (jitted,
  with XLA's own convolutions and with ``runtime.conv_compiler_options``, oneDNN's on a CPU) against the
  official code's own network (PyTorch), with 1 output channel (concentration) and 3 (stain,
  background); the 5-network step is about 2 of the first and 3 of the second."""
  import jax.numpy as jnp

  out = subprocess.run(
    [
      _common.TORCH_PY,
      os.path.join(_common.ROOT, "bench", "_pgdips_official.py"),
      path,
      "--nets",
      str(size),
      str(steps),
    ],
    capture_output=True,
    text=True,
  )
  if out.returncode:
    print(
      f"(the official network failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"
    )
    return
  ref = json.loads(out.stdout.strip().splitlines()[-1])
  from common import runtime

  conv = runtime.conv_compiler_options()
  print(
    f"\n| one network, {size}x{size}, forward + backward + Adam | official (s) | medjax, XLA's convolutions (s) "
    f"| ratio | medjax, {'oneDNN' if conv else 'the same'} (s) | ratio |"
  )
  print("|---|---|---|---|---|---|")
  z = jnp.asarray(np.random.default_rng(0).uniform(-0.005, 0.005, (size, size, 3)), jnp.float32)
  for ch in (1, 3):
    secs = [_timed(*_nets_program((ch,), z, opts), steps) for opts in (None, conv or None)]
    r = ref[f"out{ch}"]
    print(
      f"| {ch} output channel(s) | {r:.4f} | {secs[0]:.4f} | {r / secs[0]:.2f} | {secs[1]:.4f} | {r / secs[1]:.2f} |"
    )
  _five_networks(size, steps, z, conv or None)


def _timed(f, state, steps):
  for _ in range(2):
    state = f(state)
  jax.block_until_ready(state)
  t0 = time.perf_counter()
  for _ in range(steps):
    state = f(state)
  jax.block_until_ready(state)
  return (time.perf_counter() - t0) / steps


def _nets_program(channels, z, conv):
  """-> (jitted forward + backward + Adam of one paper SkipNet per entry of ``channels`` (its output
  channels) in one program, its initial state)."""
  import optax

  from pgdips.models import SkipNet

  nets = [SkipNet(out_channels=ch) for ch in channels]
  tx = optax.adam(5e-4)

  def call(state):
    p, o = state
    g = jax.grad(lambda q: sum(net.apply(qi, z).mean() for net, qi in zip(nets, q)))(p)
    u, o = tx.update(g, o, p)
    return optax.apply_updates(p, u), o

  params = [net.init(jax.random.PRNGKey(i), z) for i, net in enumerate(nets)]
  return jax.jit(call, compiler_options=conv), (params, tx.init(params))


def _five_networks(size, steps, z, conv):
  """Whether joining the five networks in one step costs more than the networks: the five networks'
  forward + backward + Adam as five programs and as one, and medjax's whole ``smb_param="net"`` step."""
  from common import config as config_lib
  from pgdips import solver

  five = (1, 1, 3, 3, 3)
  apart = sum(_timed(*_nets_program((ch,), z, conv), steps) for ch in five)
  joined = _timed(*_nets_program(five, z, conv), steps)
  cfg = config_lib.load_config(
    os.path.join(_common.ROOT, "configs/pgdips/he.py:hdab"), {"smb_param": "net"}
  )
  tile = jax.numpy.asarray(_tile(size), jax.numpy.float32)
  sol = solver.Solver(cfg, (size, size), False)
  step = jax.jit(sol.step, compiler_options=conv)
  whole = _timed(lambda c: step(c, tile)[0], jax.jit(sol.init)(tile, jax.random.PRNGKey(0)), steps)
  print(
    f"\n| {size}x{size}, medjax, the 5 networks (2 x 1 + 3 x 3 output channels) | s per iteration |"
  )
  print("|---|---|")
  print(f"| five programs, one per network, summed | {apart:.4f} |")
  print(f"| one program with the five networks | {joined:.4f} |")
  print(f"| the whole smb_param=net step (losses, S/B read-out, Adam) | {whole:.4f} |")


def main(argv):
  del argv
  F = flags.FLAGS
  batched(F.size, F.steps, [int(b) for b in F.batches])
  if F.official:
    official(F.official, F.official_size, F.official_steps)
    profile(F.official, F.official_size, 4 * F.official_steps)
  print(f"(jax {jax.__version__}, {jax.default_backend()}, {os.cpu_count()} host cores)")


if __name__ == "__main__":
  from common import cli

  cli.run(main)
