"""X-BDCNN (and the DnCNN baseline) as a shared-trainer Task.

The data pipeline gives clean patches with their Poisson-Gaussian noisy versions and level maps
(per-image eta, sigma; ``noise.noisy_example`` as the pipeline's random map, whose generator depends
on the example's position in the stream): every epoch sees new noise, deterministic per step and
resumable, drawn by the pipeline's threads while the device runs the previous step.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np

from common import data, metrics, plotting, runtime, trainer
from common import nn as nn_util
from xbdcnn import losses, noise
from xbdcnn.models import make_model

__all__ = [
  "make_task",
  "validation_set",
  "load_images",
  "split_names",
  "as_image",
  "PatchSource",
  "denoise_image",
]


def _gray01(img: np.ndarray) -> np.ndarray:
  img = np.asarray(img)
  if img.ndim == 3:
    img = img[..., :3].mean(-1) if img.shape[-1] >= 3 else img[..., 0]
  return data.transforms.to_float(img) if img.dtype.kind in "ui" else img.astype(np.float32)


PHANTOM_SEEDS = {"train": 0, "val": 1000, "test": 2000}  # disjoint seed ranges of xbdcnn.phantoms


def split_names(d) -> dict[str, list[str]]:
  """The bundled split by name: scikit-image images by their name, procedural radiographs as
  ``phantom:SEED`` (``data.phantoms`` = (train, val, test) counts, seeds from :data:`PHANTOM_SEEDS`)."""
  counts = dict(zip(("train", "val", "test"), d.phantoms))
  named = {"train": list(d.train_images), "val": list(d.val_images), "test": list(d.test_images)}
  return {
    k: named[k] + [f"phantom:{PHANTOM_SEEDS[k] + i}" for i in range(counts[k])] for k in named
  }


@functools.lru_cache(maxsize=128)
def _bundled(name: str) -> np.ndarray:
  """One bundled image, read (or drawn) once per process; callers must not write into it."""
  if name.startswith("phantom:"):
    from xbdcnn.phantoms import chest_phantom

    img = chest_phantom(int(name.split(":")[1]))
  else:
    img = _gray01(data.bundled_gray(name))
  img.flags.writeable = False
  return img


def load_images(d) -> dict[str, list]:
  """``{"train": [...], "val": [...], "test": [...]}`` of 2-D float32 images in [0, 1] (or lazily
  loaded file paths for a real dataset), split by image so test images are never trained on."""
  if d.name == "bundled":
    return {k: [_bundled(n) for n in names] for k, names in split_names(d).items()}
  if d.name == "folder":
    src = data.ImageFolderSource(
      d.root,
      flat_ok=True,
      hint="ChestX-ray8: download images_*.tar.gz from the NIH Clinical Center box "
      "and extract the PNGs into one folder",
    )
    order = np.random.default_rng(d.split_seed).permutation(len(src.files))
    n = len(order)
    n_tr, n_va = int(round(0.7 * n)), int(round(0.2 * n))
    pick = lambda idx: [src.files[i] for i in sorted(idx)]
    return {
      "train": pick(order[:n_tr]),
      "val": pick(order[n_tr : n_tr + n_va]),
      "test": pick(order[n_tr + n_va :]),
    }
  raise ValueError(f"data.name={d.name!r} is unknown; use 'bundled' or 'folder'")


def as_image(item) -> np.ndarray:
  """A ``load_images`` entry as a float image in [0, 1]: files are read (grayscale), arrays pass through."""
  return _gray01(data.sources.read_image(item)) if isinstance(item, str) else item


class PatchSource:
  """``length`` random ``patch`` x ``patch`` crops (with flips and 90-degree turns) of the images;
  crop i depends only on (seed, i)."""

  def __init__(self, images: list, patch: int, length: int, seed: int, augment: bool = True):
    self.images, self.patch, self.length, self.seed, self.augment = (
      images,
      patch,
      length,
      seed,
      augment,
    )

  def __len__(self):
    return self.length

  def __getitem__(self, i):
    rng = np.random.default_rng([self.seed, int(i)])
    img = as_image(self.images[int(rng.integers(len(self.images)))])
    p = data.transforms.random_crop(img, rng, (self.patch, self.patch))
    if self.augment:
      p = np.rot90(p, int(rng.integers(4)))
      if rng.random() < 0.5:
        p = p[:, ::-1]
    return {"image": np.ascontiguousarray(p, np.float32)[..., None]}


def validation_set(cfg, val_images=None):
  """``(noisy, clean, eta, sigma)``: ``data.num_val_patches`` fixed crops of the validation images with
  fixed noise (a function of the config's seed only), the held-out set logged during training."""
  n_cfg = cfg.noise
  if val_images is None:
    val_images = load_images(cfg.data)["val"]
  val_src = PatchSource(
    val_images, cfg.data.patch, cfg.data.num_val_patches, seed=cfg.seed + 1, augment=False
  )
  clean = np.stack([val_src[i]["image"] for i in range(len(val_src))])
  vkey = jax.random.PRNGKey(cfg.seed + 2)
  eta, sigma = noise.sample_params(
    vkey, len(clean), tuple(n_cfg.eta_range), tuple(n_cfg.sigma_range)
  )
  noisy = np.asarray(
    noise.add_noise(jax.random.fold_in(vkey, 1), clean, eta, sigma, n_cfg.convention, n_cfg.clip)
  )
  return noisy, clean, eta, sigma


def make_task(cfg) -> trainer.Task:
  model = make_model(cfg.model)
  images = load_images(cfg.data)
  n_cfg = cfg.noise
  val_noisy, val_clean, v_eta, v_sigma = validation_set(cfg, images["val"])

  variables = nn_util.merge

  def init(key, batch):
    return nn_util.split_variables(model.init(key, batch["image"]))

  def loss(params, extra, batch, key):
    """Eq. 8 on a batch of clean patches with their noisy versions and level maps (drawn by the input
    pipeline, ``train_data``)."""
    del key
    g, f = batch["image"], batch["noisy"]
    (g_hat, aux), extra = nn_util.apply_train(model, params, extra, f)
    total, parts = losses.total_loss(g_hat, g, aux["levels"], batch["levels"], cfg.loss)
    return total, (parts, extra)

  def train_data(cfg):
    src = PatchSource(images["train"], cfg.data.patch, cfg.data.num_train_patches, seed=cfg.seed)
    return data.train_pipeline(
      src,
      global_batch=cfg.batch_size,
      seed=cfg.seed,
      random_map_fn=lambda ex, rng: {**ex, **noise.noisy_example(rng, ex["image"], n_cfg)},
      **runtime.grain_read_options(cfg.data),
    )

  apply = jax.jit(lambda p, e, f: model.apply(variables(p, e), f)[0])

  def evaluate(state, step):
    out = np.concatenate(
      [
        np.asarray(apply(state.params, state.extra, val_noisy[i : i + 32]))
        for i in range(0, len(val_noisy), 32)
      ]
    )
    return {
      "val_mse": float(np.mean((out - val_clean) ** 2)),
      "val_psnr": float(np.mean(metrics.psnr(out, val_clean, data_range=1.0))),
      "val_ssim": float(np.mean(metrics.ssim(out, val_clean, data_range=1.0))),
      "noisy_psnr": float(np.mean(metrics.psnr(val_noisy, val_clean, data_range=1.0))),
    }

  def figures(state, workdir, step):
    k = min(6, len(val_noisy))
    out = np.asarray(apply(state.params, state.extra, val_noisy[:k]))
    panels = []
    for i in range(k):
      panels += [
        (
          f"noisy (eta={float(v_eta[i]):.2f}, sigma={float(v_sigma[i]):.1f})",
          np.clip(val_noisy[i, ..., 0], 0, 1),
        ),
        ("denoised", np.clip(out[i, ..., 0], 0, 1)),
        ("clean", val_clean[i, ..., 0]),
      ]
    return [
      plotting.save_panels(
        os.path.join(workdir, "figures", f"val_{step:06d}.png"), panels, ncols=3, size=2.5
      )
    ]

  return trainer.Task(
    init=init,
    loss=loss,
    train_data=train_data,
    evaluate=evaluate,
    figures=figures,
    compiler_options=runtime.conv_compiler_options(),  # oneDNN convolutions on XLA:CPU
  )


def denoise_image(apply_fn, img01: np.ndarray, tile: int = 512, overlap: int = 48) -> np.ndarray:
  """Denoises a 2-D float image of any size with a fully convolutional ``apply_fn`` on ``(1, h, w, 1)``
  tiles. The image is first reflect-padded by ``overlap`` on every side (then to a multiple of 4):
  the network's convolutions pad with zeros, and on the raw image that zero frame left a band of
  noise along the borders (error in the outer 8 pixels of a flat image 6x the interior's after a
  short training; equal with the padding). Images larger than ``tile`` are cut into ``tile`` x ``tile``
  tiles overlapping by ``overlap`` and each tile's centre is kept, so memory stays bounded for 1024^2
  and 2048^2 images. The default overlap (48) covers the X-BDCNN receptive field (about 45 pixels),
  so the tiled result equals the whole-image result: no seams."""
  h, w = img01.shape
  if tile % 4 or overlap % 4 or tile <= 2 * overlap:
    raise ValueError(
      f"tile ({tile}) and overlap ({overlap}) must be multiples of 4 with tile > 2 * overlap"
    )
  ph, pw = (-h) % 4, (-w) % 4
  x = np.pad(img01, ((0, ph), (0, pw)), mode="reflect")
  H, W = x.shape
  xp = np.pad(x, overlap, mode="reflect")
  if H + 2 * overlap <= tile and W + 2 * overlap <= tile:
    return np.asarray(apply_fn(xp[None, ..., None]))[
      0, overlap : overlap + h, overlap : overlap + w, 0
    ]
  out = np.zeros_like(x)
  step = tile - 2 * overlap
  for y0 in range(0, H, step):
    for x0 in range(0, W, step):
      y1, x1 = min(y0 + step, H), min(x0 + step, W)
      ty, tx = y1 - y0 + 2 * overlap, x1 - x0 + 2 * overlap
      t = xp[y0 : y0 + ty, x0 : x0 + tx]
      py, px = (-t.shape[0]) % 4, (-t.shape[1]) % 4
      t = np.pad(t, ((0, py), (0, px)), mode="reflect")
      d = np.asarray(apply_fn(t[None, ..., None]))[0, ..., 0]
      out[y0:y1, x0:x1] = d[overlap : overlap + y1 - y0, overlap : overlap + x1 - x0]
  return out[:h, :w]
