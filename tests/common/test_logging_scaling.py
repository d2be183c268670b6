"""Metric writer files, the progress line, and the scaling tool end to end."""

import io
import os

import numpy as np
import pytest

from common import logging as log_lib
from common import scaling
from tests.common.helpers import ROOT


def test_writer_files_and_resume_truncation(tmp_path):
  w = log_lib.MetricWriter(str(tmp_path))
  for s in (10, 20, 30):
    w.write_scalars(s, {"loss": 1.0 / s})
  w.close()
  rows = log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert [r["step"] for r in rows] == [10, 20, 30]
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
def test_scaling_tool_reports_flops_mfu_memory_for_both_modes_and_strategies(tmp_path):
  rows = scaling.run(
    os.path.join(ROOT, "configs/common/toy.py:smoke"),
    [1, 2],
    [16],
    6,
    str(tmp_path),
    ["--config.sharding.min_size=0"],
    modes=("strong", "weak"),
    per_device_batch=8,
    strategies=("dp", "fsdp"),
    cpu_peak=1e11,
  )
  strong = [r for r in rows if r["mode"] == "strong"]
  weak = [r for r in rows if r["mode"] == "weak"]
  assert [(r["strategy"], r["devices"], r["batch_size"]) for r in strong] == [
    ("dp", 1, 16),
    ("dp", 2, 16),
    ("fsdp", 1, 16),
    ("fsdp", 2, 16),
  ]
  assert [r["batch_size"] for r in weak] == [8, 16, 8, 16]
  for r in rows:
    assert r["examples_per_sec"] > 0 and r["step_gflop_per_device"] > 0 and 0 < r["mfu"] < 1
    np.testing.assert_allclose(r["mfu"], r["achieved_tflops"] * 1e12 / 1e11)
    assert r["compiled_peak_mb_per_device"] > 0 and "platform cpu" in r["platform"]
  # strong scaling splits the work: one device's share of the step's FLOPs halves on 2 devices
  s1, s2 = (r["step_gflop_per_device"] for r in strong[:2])
  assert 0.4 < s2 / s1 < 0.6, (s1, s2)
  # fsdp on 2 devices holds less train state per device than dp on 2 devices
  dp2, fsdp2 = strong[1], strong[3]
  assert fsdp2["param_state_mb_per_device"] < 0.75 * dp2["param_state_mb_per_device"]
  assert (tmp_path / "scaling.csv").read_text().startswith("mode,strategy,devices,batch_size")
  assert (tmp_path / "scaling.png").stat().st_size > 1000
