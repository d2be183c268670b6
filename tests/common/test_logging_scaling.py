"""Metric writer files, the progress line, and the scaling tool end to end."""

import io
import json
import os

import pytest

from common import logging as log_lib, scaling
from tests.common.helpers import ROOT


def test_writer_files_and_resume_truncation(tmp_path):
  w = log_lib.MetricWriter(str(tmp_path))
  for s in (10, 20, 30):
    w.write_scalars(s, {"loss": 1.0 / s})
  w.close()
  rows = log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert [r["step"] for r in rows] == [10, 20, 30]
  from tensorboardX.proto import event_pb2
  ev = [f for f in os.listdir(tmp_path / "tb") if f.startswith("events")]
  assert ev
  w = log_lib.MetricWriter(str(tmp_path), resume_step=20)
  w.close()
  assert [r["step"] for r in log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))] == [10, 20]
  off = log_lib.MetricWriter(str(tmp_path / "other"), enabled=False)
  off.write_scalars(1, {"x": 1})
  assert not os.path.exists(tmp_path / "other" / "metrics.jsonl")


def test_progress_line():
  buf = io.StringIO()
  p = log_lib.Progress(100, 32, stream=buf)
  line = p.update(50, {"loss": 0.25})
  assert line.startswith("step 50/100 | loss 0.25 |") and "ex/s" in line and "ETA" in line


@pytest.mark.slow
def test_scaling_tool_writes_csv_and_png(tmp_path):
  rows = scaling.run(os.path.join(ROOT, "configs/common/toy.py:smoke"), [1, 2], [16], 6, str(tmp_path))
  assert [r["devices"] for r in rows] == [1, 2] and all(r["examples_per_sec"] > 0 for r in rows)
  assert (tmp_path / "scaling.csv").read_text().startswith("devices,batch_size")
  assert (tmp_path / "scaling.png").stat().st_size > 1000
