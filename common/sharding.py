"""Parameter sharding: a ``('data', 'fsdp')`` mesh and rules that place each train-state leaf on it.

Pure data parallelism is ``fsdp=1``: every leaf replicated, the batch split over all devices. With
``fsdp=n`` (FSDP / ZeRO-3 in the style of big_vision's and MaxText's rules), each large leaf is split
along one dimension over the ``fsdp`` axis, so a device holds 1/n of it; the batch is still split over
every device (``data`` x ``fsdp``), and XLA inserts the all-gathers of the parameters before use and
the reduce-scatters of their gradients, from the shardings the jitted step declares. Optimizer state
follows its parameters: the rules see the same path suffix and shape.

Config (``cfg.sharding``, :func:`common.config.sharding`):
  mesh: ``{data: -1, fsdp: 1}``; ``-1`` takes the devices left over.
  min_size: leaves with fewer elements stay replicated (biases, norms, counters).
  rules: ``"regex=tactic"`` strings tried in order against the leaf's path (``params/encoder/...``);
    tactics: ``fsdp`` (the largest dimension that the fsdp size divides), ``replicate``, ``dimK``
    (dimension K, negative from the end, if divisible; else replicated). No match: replicated.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from common.config import ConfigError
from common.trees import tree_path as _path

__all__ = ["make_mesh", "mesh_shape", "spec_for", "state_shardings", "per_device_bytes"]


def mesh_shape(mesh_cfg, n_devices: int) -> tuple[int, int]:
  """``(data, fsdp)`` sizes for ``n_devices``, with one ``-1`` filled in; a one-line error otherwise."""
  data, fsdp = int(mesh_cfg.data), int(mesh_cfg.fsdp)
  if data == -1 and fsdp == -1:
    raise ConfigError("sharding.mesh: only one of data, fsdp may be -1")
  if fsdp == -1:
    fsdp = n_devices // data if data > 0 and n_devices % data == 0 else 0
  if data == -1:
    data = n_devices // fsdp if fsdp > 0 and n_devices % fsdp == 0 else 0
  if data < 1 or fsdp < 1 or data * fsdp != n_devices:
    raise ConfigError(
      f"sharding.mesh data={mesh_cfg.data}, fsdp={mesh_cfg.fsdp} does not fit {n_devices} "
      "devices; set --config.sharding.mesh.fsdp to a divisor of the device count (data=-1)"
    )
  return data, fsdp


def make_mesh(sharding_cfg=None) -> jax.sharding.Mesh:
  """The ``('data', 'fsdp')`` mesh over every device of every process (``fsdp=1`` without a config)."""
  n = jax.device_count()
  data, fsdp = (n, 1) if sharding_cfg is None else mesh_shape(sharding_cfg.mesh, n)
  return jax.make_mesh((data, fsdp), ("data", "fsdp"), axis_types=(AxisType.Auto, AxisType.Auto))


def _parse_rules(rules) -> list[tuple[re.Pattern, str]]:
  out = []
  for r in rules:
    pattern, eq, tactic = str(r).rpartition("=")
    if not eq or not (tactic in ("fsdp", "replicate") or re.fullmatch(r"dim-?\d+", tactic)):
      raise ConfigError(f"sharding.rules entry {r!r}: expected 'regex=fsdp|replicate|dimK'")
    out.append((re.compile(pattern), tactic))
  return out


def spec_for(path: str, shape: tuple[int, ...], fsdp: int, rules, min_size: int) -> P:
  """The PartitionSpec of one leaf (see the module docstring)."""
  if fsdp == 1 or int(np.prod(shape, dtype=np.int64)) < min_size or not shape:
    return P()
  for pattern, tactic in rules:
    if not pattern.search(path):
      continue
    if tactic == "replicate":
      return P()
    if tactic == "fsdp":
      dims = sorted(range(len(shape)), key=lambda d: (-shape[d], -d))  # largest; ties: the last
      dim = next((d for d in dims if shape[d] % fsdp == 0), None)
    else:
      dim = int(tactic[3:]) % len(shape)
      dim = dim if shape[dim] % fsdp == 0 else None
    if dim is None:
      return P()
    return P(*([None] * dim + ["fsdp"] + [None] * (len(shape) - dim - 1)))
  return P()


def state_shardings(abstract_state: Any, mesh, sharding_cfg=None) -> Any:
  """A NamedSharding per leaf of ``abstract_state`` (shape-dtype structs or arrays)."""
  fsdp = int(dict(zip(mesh.axis_names, mesh.devices.shape)).get("fsdp", 1))
  rules = _parse_rules(sharding_cfg.rules) if sharding_cfg is not None else []
  min_size = int(sharding_cfg.min_size) if sharding_cfg is not None else 0
  return jax.tree_util.tree_map_with_path(
    lambda p, x: NamedSharding(mesh, spec_for(_path(p), tuple(x.shape), fsdp, rules, min_size)),
    abstract_state,
  )


def per_device_bytes(tree: Any) -> int:
  """Bytes of ``tree``'s arrays held by the first device (from the arrays' own shardings)."""
  dev = jax.devices()[0]
  total = 0
  for x in jax.tree.leaves(tree):
    for s in x.addressable_shards:
      if s.device == dev:
        total += s.data.nbytes
  return total
