"""Every entry point is an absl program: --help prints its flags and does nothing else; bad input is
one line."""

import os
import re

import numpy as np
import pytest

from common import metrics
from common.data import sources
from common.errors import InputError, UserError
from tests.common.helpers import ROOT, one_line_error, run_cli

PROGRAMS = {  # module: a flag its --help must list
  "common.main": "--workdir",
  "sdmae.main": "--config",
  "slicedae.main": "--allow_config_change",
  "xbdcnn.main": "--checkpoint",
  "segclassic.main": "--method",
  "pgdips.main": "--reference",
  "common.demo": "--only",
  "pgdips.evaluate": "--num_images",
  "pgdips.stitch": "--compare",
  "sdmae.evaluate": "--workdirs",
  "slicedae.evaluate": "--fid_weights",
  "xbdcnn.evaluate": "--classical",
  "common.scaling": "--batch_sizes",
  "slicedae.study": "--datasets",
  "xbdcnn.study": "--variants",
}


@pytest.mark.parametrize("module", sorted(PROGRAMS))
def test_help_prints_flags_and_does_nothing_else(module, tmp_path):
  proc = run_cli(module, "--help", cwd=str(tmp_path), env={"PYTHONPATH": ROOT})
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert PROGRAMS[module] + ":" in proc.stdout and "verbose:" in proc.stdout, proc.stdout[-2000:]
  assert os.listdir(tmp_path) == []  # no job started, nothing written


def test_bench_scripts_take_declared_flags_only(tmp_path):
  import subprocess
  import sys

  for script in ("sdmae", "slicedae", "xbdcnn", "pgdips", "segclassic"):
    path = os.path.join(ROOT, "bench", f"{script}.py")
    proc = subprocess.run(
      [sys.executable, path, "--stepz=3"],
      capture_output=True,
      text=True,
      cwd=str(tmp_path),
      env={**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"},
    )
    one_line_error(proc, "unknown flag --stepz")


def _write(path, data: bytes):
  path.write_bytes(data)
  return str(path)


def test_read_image_errors_are_one_line_and_name_the_file(tmp_path):
  from PIL import Image

  rgb = (np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)
  Image.fromarray(rgb).save(tmp_path / "ok.png")
  full = (tmp_path / "ok.png").read_bytes()
  cases = {
    "missing": (str(tmp_path / "nope.png"), "does not exist"),
    "empty": (_write(tmp_path / "empty.png", b""), "empty (0 bytes)"),
    "truncated": (_write(tmp_path / "cut.png", full[: len(full) // 2]), "cannot be read"),
    "not an image": (_write(tmp_path / "text.png", b"hello, this is not a png"), "cannot be read"),
    "folder": (str(tmp_path), "directory"),
  }
  for name, (path, fragment) in cases.items():
    with pytest.raises(InputError, match=re.escape(fragment)) as e:
      sources.read_image(path)
    assert "\n" not in str(e.value) and path in str(e.value), name


def test_read_image_alpha_and_nan(tmp_path):
  import tifffile
  from PIL import Image

  rgb = (np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)
  opaque = np.concatenate([rgb, np.full((12, 10, 1), 255, np.uint8)], -1)
  Image.fromarray(opaque, "RGBA").save(tmp_path / "opaque.png")
  np.testing.assert_array_equal(
    sources.read_image(str(tmp_path / "opaque.png")), rgb
  )  # flattened: opaque
  semi = opaque.copy()
  semi[3, 4, 3] = 128
  Image.fromarray(semi, "RGBA").save(tmp_path / "semi.png")
  with pytest.raises(InputError, match="transparent pixels .*in 1 of 120"):
    sources.read_image(str(tmp_path / "semi.png"))
  la = np.stack([rgb[..., 0], np.full((12, 10), 255, np.uint8)], -1)
  Image.fromarray(la, "LA").save(tmp_path / "la.png")
  np.testing.assert_array_equal(
    sources.read_image(str(tmp_path / "la.png")), rgb[..., 0]
  )  # gray + opaque alpha
  with pytest.raises(InputError, match="grayscale .*needs an RGB"):
    sources.read_image(str(tmp_path / "la.png"), mode="rgb")
  with pytest.raises(InputError, match="is RGB .*needs a grayscale"):
    sources.read_image(str(tmp_path / "opaque.png"), mode="gray")
  f = np.ones((8, 8), np.float32)
  f[2, 2] = np.nan
  tifffile.imwrite(tmp_path / "nan.tif", f)
  with pytest.raises(InputError, match="1 NaN/inf"):
    sources.read_image(str(tmp_path / "nan.tif"))
  two = np.zeros((8, 8, 2), np.uint8)
  two[..., 1] = 200  # a 2-channel TIFF whose second channel is not an opaque alpha
  tifffile.imwrite(tmp_path / "two.tif", two)
  with pytest.raises(InputError, match="transparent"):
    sources.read_image(str(tmp_path / "two.tif"))


def test_output_names_are_unique_and_never_an_input(tmp_path):
  assert sources.unique_stems(["a/x.png", "b/x.png", "c/y.tif"]) == ["a_x", "b_x", "y"]
  assert sources.unique_stems(["r/a/x.png", "s/a/x.png"]) == ["r_a_x", "s_a_x"]
  with pytest.raises(UserError, match="is the input"):
    sources.check_outputs([str(tmp_path / "in.png")], [str(tmp_path / "in.png")])
  with pytest.raises(UserError, match="two outputs"):
    sources.check_outputs([str(tmp_path / "o.png"), str(tmp_path / "o.png")])
  os.chmod(tmp_path, 0o500)
  try:
    if not os.access(tmp_path, os.W_OK):  # root can write anywhere
      with pytest.raises(UserError, match="not a writable folder"):
        sources.check_outputs([str(tmp_path / "sub" / "o.png")])
  finally:
    os.chmod(tmp_path, 0o700)


def test_psnr_snr_name_the_layout_on_2d_images():
  x = np.random.default_rng(0).random((16, 16)).astype(np.float32)
  for fn in (lambda a, b: metrics.psnr(a, b, data_range=1.0), metrics.snr):
    with pytest.raises(InputError, match=r"\(\.\.\., H, W, C\)"):
      fn(x, x * 0.9)
  # with a channel axis: the scikit-image value
  from skimage.metrics import peak_signal_noise_ratio

  y = np.clip(x + 0.05, 0, 1)
  np.testing.assert_allclose(
    float(metrics.psnr(x[..., None], y[..., None], data_range=1.0)),
    peak_signal_noise_ratio(x, y, data_range=1.0),
    rtol=1e-5,
  )


def test_unknown_and_misplaced_flags_are_one_line(tmp_path):
  one_line_error(
    run_cli("xbdcnn.main", "train", "--checkpoint=x"), "train does not take --checkpoint"
  )
  one_line_error(
    run_cli(
      "pgdips.main",
      "deconvolve",
      "bundled:immunohistochemistry",
      f"--out={tmp_path}",
      "--config.num_stepz=3",
    ),
    "num_stepz",
  )
  one_line_error(
    run_cli(
      "pgdips.main",
      "deconvolve",
      "bundled:immunohistochemistry",
      f"--out={tmp_path}",
      "--config.tile=16",
      "--config.overlap=4",
    ),
    "tile=16",
  )
  one_line_error(
    run_cli(
      "slicedae.main",
      f"--config={ROOT}/configs/slicedae/digits.py:swea,smoke",
      f"--workdir={tmp_path / 'w'}",
    ),
    "swea",
    "swae",
  )
  assert not os.path.exists(tmp_path / "w")


def test_missing_dataset_and_full_disk_are_one_line(tmp_path):
  one_line_error(
    run_cli(
      "sdmae.main",
      f"--config={ROOT}/configs/sdmae/pretrain.py:nct,smoke",
      f"--config.data.data_dir={tmp_path / 'nct'}",
      f"--workdir={tmp_path / 'w'}",
    ),
    str(tmp_path / "nct"),
  )
  import errno

  from common import cli

  assert cli.describe(OSError(errno.ENOSPC, "No space left on device", "/x/ckpt")).startswith(
    "disk full writing /x/ckpt"
  )
  wrapped = RuntimeError(
    "tensorstore: Error writing local file: [OS error 28: No space left on device]\n" * 50
  )
  assert cli.describe(wrapped).startswith("disk full")
  assert cli.describe(ZeroDivisionError("bug")) is None  # a bug keeps its traceback


def test_an_output_that_is_a_link_to_an_input_is_the_input(tmp_path):
  """By identity (device and inode), not by name: a hard link and a symlink to an input are refused."""
  (tmp_path / "in.png").write_bytes(b"x")
  os.link(tmp_path / "in.png", tmp_path / "hard.png")
  os.symlink(tmp_path / "in.png", tmp_path / "soft.png")
  for out in ("hard.png", "soft.png"):
    with pytest.raises(UserError, match="is the input"):
      sources.check_outputs([str(tmp_path / out)], [str(tmp_path / "in.png")])
  sources.check_outputs([str(tmp_path / "new.png")], [str(tmp_path / "in.png")])


def test_atomic_path_leaves_the_old_file_or_nothing(tmp_path):
  """A writer that fails half-way leaves the previous file intact and no temporary beside it; a finished
  one replaces it with mode 0666 less the umask (not mkstemp's 0600)."""
  from common import files

  path = tmp_path / "out.npz"
  path.write_bytes(b"old")
  with pytest.raises(OSError):
    with files.atomic_path(str(path)) as tmp:
      assert tmp.endswith(".npz") and os.path.dirname(tmp) == str(tmp_path)
      open(tmp, "wb").write(b"half")
      raise OSError(28, "No space left on device")
  assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.npz"]
  with files.atomic_path(str(path)) as tmp:
    np.savez(tmp, a=np.arange(3))
  np.testing.assert_array_equal(np.load(path)["a"], np.arange(3))
  mask = os.umask(0)
  os.umask(mask)
  files.write_json_atomic(str(tmp_path / "c.json"), {"a": 1})
  assert os.stat(tmp_path / "c.json").st_mode & 0o777 == 0o666 & ~mask


def test_pgdips_never_writes_over_its_input(tmp_path):
  """deconvolve d/figure.png --out=d and normalize d/normalized.png --out=d would replace the input with an
  output of the same name: refused in one line before any solve, the input unchanged."""
  from PIL import Image

  rgb = np.random.default_rng(0).integers(40, 250, (16, 16, 3)).astype(np.uint8)
  for name in ("figure.png", "normalized.png", "C_eosin.png"):
    Image.fromarray(rgb).save(tmp_path / name)
  before = {n: (tmp_path / n).read_bytes() for n in ("figure.png", "normalized.png", "C_eosin.png")}
  cfg = f"--config={ROOT}/configs/pgdips/he.py:smoke"
  for args in (
    ("deconvolve", str(tmp_path / "figure.png")),
    ("deconvolve", str(tmp_path / "C_eosin.png")),
    ("normalize", str(tmp_path / "figure.png"), f"--reference={tmp_path / 'normalized.png'}"),
  ):
    one_line_error(run_cli("pgdips.main", *args, f"--out={tmp_path}", cfg), "is the input")
  assert {n: (tmp_path / n).read_bytes() for n in before} == before


def test_command_line_mistakes_are_one_line(tmp_path):
  """A missing or empty --config, an override without --config, a batch the devices do not divide,
  --devices=0 and another method's workdir each end in one line (exit 2); --helpfull exits 0."""
  import json

  toy = f"--config={ROOT}/configs/common/toy.py:smoke"
  one_line_error(
    run_cli("common.main", "--config=configs/common/nope.py", f"--workdir={tmp_path / 'a'}"),
    "configs/common/nope.py does not exist",
  )
  one_line_error(
    run_cli("common.main", "--config=", f"--workdir={tmp_path / 'a'}"), "--config is empty"
  )
  one_line_error(
    run_cli("common.main", "--config.optim.lr=0.1", f"--workdir={tmp_path / 'a'}"),
    "needs --config=",
  )
  one_line_error(
    run_cli("common.main", toy, "--config.batch_size=6", f"--workdir={tmp_path / 'a'}"),
    "not divisible by the 4 devices",
  )
  one_line_error(
    run_cli("common.scaling", toy, "--devices=0", f"--out={tmp_path / 's'}"), "--devices"
  )
  one_line_error(
    run_cli("common.scaling", toy, "--devices=1,4", "--batch_sizes=6", f"--out={tmp_path / 's'}"),
    "6 is not divisible by 4",
  )
  proc = run_cli("common.main", "--helpfull")
  assert proc.returncode == 0 and "--workdir" in proc.stdout
  wd = tmp_path / "toy_run"
  wd.mkdir()
  (wd / "config.json").write_text(
    json.dumps({"task": "common.toy:make_task", "model": {"width": 8}})
  )
  one_line_error(
    run_cli("sdmae.evaluate", f"--workdirs={wd}", f"--out={tmp_path / 'e'}"),
    "not an sdmae training run",
  )
  one_line_error(
    run_cli(
      "sdmae.main",
      f"--config={ROOT}/configs/sdmae/probe.py:embedded,smoke",
      f"--config.init.workdir={wd}",
      f"--workdir={tmp_path / 'p'}",
    ),
    "not an sdmae pre-training run",
  )
  assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "e")


def test_help_of_a_plotting_command_writes_nothing_in_home(tmp_path):
  proc = run_cli("pgdips.gallery", "--help", env={"HOME": str(tmp_path), "MPLCONFIGDIR": ""})
  assert proc.returncode == 0 and "--crop" in proc.stdout
  assert not list(tmp_path.iterdir())
