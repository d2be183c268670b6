"""A small regression task on procedural data: the reference example of a Task, and the workload the
runtime's tests, the scaling tool and the demo train.

y = sin(x . w) for x ~ N(0, I_8); an MLP with dropout (so the step's rng matters) fits it.
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from common import data, runtime, trainer

DIM = 8
_W = np.random.default_rng(1234).normal(size=DIM).astype(np.float32) / np.sqrt(DIM)


def _example(rng: np.random.Generator) -> dict:
  x = rng.normal(size=DIM).astype(np.float32)
  return {"x": x, "y": np.sin(1.5 * x @ _W)[None].astype(np.float32)}


class MLP(nn.Module):
  width: int = 64
  depth: int = 2
  dropout: float = 0.1

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i in range(self.depth):
      x = nn.gelu(nn.Dense(self.width, name=f"dense_{i}")(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(1, name="head")(x), {}


def make_task(cfg) -> trainer.Task:
  model = MLP(width=cfg.model.width, depth=cfg.model.depth, dropout=cfg.model.dropout)
  test = [_example(np.random.default_rng([cfg.seed + 999, i])) for i in range(256)]
  test_x = np.stack([t["x"] for t in test])
  test_y = np.stack([t["y"] for t in test])

  def init(key, batch):
    return model.init(key, batch["x"])["params"], {}

  def loss(params, extra, batch, key):
    pred, _ = model.apply({"params": params}, batch["x"], train=True, rngs={"dropout": key})
    mse = jnp.mean((pred - batch["y"]) ** 2)
    return mse, ({"mse": mse}, extra)

  def train_data(cfg):
    src = data.ProceduralSource(_example, cfg.data.num_examples, seed=cfg.seed)
    return data.train_pipeline(
      src, global_batch=cfg.batch_size, seed=cfg.seed, **runtime.grain_read_options(cfg.data)
    )

  predict = jax.jit(lambda p, x: model.apply({"params": p}, x)[0])

  def evaluate(state, step):
    return {"mse": float(jnp.mean((predict(state.params, test_x) - test_y) ** 2))}

  def figures(state, workdir, step):
    import matplotlib.pyplot as plt

    from common import plotting

    pred = np.asarray(predict(state.params, test_x))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(test_y[:, 0], pred[:, 0], s=6)
    ax.plot([-1, 1], [-1, 1], "k--", lw=1)
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title(f"toy regression, step {step}")
    path = os.path.join(workdir, "figures", f"toy_{step:06d}.png")
    return [plotting.save_figure(fig, path, dpi=80)]

  return trainer.Task(
    init=init, loss=loss, train_data=train_data, evaluate=evaluate, figures=figures
  )
