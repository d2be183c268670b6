"""PGDIPS from the command line.

  python -m pgdips.main deconvolve IMAGE --out=DIR [--config=configs/pgdips/he.py:hdab] [--config.num_steps=2000 ...]
  python -m pgdips.main normalize SOURCE --reference=REF --out=DIR [--config=configs/pgdips/he.py[:arg]] [--config.x=y]

IMAGE may be ``bundled:immunohistochemistry`` (scikit-image's IHC image), a whole-slide image (any file
OpenSlide opens) or a folder of them: see pgdips/slides.py (pyramidal TIFFs out, resumable). The config arg picks the stains
(``he``, the default, or ``hdab``) and presets (``cpu``, ``smoke``; see configs/pgdips/he.py). Writes PNGs
(input, per-stain concentration maps and recoloured images, reconstruction, a Fig. 2-style panel with the
stain vectors) and ``result.npz`` with C (H, W, N), S (N, 3), M (N,) and B (3,). Inputs, the config and the
output folder are checked before any solve.
"""

import os

import numpy as np
from absl import flags

from common import cli, plotting
from common.data import sources
from common.errors import UserError

cli.define_config(
  cli.config_path("pgdips/he.py"),
  "PGDIPS config (default: the paper's H&E); e.g. configs/pgdips/he.py:hdab,cpu",
)
flags.DEFINE_string("out", None, "output folder")
flags.DEFINE_string("reference", None, "normalize: the image whose stain look to copy")


def main(argv) -> int:
  from pgdips import pipeline, report

  FLAGS = flags.FLAGS
  if len(argv) < 2 or argv[1] not in ("deconvolve", "normalize"):
    raise UserError("give a command: deconvolve or normalize (see --help)")
  cmd = argv[1]
  if len(argv) != 3:
    raise UserError(
      f"usage: python -m pgdips.main {cmd} IMAGE --out=DIR"
      + (" --reference=REF" if cmd == "normalize" else "")
    )
  if not FLAGS.out:
    raise UserError(f"{cmd} needs --out=DIR")
  if cmd == "deconvolve" and FLAGS.reference:
    raise UserError("deconvolve does not take --reference (that is for normalize)")
  if cmd == "normalize" and not FLAGS.reference:
    raise UserError("normalize needs --reference=REF (the image whose stain look to copy)")
  cfg = FLAGS.config
  pipeline.check_config(cfg)
  out = sources.check_out_dir(FLAGS.out)
  from pgdips import slides

  if slides.is_slide_input(argv[2]):
    from common import runtime

    runtime.initialize()  # several processes (jax.distributed): each takes its own slides
    slides.run(cfg, cmd, argv[2], out, FLAGS.reference)
    runtime.shutdown()
    return 0
  inputs = [argv[2]] + ([FLAGS.reference] if cmd == "normalize" else [])
  images = [report.read_rgb(p) for p in inputs]  # every input read and checked before any solve
  for p, img in zip(inputs, images):
    pipeline.check_rgb(img, p, float(cfg.i0))
  names = (
    report.output_names(cfg)
    if cmd == "deconvolve"
    else [
      "normalized.png",
      "normalization.png",
      *report.output_names(cfg, "source_"),
      *report.output_names(cfg, "reference_"),
    ]
  )
  sources.check_outputs([os.path.join(out, n) for n in names], inputs)
  if cmd == "deconvolve":
    r = pipeline.deconvolve(cfg, images[0], progress=True)
    fig = report.write_outputs(cfg, pipeline.check_rgb(images[0]), r, out)
    print(f"wrote {out}/result.npz and PNGs; figure {fig}")
    return 0
  src, ref = images
  normed, rs, rr = pipeline.normalize(cfg, src, ref, progress=True)
  os.makedirs(out, exist_ok=True)
  report.save_png(os.path.join(out, "normalized.png"), normed)
  report.write_outputs(cfg, pipeline.check_rgb(src), rs, out, "source_")
  report.write_outputs(cfg, pipeline.check_rgb(ref), rr, out, "reference_")
  plotting.save_panels(
    os.path.join(out, "normalization.png"),
    [
      ("source", pipeline.check_rgb(src).astype(np.uint8)),
      ("reference", pipeline.check_rgb(ref).astype(np.uint8)),
      ("normalized", normed),
    ],
    ncols=3,
    size=4,
  )
  print(f"wrote {out}/normalized.png, normalization.png and the source_/reference_ results")
  return 0


if __name__ == "__main__":
  cli.run(main)
