"""The CPU-scale reproduction: X-BDCNN, its two ablations and DnCNN trained on the bundled set
(every scikit-image photograph that needs no download, plus procedural chest radiographs), learning
curves against BM3D / NLM / TV, and Tables I-II on the held-out test split, in one resumable command.

  python -m xbdcnn.study --out=runs/xbdcnn_study [--variants=xbdcnn,no_nle,no_ssim,dncnn]

Each network trains in ``OUT/VARIANT`` with ``configs/xbdcnn/bundled.py:VARIANT,cpu`` (its budget: 2,500 steps of 16 patches, about 20 min per network on 2 CPU cores);
a finished run is skipped, an interrupted one resumes from its last checkpoint. Then:
``OUT/curves.png`` (held-out PSNR and SSIM of the validation patches against the training step, the
classical denoisers on the same noisy patches as horizontal lines), ``OUT/curves.csv`` and
``OUT/tables.md`` (``xbdcnn.evaluate`` on the test split: Table I, 30 crops of 128 pixels, 3 per test image,
with paired Wilcoxon tests of each network against BM3D and DnCNN; Table II,
the 10 test images, one 128-pixel crop each).
"""

from __future__ import annotations

import csv
import os

import numpy as np
from absl import flags

from common import cli, metrics
from common import config as config_lib
from common import logging as log_lib
from common import runs as runs_lib
from common.data import sources
from common.errors import UserError

VARIANTS = ("xbdcnn", "no_nle", "no_ssim", "dncnn")
NAMES = {
  "xbdcnn": "X-BDCNN",
  "no_nle": "X-BDCNN w/o NLE",
  "no_ssim": "X-BDCNN w/o SSIM loss",
  "dncnn": "DnCNN",
}


def classical_on_validation(cfg, names=("bm3d", "nlm", "tv")) -> dict[str, tuple[float, float]]:
  """{method: (mean PSNR, mean SSIM)} of the classical denoisers on the exact noisy validation
  patches the networks are scored on during training."""
  from xbdcnn import evaluate, task

  noisy, clean, _, _ = task.validation_set(cfg)
  out = {}
  for name in names:
    fn = evaluate.classical(name)
    if fn is None:
      continue
    den = np.stack([np.asarray(fn(f[..., 0]), np.float32)[..., None] for f in noisy])
    out[name] = (
      float(np.mean(metrics.psnr(den, clean, data_range=1.0))),
      float(np.mean(metrics.ssim(den, clean, data_range=1.0))),
    )
  out["noisy"] = (
    float(np.mean(metrics.psnr(noisy, clean, data_range=1.0))),
    float(np.mean(metrics.ssim(np.clip(noisy, 0, 1), clean, data_range=1.0))),
  )
  return out


def curves(rows: dict[str, list[dict]], lines: dict[str, tuple[float, float]], path: str) -> str:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from common import plotting

  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
  styles = {
    "bm3d": ("k", "--"),
    "nlm": ("tab:gray", ":"),
    "tv": ("tab:brown", "-."),
    "noisy": ("tab:red", (0, (1, 3))),
  }
  for ax, (i, key) in zip(axes, enumerate(("eval/val_psnr", "eval/val_ssim"))):
    for v, r in rows.items():
      pts = [(x["step"], x[key]) for x in r if key in x]
      if pts:
        ax.plot(*zip(*pts), marker="o", ms=2, label=NAMES.get(v, v))
    for name, vals in lines.items():
      c, ls = styles.get(name, ("k", "--"))
      ax.axhline(
        vals[i], color=c, ls=ls, lw=1.2, label=name.upper() if name != "noisy" else "noisy input"
      )
    ax.set_xlabel("training step")
    ax.set_ylabel("PSNR (dB)" if i == 0 else "SSIM")
    ax.set_title("held-out validation patches")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  return plotting.save_figure(fig, path, dpi=100)


def run_study(
  out: str,
  variants=VARIANTS,
  overrides: dict | None = None,
  verbose: bool = True,
  eval_size: int = 128,
  num_patches: int = 30,
  grid_images: int = 10,
  classical_names=("nlm", "tv", "bm3d"),
) -> str:
  from xbdcnn import evaluate

  for v in variants:
    if v not in VARIANTS:
      raise UserError(f"--variants: unknown {v!r}; choose from {', '.join(VARIANTS)}")
  cfgs, rows = {}, {}
  for v in variants:
    cfg = config_lib.load_config(
      cli.config_path("xbdcnn/bundled.py") + f":{v},cpu", overrides or {}
    )
    cfgs[v] = cfg
    wd = os.path.join(out, v)
    runs_lib.train_unless_done(cfg, wd, v, verbose)
    rows[v] = [
      r for r in log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl")) if "eval/val_psnr" in r
    ]
  first = cfgs[variants[0]]
  lines = classical_on_validation(
    first, tuple(c for c in ("bm3d", "nlm", "tv") if c in classical_names)
  )
  curves(rows, lines, os.path.join(out, "curves.png"))
  with open(os.path.join(out, "curves.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["method", "step", "val_psnr", "val_ssim"])
    for v, r in rows.items():
      for x in r:
        w.writerow(
          [
            NAMES[v],
            x["step"],
            f"{x['eval/val_psnr']:.4f}",
            f"{x.get('eval/val_ssim', float('nan')):.4f}",
          ]
        )
    for name, (p, s) in lines.items():
      w.writerow([name, "", f"{p:.4f}", f"{s:.4f}"])
  table = evaluate.evaluate(
    {v: os.path.join(out, v) for v in variants},
    first,
    out,
    size=eval_size,
    num_patches=num_patches,
    classical_names=classical_names,
    grid_images=grid_images,
  )
  summary = [
    "**Validation patches at the last step** (PSNR / SSIM; the curves' end points)",
    "",
    "| Method | PSNR | SSIM |",
    "|---|---|---|",
  ]
  for v, r in rows.items():
    if r:
      summary.append(
        f"| {NAMES[v]} | {r[-1]['eval/val_psnr']:.2f} | {r[-1].get('eval/val_ssim', float('nan')):.4f} |"
      )
  for name, (p, s) in lines.items():
    summary.append(f"| {name.upper() if name != 'noisy' else 'Noisy input'} | {p:.2f} | {s:.4f} |")
  md = "\n".join(summary + [""] + table)
  with open(os.path.join(out, "study.md"), "w") as f:
    f.write(md + "\n")
  print(md)
  return md


def _define_flags():
  flags.DEFINE_string(
    "out", None, "study folder (one workdir per network, curves, tables)", required=True
  )
  flags.DEFINE_list("variants", list(VARIANTS), "networks to train")
  flags.DEFINE_bool("quiet", False, "no per-step training logs")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  run_study(sources.check_out_dir(FLAGS.out), FLAGS.variants, verbose=not FLAGS.quiet)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
