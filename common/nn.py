"""Small Flax Linen helpers shared by the method tasks."""

from __future__ import annotations

__all__ = ["split_variables", "apply_train", "merge"]


def split_variables(variables) -> tuple:
  """``model.init`` output -> ``(params, extra)`` where extra holds the other collections
  (``batch_stats``), the trainer's ``TrainState.extra``."""
  return variables["params"], {k: v for k, v in variables.items() if k != "params"}


def merge(params, extra) -> dict:
  return {"params": params, **extra}


def apply_train(model, params, extra, *args, **kwargs):
  """``model.apply(..., train=True)``, updating ``batch_stats`` when the model has them.

  Returns ``(output, new_extra)``.
  """
  if "batch_stats" in extra:
    out, upd = model.apply(
      merge(params, extra), *args, train=True, mutable=["batch_stats"], **kwargs
    )
    return out, {**extra, **upd}
  return model.apply(merge(params, extra), *args, train=True, **kwargs), extra
