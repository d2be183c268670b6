"""Table 1, Fig. 2 and Fig. 3 of the paper from finished runs.

  python -m sdmae.evaluate --workdirs=RUN1,RUN2,... [--out=DIR]

Each downstream workdir (probe or fine-tune) is placed by its config: the row is the pre-training
method of its ``init.workdir`` (no init: "Supervised ViT"), the column its dataset; all runs in a cell (the
seeds of one setting: pass one mask ratio's workdirs for Table 1) are pooled to mean +- std of the
final test accuracy. Writes ``table1.md`` (one table per protocol), ``mask_ratio.png``
(accuracy against the pre-training mask ratio, Fig. 2, when runs with several ratios are given) and
``reconstructions.png`` (original, masked, then one row per pre-training method, Fig. 3, from the
pre-training workdirs given or referenced).
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from absl import flags

from common import cli
from common import logging as log_lib
from common import runs as runs_lib
from common.data import sources
from common.errors import UserError
from common.files import write_text_atomic

ROWS = {
  "": "Supervised ViT",
  "mae": "MAE",
  "contrastive": "MAE+self-contrastive",
  "sdmae": "SD-MAE",
}


def _config(wd):
  from common import checkpoint

  return checkpoint.read_config(wd).to_dict()


def _last_eval(wd, key):
  rows = [r for r in log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl")) if key in r]
  return rows[-1][key] if rows else None


def collect(workdirs):
  """-> (downstream results [(protocol, row, dataset, mask_ratio, accuracy)], pre-training workdirs)."""
  results, pretrain = [], {}
  for wd in workdirs:
    cfg = _config(wd)
    if cfg["mode"] == "pretrain":
      pretrain[os.path.abspath(wd)] = cfg
      continue
    init = cfg["init"]["workdir"]
    if init:
      pcfg = _config(init)
      pretrain.setdefault(os.path.abspath(init), pcfg)
      row, mask = pcfg["method"], pcfg["mask_ratio"]
    else:
      row, mask = "", None
    acc = _last_eval(wd, "eval/accuracy")
    if acc is not None:
      results.append((cfg["mode"], row, cfg["data"]["name"], mask, acc))
  return results, pretrain


def table(results) -> str:
  out = []
  for protocol in ("finetune", "probe"):
    rs = [r for r in results if r[0] == protocol]
    if not rs:
      continue
    cols = sorted({r[2] for r in rs})
    cells = defaultdict(list)
    for _, row, ds, _, acc in rs:
      cells[(row, ds)].append(100 * acc)
    name = "end-to-end fine-tuning" if protocol == "finetune" else "linear probe"
    out += [
      f"Top-1 accuracy (%), {name}:",
      "",
      "| Methods | " + " | ".join(cols) + " |",
      "|---" * (len(cols) + 1) + "|",
    ]
    for row in ROWS:
      if not any((row, c) in cells for c in cols):
        continue
      vals = []
      for c in cols:
        v = cells.get((row, c))
        if not v:
          vals.append("-")
        elif len(v) == 1:
          vals.append(f"{v[0]:.2f}")
        else:
          vals.append(f"{np.mean(v):.2f} ± {np.std(v):.2f} (n={len(v)})")
      out.append(f"| {ROWS[row]} | " + " | ".join(vals) + " |")
    out.append("")
  return "\n".join(out)


def mask_ratio_plot(results, path) -> str | None:
  pts = defaultdict(list)
  for protocol, row, ds, mask, acc in results:
    if mask is not None:
      pts[(protocol, row, ds)].append((mask, 100 * acc))
  pts = {k: v for k, v in pts.items() if len({m for m, _ in v}) > 1}
  if not pts:
    return None
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from common import plotting

  fig, ax = plt.subplots(figsize=(5, 3.6))
  for (protocol, row, ds), v in sorted(pts.items()):
    by = defaultdict(list)
    for m, a in v:
      by[m].append(a)
    ms = sorted(by)
    ax.errorbar(
      ms,
      [np.mean(by[m]) for m in ms],
      yerr=[np.std(by[m]) for m in ms],
      marker="o",
      capsize=3,
      label=f"{ROWS[row]} {protocol} ({ds})",
    )
  ax.set_xlabel("masking ratio")
  ax.set_ylabel("accuracy (%)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return plotting.save_figure(fig, path, dpi=100)


def reconstructions(pretrain: dict, path: str, n: int = 8) -> str | None:
  """Fig. 3: the same test images and masks through every pre-trained model."""
  if not pretrain:
    return None
  import ml_collections

  from common import data, plotting
  from sdmae import data as sd_data
  from sdmae import task as task_lib

  rows, labels = [], []
  for wd, cfg in sorted(pretrain.items(), key=lambda kv: list(ROWS).index(kv[1]["method"])):
    cfg = ml_collections.ConfigDict(cfg)
    run = runs_lib.load_run(wd)
    task, state, step = task_lib.make_task(cfg), run.state, run.step
    _, test_src, _, _ = sd_data.load(cfg.data)
    b = next(data.eval_batches(test_src, n, sd_data.eval_map(cfg.model.image_size)))
    masked, recon = task.reconstruct(state["params"], b["image"])
    if not rows:
      rows += [sd_data.unnormalize(b["image"]), masked]
      labels += ["original", f"masked ({cfg.mask_ratio:.2f})"]
    rows.append(recon)
    labels.append(f"{ROWS[cfg.method]} (step {step})")
  grid = plotting.image_grid(np.concatenate(rows), n)
  return plotting.save_panels(path, [("rows: " + " / ".join(labels), grid)], ncols=1, size=8)


def _define_flags():
  flags.DEFINE_list(
    "workdirs",
    None,
    "sdmae workdirs (probe / fine-tune runs; pre-training runs for Fig. 3)",
    required=True,
  )
  flags.DEFINE_string("out", ".", "output folder (table1.md, mask_ratio.png, reconstructions.png)")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  out = sources.check_out_dir(FLAGS.out)
  resolved = runs_lib.resolve_workdirs(FLAGS.workdirs)  # every workdir checked before any work
  for label, (wd, run_cfg) in resolved.items():
    if not str(run_cfg.get("task", "")).startswith("sdmae") or "mode" not in run_cfg:
      raise UserError(
        f"--workdirs {label}={wd} is not an sdmae training run (its config.json has "
        f"task={run_cfg.get('task')!r}); give sdmae pre-training, probe or fine-tuning workdirs"
      )
  results, pretrain = collect([wd for wd, _ in resolved.values()])
  os.makedirs(out, exist_ok=True)
  md = table(results)
  write_text_atomic(os.path.join(out, "table1.md"), md + "\n")
  mask_ratio_plot(results, os.path.join(out, "mask_ratio.png"))
  reconstructions(pretrain, os.path.join(out, "reconstructions.png"))
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
