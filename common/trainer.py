"""The one training loop every method uses.

A method supplies a :class:`Task` (init, loss, data, and optional eval/figure hooks); the trainer does
the rest: mesh and shardings, abstract init (``eval_shape``) -> jitted init, a jitted donated step
``step(state, batch) -> (state, metrics)`` whose rng is ``fold_in(key, step)`` (so resuming needs no
saved rng and is bit-identical), the optimizer from ``cfg.optim``, logging, checkpoints and resume.

Config fields read here: seed, total_steps, batch_size (global), log_every, ckpt_every, keep_ckpts,
eval_every, figure_every, optim (see common.optim), and optionally distributed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from common import checkpoint as ckpt_lib
from common import logging as log_lib
from common import optim, runtime

__all__ = ["Task", "TrainState", "train", "make_train_step"]


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  extra: Any  # non-trained model state: batch statistics, DINO centers, ...


@dataclasses.dataclass
class Task:
  """What a method gives the trainer.

  Attributes:
    init: ``(key, global_batch) -> (params, extra)``.
    loss: ``(params, extra, batch, key) -> (loss, (metrics, new_extra))``; pure, jit-able.
    train_data: ``(cfg) -> grain.IterDataset`` of this process's batches (numpy pytrees).
    evaluate: ``(state, step) -> {name: scalar}``, run every ``cfg.eval_every`` steps and at the end.
    figures: ``(state, workdir, step) -> [png paths]`` on process 0, every ``cfg.figure_every`` steps.
    lr_scales: ``(abstract params) -> pytree of per-leaf lr multipliers`` (layer-wise lr decay).
    post_init: ``(params, extra) -> (params, extra)`` on host arrays after a fresh init (not after a
      resume), e.g. to load a pre-trained encoder without baking its weights into the init program.
  """
  init: Callable
  loss: Callable
  train_data: Callable
  evaluate: Optional[Callable] = None
  figures: Optional[Callable] = None
  lr_scales: Optional[Callable] = None
  post_init: Optional[Callable] = None


def make_train_step(task: Task, tx, schedule, seed: int):
  """The pure step ``(state, batch) -> (state, metrics)``."""
  base_key = jax.random.PRNGKey(seed)

  def step(state: TrainState, batch):
    key = jax.random.fold_in(base_key, state.step)

    def loss_fn(params):
      return task.loss(params, state.extra, batch, key)

    (loss, (metrics, extra)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, u: p + u, state.params, updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads), lr=schedule(state.step))
    return TrainState(state.step + 1, params, opt_state, extra), metrics

  return step


def _check_finite(step: int, metrics: dict, last_saved: int | None, ckpt_dir: str) -> dict:
  host = {k: float(np.asarray(v)) for k, v in metrics.items() if np.ndim(v) == 0}
  for k, v in host.items():
    if not math.isfinite(v):
      where = f"step {last_saved} in {ckpt_dir}" if last_saved is not None else "none yet"
      raise FloatingPointError(f"non-finite {k}={v} at step {step}; stopping. Last good checkpoint: {where}")
  return host


def _due(step: int, every: int, total: int) -> bool:
  return step == total or (every > 0 and step % every == 0)


def train(cfg, task: Task, workdir: str, *, verbose: bool = True) -> TrainState:
  """Trains ``task`` as ``cfg`` says, resuming from ``workdir`` if it holds checkpoints.

  Returns the final state (replicated global arrays).
  """
  runtime.initialize(cfg)
  mesh = runtime.make_mesh()
  main = runtime.is_main_process()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  total = int(cfg.total_steps)
  runtime.local_batch_size(int(cfg.batch_size))  # divisibility check with a clear message

  dataset = task.train_data(cfg)
  data_iter = iter(dataset)
  example = runtime.global_batch(mesh, next(iter(dataset)))  # a fresh iterator: data_iter is untouched

  key = jax.random.PRNGKey(int(cfg.seed))
  abstract_params = jax.eval_shape(task.init, key, example)[0]
  scales = task.lr_scales(abstract_params) if task.lr_scales else None
  tx, schedule = optim.make_optimizer(cfg.optim, total, scales)

  def init_state(key, batch):
    params, extra = task.init(key, batch)
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), extra)

  repl = runtime.replicated(mesh)
  abstract_state = jax.eval_shape(init_state, key, example)
  state_sharding = jax.tree.map(lambda _: repl, abstract_state)
  state = jax.jit(init_state, out_shardings=state_sharding)(key, example)
  del example
  if task.post_init is not None:
    params, extra = task.post_init(state.params, state.extra)
    state = jax.device_put(state.replace(params=params, extra=extra), state_sharding)

  ckpt_dir = os.path.join(workdir, "checkpoints")
  ckpt = ckpt_lib.Checkpointer(ckpt_dir, keep=int(cfg.get("keep_ckpts", 3)),
                               config=ckpt_lib.config_to_json(cfg))
  restored = ckpt.restore_latest(state, data_iter)
  start, last_saved = 0, None
  if restored is not None:
    state, start = restored
    last_saved = start
    if verbose and main:
      print(f"resumed from {ckpt_dir}/{start}", flush=True)

  writer = log_lib.MetricWriter(workdir, enabled=main, resume_step=start if restored else None)
  if main:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(ckpt_lib.config_to_json(cfg), f, indent=1)
  if start == 0:
    writer.write_hparams(ckpt_lib.config_to_json(cfg))
  progress = log_lib.Progress(total, int(cfg.batch_size), start, enabled=verbose and main)
  step_fn = jax.jit(make_train_step(task, tx, schedule, int(cfg.seed)), donate_argnums=(0,),
                    out_shardings=(state_sharding, repl))

  pending = None  # (step, metrics) of the step in flight, checked one step late to keep dispatch async
  try:
    for step in range(start, total):
      batch = runtime.global_batch(mesh, next(data_iter))
      state, metrics = step_fn(state, batch)
      if pending is not None:
        _check_finite(*pending, last_saved, ckpt_dir)
      pending = (step, metrics)
      done = step + 1
      log_now = _due(done, int(cfg.log_every), total)
      save_now = _due(done, int(cfg.ckpt_every), total)
      if log_now or save_now:
        host = _check_finite(*pending, last_saved, ckpt_dir)
        pending = None
        if log_now:
          progress.update(done, host)
          perf = {"perf/steps_per_sec": progress.rate, "perf/examples_per_sec": progress.rate * int(cfg.batch_size)}
          writer.write_scalars(done, {**host, **(perf if progress.rate == progress.rate else {})})
        if save_now:
          ckpt.save(done, state, data_iter)
          last_saved = done
      if task.evaluate and _due(done, int(cfg.get("eval_every", 0)), total):
        ev = task.evaluate(state, done)
        writer.write_scalars(done, {f"eval/{k}": v for k, v in ev.items()})
        if verbose and main:
          print(f"eval @ {done}: " + ", ".join(f"{k}={float(v):.5g}" for k, v in ev.items()), flush=True)
      if task.figures and main and _due(done, int(cfg.get("figure_every", 0)), total):
        task.figures(state, workdir, done)
    if pending is not None:
      _check_finite(*pending, last_saved, ckpt_dir)
  finally:
    ckpt.close()
    writer.close()
  return state
