"""The paper's Table 1 (and Figures 3-4 as curves) from finished runs.

  python -m slicedae.evaluate --workdirs=DIR1,DIR2,... [--out=DIR]

Reads each workdir's ``config.json`` (model name) and ``metrics.jsonl`` (the eval rows logged during
training), writes ``table1.md`` (rows: skewness, normalized kurtosis, reconstruction error, FID;
columns: the models) and ``curves.png`` (the metrics over training, all models on one plot each).
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
               "FID needs Inception-v3 weights, which are not bundled: 'not computed' marks it.")
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
  argv = list(sys.argv[1:] if argv is None else argv)
  opts, _ = config_lib.parse_kv(argv)
  if "workdirs" not in opts:
    print(__doc__, file=sys.stderr)
    return 2
  out = opts.get("out", ".")
  try:
    runs = collect([w for w in opts["workdirs"].split(",") if w])
  except FileNotFoundError as e:
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
