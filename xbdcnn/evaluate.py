"""X-BDCNN evaluation: the paper's Table I (test set, before denoising / each method / ablations) and
Table II (eta in {0.4, 0.6, 0.8} x sigma in {5, 10, 15}), SNR / PSNR / SSIM and time per image, and a
Fig. 2-style comparison.

  python -m xbdcnn.evaluate --workdirs=DIR1,LABEL=DIR2,... [--config=configs/xbdcnn/bundled.py]
      [--size=128] [--num_patches=16] [--out=DIR] [--classical=nlm,tv,bm3d]

Every workdir is a row named by its label (``LABEL=DIR``, or the folder name); which network it trained
(X-BDCNN, its ablations, DnCNN) is read from its own config.json. Runs whose configs differ only in the
seed get one more row each group: mean ± std over the seeds.

Classical references: scikit-image's non-local means and TV (Chambolle) denoisers, and BM3D from the
``bm3d`` package (omitted with a note when it is not installed), all given the noise std estimated
from the image (``skimage.restoration.estimate_sigma``): the comparison is blind for every method.
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from absl import flags

from common import checkpoint, cli, metrics, plotting
from common.data import sources
from common.errors import UserError
from xbdcnn import noise, task

ETAS, SIGMAS = (0.4, 0.6, 0.8), (5.0, 10.0, 15.0)


def classical(name: str):
  from skimage import restoration
  if name == "nlm":
    return lambda f: restoration.denoise_nl_means(f, h=0.8 * restoration.estimate_sigma(f), patch_size=5,
                                                  patch_distance=6, fast_mode=True,
                                                  sigma=restoration.estimate_sigma(f))
  if name == "tv":
    return lambda f: restoration.denoise_tv_chambolle(f, weight=1.5 * restoration.estimate_sigma(f))
  if name == "bm3d":
    try:
      import bm3d
    except ImportError:
      return None
    return lambda f: bm3d.bm3d(f, sigma_psd=max(restoration.estimate_sigma(f), 1e-3))
  raise ValueError(f"unknown classical method {name!r}; use nlm, tv, bm3d")


def _scores(out, clean):
  o, c = np.asarray(out, np.float32)[..., None], np.asarray(clean, np.float32)[..., None]
  return (float(metrics.snr(c, o)), float(metrics.psnr(o, c, data_range=1.0)),
          float(metrics.ssim(o, c, data_range=1.0)))


def run_methods(methods: dict, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
  """``{name: (snr, psnr, ssim, seconds per image)}`` averaged over ``(noisy, clean)`` pairs."""
  res = {"Noisy input": np.mean([_scores(f, g) for f, g in pairs], axis=0).tolist() + [0.0]}
  for name, fn in methods.items():
    fn(pairs[0][0])  # compile / warm up
    rows, t = [], 0.0
    for f, g in pairs:
      t0 = time.perf_counter()
      out = np.asarray(fn(f))
      t += time.perf_counter() - t0
      rows.append(_scores(out, g))
    res[name] = np.mean(rows, axis=0).tolist() + [t / len(pairs)]
  return res


def make_pairs(images, size, n, seed, eta=None, sigma=None, convention="peak"):
  rng = np.random.default_rng(seed)
  clean = []
  for i in range(n):
    img = images[i % len(images)]
    s = min(size or 10**9, *img.shape) // 4 * 4
    y0, x0 = rng.integers(0, img.shape[0] - s + 1), rng.integers(0, img.shape[1] - s + 1)
    clean.append(img[y0:y0 + s, x0:x0 + s])
  out = []
  for i, g in enumerate(clean):
    key = jax.random.PRNGKey(seed * 1000 + i)
    e = rng.uniform(0.4, 1.9) if eta is None else eta
    s = rng.uniform(0.0, 20.0) if sigma is None else sigma
    f = np.asarray(noise.add_noise(key, g[None, ..., None], np.array([e]), np.array([s]), convention))[0, ..., 0]
    out.append((f, g))
  return out


def _cell(v, fmt: str) -> str:
  return f"{v[0]:{fmt}} ± {v[1]:{fmt}}" if isinstance(v, tuple) else f"{v:{fmt}}"


def table(res: dict, title: str) -> str:
  """``res``: name -> (snr, psnr, ssim, seconds), each a number or a (mean, std) pair."""
  lines = [f"**{title}**", "", "| Method | SNR | PSNR | SSIM | Time (s) |", "|---|---|---|---|---|"]
  for name, (snr, psnr, ssim, t) in res.items():
    lines.append(f"| {name} | {_cell(snr, '.2f')} | {_cell(psnr, '.2f')} | {_cell(ssim, '.4f')} | {_cell(t, '.3f')} |")
  return "\n".join(lines)


KINDS = {"xbdcnn": "X-BDCNN", "dncnn": "DnCNN", "no_nle": "X-BDCNN w/o NLE", "no_ssim": "X-BDCNN w/o SSIM loss"}


def network_kind(cfg) -> str:
  """The network a run trained, read from its own config (not from the label it is given)."""
  if cfg.model.arch == "dncnn":
    return "dncnn"
  if not cfg.model.use_nle:
    return "no_nle"
  return "no_ssim" if float(cfg.loss.ssim) == 0.0 else "xbdcnn"


def row_name(label: str, kind: str) -> str:
  return KINDS[kind] if label == kind else f"{KINDS[kind]} ({label})"


def pooled(res: dict, groups: dict[str, list[str]]) -> dict:
  """Rows of mean ± std over each group of runs (seeds), named by the group."""
  out = {}
  for name, members in groups.items():
    vals = np.array([res[m] for m in members], np.float64)
    out[name] = tuple(zip(vals.mean(0).tolist(), vals.std(0).tolist()))
  return out


def evaluate(workdirs: dict, cfg, out: str, size: int | None = 128, num_patches: int = 16,
             classical_names=("nlm", "tv", "bm3d"), grid_images: int = 2) -> list[str]:
  """``workdirs``: label -> training workdir (or the ``(workdir, config)`` pairs of
  :func:`common.runs.resolve_workdirs`); every one is a row, runs that differ only in the seed also get a
  pooled mean ± std row."""
  from common import runs as runs_lib
  from xbdcnn.denoise import load_denoiser
  resolved = {k: (v if isinstance(v, tuple) else (v, checkpoint.read_config(v))) for k, v in workdirs.items()}
  images = task.load_images(cfg.data)["test"]
  images = [task.as_image(i) for i in images]
  conv = cfg.noise.convention
  methods, notes = {}, []
  for name in classical_names:
    fn = classical(name)
    if fn is None:
      notes.append(f"{name.upper()} omitted: the bm3d package is not installed (pip install bm3d).")
      continue
    methods[{"nlm": "NLM (skimage)", "tv": "TV (skimage)", "bm3d": "BM3D"}[name]] = fn
  names, kinds = {}, {}
  for label, (wd, run_cfg) in resolved.items():
    kind = network_kind(run_cfg)
    names[label] = row_name(label, kind)
    kinds.setdefault(kind, names[label])  # the first run of each network stands for it in the figure
    apply = load_denoiser(wd)
    methods[names[label]] = lambda f, a=apply: task.denoise_image(a, f)
  groups = {f"{KINDS[network_kind(resolved[g[0]][1])]}, mean ± std of {len(g)} seeds ({', '.join(g)})":
            [names[m] for m in g] for g in runs_lib.seed_groups({k: c for k, (_, c) in resolved.items()})}
  lines = []
  pairs = make_pairs(images, size, num_patches, seed=0, convention=conv)
  res = run_methods(methods, pairs)
  res.update(pooled(res, groups))
  lines += [table(res, f"Table I: {num_patches} held-out {size or 'full'}-pixel crops, eta ~ U(0.4, 1.9), "
                       "sigma ~ U(0, 20)"), ""]
  cols = ["Noisy input", *methods]
  grid = ["**Table II: SNR / PSNR / SSIM by noise level**", "",
          "| eta, sigma | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
  fig_panels = []
  for eta in ETAS:
    for sigma in SIGMAS:
      p = make_pairs(images, size, grid_images, seed=int(eta * 100 + sigma), eta=eta, sigma=sigma, convention=conv)
      r = run_methods(methods, p)
      grid.append(f"| {eta}, {sigma:g} | " + " | ".join(f"{v[0]:.2f} / {v[1]:.2f} / {v[2]:.3f}" for v in r.values()) + " |")
      if (eta, sigma) in ((0.4, 10.0), (0.4, 15.0), (0.6, 10.0), (0.6, 15.0)):
        f, g = p[0]
        fig_panels.append((f"noisy (eta={eta}, sigma={sigma:g})", np.clip(f, 0, 1)))
        for name in ("BM3D", kinds.get("dncnn"), kinds.get("xbdcnn")):
          if name in methods:
            fig_panels.append((name, np.clip(np.asarray(methods[name](f)), 0, 1)))
  lines += grid + [""] + notes
  os.makedirs(out, exist_ok=True)
  ncols = 1 + sum(n in methods for n in ("BM3D", kinds.get("dncnn"), kinds.get("xbdcnn")))
  fig = plotting.save_panels(os.path.join(out, "fig2_comparison.png"), fig_panels, ncols=ncols, size=2.6)
  with open(os.path.join(out, "tables.md"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
  return lines + ["", f"![Fig. 2 comparison]({fig})"]


def _define_flags():
  flags.DEFINE_list("workdirs", None, "xbdcnn training workdirs, DIR or LABEL=DIR; each is a row (the network "
                    "is read from its config.json), runs differing only in the seed are also pooled", required=True)
  cli.define_config(cli.config_path("xbdcnn/bundled.py"), "the data config (test images, noise convention)")
  flags.DEFINE_string("out", "xbdcnn_eval", "output folder")
  flags.DEFINE_string("size", "128", "crop size in pixels, or 'full' for whole images")
  flags.DEFINE_integer("num_patches", 16, "Table I crops", lower_bound=1)
  flags.DEFINE_list("classical", ["nlm", "tv", "bm3d"], "classical baselines (nlm, tv, bm3d)")


def main(argv) -> int:
  from common import runs as runs_lib
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  bad = [c for c in FLAGS.classical if c not in ("nlm", "tv", "bm3d")]
  if bad:
    raise UserError(f"--classical={bad[0]!r} is unknown; use nlm, tv or bm3d")
  if FLAGS.size != "full" and not FLAGS.size.isdigit():
    raise UserError(f"--size={FLAGS.size!r}: give a number of pixels or 'full'")
  resolved = runs_lib.resolve_workdirs(FLAGS.workdirs)  # every workdir checked before any denoising
  for label, (wd, run_cfg) in resolved.items():
    if "model" not in run_cfg or "arch" not in run_cfg.model:
      raise UserError(f"--workdirs {label}={wd} is not an xbdcnn training run (no model.arch in its config.json)")
  size = None if FLAGS.size == "full" else int(FLAGS.size)
  lines = evaluate(resolved, FLAGS.config, sources.check_out_dir(FLAGS.out), size, FLAGS.num_patches,
                   tuple(FLAGS.classical))
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
