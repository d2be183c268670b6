"""Generic entry point: trains the task named by ``cfg.task`` ("module:factory") with the shared trainer.

  python -m common.main --config=configs/common/toy.py[:arg] --workdir=DIR [--config.a.b=value ...]
"""

from __future__ import annotations

import importlib
import sys

from common import config as config_lib
from common import runtime, trainer


def resolve_task(cfg):
  module, _, fn = cfg.task.partition(":")
  return getattr(importlib.import_module(module), fn)(cfg)


def main(argv=None) -> int:
  try:
    cfg, flags = config_lib.parse_flags(argv)
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  workdir = flags.get("workdir")
  if not workdir:
    print("error: missing --workdir=DIR (where checkpoints, metrics.jsonl and figures go)", file=sys.stderr)
    return 2
  trainer.train(cfg, resolve_task(cfg), workdir)
  runtime.shutdown()
  return 0


if __name__ == "__main__":
  from absl import flags as absl_flags
  absl_flags.FLAGS.mark_as_parsed()
  sys.exit(main())
