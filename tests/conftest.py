"""Top-level pytest setup: 4 simulated CPU devices, absl flags parsed (grain needs it)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

from absl import flags  # noqa: E402

flags.FLAGS.mark_as_parsed()
