"""Denoise image files with a trained X-BDCNN or DnCNN (``python -m xbdcnn.main denoise``)."""

from __future__ import annotations

import os

import jax
import numpy as np

from common import runs as runs_lib
from common.data import dicom, sources
from common.errors import UserError
from common.files import atomic_path

__all__ = ["load_denoiser", "denoise_file"]


def load_denoiser(workdir: str | None = None):
  """``apply(f_NHW1) -> g`` from a training workdir (its config.json and latest checkpoint), or with
  ``workdir`` None the model that ships with xbdcnn (``xbdcnn/model``, :mod:`xbdcnn.export`)."""
  from xbdcnn.models import make_model

  if workdir is None:
    from xbdcnn import export

    model_cfg, variables, _ = export.load()
  else:
    run = runs_lib.load_run(workdir)
    if "model" not in run.cfg or "arch" not in run.cfg.model:
      raise UserError(f"{workdir} is not an xbdcnn training run (its config has no model.arch)")
    model_cfg, variables = run.cfg.model, run.variables
  model = make_model(model_cfg)
  return jax.jit(lambda f: model.apply(variables, f)[0])


_IMAGE_EXT = (".png", ".tif", ".tiff")
MIN_SIZE = 16  # the U-Net downsamples by 4; smaller images have nothing to denoise at its scale


class _Job:
  """One input file read and checked, with what its output must be, before any network runs."""

  def __init__(self, image: str, out: str):
    self.image, self.out = image, out
    self.dicom = dicom.is_dicom(image)
    if self.dicom:
      self.src = dicom.read(image)
      frames = dicom.to_unit(self.src)
      shape = frames.shape[1:]
      if out.lower().endswith(_IMAGE_EXT):
        raise UserError(
          f"{image} is DICOM and is written as DICOM: give --out a .dcm name (not {out!r})"
        )
    else:
      raw = sources.read_image(image, mode="gray")
      if raw.dtype not in (np.uint8, np.uint16, np.float32):
        raise UserError(
          f"{image} has pixel type {raw.dtype}; denoise reads 8/16-bit integer or float images: "
          "convert it (e.g. to uint16) first"
        )
      if not out.lower().endswith(_IMAGE_EXT):
        raise UserError(f"--out={out!r}: write .png or .tif/.tiff for {image}")
      if raw.dtype == np.float32 and not out.lower().endswith((".tif", ".tiff")):
        raise UserError(
          f"{image} is a float image; write it to a .tif/.tiff --out to keep its values"
        )
      self.raw = raw
      scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(raw.dtype)
      frames = (raw.astype(np.float32) / scale if scale else raw.astype(np.float32))[None]
      self.scale, shape = scale, raw.shape
    if min(shape) < MIN_SIZE:
      raise UserError(
        f"{image} is {shape[0]}x{shape[1]} pixels; denoise needs at least {MIN_SIZE}x{MIN_SIZE}"
      )
    self.frames = frames

  def write(self, denoised: np.ndarray, description: str) -> str:
    if self.dicom:
      return dicom.write_derived(
        self.src, dicom.from_unit(self.src, denoised), self.out, description
      )
    y = denoised[0]
    if self.scale is not None:
      y = np.clip(np.round(y * self.scale), 0, self.scale).astype(self.raw.dtype)
    with atomic_path(self.out) as tmp:
      if self.out.lower().endswith((".tif", ".tiff")):
        import tifffile

        tifffile.imwrite(tmp, y)
      else:
        from PIL import Image

        Image.fromarray(y).save(tmp, format="PNG")
    return self.out


def _pairs(image: str, out: str) -> list[tuple[str, str]]:
  """(input, output) files: one file, or every DICOM/PNG/TIFF file of a folder (by content for DICOM,
  whatever the name) into ``out`` as a folder, under the same names."""
  if not os.path.isdir(image):
    return [(image, out)]
  names = sorted(
    n
    for n in os.listdir(image)
    if os.path.isfile(os.path.join(image, n))
    and (n.lower().endswith(_IMAGE_EXT) or dicom.is_dicom(os.path.join(image, n)))
  )
  if not names:
    raise UserError(f"{image} holds no DICOM, PNG or TIFF file to denoise")
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserError(f"--out={out!r} is a file; a folder of inputs needs an output folder")
  return [(os.path.join(image, n), os.path.join(out, n)) for n in names]


def denoise_file(image: str, workdir: str | None, out: str, tile: int = 512) -> str:
  """Denoises a DICOM, 8/16-bit or float grey-scale file (or a folder of them) into ``out``: DICOM as a
  derived DICOM image of the same study (frame by frame), the others in their own dtype. Every input
  and output is checked before the network is loaded."""
  from xbdcnn.task import denoise_image

  if tile < MIN_SIZE:
    raise UserError(
      f"--tile={tile} is too small; use at least {MIN_SIZE} (the U-Net downsamples by 4)"
    )
  pairs = _pairs(image, out)
  sources.check_outputs([o for _, o in pairs], [i for i, _ in pairs])
  jobs = [_Job(i, o) for i, o in pairs]
  net = load_denoiser(workdir)
  description = (
    f"denoised by medjax xbdcnn ({_model_name(workdir)}, {os.path.abspath(workdir)})"
    if workdir
    else "denoised by medjax xbdcnn (the default model, trained on embedded images, not clinical data)"
  )
  written = []
  for job in jobs:
    denoised = np.stack([denoise_image(net, f, tile=tile) for f in job.frames])
    written.append(job.write(denoised, description))
  return written[0] if len(written) == 1 and not os.path.isdir(image) else out


def _model_name(workdir: str) -> str:
  from common import checkpoint

  cfg = checkpoint.read_config(workdir)
  return str(cfg.model.get("arch", "?")) if "model" in cfg else "?"
