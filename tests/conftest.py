"""Top-level pytest setup: 4 simulated CPU devices, absl flags parsed (grain needs it), and one JAX
compilation cache shared by this run's xdist workers and the CLI subprocesses they start.

Most end-to-end tests build a fresh trainer, whose jitted step is a new closure each time: the in-memory
cache misses on it, the persistent one (keyed on the lowered program) does not. The directory is made
fresh per run (the controller creates it before the workers start, and they and their subprocesses
inherit the variables), so no test reads a compilation from an earlier run or another checkout. A
``JAX_COMPILATION_CACHE_DIR`` set by the caller is used as it is and kept.

Most tests compile more than they run, so XLA:CPU's LLVM back end runs at optimization level 1 rather
than its default 2 (``--xla_backend_optimization_level``; XLA's own HLO passes, fusion included, are
unchanged): compiling takes about a fifth less time and the runs are as fast on these sizes. An
``XLA_FLAGS`` that sets the level already is kept.
"""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="medjax-jax-cache-")
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1"
  ).strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

from absl import flags  # noqa: E402

flags.FLAGS.mark_as_parsed()


def pytest_unconfigure(config):
  if (
    _OWN_CACHE
  ):  # the process that made the cache (the controller, or a run without xdist) removes it
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
