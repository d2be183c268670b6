"""Convert pytorch-fid's Inception-v3 weights to the .npz that ``common.inception`` loads.

Runs in an environment with PyTorch (not medjax's venv; ``make bench`` builds .venv-torch):

  python tools/fid_weights_to_npz.py pt_inception-2015-12-05-6726825d.pth fid_inception.npz

Parity check of the port (needs pytorch-fid + torchvision importable, no download): ``--random``
builds pytorch-fid's network with random weights and random BatchNorm statistics instead of reading a
.pth, and ``--probe FILE`` also writes 4 random images and torch's pool3 features for them; then
``python tools/fid_weights_to_npz.py --compare W.npz PROBE.npz`` in medjax's venv prints the
largest difference of medjax's features.
"""

import sys

import numpy as np


def _torch_state_dict(path, random):
  import torch

  if not random:
    sd = torch.load(path, map_location="cpu")
    return {k: v.numpy() for k, v in sd.items()}, None
  import types

  sys.modules.setdefault(
    "torchvision._meta_registrations", types.ModuleType("stub")
  )  # CPU-wheel mismatch
  from pytorch_fid import inception as fid

  fid.load_state_dict_from_url = lambda *a, **k: None
  orig = torch.nn.Module.load_state_dict
  torch.nn.Module.load_state_dict = lambda self, sd, *a, **k: None
  inc = fid.fid_inception_v3()
  torch.nn.Module.load_state_dict = orig
  g = torch.Generator().manual_seed(0)
  with torch.no_grad():
    for name, t in inc.state_dict().items():
      if t.dtype.is_floating_point:
        t.copy_(
          torch.rand(t.shape, generator=g) + 0.5
          if "running_var" in name
          else torch.randn(t.shape, generator=g)
          * (0.1 if "weight" in name and t.ndim == 4 else 0.5)
        )
  fid.fid_inception_v3 = lambda: inc
  net = fid.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
  inner = {k: v.numpy() for k, v in inc.state_dict().items()}
  return inner, net


def main(argv=None) -> int:
  # argparse, not absl: half of this tool runs under the torch interpreter, which has no absl
  import argparse

  ap = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  ap.add_argument(
    "files",
    nargs="*",
    help="PTH OUT.npz (convert), OUT.npz with --random, or W.npz PROBE.npz with --compare",
  )
  ap.add_argument(
    "--compare", action="store_true", help="compare medjax's features with a probe file"
  )
  ap.add_argument(
    "--random", action="store_true", help="random weights instead of a .pth (parity check)"
  )
  ap.add_argument("--probe", help="also write probe images and torch's features to this file")
  a = ap.parse_args(argv)
  if a.compare:
    if len(a.files) != 2:
      ap.error("--compare takes W.npz PROBE.npz")
    from common import inception

    probe = np.load(a.files[1])
    feats = inception.FeatureExtractor(inception.load_variables(a.files[0]), batch_size=4)(
      probe["images"]
    )
    ref = probe["features"]
    err = np.abs(feats - ref).max()
    print(f"max |medjax - pytorch-fid| = {err:.3g} (feature scale {np.abs(ref).mean():.3g})")
    return 0 if err < 1e-3 * max(np.abs(ref).max(), 1.0) else 1
  if len(a.files) != (1 if a.random else 2):
    ap.error("give PTH OUT.npz, or OUT.npz with --random")
  sd, net = _torch_state_dict(None if a.random else a.files[0], a.random)
  sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
  np.savez(a.files[-1], **sd)
  print(f"wrote {len(sd)} arrays to {a.files[-1]}")
  if a.probe and net is not None:
    import torch

    x = np.random.default_rng(1).uniform(size=(4, 40, 56, 3)).astype(np.float32)
    with torch.no_grad():
      f = net(torch.from_numpy(x).permute(0, 3, 1, 2))[0][:, :, 0, 0].numpy()
    np.savez(a.probe, images=x, features=f.astype(np.float64))
    print(f"wrote probe images and torch features {f.shape} to {a.probe}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
