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
from common.files import write_text_atomic
from xbdcnn import noise, task

ETAS, SIGMAS = (0.4, 0.6, 0.8), (5.0, 10.0, 15.0)


def classical(name: str):
  from skimage import restoration

  if name == "nlm":
    return lambda f: restoration.denoise_nl_means(
      f,
      h=0.8 * restoration.estimate_sigma(f),
      patch_size=5,
      patch_distance=6,
      fast_mode=True,
      sigma=restoration.estimate_sigma(f),
    )
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
  return (
    float(metrics.snr(c, o)),
    float(metrics.psnr(o, c, data_range=1.0)),
    float(metrics.ssim(o, c, data_range=1.0)),
  )


def run_methods(
  methods: dict, pairs: list[tuple[np.ndarray, np.ndarray]], per_image: dict | None = None
) -> dict:
  """``{name: (snr, psnr, ssim, seconds per image)}`` averaged over ``(noisy, clean)`` pairs; with
  ``per_image``, also ``{name: (n, 3) array}`` of each pair's scores there."""
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
    if per_image is not None:
      per_image[name] = np.asarray(rows)
  return res


def paired(per_image: dict, reference: str, names, image_of=None) -> list[str]:
  """Each network against ``reference`` on the same crops, with the image as the unit: a crop's scores
  are averaged with the other crops of its image (``image_of[i]``: crop i's image; default: one image per
  crop), then mean ± std of the per-image PSNR and SSIM differences, the two-sided Wilcoxon signed-rank
  p-value (scipy) and the images won. Crops of one image are not independent samples."""
  ref = per_image[reference]
  image_of = np.arange(len(ref)) if image_of is None else np.asarray(image_of)
  ids = np.unique(image_of)
  per = lambda a: np.stack([a[image_of == i].mean(0) for i in ids])
  if len(ids) < 5:
    return [f"(paired tests need 5 or more images; the crops come from {len(ids)})"]
  lines = [
    f"**Paired over the {len(ids)} images ({len(ref)} crops, averaged per image): network minus "
    f"{reference}** (Wilcoxon signed-rank, two-sided)",
    "",
    "| Method | ΔPSNR (dB) | p | images won | ΔSSIM | p | images won |",
    "|---|---|---|---|---|---|---|",
  ]
  for name in names:
    d = per(per_image[name]) - per(ref)
    cells = []
    for k in (1, 2):
      cells += metrics.paired_cells(d[:, k])
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return lines


def crops(images, size, n, seed) -> list[np.ndarray]:
  """``n`` crops of ``size`` (a multiple of 4, at most the image; ``None``: the whole image cut to a
  multiple of 4) cycling over ``images`` (crop i is of image ``i % len(images)``), positions drawn from
  ``seed``."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    img = images[i % len(images)]
    hs, ws = (min(size, img.shape[0]), min(size, img.shape[1])) if size else img.shape
    hs, ws = hs // 4 * 4, ws // 4 * 4
    y0, x0 = rng.integers(0, img.shape[0] - hs + 1), rng.integers(0, img.shape[1] - ws + 1)
    out.append(img[y0 : y0 + hs, x0 : x0 + ws])
  return out


def noisy_pairs(clean, seed, eta=None, sigma=None, convention="peak"):
  """``(noisy, clean)`` pairs; image i gets the noise of key (seed, i), and (eta, sigma) ~ U(0.4, 1.9) x
  U(0, 20) from ``seed`` where not given. The noise depends on nothing but the seed and the image index,
  so every method sees the same noisy inputs."""
  rng = np.random.default_rng(seed)
  out = []
  for i, g in enumerate(clean):
    key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
    e = rng.uniform(0.4, 1.9) if eta is None else eta
    s = rng.uniform(0.0, 20.0) if sigma is None else sigma
    f = np.asarray(
      noise.add_noise(key, g[None, ..., None], np.array([e]), np.array([s]), convention)
    )[0, ..., 0]
    out.append((f, g))
  return out


def make_pairs(images, size, n, seed, eta=None, sigma=None, convention="peak"):
  return noisy_pairs(crops(images, size, n, seed), seed, eta, sigma, convention)


SNR_DEF = "SNR = 10 log10(sum g^2 / sum (g - g_hat)^2) dB, g the clean image in [0, 1]"


def _cell(v, fmt: str) -> str:
  return f"{v[0]:{fmt}} ± {v[1]:{fmt}}" if isinstance(v, tuple) else f"{v:{fmt}}"


def table(res: dict, title: str) -> str:
  """``res``: name -> (snr, psnr, ssim, seconds), each a number or a (mean, std) pair."""
  lines = [
    f"**{title}**",
    "",
    f"{SNR_DEF}; PSNR with peak 1.",
    "",
    "| Method | SNR | PSNR | SSIM | Time (s) |",
    "|---|---|---|---|---|",
  ]
  for name, (snr, psnr, ssim, t) in res.items():
    lines.append(
      f"| {name} | {_cell(snr, '.2f')} | {_cell(psnr, '.2f')} | {_cell(ssim, '.4f')} | {_cell(t, '.3f')} |"
    )
  return "\n".join(lines)


KINDS = {
  "xbdcnn": "X-BDCNN",
  "dncnn": "DnCNN",
  "no_nle": "X-BDCNN w/o NLE",
  "no_ssim": "X-BDCNN w/o SSIM loss",
}


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


def read_images(paths: list[str]) -> list[np.ndarray]:
  """8- or 16-bit (or float) grayscale files as float32 images in [0, 1]; each checked before any work."""
  out = []
  for p in paths:
    raw = sources.read_image(p, mode="gray")
    if raw.dtype == np.uint8:
      img = raw.astype(np.float32) / 255.0
    elif raw.dtype == np.uint16:
      img = raw.astype(np.float32) / 65535.0
    else:
      img = raw.astype(np.float32)
      if img.min() < 0 or img.max() > 1:
        raise UserError(
          f"{p}: float pixels outside [0, 1] ({img.min():.3g}..{img.max():.3g}); scale it to [0, 1]"
        )
    if min(img.shape) < 16:
      raise UserError(
        f"{p} is {img.shape[0]}x{img.shape[1]}; test images need at least 16x16 pixels"
      )
    out.append(img)
  return out


def evaluate(
  workdirs: dict,
  cfg,
  out: str,
  size: int | None = 128,
  num_patches: int = 16,
  classical_names=("nlm", "tv", "bm3d"),
  grid_images: int = 10,
  images: list[np.ndarray] | None = None,
  image_names: list[str] | None = None,
) -> list[str]:
  """``workdirs``: label -> training workdir (or the ``(workdir, config)`` pairs of
  :func:`common.runs.resolve_workdirs`); every one is a row, runs that differ only in the seed also get a
  pooled mean ± std row. ``images``: the test images (default: the config's test split, which no
  training split contains)."""
  from common import runs as runs_lib
  from xbdcnn.denoise import load_denoiser

  resolved = {
    k: (v if isinstance(v, tuple) else (v, checkpoint.read_config(v))) for k, v in workdirs.items()
  }
  if images is None:
    images = [task.as_image(i) for i in task.load_images(cfg.data)["test"]]
    image_names = task.split_names(cfg.data)["test"] if cfg.data.name == "bundled" else None
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
    kinds.setdefault(
      kind, names[label]
    )  # the first run of each network stands for it in the figure
    apply = load_denoiser(wd)
    methods[names[label]] = lambda f, a=apply: task.denoise_image(a, f)
  groups = {
    f"{KINDS[network_kind(resolved[g[0]][1])]}, mean ± std of {len(g)} seeds ({', '.join(g)})": [
      names[m] for m in g
    ]
    for g in runs_lib.seed_groups({k: c for k, (_, c) in resolved.items()})
  }
  lines = []
  pairs = make_pairs(images, size, num_patches, seed=0, convention=conv)
  per_image = {}
  res = run_methods(methods, pairs, per_image)
  res.update(pooled(res, groups))
  src = f" of {', '.join(image_names)}" if image_names else ""
  lines += [
    table(
      res,
      f"Table I: {num_patches} held-out {size or 'full'}-pixel crops{src}, eta ~ U(0.4, 1.9), "
      "sigma ~ U(0, 20)",
    ),
    "",
  ]
  nets = list(names.values())
  if nets:
    image_of = np.arange(len(pairs)) % len(images)  # crops() cycles over the images
    for ref in ("BM3D", kinds.get("dncnn")):
      others = [n for n in nets if n != ref]
      if ref in per_image and others:
        lines += paired(per_image, ref, others, image_of) + [""]
  cols = ["Noisy input", *methods]
  n_grid = min(grid_images, len(images))
  grid_clean = crops(
    images[:n_grid], size, n_grid, seed=1
  )  # the same images and crops in every cell
  grid = [
    f"**Table II: SNR / PSNR / SSIM by noise level** ({n_grid} held-out images, "
    f"{'whole' if size is None else f'one {size}-pixel crop of each'}, the same in every cell; "
    "noise seeded by the cell, not the method)",
    "",
    SNR_DEF,
    "",
    "| eta, sigma | " + " | ".join(cols) + " |",
    "|---" * (len(cols) + 1) + "|",
  ]
  fig_panels = []
  for ci, (eta, sigma) in enumerate((e, s) for e in ETAS for s in SIGMAS):
    p = noisy_pairs(grid_clean, seed=100 + ci, eta=eta, sigma=sigma, convention=conv)
    r = run_methods(methods, p)
    grid.append(
      f"| {eta}, {sigma:g} | "
      + " | ".join(f"{v[0]:.2f} / {v[1]:.2f} / {v[2]:.3f}" for v in r.values())
      + " |"
    )
    if (eta, sigma) in ((0.4, 10.0), (0.4, 15.0), (0.6, 10.0), (0.6, 15.0)):
      f, g = p[0]
      fig_panels.append((f"noisy (eta={eta}, sigma={sigma:g})", np.clip(f, 0, 1)))
      for name in ("BM3D", kinds.get("dncnn"), kinds.get("xbdcnn")):
        if name in methods:
          fig_panels.append((name, np.clip(np.asarray(methods[name](f)), 0, 1)))
  lines += grid + [""] + notes
  os.makedirs(out, exist_ok=True)
  ncols = 1 + sum(n in methods for n in ("BM3D", kinds.get("dncnn"), kinds.get("xbdcnn")))
  fig = plotting.save_panels(os.path.join(out, OUTPUTS[0]), fig_panels, ncols=ncols, size=2.6)
  write_text_atomic(os.path.join(out, OUTPUTS[1]), "\n".join(lines) + "\n")
  return lines + ["", f"![Fig. 2 comparison]({fig})"]


OUTPUTS = ("fig2_comparison.png", "tables.md")  # what evaluate writes into --out


def _define_flags():
  flags.DEFINE_list(
    "workdirs",
    None,
    "xbdcnn training workdirs, DIR or LABEL=DIR; each is a row (the network "
    "is read from its config.json), runs differing only in the seed are also pooled",
    required=True,
  )
  cli.define_config(
    cli.config_path("xbdcnn/bundled.py"), "the data config (test images, noise convention)"
  )
  flags.DEFINE_string("out", "xbdcnn_eval", "output folder")
  flags.DEFINE_string("size", "128", "crop size in pixels, or 'full' for whole images")
  flags.DEFINE_integer("num_patches", 16, "Table I crops", lower_bound=1)
  flags.DEFINE_integer(
    "grid_images",
    10,
    "Table II: held-out images (one crop each, the same in every cell)",
    lower_bound=1,
  )
  flags.DEFINE_list(
    "images", None, "test images (8/16-bit grayscale files) instead of the config's test split"
  )
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
      raise UserError(
        f"--workdirs {label}={wd} is not an xbdcnn training run (no model.arch in its config.json)"
      )
  size = None if FLAGS.size == "full" else int(FLAGS.size)
  if size is not None and (size < 16 or size % 4):
    raise UserError(
      f"--size={size}: give a multiple of 4 of at least 16 (the U-Net downsamples by 4)"
    )
  images = read_images(FLAGS.images) if FLAGS.images else None
  names = sources.unique_stems(FLAGS.images) if FLAGS.images else None
  out = sources.check_out_dir(FLAGS.out)
  sources.check_outputs([os.path.join(out, n) for n in OUTPUTS], FLAGS.images or ())
  lines = evaluate(
    resolved,
    FLAGS.config,
    out,
    size,
    FLAGS.num_patches,
    tuple(FLAGS.classical),
    FLAGS.grid_images,
    images,
    names,
  )
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
