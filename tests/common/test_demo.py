"""The demo runner: a part writes its own report.md and REPORT.md gathers the parts."""

from tests.common.helpers import one_line_error, run_cli


def test_demo_toy_part(tmp_path):
  proc = run_cli("common.demo", f"--out={tmp_path}", "--only=toy")
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = (tmp_path / "REPORT.md").read_text()
  assert (
    report.startswith("# medjax demo report")
    and "## toy" in report
    and "| step | eval MSE |" in report
  )
  assert (tmp_path / "toy" / "figures").is_dir()
  one_line_error(run_cli("common.demo", f"--out={tmp_path}", "--only=tyo"), "tyo")
