"""Table 1 and Fig. 2 at CPU scale, in one resumable command, with seeds and paired tests.

  python -m sdmae.study --out=runs/sdmae_study [--datasets=embedded,ihc] [--seeds=0,1,2,3,4] \
      [--pretrain_steps=300] [--downstream_steps=150] [--mask_ratios=0.4,0.6,0.75,0.9] [--fig2_seeds=1]

For every dataset and seed: MAE, MAE + self-contrastive and SD-MAE are pre-trained
(``configs/sdmae/pretrain.py:DATASET,METHOD,seed=S``), each is fine-tuned end to end and linearly
probed with the same seed, and a supervised ViT of the same size is trained from scratch
(``finetune.py:DATASET,supervised``: the fine-tuning recipe without layer decay): the four
rows of Table 1, each cell mean ± std over the seeds. The paired comparison of SD-MAE with MAE is
over seeds (paired t-test) and over all (dataset, seed) pairs (exact Wilcoxon signed-rank; with 5 seeds
on 2 datasets its smallest possible two-sided p is 0.002).

Fig. 2: SD-MAE pre-trained at each mask ratio on the first dataset (the first ``--fig2_seeds`` seeds,
default 1), then fine-tuned; accuracy against the ratio (``OUT/fig2_mask_ratio.png``; mean ± std when
there are several seeds). The 0.6 runs are the Table 1 runs.

Each run lives in ``OUT/DATASET/sS/NAME`` and is skipped when finished, resumed when interrupted.
Writes ``OUT/table1.md`` (also printed) and ``OUT/results.csv``.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict

import numpy as np
from absl import flags

from common import cli, metrics
from common import config as config_lib
from common import runs as runs_lib
from common.data import sources
from common.errors import UserError
from sdmae import evaluate

METHODS = ("mae", "contrastive", "sdmae")
DATASETS = ("embedded", "ihc")


def _cfg(config: str, overrides: dict):
  return config_lib.load_config(cli.config_path(f"sdmae/{config}"), overrides)


def _downstream_overrides(steps: int, init: str) -> dict:
  return {
    "total_steps": steps,
    "ckpt_every": steps,
    "eval_every": steps,
    "log_every": max(steps // 4, 1),
    "init.workdir": init,
  }


def plan(
  out: str,
  datasets,
  seeds,
  pretrain_steps: int,
  downstream_steps: int,
  mask_ratios,
  fig2_seeds: int = 1,
) -> list[tuple]:
  """The runs as (label, config, overrides, workdir), pre-training before what reads it: Table 1 seed by
  seed (every dataset at seed 0, then at seed 1, ...), then Fig. 2's extra ratios for the first
  ``fig2_seeds`` seeds."""
  runs = []
  pre_over = {
    "total_steps": pretrain_steps,
    "eval_every": pretrain_steps,
    "ckpt_every": pretrain_steps,
    "figure_every": pretrain_steps,
    "log_every": max(pretrain_steps // 8, 1),
  }

  def add(ds, s, method, mask=None, probe=True):
    tag = method if mask is None else f"{method}_mask{mask:g}"
    arg = f"{ds},{method},seed={s}" + ("" if mask is None else f",mask={mask:g}")
    pre = os.path.join(out, ds, f"s{s}", tag)
    runs.append((f"{ds} s{s} {tag}", f"pretrain.py:{arg}", pre_over, pre))
    runs.append(
      (
        f"{ds} s{s} {tag} fine-tune",
        f"finetune.py:{ds},seed={s}",
        _downstream_overrides(downstream_steps, pre),
        pre + "_ft",
      )
    )
    if probe:
      runs.append(
        (
          f"{ds} s{s} {tag} probe",
          f"probe.py:{ds},seed={s}",
          _downstream_overrides(downstream_steps, pre),
          pre + "_probe",
        )
      )

  for s in seeds:
    for ds in datasets:
      for method in METHODS:
        add(ds, s, method)
      runs.append(
        (
          f"{ds} s{s} supervised",
          f"finetune.py:{ds},supervised,seed={s}",
          _downstream_overrides(downstream_steps, ""),
          os.path.join(out, ds, f"s{s}", "supervised"),
        )
      )
  for s in list(seeds)[:fig2_seeds]:
    for m in mask_ratios:
      if abs(m - 0.6) > 1e-9:
        add(datasets[0], s, "sdmae", m, probe=False)
  return runs


def paired(results, protocol: str, a: str = "sdmae", b: str = "mae") -> list[str]:
  """Per-dataset paired t-test over seeds and the pooled exact Wilcoxon of ``a`` - ``b`` (mask 0.6 runs)."""
  acc = {
    (r["dataset"], r["seed"], r["row"]): r["accuracy"]
    for r in results
    if r["protocol"] == protocol and r["mask"] in (None, 0.6)
  }
  lines = [
    f"**{evaluate.ROWS[a]} minus {evaluate.ROWS[b]}, {protocol}** (accuracy points; paired over seeds)",
    "",
    "| dataset | per seed | mean ± std | paired t p | seeds won |",
    "|---|---|---|---|---|",
  ]
  pooled = []
  for ds in sorted({k[0] for k in acc}):
    seeds = sorted(s for (d, s, r) in acc if d == ds and r == a and (d, s, b) in acc)
    diffs = [100 * (acc[(ds, s, a)] - acc[(ds, s, b)]) for s in seeds]
    if diffs:
      pooled += diffs
      lines.append(
        f"| {ds} | {', '.join(f'{d:+.2f}' for d in diffs)} | "
        + " | ".join(metrics.paired_cells(diffs, digits=2, p_format=".3g", test="t"))
        + " |"
      )
  if len(pooled) >= 2:
    mean_std, p, won = metrics.paired_cells(pooled, digits=2, p_format=".3g", method="exact")
    lines.append(f"| all (n={len(pooled)}) | | {mean_std} | Wilcoxon {p} | {won} |")
  return lines + [""]


def _collect(runs) -> list[dict]:
  rows = []
  for _, config, _, wd in runs:
    if config.startswith("pretrain"):
      continue
    res, _ = evaluate.collect([wd])
    if not res:
      continue
    protocol, row, ds, mask, acc = res[0]
    rows.append(
      dict(
        protocol=protocol,
        row=row,
        dataset=ds,
        mask=mask,
        accuracy=acc,
        seed=_seed_of(wd),
        workdir=wd,
      )
    )
  return rows


def _seed_of(wd: str) -> int:
  from common import checkpoint

  return int(checkpoint.read_config(wd).seed)


def majority_baselines(datasets) -> str:
  """The accuracy of always predicting the test split's most frequent class, per dataset."""
  from sdmae import data as sd_data

  parts = []
  for ds in datasets:
    cfg = _cfg(f"pretrain.py:{ds}", {})
    _, test, k, _ = sd_data.load(cfg.data)
    labels = np.array([int(test[i]["label"]) for i in range(len(test))])
    parts.append(
      f"{cfg.data.name} {100 * np.bincount(labels, minlength=k).max() / len(labels):.2f}% "
      f"({len(labels)} test images, {k} classes)"
    )
  return "Majority-class accuracy of the test splits: " + "; ".join(parts) + "."


def fig2_results(results, seeds) -> list[dict]:
  """The SD-MAE fine-tunes of Fig. 2: the dataset of the extra-ratio runs, the Fig. 2 seeds only (so the
  0.6 point, a Table 1 run, averages the same seeds as the others)."""
  extra = {r["dataset"] for r in results if r["mask"] not in (None, 0.6)}
  return [
    r
    for r in results
    if r["protocol"] == "finetune"
    and r["row"] == "sdmae"
    and r["mask"] is not None
    and r["dataset"] in extra
    and r["seed"] in seeds
  ]


def mask_plot(results, path: str) -> str | None:
  """Fig. 2 from :func:`fig2_results` (``sdmae.evaluate.mask_ratio_plot``: mean ± std over seeds)."""
  rows = [(r["protocol"], r["row"], r["dataset"], r["mask"], r["accuracy"]) for r in results]
  return evaluate.mask_ratio_plot(rows, path)


def run_study(
  out: str,
  datasets=DATASETS,
  seeds=(0, 1, 2),
  pretrain_steps: int = 300,
  downstream_steps: int = 150,
  mask_ratios=(0.4, 0.6, 0.75, 0.9),
  verbose: bool = False,
  fig2_seeds: int = 1,
) -> str:
  for ds in datasets:
    if ds not in DATASETS:
      raise UserError(
        f"--datasets: {ds!r} is not an embedded set; use {', '.join(DATASETS)} (real datasets: "
        "run sdmae.main with their configs)"
      )
  runs = plan(
    out,
    list(datasets),
    list(seeds),
    pretrain_steps,
    downstream_steps,
    list(mask_ratios),
    fig2_seeds,
  )
  for i, (label, config, over, wd) in enumerate(runs):
    runs_lib.train_unless_done(_cfg(config, over), wd, f"[{i + 1}/{len(runs)}] {label}", verbose)
  results = _collect(runs)
  with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, ["protocol", "row", "dataset", "mask", "seed", "accuracy", "workdir"])
    w.writeheader()
    w.writerows(results)
  t1 = [
    (r["protocol"], r["row"], r["dataset"], r["mask"], r["accuracy"])
    for r in results
    if r["mask"] in (None, 0.6)
  ]
  md = [
    f"Table 1 at CPU scale: datasets {', '.join(datasets)}, seeds {', '.join(map(str, seeds))}; pre-training "
    f"{pretrain_steps} steps, fine-tuning / probing / supervised {downstream_steps} steps; mean ± std over seeds.",
    "",
    majority_baselines(datasets),
    "",
    evaluate.table(t1),
  ]
  for protocol in ("finetune", "probe"):
    md += paired(results, protocol)
  fig_rows = fig2_results(results, list(seeds)[:fig2_seeds])
  fig = mask_plot(fig_rows, os.path.join(out, "fig2_mask_ratio.png"))
  if fig:
    by = defaultdict(list)
    for r in fig_rows:
      by[r["mask"]].append(100 * r["accuracy"])
    md += [
      f"Fig. 2 ({datasets[0]}, SD-MAE fine-tuned, seeds {', '.join(map(str, list(seeds)[:fig2_seeds]))}): "
      + ", ".join(f"mask {m:g}: {np.mean(v):.2f} ± {np.std(v):.2f}" for m, v in sorted(by.items())),
      "",
      "![mask ratio](fig2_mask_ratio.png)",
      "",
    ]
  text = "\n".join(md)
  with open(os.path.join(out, "table1.md"), "w") as f:
    f.write(text + "\n")
  print(text)
  return text


def _define_flags():
  flags.DEFINE_string(
    "out", None, "study folder (one workdir per run, tables, figure)", required=True
  )
  flags.DEFINE_list("datasets", list(DATASETS), "embedded sets")
  flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "seeds (pre-training and downstream)")
  flags.DEFINE_integer("pretrain_steps", 300, "pre-training steps per run", lower_bound=1)
  flags.DEFINE_integer(
    "downstream_steps", 150, "fine-tune / probe / supervised steps per run", lower_bound=1
  )
  flags.DEFINE_list(
    "mask_ratios", ["0.4", "0.6", "0.75", "0.9"], "Fig. 2 mask ratios ('' for none)"
  )
  flags.DEFINE_integer(
    "fig2_seeds", 1, "seeds of the Fig. 2 mask-ratio runs (the first N of --seeds)", lower_bound=0
  )
  flags.DEFINE_bool("train_logs", False, "per-step training logs")


def main(argv) -> int:
  F = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  try:
    seeds = [int(s) for s in F.seeds]
    masks = [float(m) for m in F.mask_ratios if m]
  except ValueError as e:
    raise UserError(f"--seeds / --mask_ratios: {e}") from None
  if any(not 0 < m < 1 for m in masks):
    raise UserError(f"--mask_ratios={F.mask_ratios}: each must be in (0, 1)")
  run_study(
    sources.check_out_dir(F.out),
    F.datasets,
    seeds,
    F.pretrain_steps,
    F.downstream_steps,
    masks,
    F.train_logs,
    F.fig2_seeds,
  )
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
