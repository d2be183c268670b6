"""Export a trained X-BDCNN (or DnCNN) as the small model ``denoise`` uses without ``--checkpoint``.

  python -m xbdcnn.export --checkpoint=WORKDIR --out=xbdcnn/model

Writes ``OUT/variables.npz`` (every array of the network's variables, keyed ``collection/path``, float32)
and ``OUT/model.json`` (the run's model config, its step, and the commands that made and exported it).
:func:`load` reads them back as the Flax variables of ``xbdcnn.models.make_model(config.model)``.
"""

from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np
from absl import flags

from common import cli
from common import runs as runs_lib
from common.errors import UserError
from common.files import atomic_path, write_json_atomic
from common.trees import tree_path

__all__ = ["export", "load", "DEFAULT"]

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")  # the model that ships


def export(workdir: str, out: str, command: str = "") -> str:
  run = runs_lib.load_run(workdir)
  if "model" not in run.cfg or "arch" not in run.cfg.model:
    raise UserError(f"{workdir} is not an xbdcnn training run (its config has no model.arch)")
  flat = {
    f"{tree_path(p)}": np.asarray(v, np.float32)
    for p, v in jax.tree_util.tree_leaves_with_path(run.variables)
  }
  os.makedirs(out, exist_ok=True)
  with atomic_path(os.path.join(out, "variables.npz")) as tmp:
    np.savez(tmp, **flat)
  meta = {
    "model": run.cfg.model.to_dict(),
    "step": int(run.step),
    "trained_with": f"python -m xbdcnn.main train --config=configs/xbdcnn/bundled.py:{run.cfg.get('variant', '')},cpu"
    if not command
    else command,
    "data": run.cfg.data.get("name", "?"),
    "exported_with": f"python -m xbdcnn.export --checkpoint=WORKDIR --out={out}",
  }
  write_json_atomic(os.path.join(out, "model.json"), meta)
  return out


def load(folder: str = DEFAULT):
  """(model config, Flax variables) of an exported model, or a one-line UserError."""
  paths = [os.path.join(folder, n) for n in ("model.json", "variables.npz")]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise UserError(
      f"no exported model in {folder} ({missing[0]} is missing); give --checkpoint=WORKDIR"
    )
  with open(paths[0]) as f:
    meta = json.load(f)
  variables: dict = {}
  with np.load(paths[1]) as z:
    for key in z.files:
      node = variables
      *parents, leaf = key.split("/")
      for p in parents:
        node = node.setdefault(p, {})
      node[leaf] = np.asarray(z[key])
  return ml_collections.ConfigDict(meta["model"]), variables, meta


def main(argv) -> int:
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  F = flags.FLAGS
  if not F.checkpoint:
    raise UserError("give --checkpoint=WORKDIR (a finished xbdcnn training run)")
  print(export(F.checkpoint, F.out, F.command))
  return 0


if __name__ == "__main__":
  flags.DEFINE_string("checkpoint", None, "the --workdir of a finished xbdcnn training run")
  flags.DEFINE_string("out", DEFAULT, "output folder (default: the model that ships with xbdcnn)")
  flags.DEFINE_string("command", "", "the training command, recorded in model.json")
  cli.run(main)
