"""Writing user-facing files safely: atomically, and never over an input.

:func:`atomic_path` gives a temporary name beside the final one (same suffix, so PIL, NumPy, tifffile and
matplotlib pick the same format); the file is renamed into place only when the writer returns, so a
crash, a full disk or a kill leaves the previous file or none, never a truncated one under the final
name. :func:`check_outputs` compares every file a command will write with every input by identity
(device and inode: a hard link or a symlink to an input is the input) before any work.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence

from common.errors import UserError

__all__ = [
  "atomic_path",
  "write_json_atomic",
  "write_text_atomic",
  "check_outputs",
  "check_out_dir",
]


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """``with atomic_path(p) as tmp: write(tmp)``: ``tmp`` becomes ``p`` (mode 0666 less the umask, as
  ``open`` would create it) only if the block returns; otherwise it is removed."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  base = os.path.basename(path)
  stem, dot, suffix = base.rpartition(".")
  fd, tmp = tempfile.mkstemp(
    dir=folder, prefix=f".{stem or base}.tmp-", suffix=f".{suffix}" if dot else ""
  )
  os.close(fd)
  try:
    yield tmp
    with open(tmp, "rb+") as f:
      os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def write_text_atomic(path: str, text: str) -> None:
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    f.write(text)


def write_json_atomic(path: str, obj) -> None:
  """JSON to ``path`` through :func:`atomic_path`."""
  write_text_atomic(path, json.dumps(obj, indent=1))


def _identity(path: str):
  try:
    st = os.stat(path)
  except OSError:
    return None
  return st.st_dev, st.st_ino


def check_outputs(outputs: Sequence[str], inputs: Sequence[str] = ()) -> None:
  """Before any work: output paths are distinct, none is an input (by path, or by device and inode for
  files that exist: hard links and symlinks included), and their folders are writable."""
  ins = {os.path.realpath(p): p for p in inputs if not str(p).startswith("bundled:")}
  ids = {_identity(p): p for p in ins}
  ids.pop(None, None)
  seen = set()
  for out in outputs:
    real = os.path.realpath(out)
    same = ins.get(real) or ids.get(_identity(real))
    if same is not None:
      raise UserError(
        f"output {out!r} is the input {same!r} (the same file); choose another --out so the "
        "input is not overwritten"
      )
    if real in seen:
      raise UserError(f"two outputs would be written to {out!r}; give the inputs distinct names")
    seen.add(real)
    if os.path.isdir(real):
      raise UserError(f"output {out!r} is a directory; give a file name")
    probe = os.path.dirname(real) or "."
    while not os.path.exists(probe):
      probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
      raise UserError(f"cannot write {out!r}: {probe!r} is not a writable folder")


def check_out_dir(out: str) -> str:
  """An output folder that exists or can be made, and is writable (checked before any work)."""
  if not out:
    raise UserError("--out is empty; give an output folder")
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserError(f"--out={out!r} is a file; give a folder")
  probe = os.path.abspath(out)
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
    raise UserError(f"cannot write under --out={out!r}: {probe!r} is not writable")
  return out
