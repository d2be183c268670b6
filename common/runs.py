"""Finished runs named on a command line (``--workdirs``): labels, checks, and seed groups.

Every evaluation script resolves its ``--workdirs`` here, so every workdir given becomes one row or
column under its own label, a bad workdir fails in one line before any work, and runs that differ only
in their seed can be pooled to mean +- std.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from common import checkpoint, config as config_lib
from common.errors import UserError

__all__ = ["resolve_workdirs", "seed_groups"]


def resolve_workdirs(items: Sequence[str]) -> dict[str, tuple[str, Any]]:
  """``LABEL=DIR`` or ``DIR`` items -> ``{label: (workdir, config)}`` in the order given.

  A bare ``DIR`` is labelled by its folder name. Each workdir's ``config.json`` is read now; a missing
  or unreadable one, or a label used twice, raises a one-line UserError.
  """
  out: dict[str, tuple[str, Any]] = {}
  for item in items:
    if not item:
      continue
    label, eq, wd = item.partition("=")
    if not eq:
      label, wd = os.path.basename(os.path.normpath(item)), item
    if not label or not wd:
      raise UserError(f"--workdirs item {item!r}: expected DIR or LABEL=DIR")
    if label in out:
      raise UserError(f"--workdirs: the label {label!r} is given twice ({out[label][0]} and {wd}); "
                      "label runs with LABEL=DIR")
    out[label] = (wd, checkpoint.read_config(wd))
  if not out:
    raise UserError("--workdirs is empty; give one or more training workdirs")
  return out


def seed_groups(configs: dict[str, Any], ignore: Sequence[str] = ("seed", "distributed")) -> list[list[str]]:
  """Labels whose configs are equal except for ``ignore`` keys: groups of two or more, in input order."""
  groups: list[list[str]] = []
  for label, cfg in configs.items():
    d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    for g in groups:
      ref = configs[g[0]]
      if not config_lib.diff(ref.to_dict() if hasattr(ref, "to_dict") else dict(ref), d, allowed=ignore):
        g.append(label)
        break
    else:
      groups.append([label])
  return [g for g in groups if len(g) > 1]
