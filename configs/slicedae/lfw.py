"""Sliced autoencoders on scikit-image's lfw_subset faces (200 faces, 24x24 gray), conv architecture.

Run: python -m slicedae.main --config=configs/slicedae/lfw.py:scfwae --workdir=/tmp/sae_lfw/scfwae
"""

from common.config import parse_arg
from configs.slicedae import digits


def get_config(arg=None):
  return digits.base_config(
      parse_arg(arg, model=digits.MODELS, smoke=False), data=dict(name="lfw", num_test=40, data_dir="", image_size=24, center_crop=24),
      model=dict(arch="conv", z_dim=16, hidden=(200, 200, 200), width=32, fc=128, widths=(128, 256, 512, 1024)),
      total_steps=2000, batch_size=32, lr=1e-3)
