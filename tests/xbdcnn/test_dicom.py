"""DICOM in and out (common.data.dicom), on the real small files pydicom ships and on radiographs
written here: stored values equal pydicom's own decoding in every lossless transfer syntax, the
BitsStored / signed / MONOCHROME1 mapping is the stated formula, a derived image keeps the study and
geometry with new UIDs, and bad files end in one line."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from common.data import dicom
from common.errors import InputError


def write_dx(path, stored, photometric="MONOCHROME1", bits=12):
  """A DX radiograph (For Presentation) with ``bits`` stored bits in 16-bit words, frames (F, H, W)."""
  meta = FileMetaDataset()
  meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
  meta.MediaStorageSOPInstanceUID = generate_uid()
  meta.TransferSyntaxUID = ExplicitVRLittleEndian
  ds = Dataset()
  ds.file_meta = meta
  ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
  ds.PatientID, ds.PatientName, ds.StudyInstanceUID = "P-17", "Test^Patient", generate_uid()
  ds.SeriesInstanceUID, ds.Modality, ds.ImageType = generate_uid(), "DX", ["ORIGINAL", "PRIMARY"]
  ds.SeriesDescription, ds.PixelSpacing = "chest PA", [0.143, 0.143]
  ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, 0, "US"
  frames = np.asarray(stored, np.uint16)
  ds.set_pixel_data(frames if len(frames) > 1 else frames[0], photometric, bits)
  ds.save_as(path, enforce_file_format=True)
  return path


LOSSLESS = [
  "MR_small.dcm",
  "MR_small_RLE.dcm",
  "MR_small_jp2klossless.dcm",
  "MR_small_jpeg_ls_lossless.dcm",
  "MR_small_bigendian.dcm",
  "MR_small_implicit.dcm",
]


@pytest.mark.parametrize("name", LOSSLESS)
def test_every_lossless_transfer_syntax_reads_the_same_values(name):
  want = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array.astype(np.int64)
  img = dicom.read(get_testdata_file(name))
  assert dicom.is_dicom(get_testdata_file(name))
  assert img.stored.shape == (1, 64, 64) and img.signed and img.bits == 16 and not img.inverted
  np.testing.assert_array_equal(img.stored[0].astype(np.int64), want)


def test_the_unit_scale_follows_bits_stored_sign_and_monochrome1(tmp_path):
  rng = np.random.default_rng(0)
  stored = rng.integers(0, 4096, (2, 20, 24))
  img = dicom.read(write_dx(str(tmp_path / "dx"), stored))  # no extension: DICOM by content
  assert img.bits == 12 and img.inverted and img.stored.shape == (2, 20, 24)
  np.testing.assert_allclose(
    dicom.to_unit(img), 1.0 - stored / 4095.0, atol=1e-6
  )  # 12 bits, inverted
  np.testing.assert_array_equal(dicom.from_unit(img, dicom.to_unit(img)), stored)
  ct = dicom.read(get_testdata_file("CT_small.dcm"))  # signed 16-bit
  np.testing.assert_allclose(
    dicom.to_unit(ct), (ct.stored.astype(np.float64) + 32768) / 65535, atol=1e-6
  )
  np.testing.assert_array_equal(dicom.from_unit(ct, dicom.to_unit(ct)), ct.stored)


def test_a_derived_image_keeps_the_study_with_new_uids(tmp_path):
  stored = np.random.default_rng(1).integers(0, 4096, (1, 32, 40))
  src_path = write_dx(str(tmp_path / "in.dcm"), stored)
  img = dicom.read(src_path)
  new = np.clip(stored + 3, 0, 4095)
  dicom.write_derived(img, new, str(tmp_path / "out.dcm"), "denoised by a test")
  src, out = pydicom.dcmread(src_path), pydicom.dcmread(tmp_path / "out.dcm")
  same = [
    "PatientID",
    "PatientName",
    "StudyInstanceUID",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "RescaleSlope",
    "RescaleIntercept",
    "PixelSpacing",
    "SOPClassUID",
    "Modality",
  ]
  for key in same:
    assert out[key].value == src[key].value, key
  assert out.SOPInstanceUID != src.SOPInstanceUID and out.SeriesInstanceUID != src.SeriesInstanceUID
  assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
  assert (
    list(out.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    and out.DerivationDescription == "denoised by a test"
  )
  assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
  np.testing.assert_array_equal(out.pixel_array, new[0])
  # a compressed source is written uncompressed, its values kept
  jp2 = dicom.read(get_testdata_file("MR_small_jp2klossless.dcm"))
  dicom.write_derived(jp2, jp2.stored, str(tmp_path / "jp2.dcm"), "x")
  back = pydicom.dcmread(tmp_path / "jp2.dcm")
  assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
  np.testing.assert_array_equal(back.pixel_array, jp2.stored[0])


@pytest.mark.parametrize(
  "name,fragment",
  [
    ("MR_truncated.dcm", "damaged or truncated"),
    ("rtplan.dcm", "no PixelData"),
    ("reportsi.dcm", "no PixelData"),
    ("SC_rgb_rle.dcm", "grey-scale"),
    ("rtdose.dcm", "32-bit"),
  ],
)
def test_files_that_are_not_grey_scale_images_are_one_line(name, fragment):
  with pytest.raises(InputError, match=fragment) as e:
    dicom.read(get_testdata_file(name))
  assert "\n" not in str(e.value)


def test_a_png_is_not_dicom(tmp_path):
  from PIL import Image

  Image.fromarray(np.zeros((20, 20), np.uint8)).save(
    tmp_path / "x.dcm", format="PNG"
  )  # a PNG named .dcm
  assert not dicom.is_dicom(str(tmp_path / "x.dcm"))


def test_training_and_evaluation_read_a_folder_of_dicom_like_pngs(tmp_path):
  """A hospital export (DICOM files without extension) is an image folder: the files are listed, and
  each reads as a grey-scale float image in [0, 1] scaled by its stored bits."""
  from common.data import sources

  stored = np.random.default_rng(2).integers(0, 4096, (1, 24, 20))
  for name in ("IM0001", "IM0002"):
    write_dx(str(tmp_path / name), stored, photometric="MONOCHROME2")
  (tmp_path / "notes.txt").write_text("not an image")
  src = sources.ImageFolderSource(str(tmp_path), flat_ok=True)
  assert [p.rsplit("/", 1)[-1] for p in src.files] == ["IM0001", "IM0002"]
  img = sources.read_image(src.files[0], mode="gray")
  assert img.dtype == np.float32 and img.shape == (24, 20)
  np.testing.assert_allclose(img, stored[0] / 4095.0, atol=1e-6)


def test_the_model_that_ships_denoises_a_held_out_radiograph_without_training(tmp_path):
  """``denoise`` without --checkpoint: xbdcnn/model (trained on the embedded training split) on a
  held-out procedural radiograph (a test-split seed) with the paper's noise at eta 0.6, sigma 10, as a
  12-bit MONOCHROME2 DICOM: the derived image is at least 5 dB nearer the clean one than the input."""
  import jax

  from tests.common.helpers import run_cli
  from xbdcnn import noise, task
  from xbdcnn.phantoms import chest_phantom

  clean = np.asarray(chest_phantom(task.PHANTOM_SEEDS["test"]), np.float64)[:96, :128]
  noisy = np.asarray(
    noise.add_noise(jax.random.PRNGKey(0), clean[None, ..., None], 0.6, 10.0), np.float64
  )[0, ..., 0]
  noisy = np.clip(noisy, 0, 1)
  write_dx(str(tmp_path / "in.dcm"), np.round(noisy * 4095)[None], photometric="MONOCHROME2")
  proc = run_cli(
    "xbdcnn.main", "denoise", str(tmp_path / "in.dcm"), f"--out={tmp_path / 'out.dcm'}"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = pydicom.dcmread(tmp_path / "out.dcm")
  assert "default model" in out.DerivationDescription
  psnr = lambda a: 10 * np.log10(1.0 / np.mean((a - clean) ** 2))
  assert psnr(out.pixel_array / 4095.0) > psnr(noisy) + 5.0, (
    psnr(out.pixel_array / 4095.0),
    psnr(noisy),
  )
