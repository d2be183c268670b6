"""Times the official PGDIPS script (GJiananChen/PGDIPS, a checkout given by path) on the CPU, for the
ratio printed by bench/pgdips.py. Runs under the PyTorch venv (.venv-torch); nothing of that code is
copied here: its ``pgdips.py`` runs unchanged from the checkout, in a scratch directory holding a
config and the input tile, with the CUDA-only calls redirected to the CPU:

  .venv-torch/bin/python bench/_pgdips_official.py CHECKOUT TILE.png STEPS
  .venv-torch/bin/python bench/_pgdips_official.py CHECKOUT --nets SIZE STEPS

``--nets``: the profile of bench/pgdips.py --profile: forward + backward of one of the checkout's own
``skip`` networks (built as its pgdips.py builds them: 8-128 channels, 5x5, bilinear, reflection padding)
with 1 output channel (a concentration net) and 3 (a stain or background net), s per call.

Prints one JSON line: {"steps": ..., "seconds": ..., "s_per_step": ...}, timed between the first and
the last optimizer step (start-up, first-step allocation and the final plots excluded).
"""

import json
import os
import runpy
import sys
import tempfile
import time
import types

CFG = """[system]
input = tile.png
input_folder = ./input
output_folder = ./output

[preprocess]
input_depth = 3
input_size = {size}
roi_selection = centercrop
x_coor_start = 0
y_coor_start = 0

[stain]
num_stains = 2
fixed_color = False
default_stain_vector_1 = 0.65, 0.70, 0.29
default_stain_vector_2 = 0.27, 0.57, 0.78
use_spectral_correction_factor = True

[network]
iterations = {steps}
keep_color_iterations = {keep}
init_learning_rate = 0.0005
plot_during_training = True
show_every = {steps}

[loss]
weight_l1 = 1
weight_exclusion = 0.01
weight_mse = 1
"""


def _torchvision_stand_in():
  """The script imports torchvision for one call, ``utils.make_grid``, in its image plots (outside the
  timed optimizer steps' work). This stand-in lays the (C, H, W) images out on a grid of ``nrow``
  columns with 2 px of zero padding, enough for those plots."""
  import torch

  def make_grid(images, nrow=8, padding=2):
    images = [torch.as_tensor(x) for x in images]
    c = max(x.shape[0] for x in images)
    images = [x.expand(c, *x.shape[1:]) for x in images]
    h, w = images[0].shape[1:]
    cols = min(nrow, len(images))
    rows = -(-len(images) // cols)
    grid = torch.zeros(c, rows * (h + padding) + padding, cols * (w + padding) + padding)
    for k, x in enumerate(images):
      y0, x0 = padding + (k // cols) * (h + padding), padding + (k % cols) * (w + padding)
      grid[:, y0 : y0 + h, x0 : x0 + w] = x
    return grid

  tv = types.ModuleType("torchvision")
  tv.utils = types.ModuleType("torchvision.utils")
  tv.utils.make_grid = make_grid
  sys.modules["torchvision"], sys.modules["torchvision.utils"] = tv, tv.utils


def _cpu_only():
  """Redirects the script's CUDA tensor types and ``.cuda()`` calls to the CPU."""
  import torch

  torch.cuda.FloatTensor = torch.FloatTensor
  torch.Tensor.cuda = lambda self, *a, **k: self
  torch.nn.Module.cuda = lambda self, *a, **k: self
  make = torch.tensor
  torch.tensor = lambda *a, device=None, **k: make(*a, **k)
  # torchvision beside the pinned CPU torch needs this stub to import; skvideo is only used for video
  sys.modules.setdefault(
    "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
  )
  try:
    import torchvision  # noqa: F401
  except (
    Exception
  ):  # not installed (PyPI's torchvision does not import beside the pinned CPU torch)
    _torchvision_stand_in()
  sk = types.ModuleType("skvideo")
  sk.io = types.ModuleType("skvideo.io")
  sys.modules.setdefault("skvideo", sk)
  sys.modules.setdefault("skvideo.io", sk.io)
  import PIL.Image

  PIL.Image.Image.show = lambda self, *a, **k: None
  times = []

  class TimedAdam(torch.optim.Adam):
    def step(self, *a, **k):
      out = super().step(*a, **k)
      times.append(time.perf_counter())
      return out

  torch.optim.Adam = TimedAdam
  return times


def nets(checkout, size, steps):
  import torch

  _cpu_only()  # the same import stand-ins as the script's run
  sys.path.insert(0, checkout)
  from net import skip

  out = {"torch": torch.__version__}
  for ch in (1, 3):
    net = skip(
      3,
      ch,
      num_channels_down=[8, 16, 32, 64, 128],
      num_channels_up=[8, 16, 32, 64, 128],
      num_channels_skip=[0, 0, 0, 4, 4],
      upsample_mode="bilinear",
      filter_size_down=5,
      filter_size_up=5,
      need_sigmoid=True,
      need_bias=True,
      pad="reflection",
      act_fun="LeakyReLU",
    )
    z = torch.rand(1, 3, size, size) * 0.01
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)

    def call():
      opt.zero_grad()
      net(z).mean().backward()
      opt.step()

    for _ in range(3):
      call()
    t0 = time.perf_counter()
    for _ in range(steps):
      call()
    out[f"out{ch}"] = (time.perf_counter() - t0) / steps
  print(json.dumps(out))


def main():
  if sys.argv[2] == "--nets":
    return nets(os.path.abspath(sys.argv[1]), int(sys.argv[3]), int(sys.argv[4]))
  checkout, tile, steps = (
    os.path.abspath(sys.argv[1]),
    os.path.abspath(sys.argv[2]),
    int(sys.argv[3]),
  )
  if not os.path.isfile(os.path.join(checkout, "pgdips.py")):
    raise SystemExit(f"error: {checkout} has no pgdips.py; pass a checkout of GJiananChen/PGDIPS")
  os.environ.setdefault("MPLBACKEND", "Agg")
  from PIL import Image

  size = Image.open(tile).size[0]
  times = _cpu_only()
  work = tempfile.mkdtemp(prefix="pgdips_official_")
  for d in ("config", "input"):
    os.makedirs(os.path.join(work, d))
  with open(os.path.join(work, "config", "bench.cfg"), "w") as f:
    f.write(CFG.format(size=size, steps=steps, keep=max(steps // 3, 1)))
  os.symlink(tile, os.path.join(work, "input", "tile.png"))
  os.chdir(work)
  sys.path.insert(0, checkout)
  sys.argv = ["pgdips.py", "--config=bench.cfg"]
  import contextlib
  import io

  with contextlib.redirect_stdout(io.StringIO()):
    runpy.run_path(os.path.join(checkout, "pgdips.py"), run_name="__main__")
  sec = times[-1] - times[0]
  import torch

  print(
    json.dumps(
      {
        "steps": len(times) - 1,
        "seconds": sec,
        "s_per_step": sec / max(len(times) - 1, 1),
        "torch": torch.__version__,
      }
    )
  )


if __name__ == "__main__":
  main()
