"""The xbdcnn part of ``make demo``: X-BDCNN, its two ablations and DnCNN trained briefly on patches
of scikit-image's grayscale images, then Tables I/II and the comparison figure on held-out images."""

from __future__ import annotations

import os

from common import config as config_lib
from common import trainer
from xbdcnn import evaluate, task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(out: str, steps: int = 800) -> list[str]:
  wds = {}
  for variant in ("xbdcnn", "no_nle", "no_ssim", "dncnn"):
    cfg = config_lib.load_config(
      os.path.join(ROOT, f"configs/xbdcnn/bundled.py:{variant}"),
      {
        "total_steps": steps,
        "eval_every": steps // 3,
        "log_every": steps // 5,
        "ckpt_every": steps,
        "figure_every": steps,
      },
    )
    wds[variant] = os.path.join(out, variant)
    trainer.train(cfg, task.make_task(cfg), wds[variant])
  cfg = config_lib.load_config(os.path.join(ROOT, "configs/xbdcnn/bundled.py"))
  lines = evaluate.evaluate(wds, cfg, out, size=128, num_patches=12, grid_images=3)
  head = [
    f"Each network trained for {steps} steps of 8 random 48x48 patches (Adam 1e-3 then 1e-4) on the "
    "bundled training split (16 photographs, 48 procedural radiographs); tested on crops of held-out "
    "images never seen in training (Table II: 3 of the 10 test images, to keep the demo short; "
    "python -m xbdcnn.study runs the longer training and all 10).",
    "",
  ]
  return head + [l.replace(out + "/", "xbdcnn/") for l in lines]
