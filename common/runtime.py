"""Devices, the ('data',) mesh, multi-host initialization and batch sharding.

One way to parallelize: ``jax.jit`` over a 1-D ``('data',)`` mesh with ``NamedSharding``. Parameters are
replicated, batches are split over the leading axis. Each process loads only its own shard of the global
batch; :func:`global_batch` stitches the per-process pieces into global arrays.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from common.errors import UserError

__all__ = [
  "initialize",
  "make_mesh",
  "replicated",
  "data_sharding",
  "global_batch",
  "local_batch_size",
  "is_main_process",
  "shutdown",
  "on_cpu",
  "host_bincount",
  "host_step_loop",
  "grain_read_options",
  "conv_compiler_options",
]


# Platform switches: every CPU-only workaround in the codebase asks one of these, so a GPU/TPU run
# takes the accelerator path and a test can force either path.


def on_cpu() -> bool:
  """Whether the default backend is the CPU (``MEDJAX_PLATFORM=cpu|accelerator`` overrides, for tests)."""
  forced = os.environ.get("MEDJAX_PLATFORM", "")
  if forced:
    return forced == "cpu"
  return jax.default_backend() == "cpu"


def host_bincount() -> bool:
  """Count histograms on the host with ``numpy.bincount``: XLA:CPU's scatter-add is serial (about 4x
  slower); on GPU/TPU the count stays on the device."""
  return on_cpu()


def host_step_loop() -> bool:
  """Drive a jitted step from Python rather than ``lax.scan`` over steps: XLA:CPU runs the
  convolutions' input gradients inside a while loop ~5x slower (pgdips, measured at 128x128); on
  GPU/TPU a scanned chunk saves the per-step dispatch."""
  return on_cpu()


def conv_compiler_options() -> dict:
  """``compiler_options`` for convolution-heavy jitted steps: on XLA:CPU, convolutions through oneDNN
  (``xla_cpu_experimental_onednn_custom_call``; the pgdips DIP network's forward + backward + Adam step
  at 128x128 takes 0.037 s instead of 0.056 s, the same gradients up to float32 rounding); ``{}`` on
  GPU/TPU, whose compilers do not take the option, and with ``MEDJAX_CPU_ONEDNN=0``. It asks the backend
  itself (not ``MEDJAX_PLATFORM``): the option exists only in the CPU compiler."""
  if jax.default_backend() != "cpu" or os.environ.get("MEDJAX_CPU_ONEDNN", "1") == "0":
    return {}
  return {"xla_cpu_experimental_onednn_custom_call": True}


def grain_read_options(data_cfg: Any = None) -> dict:
  """``num_threads`` / ``prefetch_batches`` for :func:`common.data.train_pipeline`.

  ``data.grain_threads`` / ``data.grain_prefetch`` in the config; 0 means the platform default: on a
  CPU host that also runs the model, 4 threads and 8 batches ahead (grain's own default, 16 threads
  and 500 ahead, starves evaluation and step dispatch on small hosts); with an accelerator, grain's.
  """
  threads = int(data_cfg.grain_threads) if data_cfg is not None else 0
  prefetch = int(data_cfg.grain_prefetch) if data_cfg is not None else 0
  cpu = on_cpu()
  return {
    "num_threads": threads or (4 if cpu else 16),
    "prefetch_batches": prefetch or (8 if cpu else 500),
  }


def initialize(cfg: Any = None) -> None:
  """Calls ``jax.distributed.initialize`` when the config or the environment asks for multi-host.

  The config's ``distributed`` block (``coordinator``, ``num_processes``, ``process_id``) or the
  environment (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``, or a cluster that
  JAX auto-detects, with ``MEDJAX_DISTRIBUTED=1``) turns it on. Safe to call twice.
  """
  if jax.distributed.is_initialized():
    return
  dist = cfg.distributed if cfg is not None else None
  if dist is not None and dist.coordinator:  # the config names the group: take all three from it
    jax.distributed.initialize(
      coordinator_address=dist.coordinator,
      num_processes=int(dist.num_processes),
      process_id=int(dist.process_id),
    )
  elif os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize(
      coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
      num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
      process_id=int(os.environ["JAX_PROCESS_ID"]),
    )
  elif os.environ.get("MEDJAX_DISTRIBUTED") == "1":
    jax.distributed.initialize()


def shutdown() -> None:
  """Leaves the multi-host group cleanly (all processes meet first), if it was joined."""
  if jax.distributed.is_initialized():
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices("medjax_shutdown")
    jax.distributed.shutdown()


def make_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh named ``'data'`` over every device of every process."""
  return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharding(mesh) -> NamedSharding:
  """Batches: the leading axis split over every mesh axis (``('data', 'fsdp')`` or ``('data',)``)."""
  names = tuple(mesh.axis_names)
  return NamedSharding(mesh, P(names if len(names) > 1 else names[0]))


# Dense bf16 peak FLOP/s per device from the vendors' data sheets (TFLOP/s), for MFU; matched as a
# substring of ``device.device_kind``, longest key first. A device not listed has no MFU unless the
# caller measures one (common.scaling does on CPU).
PEAK_TFLOPS = {
  "TPU v4": 275.0,
  "TPU v5 lite": 197.0,
  "TPU v5e": 197.0,
  "TPU v5p": 459.0,
  "TPU v5": 459.0,
  "TPU v6 lite": 918.0,
  "TPU v6e": 918.0,
  "TPU7x": 2307.0,
  "A100": 312.0,
  "H100": 989.0,
  "H200": 989.0,
  "B200": 2250.0,
  "L40S": 362.0,
  "L4": 121.0,
  "A10G": 70.0,
  "V100": 125.0,
}


def peak_flops_per_device(device_kind: str | None = None) -> float | None:
  """The table's peak FLOP/s of this device kind (None if unknown, e.g. CPU)."""
  kind = device_kind if device_kind is not None else jax.devices()[0].device_kind
  for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
    if key.lower() in kind.lower():
      return PEAK_TFLOPS[key] * 1e12
  return None


def compiled_stats(compiled) -> dict:
  """FLOPs and memory of one device's part of a compiled (partitioned) program, from XLA's cost and
  memory analyses: ``flops``, ``argument_bytes``, ``output_bytes``, ``temp_bytes``, ``alias_bytes`` and
  ``peak_bytes`` (arguments + outputs + temporaries - donated aliases)."""
  out = {}
  try:
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    out["flops"] = float(ca.get("flops", float("nan")))
  except Exception:  # noqa: BLE001  (some backends have no cost model)
    out["flops"] = float("nan")
  try:
    ma = compiled.memory_analysis()
    out.update(
      argument_bytes=int(ma.argument_size_in_bytes),
      output_bytes=int(ma.output_size_in_bytes),
      temp_bytes=int(ma.temp_size_in_bytes),
      alias_bytes=int(ma.alias_size_in_bytes),
    )
    out["peak_bytes"] = (
      out["argument_bytes"] + out["output_bytes"] + out["temp_bytes"] - out["alias_bytes"]
    )
  except Exception:  # noqa: BLE001
    pass
  return out


def device_memory_peak() -> int | None:
  """Peak bytes in use on the first local device, where the platform keeps statistics (GPU, TPU)."""
  stats = jax.local_devices()[0].memory_stats()
  return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def platform_summary(mesh=None) -> str:
  """One line recording what a run ran on: platform, device kind, device and process counts, mesh."""
  d = jax.devices()[0]
  line = (
    f"platform {d.platform}, device kind {d.device_kind}, {jax.device_count()} devices "
    f"({jax.local_device_count()} local), {jax.process_count()} process(es)"
  )
  if mesh is not None:
    line += ", mesh " + " x ".join(f"{n}={s}" for n, s in zip(mesh.axis_names, mesh.devices.shape))
  return line


def local_batch_size(global_batch_size: int) -> int:
  """This process's share of a global batch; checks divisibility with a one-line error."""
  n_dev, n_proc = jax.device_count(), jax.process_count()
  if global_batch_size % n_dev:
    raise UserError(
      f"batch_size {global_batch_size} is not divisible by the {n_dev} devices; "
      f"set --config.batch_size to a multiple of {n_dev}"
    )
  return global_batch_size // n_proc


def global_batch(mesh, local: Any) -> Any:
  """Per-process numpy batch (leading axis = local batch) -> global arrays sharded on 'data'."""
  sharding = data_sharding(mesh)
  return jax.tree.map(
    lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local
  )


def shard_full_batch(mesh, x):
  """A batch every process holds in full (evaluation) -> a global array split over 'data', so each
  device computes its share instead of all devices repeating the whole batch (which is what a jit over
  replicated parameters and an unsharded input does). Left as is when not divisible."""
  x = np.asarray(x)
  if x.shape[0] % jax.device_count():
    return x
  return jax.device_put(x, data_sharding(mesh))


def is_main_process() -> bool:
  return jax.process_index() == 0


class LocalBatched:
  """``fn`` jitted over a batch split across this process's devices only (each process working on its
  own inputs, as the whole-slide commands do): ``LocalBatched(fn)(x)`` pads ``x`` to a multiple of the
  local device count, runs, and returns the first ``len(x)`` rows as NumPy."""

  def __init__(self, fn: Callable):
    self.mesh = jax.make_mesh(
      (jax.local_device_count(),),
      ("data",),
      devices=jax.local_devices(),
      axis_types=(AxisType.Auto,),
    )
    self.sharding = NamedSharding(self.mesh, P("data"))
    self.fn = jax.jit(fn, in_shardings=self.sharding, out_shardings=self.sharding)

  def __call__(self, x: np.ndarray) -> np.ndarray:
    b, nd = len(x), self.mesh.devices.size
    pad = (-b) % nd
    if pad:
      x = np.concatenate([x, np.repeat(x[-1:], pad, 0)])
    return np.asarray(self.fn(jax.device_put(x, self.sharding)))[:b]
