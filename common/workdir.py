"""A workdir belongs to one run: an exclusive lock, and files replaced atomically."""

from __future__ import annotations

import fcntl
import os
import socket
import sys

from common.errors import UserError
from common.files import write_json_atomic  # noqa: F401  (re-exported)

__all__ = ["Lock", "write_json_atomic"]


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class Lock:
  """``<workdir>/.lock``: an ``fcntl`` lock held for the life of the run, plus the owner's pid and host.

  The kernel releases the lock when its process dies, so a lock left by a killed run is never in the
  way: it is taken over with a warning naming the dead owner. A lock held by a live process refuses a
  second process with one line. (On filesystems without ``flock`` the pid alone decides.)
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, ".lock")
    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    previous = os.read(self._fd, 256).decode(errors="replace").split()
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(self._fd)
      owner = f"process {previous[0]} on {previous[1]}" if len(previous) >= 2 else "another process"
      raise UserError(
        f"workdir {workdir} is in use by {owner}; wait for it to finish or use another --workdir"
      ) from None
    except OSError:  # no flock here: fall back to the pid check
      if (
        len(previous) >= 2
        and previous[1] == socket.gethostname()
        and previous[0].isdigit()
        and int(previous[0]) != os.getpid()
        and _alive(int(previous[0]))
      ):
        os.close(self._fd)
        raise UserError(
          f"workdir {workdir} is in use by process {previous[0]}; wait for it or use another "
          "--workdir"
        ) from None
    if len(previous) >= 2 and previous[0].isdigit() and int(previous[0]) != os.getpid():
      print(
        f"WARNING: taking over the stale lock of process {previous[0]} on {previous[1]} in {workdir} "
        "(that run ended without releasing it)",
        file=sys.stderr,
        flush=True,
      )
    os.ftruncate(self._fd, 0)
    os.lseek(self._fd, 0, os.SEEK_SET)
    os.write(self._fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    os.fsync(self._fd)

  def release(self) -> None:
    if self._fd is None:
      return
    os.ftruncate(self._fd, 0)
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None
