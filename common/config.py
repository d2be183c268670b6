"""Config files and command-line overrides.

A config file is ``configs/<method>/<experiment>.py`` defining ``get_config(arg=None)`` that returns an
``ml_collections.ConfigDict``. It is named on the command line as ``--config=path[:arg]``; any field can
be overridden with ``--config.a.b=value`` (value parsed as a Python literal, falling back to a string).
The loaded config is locked: an override naming a field that does not exist fails with one line that
lists the closest existing keys.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import sys
from typing import Any, Sequence

import ml_collections

__all__ = ["ConfigError", "load_config", "apply_overrides", "parse_flags", "flat_keys"]


class ConfigError(ValueError):
  """A config file or override is wrong; the message says what and how to fix it."""


def _load_module(path: str):
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path!r} does not exist; pass --config=configs/<method>/<experiment>.py[:arg]")
  name = "medjax_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path!r} defines no get_config(arg=None)")
  return module


def load_config(spec: str, overrides: Sequence[str] | dict[str, Any] = ()) -> ml_collections.ConfigDict:
  """Loads ``path[:arg]``, applies overrides, and returns the locked config.

  Args:
    spec: ``configs/x/y.py`` or ``configs/x/y.py:arg`` (the arg is passed to ``get_config``).
    overrides: ``["a.b=1", ...]`` strings or a ``{"a.b": 1}`` dict.

  Returns:
    A locked ``ConfigDict``.
  """
  path, _, arg = spec.partition(":")
  module = _load_module(path)
  try:
    cfg = module.get_config(arg) if arg else module.get_config()
  except TypeError:
    cfg = module.get_config(arg or None)
  if not isinstance(cfg, ml_collections.ConfigDict):
    raise ConfigError(f"{path}: get_config must return an ml_collections.ConfigDict, got {type(cfg).__name__}")
  cfg.lock()
  apply_overrides(cfg, overrides)
  return cfg


def replaced(cfg: ml_collections.ConfigDict, overrides: dict[str, Any]) -> ml_collections.ConfigDict:
  """A copy of ``cfg`` with ``overrides`` applied (checked like command-line overrides); ``cfg`` is unchanged."""
  out = ml_collections.ConfigDict(cfg.to_dict())
  apply_overrides(out, overrides)
  return out


def flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  """All dotted leaf and node keys of a config."""
  keys = []
  for k, v in cfg.items():
    full = f"{prefix}{k}"
    keys.append(full)
    if isinstance(v, ml_collections.ConfigDict):
      keys.extend(flat_keys(v, full + "."))
  return keys


def _parse_value(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_overrides(cfg: ml_collections.ConfigDict, overrides: Sequence[str] | dict[str, Any]) -> None:
  """Sets dotted keys on a locked config, with a one-line error for an unknown key or a bad type."""
  items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
  known = flat_keys(cfg)
  for key, value in items:
    if isinstance(value, str) and not isinstance(overrides, dict):
      value = _parse_value(value)
    node = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
      here = ".".join(parts[: i + 1])
      if here not in known:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see the config file for the fields"
        raise ConfigError(f"unknown config key {key!r}{hint}")
      if i < len(parts) - 1:
        node = node[part]
    current = node[parts[-1]]
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    if isinstance(current, tuple) and isinstance(value, list):
      value = tuple(value)
    try:
      node[parts[-1]] = value
    except TypeError as e:
      raise ConfigError(f"config key {key!r}: cannot set {value!r} ({type(value).__name__}): "
                        f"field holds {type(current).__name__}") from e


def _split(override: str) -> tuple[str, str]:
  if "=" not in override:
    raise ConfigError(f"override {override!r} must look like a.b=value")
  key, value = override.split("=", 1)
  return key.strip(), value


def parse_flags(argv: Sequence[str] | None = None, default: str | None = None):
  """Parses ``--config=path[:arg]``, ``--config.a.b=v`` and other ``--name=value`` flags.

  Returns:
    ``(config, flags)`` where ``flags`` maps the remaining flag names to strings and holds
    the positional arguments under ``"args"``.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  spec, overrides, flags, args = default, [], {}, []
  it = iter(argv)
  for a in it:
    if a.startswith("--config="):
      spec = a.split("=", 1)[1]
    elif a == "--config":
      spec = next(it)
    elif a.startswith("--config."):
      body = a[len("--config."):]
      if "=" not in body:
        body = body + "=" + next(it)
      overrides.append(body)
    elif a.startswith("--"):
      name, eq, value = a[2:].partition("=")
      flags[name.replace("-", "_")] = value if eq else next(it, "true")
    else:
      args.append(a)
  if spec is None:
    raise ConfigError("missing --config=configs/<method>/<experiment>.py[:arg]")
  flags["args"] = args
  return load_config(spec, overrides), flags


def parse_kv(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
  """``--name=value`` options (dashes in names become underscores) and positional arguments, for the
  small command-line tools that take no config file."""
  opts, rest = {}, []
  for a in argv:
    if a.startswith("--"):
      k, _, v = a[2:].partition("=")
      opts[k.replace("-", "_")] = v
    else:
      rest.append(a)
  return opts, rest


def cli_options(argv: Sequence[str] | None, usage: str, required: Sequence[str] = ()) -> dict[str, str] | None:
  """``parse_kv`` options of a small command-line tool (``sys.argv[1:]`` when ``argv`` is None); prints
  ``usage`` to stderr and returns None when one of ``required`` is missing (the caller exits with 2)."""
  import sys
  opts, _ = parse_kv(list(sys.argv[1:] if argv is None else argv))
  if any(k not in opts for k in required):
    print(usage, file=sys.stderr)
    return None
  return opts
