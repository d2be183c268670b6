"""The demo runner: a part writes its own report.md and REPORT.md gathers the parts."""

from common import demo


def test_demo_toy_part(tmp_path, monkeypatch):
  monkeypatch.setattr(demo, "PARTS", {"toy": "common.demo:toy_part"})
  assert demo.main([f"--out={tmp_path}", "--only=toy"]) == 0
  report = (tmp_path / "REPORT.md").read_text()
  assert report.startswith("# medjax demo report") and "## toy" in report and "| step | eval MSE |" in report
  assert (tmp_path / "toy" / "figures").is_dir()
