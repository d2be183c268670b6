"""Checkpoints: train state + grain iterator state + config, with orbax.

Saves are asynchronous and atomic (orbax writes ``<step>.orbax-checkpoint-tmp`` and renames it), the
last ``keep`` are kept, and each committed checkpoint's files get a SHA-256 in
``checksums-p<process>.json`` (recorded once the save has finished). :meth:`Checkpointer.restore_latest`
resumes from the newest checkpoint that verifies and reads back; a corrupted one (a checksum mismatch, a
truncated or missing file) is moved aside to ``<step>.corrupt`` (``.corrupt.1``, ... when that exists)
with a warning and the previous one is used. A workdir whose checkpoints are all unreadable stops with
one line and nothing moved. Killing the process at any point therefore loses at most the steps since
the last finished save.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from common.errors import UserError
from common.files import write_json_atomic
from common.trees import tree_path

__all__ = ["Checkpointer", "load_state", "read_config", "saved_config", "CorruptCheckpointError"]

log = logging.getLogger(__name__)


class CorruptCheckpointError(Exception):
  """A checkpoint's files differ from the checksums recorded when it was committed."""


def _digests(folder: str) -> dict[str, str]:
  """SHA-256 of every file under ``folder``, by path relative to it."""
  out = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, folder)] = hashlib.file_digest(f, "sha256").hexdigest()
  return out


def _abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
  """An orbax ``CheckpointManager`` holding ``state``, ``data`` (grain iterator) and ``meta`` items.

  Args:
    directory: where checkpoints live (``<workdir>/checkpoints``).
    keep: how many recent checkpoints to keep.
    config: a JSON-able dict stored once as the manager's metadata.
    async_save: write in a background thread (the device->host copy is still synchronous).
  """

  def __init__(
    self, directory: str, keep: int = 3, config: dict | None = None, async_save: bool = True
  ):
    if int(keep) < 1:
      raise UserError(
        f"keep_ckpts={keep} would keep no checkpoint; set --config.keep_ckpts to 1 or more"
      )
    self.directory = os.path.abspath(directory)
    self.keep, self.config, self.async_save = keep, config or {}, async_save
    self._mngr = self._make()
    self._unrecorded: list[int] = []  # saved steps whose checksums are not recorded yet
    self._sums_path = os.path.join(self.directory, f"checksums-p{jax.process_index()}.json")

  def _make(self):
    opts = ocp.CheckpointManagerOptions(
      max_to_keep=self.keep,
      create=True,
      enable_async_checkpointing=self.async_save,
      cleanup_tmp_directories=True,
    )
    return ocp.CheckpointManager(
      self.directory, options=opts, item_names=("state", "meta"), metadata={"config": self.config}
    )

  def all_steps(self) -> list[int]:
    return sorted(self._mngr.all_steps())

  def save(self, step: int, state: Any, data_iter: Any = None, meta: dict | None = None) -> None:
    # The grain iterator state is a small JSON dict, identical in every process (each process reads the
    # same number of local batches, see common.data.pipeline), so it rides in the JSON item. grain's own
    # orbax handler was not used: its per-item finalize raced between processes on a local filesystem.
    meta = {"step": int(step), **(meta or {})}
    if data_iter is not None:
      meta["data_iterator"] = data_iter.get_state()
    items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
    self._record_checksums()  # the previous save has committed by now (orbax waits for it first)
    self._mngr.save(int(step), args=ocp.args.Composite(**items), force=True)
    self._unrecorded.append(int(step))

  def _checksums(self) -> dict:
    try:
      with open(self._sums_path) as f:
        return json.load(f)
    except (OSError, json.JSONDecodeError):
      return {}

  def _record_checksums(self) -> None:
    """Waits for the save in flight, then records the SHA-256 of each newly committed checkpoint's files
    (the steps still on disk only)."""
    if not self._unrecorded:
      return
    self._mngr.wait_until_finished()
    sums = self._checksums()
    for step in self._unrecorded:
      folder = os.path.join(self.directory, str(step))
      if os.path.isdir(folder):
        sums[str(step)] = _digests(folder)
    self._unrecorded = []
    present = {str(s) for s in self._mngr.all_steps()}
    write_json_atomic(self._sums_path, {k: v for k, v in sums.items() if k in present})

  def _verify(self, step: int) -> None:
    """Raises CorruptCheckpointError where a file recorded for ``step`` is missing or differs (a step
    with no record, saved just before a kill, is read unverified)."""
    want = self._checksums().get(str(step))
    if not want:
      return
    folder = os.path.join(self.directory, str(step))
    for rel, digest in want.items():
      path = os.path.join(folder, rel)
      if not os.path.isfile(path):
        raise CorruptCheckpointError(f"{rel} is missing")
      with open(path, "rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != digest:
          raise CorruptCheckpointError(
            f"{rel} does not match the checksum recorded when it was saved"
          )

  def restore_latest(self, target_state: Any, data_iter: Any = None) -> tuple[Any, int] | None:
    """Restores the newest readable checkpoint into the shapes/shardings of ``target_state``.

    ``data_iter`` (a grain iterator) is restored in place. Returns ``(state, step)``, or None when there
    is no checkpoint. A checkpoint that fails its checksum or cannot be read is moved aside and the
    previous one tried; when none can be read, a UserError says so and nothing is moved. One whose arrays
    have other shapes than ``target_state`` is not corrupt but another model: that raises a UserError and
    nothing is moved.
    """
    abstract = _abstract(target_state)
    steps = self.all_steps()
    failed = []
    for step in reversed(steps):
      self._check_shapes(step, abstract)
      items = {"state": ocp.args.StandardRestore(abstract), "meta": ocp.args.JsonRestore()}
      try:
        self._verify(step)
        restored = self._mngr.restore(step, args=ocp.args.Composite(**items))
        state_iter = restored["meta"].get("data_iterator") if data_iter is not None else None
      except Exception as e:  # noqa: BLE001  (any read failure means: fall back)
        failed.append((step, e))
        continue
      if data_iter is not None:
        data_iter.set_state(state_iter)
      for bad, err in failed:
        self._quarantine(bad, err, step)
      return restored["state"], step
    if failed:
      step, e = failed[0]
      raise UserError(
        f"none of the {len(failed)} checkpoints in {self.directory} can be read (step {step}: "
        f"{_why(e)}); nothing was moved or overwritten: restore them from a copy, or train "
        "in a new --workdir"
      )
    return None

  def _check_shapes(self, step: int, abstract: Any) -> None:
    try:
      with ocp.StandardCheckpointer() as c:
        meta = c.metadata(os.path.join(self.directory, str(step), "state"))
      saved = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta
      saved_flat = {
        tree_path(p): tuple(m.shape)
        for p, m in jax.tree_util.tree_leaves_with_path(saved)
        if hasattr(m, "shape")
      }
    except Exception:  # noqa: BLE001  (unreadable metadata: the restore below finds it corrupt)
      return
    want = {tree_path(p): tuple(a.shape) for p, a in jax.tree_util.tree_leaves_with_path(abstract)}
    diff = [k for k in want if k in saved_flat and saved_flat[k] != want[k]]
    missing = [k for k in want if saved_flat and k not in saved_flat]
    if diff or (missing and len(missing) < len(want)):
      what = (
        f"{diff[0]}: saved {saved_flat[diff[0]]}, now {want[diff[0]]}"
        if diff
        else f"{missing[0]} is not in it"
      )
      raise UserError(
        f"checkpoint {self.directory}/{step} holds another model ({what}); the model config "
        "changed: start a new --workdir"
      )

  def _quarantine(self, step: int, err: Exception, fallback: int) -> None:
    src = os.path.join(self.directory, str(step))
    dst, n = src + ".corrupt", 0
    while os.path.exists(dst):  # an earlier quarantine of this step number is kept too
      n += 1
      dst = f"{src}.corrupt.{n}"
    msg = (
      f"checkpoint {src} is unreadable ({_why(err)}); moved to {dst}, resuming from step {fallback}"
    )
    log.warning(msg)
    print("WARNING: " + msg, flush=True)
    if jax.process_index() == 0:
      os.replace(src, dst)
    self._mngr.close()
    self._mngr = self._make()

  def metadata(self) -> dict:
    return self._mngr.metadata().custom_metadata or {}

  def wait(self) -> None:
    self._mngr.wait_until_finished()

  def close(self) -> None:
    self._mngr.wait_until_finished()
    self._record_checksums()
    self._mngr.close()


def _why(e: BaseException) -> str:
  return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"


def saved_config(directory: str) -> dict | None:
  """The config recorded in a checkpoint directory's metadata when its first checkpoint was saved (None
  when there is no checkpoint there)."""
  if not os.path.isdir(directory) or not any(n.isdigit() for n in os.listdir(directory)):
    return None
  try:
    mngr = ocp.CheckpointManager(
      os.path.abspath(directory),
      options=ocp.CheckpointManagerOptions(create=False, read_only=True),
      item_names=("state", "meta"),
    )
    try:
      return (mngr.metadata().custom_metadata or {}).get("config")
    finally:
      mngr.close()
  except Exception:  # noqa: BLE001  (no readable metadata: nothing to compare against)
    return None


def config_to_json(cfg) -> dict:
  """A ConfigDict as plain JSON data (best effort for non-JSON values)."""
  return json.loads(cfg.to_json_best_effort()) if hasattr(cfg, "to_json_best_effort") else dict(cfg)


def load_state(workdir: str, step: int | None = None) -> tuple[dict, int]:
  """Reads a saved train state as a plain pytree (for evaluation scripts and tests).

  Returns ``(state_dict, step)``; ``step`` defaults to the latest. A missing or unreadable checkpoint
  raises a one-line UserError.
  """
  d = os.path.join(os.path.abspath(workdir), "checkpoints")
  steps = sorted(int(s) for s in os.listdir(d) if s.isdigit()) if os.path.isdir(d) else []
  if not steps:
    raise UserError(
      f"no checkpoint under {d}; train first (python -m <method>.main ... --workdir={workdir})"
    )
  step = steps[-1] if step is None else step
  path = os.path.join(d, str(step), "state")
  try:
    with ocp.StandardCheckpointer() as c:
      meta = c.metadata(path)
      tree = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta
      dev = jax.sharding.SingleDeviceSharding(jax.devices()[0])
      abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=dev), tree)
      state = c.restore(path, abstract)
  except Exception as e:  # noqa: BLE001  (tensorstore/orbax raise many types for a damaged checkpoint)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    raise UserError(
      f"checkpoint {os.path.join(d, str(step))} cannot be read ({type(e).__name__}: {first}); "
      "it is damaged or incomplete: use an earlier step or re-train"
    ) from None
  return state, step


def read_config(workdir: str):
  """A workdir's ``config.json`` as a ConfigDict, or a one-line UserError."""
  import ml_collections

  path = os.path.join(workdir, "config.json")
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist")
  if not os.path.isfile(path):
    raise UserError(
      f"{workdir} has no config.json: it is not a training workdir (train with "
      f"python -m <method>.main --workdir={workdir})"
    )
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(json.load(f))
  except (OSError, json.JSONDecodeError) as e:
    raise UserError(f"{path} cannot be read ({e})") from None
