"""The ground-truth benchmark (the paper's Table 1/2 layout: mean +- std PCC and SSIM per stain and
method) on synthetic images with known concentrations and stain vectors.

  python -m pgdips.evaluate [--out=DIR] [--num_images=4] [--size=64] [--config=configs/pgdips/he.py:hdab,cpu]
                            [--config.num_steps=...]

The default config is the paper's (``he.py:hdab``, 6,000 iterations of the full networks: a GPU run);
``--config=configs/pgdips/he.py:hdab,cpu --size=32`` is the short CPU run of ``make demo``.

Images: H-DAB concentration maps from crops of scikit-image's immunohistochemistry image, true stain
vectors rotated away from Ruifrok's by a few degrees per image (so the fixed-vector baseline is not
handed the answer), rendered by the forward model under two conditions: "ideal" (noise only) and
"non-ideal" (saturation at high concentration, DAB scatter M = 1.25, non-uniform background
illumination, noise). Methods: Ruifrok (fixed vectors, as ``skimage.color.rgb2hed``), Macenko,
Vahadane, PGDIPS.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags

from common import cli, metrics
from common.data import sources
from common.errors import UserError
from pgdips import baselines, physics, pipeline, solver, synthetic

CONDITIONS = {
    "ideal": dict(noise_std=1.0),
    "non-ideal": dict(saturation=1.5, m=(1.0, 1.25), background=0.08, noise_std=2.0),
}
STAINS = ("hematoxylin", "dab")


def benchmark_set(num_images: int, size: int, condition: str, seed: int = 0):
  """[(rgb uint8, true C (size, size, 2), true S (2, 3))]."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(num_images):
    off = (int(rng.integers(0, 512 - size)), int(rng.integers(0, 512 - size)))
    c, s = synthetic.ihc_ground_truth(size, offset=off)
    s = np.abs(s + rng.normal(0, 0.06, s.shape)).astype(np.float32)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    out.append((synthetic.synthesize(c, s, seed=seed + i, **CONDITIONS[condition]), c, s))
  return out


def angle_deg(a, b) -> np.ndarray:
  return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def score(result, c_true, s_true) -> dict:
  out = {}
  for i, name in enumerate(STAINS):
    est, true = result.concentrations[..., i], c_true[..., i]
    out[f"pcc_{name}"] = float(metrics.pcc(est.ravel(), true.ravel()))
    out[f"ssim_{name}"] = float(metrics.ssim(est[..., None], true[..., None], data_range=float(true.max())))
    out[f"angle_{name}"] = float(angle_deg(result.stains[i], s_true[i]))
  return out


def run(cfg, num_images: int = 4, size: int = 64, seed: int = 0, progress: bool = False) -> dict:
  """{condition: {method: [score dict per image]}}."""
  res = {}
  ref = physics.default_stains(STAINS)
  for cond in CONDITIONS:
    items = benchmark_set(num_images, size, cond, seed)
    per = {"Ruifrok": [], "Macenko": [], "Vahadane": [], "PGDIPS": []}
    for img, c, s in items:
      per["Ruifrok"].append(score(baselines.ruifrok(img, ref), c, s))
      per["Macenko"].append(score(baselines.macenko(img, reference=ref), c, s))
      per["Vahadane"].append(score(baselines.vahadane(img, reference=ref), c, s))
    for r, (_, c, s) in zip(solver.solve_batch(cfg, np.stack([it[0] for it in items]), seed=seed,
                                               chunk=int(cfg.progress_chunk), progress=progress), items):
      per["PGDIPS"].append(score(r, c, s))
    res[cond] = per
  return res


def table(res) -> str:
  lines = []
  for cond, per in res.items():
    lines += [f"Condition: {cond}", "",
              "| Method | " + " | ".join(f"PCC {n} | SSIM {n} | angle {n} (deg)" for n in STAINS) + " |",
              "|---" * (1 + 3 * len(STAINS)) + "|"]
    for method, scores in per.items():
      cells = []
      for n in STAINS:
        for k in ("pcc", "ssim", "angle"):
          v = np.array([s[f"{k}_{n}"] for s in scores])
          cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if k != "angle" else f"{v.mean():.1f} ± {v.std():.1f}")
      lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
  return "\n".join(lines)


def _define_flags():
  cli.define_config(cli.config_path("pgdips/he.py:hdab"), "PGDIPS config (default: the paper's, a GPU run); "
                    "configs/pgdips/he.py:hdab,cpu for a CPU run")
  flags.DEFINE_string("out", ".", "output folder (table.md)")
  flags.DEFINE_integer("num_images", 4, "synthetic images per condition", lower_bound=1)
  flags.DEFINE_integer("size", 64, "image size in pixels", lower_bound=pipeline.MIN_SIZE)


def main(argv) -> int:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; see --help")
  cfg = FLAGS.config
  pipeline.check_config(cfg)
  out = sources.check_out_dir(FLAGS.out)
  res = run(cfg, FLAGS.num_images, FLAGS.size, progress=True)
  md = (f"{FLAGS.num_images} synthetic {FLAGS.size}x{FLAGS.size} H-DAB images per condition; PGDIPS "
        f"{cfg.num_steps} iterations, lr {cfg.optim.lr}.\n\n" + table(res))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "table.md"), "w") as f:
    f.write(md + "\n")
  print(md)
  return 0


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
