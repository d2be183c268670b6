"""Config files: the shared ``:arg`` parser, loading for tests and demos, validation and comparison.

A config file is ``configs/<method>/<experiment>.py`` defining ``get_config(arg=None)`` that returns a
``ml_collections.ConfigDict``. Programs read it with ``ml_collections.config_flags`` (``--config=path[:arg]``,
``--config.a.b=value``; see common.cli). Every config file parses its ``arg`` with :func:`parse_arg`, so an
unknown or misspelt token fails instead of silently selecting the default.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ml_collections

from common.errors import UserError

__all__ = [
  "ConfigError",
  "parse_arg",
  "distributed",
  "sharding",
  "load_config",
  "apply_overrides",
  "replaced",
  "flat_keys",
  "flatten",
  "diff",
  "check",
]


class ConfigError(UserError):
  """A config file, ``:arg`` or override is wrong; the message says what and how to fix it."""


def _is_choice(default: Any) -> bool:
  return (
    isinstance(default, tuple) and len(default) > 0 and all(isinstance(c, str) for c in default)
  )


def _typed(name: str, default: Any, text: str) -> Any:
  if isinstance(default, bool):
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise ConfigError(f"config arg {name}={text!r}: expected true or false")
  if default is None:
    try:
      return ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return text
  try:
    return type(default)(text)
  except ValueError:
    raise ConfigError(f"config arg {name}={text!r}: expected {type(default).__name__}") from None


def parse_arg(arg: str | None, **spec: Any) -> ml_collections.ConfigDict:
  """Parses a config file's ``:arg`` (comma-separated tokens) against ``spec``; unknown tokens raise.

  Each ``spec`` entry is ``name=default``:
    - a bool: a flag, set by its bare name (``smoke``) or ``name=true``;
    - a tuple of strings: a choice, first element the default, set by a bare value (``swae``) or
      ``name=value``;
    - anything else: ``name=value``, converted to the default's type (a ``None`` default takes a
      Python literal).

  Returns:
    A ConfigDict with one field per ``spec`` entry.
  """
  out = {k: (v[0] if _is_choice(v) else v) for k, v in spec.items()}
  bare = {k: k for k, v in spec.items() if isinstance(v, bool)}
  for k, v in spec.items():
    if _is_choice(v):
      for c in v:
        bare.setdefault(c, k)
  set_by: dict[str, str] = {}
  for tok in (t.strip() for t in (arg or "").split(",")):
    if not tok:
      continue
    if "=" in tok:
      name, text = (s.strip() for s in tok.split("=", 1))
      if name not in spec:
        _unknown(tok, arg, list(spec), bare)
      value = text if _is_choice(spec[name]) else _typed(name, spec[name], text)
      if _is_choice(spec[name]) and value not in spec[name]:
        raise ConfigError(f"config arg {tok!r}: {name} is one of {', '.join(spec[name])}")
    elif tok in bare:
      name, value = bare[tok], (True if isinstance(spec[bare[tok]], bool) else tok)
    else:
      _unknown(tok, arg, list(spec), bare)
    if name in set_by and set_by[name] != tok:
      raise ConfigError(
        f"config arg {arg!r} sets {name} twice ({set_by[name]!r} and {tok!r}); keep one"
      )
    set_by[name] = tok
    out[name] = value
  return ml_collections.ConfigDict(out)


def _unknown(tok: str, arg: str | None, names: list[str], bare: Mapping[str, str]):
  allowed = list(bare) + [f"{n}=..." for n in names if n not in bare.values() or n not in bare]
  close = difflib.get_close_matches(tok.split("=")[0], list(bare) + names, n=1, cutoff=0.5)
  hint = f"; did you mean {close[0]!r}?" if close else ""
  raise ConfigError(
    f"unknown token {tok!r} in config arg {arg!r}{hint} Allowed: {', '.join(allowed)}"
  )


def distributed() -> ml_collections.ConfigDict:
  """The ``distributed`` block every training config has: empty ``coordinator`` means one process, or
  what the environment says (common.runtime.initialize); set all three for a multi-host launch."""
  return ml_collections.ConfigDict(dict(coordinator="", num_processes=1, process_id=0))


def sharding() -> ml_collections.ConfigDict:
  """The ``sharding`` block every training config has (common.sharding): pure data parallel by default;
  ``mesh.fsdp=n`` splits every leaf of at least ``min_size`` elements along its largest divisible
  dimension over n devices (parameters and optimizer state alike)."""
  return ml_collections.ConfigDict(
    dict(
      mesh=ml_collections.ConfigDict(dict(data=-1, fsdp=1)),
      min_size=4096,  # smaller leaves (biases, norms, counters) stay replicated
      rules=(".*=fsdp",),  # "regex=fsdp|replicate|dimK" against the leaf path, first match wins
    )
  )


def load_config(
  spec: str, overrides: Sequence[str] | Mapping[str, Any] = ()
) -> ml_collections.ConfigDict:
  """Loads ``path[:arg]`` as ``--config`` does, applies overrides, and returns the locked config.

  For tests, demos and benchmarks; programs use ``config_flags`` (common.cli).

  Args:
    spec: ``configs/x/y.py`` or ``configs/x/y.py:arg``.
    overrides: ``["a.b=1", ...]`` strings or a ``{"a.b": 1}`` dict.
  """
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigError(
      f"config file {path!r} does not exist; pass --config=configs/<method>/<experiment>.py[:arg]"
    )
  module_spec = importlib.util.spec_from_file_location(
    "medjax_config_" + os.path.basename(path)[:-3], path
  )
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  cfg = module.get_config(arg) if arg else module.get_config()
  if not isinstance(cfg, ml_collections.ConfigDict):
    raise ConfigError(
      f"{path}: get_config must return an ml_collections.ConfigDict, got {type(cfg).__name__}"
    )
  cfg.lock()
  apply_overrides(cfg, overrides)
  return cfg


def replaced(
  cfg: ml_collections.ConfigDict, overrides: Mapping[str, Any]
) -> ml_collections.ConfigDict:
  """A copy of ``cfg`` with ``overrides`` applied (checked like command-line overrides); ``cfg`` is unchanged."""
  out = ml_collections.ConfigDict(cfg.to_dict())
  out.lock()
  apply_overrides(out, overrides)
  return out


def flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  """All dotted leaf and node keys of a config."""
  keys = []
  for k, v in cfg.items():
    full = f"{prefix}{k}"
    keys.append(full)
    if isinstance(v, (ml_collections.ConfigDict, dict)):
      keys.extend(flat_keys(v, full + "."))
  return keys


def apply_overrides(
  cfg: ml_collections.ConfigDict, overrides: Sequence[str] | Mapping[str, Any]
) -> None:
  """Sets dotted keys on a locked config, with a one-line error for an unknown key or a bad type."""
  if isinstance(overrides, Mapping):
    items = list(overrides.items())
  else:
    items = []
    for o in overrides:
      if "=" not in o:
        raise ConfigError(f"override {o!r} must look like a.b=value")
      k, v = o.split("=", 1)
      try:
        v = ast.literal_eval(v)
      except (ValueError, SyntaxError):
        pass
      items.append((k.strip(), v))
  known = flat_keys(cfg)
  for key, value in items:
    if key not in known:
      close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
      hint = (
        f"; did you mean {', '.join(close)}?" if close else "; see the config file for the fields"
      )
      raise ConfigError(f"unknown config key {key!r}{hint}")
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
      node = node[p]
    current = node[leaf]
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    if isinstance(current, tuple) and isinstance(value, list):
      value = tuple(value)
    try:
      node[leaf] = value
    except TypeError as e:
      raise ConfigError(
        f"config key {key!r}: cannot set {value!r} ({type(value).__name__}): "
        f"field holds {type(current).__name__}"
      ) from e


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (ConfigDicts or JSON dicts); lists and tuples are leaves."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, (Mapping, ml_collections.ConfigDict)) and len(v):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
  return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any], allowed: Iterable[str] = ()) -> list[str]:
  """Dotted keys whose values differ between two configs (JSON-comparable), minus ``allowed``.

  An allowed key also allows everything under it (``optim`` allows ``optim.lr``).
  """
  a, b = flatten(old), flatten(new)
  allowed = tuple(allowed)
  out = []
  for k in sorted(set(a) | set(b)):
    if _norm(a.get(k, "<missing>")) != _norm(b.get(k, "<missing>")):
      if not any(k == p or k.startswith(p + ".") for p in allowed):
        out.append(k)
  return out


def _norm(v):
  if isinstance(v, (list, tuple)):
    return [_norm(x) for x in v]
  if isinstance(v, float) and v.is_integer():
    return int(v)
  return v


def _fraction(v):  # [0, 1)
  return isinstance(v, (int, float)) and 0 <= v < 1


def _positive_int(v):
  return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _range_pair(v):  # (lo, hi) with 0 <= lo <= hi
  return (
    isinstance(v, (list, tuple))
    and len(v) == 2
    and all(isinstance(x, (int, float)) for x in v)
    and 0 <= v[0] <= v[1]
    and all(math.isfinite(x) for x in v)
  )


# the known range of a config value, by the last part of its dotted key (checked wherever it occurs)
RANGES = {
  "b1": (_fraction, "in [0, 1) (Adam's first-moment decay)"),
  "b2": (_fraction, "in [0, 1) (Adam's second-moment decay)"),
  "momentum": (_fraction, "in [0, 1)"),
  "eps": (lambda v: isinstance(v, (int, float)) and 0 < v < 1, "in (0, 1)"),
  "dropout": (_fraction, "in [0, 1) (the probability of dropping a unit)"),
  "drop_path": (_fraction, "in [0, 1)"),
  "mask_ratio": (_fraction, "in [0, 1) (the fraction of patches masked)"),
  "layer_decay": (lambda v: isinstance(v, (int, float)) and 0 < v <= 1, "in (0, 1]"),
  "width": (_positive_int, "an integer >= 1"),
  "depth": (_positive_int, "an integer >= 1"),
  "num_examples": (_positive_int, "an integer >= 1"),
  "widths": (
    lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_int(x) for x in v),
    "a non-empty list of integers >= 1",
  ),
  "eta_range": (_range_pair, "(lo, hi) with 0 <= lo <= hi (a Poisson gain)"),
  "sigma_range": (_range_pair, "(lo, hi) with 0 <= lo <= hi (a Gaussian standard deviation)"),
}


def check(cfg: ml_collections.ConfigDict) -> None:
  """Fails with one line on trainer config values that cannot be right, before anything is computed."""

  def need(ok: bool, msg: str):
    if not ok:
      raise ConfigError(msg)

  for key in ("total_steps", "batch_size", "keep_ckpts"):
    if key in cfg:
      need(
        isinstance(cfg[key], int) and cfg[key] >= 1,
        f"{key}={cfg[key]!r} must be an integer >= 1; set --config.{key}",
      )
  for key in ("log_every", "ckpt_every", "eval_every", "figure_every"):
    if key in cfg:
      need(cfg[key] >= 0, f"{key}={cfg[key]} must be >= 0 (0 means: only at the last step)")
  if "optim" in cfg:
    lr = cfg.optim.get("lr")
    # lr = 0 is allowed: it freezes the weights (a check that an initialization loads exactly)
    need(
      lr is not None and math.isfinite(lr) and lr >= 0,
      f"optim.lr={lr} must be a finite number >= 0 (a negative rate climbs the loss)",
    )
    for key in ("warmup_steps", "weight_decay", "clip_norm", "min_lr"):
      if key in cfg.optim:
        need(cfg.optim[key] >= 0, f"optim.{key}={cfg.optim[key]} must be >= 0")
  for key, value in flatten(cfg).items():
    rule = RANGES.get(key.rsplit(".", 1)[-1])
    if rule is not None and value is not None:
      need(rule[0](value), f"{key}={value!r} must be {rule[1]}; set --config.{key}")
