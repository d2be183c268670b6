"""The segclassic part of ``make demo``: every operator on bundled images, one PNG per family, and
the lecture's Otsu table."""

from __future__ import annotations

import os
import time

import jax
import numpy as np


def run(out: str) -> list[str]:
  from skimage import data

  import segclassic as sc
  from common import plotting
  from common.data import sources

  os.makedirs(out, exist_ok=True)
  lines = []

  # The lecture's 6-level example
  t = sc.otsu_variances(np.array([8, 7, 2, 6, 9, 4]))
  lines += [
    "The lecture's 6x6, 6-level Otsu example (background = levels < T):",
    "",
    "| T | W_b | mu_b | var_b | W_f | mu_f | var_f | within | between |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for i in range(6):
    lines.append(
      "| "
      + " | ".join(
        [str(i)]
        + [
          f"{float(t[k][i]):.4f}"
          for k in ("w_b", "m_b", "var_b", "w_f", "m_f", "var_f", "within", "between")
        ]
      )
      + " |"
    )
  lines.append("")

  page, camera, coins = (
    sources.bundled_gray("page"),
    sources.bundled_gray("camera"),
    sources.bundled_gray("coins"),
  )
  t_otsu = sc.threshold_otsu(page)
  t_me = sc.threshold_minimum_error(camera)
  panels = [
    ("page", page),
    (f"global Otsu (T={int(t_otsu)})", page > t_otsu),
    (
      f"iterative (T={float(sc.threshold_iterative(page)):.1f})",
      page >= sc.threshold_iterative(page),
    ),
    ("local gaussian, block 35, offset 10", page > sc.threshold_local(page, 35, offset=10)),
    ("adaptive Otsu, 32x32 windows", sc.threshold_adaptive_otsu(page, 32, 150.0)),
    ("camera", camera),
    (f"camera Otsu (T={int(sc.threshold_otsu(camera))})", camera > sc.threshold_otsu(camera)),
    (f"camera minimum error / Bayes (T={int(t_me)})", camera > t_me),
    ("camera, equalized", sc.equalize_hist(camera)),
  ]
  f1 = plotting.save_panels(
    os.path.join(out, "thresholds.png"),
    panels,
    ncols=3,
    suptitle="Thresholding: global Otsu fails on the shaded page; local schemes do not",
  )

  coffee = data.coffee()[::2, ::2]
  lab_c, _ = sc.kmeans_segment(coffee, 4, key=jax.random.PRNGKey(0))
  lab_p, _ = sc.kmeans_segment(
    coffee, 4, features="color+position", position_weight=1.0, key=jax.random.PRNGKey(0)
  )
  lab_r, _ = sc.kmeans_segment(coffee, 4, init="random", n_init=1, key=jax.random.PRNGKey(0))
  f2 = plotting.save_panels(
    os.path.join(out, "kmeans.png"),
    [
      ("coffee", coffee),
      ("k-means++ k=4, colour", np.asarray(lab_c)),
      ("k-means++ k=4, colour+position", np.asarray(lab_p)),
      ("the lecture's k-means (random start), colour", np.asarray(lab_r)),
    ],
    ncols=4,
    cmap="tab10",
  )

  binary = coins > sc.threshold_otsu(coins)
  fp = sc.disk(3)
  f3 = plotting.save_panels(
    os.path.join(out, "morphology.png"),
    [
      ("coins > Otsu", binary),
      ("erosion, disk(3)", sc.erosion(binary, fp)),
      ("dilation", sc.dilation(binary, fp)),
      ("opening", sc.opening(binary, fp)),
      ("closing", sc.closing(binary, fp)),
      ("grey erosion of camera", sc.erosion(camera, fp)),
      ("grey dilation", sc.dilation(camera, fp)),
      ("grey opening", sc.opening(camera, fp)),
    ],
    ncols=4,
  )

  horse = data.horse() == 0
  text = sources.bundled_gray("text") < 100
  corner_fg = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
  corner_bg = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
  hm = sc.hit_or_miss(horse, corner_fg, corner_bg)
  f4 = plotting.save_panels(
    os.path.join(out, "shape.png"),
    [
      ("horse", horse),
      (f"hit-or-miss: {int(np.sum(hm))} upper-left corners", sc.dilation(hm, sc.square(5))),
      ("thin(horse)", sc.thin(horse)),
      ("thicken(horse), 10 iterations", sc.thicken(horse, 10)),
      ("text < 100", text),
      ("thin(text)", sc.thin(text)),
    ],
    ncols=3,
  )

  # the two thinnings side by side, and the lecture's thickening
  small_horse = horse[::2, ::2]
  thin_gh, thin_hm = (
    np.asarray(sc.thin(small_horse)),
    np.asarray(sc.thin(small_horse, method="hit_or_miss")),
  )
  t_gh, t_hm = np.asarray(sc.thin(text)), np.asarray(sc.thin(text, method="hit_or_miss"))
  f5 = plotting.save_panels(
    os.path.join(out, "thinning_compared.png"),
    [
      ("horse (1/2 size)", small_horse),
      (f"Guo-Hall (skimage): {thin_gh.sum()} px", thin_gh),
      (f"lecture hit-or-miss: {thin_hm.sum()} px", thin_hm),
      (
        "lecture thickening, 3 passes",
        np.asarray(sc.thicken(small_horse, 3, method="hit_or_miss")),
      ),
      ("text < 100", text),
      (f"Guo-Hall: {t_gh.sum()} px", t_gh),
      (f"lecture hit-or-miss: {t_hm.sum()} px", t_hm),
      (
        "red: Guo-Hall, green: lecture, yellow: both",
        np.stack([t_gh, t_hm, np.zeros_like(t_gh)], -1).astype(np.float32),
      ),
    ],
    ncols=4,
    suptitle="Thinning: Guo-Hall (one-pixel skeleton) vs the lecture's hit-or-miss pair in 8 rotations",
  )
  lines += [
    f"Thinning the horse (1/2 size): Guo-Hall keeps {thin_gh.sum()} pixels, the lecture's hit-or-miss "
    f"rotations {thin_hm.sum()} (its structuring elements have no don't-care cells, so fewer "
    "configurations are removed).",
    "",
  ]

  # speed on a batch: one jitted call vs a Python loop over scipy
  from scipy import ndimage as ndi

  batch = np.stack([camera > 100] * 16)
  f = jax.jit(lambda x: sc.opening(x, fp))
  f(batch).block_until_ready()
  t0 = time.perf_counter()
  f(batch).block_until_ready()
  t_jax = time.perf_counter() - t0
  t0 = time.perf_counter()
  for b in batch:
    ndi.binary_opening(b, fp)
  t_sp = time.perf_counter() - t0
  lines += [
    f"Binary opening, disk(3), 16 x 512x512: JAX {t_jax * 1e3:.1f} ms vs scipy loop {t_sp * 1e3:.1f} ms "
    "(full table: `make bench`).",
    "",
  ]
  for f in (f1, f2, f3, f4, f5):
    lines.append(f"![{os.path.basename(f)}](segclassic/{os.path.basename(f)})")
  return lines
