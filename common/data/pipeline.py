"""grain pipelines over any random-access source.

Training: seeded shuffle, reshuffled each epoch -> deterministic map / random map (the rng of example i
depends only on seed and i) -> this process's rows of each global batch -> batch of
``global_batch / process_count``. Everything is index-based, so the iterator state is a tiny dict that
the checkpoint stores and a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grain
import jax
import numpy as np

__all__ = ["train_pipeline", "eval_batches"]


def train_pipeline(
  source,
  *,
  global_batch: int,
  seed: int,
  map_fn: Callable | None = None,
  random_map_fn: Callable | None = None,
  shuffle: bool = True,
  num_epochs: int | None = None,
  process_index: int | None = None,
  process_count: int | None = None,
  num_threads: int = 4,
  prefetch_batches: int = 8,
):
  """An endless (or ``num_epochs``) ``grain.IterDataset`` of this process's batches.

  The global stream of examples (shuffle, maps, random maps) does not depend on the number of
  processes: process p of P takes rows ``[p * B/P, (p + 1) * B/P)`` of every global batch of B, reading
  only those examples. So 2 processes x 2 devices see exactly the batches of 1 process x 4 devices.

  Args:
    source: anything with ``len`` and ``__getitem__``.
    global_batch: batch size over all processes.
    seed: shuffle and augmentation seed.
    map_fn: ``example -> example``.
    random_map_fn: ``(example, np.random.Generator) -> example`` (crops, flips, noise); the generator
      depends only on the seed and the example's position in the global stream.
    num_threads, prefetch_batches: host threads producing batches and how many batches run ahead.
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  if global_batch % pc:
    raise ValueError(f"batch_size {global_batch} is not divisible by the {pc} processes")
  if len(source) < global_batch and num_epochs is not None:
    raise ValueError(
      f"the source has {len(source)} examples, fewer than one batch of {global_batch}"
    )
  ds = grain.MapDataset.source(source)
  if shuffle:
    ds = ds.shuffle(seed=seed)  # reshuffled every epoch by the repeat below
  ds = ds.repeat(num_epochs)
  if map_fn is not None:
    ds = ds.map(map_fn)
  if random_map_fn is not None:
    ds = ds.random_map(random_map_fn, seed=seed + 1)
  local = global_batch // pc
  if pc > 1:
    glob = ds

    def pick(j):
      return glob[(j // local) * global_batch + pi * local + j % local]

    ds = grain.MapDataset.range(len(glob) // global_batch * local).map(pick)
  # grain's default ReadOptions (16 threads, 500 elements, here batches, prefetched) keep the host busy
  # producing hundreds of batches ahead, which starves evaluation and the step dispatch on small hosts
  opts = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch_batches)
  return ds.batch(local, drop_remainder=True).to_iter_dataset(opts)


def eval_batches(source, batch_size: int, map_fn: Callable | None = None) -> Iterator[dict]:
  """All examples once, in order, in batches padded to ``batch_size`` with a boolean ``mask`` key
  (so every batch has the same shape and compiles once)."""
  n = len(source)
  for start in range(0, n, batch_size):
    idx = list(range(start, min(start + batch_size, n)))
    items = [source[i] for i in idx]
    if map_fn is not None:
      items = [map_fn(x) for x in items]
    pad = batch_size - len(items)
    items = items + [items[-1]] * pad
    batch = jax.tree.map(lambda *xs: np.stack(xs), *items)
    batch["mask"] = np.arange(batch_size) < len(idx)
    yield batch
