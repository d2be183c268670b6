"""Sliced autoencoders on scikit-image's lfw_subset faces (200 faces, 24x24 gray), conv architecture.

Run: python -m slicedae.main --config=configs/slicedae/lfw.py:scfwae --workdir=/tmp/sae_lfw/scfwae
"""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location("_sae_digits", os.path.join(os.path.dirname(__file__), "digits.py"))
_digits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_digits)


def get_config(arg=None):
  return _digits.base_config(
      arg, data=dict(name="lfw", num_test=40, data_dir="", image_size=24, center_crop=24),
      model=dict(arch="conv", z_dim=16, hidden=(200, 200, 200), width=32, fc=128, widths=(128, 256, 512, 1024)),
      total_steps=2000, batch_size=32, lr=1e-3)
