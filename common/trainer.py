"""The one training loop every method uses.

A method supplies a :class:`Task` (init, loss, data, and optional eval/figure hooks); the trainer does
the rest: mesh and shardings, abstract init (``eval_shape``) -> jitted init, a jitted donated step
``step(state, batch) -> (state, metrics)`` whose rng is ``fold_in(key, step)`` (so resuming needs no
saved rng and is bit-identical), the optimizer from ``cfg.optim``, logging, checkpoints and resume.

Config fields read here: seed, total_steps, batch_size (global), log_every, ckpt_every, keep_ckpts,
eval_every, figure_every, optim (see common.optim), distributed (common.runtime) and sharding (common.sharding).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from common import checkpoint as ckpt_lib
from common import config as config_lib
from common import logging as log_lib
from common import optim, runtime
from common import sharding as sharding_lib
from common import workdir as wd_lib
from common.errors import UserError

__all__ = ["Task", "TrainState", "train", "make_train_step", "resolve_task"]


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  extra: Any  # non-trained model state: batch statistics, DINO centers, ...


@dataclasses.dataclass
class Task:
  """What a method gives the trainer (and what its evaluation scripts read from a finished run).

  Attributes:
    init: ``(key, global_batch) -> (params, extra)``.
    loss: ``(params, extra, batch, key) -> (loss, (metrics, new_extra))``; pure, jit-able.
    train_data: ``(cfg) -> grain.IterDataset`` of this process's batches (numpy pytrees).
    evaluate: ``(state, step) -> {name: scalar}``, run every ``cfg.eval_every`` steps and at the end.
    figures: ``(state, workdir, step) -> [png paths]`` on process 0, every ``cfg.figure_every`` steps.
    lr_scales: ``(abstract params) -> pytree of per-leaf lr multipliers`` (layer-wise lr decay).
    post_init: ``(params, extra) -> (params, extra)`` on host arrays after a fresh init (not after a
      resume), e.g. to load a pre-trained encoder without baking its weights into the init program.
    reconstruct: ``(params, images) -> (masked, reconstruction)`` for figures of finished runs (MAE).
    fid: ``(state) -> float``, the Frechet Inception distance of the model's samples (generative models).
    compiler_options: XLA options of the jitted train step (``runtime.conv_compiler_options()`` for
      convolution-heavy steps on XLA:CPU).
  """

  init: Callable
  loss: Callable
  train_data: Callable
  evaluate: Callable | None = None
  figures: Callable | None = None
  lr_scales: Callable | None = None
  post_init: Callable | None = None
  reconstruct: Callable | None = None
  fid: Callable | None = None
  compiler_options: dict | None = None


def resolve_task(cfg) -> Task:
  """The :class:`Task` of ``cfg.task`` (``"module:factory"``, the factory called with ``cfg``)."""
  module, _, fn = cfg.task.partition(":")
  return getattr(importlib.import_module(module), fn)(cfg)


def make_train_step(task: Task, tx, schedule, seed: int):
  """The pure step ``(state, batch) -> (state, metrics)``."""
  base_key = jax.random.PRNGKey(seed)

  def step(state: TrainState, batch):
    key = jax.random.fold_in(base_key, state.step)

    def loss_fn(params):
      return task.loss(params, state.extra, batch, key)

    (loss, (metrics, extra)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    with jax.named_scope("optimizer"):
      updates, opt_state = tx.update(grads, state.opt_state, state.params)
      params = jax.tree.map(lambda p, u: p + u, state.params, updates)
    with jax.named_scope("norms"):
      metrics = dict(
        metrics,
        loss=loss,
        grad_norm=optax.tree.norm(grads),
        param_norm=optax.tree.norm(params),
        update_norm=optax.tree.norm(updates),
        lr=schedule(state.step),
      )
    return TrainState(state.step + 1, params, opt_state, extra), metrics

  return step


def _check_finite(done: int, metrics: dict, last_saved: int | None, ckpt_dir: str) -> dict:
  """``done``: the step count after the update (1-based, as checkpoint numbers are)."""
  host = {k: float(np.asarray(v)) for k, v in metrics.items() if np.ndim(v) == 0}
  for k, v in host.items():
    if not math.isfinite(v):
      where = f"{ckpt_dir}/{last_saved}" if last_saved is not None else "none yet"
      raise FloatingPointError(
        f"non-finite {k}={v} at step {done} (counted from 1, as checkpoints are); "
        f"stopping. Last good checkpoint: {where}"
      )
  return host


def _perf(rate: float, batch_size: int, stats: dict, peak: float | None) -> dict:
  """Throughput at a log step: steps and examples per second, achieved TFLOP/s per device, MFU."""
  if not rate == rate:  # no interval measured yet
    return {}
  out = {"perf/steps_per_sec": rate, "perf/examples_per_sec": rate * batch_size}
  flops = stats.get("flops", float("nan"))
  if flops == flops:
    out["perf/tflops_per_sec_per_device"] = flops * rate / 1e12
    if peak:
      out["perf/mfu"] = flops * rate / peak
  mem = runtime.device_memory_peak()
  if mem is not None:
    out["perf/device_peak_bytes"] = float(mem)
  return out


def _due(step: int, every: int, total: int) -> bool:
  return step == total or (every > 0 and step % every == 0)


def _check_workdir_config(workdir: str, current: dict, allowed) -> dict | None:
  """A workdir belongs to one run: refuse a config that differs from the one it was started with.
  Returns that saved config (None for a new workdir)."""
  path = os.path.join(workdir, "config.json")
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError):
    saved = None
  if not isinstance(saved, dict) or not saved:
    # config.json missing, empty or cut: the checkpoints' own record of the config they were trained with
    saved = ckpt_lib.saved_config(os.path.join(workdir, "checkpoints"))
    if not saved:
      return None  # no checkpoint either: nothing to protect yet
  # ``distributed`` says how a run is launched (process ids differ per process), not what it computes.
  keys = config_lib.diff(saved, current, allowed=("distributed", *allowed))

  if keys:
    flat_old, flat_new = config_lib.flatten(saved), config_lib.flatten(current)
    shown = "; ".join(
      f"{k}: {flat_old.get(k, '<missing>')!r} -> {flat_new.get(k, '<missing>')!r}" for k in keys[:4]
    )
    more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
    raise UserError(
      f"workdir {workdir} holds a run with another config ({shown}{more}); start a new --workdir, "
      f"or pass --allow_config_change={','.join(keys)} if that change is intended"
    )
  return saved


def train(
  cfg, task: Task, workdir: str, *, verbose: bool = True, allow_config_change=()
) -> TrainState:
  """Trains ``task`` as ``cfg`` says, resuming from ``workdir`` if it holds checkpoints.

  Resume order: the newest readable checkpoint in ``workdir`` (its config must equal ``cfg`` except for
  ``allow_config_change`` keys), else a fresh init (then ``task.post_init``). One process at a time
  owns a workdir (``common.workdir.Lock``). At a step where several things are due, metrics, evaluation
  and figures are written before the checkpoint, so a kill never loses work that the resumed run
  would not redo.

  Returns the final state (global arrays, placed as ``cfg.sharding`` says).
  """
  config_lib.check(cfg)
  runtime.initialize(cfg)
  runtime.local_batch_size(
    int(cfg.batch_size)
  )  # divisibility by the devices, before the workdir is made
  main = runtime.is_main_process()
  workdir = os.path.abspath(workdir)
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"--workdir={workdir} is a file; give a folder")
  os.makedirs(workdir, exist_ok=True)
  cfg_json = ckpt_lib.config_to_json(cfg)
  saved = _check_workdir_config(workdir, cfg_json, allow_config_change)
  saved_total = int(saved["total_steps"]) if saved and "total_steps" in saved else None
  lock = wd_lib.Lock(workdir) if main else None
  try:
    return _train(cfg, task, workdir, cfg_json, verbose=verbose, main=main, saved_total=saved_total)
  finally:
    if lock is not None:
      lock.release()


def _train(
  cfg,
  task: Task,
  workdir: str,
  cfg_json: dict,
  *,
  verbose: bool,
  main: bool,
  saved_total: int | None = None,
) -> TrainState:
  mesh = sharding_lib.make_mesh(cfg.sharding)
  if verbose and main:
    print(runtime.platform_summary(mesh), flush=True)
  total = int(cfg.total_steps)

  dataset = task.train_data(cfg)
  data_iter = iter(dataset)
  example = runtime.global_batch(
    mesh, next(iter(dataset))
  )  # a fresh iterator: data_iter is untouched

  key = jax.random.PRNGKey(int(cfg.seed))
  abstract_params = jax.eval_shape(task.init, key, example)[0]
  scales = task.lr_scales(abstract_params) if task.lr_scales else None
  tx, schedule = optim.make_optimizer(cfg.optim, total, scales, batch_size=int(cfg.batch_size))

  def init_state(key, batch):
    params, extra = task.init(key, batch)
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), extra)

  repl = runtime.replicated(mesh)
  abstract_state = jax.eval_shape(init_state, key, example)
  # FSDP: large leaves of params and optimizer state split over 'fsdp'; replicated when fsdp=1
  state_sharding = sharding_lib.state_shardings(abstract_state, mesh, cfg.sharding)
  state = jax.jit(init_state, out_shardings=state_sharding)(key, example)
  batch_struct = jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), example
  )
  del example

  ckpt_dir = os.path.join(workdir, "checkpoints")
  ckpt = ckpt_lib.Checkpointer(ckpt_dir, keep=int(cfg.keep_ckpts), config=cfg_json)
  restored = ckpt.restore_latest(state, data_iter)
  start, last_saved = 0, None
  if restored is not None:
    state, start = restored
    last_saved = start
    if start > total:
      ckpt.close()
      raise UserError(
        f"workdir {workdir} is at step {start}, past total_steps={total}: nothing to train; "
        f"give --config.total_steps >= {start}, or start a new --workdir"
      )
    if verbose and main:
      print(f"resumed from {ckpt_dir}/{start}", flush=True)
    if saved_total is not None and saved_total != total and main:
      _, old_schedule = optim.make_optimizer(
        cfg.optim, saved_total, scales, batch_size=int(cfg.batch_size)
      )
      print(
        f"note: total_steps {saved_total} -> {total}: the learning-rate schedule ({cfg.optim.get('schedule')}) "
        f"now spans {total} steps; at step {start} the rate is {float(schedule(start)):.4g} "
        f"(it was {float(old_schedule(start)):.4g})",
        flush=True,
      )
  elif task.post_init is not None:
    params, extra = task.post_init(state.params, state.extra)
    state = jax.device_put(state.replace(params=params, extra=extra), state_sharding)

  # metrics.jsonl keeps only rows the restored state has seen (none for a fresh start), so every row
  # is written once even when a run restarts.
  writer = log_lib.MetricWriter(workdir, enabled=main, resume_step=start)
  if main:
    wd_lib.write_json_atomic(os.path.join(workdir, "config.json"), cfg_json)
  if start == 0:
    writer.write_hparams(cfg_json)
  progress = log_lib.Progress(total, int(cfg.batch_size), start, enabled=verbose and main)
  step_fn = jax.jit(
    make_train_step(task, tx, schedule, int(cfg.seed)),
    donate_argnums=(0,),
    out_shardings=(state_sharding, repl),
    compiler_options=task.compiler_options,
  )
  # Compiled ahead of time, once: the FLOPs and bytes below are those of the executable that runs (XLA's
  # cost and memory analyses of the partitioned program: one device's share).
  step_fn = step_fn.lower(state, batch_struct).compile()
  stats = runtime.compiled_stats(step_fn)
  peak = runtime.peak_flops_per_device()
  if main:
    wd_lib.write_json_atomic(
      os.path.join(workdir, "perf.json"),
      {
        "platform": runtime.platform_summary(mesh),
        "device_kind": jax.devices()[0].device_kind,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "mesh": dict(zip(mesh.axis_names, (int(s) for s in mesh.devices.shape))),
        "step_flops_per_device": stats.get("flops"),
        "peak_flops_per_device": peak,
        "memory_bytes_per_device": {k: v for k, v in stats.items() if k.endswith("bytes")},
      },
    )

  pending = (
    None  # (done, metrics) of the step in flight, checked one step late to keep dispatch async
  )
  try:
    for step in range(start, total):
      batch = runtime.global_batch(mesh, next(data_iter))
      state, metrics = step_fn(state, batch)
      if pending is not None:
        _check_finite(*pending, last_saved, ckpt_dir)
      done = step + 1
      pending = (done, metrics)
      log_now = _due(done, int(cfg.log_every), total)
      save_now = _due(done, int(cfg.ckpt_every), total)
      eval_now = task.evaluate is not None and _due(done, int(cfg.eval_every), total)
      fig_now = task.figures is not None and _due(done, int(cfg.figure_every), total)
      if log_now or save_now or eval_now or fig_now:
        host = _check_finite(*pending, last_saved, ckpt_dir)
        pending = None
        if log_now:
          progress.update(done, host)
          writer.write_scalars(
            done, {**host, **_perf(progress.rate, int(cfg.batch_size), stats, peak)}
          )
        if eval_now:
          ev = task.evaluate(state, done)
          writer.write_scalars(done, {f"eval/{k}": v for k, v in ev.items()})
          if verbose and main:
            print(
              f"eval @ {done}: " + ", ".join(f"{k}={float(v):.5g}" for k, v in ev.items()),
              flush=True,
            )
        if fig_now:
          # figures run on process 0 only: with the state split over processes (fsdp), a program over it
          # there alone would wait for the others' shards forever. Every process gathers a replicated
          # copy first (an all-gather they all join); process 0 then computes on its own devices.
          fig_state = state
          if jax.process_count() > 1 and not all(
            x.sharding.is_fully_replicated for x in jax.tree.leaves(state)
          ):
            fig_state = jax.device_put(state, jax.tree.map(lambda _: repl, state))
          if main:
            task.figures(fig_state, workdir, done)
        if save_now:  # last: everything due at this step is already written
          writer.flush()  # TensorBoard's points up to this checkpoint are on disk before it
          ckpt.save(done, state, data_iter)
          last_saved = done
    if pending is not None:
      _check_finite(*pending, last_saved, ckpt_dir)
  finally:
    ckpt.close()
    writer.close()
  return state
