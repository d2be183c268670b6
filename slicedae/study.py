"""The convergence study: every model trained long on the embedded digits (MLP) and faces (conv),
then Table 1 and the paper's Figs. 3-4 from the runs, in one resumable command.

  python -m slicedae.study --out=runs/slicedae_study [--datasets=digits,lfw] [--models=scwae,...]

Each (dataset, model) trains in ``OUT/DATASET/MODEL`` with the config's ``long`` variant
(``configs/slicedae/digits.py:MODEL,long``: 20,000 steps of batch 128; ``lfw.py:MODEL,long``: 5,000 steps
of batch 32). A finished run is skipped and an interrupted one resumes from its last checkpoint, so
re-running the command after a crash or Ctrl-C continues. Then ``OUT/DATASET/table1.md`` and
``OUT/DATASET/curves.png`` are written by ``slicedae.evaluate``. Budget on 2 CPU cores: about 4 min per
digits model and 5 min per faces model (one core each, measured; see the README).
"""

from __future__ import annotations

import os
import time

from absl import flags

from common import cli, trainer
from common import config as config_lib
from common.data import sources
from common.errors import UserError

DATASETS = {"digits": "slicedae/digits.py", "lfw": "slicedae/lfw.py"}
MODELS = ("swae", "sksae", "scwae", "scvmae", "scfwae", "cwae", "ae")


def _last_checkpoint(workdir: str) -> int | None:
  d = os.path.join(workdir, "checkpoints")
  steps = [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(d) else []
  return max(steps, default=None)


def run_study(out: str, datasets=tuple(DATASETS), models=MODELS, variant: str = "long",
              overrides: dict | None = None, verbose: bool = True) -> dict[str, str]:
  """Trains what is missing, then writes each dataset's table and curves; returns {dataset: table md}."""
  from slicedae import evaluate
  from slicedae import task as task_lib
  for ds in datasets:
    if ds not in DATASETS:
      raise UserError(f"--datasets: unknown {ds!r}; choose from {', '.join(DATASETS)}")
  for m in models:
    if m not in MODELS:
      raise UserError(f"--models: unknown {m!r}; choose from {', '.join(MODELS)}")
  tables = {}
  for ds in datasets:
    workdirs = []
    for m in models:
      cfg = config_lib.load_config(cli.config_path(DATASETS[ds]) + f":{m},{variant}", overrides or {})
      wd = os.path.join(out, ds, m)
      workdirs.append(wd)
      done = _last_checkpoint(wd)
      if done is not None and done >= cfg.total_steps:
        print(f"{ds}/{m}: finished ({done} steps), skipped")
        continue
      t0 = time.time()
      print(f"{ds}/{m}: training {cfg.total_steps} steps" + (f" from step {done}" if done else ""), flush=True)
      trainer.train(cfg, task_lib.make_task(cfg), wd, verbose=verbose)
      print(f"{ds}/{m}: {time.time() - t0:.0f} s", flush=True)
    runs = evaluate.collect(workdirs)
    md = evaluate.table(runs) + "\n\n" + evaluate.diagnostics(runs)
    os.makedirs(os.path.join(out, ds), exist_ok=True)
    with open(os.path.join(out, ds, "table1.md"), "w") as f:
      f.write(md + "\n")
    evaluate.curves(runs, os.path.join(out, ds, "curves.png"))
    print(f"\n## {ds}\n{md}\n", flush=True)
    tables[ds] = md
  return tables


# Where does the latent's shift and under-dispersion come from? SCWAE on digits with the normality
# term weighted more (lam; the log cost is rec + lam log d) and with larger batches (a less noisy d).
ABLATION = {"lam1_b128": {}, "lam10_b128": {"loss.lam": 10.0}, "lam100_b128": {"loss.lam": 100.0},
            "lam1_b512": {"batch_size": 512}}


def run_ablation(out: str, verbose: bool = True) -> str:
  """SCWAE on digits (the ``long`` variant) under :data:`ABLATION`; writes ``OUT/ablation.md``."""
  from slicedae import evaluate
  from slicedae import task as task_lib
  workdirs = []
  for name, ov in ABLATION.items():
    cfg = config_lib.load_config(cli.config_path(DATASETS["digits"]) + ":scwae,long", ov)
    wd = os.path.join(out, name)
    workdirs.append(f"{name}={wd}")
    done = _last_checkpoint(wd)
    if done is not None and done >= cfg.total_steps:
      continue
    print(f"ablation {name}: training {cfg.total_steps} steps", flush=True)
    trainer.train(cfg, task_lib.make_task(cfg), wd, verbose=verbose)
  runs = evaluate.collect(workdirs)
  md = evaluate.table(runs) + "\n\n" + evaluate.diagnostics(runs)
  with open(os.path.join(out, "ablation.md"), "w") as f:
    f.write(md + "\n")
  evaluate.curves(runs, os.path.join(out, "ablation_curves.png"))
  print(md, flush=True)
  return md


def _define_flags():
  flags.DEFINE_string("out", None, "study folder (one workdir per dataset/model, tables, figures)", required=True)
  flags.DEFINE_list("datasets", list(DATASETS), "embedded sets to run")
  flags.DEFINE_list("models", list(MODELS), "models to train")
  flags.DEFINE_bool("quiet", False, "no per-step training logs")
  flags.DEFINE_bool("ablation", False, "instead: SCWAE on digits with lam 1/10/100 and batch 128/512 (OUT/ablation.md)")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  out = sources.check_out_dir(FLAGS.out)
  if FLAGS.ablation:
    run_ablation(out, verbose=not FLAGS.quiet)
  else:
    run_study(out, FLAGS.datasets, FLAGS.models, verbose=not FLAGS.quiet)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
