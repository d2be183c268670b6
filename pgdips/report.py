"""PGDIPS results as files: the result arrays, per-stain PNGs and the paper's Fig. 2-3 panel."""

from __future__ import annotations

import os

import numpy as np

from common import data, plotting
from common.files import atomic_path
from pgdips import pipeline

__all__ = ["read_rgb", "fmt", "figure", "output_names", "write_outputs", "save_png"]


def read_rgb(path: str) -> np.ndarray:
  """An RGB image file, or ``bundled:<name>`` (scikit-image's), with one-line errors."""
  if path.startswith("bundled:"):
    return data.bundled_rgb(path.split(":", 1)[1])
  return data.sources.read_image(path, mode="rgb")


def fmt(v) -> list:
  """Rounded plain floats for titles and reports."""
  return [round(float(x), 3) for x in np.ravel(v)]


def save_png(path, img):
  from PIL import Image

  with atomic_path(path) as tmp:
    Image.fromarray(np.asarray(img)).save(tmp, format="PNG")


def figure(cfg, rgb, r, path, title="PGDIPS"):
  """The paper's Fig. 2-3 layout: input, per-stain concentration and recoloured images, reconstruction,
  background; plus the stain vectors as RGB bars."""
  panels = [("input", np.asarray(rgb).astype(np.uint8))]
  for i, name in enumerate(cfg.stains):
    c = r.concentrations[..., i]
    panels.append((f"C {name}", c / max(float(np.percentile(c, 99.5)), 1e-6)))
  for i, name in enumerate(cfg.stains):
    panels.append(
      (f"{name} only", pipeline.recolor(cfg, r.concentrations, r.stains, r.m, r.background, i))
    )
  panels.append(("reconstruction", r.recon))
  bg = (
    np.broadcast_to(np.asarray(r.background, np.float32), (8, 8, 3))
    if r.background is not None
    else np.ones((8, 8, 3))
  )
  panels.append((f"background B={fmt(r.background) if r.background is not None else '-'}", bg))
  # stain vectors: each row a swatch of the colour of unit concentration through the model
  sw = np.stack(
    [
      np.repeat(
        pipeline.recolor(
          cfg,
          np.full((8, 24, len(cfg.stains)), 0.0) + np.eye(len(cfg.stains))[i],
          r.stains,
          r.m,
          np.ones(3),
        ),
        1,
        0,
      )
      for i in range(len(cfg.stains))
    ]
  )
  sw = np.concatenate(list(sw), axis=0)
  vec = ", ".join(f"{n}={fmt(s)}" for n, s in zip(cfg.stains, r.stains))
  panels.append((f"S: {vec}" if len(vec) < 60 else "stain colours (S, M)", sw))
  return plotting.save_panels(path, panels, ncols=4, size=3.2, suptitle=title)


def output_names(cfg, prefix: str = "") -> list[str]:
  """The files :func:`write_outputs` writes (checked against the inputs before any work)."""
  names = [f"{prefix}result.npz", f"{prefix}reconstruction.png", f"{prefix}figure.png"]
  return names + [f"{prefix}{k}" for n in cfg.stains for k in (f"C_{n}.png", f"{n}_only.png")]


def write_outputs(cfg, rgb, r, out, prefix=""):
  os.makedirs(out, exist_ok=True)
  with atomic_path(os.path.join(out, f"{prefix}result.npz")) as tmp:
    np.savez(
      tmp, C=r.concentrations, S=r.stains, M=r.m, B=r.background, stains=np.array(cfg.stains)
    )
  for i, name in enumerate(cfg.stains):
    c = r.concentrations[..., i]
    save_png(
      os.path.join(out, f"{prefix}C_{name}.png"),
      np.round(255 * np.clip(c / max(float(np.percentile(c, 99.5)), 1e-6), 0, 1)).astype(np.uint8),
    )
    save_png(
      os.path.join(out, f"{prefix}{name}_only.png"),
      pipeline.recolor(cfg, r.concentrations, r.stains, r.m, r.background, i),
    )
  save_png(os.path.join(out, f"{prefix}reconstruction.png"), r.recon)
  return figure(cfg, rgb, r, os.path.join(out, f"{prefix}figure.png"))
