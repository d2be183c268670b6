"""Sliced autoencoders on the paper's datasets, read offline from array_record (see README):
arg = dataset[,model][,smoke] with dataset in mnist | cifar10 | celeb_a. Latent sizes: MNIST z = 20 as
the paper (section 5: "a 20 neuron latent layer"; the CWAE PyTorch code uses 8), CIFAR-10 and CelebA
z = 64 (the CWAE code; the paper does not say); learning rates of the CWAE code (CelebA 5e-4).

Run: python -m slicedae.main --config=configs/slicedae/real.py:cifar10,scwae \\
         --config.data.data_dir=/data/tfds --workdir=runs/cifar10_scwae
"""

from common.config import parse_arg
from configs.slicedae import digits

_SETUPS = {
  "mnist": (dict(image_size=28, center_crop=28), dict(arch="mlp", z_dim=20), 1e-3, 28 * 1000),
  "cifar10": (dict(image_size=32, center_crop=32), dict(arch="conv", z_dim=64), 1e-3, 390 * 500),
  "celeb_a": (dict(image_size=64, center_crop=140), dict(arch="dcgan", z_dim=64), 5e-4, 1270 * 55),
}


def get_config(arg=None):
  a = parse_arg(arg, dataset=tuple(_SETUPS), model=digits.MODELS, smoke=False)
  ds = a.dataset
  data, model, lr, steps = _SETUPS[ds]
  model = dict(
    dict(hidden=(200, 200, 200), width=32, fc=128, widths=(128, 256, 512, 1024)), **model
  )
  return digits.base_config(
    a,
    data=dict(name=ds, num_test=10000, data_dir="", **data),
    model=model,
    total_steps=steps,
    batch_size=128,
    lr=lr,
    null_draws=200,
  )
