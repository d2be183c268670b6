"""PGDIPS from the command line.

  python -m pgdips.main deconvolve IMAGE [--stains=he|hdab] --out=DIR [--config.num_steps=2000 ...]
  python -m pgdips.main normalize SOURCE --reference=REF --out=DIR [--stains=he] [--config.x=y ...]

IMAGE may be ``bundled:immunohistochemistry`` (scikit-image's IHC image). Writes PNGs (input, per-stain
concentration maps and recoloured images, reconstruction, a Fig. 2-style panel with the stain vectors)
and ``result.npz`` with C (H, W, N), S (N, 3), M (N,) and B (3,).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from common import config as config_lib
from common import data, plotting
from pgdips import pipeline

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "pgdips", "he.py")


def read_rgb(path: str) -> np.ndarray:
  if path.startswith("bundled:"):
    return data.bundled_rgb(path.split(":", 1)[1])
  if not os.path.isfile(path):
    raise FileNotFoundError(f"image {path!r} does not exist")
  return data.sources.read_image(path)


def fmt(v) -> list:
  """Rounded plain floats for titles and reports."""
  return [round(float(x), 3) for x in np.ravel(v)]


def _save_png(path, img):
  from PIL import Image
  Image.fromarray(np.asarray(img)).save(path)


def figure(cfg, rgb, r, path, title="PGDIPS"):
  """The paper's Fig. 2-3 layout: input, per-stain concentration and recoloured images, reconstruction,
  background; plus the stain vectors as RGB bars."""
  panels = [("input", np.asarray(rgb).astype(np.uint8))]
  for i, name in enumerate(cfg.stains):
    c = r.concentrations[..., i]
    panels.append((f"C {name}", c / max(float(np.percentile(c, 99.5)), 1e-6)))
  for i, name in enumerate(cfg.stains):
    panels.append((f"{name} only", pipeline.recolor(cfg, r.concentrations, r.stains, r.m, r.background, i)))
  panels.append(("reconstruction", r.recon))
  bg = np.broadcast_to(np.asarray(r.background, np.float32), (8, 8, 3)) if r.background is not None else np.ones((8, 8, 3))
  panels.append((f"background B={fmt(r.background) if r.background is not None else '-'}", bg))
  # stain vectors: each row a swatch of the colour of unit concentration through the model
  sw = np.stack([np.repeat(pipeline.recolor(cfg, np.full((8, 24, len(cfg.stains)), 0.0) + np.eye(len(cfg.stains))[i],
                                            r.stains, r.m, np.ones(3)), 1, 0) for i in range(len(cfg.stains))])
  sw = np.concatenate(list(sw), axis=0)
  vec = ", ".join(f"{n}={fmt(s)}" for n, s in zip(cfg.stains, r.stains))
  panels.append((f"S: {vec}" if len(vec) < 60 else "stain colours (S, M)", sw))
  return plotting.save_panels(path, panels, ncols=4, size=3.2, suptitle=title)


def write_outputs(cfg, rgb, r, out, prefix=""):
  os.makedirs(out, exist_ok=True)
  np.savez(os.path.join(out, f"{prefix}result.npz"), C=r.concentrations, S=r.stains, M=r.m, B=r.background,
           stains=np.array(cfg.stains))
  for i, name in enumerate(cfg.stains):
    c = r.concentrations[..., i]
    _save_png(os.path.join(out, f"{prefix}C_{name}.png"),
              np.round(255 * np.clip(c / max(float(np.percentile(c, 99.5)), 1e-6), 0, 1)).astype(np.uint8))
    _save_png(os.path.join(out, f"{prefix}{name}_only.png"), pipeline.recolor(cfg, r.concentrations, r.stains, r.m,
                                                                              r.background, i))
  _save_png(os.path.join(out, f"{prefix}reconstruction.png"), r.recon)
  return figure(cfg, rgb, r, os.path.join(out, f"{prefix}figure.png"))


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] not in ("deconvolve", "normalize"):
    print(__doc__, file=sys.stderr)
    return 2
  cmd, rest = argv[0], argv[1:]
  pos = [a for a in rest if not a.startswith("--")]
  opts, _ = config_lib.parse_kv([a for a in rest if a.startswith("--") and not a.startswith("--config.")])
  overrides = [a for a in rest if a.startswith("--config.")]
  try:
    stains = opts.get("stains", "he")
    if stains not in ("he", "hdab"):
      raise config_lib.ConfigError(f"--stains={stains!r} is unknown; use he or hdab (or set --config.stains)")
    cfg = config_lib.load_config(f"{CONFIG}:{stains}", [a[len("--config."):] for a in overrides])
    if not pos or "out" not in opts:
      raise config_lib.ConfigError(f"usage: python -m pgdips.main {cmd} IMAGE --out=DIR"
                                   + (" --reference=REF" if cmd == "normalize" else ""))
    out = opts["out"]
    if cmd == "deconvolve":
      rgb = read_rgb(pos[0])
      r = pipeline.deconvolve(cfg, rgb, progress=True)
      fig = write_outputs(cfg, pipeline.check_rgb(rgb), r, out)
      print(f"wrote {out}/result.npz and PNGs; figure {fig}")
    else:
      if "reference" not in opts:
        raise config_lib.ConfigError("normalize needs --reference=REF (the image whose stain look to copy)")
      src, ref = read_rgb(pos[0]), read_rgb(opts["reference"])
      normed, rs, rr = pipeline.normalize(cfg, src, ref, progress=True)
      os.makedirs(out, exist_ok=True)
      _save_png(os.path.join(out, "normalized.png"), normed)
      write_outputs(cfg, pipeline.check_rgb(src), rs, out, "source_")
      write_outputs(cfg, pipeline.check_rgb(ref), rr, out, "reference_")
      plotting.save_panels(os.path.join(out, "normalization.png"),
                           [("source", pipeline.check_rgb(src).astype(np.uint8)),
                            ("reference", pipeline.check_rgb(ref).astype(np.uint8)), ("normalized", normed)],
                           ncols=3, size=4)
      print(f"wrote {out}/normalized.png, normalization.png and the source_/reference_ results")
  except (config_lib.ConfigError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  from absl import flags
  flags.FLAGS.mark_as_parsed()
  sys.exit(main())
