"""The paper's Fig. 2 on the seven real stained images of ``../shared/data/stains/``: PGDIPS and the
classical baselines side by side, one figure per image, and a table of reconstruction errors.

  python -m pgdips.gallery --out=DIR [--crop=128] [--images=he,ihc,...] [--data=../shared/data/stains]
                           [--config=configs/pgdips/he.py:cpu] [--config.num_steps=...]

``--crop=N``: a centred N x N crop of each image (CPU scale; ``make demo`` uses 64 px); ``--crop=0``: the
whole image (tiled by ``config.tile`` with shared S, M, B). Each image is deconvolved into its own stains
(:data:`IMAGES`); the default vectors are Ruifrok's for those stains (``pgdips.physics.RUIFROK``, from
scikit-image's rgb_from_* matrices), the start of PGDIPS where ``init_stains`` is not "macenko" and
always with three stains. Baselines: Ruifrok (those fixed vectors), Macenko (two stains
only: its SVD plane holds two) and Vahadane (one dictionary atom per stain).

Figure rows: one per method; columns: input, reconstruction, each stain alone (recoloured through the
method's own model) and the stain colours (unit concentration through S and M). Reconstruction error:
RMSE of the RGB intensities (0-255) and mean absolute optical-density error, against the input.
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import flags

from common import cli, plotting
from common import config as config_lib
from common.data import sources
from common.errors import InputError, UserError
from common.files import write_text_atomic
from pgdips import baselines, pipeline, report, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = synthetic.STAINS_DIR

# name: (file, stains); DeepLIIF6.png contributes its IHC panel (the first 512 x 512)
IMAGES = {
  "he": ("he.jpg", ("hematoxylin", "eosin")),
  "ihc": ("ihc.tif", ("hematoxylin", "dab")),
  "deepliif": ("DeepLIIF6.png", ("hematoxylin", "dab")),
  "trichrome": ("trichrome.JPG", ("hematoxylin", "acid_fuchsin", "aniline_blue")),
  "alcianblue": ("alcianblue.JPG", ("alcian_blue", "fast_red")),
  "fibronectin": ("fibronectin.jpg", ("hematoxylin", "dab")),
  "smacd34": ("SMACD34.jpg", ("hematoxylin", "dab", "fast_red")),
}


def missing_message(data: str) -> str | None:
  """None when ``data`` holds every image, else a one-line reason (tests and the demo skip with it)."""
  if not os.path.isdir(data):
    return f"{data} not found: the seven real stained images live there (see shared/data/stains/README.md)"
  absent = [f for f, _ in IMAGES.values() if not os.path.exists(os.path.join(data, f))]
  return f"{data} lacks {', '.join(absent)}" if absent else None


def load(name: str, data: str = DATA) -> np.ndarray:
  path = os.path.join(data, IMAGES[name][0])
  img = report.read_rgb(path)
  return img[:, : img.shape[0]] if name == "deepliif" else img


def centre_crop(img, crop: int):
  if not crop:
    return img
  h, w = img.shape[:2]
  if crop > min(h, w):
    raise InputError(
      f"--crop={crop} is larger than the {h}x{w} image; use at most {min(h, w)} or 0 (whole)"
    )
  y, x = (h - crop) // 2, (w - crop) // 2
  return img[y : y + crop, x : x + crop]


def recon_errors(rgb, recon, i0: float = 255.0, log_base: int = 10) -> dict:
  """RMSE of the RGB intensities and mean absolute OD error of a reconstruction."""
  a, b = np.asarray(rgb, np.float64), np.asarray(recon, np.float64)
  od = lambda x: baselines.od_np(x, i0, log_base)
  return {
    "rmse": float(np.sqrt(np.mean((a - b) ** 2))),
    "od_mae": float(np.mean(np.abs(od(a) - od(b)))),
  }


def _swatches(cfg, r) -> np.ndarray:
  n = len(cfg.stains)
  m = np.ones(n, np.float32) if r.m is None else r.m
  bands = [
    pipeline.recolor(
      cfg,
      np.zeros((10, 30, n), np.float32) + np.eye(n, dtype=np.float32)[i],
      r.stains,
      m,
      np.ones(3, np.float32),
    )
    for i in range(n)
  ]
  return np.concatenate(bands, axis=0)


def figure(cfg, name, rgb, results: dict, path: str) -> str:
  panels = []
  for method, r in results.items():
    m = np.ones(len(cfg.stains), np.float32) if r.m is None else r.m
    bg = np.ones(3, np.float32) if r.background is None else r.background
    panels += [
      (f"{method}: input", np.asarray(rgb).astype(np.uint8)),
      (f"{method}: reconstruction", r.recon),
    ]
    panels += [
      (f"{method}: {s}", pipeline.recolor(cfg, r.concentrations, r.stains, m, bg, i))
      for i, s in enumerate(cfg.stains)
    ]
    # one line per vector: a single-line title ran off the panel
    amb = " (names ambiguous)" if r.names_ambiguous else ""
    panels.append(
      (
        f"{method}: stain colours{amb}\n"
        + "\n".join(f"{name} {report.fmt(v)}" for name, v in zip(cfg.stains, r.stains)),
        _swatches(cfg, r),
      )
    )
  return plotting.save_panels(
    path, panels, ncols=3 + len(cfg.stains), size=2.6, suptitle=f"{name}: {', '.join(cfg.stains)}"
  )


def run(
  cfg, out: str, names=tuple(IMAGES), crop: int = 128, data: str = DATA, progress: bool = False
) -> list[str]:
  """Deconvolves every image; writes ``<name>.png`` figures and ``gallery.md``; returns the markdown."""
  os.makedirs(out, exist_ok=True)
  imgs = {n: centre_crop(load(n, data), crop) for n in names}  # every image read before any solve
  rows = []
  for n in names:
    c = config_lib.replaced(cfg, {"stains": IMAGES[n][1]})
    rgb = imgs[n]
    t0 = time.time()
    res = {"PGDIPS": pipeline.deconvolve(c, rgb, progress=progress)}
    secs = time.time() - t0
    res.update(baselines.all_baselines(rgb, c.stains, c.i0, c.log_base))
    for method in ("Macenko", "Vahadane"):
      if method in res:
        pipeline.warn_if_names_ambiguous(c, [res[method]], f"{n} ({method})")
    figure(c, n, rgb, res, os.path.join(out, f"{n}.png"))
    for method, r in res.items():
      e = recon_errors(rgb, r.recon, c.i0, c.log_base)
      rows.append(
        f"| {n} | {method} | {e['rmse']:.2f} | {e['od_mae']:.4f} | "
        + (f"{secs:.0f} s" if method == "PGDIPS" else "")
        + " |"
      )
    if progress:
      print(f"{n}: PGDIPS {secs:.0f} s", flush=True)
  size = f"centred {crop}x{crop} crops" if crop else "whole images"
  md = [
    f"Reconstruction error on the real stained images ({size}; PGDIPS {cfg.num_steps} iterations):",
    "",
    "| image | method | RGB RMSE | OD MAE | PGDIPS time |",
    "|---|---|---|---|---|",
    *rows,
    "",
  ]
  write_text_atomic(os.path.join(out, "gallery.md"), "\n".join(md) + "\n")
  return md


def _define_flags():
  cli.define_config(
    cli.config_path("pgdips/he.py:cpu"), "PGDIPS config; the stains are set per image"
  )
  flags.DEFINE_string("out", None, "output folder")
  flags.DEFINE_integer(
    "crop", 128, "centred crop size (a multiple of 8); 0: the whole image", lower_bound=0
  )
  flags.DEFINE_list("images", list(IMAGES), f"which images: {', '.join(IMAGES)}")
  flags.DEFINE_string("data", DATA, "folder of the seven stained images")


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  if not FLAGS.out:
    raise UserError("give --out=DIR")
  bad = [n for n in FLAGS.images if n not in IMAGES]
  if bad:
    raise UserError(f"--images: {bad[0]!r} is unknown; use some of {', '.join(IMAGES)}")
  msg = missing_message(FLAGS.data)
  if msg:
    raise UserError(msg + "; pass --data=FOLDER")
  cfg = FLAGS.config
  pipeline.check_config(cfg)
  out = sources.check_out_dir(FLAGS.out)
  print("\n".join(run(cfg, out, tuple(FLAGS.images), FLAGS.crop, FLAGS.data, progress=True)))
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
