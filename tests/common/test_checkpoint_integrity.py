"""Checkpoints fail loudly, never silently: a checksum per committed checkpoint, a quarantine that keeps
every earlier quarantine, a workdir with no readable checkpoint refused untouched, and the config guard
kept when config.json is gone (the checkpoints' own record of their config)."""

import glob
import json
import os

import numpy as np
import pytest

from common import checkpoint, toy, trainer
from common import config as config_lib
from common.errors import UserError
from tests.common.helpers import ROOT, assert_trees_equal

TOY = os.path.join(ROOT, "configs/common/toy.py")


def _cfg(**over):
  return config_lib.load_config(
    TOY + ":smoke",
    {
      "total_steps": 10,
      "ckpt_every": 5,
      "log_every": 5,
      "eval_every": 0,
      "figure_every": 0,
      **over,
    },
  )


def _train(wd, **over):
  cfg = _cfg(**over)
  return trainer.train(cfg, toy.make_task(cfg), str(wd), verbose=False)


def _params(wd, step):
  return checkpoint.load_state(str(wd), step)[0]["params"]


def _data_files(wd, step):
  files = [
    f
    for f in glob.glob(
      str(wd / "checkpoints" / str(step) / "state" / "**" / "d" / "*"), recursive=True
    )
    if os.path.isfile(f) and os.path.getsize(f) > 64
  ]
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
      assert (
        hashlib.sha256(open(wd / "checkpoints" / step / rel, "rb").read()).hexdigest() == digest
      )


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
  with pytest.raises(
    UserError, match=r"none of the 2 checkpoints .* can be read .*nothing was moved"
  ) as e:
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


def _events(folder):
  """Every event of the TensorBoard files in ``folder``, file by file in write order, read as TFRecords
  (length, its CRC, the record, its CRC) with tensorboardX's protobuf."""
  import glob
  import struct

  from tensorboardX.proto import event_pb2

  out = []
  for path in sorted(
    glob.glob(os.path.join(folder, "events.out.tfevents.*")), key=os.path.getmtime
  ):
    data, pos, events = open(path, "rb").read(), 0, []
    while pos + 12 <= len(data):
      (n,) = struct.unpack("<Q", data[pos : pos + 8])
      ev = event_pb2.Event()
      ev.ParseFromString(data[pos + 12 : pos + 12 + n])
      events.append(ev)
      pos += 12 + n + 4
    out.append(events)
  return out


def test_a_resumed_run_purges_tensorboard_points_past_the_restored_step(trained, tmp_path):
  """Points logged after the last checkpoint of a killed run (here: the step-10 checkpoint removed, so
  the run resumes at 5 with step-10 points already in its event file) are purged: the resumed run's
  event file starts with a SessionLog START at the first step it writes, which TensorBoard reads as
  "drop every earlier point from this step on"."""
  import shutil

  ref, _, _ = trained
  wd = _copy(ref, tmp_path / "run")
  shutil.rmtree(wd / "checkpoints" / "10")
  before = _events(str(wd / "tb"))
  assert any(v.tag == "loss" and e.step == 10 for f in before for e in f for v in e.summary.value)
  _train(wd)
  after = _events(str(wd / "tb"))
  assert len(after) == len(before) + 1
  starts = [e for e in after[-1] if e.HasField("session_log")]
  assert (
    starts and starts[0].session_log.status == starts[0].session_log.START and starts[0].step == 6
  )


def test_total_steps_changes_are_explicit(trained, tmp_path, capsys):
  """Extending a finished cosine run says what the schedule now does; shrinking total_steps below the
  restored step is refused in one line, with nothing recorded."""
  ref, _, _ = trained
  wd = _copy(ref, tmp_path / "run")
  cfg = _cfg(total_steps=20)
  trainer.train(
    cfg, toy.make_task(cfg), str(wd), verbose=False, allow_config_change=("total_steps",)
  )
  assert (
    "total_steps 10 -> 20: the learning-rate schedule (cosine) now spans 20 steps"
    in capsys.readouterr().out
  )
  cfg = _cfg(total_steps=7)
  with pytest.raises(UserError, match=r"at step 20, past total_steps=7"):
    trainer.train(
      cfg, toy.make_task(cfg), str(wd), verbose=False, allow_config_change=("total_steps",)
    )
  assert json.load(open(wd / "config.json"))["total_steps"] == 20
