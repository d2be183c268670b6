"""The segclassic part of ``make demo``: every operator on bundled images, one PNG per family, and
the lecture's Otsu table."""

from __future__ import annotations

import os
import time

import jax
import numpy as np


def run(out: str) -> list[str]:
  import segclassic as sc
  from common import plotting
  from common.data import sources
  from skimage import data
  os.makedirs(out, exist_ok=True)
  lines = []

  # The lecture's 6-level example
  t = sc.otsu_variances(np.array([8, 7, 2, 6, 9, 4]))
  lines += ["The lecture's 6x6, 6-level Otsu example (background = levels < T):", "",
            "| T | W_b | mu_b | var_b | W_f | mu_f | var_f | within | between |", "|---|---|---|---|---|---|---|---|---|"]
  for i in range(6):
    lines.append("| " + " | ".join([str(i)] + [f"{float(t[k][i]):.4f}" for k in
                                               ("w_b", "m_b", "var_b", "w_f", "m_f", "var_f", "within", "between")]) + " |")
  lines.append("")

  page, camera, coins = sources.bundled_gray("page"), sources.bundled_gray("camera"), sources.bundled_gray("coins")
  t_otsu = sc.threshold_otsu(page)
  panels = [("page", page), (f"global Otsu (T={int(t_otsu)})", page > t_otsu),
            (f"iterative (T={float(sc.threshold_iterative(page)):.1f})", page >= sc.threshold_iterative(page)),
            ("local gaussian, block 35, offset 10", page > sc.threshold_local(page, 35, offset=10)),
            ("adaptive Otsu, 32x32 windows", sc.threshold_adaptive_otsu(page, 32, 150.0)),
            ("camera", camera), (f"camera Otsu (T={int(sc.threshold_otsu(camera))})", camera > sc.threshold_otsu(camera)),
            ("camera, equalized", sc.equalize_hist(camera))]
  f1 = plotting.save_panels(os.path.join(out, "thresholds.png"), panels, ncols=4,
                            suptitle="Thresholding: global Otsu fails on the shaded page; local schemes do not")

  coffee = data.coffee()[::2, ::2]
  lab_c, _ = sc.kmeans_segment(coffee, 4, key=jax.random.PRNGKey(0))
  lab_p, _ = sc.kmeans_segment(coffee, 4, features="color+position", position_weight=1.0, key=jax.random.PRNGKey(0))
  f2 = plotting.save_panels(os.path.join(out, "kmeans.png"),
                            [("coffee", coffee), ("k-means k=4, colour", np.asarray(lab_c)),
                             ("k-means k=4, colour+position", np.asarray(lab_p))], ncols=3, cmap="tab10")

  binary = coins > sc.threshold_otsu(coins)
  fp = sc.disk(3)
  f3 = plotting.save_panels(os.path.join(out, "morphology.png"), [
      ("coins > Otsu", binary), ("erosion, disk(3)", sc.erosion(binary, fp)),
      ("dilation", sc.dilation(binary, fp)), ("opening", sc.opening(binary, fp)),
      ("closing", sc.closing(binary, fp)), ("grey erosion of camera", sc.erosion(camera, fp)),
      ("grey dilation", sc.dilation(camera, fp)), ("grey opening", sc.opening(camera, fp))], ncols=4)

  horse = data.horse() == 0
  text = sources.bundled_gray("text") < 100
  corner_fg = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
  corner_bg = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
  hm = sc.hit_or_miss(horse, corner_fg, corner_bg)
  f4 = plotting.save_panels(os.path.join(out, "shape.png"), [
      ("horse", horse), (f"hit-or-miss: {int(np.sum(hm))} upper-left corners", sc.dilation(hm, sc.square(5))),
      ("thin(horse)", sc.thin(horse)), ("thicken(horse), 10 iterations", sc.thicken(horse, 10)),
      ("text < 100", text), ("thin(text)", sc.thin(text))], ncols=3)

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
  lines += [f"Binary opening, disk(3), 16 x 512x512: JAX {t_jax * 1e3:.1f} ms vs scipy loop {t_sp * 1e3:.1f} ms "
            "(full table: `make bench`).", ""]
  for f in (f1, f2, f3, f4):
    lines.append(f"![{os.path.basename(f)}](segclassic/{os.path.basename(f)})")
  return lines
