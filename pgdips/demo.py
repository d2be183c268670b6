"""The pgdips part of ``make demo``: the ground-truth benchmark table (short CPU runs), PGDIPS on a crop
of scikit-image's IHC image with the paper's Fig. 2-3 panels, one stain normalization, and the paper's
Fig. 2 on centred crops of the seven real stained images of ``../shared/data/stains/`` (skipped with a
note where that folder is absent)."""

from __future__ import annotations

import os
import time

import numpy as np

from common import config as config_lib
from common import data, plotting
from pgdips import evaluate, gallery, pipeline, report, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def real_images(out: str, crop: int = 64, steps: int = 200) -> list[str]:
  """Fig. 2 on the real images at CPU scale (``python -m pgdips.gallery --crop=0`` for full size)."""
  missing = gallery.missing_message(gallery.DATA)
  if missing:
    return [f"Real stained images: skipped ({missing}).", ""]
  cfg = config_lib.load_config(os.path.join(ROOT, "configs/pgdips/he.py:cpu"), {"num_steps": steps})
  t0 = time.time()
  md = gallery.run(cfg, os.path.join(out, "real"), crop=crop, progress=True)
  figs = [f"![{n}](pgdips/real/{n}.png)" for n in gallery.IMAGES]
  return [
    f"The paper's Fig. 2 on centred {crop}x{crop} crops of the seven real stained images "
    f"(`python -m pgdips.gallery --crop={crop} --config.num_steps={steps}`; {time.time() - t0:.0f} s here; "
    "`--crop=0` solves the whole images, tiled):",
    "",
    *md,
    *figs,
    "",
  ]


def slide(out: str, steps: int = 200) -> list[str]:
  """A small pyramidal slide of restained real H&E tissue, normalized to he.jpg as a whole slide."""
  from common.data import slides as slides_lib
  from pgdips import slides

  if not os.path.exists(os.path.join(synthetic.STAINS_DIR, "he.jpg")):
    return ["Whole-slide normalization: skipped (no ../shared/data/stains/he.jpg).", ""]
  cfg = config_lib.load_config(os.path.join(ROOT, "configs/pgdips/he.py:cpu"), {"num_steps": steps})
  path = os.path.join(out, "slide", "input.tiff")
  synthetic.he_slide(path, (1536, 2048), seed=1, stains=[[0.45, 0.80, 0.40], [0.20, 0.80, 0.56]])
  ref = os.path.join(synthetic.STAINS_DIR, "he.jpg")
  t0 = time.time()
  slides.run(cfg, "normalize", path, os.path.join(out, "slide", "normalized"), ref)
  dt = time.time() - t0
  panels = []
  normalized = os.path.join(out, "slide", "normalized", "normalized.tiff")
  for title, p in [("input slide", path), ("normalized slide", normalized)]:
    with slides_lib.Slide(p) as s:
      panels.append((title, slides_lib.low_res(s, 1024)[0]))
  panels.insert(1, ("reference (he.jpg)", report.read_rgb(ref)))
  plotting.save_panels(os.path.join(out, "slide.png"), panels, ncols=3, size=4)
  return [
    "Whole-slide normalization: a 2048x1536 pyramidal TIFF of real H&E tissue (he.jpg crops, "
    "restained with a bluer hematoxylin and a pinker eosin) normalized to he.jpg with the `cpu` preset "
    f"({steps} iterations for the estimate; `python -m pgdips.main normalize input.tiff "
    f"--reference=he.jpg --out=DIR --config=configs/pgdips/he.py:cpu`; {dt:.0f} s here). The output "
    "is a pyramidal TIFF that OpenSlide and QuPath open.",
    "",
    "![slide](pgdips/slide.png)",
    "",
  ]


def run(out: str, bench_steps: int = 1000, image_steps: int = 1000) -> list[str]:
  cfg = config_lib.load_config(
    os.path.join(ROOT, "configs/pgdips/he.py:hdab,cpu"), {"num_steps": bench_steps}
  )
  res = evaluate.run(cfg, num_images=4, size=32, progress=True)
  md = evaluate.table(res, paired=False)

  cfg_img = config_lib.load_config(
    os.path.join(ROOT, "configs/pgdips/he.py:hdab,cpu"), {"num_steps": image_steps}
  )
  ihc = data.bundled_rgb("immunohistochemistry")[96:160, 160:224]
  r = pipeline.deconvolve(cfg_img, ihc, progress=True)
  report.write_outputs(cfg_img, ihc, r, os.path.join(out, "ihc"))

  # normalization: the IHC crop to a reference rendered with other stain colours
  c, s = synthetic.ihc_ground_truth(64, offset=(300, 300))
  other = np.array([[0.45, 0.80, 0.40], [0.15, 0.55, 0.82]], np.float32)
  other /= np.linalg.norm(other, axis=1, keepdims=True)
  ref = synthetic.synthesize(c, other, background=0.05, noise_std=1.0)
  normed, _, rr = pipeline.normalize(cfg_img, ihc, ref, progress=True, source_result=r)
  plotting.save_panels(
    os.path.join(out, "normalization.png"),
    [("source (IHC crop)", ihc), ("reference", ref), ("normalized", normed)],
    ncols=3,
    size=3.5,
  )
  return [
    f"Ground-truth benchmark (`python -m pgdips.evaluate --num_images=4 --size=32`): 4 synthetic 32x32 "
    "H-DAB images per condition (hard: true vectors 10-25 degrees from every method's defaults, DAB scatter "
    "and drift, saturation, uneven background, noise; near: the same at 0-10 degrees); PGDIPS with the `cpu` "
    f"config, {bench_steps} iterations (the paper uses 6,000 on a GPU). The README's table uses 64x64 tiles.",
    "",
    md,
    "",
    f"PGDIPS on a 64x64 crop of scikit-image's IHC image ({image_steps} iterations): estimated S = "
    + ", ".join(f"{n} {report.fmt(v)}" for n, v in zip(cfg_img.stains, r.stains))
    + f", M = {report.fmt(r.m)}, B = {report.fmt(r.background)}.",
    "",
    "![ihc](pgdips/ihc/figure.png)",
    "",
    "Normalization of the same crop to a reference with other stain colours (source concentrations "
    "recombined with the reference's S, M, B):",
    "",
    "![normalization](pgdips/normalization.png)",
    "",
    *real_images(out),
    *slide(out),
  ]
