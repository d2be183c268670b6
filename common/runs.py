"""Finished runs named on a command line (``--workdirs``): labels, checks, and seed groups.

Every evaluation script resolves its ``--workdirs`` here, so every workdir given becomes one row or
column under its own label, a bad workdir fails in one line before any work, and runs that differ only
in their seed can be pooled to mean +- std.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from common import checkpoint
from common import config as config_lib
from common.errors import UserError

__all__ = [
  "Run",
  "load_run",
  "resolve_workdirs",
  "seed_groups",
  "last_checkpoint",
  "train_unless_done",
]


@dataclasses.dataclass
class Run:
  """A finished (or running) training run read back from its workdir."""

  workdir: str
  cfg: Any  # the run's config (ml_collections.ConfigDict, unlocked)
  state: dict  # params, extra, opt_state, step as host arrays
  step: int

  @property
  def variables(self) -> dict:
    """``{"params": ..., **extra}``: what a Flax ``model.apply`` takes."""
    return {"params": self.state["params"], **(self.state.get("extra") or {})}

  def task(self):
    """The run's :class:`common.trainer.Task`, built from its own config."""
    from common import trainer

    return trainer.resolve_task(self.cfg)


def load_run(workdir: str, step: int | None = None) -> Run:
  """config.json + the latest (or ``step``) checkpoint of a workdir, as a :class:`Run`."""
  cfg = checkpoint.read_config(workdir)
  state, step = checkpoint.load_state(workdir, step)
  return Run(os.path.abspath(workdir), cfg, state, step)


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
      raise UserError(
        f"--workdirs: the label {label!r} is given twice ({out[label][0]} and {wd}); "
        "label runs with LABEL=DIR"
      )
    out[label] = (wd, checkpoint.read_config(wd))
  if not out:
    raise UserError("--workdirs is empty; give one or more training workdirs")
  return out


def seed_groups(
  configs: dict[str, Any], ignore: Sequence[str] = ("seed", "distributed")
) -> list[list[str]]:
  """Labels whose configs are equal except for ``ignore`` keys: groups of two or more, in input order."""
  groups: list[list[str]] = []
  for label, cfg in configs.items():
    d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    for g in groups:
      ref = configs[g[0]]
      if not config_lib.diff(
        ref.to_dict() if hasattr(ref, "to_dict") else dict(ref), d, allowed=ignore
      ):
        g.append(label)
        break
    else:
      groups.append([label])
  return [g for g in groups if len(g) > 1]


def last_checkpoint(workdir: str) -> int | None:
  """The newest checkpoint step saved in a workdir, or None."""
  d = os.path.join(workdir, "checkpoints")
  steps = [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(d) else []
  return max(steps, default=None)


def train_unless_done(cfg, workdir: str, label: str, verbose: bool = True) -> None:
  """For multi-run studies: skip a run whose last checkpoint reached ``total_steps``, resume an
  interrupted one, start a new one; prints one line per run with the time it took."""
  import time

  from common import trainer

  done = last_checkpoint(workdir)
  if done is not None and done >= cfg.total_steps:
    print(f"{label}: finished ({done} steps), skipped", flush=True)
    return
  t0 = time.time()
  print(
    f"{label}: training {cfg.total_steps} steps" + (f" from step {done}" if done else ""),
    flush=True,
  )
  trainer.train(cfg, trainer.resolve_task(cfg), workdir, verbose=verbose)
  print(f"{label}: {time.time() - t0:.0f} s", flush=True)
