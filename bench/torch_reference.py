"""PyTorch (CPU) reference train steps for the throughput benchmarks; run under a separate Python
with torch (``make bench`` creates .venv-torch with Python 3.11 and torch 2.13, CPU build).

  python bench/torch_reference.py xbdcnn|slicedae|mae|sdmae --batch=8 --size=48 --steps=30

Prints one JSON line: steps per second of a full train step (forward, loss, backward, Adam), and for
xbdcnn also inference images per second. The models mirror medjax's (same layer shapes).
"""

import json
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


class NLE(nn.Module):
  def __init__(self, w=16):
    super().__init__()
    self.c = nn.ModuleList(
      [nn.Conv2d(1, w, 3, padding=1)]
      + [nn.Conv2d(w, w, 3, padding=1) for _ in range(3)]
      + [nn.Conv2d(w, 2, 3, padding=1)]
    )

  def forward(self, f):
    h1 = F.relu(self.c[0](f))
    h = F.relu(self.c[2](F.relu(self.c[1](h1))))
    h = F.relu(self.c[3](h)) + h1
    return F.relu(self.c[4](h))


class NBD(nn.Module):
  def __init__(self, widths=(16, 32, 64)):
    super().__init__()
    w1, w2, w3 = widths

    def stack(cin, w, n):
      return nn.ModuleList([nn.Conv2d(cin if i == 0 else w, w, 3, padding=1) for i in range(n)])

    self.b1, self.b2, self.b3 = stack(3, w1, 2), stack(w1, w2, 3), stack(w2, w3, 6)
    self.u1, self.b4 = nn.ConvTranspose2d(w3, w2, 2, 2), stack(w2, w2, 3)
    self.u2, self.b5 = nn.ConvTranspose2d(w2, w1, 2, 2), stack(w1, w1, 2)
    self.out = nn.Conv2d(w1, 1, 3, padding=1)

  def forward(self, f, levels):
    def run(h, layers):
      for l in layers:
        h = F.relu(l(h))
      return h

    s1 = run(torch.cat([f, levels], 1), self.b1)
    s2 = run(F.avg_pool2d(s1, 2), self.b2)
    h = run(F.avg_pool2d(s2, 2), self.b3)
    h = run(self.u1(h) + s2, self.b4)
    h = run(self.u2(h) + s1, self.b5)
    return f + self.out(h)


class XBDCNN(nn.Module):
  def __init__(self):
    super().__init__()
    self.nle, self.nbd = NLE(), NBD()

  def forward(self, f):
    lv = self.nle(f)
    return self.nbd(f, lv), lv


def noisy_batch(g, eta_range=(0.4, 1.9), sigma_range=(0.0, 20.0)):
  """medjax's training noise (xbdcnn.noise, the "peak" convention): per image eta ~ U(eta_range) and
  sigma ~ U(sigma_range), f = (Poisson(eta g255) / eta + N(0, sigma^2)) / 255, and the two level maps
  [sigma / 255, sqrt(g255 / eta) / 255] the estimator learns."""
  n = g.shape[0]
  eta = torch.empty(n, 1, 1, 1).uniform_(*eta_range)
  sigma = torch.empty(n, 1, 1, 1).uniform_(*sigma_range)
  g255 = 255.0 * g.clamp(min=0.0)
  f = (torch.poisson(eta * g255) / eta + sigma * torch.randn_like(g)) / 255.0
  levels = torch.cat([(sigma / 255.0).expand_as(g), torch.sqrt(g255 / eta) / 255.0], 1)
  return f, levels


def bench_xbdcnn(batch, size, steps):
  """Each step draws new noise for the same clean batch (inside the step), as medjax's training draws
  new noise for every batch (in its input pipeline)."""
  m = XBDCNN()
  opt = torch.optim.Adam(m.parameters(), 1e-3)
  g = torch.rand(batch, 1, size, size)

  def step():
    f, lv_true = noisy_batch(g)
    out, lv = m(f)
    d = lv - lv_true
    asym = ((0.3 - (d < 0).float()).abs() * d * d).mean()
    tv = (lv[..., 1:] - lv[..., :-1]).pow(2).mean() + (lv[..., 1:, :] - lv[..., :-1, :]).pow(
      2
    ).mean()
    loss = 0.4 * F.mse_loss(out, g) + 0.5 * asym + 0.05 * tv  # SSIM term omitted on both sides
    opt.zero_grad()
    loss.backward()
    opt.step()

  for _ in range(3):
    step()
  t0 = time.perf_counter()
  for _ in range(steps):
    step()
  train = steps / (time.perf_counter() - t0)
  x = torch.rand(1, 1, 512, 512)
  with torch.no_grad():
    m(x)
    t0 = time.perf_counter()
    for _ in range(5):
      m(x)
    infer = 5 / (time.perf_counter() - t0)
  return {"train_steps_per_sec": train, "infer_512_per_sec": infer}


def bench_slicedae(batch, steps):
  enc = nn.Sequential(
    nn.Linear(784, 200),
    nn.ReLU(),
    nn.Linear(200, 200),
    nn.ReLU(),
    nn.Linear(200, 200),
    nn.ReLU(),
    nn.Linear(200, 8),
  )
  dec = nn.Sequential(
    nn.Linear(8, 200),
    nn.ReLU(),
    nn.Linear(200, 200),
    nn.ReLU(),
    nn.Linear(200, 200),
    nn.ReLU(),
    nn.Linear(200, 784),
    nn.Sigmoid(),
  )
  opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), 1e-3)
  x = torch.rand(batch, 784)

  def step():
    z = enc(x)
    rec = ((dec(z) - x) ** 2).sum(1).mean()
    v = torch.randn(50, 8)
    v = v / v.norm(dim=1, keepdim=True)
    proj = torch.sort(z @ v.T, dim=0).values
    prior = torch.sort(torch.randn_like(z) @ v.T, dim=0).values
    loss = rec + torch.log(((proj - prior) ** 2).mean())  # SWAE, eq. 2
    opt.zero_grad()
    loss.backward()
    opt.step()

  for _ in range(5):
    step()
  t0 = time.perf_counter()
  for _ in range(steps):
    step()
  return {"train_steps_per_sec": steps / (time.perf_counter() - t0)}


class DINOHead(nn.Module):
  """The SD-MAE code's head (modeling_pretrain.py): 3-layer MLP with GELU to the bottleneck, L2
  normalization, a weight-normed bias-free last layer whose gain is 1 and frozen."""

  def __init__(self, in_dim, out_dim=4096, hidden_dim=2048, bottleneck_dim=256):
    super().__init__()
    self.mlp = nn.Sequential(
      nn.Linear(in_dim, hidden_dim),
      nn.GELU(),
      nn.Linear(hidden_dim, hidden_dim),
      nn.GELU(),
      nn.Linear(hidden_dim, bottleneck_dim),
    )
    with warnings.catch_warnings():  # the code's (deprecated) weight_norm, kept for parity
      warnings.simplefilter("ignore", FutureWarning)
      self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
    self.last_layer.weight_g.data.fill_(1)
    self.last_layer.weight_g.requires_grad = False

  def forward(self, x):
    return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2))


def bench_mae(batch, steps, mask_ratio=0.6, distill=False):
  """ViT-S/16 MAE pre-training step at 224x224 (encoder 12 x 384 x 6 heads on the visible tokens,
  decoder 4 x 192 x 3 heads, pre-norm blocks with GELU, norm-pix MSE on removed patches, AdamW).

  ``distill``: the SD-MAE code's step (modeling_pretrain.py, loss.py). The decoder input is
  [visible + their positions, mask tokens + theirs] without un-shuffling; the pixel head reads the mask
  tokens; the two DINO heads read the encoder's visible tokens and the decoder's normed outputs at
  them, mean-pooled; loss 0.2 distill + 0.8 MSE (the code's p), teacher softmax at 0.04 after the
  centre, not detached; centre EMA 0.9 of the teacher probabilities."""
  p, n, d, dd = 16, 196, 384, 192

  def blocks(dim, heads, depth):
    layer = nn.TransformerEncoderLayer(
      dim,
      heads,
      4 * dim,
      dropout=0.0,
      activation="gelu",
      batch_first=True,
      norm_first=True,
      layer_norm_eps=1e-6,
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)

  patch = nn.Conv2d(3, d, p, p)
  enc, enc_norm = blocks(d, 6, 12), nn.LayerNorm(d, eps=1e-6)
  dec_embed, dec, dec_norm, pred = (
    nn.Linear(d, dd),
    blocks(dd, 3, 4),
    nn.LayerNorm(dd, eps=1e-6),
    nn.Linear(dd, p * p * 3),
  )
  mask_token = nn.Parameter(torch.zeros(1, 1, dd))
  pos, dpos = torch.randn(1, n, d) * 0.02, torch.randn(1, n, dd) * 0.02  # fixed tables, not trained
  mods = [patch, enc, enc_norm, dec_embed, dec, dec_norm, pred]
  if distill:
    enc_head, dec_head = DINOHead(d), DINOHead(dd)
    mods += [enc_head, dec_head]
    center = torch.zeros(1, 4096)
  opt = torch.optim.AdamW(
    [q for m in mods for q in m.parameters() if q.requires_grad] + [mask_token],
    1e-4,
    weight_decay=0.05,
  )
  x = torch.rand(batch, 3, 224, 224)
  keep = int(n * (1 - mask_ratio))
  target_all = x.reshape(batch, 3, 14, p, 14, p).permute(0, 2, 4, 3, 5, 1).reshape(batch, n, -1)

  def norm_pix(t):
    return (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()

  def encode():
    """Random masking, the encoder on the visible tokens: (normed tokens, the shuffle)."""
    t = patch(x).flatten(2).transpose(1, 2) + pos
    ids_shuffle = torch.argsort(torch.rand(batch, n), 1)
    vis = torch.gather(t, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    return enc_norm(enc(vis)), ids_shuffle

  def mae_step():
    z, ids_shuffle = encode()
    ids_restore = torch.argsort(ids_shuffle, 1)
    y = torch.cat([dec_embed(z), mask_token.expand(batch, n - keep, dd)], 1)
    y = torch.gather(y, 1, ids_restore[..., None].expand(-1, -1, dd)) + dpos
    out = pred(dec_norm(dec(y)))
    target = norm_pix(target_all)
    mask = torch.ones(batch, n)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ((((out - target) ** 2).mean(-1)) * mask).sum() / mask.sum()

  def sdmae_step():
    nonlocal center
    z, ids_shuffle = encode()
    ids_vis, ids_mask = ids_shuffle[:, :keep], ids_shuffle[:, keep:]
    student = enc_head(z).mean(1)
    take = lambda a, ids: torch.gather(
      a.expand(batch, -1, -1), 1, ids[..., None].expand(-1, -1, a.shape[-1])
    )
    y = torch.cat([dec_embed(z) + take(dpos, ids_vis), mask_token + take(dpos, ids_mask)], 1)
    h = dec(y)
    out = pred(dec_norm(h[:, keep:]))
    teacher_in = dec_head(dec_norm(h[:, :keep])).mean(1)
    mse = ((out - norm_pix(take(target_all, ids_mask))) ** 2).mean()
    teacher = F.softmax((teacher_in - center) / 0.04, dim=-1)
    distill = torch.sum(-teacher * F.log_softmax(student / 0.1, dim=-1), dim=-1).mean()
    with torch.no_grad():
      center = center * 0.9 + teacher.mean(0, keepdim=True) * 0.1
    return 0.2 * distill + 0.8 * mse

  def step():
    loss = sdmae_step() if distill else mae_step()
    opt.zero_grad()
    loss.backward()
    opt.step()

  for _ in range(2):
    step()
  t0 = time.perf_counter()
  for _ in range(steps):
    step()
  return {"train_steps_per_sec": steps / (time.perf_counter() - t0)}


if __name__ == "__main__":
  torch.manual_seed(0)
  # argparse: this runs under the torch interpreter (.venv-torch), which has no absl
  import argparse

  ap = argparse.ArgumentParser(description="PyTorch reference train steps for bench/*.py")
  ap.add_argument("what", choices=("xbdcnn", "mae", "sdmae", "slicedae"))
  ap.add_argument("--batch", type=int)
  ap.add_argument("--size", type=int, default=48)
  ap.add_argument("--steps", type=int)
  a = ap.parse_args()
  if a.what == "xbdcnn":
    r = bench_xbdcnn(a.batch or 8, a.size, a.steps or 30)
  elif a.what in ("mae", "sdmae"):
    r = bench_mae(a.batch or 8, a.steps or 5, distill=a.what == "sdmae")
  else:
    r = bench_slicedae(a.batch or 128, a.steps or 200)
  print(json.dumps({"torch": torch.__version__, **r}))
