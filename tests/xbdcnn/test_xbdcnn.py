"""xbdcnn: the noise model against its analytic moments, the losses against NumPy / scikit-image,
the architecture, tiled inference, the CLI, and a short training run."""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from common import config as config_lib
from common import logging as log_lib
from common import trainer
from tests.common.helpers import ROOT, one_line_error, run_cli
from xbdcnn import losses, models, noise, task

CFG = os.path.join(ROOT, "configs/xbdcnn/bundled.py")


@pytest.mark.parametrize("convention", ["peak", "gain"])
@pytest.mark.parametrize("g,eta,sigma", [(0.5, 0.4, 0.0), (0.2, 1.9, 10.0), (0.8, 0.7, 20.0)])
def test_noise_moments_match_the_model(convention, g, eta, sigma):
  clean = jnp.full((1, 256, 256, 1), g, jnp.float32)
  f = np.asarray(noise.add_noise(jax.random.PRNGKey(0), clean, [eta], [sigma], convention))
  var_p = 255 * g / eta if convention == "peak" else eta * 255 * g
  want_var = (var_p + sigma**2) / 255**2
  np.testing.assert_allclose(f.mean(), g, atol=4 * np.sqrt(want_var / f.size) + 1e-4)
  np.testing.assert_allclose(f.var(), want_var, rtol=0.03)
  lv = np.asarray(noise.noise_levels(clean, [eta], [sigma], convention))
  np.testing.assert_allclose(lv[..., 0], sigma / 255, rtol=1e-6)
  np.testing.assert_allclose(lv[..., 1], np.sqrt(var_p) / 255, rtol=1e-5)
  np.testing.assert_allclose(lv[..., 0] ** 2 + lv[..., 1] ** 2, want_var, rtol=1e-5)
  # the input pipeline's NumPy draw of the same model (eta and sigma ranges of one value)
  n_cfg = ml_collections.ConfigDict(
    dict(eta_range=(eta, eta), sigma_range=(sigma, sigma), convention=convention, clip=False)
  )
  ex = noise.noisy_example(np.random.default_rng(0), np.asarray(clean[0]), n_cfg)
  f = ex["noisy"]
  assert f.shape == (256, 256, 1) and f.dtype == np.float32 and ex["levels"].dtype == np.float32
  np.testing.assert_allclose(f.mean(), g, atol=4 * np.sqrt(want_var / f.size) + 1e-4)
  np.testing.assert_allclose(f.var(), want_var, rtol=0.03)
  np.testing.assert_allclose(ex["levels"], lv[0], rtol=1e-6)


def test_training_batches_carry_new_noise_every_epoch():
  """The train pipeline's noise is its random map's: the same crop (5 patches, batch 5: one epoch
  per batch) gets new noise in the next epoch, and the stream is the same when built again."""
  cfg = config_lib.load_config(CFG, {"data.num_train_patches": 5, "batch_size": 5})
  t = task.make_task(cfg)

  def two_batches():
    it = iter(t.train_data(cfg))
    return next(it), next(it)

  a, b = two_batches()
  assert a["noisy"].shape == a["image"].shape and a["levels"].shape == a["image"].shape[:3] + (2,)
  order = [int(np.argmax([np.array_equal(x, y) for y in b["image"]])) for x in a["image"]]
  assert all(np.array_equal(a["image"][i], b["image"][j]) for i, j in enumerate(order))
  assert not any(np.allclose(a["noisy"][i], b["noisy"][j]) for i, j in enumerate(order))
  a2, _ = two_batches()
  np.testing.assert_array_equal(a2["noisy"], a["noisy"])


def test_smaller_eta_is_stronger_noise():
  clean = jnp.full((2, 64, 64, 1), 0.5, jnp.float32)
  f = np.asarray(noise.add_noise(jax.random.PRNGKey(1), clean, [0.4, 1.9], [0.0, 0.0]))
  assert f[0].std() > 2 * f[1].std()


def test_asymmetric_loss_weights_under_estimation():
  true = np.full((1, 4, 4, 2), 0.5, np.float32)
  under = losses.asymmetric_mse(true - 0.1, true, alpha=0.3)
  over = losses.asymmetric_mse(true + 0.1, true, alpha=0.3)
  np.testing.assert_allclose(float(under), 0.7 * 0.01, rtol=1e-5)
  np.testing.assert_allclose(float(over), 0.3 * 0.01, rtol=1e-5)
  rng = np.random.default_rng(0)
  est, tr = rng.random((2, 5, 5, 2)), rng.random((2, 5, 5, 2))
  d = est - tr
  np.testing.assert_allclose(
    float(losses.asymmetric_mse(est, tr)), np.mean(np.where(d < 0, 0.7, 0.3) * d * d), rtol=1e-5
  )


def test_tv_and_ssim_losses_against_numpy_and_skimage():
  rng = np.random.default_rng(1)
  lv = rng.random((2, 7, 9, 2)).astype(np.float32)
  dh = [
    (lv[n, y, x + 1, c] - lv[n, y, x, c]) ** 2
    for n in range(2)
    for y in range(7)
    for x in range(8)
    for c in range(2)
  ]
  dv = [
    (lv[n, y + 1, x, c] - lv[n, y, x, c]) ** 2
    for n in range(2)
    for y in range(6)
    for x in range(9)
    for c in range(2)
  ]
  np.testing.assert_allclose(float(losses.tv_loss(lv)), np.mean(dh) + np.mean(dv), rtol=1e-5)
  a = rng.random((2, 24, 24, 1)).astype(np.float32)
  b = np.clip(a + 0.1 * rng.normal(size=a.shape), 0, 1).astype(np.float32)
  want = 1 - np.mean(
    [
      structural_similarity(
        b[i],
        a[i],
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1,
      )
      for i in range(2)
    ]
  )
  np.testing.assert_allclose(float(losses.ssim_loss(b, a)), want, atol=2e-5)


def test_loss_terms_keep_the_papers_ratios():
  """Eq. 8 with reduction 'sum': every term is the paper's per-image sum (eq. 3-6, written out below as
  loops) over the same constant H*W, so ratios of terms equal ratios of the sums; 'mean' averages each
  term over its own elements (the asymmetric term then weighs half, TV about a quarter)."""
  rng = np.random.default_rng(4)
  n, h, w = 2, 12, 13
  g = rng.random((n, h, w, 1)).astype(np.float32)
  g_hat = np.clip(g + 0.1 * rng.normal(size=g.shape), 0, 1).astype(np.float32)
  lv, lv_hat = (
    rng.random((n, h, w, 2)).astype(np.float32),
    rng.random((n, h, w, 2)).astype(np.float32),
  )
  sums = {"mse": 0.0, "asym": 0.0, "tv": 0.0, "ssim_loss": 0.0}
  for i in range(n):
    for y in range(h):
      for x in range(w):
        sums["mse"] += (g_hat[i, y, x, 0] - g[i, y, x, 0]) ** 2
        for c in range(2):
          d = lv_hat[i, y, x, c] - lv[i, y, x, c]
          sums["asym"] += (0.7 if d < 0 else 0.3) * d * d
          if x + 1 < w:
            sums["tv"] += (lv_hat[i, y, x + 1, c] - lv_hat[i, y, x, c]) ** 2
          if y + 1 < h:
            sums["tv"] += (lv_hat[i, y + 1, x, c] - lv_hat[i, y, x, c]) ** 2
    _, smap = structural_similarity(
      g_hat[i, ..., 0],
      g[i, ..., 0],
      data_range=1.0,
      gaussian_weights=True,
      sigma=1.5,
      use_sample_covariance=False,
      full=True,
    )
    sums["ssim_loss"] += np.sum(1 - smap[5:-5, 5:-5])  # eq. 6 over the valid SSIM map
  want = {k: v / n / (h * w) for k, v in sums.items()}  # batch mean, / H*W
  wts = ml_collections.ConfigDict(
    dict(mse=0.4, ssim=0.6, asym=0.5, tv=0.05, alpha=0.3, reduction="sum")
  )
  total, parts = losses.total_loss(g_hat, g, lv_hat, lv, wts)
  for k in sums:
    np.testing.assert_allclose(float(parts[k]), want[k], rtol=2e-4, err_msg=k)
  np.testing.assert_allclose(
    float(parts["asym"]) / float(parts["mse"]), sums["asym"] / sums["mse"], rtol=2e-4
  )
  np.testing.assert_allclose(
    float(parts["tv"]) / float(parts["mse"]), sums["tv"] / sums["mse"], rtol=2e-4
  )
  np.testing.assert_allclose(
    float(total),
    0.4 * want["mse"] + 0.6 * want["ssim_loss"] + 0.5 * want["asym"] + 0.05 * want["tv"],
    rtol=2e-4,
  )
  wts.reduction = "mean"
  _, pm = losses.total_loss(g_hat, g, lv_hat, lv, wts)
  np.testing.assert_allclose(float(pm["asym"]), sums["asym"] / (n * h * w * 2), rtol=2e-4)
  np.testing.assert_allclose(
    float(pm["ssim_loss"]), sums["ssim_loss"] / (n * (h - 10) * (w - 10)), rtol=2e-4
  )
  wts.reduction = "per_pixel"
  with pytest.raises(ValueError, match="reduction"):
    losses.total_loss(g_hat, g, lv_hat, lv, wts)


def test_bundled_splits_are_disjoint():
  """No test image (by name, procedural seed, or pixels) is in the training or validation split; the
  test split has the 10 images Table II uses."""
  cfg = config_lib.load_config(CFG)
  names = task.split_names(cfg.data)
  train, val, test = (set(names[k]) for k in ("train", "val", "test"))
  assert not (train & test) and not (val & test) and not (train & val)
  assert len(test) == 10 and len(train) >= 60
  imgs = task.load_images(cfg.data)
  for t in imgs["test"]:
    assert not any(t.shape == x.shape and np.array_equal(t, x) for x in imgs["train"] + imgs["val"])


def test_chest_phantoms():
  from xbdcnn.phantoms import chest_phantom

  a, b = chest_phantom(0, 128), chest_phantom(1, 128)
  np.testing.assert_array_equal(a, chest_phantom(0, 128))
  assert (
    a.dtype == np.float32 and 0 <= a.min() and a.max() <= 0.95 + 1e-6 and not np.array_equal(a, b)
  )
  # lungs (air) darker than the mediastinum, body brighter than the background
  assert a[40:90, 25:45].mean() < a[40:90, 58:70].mean() and a[64, 64] > a[2, 2]


def test_table2_noise_depends_on_the_cell_only():
  from xbdcnn import evaluate

  imgs = [np.random.default_rng(i).random((50, 60)).astype(np.float32) for i in range(3)]
  c1, c2 = evaluate.crops(imgs, 32, 3, seed=1), evaluate.crops(imgs, 32, 3, seed=1)
  assert all(np.array_equal(x, y) for x, y in zip(c1, c2)) and c1[0].shape == (32, 32)
  assert evaluate.crops(imgs, None, 1, seed=1)[0].shape == (48, 60)
  p1, p2 = evaluate.noisy_pairs(c1, 100, 0.4, 5.0), evaluate.noisy_pairs(c2, 100, 0.4, 5.0)
  assert all(np.array_equal(f1, f2) for (f1, _), (f2, _) in zip(p1, p2))
  assert not np.array_equal(p1[0][0], evaluate.noisy_pairs(c1, 101, 0.4, 5.0)[0][0])


def test_architecture_counts_and_shapes():
  x = jnp.zeros((2, 32, 36, 1))
  m = models.XBDCNN(widths=(8, 16, 32), nle_width=8)
  v = m.init(jax.random.PRNGKey(0), x)
  nbd = v["params"]["nbd"]
  assert len([k for k in nbd if k.startswith("conv_")]) == 17
  assert len([k for k in v["params"]["nle"] if k.startswith("conv_")]) == 5
  g, aux = m.apply(v, x)
  assert (
    g.shape == x.shape and aux["levels"].shape == (2, 32, 36, 2) and float(aux["levels"].min()) >= 0
  )
  d = models.DnCNN(depth=17, width=8)
  vd = d.init(jax.random.PRNGKey(0), x)
  assert len([k for k in vd["params"] if k.startswith("conv_")]) == 17
  with pytest.raises(ValueError, match="divisible by 4"):
    m.apply(v, jnp.zeros((1, 30, 32, 1)))


def test_up2x2_is_a_stride2_transposed_conv():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
  up = models.Up2x2(6)
  v = up.init(jax.random.PRNGKey(0), x)
  k, b = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
  want = np.zeros((1, 6, 8, 6), np.float32)
  for i in range(3):
    for j in range(4):
      for a in range(2):
        for c in range(2):
          want[0, 2 * i + a, 2 * j + c] = x[0, i, j] @ k[:, a, c, :] + b
  np.testing.assert_allclose(np.asarray(up.apply(v, x)), want, rtol=1e-5, atol=1e-5)


def test_tiled_denoising_matches_whole_image_inside():
  m = models.XBDCNN(widths=(4, 8, 8), nle_width=4)
  v = m.init(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 1)))
  apply = jax.jit(lambda f: m.apply(v, f)[0])
  img = np.random.default_rng(3).random((230, 251)).astype(np.float32)
  whole = task.denoise_image(apply, img, tile=512)
  tiled = task.denoise_image(apply, img, tile=128, overlap=48)
  assert whole.shape == tiled.shape == img.shape
  # both reflect-pad the image by the overlap, so they agree everywhere, borders included
  np.testing.assert_allclose(tiled, whole, atol=1e-5)


def _band_over_interior(denoise, size=128, seeds=8):
  """Mean squared error in the outer 8-pixel band over that of the interior, flat 0.5 image with
  Poisson-Gaussian noise (eta 0.6, sigma 10)."""
  g = np.full((size, size), 0.5, np.float32)
  band = np.ones_like(g, bool)
  band[8:-8, 8:-8] = False
  b, i = [], []
  for s in range(seeds):
    f = np.asarray(noise.add_noise(jax.random.PRNGKey(s), g[None, ..., None], [0.6], [10.0]))[
      0, ..., 0
    ]
    e = (np.asarray(denoise(f)) - g) ** 2
    b.append(e[band].mean())
    i.append(e[~band].mean())
  return np.mean(b) / np.mean(i)


def test_denoise_image_pads_away_the_zero_frame():
  """A zero-padded 5x5 box filter stands for the U-Net's SAME convolutions: applied to the raw image
  its border band is far worse than the interior (the frame of zeros); through denoise_image it is
  no worse than the same filter with reflected borders (scipy), the floor for a local filter."""
  from scipy import ndimage

  def zero_padded_box(f):
    return jax.scipy.signal.convolve2d(f[0, ..., 0], jnp.full((5, 5), 1 / 25), mode="same")[
      None, ..., None
    ]

  raw = _band_over_interior(lambda f: zero_padded_box(f[None, ..., None])[0, ..., 0])
  padded = _band_over_interior(lambda f: task.denoise_image(zero_padded_box, f))
  floor = _band_over_interior(lambda f: ndimage.uniform_filter(f, 5, mode="reflect"))
  assert raw > 20 * floor
  assert padded <= floor * 1.001, (padded, floor)


@pytest.mark.slow
def test_short_training_beats_noisy_input_and_cli(tmp_path):
  cfg = config_lib.load_config(
    CFG,
    {
      "total_steps": 240,
      "eval_every": 80,
      "log_every": 80,
      "ckpt_every": 240,
      "figure_every": 240,
      "data.patch": 32,
      "data.num_val_patches": 16,
    },
  )
  wd = str(tmp_path / "run")
  trainer.train(cfg, task.make_task(cfg), wd, verbose=False)
  ev = [r for r in log_lib.read_jsonl(os.path.join(wd, "metrics.jsonl")) if "eval/val_mse" in r]
  assert ev[-1]["eval/val_mse"] < ev[0]["eval/val_mse"], ev
  assert ev[-1]["eval/val_psnr"] > ev[-1]["eval/noisy_psnr"] + 3.0, ev[-1]
  # clean borders: the trained network's error in the outer 8 pixels of a flat noisy image is no
  # worse, relative to its interior, than a Gaussian filter's with reflected borders (1.29 here;
  # the network on its zero-padded input measured 6.2 after 400 steps)
  from scipy import ndimage

  from xbdcnn.denoise import load_denoiser

  net = load_denoiser(wd)
  ratio = _band_over_interior(lambda f: task.denoise_image(net, f))
  floor = _band_over_interior(lambda f: ndimage.gaussian_filter(f, 2.0, mode="reflect"))
  assert ratio <= floor, (ratio, floor)
  # 8- and 16-bit in, same dtype and size out, odd sizes
  from xbdcnn.denoise import denoise_file

  for dtype, scale in ((np.uint8, 255), (np.uint16, 65535)):
    img = (np.random.default_rng(0).random((70, 83)) * scale).astype(dtype)
    src = tmp_path / f"in_{dtype.__name__}.png"
    Image.fromarray(img).save(src)
    out = tmp_path / f"out_{dtype.__name__}.png"
    denoise_file(str(src), wd, str(out))
    got = np.asarray(Image.open(out))
    assert got.shape == img.shape and got.dtype == dtype
  # the CLI, as a user runs it: output over the input is refused, NaN pixels are refused
  src = tmp_path / "in_uint8.png"
  before = src.read_bytes()
  one_line_error(
    run_cli("xbdcnn.main", "denoise", str(src), f"--checkpoint={wd}", f"--out={src}"),
    "is the input",
  )
  os.link(src, tmp_path / "hard_link.png")  # another name for the same file
  one_line_error(
    run_cli(
      "xbdcnn.main",
      "denoise",
      str(src),
      f"--checkpoint={wd}",
      f"--out={tmp_path / 'hard_link.png'}",
    ),
    "is the input",
  )
  assert src.read_bytes() == before
  import tifffile

  bad = np.random.default_rng(1).random((40, 40)).astype(np.float32)
  bad[5, 7] = np.nan
  tifffile.imwrite(tmp_path / "nan.tif", bad)
  one_line_error(
    run_cli(
      "xbdcnn.main",
      "denoise",
      str(tmp_path / "nan.tif"),
      f"--checkpoint={wd}",
      f"--out={tmp_path / 'o.tif'}",
    ),
    "NaN",
  )
  proc = run_cli(
    "xbdcnn.main", "denoise", str(src), f"--checkpoint={wd}", f"--out={tmp_path / 'cli.png'}"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert np.asarray(Image.open(tmp_path / "cli.png")).shape == (70, 83)
  # DICOM: a noisy 12-bit MONOCHROME1 radiograph (2 frames) in a folder with a PNG; the folder's outputs
  # under the same names, the DICOM one a derived DICOM whose frames are nearer the clean image
  import pydicom

  from tests.xbdcnn.test_dicom import write_dx
  from xbdcnn.phantoms import chest_phantom

  clean = np.asarray(chest_phantom(5), np.float64)[:64, :72]  # a procedural radiograph in [0, 1]
  rng = np.random.default_rng(3)
  noisy = np.clip(clean + rng.normal(0, 0.05, (2,) + clean.shape), 0, 1)
  folder = tmp_path / "dicoms"
  folder.mkdir()
  write_dx(
    str(folder / "chest"), np.round((1 - noisy) * 4095)
  )  # MONOCHROME1: high stored values dark
  Image.fromarray((clean * 255).astype(np.uint8)).save(folder / "plain.png")
  proc = run_cli(
    "xbdcnn.main", "denoise", str(folder), f"--checkpoint={wd}", f"--out={tmp_path / 'den'}"
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = pydicom.dcmread(tmp_path / "den" / "chest")
  assert out.BitsStored == 12 and out.PhotometricInterpretation == "MONOCHROME1"
  assert int(out.NumberOfFrames) == 2
  assert (
    list(out.ImageType[:2]) == ["DERIVED", "SECONDARY"] and "xbdcnn" in out.DerivationDescription
  )
  den = 1 - out.pixel_array / 4095.0
  err = lambda a: float(np.sqrt(np.mean((a - clean) ** 2)))
  assert all(err(den[i]) < err(noisy[i]) for i in range(2)), (err(den[0]), err(noisy[0]))
  assert (tmp_path / "den" / "plain.png").exists()
  # exported (the form of the model that ships), it computes what the workdir's checkpoint computes
  from xbdcnn import export

  export.export(wd, str(tmp_path / "model"))
  cfg_m, variables, meta = export.load(str(tmp_path / "model"))
  assert meta["step"] == 240 and cfg_m.arch == "xbdcnn"
  f = np.asarray(noisy[0][None, ..., None], np.float32)
  want = np.asarray(load_denoiser(wd)(f))
  got = np.asarray(jax.jit(lambda x: models.make_model(cfg_m).apply(variables, x)[0])(f))
  np.testing.assert_array_equal(got, want)


def test_cli_errors(tmp_path):
  one_line_error(
    run_cli(
      "xbdcnn.main",
      "denoise",
      str(tmp_path / "x.png"),
      f"--checkpoint={tmp_path}",
      f"--out={tmp_path}/o.png",
    ),
    "does not exist",
  )
  one_line_error(run_cli("xbdcnn.main", "frobnicate"), "train or denoise")
  # DICOM that cannot be denoised: no pixel data, too small, written as PNG; each before any network
  from pydicom.data import get_testdata_file

  from tests.xbdcnn.test_dicom import write_dx

  denoise = lambda src, out: run_cli(
    "xbdcnn.main", "denoise", str(src), f"--checkpoint={tmp_path}", f"--out={out}"
  )
  one_line_error(denoise(get_testdata_file("rtplan.dcm"), tmp_path / "o.dcm"), "no PixelData")
  one_line_error(denoise(get_testdata_file("MR_truncated.dcm"), tmp_path / "o.dcm"), "truncated")
  write_dx(str(tmp_path / "tiny.dcm"), np.zeros((1, 8, 8)))
  one_line_error(denoise(tmp_path / "tiny.dcm", tmp_path / "o.dcm"), "8x8", "at least 16x16")
  write_dx(str(tmp_path / "dx.dcm"), np.zeros((1, 32, 32)))
  one_line_error(denoise(tmp_path / "dx.dcm", tmp_path / "o.png"), "written as DICOM")
  assert not (tmp_path / "o.dcm").exists() and not (tmp_path / "o.png").exists()
  one_line_error(
    run_cli("xbdcnn.main", "denoise", "x.png", "--workdir=w", "--out=o.png"),
    "does not take --workdir",
  )
  import tifffile

  tifffile.imwrite(tmp_path / "i32.tif", np.arange(400, dtype=np.int32).reshape(20, 20))
  one_line_error(
    run_cli(
      "xbdcnn.main",
      "denoise",
      str(tmp_path / "i32.tif"),
      f"--checkpoint={tmp_path}",
      f"--out={tmp_path / 'o.png'}",
    ),
    "int32",
  )
  # a corrupt checkpoint ends in one line
  wd = tmp_path / "wd"
  (wd / "checkpoints" / "5" / "state").mkdir(parents=True)
  (wd / "config.json").write_text(json.dumps({"model": {"arch": "xbdcnn"}}))
  Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "z.png")
  one_line_error(
    run_cli(
      "xbdcnn.main",
      "denoise",
      str(tmp_path / "z.png"),
      f"--checkpoint={wd}",
      f"--out={tmp_path / 'o.png'}",
    ),
    "cannot be read",
  )


def test_chestxray_folder_split_by_image(tmp_path):
  rng = np.random.default_rng(5)
  for i in range(10):
    img = (rng.random((40, 44)) * (255 if i % 2 else 65535)).astype(
      np.uint8 if i % 2 else np.uint16
    )
    Image.fromarray(img).save(tmp_path / f"{i:08d}_000.png")
  d = ml_collections.ConfigDict(dict(name="folder", root=str(tmp_path), split_seed=0))
  split = task.load_images(d)
  assert [len(split[k]) for k in ("train", "val", "test")] == [7, 2, 1]
  assert not set(split["train"]) & set(split["test"]) and not set(split["train"]) & set(
    split["val"]
  )
  src = task.PatchSource(split["train"], 32, 5, seed=0)
  p = src[3]["image"]
  assert p.shape == (32, 32, 1) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
  with pytest.raises(Exception, match="ChestX-ray8"):
    task.load_images(
      ml_collections.ConfigDict(dict(name="folder", root=str(tmp_path / "missing"), split_seed=0))
    )


@pytest.mark.slow
def test_evaluate_gives_every_workdir_a_row_and_pools_seeds(tmp_path):
  """Two runs of one network (seeds 0 and 1) under their own labels: two rows plus a mean ± std row,
  the network read from each run's config.json; a bad workdir fails in one line before any denoising."""
  import json
  import shutil

  from common import runs as runs_lib
  from xbdcnn import evaluate

  wds = {label: str(tmp_path / label) for label in ("long", "x800")}
  cfg = config_lib.load_config(CFG + ":smoke", {"seed": 0})
  trainer.train(cfg, task.make_task(cfg), wds["long"], verbose=False)
  # the second "seed": the same run with seed 1 in its config (one training fewer; the pooling reads configs)
  shutil.copytree(wds["long"], wds["x800"])
  cj = os.path.join(wds["x800"], "config.json")
  with open(cj) as f:
    saved = json.load(f)
  saved["seed"] = 1
  with open(cj, "w") as f:
    json.dump(saved, f)
  resolved = runs_lib.resolve_workdirs([f"{k}={v}" for k, v in wds.items()])
  assert runs_lib.seed_groups({k: c for k, (_, c) in resolved.items()}) == [["long", "x800"]]
  cfg = config_lib.load_config(CFG + ":smoke")
  lines = evaluate.evaluate(
    resolved, cfg, str(tmp_path / "eval"), size=32, num_patches=2, classical_names=(), grid_images=1
  )
  table1 = "\n".join(lines[: next(i for i, l in enumerate(lines) if "Table II" in l)])
  assert "| X-BDCNN (long) |" in table1 and "| X-BDCNN (x800) |" in table1
  assert "| X-BDCNN, mean ± std of 2 seeds (long, x800) |" in table1 and " ± " in table1
  one_line_error(
    run_cli(
      "xbdcnn.evaluate",
      f"--workdirs=a={wds['long']},b={tmp_path / 'nope'}",
      f"--out={tmp_path / 'e'}",
    ),
    "nope",
    "does not exist",
  )
  one_line_error(
    run_cli(
      "xbdcnn.evaluate", f"--workdirs=a={wds['long']},a={wds['x800']}", f"--out={tmp_path / 'e'}"
    ),
    "given twice",
  )
  assert not (tmp_path / "e").exists()
  # any 8- or 16-bit grayscale files as the held-out set, through the CLI
  rng = np.random.default_rng(0)
  files = []
  for name, img in (
    ("a8.png", (rng.random((40, 52)) * 255).astype(np.uint8)),
    ("b16.png", (rng.random((48, 36)) * 65535).astype(np.uint16)),
  ):
    Image.fromarray(img).save(tmp_path / name)
    files.append(str(tmp_path / name))
  proc = run_cli(
    "xbdcnn.evaluate",
    f"--workdirs={wds['long']}",
    f"--out={tmp_path / 'ev'}",
    f"--images={','.join(files)}",
    "--size=32",
    "--num_patches=2",
    "--grid_images=10",
    "--classical=tv",
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  md = (tmp_path / "ev" / "tables.md").read_text()
  assert (
    "crops of a8, b16" in md
    and "(2 held-out images, one 32-pixel crop of each" in md
    and "SNR = 10 log10" in md
  )
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "tiny.png")
  one_line_error(
    run_cli(
      "xbdcnn.evaluate",
      f"--workdirs={wds['long']}",
      f"--images={tmp_path / 'tiny.png'}",
      f"--out={tmp_path / 'e2'}",
    ),
    "tiny.png",
    "16x16",
  )


def test_paired_comparison_rows():
  """Differences against the reference per image (its crops averaged), Wilcoxon p from scipy, images
  won counted."""
  from scipy import stats

  from xbdcnn import evaluate

  rng = np.random.default_rng(7)
  ref = rng.random((8, 3))
  net = ref + np.array([0.0, 0.5, -0.01]) + 0.1 * rng.standard_normal((8, 3))
  lines = evaluate.paired({"BM3D": ref, "Net": net}, "BM3D", ["Net"])
  row = lines[-1].split(" | ")
  d = net - ref
  assert row[1] == f"{d[:, 1].mean():+.3f} ± {d[:, 1].std(ddof=1):.3f}"
  assert (
    row[2] == f"{stats.wilcoxon(d[:, 1]).pvalue:.2g}" and row[3] == f"{int(np.sum(d[:, 1] > 0))}/8"
  )
  assert row[6].rstrip(" |") == f"{int(np.sum(d[:, 2] > 0))}/8"
  # 24 crops cycling over 6 images: the unit is the image, each the mean of its 4 crops (a plain loop)
  ref, net = rng.random((24, 3)), rng.random((24, 3))
  image_of = np.arange(24) % 6
  row = evaluate.paired({"BM3D": ref, "Net": net}, "BM3D", ["Net"], image_of)[-1].split(" | ")
  d = [np.mean([net[i, 1] - ref[i, 1] for i in range(24) if i % 6 == im]) for im in range(6)]
  assert (
    row[2] == f"{stats.wilcoxon(d).pvalue:.2g}" and row[3] == f"{int(np.sum(np.array(d) > 0))}/6"
  )
  assert (
    "need 5 or more images"
    in evaluate.paired({"BM3D": ref, "Net": net}, "BM3D", ["Net"], np.arange(24) % 4)[0]
  )
