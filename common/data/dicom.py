"""Grey-scale DICOM images in, derived DICOM images out (pydicom; the pylibjpeg plugins decode JPEG,
JPEG-LS and JPEG 2000, pydicom itself RLE and deflate).

A file is DICOM by its content (the ``DICM`` marker after the 128-byte preamble), whatever its name.
:func:`read` gives the stored values frame by frame. :func:`to_unit` maps them to [0, 1] by the
stored bit depth (``BitsStored``: a 12-bit radiograph in 16-bit words is scaled by 4095, not 65535),
signed pixels by their range, and MONOCHROME1 (high values dark) inverted, so that a network sees
every image as MONOCHROME2 intensities. The modality rescale (``RescaleSlope``/``RescaleIntercept``) is
a linear map of the stored values that the output keeps unchanged, so the stored values are what is
denoised. :func:`from_unit` maps back and :func:`write_derived` writes a derived image of the same
study: same patient, study, geometry, bit depth, pixel representation, photometric interpretation
and rescale; new SOP Instance and Series Instance UIDs; ImageType DERIVED\\SECONDARY; a
DerivationDescription; uncompressed Explicit VR Little Endian.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from common.errors import InputError
from common.files import atomic_path

__all__ = ["DicomImage", "is_dicom", "read", "to_unit", "from_unit", "write_derived"]


@dataclasses.dataclass
class DicomImage:
  dataset: object  # the pydicom Dataset as read
  stored: np.ndarray  # (frames, H, W) stored values (signed where PixelRepresentation is 1)
  bits: int  # BitsStored
  signed: bool  # PixelRepresentation 1
  inverted: bool  # MONOCHROME1

  @property
  def range(self) -> tuple[int, int]:
    """The smallest and largest value ``bits`` stored bits hold."""
    lo = -(2 ** (self.bits - 1)) if self.signed else 0
    return lo, lo + 2**self.bits - 1


def is_dicom(path: str) -> bool:
  """Whether ``path`` is a DICOM file (Part 10: the ``DICM`` marker at byte 128)."""
  try:
    with open(path, "rb") as f:
      head = f.read(132)
  except OSError:
    return False
  return len(head) == 132 and head[128:132] == b"DICM"


def _first(e: BaseException) -> str:
  return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def read(path: str) -> DicomImage:
  """A grey-scale DICOM image, or a one-line InputError saying why not."""
  import pydicom
  from pydicom.errors import InvalidDicomError

  try:
    ds = pydicom.dcmread(path)
  except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as e:
    raise InputError(
      f"{path} is not a readable DICOM file ({type(e).__name__}: {_first(e)})"
    ) from None
  if "PixelData" not in ds:
    what = ds.get("Modality") or ds.get("SOPClassUID", "")
    raise InputError(
      f"{path} holds no image (no PixelData; {getattr(what, 'name', what) or 'no modality'}): "
      "give a DICOM image such as a radiograph"
    )
  photometric = str(ds.get("PhotometricInterpretation", ""))
  if int(ds.get("SamplesPerPixel", 1)) != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
    raise InputError(
      f"{path} is a {photometric or 'colour'} image; denoising reads grey-scale "
      "(MONOCHROME1/MONOCHROME2) DICOM only"
    )
  bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 0)))
  if not 2 <= bits <= 16:
    raise InputError(
      f"{path} stores {bits}-bit pixels; denoising reads 2- to 16-bit grey-scale images"
    )
  try:
    arr = ds.pixel_array
  except Exception as e:  # noqa: BLE001  (pydicom and its plugins raise many types)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    name = getattr(syntax, "name", syntax)
    msg = _first(e)
    if (
      "plugin" in msg.lower() or "decoder" in msg.lower() or "no pixel data handler" in msg.lower()
    ):
      raise InputError(
        f"{path} is compressed ({name}) and none of the installed decoders reads it (pylibjpeg "
        "and its plugins, pinned in requirements.lock; python-gdcm reads more): convert it to "
        "uncompressed DICOM (e.g. dcmdjpeg or gdcmconv --raw) first"
      ) from None
    raise InputError(
      f"{path}: its pixel data cannot be decoded ({msg}); the file is damaged or truncated"
    ) from None
  frames = int(ds.get("NumberOfFrames", 1) or 1)
  stored = np.asarray(arr).reshape((frames,) + tuple(arr.shape[-2:]))
  stored = stored.astype(stored.dtype.newbyteorder("="))  # big-endian files: native values
  signed = int(ds.get("PixelRepresentation", 0)) == 1
  return DicomImage(ds, stored, bits, signed, photometric == "MONOCHROME1")


def to_unit(img: DicomImage) -> np.ndarray:
  """``(frames, H, W)`` float32 in [0, 1]: the stored range of ``BitsStored`` bits onto [0, 1],
  MONOCHROME1 inverted."""
  lo, hi = img.range
  x = (np.clip(img.stored.astype(np.float64), lo, hi) - lo) / (hi - lo)
  return (1.0 - x if img.inverted else x).astype(np.float32)


def from_unit(img: DicomImage, x: np.ndarray) -> np.ndarray:
  """The inverse of :func:`to_unit`: stored values of the source's type, rounded and clipped to range."""
  lo, hi = img.range
  x = np.asarray(x, np.float64)
  x = 1.0 - x if img.inverted else x
  return np.clip(np.round(lo + x * (hi - lo)), lo, hi).astype(img.stored.dtype)


def write_derived(img: DicomImage, stored: np.ndarray, path: str, description: str) -> str:
  """Writes ``stored`` (the source's shape and type) as a derived image of the source's study."""
  from pydicom.uid import ExplicitVRLittleEndian, generate_uid

  ds = copy.deepcopy(img.dataset)
  stored = np.asarray(stored).astype(img.stored.dtype)
  frames = stored if len(stored) > 1 else stored[0]
  ds.set_pixel_data(frames, str(ds.PhotometricInterpretation), img.bits)
  ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
  ds.SOPInstanceUID = generate_uid()
  ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
  ds.SeriesInstanceUID = generate_uid()
  kind = list(ds.get("ImageType", []))
  ds.ImageType = ["DERIVED", "SECONDARY"] + kind[2:]
  ds.DerivationDescription = description[:1024]
  if "SeriesDescription" in ds:
    ds.SeriesDescription = f"{ds.SeriesDescription} (denoised)"[:64]
  with atomic_path(path) as tmp:
    ds.save_as(tmp, enforce_file_format=True)
  return path
