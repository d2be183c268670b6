"""The paper's Table 1 (and Figures 3-4 as curves) from finished runs.

  python -m slicedae.evaluate --workdirs=DIR1,DIR2,... [--out=DIR]
      [--fid_weights=fid_inception.npz [--fid_ref_stats=stats.npz] [--fid_num_samples=10000]]

Reads each workdir's ``config.json`` (model name) and ``metrics.jsonl`` (the eval rows logged during
training), writes ``table1.md`` (rows: skewness, normalized kurtosis, reconstruction error, FID;
columns: the models) and ``curves.png`` (the metrics over training, all models on one plot each).
With ``--fid_weights`` (see ``tools/fid_weights_to_npz.py``) the FID row is computed now from each
run's latest checkpoint; otherwise it shows the FID logged during training, or "not computed".
"""

from __future__ import annotations

import json
import os
import sys

from common import config as config_lib
from common import logging as log_lib

ROWS = [("Skewness", "eval/skewness"), ("Kurtosis (normalized)", "eval/kurtosis_normalized"),
        ("Reconstruction error", "eval/rec_error"), ("SWAE distance", "eval/swae_distance"), ("FID", "eval/fid")]
ORDER = ["swae", "sksae", "scwae", "scvmae", "scfwae", "cwae", "ae"]  # the paper's column order first


def collect(workdirs: list[str]) -> dict[str, list[dict]]:
  runs = {}
  for wd in workdirs:
    cfg_path, m_path = os.path.join(wd, "config.json"), os.path.join(wd, "metrics.jsonl")
    if not (os.path.isfile(cfg_path) and os.path.isfile(m_path)):
      raise FileNotFoundError(f"{wd} has no config.json/metrics.jsonl; train it first with python -m slicedae.main")
    with open(cfg_path) as f:
      name = json.load(f)["model"]["name"]
    runs[name] = [r for r in log_lib.read_jsonl(m_path) if "eval/rec_error" in r]
  return runs


def add_fid(workdirs: list[str], runs: dict[str, list[dict]], opts: dict) -> None:
  """Computes FID from each workdir's latest checkpoint into its last evaluation row."""
  import types

  import ml_collections

  from common import checkpoint
  from slicedae import task as task_lib
  for wd in workdirs:
    with open(os.path.join(wd, "config.json")) as f:
      cfg = ml_collections.ConfigDict(json.load(f))
    cfg.fid.weights = opts["fid_weights"]
    cfg.fid.ref_stats = opts.get("fid_ref_stats", cfg.fid.ref_stats)
    cfg.fid.num_samples = int(opts.get("fid_num_samples", cfg.fid.num_samples))
    state, step = checkpoint.load_state(wd)
    value = task_lib.make_task(cfg).fid(types.SimpleNamespace(params=state["params"], extra=state["extra"]))
    rows = runs[cfg.model.name]
    if not rows or rows[-1]["step"] != step:
      rows.append({"step": step})
    rows[-1]["eval/fid"] = value
    print(f"{cfg.model.name}: FID {value:.2f} at step {step} ({cfg.fid.num_samples} samples)")


def table(runs: dict[str, list[dict]]) -> str:
  names = sorted(runs, key=lambda n: ORDER.index(n) if n in ORDER else 99)
  lines = ["| Method | " + " | ".join(n.upper() for n in names) + " |", "|---" * (len(names) + 1) + "|"]
  for label, key in ROWS:
    vals = []
    for n in names:
      last = runs[n][-1] if runs[n] else {}
      vals.append(f"{last[key]:.2f}" if key in last else "not computed")
    lines.append(f"| {label} | " + " | ".join(vals) + " |")
  steps = {n: runs[n][-1]["step"] for n in names if runs[n]}
  lines.append("")
  lines.append(f"Values at the last evaluation (steps: {', '.join(f'{n}={s}' for n, s in steps.items())}). "
               "FID needs Inception-v3 weights, which are not bundled: without --fid_weights, "
               "'not computed' marks it.")
  return "\n".join(lines)


def curves(runs: dict[str, list[dict]], path: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  keys = [k for _, k in ROWS if any(k in r for rs in runs.values() for r in rs)]
  fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for n, rs in runs.items():
      pts = [(r["step"], r[key]) for r in rs if key in r]
      if pts:
        ax.plot(*zip(*pts), marker="o", ms=2, label=n.upper())
    ax.set_title(key.split("/")[1])
    ax.set_xlabel("step")
    if key in ("eval/skewness", "eval/swae_distance"):
      ax.set_yscale("log")
    if key == "eval/kurtosis_normalized":
      ax.axhline(0.0, color="k", ls="--", lw=1)  # the N(0, I) value
      ax.set_yscale("symlog")
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def main(argv=None) -> int:
  opts = config_lib.cli_options(argv, __doc__, required=("workdirs",))
  if opts is None:
    return 2
  out = opts.get("out", ".")
  workdirs = [w for w in opts["workdirs"].split(",") if w]
  try:
    runs = collect(workdirs)
    if opts.get("fid_weights"):
      add_fid(workdirs, runs, opts)
  except (FileNotFoundError, KeyError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  os.makedirs(out, exist_ok=True)
  md = table(runs)
  with open(os.path.join(out, "table1.md"), "w") as f:
    f.write(md + "\n")
  curves(runs, os.path.join(out, "curves.png"))
  print(md)
  return 0


if __name__ == "__main__":
  sys.exit(main())
