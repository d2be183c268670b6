"""The slicedae part of ``make demo``: the five sliced models (plus the plain AE and CWAE as
references) on scikit-learn's digits, Table 1 and the figures."""

from __future__ import annotations

import os

from common import config as config_lib
from common import trainer
from slicedae import evaluate, task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("swae", "scfwae", "scwae", "scvmae", "sksae", "cwae", "ae")


def run(out: str, steps: int = 1000) -> list[str]:
  wds = []
  for m in MODELS:
    cfg = config_lib.load_config(
      os.path.join(ROOT, f"configs/slicedae/digits.py:{m}"),
      {
        "total_steps": steps,
        "eval_every": steps // 5,
        "log_every": steps // 5,
        "ckpt_every": steps,
        "figure_every": steps,
      },
    )
    wd = os.path.join(out, m)
    trainer.train(cfg, task.make_task(cfg), wd)
    wds.append(wd)
  runs = evaluate.collect(wds)
  md = evaluate.table(runs) + "\n\n" + evaluate.diagnostics(runs, gaussian_fit=False)
  evaluate.curves(runs, os.path.join(out, "curves.png"))
  lines = [
    f"All models on the digits (MLP 64-200-200-200-8, {steps} steps of batch 128, Adam 1e-3), "
    "evaluated on 297 held-out digits, next to N(0, I) samples of the same size (the convergence study, "
    "python -m slicedae.study, trains 20,000 steps).",
    "",
    md,
    "",
    "![curves](slicedae/curves.png)",
    "",
  ]
  for m in ("scwae", "sksae"):
    for kind in ("samples", "reconstructions", "interpolations"):
      lines.append(f"![{m} {kind}](slicedae/{m}/figures/{kind}_{steps:06d}.png)")
  return lines
