"""Features of the user's tissue from a pre-trained encoder: one vector per tissue tile.

  python -m sdmae.embed --checkpoint=RUN SLIDE_OR_FOLDER --out=DIR [--mpp=0.5] [--batch=64]

RUN is the ``--workdir`` of an sdmae pre-training run. The input is a whole-slide image (any file
OpenSlide opens), a folder of them, or a folder of tiles (png/jpg/tif at any depth).

- A slide gives ``DIR/<slide name>.h5`` with ``features`` (N, D) float32 (the encoder's tokens, mean
  pooled, as the linear probe reads them) and ``coords`` (N, 2) int64, each tile's top-left (x, y) in
  level-0 pixels, the layout multiple-instance codebases (CLAM and its descendants) read; attributes
  ``mpp``, ``level``, ``tile_px`` (at the level read), ``downsample`` and ``slide``. Tiles are the
  tissue grid of :mod:`common.data.slides` at ``--mpp`` (default: the run's ``data.mpp`` for a run
  pre-trained on slides, else level 0), ``data.source_size`` pixels a side (what the run was
  pre-trained on), centre-cropped and resized to the model's input as in evaluation.
- A folder of tiles gives ``DIR/tiles.h5`` with ``features`` and ``paths`` (relative to the folder).

Batches are split over this process's devices, the next batch is read while one is encoded, and a
progress line with the ETA is printed every 10 s. Each ``.h5`` is written under a temporary name and
renamed when complete; a slide whose ``.h5`` exists is skipped, so a killed run resumes at the slide it
was on.
"""

from __future__ import annotations

import concurrent.futures
import os
import time

import jax
import numpy as np
from absl import flags

from common import cli, files, runtime
from common.data import sources
from common.errors import InputError, UserError
from common.logging import Progress, _fmt_time


def _define_flags():
  """The command's flags, defined when it runs (not on import: the demo imports this module)."""
  flags.DEFINE_string("checkpoint", None, "the --workdir of an sdmae pre-training run")
  flags.DEFINE_string("out", None, "output folder (one .h5 per slide, or tiles.h5)")
  flags.DEFINE_float("mpp", 0.0, "slides: microns per pixel to tile at (0: the run's, or level 0)")
  flags.DEFINE_integer("batch", 64, "tiles per encoder call (split over this process's devices)")


class Embedder:
  """A run's encoder as a batched function: uint8 tiles ``(B, s, s, 3)`` -> features ``(B, D)``."""

  def __init__(self, workdir: str):
    import jax.numpy as jnp

    from common import checkpoint
    from sdmae import data as sd_data
    from sdmae.models import Encoder
    from sdmae.task import load_pretrained_encoder

    params = load_pretrained_encoder(workdir, flag="--checkpoint")
    self.workdir = os.path.abspath(workdir)
    self.cfg = checkpoint.read_config(workdir)
    m = self.cfg.model
    self.size = int(self.cfg.data.source_size)
    self.image_size = int(m.image_size)
    enc = Encoder(variant=m.variant, image_size=m.image_size, posemb=m.posemb)
    prep = sd_data.eval_map(self.image_size)
    self._prep = lambda img: prep({"image": img})["image"]

    def features(x):
      return jnp.mean(enc.apply({"params": params}, x), axis=1)

    self._fn = runtime.LocalBatched(features)

  def __call__(self, tiles) -> np.ndarray:
    return self._fn(np.stack([self._prep(t) for t in tiles]).astype(np.float32))


def _batches(n: int, size: int):
  return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _encode(embed: Embedder, read, n: int, batch: int, label: str) -> np.ndarray:
  """Features of items ``read(i)``, ``i < n``, a batch ahead on a reader thread."""
  bar = Progress(n, 1, label=label, every=10.0, unit="tiles")
  out = []
  chunks = _batches(n, batch)
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    nxt = pool.submit(lambda r: [read(i) for i in r], chunks[0]) if chunks else None
    for k, _ in enumerate(chunks):
      tiles = nxt.result()
      if k + 1 < len(chunks):
        nxt = pool.submit(lambda r: [read(i) for i in r], chunks[k + 1])
      out.append(embed(tiles))
      bar.update(sum(len(c) for c in chunks[: k + 1]))
  return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _write_h5(path: str, arrays: dict, attrs: dict) -> None:
  import h5py

  with files.atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
    for k, v in arrays.items():
      f.create_dataset(k, data=v)
    for k, v in attrs.items():
      f.attrs[k] = v


def embed_slide(embed: Embedder, path: str, out: str, mpp: float | None, batch: int) -> str:
  from common.data import slides

  slide, grid, _ = slides.open_grid(path, embed.size, mpp=mpp)
  with slide:
    pos = grid.positions()
    t0 = time.monotonic()
    feats = _encode(
      embed,
      lambda i: slide.read(grid.level, pos[i][1], pos[i][0], grid.tile, grid.tile),
      len(pos),
      batch,
      os.path.basename(path),
    )
  coords = np.array(
    [(round(x * grid.downsample), round(y * grid.downsample)) for y, x in pos], np.int64
  ).reshape(-1, 2)
  _write_h5(
    out,
    {"features": feats.astype(np.float32), "coords": coords},
    {
      "slide": os.path.abspath(path),
      "mpp": float(grid.mpp or 0.0),
      "level": grid.level,
      "downsample": grid.downsample,
      "tile_px": grid.tile,
      "checkpoint": embed.workdir,
    },
  )
  print(
    f"{path}: {len(pos)} tissue tiles, {_fmt_time(time.monotonic() - t0)}; wrote {out}",
    flush=True,
  )
  return out


def embed_tiles(embed: Embedder, folder: str, out: str, batch: int) -> str:
  src = sources.ImageFolderSource(folder, unlabelled=True)
  feats = _encode(embed, lambda i: src[i]["image"], len(src), batch, "tiles")
  rel = np.array([os.path.relpath(p, folder) for p in src.files], dtype=object)
  import h5py

  _write_h5(
    out,
    {"features": feats.astype(np.float32), "paths": rel.astype(h5py.string_dtype())},
    {"folder": os.path.abspath(folder)},
  )
  print(f"{folder}: {len(src)} tiles; wrote {out}", flush=True)
  return out


def main(argv) -> int:
  from common.data import slides

  FLAGS = flags.FLAGS
  if len(argv) != 2:
    raise UserError(
      "usage: python -m sdmae.embed --checkpoint=RUN SLIDE_OR_FOLDER --out=DIR (see --help)"
    )
  if not FLAGS.checkpoint:
    raise UserError("missing --checkpoint=RUN (the --workdir of an sdmae pre-training run)")
  if not FLAGS.out:
    raise UserError("missing --out=DIR")
  if FLAGS.batch < 1:
    raise UserError(f"--batch={FLAGS.batch} must be >= 1")
  src = argv[1]
  if not os.path.exists(src):
    raise InputError(f"{src}: no such file or folder")
  out = sources.check_out_dir(FLAGS.out)
  paths = slides.list_slides(src)
  runtime.initialize()  # several processes (jax.distributed): each takes its own slides
  embed = Embedder(FLAGS.checkpoint)
  if not paths:
    if os.path.isfile(src):
      raise InputError(f"{src} is not a whole-slide image (a file OpenSlide opens)")
    target = os.path.join(out, "tiles.h5")
    files.check_outputs([target], [src])
    embed_tiles(embed, src, target, FLAGS.batch)
    return 0
  mpp = FLAGS.mpp or (float(embed.cfg.data.mpp) if embed.cfg.data.name == "slides" else 0.0)
  targets = [os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".h5") for p in paths]
  if len(set(targets)) != len(targets):
    raise InputError(f"{src}: two slides share a name stem; their .h5 files would collide")
  files.check_outputs(targets, paths)
  mine = range(jax.process_index(), len(paths), jax.process_count())
  for i in mine:
    if os.path.exists(targets[i]):
      print(f"{paths[i]}: {targets[i]} exists, skipped", flush=True)
      continue
    embed_slide(embed, paths[i], targets[i], mpp or None, FLAGS.batch)
  runtime.shutdown()
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
