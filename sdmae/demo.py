"""The sdmae part of ``make demo``: MAE and SD-MAE pre-trained on the procedural H&E tiles (micro ViT,
patch 4, 32x32), each linearly probed, against a supervised ViT of the same size from scratch;
Table 1 layout and the Fig. 3 reconstruction panels. Then the user-data path: SD-MAE pre-trained
briefly on the tissue tiles of a small slide of real H&E tissue, the slide embedded
(``python -m sdmae.embed``), and the first principal components of the tile features shown as colours
on the slide's thumbnail."""

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
    *slide_part(out),
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


def slide_part(out: str, steps: int = 150) -> list[str]:
  """Pre-train on a slide's tissue tiles, embed the slide, and colour its tiles by their features' first
  three principal components (the same colour: similar features)."""
  import time

  import h5py
  import numpy as np

  from common import plotting
  from common.data import slides
  from pgdips import synthetic

  if not os.path.exists(os.path.join(synthetic.STAINS_DIR, "he.jpg")):
    return ["Slides: skipped (no ../shared/data/stains/he.jpg).", ""]
  folder = os.path.join(out, "slides")
  path = os.path.join(folder, "slide.tiff")
  synthetic.he_slide(path, (2048, 3072), seed=5, mpp=0.5, fill=0.5)
  t0 = time.time()
  wd = _train(
    "pretrain.py:slides,cpu",
    os.path.join(out, "slides_run"),
    {
      "data.data_dir": folder,
      "data.mpp": 1.0,
      "data.source_size": 64,
      "total_steps": steps,
      "eval_every": steps,
      "ckpt_every": steps,
      "figure_every": steps,
      "log_every": steps // 5,
    },
  )
  from sdmae import embed

  emb = embed.Embedder(wd)
  h5 = embed.embed_slide(emb, path, os.path.join(out, "slide.h5"), 1.0, 64)
  with h5py.File(h5) as f:
    feats, coords = f["features"][:], f["coords"][:]
  x = feats - feats.mean(0)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  pcs = x @ vt[:3].T
  rgb = (pcs - pcs.min(0)) / np.maximum(np.ptp(pcs, 0), 1e-9)
  with slides.Slide(path) as s:
    thumb, ds = slides.low_res(s, 768)
  overlay = thumb.astype(np.float32) / 255 * 0.35 + 0.65
  size = 128 / ds  # a tile: 64 px at level 1 = 128 level-0 px
  for (cx, cy), c in zip(coords, rgb):
    y0, x0 = int(cy / ds), int(cx / ds)
    overlay[y0 : y0 + int(np.ceil(size)), x0 : x0 + int(np.ceil(size))] = c
  plotting.save_panels(
    os.path.join(out, "slide_pca.png"),
    [("slide (real H&E tissue)", thumb), ("tile features, first 3 PCs as RGB", overlay)],
    ncols=2,
    size=5,
  )
  return [
    f"Your slides: SD-MAE (ViT-mu/4, 32 px input) pre-trained {steps} steps on 64 px tissue tiles "
    f"at 1 um/px of a 3072x2048 slide of real H&E tissue (`pretrain.py:slides,cpu`), then "
    f"`python -m sdmae.embed` on the slide: {len(feats)} tiles, {feats.shape[1]}-d features with "
    f"level-0 coordinates ({time.time() - t0:.0f} s both). Tiles coloured by the first three principal "
    "components of their features:",
    "",
    "![slide features](sdmae/slide_pca.png)",
    "",
  ]
