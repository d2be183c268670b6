"""common.config: every config file builds; overrides are checked."""

import glob
import os

import pytest

from common import config as config_lib

from tests.common.helpers import ROOT

CONFIG_FILES = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*", "*.py"))
                      if not os.path.basename(p).startswith("_"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_config_builds(path):
  cfg = config_lib.load_config(path)
  assert "total_steps" in cfg or "seed" in cfg or len(cfg) > 0
  smoke = config_lib.load_config(path + ":smoke")
  assert smoke is not None


def test_override_types_and_misspelling():
  path = os.path.join(ROOT, "configs/common/toy.py")
  cfg = config_lib.load_config(path, ["optim.lr=0.5", "total_steps=7", "model.width=3"])
  assert cfg.optim.lr == 0.5 and cfg.total_steps == 7 and cfg.model.width == 3
  cfg = config_lib.load_config(path, ["optim.lr=1"])  # int into a float field is fine
  assert isinstance(cfg.optim.lr, float)
  with pytest.raises(config_lib.ConfigError, match="did you mean optim.lr"):
    config_lib.load_config(path, ["optim.lrr=0.1"])
  with pytest.raises(config_lib.ConfigError, match="cannot set"):
    config_lib.load_config(path, ["optim.lr=fast"])
  with pytest.raises(config_lib.ConfigError, match="does not exist"):
    config_lib.load_config("configs/nope.py")


def test_parse_flags():
  cfg, flags = config_lib.parse_flags([f"--config={ROOT}/configs/common/toy.py:smoke", "--config.seed=3",
                                       "--workdir=/tmp/x", "image.png"])
  assert cfg.seed == 3 and cfg.total_steps == 20 and flags["workdir"] == "/tmp/x" and flags["args"] == ["image.png"]
  with pytest.raises(config_lib.ConfigError, match="missing --config"):
    config_lib.parse_flags(["--workdir=/tmp/x"])


def test_cli_options_require_keys_and_print_usage(capsys):
  assert config_lib.cli_options(["--workdirs=a,b", "--out=o", "pos"], "USAGE", ("workdirs",)) == {
      "workdirs": "a,b", "out": "o"}
  assert config_lib.cli_options(["--out=o"], "USAGE", ("workdirs",)) is None
  assert "USAGE" in capsys.readouterr().err


def test_replaced_copies_and_checks_keys():
  import ml_collections
  cfg = ml_collections.ConfigDict({"a": 1, "b": {"c": 2}})
  out = config_lib.replaced(cfg, {"b.c": 5})
  assert out.b.c == 5 and cfg.b.c == 2
  with pytest.raises(config_lib.ConfigError, match="unknown config key"):
    config_lib.replaced(cfg, {"nope": 1})
