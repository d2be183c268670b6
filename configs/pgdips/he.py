"""PGDIPS zero-shot stain deconvolution (defaults: the paper and the official code).

Run: python -m pgdips.main deconvolve IMAGE --config=configs/pgdips/he.py --out=DIR
Args: he (hematoxylin + eosin, default) | hdab (hematoxylin + DAB) | cpu | wsi | smoke | code.
``code``: every choice below set to the official code's value (GJiananChen/PGDIPS ``pgdips.py``).

Choices the paper leaves open, each a config value (this project's default | the code's value):
  init_stains      "ruifrok" (unit Ruifrok vectors) | "code": (0.60, 0.75, 0.29), (0.21, 0.91, 0.36) for every
                   stain pair, IHC included; "macenko": each tile's Macenko estimate (start and anchor)
  max_concentration  3.0: C = 3 sigmoid, room for dense stain in OD units | 1.0: the sigmoid alone
  b_range          (0.1, 1.0): B may reach 1 (no background) | (0.05, 0.95): 0.9 sigmoid + 0.05
  loss.anchor_reduce "mean": one mean over S, one over B, one over M | "sum": one MSE per stain, B, each SCF
  net.concat_norm  False | True: BatchNorm after the upsample/skip concatenation at every level
  net.align_corners False (half-pixel bilinear) | True (nn.Upsample(align_corners=True))
  smb_param, augment, loss.recon: see their comments.
  loss.repulsion_stains 3 (the code applies its repulsion term only with 3 stains); 2 applies it to 2 stains
  inverse_min_separation 20.0 (neither the paper nor the code; ``readout="inverse"`` only): stain pairs fitted
                   closer than this many degrees are inverted turned apart to it (0: the fit as it is)
Choices that follow the code by default (the paper is silent): the input perturbation ramps
0 -> 0.009 over the first 1000 iterations, then drops to ``net.perturb_after`` = 0.001; with 3 stains the
exclusion terms of the pairs are summed (``loss.exclusion_pairs="sum"``; "mean" averages) and
``loss.repulsion`` = 0.01 times the stain vectors' pairwise L1 distance is subtracted.
``cpu``: a run that fits a CPU session: 3-level 16-32-64 nets with 3x3 kernels, lr 1e-2 with S, M, B
at 5x, the code's L1 reconstruction, exclusion weight 0.01 (hdab) / 0.03 (he), 400 iterations, colour
anchoring for the first 100; S started and anchored at each tile's Macenko vectors
(``init_stains="macenko"``; a tile where Macenko cannot run starts at Ruifrok's and may want
``--config.num_steps=1000``); C read out by inverting eq. 2 with the fitted S, M, B
(``readout="inverse"``, pairs closer than ``inverse_min_separation`` turned apart first), so that a tiled
image needs only its estimation tiles solved. Its measurements: pgdips/README.md.
``wsi`` (with ``cpu``): the stitched whole-slide study (python -m pgdips.stitch): 8-16-32 nets, 256 px
tiles overlapping 32, S/M/B from 4 tiles at 300 iterations, then 100 iterations per tile; Ruifrok start
and C from the networks.
Tiling (not in the paper, which solves single images): every tile's networks read their crop of one
slide-wide noise field (``tile_noise="slide"``) and, with shared S/M/B, start from the first estimation
tile's fitted networks (``tile_init="estimate"``).
"""

import ml_collections

from common.config import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, stains=("he", "hdab"), cpu=False, wsi=False, smoke=False, code=False)
  c = ml_collections.ConfigDict()
  c.stains = ("hematoxylin", "dab") if a.stains == "hdab" else ("hematoxylin", "eosin")
  c.i0 = 255.0
  c.log_base = 10  # the paper and code use log10; Macenko-style tools use ln
  c.max_concentration = 3.0  # sigmoid output (0, 1) scaled to OD units
  c.spectral_correction = True  # per-stain scalar M (the code's SCF)
  c.background = True  # B, a per-channel transmittance, enters as -log10(B)
  c.augment = False  # the code: image and noise inputs through 8 dihedral transforms on even steps
  c.smb_param = (
    "direct"  # S, B optimized directly (the paper) | "net": centre pixel of a DIP net each (code)
  )
  c.readout = (
    "net"  # C = the networks' maps (the paper) | "inverse": eq. 2 inverted with the fitted S, M, B
  )
  # "inverse" inverts stain pairs fitted closer than this many degrees turned apart to it, in their plane
  # about their bisector (physics.spread_stains): the inversion's condition number cot(theta/2) stays
  # <= 5.7, half the 37-39 degrees of the Ruifrok H-DAB and H-E pairs; 0: the fit as it is. Chosen on
  # seeds 0-8 with Macenko's vectors, checked on unseen seeds with PGDIPS's (README, pgdips)
  c.inverse_min_separation = 20.0
  c.inverse_solver = (
    "clip"  # least squares clipped at 0, as the baselines | "nnls": exact non-negative LS
  )
  c.init_stains = "ruifrok"  # start/anchor of S: "ruifrok" | "code" | "macenko" (per tile)
  c.b_range = (0.1, 1.0)  # B = lo + (hi - lo) sigmoid; the code (0.05, 0.95)
  c.num_steps = 6000  # Adam iterations (the official code)
  c.net = ml_collections.ConfigDict(
    dict(
      channels=(8, 16, 32, 64, 128),
      skips=(0, 0, 0, 4, 4),
      kernel=5,
      input_channels=3,
      input_scale=0.01,  # U(-0.5, 0.5) / 100 fixed noise input
      perturb_std=0.009,  # per-step input perturbation, ramped 0 -> 0.009 over the first 1000 steps ...
      perturb_after=0.001,  # ... then this (the code); 0.009 holds the ramp's end
      concat_norm=False,  # the code: True
      align_corners=False,
    )
  )  # the code: True
  c.loss = ml_collections.ConfigDict(
    dict(
      alpha=1.0,
      beta=0.01,  # eq. 3
      recon="mse",  # eq. 2 (the code: "l1_ref")
      anchor_steps=2000,  # colour-anchoring prior on S, B, M for the first 2000 iterations (code)
      anchor_weight=1.0,
      anchor_reduce="mean",  # the code: "sum"
      exclusion_pairs="sum",  # 3 stains: the pairs' exclusion terms summed (code) | "mean"
      repulsion=0.01,  # - repulsion * pairwise L1 of S (code); 0 turns it off ...
      repulsion_stains=3,
    )
  )  # ... applied with at least this many stains (the code: 3)
  c.optim = ml_collections.ConfigDict(
    dict(lr=5e-4, smb_lr_scale=1.0)
  )  # scale: lr of S, M, B relative to the nets
  c.tile = 512  # whole-slide-size images: tiles of this size ...
  c.overlap = 32  # ... overlapping by this many pixels, blended linearly
  c.share_smb = True  # S, M, B estimated once on a few tiles and shared (seamless stitching)
  c.estimate_tiles = 4
  c.tile_steps = 0  # iterations for tiles solved with the shared S, M, B (0: num_steps)
  c.tile_noise = "slide"  # tiles' network inputs: crops of one slide-wide noise field, same initial weights | "tile"
  c.tile_init = "estimate"  # tiles' networks start from the first estimation tile's fit | "random" (share_smb only)
  c.batch_tiles = 8  # tiles solved at once (vmapped, split over the devices)
  c.background_od = 0.02  # tiles with a lower mean OD are background: not solved, C = 0
  c.progress_chunk = 500  # iterations per progress line
  c.match_percentile = 0.0  # normalization: 0 = recombine as the paper; 99 = also match percentiles
  # whole-slide images (python -m pgdips.main ... SLIDE; pgdips/slides.py)
  c.slide = ml_collections.ConfigDict(
    dict(
      level=0,  # the slide level to work at ...
      mpp=0.0,  # ... or its microns per pixel (0: use level)
      tile=512,  # read-out tiles at that level (readout="inverse"; "net" fits tiles of `tile`, keeps
      # the centre tile - overlap)
      batch=8,  # tiles per read-out step, split over this process's devices
      tiff_tile=256,  # tiles of the output pyramids
      compression="deflate",  # "deflate" (lossless) | "jpeg" | "none"
      quality=90,  # JPEG quality
    )
  )
  if a.code:
    c.init_stains, c.max_concentration, c.b_range, c.smb_param, c.augment = (
      "code",
      1.0,
      (0.05, 0.95),
      "net",
      True,
    )
    c.loss.anchor_reduce, c.loss.recon = "sum", "l1_ref"
    c.net.concat_norm = c.net.align_corners = True
    c.loss.beta = 0.01 if a.stains == "hdab" else 0.3  # the code's ihc.cfg / he.cfg
  if a.cpu:
    # 400 iterations: the fitted S is nearest the truth before the input perturbation ramps to its peak
    c.num_steps = 400
    c.optim.lr = 1e-2
    c.optim.smb_lr_scale = 5.0  # S, M, B at 5e-2
    # exclusion weight: H-DAB the paper's and the code's ihc.cfg 0.01; H&E 0.03, between the paper's
    # 0.01 and the code's he.cfg 0.3
    c.loss.recon, c.loss.beta = "l1_ref", 0.01 if a.stains == "hdab" else 0.03
    c.net.channels, c.net.skips, c.net.kernel = (16, 32, 64), (0, 4, 4), 3
    c.loss.anchor_steps = 100
    c.init_stains, c.readout = "macenko", "inverse"
    c.tile, c.overlap, c.progress_chunk = 64, 16, 250
  if a.wsi:  # the stitched whole-slide demo on a CPU (python -m pgdips.stitch): smaller nets
    c.net.channels, c.net.skips = (8, 16, 32), (0, 4, 4)
    c.num_steps, c.loss.anchor_steps, c.progress_chunk = 300, 50, 50
    c.tile, c.overlap, c.batch_tiles, c.tile_steps = 256, 32, 4, 100
    c.init_stains, c.readout = (
      "ruifrok",
      "net",
    )  # the stitching study measures the tiles' network maps
    c.loss.beta = 0.03  # the exclusion weight the stitching study was measured with
  if a.smoke:
    c.num_steps = 5
    c.net.channels = (4, 8)
    c.net.skips = (0, 2)
    c.loss.anchor_steps = 2
  return c
