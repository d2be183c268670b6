"""PGDIPS on a whole slide: throughput of normalize end to end and of its read-out against the I/O
floor, Macenko through the same reader and writer, and peak memory at two slide sizes.

  python bench/pgdips_wsi.py [--size=8192] [--small=4096] [--out=bench_out/pgdips_wsi]

The slides are real H&E tissue (crops of ../shared/data/stains/he.jpg, restained with other dyes) laid
out on glass over ~40% of the area, written as pyramidal TIFFs at 0.5 um/px; the reference is he.jpg.
Every row runs in its own process (``python -m pgdips.main normalize`` as a user would, through
``pgdips.slides.run_slide``) so that its peak RSS is its own. Rows:

- ``pgdips``: the ``cpu`` preset (S, M, B from 4 tiles, 400 iterations; the inverse read-out);
- ``I/O floor``: the same reader, tile store and pyramid writer with no computation (every tissue tile
  read and stored as it is, the same pyramid written);
- ``Macenko``: Macenko's vectors (from the same estimation tiles; the reference's from he.jpg) through
  the same read-out, reader and writer.

The read-out phase is every tissue tile after the per-slide estimate: reading, reading out, storing,
and building the pyramid; its throughput is tissue megapixels per second. The estimate's time does
not grow with the slide and is reported on its own.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def child(mode: str, slide: str, out: str) -> None:
  import numpy as np

  from common import config as config_lib
  from common.data import slides as slides_lib
  from pgdips import baselines, physics, slides, synthetic

  cfg = config_lib.load_config(os.path.join(ROOT, "configs/pgdips/he.py:cpu"))
  ref_path = os.path.join(synthetic.STAINS_DIR, "he.jpg")
  t0 = time.monotonic()
  given = None
  if mode == "macenko":
    from PIL import Image

    names = physics.default_stains(cfg.stains)
    s, g, _ = slides_lib.open_grid(slide, int(cfg.slide.tile))
    tiles = slides.estimation_tiles(cfg, s, g)
    src = baselines.macenko(np.concatenate(list(tiles)), reference=names)
    ref = baselines.macenko(np.asarray(Image.open(ref_path).convert("RGB")), reference=names)
    one = lambda r: {"stains": r.stains, "m": np.ones(2), "background": np.ones(3)}
    given, reference = one(src), one(ref)
    cfg = config_lib.replaced(cfg, {"inverse_min_separation": 0.0})
  elif mode == "io":  # nothing is read out: no reference needed
    reference = {
      "stains": physics.default_stains(cfg.stains),
      "m": np.ones(2),
      "background": np.ones(3),
    }
  else:
    reference, _ = slides._reference(cfg, ref_path, 0, progress=False)
  t_ref = time.monotonic() - t0
  r = slides.run_slide(
    cfg,
    "normalize",
    slide,
    out,
    reference=reference,
    given=given,
    identity=mode == "io",
    progress=False,
  )
  r["reference_s"] = t_ref
  r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(json.dumps(r))


def run(mode, slide, out):
  p = subprocess.run(
    [sys.executable, __file__, f"--child={mode}", f"--slide={slide}", f"--out={out}"],
    capture_output=True,
    text=True,
    cwd=ROOT,
  )
  if p.returncode:
    raise SystemExit(f"{mode} failed:\n{p.stderr[-3000:]}")
  return json.loads(p.stdout.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--size", type=int, default=8192)
  ap.add_argument("--small", type=int, default=4096)
  ap.add_argument("--out", default=os.path.join(ROOT, "bench_out", "pgdips_wsi"))
  ap.add_argument("--child")
  ap.add_argument("--slide")
  a = ap.parse_args()
  if a.child:
    return child(a.child, a.slide, a.out)
  import shutil

  from pgdips import synthetic

  os.makedirs(a.out, exist_ok=True)
  look = [[0.45, 0.80, 0.40], [0.20, 0.80, 0.56]]  # a bluer hematoxylin, a pinker eosin
  rows = []
  for size in (a.small, a.size):
    slide = os.path.join(a.out, f"slide{size}.tiff")
    if not os.path.exists(slide):
      t0 = time.monotonic()
      synthetic.he_slide(slide, (size, size), seed=size, stains=look, amount=0.8)
      print(f"wrote {slide} ({time.monotonic() - t0:.0f} s)", flush=True)
    for mode in ("pgdips", "io", "macenko") if size == a.size else ("pgdips",):
      out = os.path.join(a.out, f"{mode}{size}")
      shutil.rmtree(out, ignore_errors=True)
      r = run(mode, slide, out)
      r.update(mode=mode, size=size)
      rows.append(r)
      print(json.dumps(r), flush=True)
  by = {(r["mode"], r["size"]): r for r in rows}
  mp = lambda r: r["tissue_tiles"] * r["tile"] ** 2 / 1e6
  phase = lambda r: r["readout_s"] + r["pyramid_s"]
  lines = [
    f"| {a.size}x{a.size} slide, 0.5 um/px | tissue tiles (512 px) | estimate s | read-out phase s "
    "| tissue MP/s (read-out phase) | end to end s | MP/s end to end (slide) | peak RSS MB |",
    "|---|---|---|---|---|---|---|---|",
  ]
  names = {
    "pgdips": "PGDIPS `cpu` (inverse read-out)",
    "io": "I/O floor (no computation)",
    "macenko": "Macenko vectors, same read-out",
  }
  for mode in ("pgdips", "io", "macenko"):
    r = by[(mode, a.size)]
    lines.append(
      f"| {names[mode]} | {r['tissue_tiles']} | {r['estimate_s']:.1f} | {phase(r):.1f} "
      f"| {mp(r) / phase(r):.1f} | {r['total_s'] + r['reference_s']:.1f} "
      f"| {r['pixels'] / 1e6 / (r['total_s'] + r['reference_s']):.2f} | {r['peak_rss_mb']:.0f} |"
    )
  ratio = (mp(by[("pgdips", a.size)]) / phase(by[("pgdips", a.size)])) / (
    mp(by[("io", a.size)]) / phase(by[("io", a.size)])
  )
  small = by[("pgdips", a.small)]
  lines += [
    "",
    f"Read-out phase of PGDIPS at {ratio:.0%} of the I/O floor's throughput (target >= 50%).",
    f"Peak RSS of PGDIPS normalize: {small['peak_rss_mb']:.0f} MB at {a.small}x{a.small} "
    f"({small['tissue_tiles']} tissue tiles), {by[('pgdips', a.size)]['peak_rss_mb']:.0f} MB at "
    f"{a.size}x{a.size} ({by[('pgdips', a.size)]['tissue_tiles']} tissue tiles).",
  ]
  md = "\n".join(lines)
  print(md)
  with open(os.path.join(a.out, "table.md"), "w") as f:
    f.write(md + "\n")


if __name__ == "__main__":
  main()
