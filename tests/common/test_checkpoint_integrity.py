"""Checkpoints fail loudly, never silently: a checksum per committed checkpoint, a quarantine that keeps
every earlier quarantine, a workdir with no readable checkpoint refused untouched, and the config guard
kept when config.json is gone (the checkpoints' own record of their config)."""

import glob
import json
import os

import numpy as np
import pytest

from common import checkpoint, config as config_lib, toy, trainer
from common.errors import UserError
from tests.common.helpers import ROOT, assert_trees_equal

TOY = os.path.join(ROOT, "configs/common/toy.py")


def _cfg(**over):
  return config_lib.load_config(TOY + ":smoke", {"total_steps": 10, "ckpt_every": 5, "log_every": 5,
                                                 "eval_every": 0, "figure_every": 0, **over})


def _train(wd, **over):
  cfg = _cfg(**over)
  return trainer.train(cfg, toy.make_task(cfg), str(wd), verbose=False)


def _params(wd, step):
  return checkpoint.load_state(str(wd), step)[0]["params"]


def _data_files(wd, step):
  files = [f for f in glob.glob(str(wd / "checkpoints" / str(step) / "state" / "**" / "d" / "*"), recursive=True)
           if os.path.isfile(f) and os.path.getsize(f) > 64]
  assert files, "no array data file found in the checkpoint"
  return files


def _flip_one_bit(path, offset):
  with open(path, "r+b") as f:
    f.seek(offset)
    b = f.read(1)
    f.seek(offset)
    f.write(bytes([b[0] ^ 0x01]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A finished 10-step toy run (checkpoints 5 and 10) and its step-5 and step-10 parameters."""
  wd = tmp_path_factory.mktemp("ref")
  _train(wd)
  return wd, _params(wd, 5), _params(wd, 10)


def _copy(src, dst):
  import shutil
  shutil.copytree(src, dst)
  return dst


def test_every_committed_checkpoint_has_a_checksum(trained):
  wd, _, _ = trained
  sums = json.load(open(wd / "checkpoints" / "checksums-p0.json"))
  assert sorted(sums) == ["10", "5"]
  import hashlib
  for step, files in sums.items():
    for rel, digest in files.items():
      assert hashlib.sha256(open(wd / "checkpoints" / step / rel, "rb").read()).hexdigest() == digest


def test_a_bit_flip_falls_back_to_the_previous_checkpoint(trained, tmp_path, capsys):
  """One flipped bit in an array file of step 10 (which orbax itself reads back without complaint): the
  checksum catches it, step 10 is moved aside and the run resumes from step 5 to the same weights."""
  ref, _, want = trained
  wd = _copy(ref, tmp_path / "run")
  _flip_one_bit(_data_files(wd, 10)[0], 40)
  state = _train(wd)
  out = capsys.readouterr().out
  assert "unreadable" in out and "checksum" in out and "resuming from step 5" in out
  assert os.path.isdir(wd / "checkpoints" / "10.corrupt")
  assert int(state.step) == 10
  assert_trees_equal(_params(wd, 10), want)


def test_a_second_quarantine_of_a_step_keeps_the_first(trained, tmp_path, capsys):
  ref, _, _ = trained
  wd = _copy(ref, tmp_path / "run")
  os.makedirs(wd / "checkpoints" / "10.corrupt")
  (wd / "checkpoints" / "10.corrupt" / "earlier").write_text("kept")
  _flip_one_bit(_data_files(wd, 10)[0], 40)
  _train(wd)
  assert (wd / "checkpoints" / "10.corrupt" / "earlier").read_text() == "kept"
  assert os.path.isdir(wd / "checkpoints" / "10.corrupt.1" / "state")


def test_no_readable_checkpoint_stops_and_touches_nothing(trained, tmp_path):
  ref, _, _ = trained
  wd = _copy(ref, tmp_path / "run")
  for step in (5, 10):
    _flip_one_bit(_data_files(wd, step)[0], 40)
  listing = sorted(os.listdir(wd / "checkpoints"))
  metrics = (wd / "metrics.jsonl").read_bytes()
  with pytest.raises(UserError, match=r"none of the 2 checkpoints .* can be read .*nothing was moved") as e:
    _train(wd)
  assert "\n" not in str(e.value)
  assert sorted(os.listdir(wd / "checkpoints")) == listing
  assert (wd / "metrics.jsonl").read_bytes() == metrics


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_config_guard_uses_the_checkpoints_record_without_config_json(trained, tmp_path, damage):
  ref, _, _ = trained
  wd = _copy(ref, tmp_path / "run")
  if damage == "missing":
    os.remove(wd / "config.json")
  else:
    (wd / "config.json").write_text("")
  with pytest.raises(UserError, match=r"another config \(.*optim\.lr"):
    _train(wd, **{"optim.lr": 0.5, "seed": 3})
  assert sorted(int(s) for s in os.listdir(wd / "checkpoints") if s.isdigit()) == [5, 10]
  np.testing.assert_equal(damage == "missing", not os.path.exists(wd / "config.json"))
