"""The paper's Table 1 (and Figures 3-4 as curves) from finished runs.

  python -m slicedae.evaluate --workdirs=DIR1,LABEL=DIR2,... [--out=DIR]
      [--fid_weights=fid_inception.npz [--fid_ref_stats=stats.npz] [--fid_num_samples=10000]]

Reads each workdir's ``config.json`` (model name) and ``metrics.jsonl`` (the eval rows logged during
training), writes ``table1.md`` (rows: skewness, normalized kurtosis with their p-values and whether
normality is rejected, reconstruction error, SWAE distance, "FD (<data> CNN)", FID; columns: one per
workdir, headed by its model and, where it differs, its label, plus the N(0, I) value at the same n and
D; then a table of latent diagnostics, held-out against train) and ``curves.png`` (the paper's
Figs. 3-4: the metrics over training with the N(0, I) value dashed).
With ``--fid_weights`` (see ``tools/fid_weights_to_npz.py``) the FID row is computed now from each
run's latest checkpoint; otherwise it shows the FID logged during training, or "not computed".
"""

from __future__ import annotations

import os

from absl import flags

from common import cli
from common import logging as log_lib
from common import runs as runs_lib
from common.data import sources
from common.errors import UserError

ROWS = [
  ("Skewness", "eval/skewness"),
  ("Kurtosis (normalized)", "eval/kurtosis_normalized"),
  ("Reconstruction error", "eval/rec_error"),
  ("SWAE distance", "eval/swae_distance"),
  ("FD", "eval/fd"),
  ("FID", "eval/fid"),
]
ALPHA = 0.05  # per model, over the two statistics with a Bonferroni split (0.025 each)
ORDER = [
  "swae",
  "sksae",
  "scwae",
  "scvmae",
  "scfwae",
  "cwae",
  "ae",
]  # the paper's column order first


def collect(workdirs: list[str]) -> dict[str, dict]:
  """``DIR`` or ``LABEL=DIR`` items -> ``{label: {"model", "workdir", "rows"}}``: one column per run (two
  runs of one model are two columns), the eval rows logged during training."""
  runs = {}
  for label, (wd, cfg) in runs_lib.resolve_workdirs(workdirs).items():
    if "model" not in cfg or "name" not in cfg.model:
      raise UserError(
        f"--workdirs {label}={wd} is not a slicedae run (no model.name in its config.json)"
      )
    m_path = os.path.join(wd, "metrics.jsonl")
    if not os.path.isfile(m_path):
      raise UserError(f"{wd} has no metrics.jsonl; train it first with python -m slicedae.main")
    runs[label] = {
      "model": cfg.model.name,
      "workdir": wd,
      "cfg": cfg,
      "rows": [r for r in log_lib.read_jsonl(m_path) if "eval/rec_error" in r],
    }
  return runs


def column(label: str, run: dict) -> str:
  return run["model"].upper() if label == run["model"] else f"{run['model'].upper()} ({label})"


def add_fid(
  runs: dict[str, dict], weights: str, ref_stats: str | None = None, num_samples: int | None = None
) -> None:
  """Computes FID from each run's latest checkpoint into its last evaluation row."""
  import types

  from slicedae import task as task_lib

  for label, r in runs.items():
    run = runs_lib.load_run(r["workdir"])
    cfg = run.cfg
    cfg.fid.weights = weights
    cfg.fid.ref_stats = ref_stats if ref_stats is not None else cfg.fid.ref_stats
    cfg.fid.num_samples = int(num_samples or cfg.fid.num_samples)
    value = task_lib.make_task(cfg).fid(
      types.SimpleNamespace(params=run.state["params"], extra=run.state["extra"])
    )
    rows = r["rows"]
    if not rows or rows[-1]["step"] != run.step:
      rows.append({"step": run.step})
    rows[-1]["eval/fid"] = value
    print(f"{column(label, r)}: FID {value:.2f} at step {run.step} ({cfg.fid.num_samples} samples)")


def null_swae_distance(n: int, d: int, draws: int = 20, seed: int = 0) -> tuple[float, float]:
  """Mean +- std of the classical SWAE distance (50 directions, sorted squared differences) between
  two independent samples of n points of N(0, I_D): the value a perfect latent scores at this n."""
  import numpy as np

  rng = np.random.default_rng(seed)
  v = rng.standard_normal((50, d))
  v /= np.linalg.norm(v, axis=1, keepdims=True)
  vals = [
    np.mean(
      (
        np.sort(rng.standard_normal((n, d)) @ v.T, 0)
        - np.sort(rng.standard_normal((n, d)) @ v.T, 0)
      )
      ** 2
    )
    for _ in range(draws)
  ]
  return float(np.mean(vals)), float(np.std(vals))


def _fmt_p(p: float, floor: float = 0.0) -> str:
  """A p-value; ``floor``: the smallest Monte-Carlo p-value (1 / (draws + 1)), shown as an upper bound."""
  if floor and p <= floor * (1 + 1e-9):
    return f"≤{p:.0e}"
  return "<1e-16" if p < 1e-16 else (f"{p:.3f}" if p >= 1e-3 else f"{p:.0e}")


def _verdict(last: dict, a: str, b: str) -> str:
  if a not in last or b not in last:
    return "-"
  return "rejected" if min(last[a], last[b]) < ALPHA / 2 else "not rejected"


def _reference(runs: dict[str, dict]) -> dict:
  """What the runs are compared with: their data set, n (held-out images, known for the embedded sets)
  and D, the number of null draws, and ``null`` = {metric key: (value, std)} for N(0, I) at that n and D
  (logged by the task), the SWAE distance between two N(0, I) samples, and the FD of real images."""
  cfg = next(iter(runs.values()))["cfg"]
  dataset = cfg.data.name
  n = int(cfg.data.num_test) if dataset in ("digits", "lfw") else None
  d = int(cfg.model.z_dim)
  row = next(
    (
      r["rows"][-1]
      for r in runs.values()
      if r["rows"] and "eval/null_skewness_mean" in r["rows"][-1]
    ),
    {},
  )
  null = {}
  if row:
    null["eval/skewness"] = (row["eval/null_skewness_mean"], row["eval/null_skewness_std"])
    null["eval/kurtosis_normalized"] = (
      row["eval/null_kurtosis_mean"],
      row["eval/null_kurtosis_std"],
    )
  if n:
    null["eval/swae_distance"] = null_swae_distance(n, d)
  if "eval/fd_floor" in row:
    null["eval/fd"] = (row["eval/fd_floor"], 0.0)
  return {
    "dataset": dataset,
    "n": n,
    "d": d,
    "draws": int(cfg.get("null_draws", 0)),
    "row": row,
    "null": null,
  }


def table(runs: dict[str, dict]) -> str:
  """Table 1 with its null: one column per run plus an ``N(0, I)`` column (the paper's statistics of
  N(0, I) samples at the same n and D, the SWAE distance between two such samples, and the FD of real
  training images), p-values, and whether normality is rejected."""
  labels = sorted(
    runs,
    key=lambda l: (
      ORDER.index(runs[l]["model"]) if runs[l]["model"] in ORDER else 99,
      list(runs).index(l),
    ),
  )
  lasts = {l: (runs[l]["rows"][-1] if runs[l]["rows"] else {}) for l in labels}
  r = _reference(runs)
  dataset, n, d = r["dataset"], r["n"], r["d"]
  from slicedae import fd as fd_lib

  fmt = lambda v: f"{v:.2f}"
  null_col = {k: "-" for _, k in ROWS}
  for key, (m, sd) in r["null"].items():
    null_col[key] = (
      f"{m:.2f} (real train images)"
      if key == "eval/fd"
      else f"{m:.3f} ± {sd:.3f}"
      if key == "eval/swae_distance"
      else f"{m:.2f} ± {sd:.2f}"
    )
  head = [column(l, runs[l]) for l in labels] + [f"N(0, I), n={n or '?'}, D={d}"]
  lines = ["| Method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
  for name, key in ROWS:
    if key == "eval/fd":
      name = fd_lib.name_for(dataset)
    vals = [
      (f"{lasts[l][key]:.3f}" if key == "eval/swae_distance" else fmt(lasts[l][key]))
      if key in lasts[l]
      else "not computed"
      for l in labels
    ]
    lines.append(f"| {name} | " + " | ".join(vals + [null_col[key]]) + " |")
    if key == "eval/kurtosis_normalized":
      mc_floor = 1.0 / (r["draws"] + 1)
      p = lambda l, a, b, f=0.0: (
        f"{_fmt_p(lasts[l][a], f)} / {_fmt_p(lasts[l][b], f)}" if a in lasts[l] else "-"
      )
      lines.append(
        "| p vs N(0, I), skewness / kurtosis (Monte Carlo) | "
        + " | ".join(
          p(l, "eval/p_skewness_vs_null", "eval/p_kurtosis_vs_null", mc_floor) for l in labels
        )
        + " | - |"
      )
      lines.append(
        "| N(0, I) at 5% | "
        + " | ".join(
          _verdict(lasts[l], "eval/p_skewness_vs_null", "eval/p_kurtosis_vs_null") for l in labels
        )
        + " | - |"
      )
      lines.append(
        "| Mardia's tests p, skewness / kurtosis (any normal) | "
        + " | ".join(p(l, "eval/mardia_p_skewness", "eval/mardia_p_kurtosis") for l in labels)
        + " | - |"
      )
      lines.append(
        "| Normal (any mean, covariance) at 5% | "
        + " | ".join(
          _verdict(lasts[l], "eval/mardia_p_skewness", "eval/mardia_p_kurtosis") for l in labels
        )
        + " | - |"
      )
  steps = {column(l, runs[l]): lasts[l]["step"] for l in labels if lasts[l]}
  acc = r["row"].get("eval/fd_classifier_accuracy")
  lines.append("")
  lines.append(
    f"Values at the last evaluation (steps: {', '.join(f'{k}={v}' for k, v in steps.items())}) on the held-out "
    f"images. N(0, I) column: the same statistics of N(0, I) samples at the same n and D "
    f"(mean ± std over {r['draws']} samples; the SWAE distance between two such samples). "
    "p-values: the paper's statistics against that simulated null (skewness one-sided, kurtosis "
    "two-sided), and Mardia's asymptotic tests on the whitened latent (normality with any mean and "
    "covariance); 'rejected' when either p < 0.025 (5% split over the two statistics). "
    + (
      f"{fd_lib.name_for(dataset)}: Fréchet distance in the features of a CNN trained on the training split "
      f"(held-out accuracy {acc:.3f}), decoded prior samples against the held-out images; not FID. "
      if acc is not None
      else ""
    )
    + "FID needs Inception-v3 weights, which are not bundled: without --fid_weights, 'not computed' marks it."
  )
  return "\n".join(lines)


def pooled_table(runs: dict[str, dict]) -> str:
  """Runs equal but for the seed (``common.runs.seed_groups``), one column per group: mean ± std over
  the seeds of each Table 1 row, and how many of the runs reject normality at 5%."""
  import numpy as np

  cfgs = {l: r["cfg"] for l, r in runs.items()}
  groups = runs_lib.seed_groups(cfgs)
  if not groups:
    return ""
  lasts = {l: (runs[l]["rows"][-1] if runs[l]["rows"] else {}) for l in runs}
  head = [f"{runs[g[0]]['model'].upper()}, {len(g)} seeds" for g in groups]
  lines = ["| Mean ± std over seeds | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
  for name, key in ROWS:
    cells = []
    for g in groups:
      v = np.array([lasts[l][key] for l in g if key in lasts[l]], np.float64)
      cells.append(
        f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}" if len(v) else "not computed"
      )
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  for name, a, b in (
    ("N(0, I) rejected at 5% (runs)", "eval/p_skewness_vs_null", "eval/p_kurtosis_vs_null"),
    (
      "normality (any mean, covariance) rejected at 5% (runs)",
      "eval/mardia_p_skewness",
      "eval/mardia_p_kurtosis",
    ),
  ):
    lines.append(
      f"| {name} | "
      + " | ".join(
        f"{sum(_verdict(lasts[l], a, b) == 'rejected' for l in g)}/{len(g)}" for g in groups
      )
      + " |"
    )
  return "\n".join(lines)


def held_out_latent(workdir: str):
  """The held-out images' latent codes under a run's latest checkpoint, (n, z_dim) float64."""
  import numpy as np

  from slicedae import task as task_lib
  from slicedae.models import make_model

  run = runs_lib.load_run(workdir)
  _, test_x, shape = task_lib.load_splits(run.cfg.data)
  model = make_model(run.cfg.model, shape)
  z = [
    np.asarray(model.apply(run.variables, test_x[i : i + 256])[1]["z"])
    for i in range(0, len(test_x), 256)
  ]
  return np.concatenate(z).astype(np.float64)


def gaussian_fit_statistics(z, draws: int = 200, seed: int = 0) -> tuple[float, float]:
  """Mean (skewness, normalized kurtosis), the paper's statistics, of samples of N(mean(z), cov(z)) of the
  same size: what the latent would score if it were Gaussian with its own mean and covariance. When
  these match the latent's own values, its distance from N(0, I) is a shift and a covariance, not shape."""
  import numpy as np

  from common import metrics

  z = np.asarray(z, np.float64)
  null = metrics.mardia_null(
    len(z), z.shape[1], draws, seed, mean=z.mean(0), cov=np.cov(z, rowvar=False, bias=True)
  )
  return float(null["skewness"].mean()), float(null["kurtosis"].mean())


def diagnostics(runs: dict[str, dict], gaussian_fit: bool = True) -> str:
  """Where the latent departs from N(0, I), on the held-out images and as many training images; with
  ``gaussian_fit``, the statistics a Gaussian with the latent's own mean and covariance would have."""
  labels = list(runs)
  keys = [
    ("mean norm ‖z̄‖", "latent_mean_norm"),
    ("per-dim variance, min", "latent_var_min"),
    ("per-dim variance, max", "latent_var_max"),
    ("skewness", "skewness"),
    ("kurtosis (normalized)", "kurtosis_normalized"),
  ]
  lines = [
    "| Latent | " + " | ".join(column(l, runs[l]) for l in labels) + " |",
    "|---" * (len(labels) + 1) + "|",
  ]
  for split, pre in (("held-out", ""), ("train", "train_")):
    for name, k in keys:
      vals = []
      for l in labels:
        last = runs[l]["rows"][-1] if runs[l]["rows"] else {}
        vals.append(f"{last['eval/' + pre + k]:.2f}" if "eval/" + pre + k in last else "-")
      lines.append(f"| {split}: {name} | " + " | ".join(vals) + " |")
    if split == "held-out" and gaussian_fit:
      fits = [gaussian_fit_statistics(held_out_latent(runs[l]["workdir"])) for l in labels]
      lines.append(
        "| held-out, N(z̄, Σ̂) of the same n: skewness | "
        + " | ".join(f"{f[0]:.2f}" for f in fits)
        + " |"
      )
      lines.append(
        "| held-out, N(z̄, Σ̂) of the same n: kurtosis (normalized) | "
        + " | ".join(f"{f[1]:.2f}" for f in fits)
        + " |"
      )
  return "\n".join(lines)


def curves(runs: dict[str, list[dict]], path: str) -> str:
  """The paper's Figs. 3-4: each metric over training, one line per run, and a dashed line at the
  N(0, I) value at the same n and D (grey band: ± 2 std); for FD the real-image floor."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from common import plotting

  keys = [k for _, k in ROWS if any(k in r for run in runs.values() for r in run["rows"])]
  null = _reference(runs)["null"]
  fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for label, run in runs.items():
      pts = [(r["step"], r[key]) for r in run["rows"] if key in r]
      if pts:
        ax.plot(*zip(*pts), marker="o", ms=2, label=column(label, run))
    if key in null:
      m, sd = null[key]
      ax.axhline(
        m, color="k", ls="--", lw=1.2, label="N(0, I)" if key != "eval/fd" else "real images"
      )
      if sd:
        ax.axhspan(m - 2 * sd, m + 2 * sd, color="0.5", alpha=0.2, lw=0)
    ax.set_title(key.split("/")[1] if key != "eval/fd" else "FD (classifier features)")
    ax.set_xlabel("step")
    if key in ("eval/skewness", "eval/swae_distance", "eval/fd"):
      ax.set_yscale("log")
    if key == "eval/kurtosis_normalized":
      ax.set_yscale("symlog", linthresh=10.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.tight_layout()
  return plotting.save_figure(fig, path, dpi=90)


def _define_flags():
  flags.DEFINE_list(
    "workdirs",
    None,
    "slicedae training workdirs, DIR or LABEL=DIR (one column each)",
    required=True,
  )
  flags.DEFINE_string("out", ".", "output folder (table1.md, curves.png)")
  flags.DEFINE_string(
    "fid_weights", None, "Inception weights .npz (tools/fid_weights_to_npz.py): compute FID now"
  )
  flags.DEFINE_string("fid_ref_stats", None, "pytorch-fid reference statistics .npz (mu, sigma)")
  flags.DEFINE_integer(
    "fid_num_samples", None, "samples for FID (default: the run's config)", lower_bound=2
  )


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  out = sources.check_out_dir(FLAGS.out)
  if FLAGS.fid_weights and not os.path.isfile(FLAGS.fid_weights):
    raise UserError(
      f"--fid_weights={FLAGS.fid_weights!r} does not exist (make it with tools/fid_weights_to_npz.py)"
    )
  runs = collect(FLAGS.workdirs)
  if FLAGS.fid_weights:
    add_fid(runs, FLAGS.fid_weights, FLAGS.fid_ref_stats, FLAGS.fid_num_samples)
  os.makedirs(out, exist_ok=True)
  md = table(runs) + "\n\n" + diagnostics(runs)
  with open(os.path.join(out, "table1.md"), "w") as f:
    f.write(md + "\n")
  curves(runs, os.path.join(out, "curves.png"))
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
