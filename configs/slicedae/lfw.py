"""Sliced autoencoders on scikit-image's lfw_subset faces (200 faces, 24x24 gray), conv architecture.

Run: python -m slicedae.main --config=configs/slicedae/lfw.py:scfwae --workdir=/tmp/sae_lfw/scfwae
Convergence variant (5,000 steps, ~1,000 epochs of the 160 training faces): :scfwae,long

The split is a fixed permutation of the 100 faces and 100 non-faces (slicedae.data.embedded_arrays),
40 held out. z = 16 is this project's choice for 576-pixel images (the paper has no faces set this small).
"""

from common.config import parse_arg
from configs.slicedae import digits


def get_config(arg=None):
  a = parse_arg(arg, model=digits.MODELS, smoke=False, long=False, seed=0)
  c = digits.base_config(
    a,
    data=dict(name="lfw", num_test=40, data_dir="", image_size=24, center_crop=24),
    model=dict(
      arch="conv", z_dim=16, hidden=(200, 200, 200), width=32, fc=128, widths=(128, 256, 512, 1024)
    ),
    total_steps=2000,
    batch_size=32,
    lr=1e-3,
  )
  if not a.smoke:
    c.fd.classifier_steps = (
      300  # face / non-face is separated after 300 steps (held-out accuracy 1.0)
    )
  return digits.long_variant(c, 5000) if a.long and not a.smoke else c
