"""The sdmae part of ``make demo``: MAE and SD-MAE pre-trained on the procedural H&E tiles (micro ViT,
patch 4, 32x32), each linearly probed, against a supervised ViT of the same size from scratch;
Table 1 layout and the Fig. 3 reconstruction panels."""

from __future__ import annotations

import os

from common import config as config_lib
from common import trainer
from sdmae import evaluate, task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(config: str, wd: str, overrides: dict):
  cfg = config_lib.load_config(os.path.join(ROOT, "configs/sdmae", config), overrides)
  trainer.train(cfg, task.make_task(cfg), wd)
  return wd


def run(out: str, pretrain_steps: int = 300, downstream_steps: int = 150) -> list[str]:
  wds = []
  for method in ("mae", "sdmae"):
    pre = _train(
      f"pretrain.py:embedded,{method}",
      os.path.join(out, method),
      {
        "total_steps": pretrain_steps,
        "eval_every": pretrain_steps // 4,
        "ckpt_every": pretrain_steps,
        "figure_every": pretrain_steps,
        "log_every": pretrain_steps // 8,
      },
    )
    wds.append(pre)
    wds.append(
      _train(
        "probe.py:embedded",
        os.path.join(out, f"{method}_probe"),
        {
          "init.workdir": pre,
          "total_steps": downstream_steps,
          "ckpt_every": downstream_steps,
          "eval_every": downstream_steps,
          "log_every": downstream_steps // 4,
        },
      )
    )
  wds.append(
    _train(
      "finetune.py:embedded",
      os.path.join(out, "supervised"),
      {
        "total_steps": downstream_steps,
        "ckpt_every": downstream_steps,
        "eval_every": downstream_steps,
        "log_every": downstream_steps // 4,
      },
    )
  )
  results, pretrain = evaluate.collect(wds)
  md = evaluate.table(results)
  evaluate.reconstructions(pretrain, os.path.join(out, "reconstructions.png"))
  return [
    f"Procedural H&E tiles (4 tissue classes, 32x32, 512 test tiles), micro ViT mu/4 (dim 64, "
    f"4 blocks), mask ratio 0.6; pre-training {pretrain_steps} steps of batch 64, linear probe and "
    f"supervised-from-scratch {downstream_steps} steps. A demonstration of the pipeline at CPU scale, "
    "not the paper's experiment.",
    "",
    md,
    "",
    "![reconstructions](sdmae/reconstructions.png)",
    "",
  ]
