"""Optimizers and learning-rate schedules built from the config's ``optim`` block.

Fields (all in the config; methods add their defaults there):
  name: adamw | adam | sgd | lars;  lr: peak learning rate;  schedule: cosine | constant | linear;
  warmup_steps;  min_lr (end of cosine);  b1, b2, eps (adam);  momentum, nesterov (sgd, lars);
  weight_decay;  wd_mask: all | no_1d (no decay on biases, norms and other 1-D parameters, as MAE);
  clip_norm: global-norm clipping (0 = off);
  lr_batch_ref (optional): when > 0, the peak lr is ``lr * batch_size / lr_batch_ref`` (MAE's and the
  SD-MAE code's ``blr * eff_batch / 256``), so the config's ``lr`` is the base rate at that batch.
A method can also pass ``lr_scales``: a pytree (same structure as the params) of per-leaf learning-rate
multipliers, e.g. layer-wise lr decay for ViT fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from common.config import ConfigError

__all__ = ["peak_lr", "make_schedule", "make_optimizer", "scale_by_tree"]


def _get(o, key: str):
  """``o[key]``; every optimizer default lives in the config file, so a missing key is the config's bug."""
  if key not in o:
    raise ConfigError(
      f"optim.{key} is missing from the config (needed by optim.name={o.get('name')!r}, "
      f"schedule={o.get('schedule')!r}); add it to the config file"
    )
  return o[key]


def peak_lr(o, batch_size: int | None = None) -> float:
  """``optim.lr``, scaled by ``batch_size / optim.lr_batch_ref`` when that is set (> 0)."""
  lr, ref = float(_get(o, "lr")), float(o.get("lr_batch_ref", 0) or 0)
  if ref <= 0:
    return lr
  if not batch_size:
    raise ConfigError("optim.lr_batch_ref is set but no batch size was given to scale the lr by")
  return lr * batch_size / ref


def make_schedule(
  o, total_steps: int, batch_size: int | None = None
) -> Callable[[jax.Array], jax.Array]:
  warm = int(_get(o, "warmup_steps"))
  kind = _get(o, "schedule")
  lr = peak_lr(o, batch_size)
  decay_steps = max(total_steps - warm, 1)
  if kind == "cosine":
    main = optax.cosine_decay_schedule(
      lr, decay_steps, alpha=float(_get(o, "min_lr")) / lr if lr else 0.0
    )
  elif kind == "constant":
    main = optax.constant_schedule(lr)
  elif kind == "linear":
    main = optax.linear_schedule(lr, float(_get(o, "min_lr")), decay_steps)
  elif kind == "piecewise":
    # the X-BDCNN-style "lr, then lr * factor after a boundary" schedule
    bounds = {
      int(b * total_steps) - warm: float(_get(o, "piecewise_factor"))
      for b in _get(o, "piecewise_fractions")
    }
    main = optax.piecewise_constant_schedule(lr, bounds)
  else:
    raise ConfigError(
      f"optim.schedule={kind!r} is unknown; use cosine, constant, linear or piecewise"
    )
  if warm <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), main], [warm])


def _wd_mask(kind: str) -> Callable | None:
  if kind == "all":
    return None
  if kind == "no_1d":
    return lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
  raise ConfigError(f"optim.wd_mask={kind!r} is unknown; use 'all' or 'no_1d'")


def scale_by_tree(scales: Any) -> optax.GradientTransformation:
  """Multiplies each update leaf by the matching leaf of ``scales`` (per-parameter lr multipliers)."""

  def init(_):
    return optax.EmptyState()

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, s: u * jnp.asarray(s, u.dtype), updates, scales), state

  return optax.GradientTransformation(init, update)


def make_optimizer(o, total_steps: int, lr_scales: Any = None, batch_size: int | None = None):
  """Returns ``(optax transformation, schedule)``; reads only the ``o`` keys its optimizer uses.
  ``batch_size`` (global) scales the lr when ``optim.lr_batch_ref`` is set."""
  sched = make_schedule(o, total_steps, batch_size)
  name = _get(o, "name")
  if name in ("adamw", "sgd", "lars"):
    wd, mask = float(_get(o, "weight_decay")), _wd_mask(_get(o, "wd_mask"))
  if name == "adamw":
    tx = optax.adamw(
      sched, b1=_get(o, "b1"), b2=_get(o, "b2"), eps=_get(o, "eps"), weight_decay=wd, mask=mask
    )
  elif name == "adam":
    tx = optax.adam(sched, b1=_get(o, "b1"), b2=_get(o, "b2"), eps=_get(o, "eps"))
  elif name == "sgd":
    parts = [optax.add_decayed_weights(wd, mask)] if wd else []
    tx = optax.chain(
      *parts, optax.sgd(sched, momentum=_get(o, "momentum") or None, nesterov=_get(o, "nesterov"))
    )
  elif name == "lars":
    tx = optax.lars(
      sched,
      weight_decay=wd,
      weight_decay_mask=mask if mask else True,
      trust_ratio_mask=mask if mask else True,
      momentum=_get(o, "momentum"),
    )
  else:
    raise ConfigError(f"optim.name={name!r} is unknown; use adamw, adam, sgd or lars")
  chain = []
  if float(_get(o, "clip_norm")) > 0:
    chain.append(optax.clip_by_global_norm(float(o.clip_norm)))
  chain.append(tx)
  if lr_scales is not None:
    chain.append(scale_by_tree(lr_scales))
  return optax.chain(*chain), sched
