"""Pytree paths as strings (a leaf module: checkpoints and shardings both name leaves this way)."""

from __future__ import annotations

__all__ = ["tree_path"]


def tree_path(keys) -> str:
  """A tree path as ``a/0/b`` whether it came from the saved metadata (dicts, lists) or the live state
  (dataclass attributes, namedtuples)."""
  out = []
  for k in keys:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        out.append(str(getattr(k, attr)))
        break
    else:
      out.append(str(k))
  return "/".join(out)
