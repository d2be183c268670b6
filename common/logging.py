"""Metric writer (TensorBoard event files via tensorboardX + metrics.jsonl) and a progress/ETA line.

Only process 0 writes; other processes get a writer whose methods do nothing.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MetricWriter", "Progress", "read_jsonl"]


def _scalar(v) -> float:
  return float(np.asarray(v))


class MetricWriter:
  """Writes scalars to TensorBoard and to ``workdir/metrics.jsonl`` (one JSON object per call).

  Args:
    workdir: output directory.
    enabled: False on processes other than 0.
    resume_step: when resuming, lines of ``metrics.jsonl`` past this step (written after the
      checkpoint that is being resumed) are dropped so the file matches the run.
  """

  def __init__(self, workdir: str, enabled: bool = True, resume_step: int | None = None):
    self.enabled = enabled
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    if resume_step is not None and os.path.exists(self.path):
      from common.files import write_text_atomic

      keep = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
      write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in keep))
    from tensorboardX import SummaryWriter  # imported here: only process 0 needs it

    # a resumed run's event file starts with a purge at the first step it writes: TensorBoard drops the
    # earlier files' points from there on (written after the restored checkpoint), so none shows twice
    purge = int(resume_step) + 1 if resume_step else None
    self._tb = SummaryWriter(os.path.join(workdir, "tb"), purge_step=purge)
    self._file = open(self.path, "a")

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = {"step": int(step)}
    for k, v in scalars.items():
      row[k] = _scalar(v)
      self._tb.add_scalar(k, row[k], int(step))
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """``images``: name -> HxWxC array in [0, 1] or uint8."""
    if not self.enabled:
      return
    for k, v in images.items():
      self._tb.add_image(k, np.asarray(v), int(step), dataformats="HWC")

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    flat = {
      k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()
    }
    self._tb.add_text("config", json.dumps(flat, indent=1), 0)

  def flush(self) -> None:
    if self.enabled:
      self._tb.flush()
      self._file.flush()

  def close(self) -> None:
    if self.enabled and self._tb is not None:
      self._tb.close()
      self._file.close()
      self._tb = None


def read_jsonl(path: str) -> list[dict]:
  rows = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash
          pass
  return rows


def _fmt_time(s: float) -> str:
  if not math.isfinite(s):
    return "?"
  s = int(s)
  h, m = divmod(s, 3600)
  m, sec = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


class Progress:
  """A console line: step, loss, examples/s and ETA, measured between calls with ``time.monotonic``."""

  def __init__(
    self,
    total_steps: int,
    examples_per_step: int,
    start_step: int = 0,
    enabled: bool = True,
    stream=None,
    label: str = "step",
    every: float = 0.0,
    unit: str = "ex",
  ):
    """``every``: print at most once per this many seconds (and always at the end); the rate is
    measured since the last line printed. ``unit``: what ``examples_per_step`` counts."""
    self.total, self.eps, self.enabled, self.label = total_steps, examples_per_step, enabled, label
    self.stream = stream or sys.stdout
    self._t0, self._s0 = time.monotonic(), start_step
    self.rate = float("nan")
    self.every, self.unit = every, unit

  def update(self, step: int, metrics: Mapping[str, Any] | None = None) -> str:
    now = time.monotonic()
    if self.every and now - self._t0 < self.every and step < self.total:
      return ""
    if step > self._s0:
      self.rate = (step - self._s0) / max(now - self._t0, 1e-9)
    self._t0, self._s0 = now, step
    eta = (
      (self.total - step) / self.rate if self.rate == self.rate and self.rate > 0 else float("nan")
    )
    parts = [f"{self.label} {step}/{self.total}"]
    if metrics and "loss" in metrics:
      parts.append(f"loss {_scalar(metrics['loss']):.5g}")
    u = self.unit
    parts.append(f"{self.rate * self.eps:.1f} {u}/s" if self.rate == self.rate else f"- {u}/s")
    parts.append(f"ETA {_fmt_time(eta)}")
    line = " | ".join(parts)
    if self.enabled:
      print(line, file=self.stream, flush=True)
    return line
