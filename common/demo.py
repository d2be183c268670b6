"""``make demo``: every method's main job on the embedded default data, with a report.

  python -m common.demo --out=demo_out [--only=toy,segclassic]

Each part writes under ``<out>/<part>/`` and returns markdown lines; ``<out>/REPORT.md`` lists them all.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time

# name -> "module:function"; the function takes (out_dir) and returns a list of markdown lines.
PARTS = {
  "toy": "common.demo:toy_part",
  "segclassic": "segclassic.demo:run",
  "slicedae": "slicedae.demo:run",
  "xbdcnn": "xbdcnn.demo:run",
  "sdmae": "sdmae.demo:run",
  "pgdips": "pgdips.demo:run",
}


def toy_part(out: str) -> list[str]:
  from common import config as config_lib
  from common import logging as log_lib
  from common import toy, trainer

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  cfg = config_lib.load_config(os.path.join(root, "configs/common/toy.py"))
  trainer.train(cfg, toy.make_task(cfg), out)
  rows = [r for r in log_lib.read_jsonl(os.path.join(out, "metrics.jsonl")) if "eval/mse" in r]
  figs = sorted(os.listdir(os.path.join(out, "figures")))
  lines = ["| step | eval MSE |", "|---|---|"] + [
    f"| {r['step']} | {r['eval/mse']:.4f} |" for r in rows
  ]
  return (
    ["Shared trainer on the toy regression task (4-way data parallel when devices allow).", ""]
    + lines
    + ["", *[f"![{f}]({os.path.join('toy', 'figures', f)})" for f in figs]]
  )


def _write_report(out: str) -> None:
  """REPORT.md = every part's report.md, in PARTS order (so ``--only`` refreshes one part)."""
  report = ["# medjax demo report", ""]
  for name in PARTS:
    path = os.path.join(out, name, "report.md")
    if os.path.exists(path):
      with open(path) as f:
        report.append(f.read())
  with open(os.path.join(out, "REPORT.md"), "w") as f:
    f.write("\n".join(report))


def _define_flags():
  from absl import flags

  flags.DEFINE_string("out", "demo_out", "output folder (one subfolder per part, REPORT.md)")
  flags.DEFINE_list("only", [], f"run only these parts ({', '.join(PARTS)})")


def main(argv) -> int:
  from absl import flags

  from common.data import sources
  from common.errors import UserError

  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  unknown = [p for p in FLAGS.only if p not in PARTS]
  if unknown:
    raise UserError(f"--only={unknown[0]!r} is not a demo part; choose from {', '.join(PARTS)}")
  out = sources.check_out_dir(FLAGS.out)
  os.makedirs(out, exist_ok=True)
  for name, target in PARTS.items():
    if FLAGS.only and name not in FLAGS.only:
      continue
    t0 = time.time()
    print(f"== demo part: {name}", flush=True)
    module, fn = target.split(":")
    part_dir = os.path.join(out, name)
    shutil.rmtree(
      part_dir, ignore_errors=True
    )  # a part starts fresh; the other parts' results stay
    lines = getattr(importlib.import_module(module), fn)(part_dir)
    with open(os.path.join(part_dir, "report.md"), "w") as f:
      f.write("\n".join([f"## {name} ({time.time() - t0:.0f} s)", "", *lines, ""]) + "\n")
    _write_report(out)
  print(f"report: {os.path.join(out, 'REPORT.md')}")
  return 0


if __name__ == "__main__":
  os.environ.setdefault("MPLBACKEND", "Agg")
  from common import cli

  _define_flags()
  cli.run(main)
