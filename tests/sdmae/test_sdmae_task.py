"""SD-MAE data (embedded sets, real-format loaders on small files) and the pre-train -> probe /
fine-tune path through the shared trainer."""

import os

import numpy as np
import pytest

from common import config as config_lib
from common import logging as log_lib
from common import trainer
from common.data.sources import DatasetNotFoundError
from common.errors import UserError
from sdmae import data as sd_data
from sdmae import evaluate, task
from tests.common.helpers import ROOT, run_cli, saved_params

CFG = os.path.join(ROOT, "configs/sdmae")


def test_procedural_he_classes_are_distinct_and_deterministic():
  a = sd_data.procedural_he(np.random.default_rng([0, 1]), 32)
  b = sd_data.procedural_he(np.random.default_rng([0, 1]), 32)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].shape == (32, 32, 3) and 0 <= a["image"].min() and a["image"].max() <= 1
  means = {
    c: np.mean(
      [sd_data.procedural_he(np.random.default_rng(i), 32, c)["image"].mean() for i in range(10)]
    )
    for c in range(4)
  }
  assert (
    means[3] > means[1] and means[3] > means[2]
  )  # adipose is the brightest, lymphocyte fields dark


def test_ihc_patches_split_by_region_and_balanced():
  tr, te = sd_data.ihc_patches(32, True), sd_data.ihc_patches(32, False)
  assert len(tr) > 3 * len(te) > 0
  labels = np.concatenate([tr.arrays["label"], te.arrays["label"]])
  assert abs(labels.mean() - 0.5) < 0.02


def _png_folder(root, classes, n=2, size=8):
  from PIL import Image

  for c in classes:
    os.makedirs(os.path.join(root, c), exist_ok=True)
    for i in range(n):
      Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(
        os.path.join(root, c, f"{i}.png")
      )


def test_nct_excludes_background_and_keeps_label_order(tmp_path):
  classes = ["ADI", "BACK", "DEB", "LYM"]
  _png_folder(tmp_path / "NCT-CRC-HE-100K", classes)
  _png_folder(tmp_path / "CRC-VAL-HE-7K", classes)
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:nct"), {"data.data_dir": str(tmp_path)}
  )
  tr, te, k, names = sd_data.load(cfg.data)
  assert names == ["ADI", "DEB", "LYM"] and k == 3 and len(tr) == len(te) == 6
  assert sd_data.eval_map(16)(tr[0])["image"].shape == (16, 16, 3)


def test_pcam_h5_and_imagenet100_class_list(tmp_path):
  import h5py

  for split in ("train", "test"):
    with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
      f["x"] = np.random.default_rng(0).integers(0, 255, (5, 96, 96, 3), dtype=np.uint8)
    with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
      f["y"] = np.array([0, 1, 1, 0, 1], np.uint8).reshape(5, 1, 1, 1)
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:pcam96"), {"data.data_dir": str(tmp_path)}
  )
  tr, te, k, _ = sd_data.load(cfg.data)
  assert (
    k == 2 and len(tr) == 5 and int(tr[1]["label"]) == 1 and tr[0]["image"].shape == (96, 96, 3)
  )
  ex = sd_data.train_map(96)(tr[0], np.random.default_rng(0))
  assert ex["image"].shape == (96, 96, 3) and ex["image"].dtype == np.float32

  _png_folder(tmp_path / "in" / "train", ["n1", "n2", "n3"])
  _png_folder(tmp_path / "in" / "val", ["n1", "n2", "n3"])
  (tmp_path / "in100.txt").write_text("n3\nn1\n")
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:imagenet100"),
    {"data.data_dir": str(tmp_path / "in"), "data.class_list": str(tmp_path / "in100.txt")},
  )
  assert cfg.mask_ratio == 0.75
  tr, te, k, names = sd_data.load(cfg.data)
  assert names == ["n3", "n1"] and len(tr) == 4


def test_missing_dataset_is_a_one_line_error(tmp_path):
  cfg = config_lib.load_config(
    os.path.join(CFG, "pretrain.py:pcam"), {"data.data_dir": str(tmp_path)}
  )
  with pytest.raises(DatasetNotFoundError, match="PatchCamelyon"):
    sd_data.load(cfg.data)


def _train(config, wd, **overrides):
  cfg = config_lib.load_config(os.path.join(CFG, config), overrides)
  trainer.train(cfg, task.make_task(cfg), str(wd), verbose=False)
  return cfg


@pytest.mark.slow
def test_pretrain_lowers_loss_then_probe_and_finetune_load_the_encoder(tmp_path):
  over = dict(
    total_steps=40, batch_size=32, log_every=5, eval_every=40, ckpt_every=40, figure_every=40
  )
  for method in ("sdmae", "contrastive"):
    _train(f"pretrain.py:embedded,{method}", tmp_path / method, **over)
    rows = [r for r in log_lib.read_jsonl(str(tmp_path / method / "metrics.jsonl")) if "mse" in r]
    assert rows[-1]["mse"] < 0.8 * rows[0]["mse"], (method, rows[0], rows[-1])
    assert os.path.exists(tmp_path / method / "figures" / "reconstruction_000040.png")
  pre = saved_params(str(tmp_path / "sdmae"))["encoder"]

  _train("probe.py:embedded,smoke", tmp_path / "probe", **{"init.workdir": str(tmp_path / "sdmae")})
  from common import checkpoint

  state, _ = checkpoint.load_state(str(tmp_path / "probe"))
  for a, b in zip(*(jax_leaves(t) for t in (state["extra"]["encoder"], pre))):
    np.testing.assert_array_equal(a, b)  # frozen: still the pre-trained encoder after training

  _train(
    "finetune.py:embedded,smoke",
    tmp_path / "ft",
    **{"init.workdir": str(tmp_path / "sdmae"), "optim.lr": 0.0},
  )
  ft = saved_params(str(tmp_path / "ft"))["encoder"]
  assert "norm" not in ft and set(ft) == set(pre) - {
    "norm"
  }  # the code's head pools without the final norm
  for a, b in zip(jax_leaves(ft), jax_leaves({k: pre[k] for k in ft})):
    np.testing.assert_array_equal(a, b)  # lr 0: exactly the loaded encoder

  with pytest.raises(UserError, match="model.variant"):
    _train(
      "probe.py:embedded,smoke",
      tmp_path / "bad",
      **{"init.workdir": str(tmp_path / "sdmae"), "model.variant": "mu/8"},
    )
  _train(
    "finetune.py:embedded,smoke", tmp_path / "sup", **{"optim.lr": 0.0}
  )  # the ft step again: a cache hit
  out = tmp_path / "table"
  wds = [tmp_path / "sdmae", tmp_path / "probe", tmp_path / "ft", tmp_path / "sup"]
  proc = run_cli("sdmae.evaluate", f"--workdirs={','.join(map(str, wds))}", f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (out / "table1.md").read_text()
  assert "| SD-MAE |" in md and "| Supervised ViT |" in md and "linear probe" in md
  assert (out / "reconstructions.png").stat().st_size > 1000


def jax_leaves(t):
  import jax

  return jax.tree.leaves(t)


def test_table_pools_seeds_and_mask_ratio_curve(tmp_path):
  results = [
    ("finetune", "sdmae", "nct", 0.6, 0.90),
    ("finetune", "sdmae", "nct", 0.6, 0.92),
    ("finetune", "", "nct", None, 0.85),
    ("probe", "mae", "pcam", 0.6, 0.8),
    ("finetune", "sdmae", "nct", 0.75, 0.88),
  ]
  md = evaluate.table(results)
  vals = [100 * v for v in (0.90, 0.92, 0.88)]
  assert f"| SD-MAE | {np.mean(vals):.2f} ± {np.std(vals):.2f} (n=3) |" in md
  assert "| Supervised ViT | 85.00 |" in md and "| MAE | 80.00 |" in md
  assert (
    evaluate.mask_ratio_plot(results, str(tmp_path / "m.png"))
    and (tmp_path / "m.png").stat().st_size > 1000
  )


def test_pcam_tfds_through_mock_data():
  import tensorflow_datasets as tfds

  cfg = config_lib.load_config(os.path.join(CFG, "pretrain.py:pcam_tfds"))
  with tfds.testing.mock_data(num_examples=6):
    tr, te, k, _ = sd_data.load(cfg.data)
    ex = tr[0]
    assert k == 2 and ex["image"].shape == (96, 96, 3) and int(ex["label"]) in (0, 1)
    assert sd_data.train_map(224)(ex, np.random.default_rng(0))["image"].shape == (224, 224, 3)


def test_finetune_recipe_is_the_codes():
  """lr 1e-3 x batch/256 (4e-3 at the paper's batch 1024), RandAugment m9 mstd0.5 inc1, erasing 0.25."""
  from common import optim

  cfg = config_lib.load_config(os.path.join(CFG, "finetune.py:nct"))
  assert cfg.batch_size == 1024 and cfg.optim.lr == 1e-3
  assert optim.peak_lr(cfg.optim, cfg.batch_size) == pytest.approx(4e-3)
  assert float(
    optim.make_schedule(cfg.optim, cfg.total_steps, cfg.batch_size)(cfg.optim.warmup_steps)
  ) == pytest.approx(4e-3, rel=1e-6)
  assert (
    cfg.aug.randaugment == "rand-m9-mstd0.5-inc1"
    and cfg.aug.reprob == 0.25
    and cfg.aug.remode == "pixel"
  )
  assert not cfg.model.encoder_norm


def test_classifier_pools_tokens_without_a_per_token_norm():
  """encoder_norm=False: logits = head(LayerNorm(mean over tokens of the last block's output)), written by hand."""
  import jax
  import jax.numpy as jnp

  from sdmae.models import Classifier, Encoder

  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  clf = Classifier(
    5, variant="mu/4", image_size=16, posemb="sincos2d", drop_path=0.0, encoder_norm=False
  )
  params = clf.init(jax.random.key(1), x)["params"]
  assert "norm" not in params["encoder"]
  # give the norm and the head non-trivial values so that the check sees them
  params["fc_norm"] = {
    "scale": jnp.linspace(0.5, 2.0, params["fc_norm"]["scale"].size),
    "bias": jnp.linspace(-1.0, 1.0, params["fc_norm"]["bias"].size),
  }
  params["head"]["kernel"] = jax.random.normal(jax.random.key(2), params["head"]["kernel"].shape)
  tokens = np.asarray(
    Encoder("mu/4", 16, "sincos2d", 0.0, False).apply({"params": params["encoder"]}, x), np.float64
  )
  z = tokens.mean(1)
  z = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-6)
  z = z * np.asarray(params["fc_norm"]["scale"]) + np.asarray(params["fc_norm"]["bias"])
  ref = z @ np.asarray(params["head"]["kernel"], np.float64) + np.asarray(params["head"]["bias"])
  np.testing.assert_allclose(
    np.asarray(clf.apply({"params": params}, x)), ref, rtol=2e-4, atol=2e-5
  )
  with_norm = Classifier(5, variant="mu/4", image_size=16, drop_path=0.0, encoder_norm=True)
  assert "norm" in with_norm.init(jax.random.key(1), x)["params"]["encoder"]
