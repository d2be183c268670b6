"""The paper's Table 1 (and Figures 3-4 as curves) from finished runs.

  python -m slicedae.evaluate --workdirs=DIR1,LABEL=DIR2,... [--out=DIR]
      [--fid_weights=fid_inception.npz [--fid_ref_stats=stats.npz] [--fid_num_samples=10000]]

Reads each workdir's ``config.json`` (model name) and ``metrics.jsonl`` (the eval rows logged during
training), writes ``table1.md`` (rows: skewness, normalized kurtosis, reconstruction error, FID;
columns: one per workdir, headed by its model and, where it differs, its label) and ``curves.png`` (the metrics over training, all models on one plot each).
With ``--fid_weights`` (see ``tools/fid_weights_to_npz.py``) the FID row is computed now from each
run's latest checkpoint; otherwise it shows the FID logged during training, or "not computed".
"""

from __future__ import annotations

import os

from absl import flags

from common import checkpoint, cli
from common import logging as log_lib
from common.data import sources
from common.errors import UserError

ROWS = [("Skewness", "eval/skewness"), ("Kurtosis (normalized)", "eval/kurtosis_normalized"),
        ("Reconstruction error", "eval/rec_error"), ("SWAE distance", "eval/swae_distance"), ("FID", "eval/fid")]
ORDER = ["swae", "sksae", "scwae", "scvmae", "scfwae", "cwae", "ae"]  # the paper's column order first


def collect(workdirs: list[str]) -> dict[str, dict]:
  """``DIR`` or ``LABEL=DIR`` items -> ``{label: {"model", "workdir", "rows"}}``: one column per run (two
  runs of one model are two columns), the eval rows logged during training."""
  from common import runs as runs_lib
  runs = {}
  for label, (wd, cfg) in runs_lib.resolve_workdirs(workdirs).items():
    if "model" not in cfg or "name" not in cfg.model:
      raise UserError(f"--workdirs {label}={wd} is not a slicedae run (no model.name in its config.json)")
    m_path = os.path.join(wd, "metrics.jsonl")
    if not os.path.isfile(m_path):
      raise UserError(f"{wd} has no metrics.jsonl; train it first with python -m slicedae.main")
    runs[label] = {"model": cfg.model.name, "workdir": wd,
                   "rows": [r for r in log_lib.read_jsonl(m_path) if "eval/rec_error" in r]}
  return runs


def column(label: str, run: dict) -> str:
  return run["model"].upper() if label == run["model"] else f"{run['model'].upper()} ({label})"


def add_fid(runs: dict[str, dict], weights: str, ref_stats: str | None = None,
            num_samples: int | None = None) -> None:
  """Computes FID from each run's latest checkpoint into its last evaluation row."""
  import types

  from slicedae import task as task_lib
  for label, r in runs.items():
    run = checkpoint.load_run(r["workdir"])
    cfg = run.cfg
    cfg.fid.weights = weights
    cfg.fid.ref_stats = ref_stats if ref_stats is not None else cfg.fid.ref_stats
    cfg.fid.num_samples = int(num_samples or cfg.fid.num_samples)
    value = task_lib.make_task(cfg).fid(types.SimpleNamespace(params=run.state["params"], extra=run.state["extra"]))
    rows = r["rows"]
    if not rows or rows[-1]["step"] != run.step:
      rows.append({"step": run.step})
    rows[-1]["eval/fid"] = value
    print(f"{column(label, r)}: FID {value:.2f} at step {run.step} ({cfg.fid.num_samples} samples)")


def table(runs: dict[str, dict]) -> str:
  labels = sorted(runs, key=lambda l: (ORDER.index(runs[l]["model"]) if runs[l]["model"] in ORDER else 99,
                                       list(runs).index(l)))
  lines = ["| Method | " + " | ".join(column(l, runs[l]) for l in labels) + " |", "|---" * (len(labels) + 1) + "|"]
  for name, key in ROWS:
    vals = []
    for l in labels:
      last = runs[l]["rows"][-1] if runs[l]["rows"] else {}
      vals.append(f"{last[key]:.2f}" if key in last else "not computed")
    lines.append(f"| {name} | " + " | ".join(vals) + " |")
  steps = {column(l, runs[l]): runs[l]["rows"][-1]["step"] for l in labels if runs[l]["rows"]}
  lines.append("")
  lines.append(f"Values at the last evaluation (steps: {', '.join(f'{n}={s}' for n, s in steps.items())}). "
               "FID needs Inception-v3 weights, which are not bundled: without --fid_weights, "
               "'not computed' marks it.")
  return "\n".join(lines)


def curves(runs: dict[str, list[dict]], path: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  keys = [k for _, k in ROWS if any(k in r for run in runs.values() for r in run["rows"])]
  fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for label, run in runs.items():
      pts = [(r["step"], r[key]) for r in run["rows"] if key in r]
      if pts:
        ax.plot(*zip(*pts), marker="o", ms=2, label=column(label, run))
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


def _define_flags():
  flags.DEFINE_list("workdirs", None, "slicedae training workdirs, DIR or LABEL=DIR (one column each)",
                    required=True)
  flags.DEFINE_string("out", ".", "output folder (table1.md, curves.png)")
  flags.DEFINE_string("fid_weights", None, "Inception weights .npz (tools/fid_weights_to_npz.py): compute FID now")
  flags.DEFINE_string("fid_ref_stats", None, "pytorch-fid reference statistics .npz (mu, sigma)")
  flags.DEFINE_integer("fid_num_samples", None, "samples for FID (default: the run's config)", lower_bound=2)


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  out = sources.check_out_dir(FLAGS.out)
  if FLAGS.fid_weights and not os.path.isfile(FLAGS.fid_weights):
    raise UserError(f"--fid_weights={FLAGS.fid_weights!r} does not exist (make it with tools/fid_weights_to_npz.py)")
  runs = collect(FLAGS.workdirs)
  if FLAGS.fid_weights:
    add_fid(runs, FLAGS.fid_weights, FLAGS.fid_ref_stats, FLAGS.fid_num_samples)
  os.makedirs(out, exist_ok=True)
  md = table(runs)
  with open(os.path.join(out, "table1.md"), "w") as f:
    f.write(md + "\n")
  curves(runs, os.path.join(out, "curves.png"))
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
