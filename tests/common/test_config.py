"""common.config: every config file builds; overrides are checked."""

import glob
import os
import re

import pytest

from common import config as config_lib
from tests.common.helpers import ROOT

CONFIG_FILES = sorted(
  p
  for p in glob.glob(os.path.join(ROOT, "configs", "*", "*.py"))
  if not os.path.basename(p).startswith("_")
)


def _size(cfg):
  """How much work a config asks for: training steps, solver iterations, or images."""
  for key in ("total_steps", "num_steps"):
    if key in cfg:
      return cfg[key]
  return len(cfg.images)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_config_builds(path):
  cfg = config_lib.load_config(path)
  smoke = config_lib.load_config(path + ":smoke")
  assert 0 < _size(smoke) < _size(cfg), (_size(smoke), _size(cfg))
  if "total_steps" in cfg:
    config_lib.check(cfg)
    config_lib.check(smoke)
  with pytest.raises(config_lib.ConfigError, match="unknown token 'smokee'"):
    config_lib.load_config(path + ":smokee")


@pytest.mark.parametrize(
  "spec,bad",
  [
    ("configs/slicedae/digits.py:swea,smoke", "swea"),
    ("configs/xbdcnn/bundled.py:dncn", "dncn"),
    ("configs/common/toy.py:smok", "smok"),
    ("configs/pgdips/he.py:hadb", "hadb"),
    ("configs/sdmae/pretrain.py:nct,maee", "maee"),
  ],
)
def test_typos_in_the_config_arg_fail(spec, bad):
  with pytest.raises(config_lib.ConfigError, match=f"unknown token '{bad}'.*did you mean"):
    config_lib.load_config(os.path.join(ROOT, spec))


def test_parse_arg():
  a = config_lib.parse_arg(
    "swae,smoke,seed=3", model=("scwae", "swae"), smoke=False, seed=0, mask=None
  )
  assert (a.model, a.smoke, a.seed, a.mask) == ("swae", True, 3, None)
  a = config_lib.parse_arg(None, model=("scwae", "swae"), smoke=False, seed=0, mask=None)
  assert (a.model, a.smoke, a.seed) == ("scwae", False, 0)
  assert config_lib.parse_arg("model=swae,mask=0.5", model=("scwae", "swae"), mask=None).mask == 0.5
  with pytest.raises(config_lib.ConfigError, match="sets model twice"):
    config_lib.parse_arg("swae,scwae", model=("scwae", "swae"))
  with pytest.raises(config_lib.ConfigError, match="expected int"):
    config_lib.parse_arg("seed=x", seed=0)
  with pytest.raises(config_lib.ConfigError, match="one of"):
    config_lib.parse_arg("model=vae", model=("scwae", "swae"))


def test_sibling_configs_are_modules():
  from configs.slicedae import digits, real

  assert real.digits is digits  # imported as a module, not re-executed from its path


def test_check_rejects_values_that_cannot_be_right():
  path = os.path.join(ROOT, "configs/common/toy.py")
  for override, key in (
    ({"optim.lr": -1.0}, "optim.lr"),
    ({"total_steps": 0}, "total_steps"),
    ({"keep_ckpts": 0}, "keep_ckpts"),
    ({"batch_size": 0}, "batch_size"),
  ):
    with pytest.raises(config_lib.ConfigError, match=key):
      config_lib.check(config_lib.load_config(path, override))


def test_diff_lists_changed_keys():
  old = {"a": 1, "b": {"c": 2.0, "d": [1, 2]}, "e": "x"}
  new = {"a": 1, "b": {"c": 2, "d": (1, 3)}, "e": "y", "f": 0}
  assert config_lib.diff(old, new) == ["b.d", "e", "f"]
  assert config_lib.diff(old, new, allowed=("b", "f")) == ["e"]


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


def test_replaced_copies_and_checks_keys():
  import ml_collections

  cfg = ml_collections.ConfigDict({"a": 1, "b": {"c": 2}})
  out = config_lib.replaced(cfg, {"b.c": 5})
  assert out.b.c == 5 and cfg.b.c == 2
  with pytest.raises(config_lib.ConfigError, match="unknown config key"):
    config_lib.replaced(cfg, {"nope": 1})


@pytest.mark.parametrize(
  "config,override,key",
  [
    ("common/toy.py:smoke", {"optim.b1": 1.5}, "optim.b1"),
    ("common/toy.py:smoke", {"model.dropout": 1.5}, "model.dropout"),
    ("common/toy.py:smoke", {"model.width": 0}, "model.width"),
    ("common/toy.py:smoke", {"data.num_examples": 0}, "data.num_examples"),
    ("xbdcnn/bundled.py:smoke", {"noise.eta_range": (-0.4, 1.9)}, "noise.eta_range"),
    ("xbdcnn/bundled.py:smoke", {"noise.sigma_range": (20.0, 5.0)}, "noise.sigma_range"),
    ("sdmae/pretrain.py:embedded,smoke", {"mask_ratio": 1.5}, "mask_ratio"),
  ],
)
def test_values_out_of_their_known_range_are_refused_before_compiling(config, override, key):
  cfg = config_lib.load_config(os.path.join(ROOT, "configs", config), override)
  with pytest.raises(config_lib.ConfigError, match=rf"^{re.escape(key)}=.* must be "):
    config_lib.check(cfg)
  config_lib.check(
    config_lib.load_config(os.path.join(ROOT, "configs", config))
  )  # the defaults pass
