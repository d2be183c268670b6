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


def test_every_module_imports_beside_the_demo_flags():
  """The demo defines --out and imports the methods' modules (some only inside a part): no module but a
  command's ``main.py`` may define absl flags on import, or the demo stops with DuplicateFlagError."""
  import glob
  import os
  import subprocess
  import sys

  from tests.common.helpers import ROOT, env_with_devices

  modules = sorted(
    os.path.relpath(p, ROOT)[:-3].replace(os.sep, ".")
    for pkg in ("common", "pgdips", "sdmae", "slicedae", "xbdcnn", "segclassic")
    for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True)
    if os.path.basename(p) not in ("main.py", "__init__.py")
  )
  code = "import importlib\nfrom common import demo\ndemo._define_flags()\n" + "".join(
    f"importlib.import_module({m!r})\n" for m in modules
  )
  proc = subprocess.run(
    [sys.executable, "-c", code], env=env_with_devices(1), cwd=ROOT, capture_output=True, text=True
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
