"""The segclassic CLI on files and on bundled images."""

import numpy as np
import pytest
from PIL import Image

from segclassic import main as cli


@pytest.mark.parametrize("method", ["otsu", "iterative", "local", "adaptive_otsu", "kmeans"])
def test_cli_on_a_file(tmp_path, method):
  from skimage import data
  p = tmp_path / "coins.png"
  Image.fromarray(data.coins()[:96, :128]).save(p)
  assert cli.main([str(p), f"--method={method}", "--k=2", f"--out={tmp_path / 'out'}"]) == 0
  mask = np.asarray(Image.open(tmp_path / "out" / f"coins_{method}_mask.png"))
  assert mask.shape == (96, 128) and len(np.unique(mask)) == 2
  assert (tmp_path / "out" / f"coins_{method}_overlay.png").exists()


def test_cli_errors(tmp_path, capsys):
  assert cli.main(["--method=watershed", f"--out={tmp_path}"]) == 2
  assert "unknown" in capsys.readouterr().err
  assert cli.main([str(tmp_path / "missing.png"), f"--out={tmp_path}"]) == 2
  assert "does not exist" in capsys.readouterr().err
