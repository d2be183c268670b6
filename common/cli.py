"""Command lines: every entry point is an ``absl.app`` program run through :func:`run`.

An entry point declares its flags at module level (``flags.DEFINE_*`` and, for a config file,
:func:`define_config`), then calls ``cli.run(main)``. What that adds to ``absl.app.run``:

- ``--help`` / ``-h`` print the module docstring and the program's own flags and exit 0, before
  anything else runs;
- a bad flag, an unknown flag, a bad ``--config`` or ``--config.x`` override, and any
  :class:`~common.errors.UserError` (or missing file, full disk, non-finite loss) end in one line
  ``error: ...`` with exit status 2. ``--verbose`` or ``MEDJAX_VERBOSE=1`` shows the traceback;
- library INFO logging (orbax, grain, absl) stays off unless ``--verbose``.

Flags are declared in the ``__main__`` module only; library modules never define flags, so any number
of them can be imported together (tests, the demo).
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from common.errors import UserError

__all__ = ["run", "define_config", "define_train_flags", "present", "check_only_flags", "verbose"]

# Flags defined by the helpers below belong to the module that calls them (the program), so ``--help``
# lists them.
flags.disclaim_key_flags()
FLAGS = flags.FLAGS

# Exceptions that describe the user's situation rather than a bug: printed as one line.
_ONE_LINE = (
  UserError,
  FileNotFoundError,
  IsADirectoryError,
  NotADirectoryError,
  PermissionError,
  FloatingPointError,
  KeyboardInterrupt,
)


def verbose() -> bool:
  if os.environ.get("MEDJAX_VERBOSE", "") not in ("", "0"):
    return True
  return "verbose" in FLAGS and FLAGS.is_parsed() and bool(FLAGS.verbose)


def define_config(default: str | None = None, help_text: str = "") -> flags.FlagHolder:
  """``--config=path[:arg]`` (ml-collections, locked) with its ``--config.a.b=value`` overrides."""
  try:
    # with a default, config_flags loads the file (and applies the --config.x overrides on sys.argv)
    # right here, before absl parses anything: its errors need the same one-line treatment.
    return config_flags.DEFINE_config_file(
      "config",
      default,
      help_text
      or "config file configs/<method>/<experiment>.py[:arg]; override "
      "fields with --config.a.b=value",
      lock_config=True,
    )
  except Exception as e:  # noqa: BLE001
    _exit_parse_error(e, sys.argv)


def config_path(rel: str) -> str:
  """``configs/<rel>`` of this checkout, whatever the current directory (for default ``--config`` values)."""
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", rel)


def define_train_flags() -> None:
  """The flags of a training program: --config, --workdir, --allow_config_change."""
  define_config()
  flags.DEFINE_string(
    "workdir", None, "run directory: checkpoints, metrics.jsonl, figures, config.json"
  )
  flags.DEFINE_list(
    "allow_config_change",
    [],
    "config keys that may differ from the workdir's saved "
    "config on resume (e.g. total_steps); any other difference refuses to start",
  )


def present(name: str) -> bool:
  """Whether ``--name`` was given on the command line."""
  return name in FLAGS and FLAGS[name].present > 0


def check_only_flags(allowed: Sequence[str], context: str) -> None:
  """Refuses flags of this program that ``context`` (a subcommand) does not read."""
  extra = [
    n
    for n in FLAGS.get_key_flags_for_module(sys.argv[0])
    if n.name not in allowed
    and n.name not in ("verbose", "help", "helpshort", "helpfull")
    and n.present
  ]
  if any(a.startswith("--config.") for a in sys.argv[1:]) and "config" not in allowed:
    raise UserError(f"{context} takes no --config overrides")
  if extra:
    raise UserError(
      f"{context} does not take --{extra[0].name}; its flags are "
      + ", ".join(f"--{a}" for a in allowed)
    )


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  if not lines:
    return type(e).__name__
  # config_flags wraps errors in a traceback text: its last line is the message.
  if lines[0].startswith("Error whilst parsing config file") or "Traceback" in text:
    return lines[-1]
  return lines[0] if len(lines[0]) > 20 or len(lines) == 1 else " ".join(lines[:2])


# outputs are renamed into place only when complete; training resumes from its last checkpoint
_AFTER_DISK_FULL = "free space and re-run (no output was left half-written under its final name)"


def describe(e: BaseException) -> str | None:
  """The one line for an exception that is the user's situation, or None for a bug."""
  if isinstance(e, KeyboardInterrupt):
    return "interrupted"
  if isinstance(e, OSError) and e.errno == errno.ENOSPC:
    return f"disk full{' writing ' + str(e.filename) if e.filename else ''}; {_AFTER_DISK_FULL}"
  if isinstance(e, _ONE_LINE):
    return _first_line(e)
  # orbax / tensorstore wrap a full disk in their own exception types
  if "No space left on device" in str(e) or "ENOSPC" in str(e):
    return f"disk full while writing; {_AFTER_DISK_FULL}"
  return None


def _parse(argv: list[str]) -> list[str]:
  flags.DEFINE_bool(
    "verbose", False, "show tracebacks and library INFO logs", module_name=sys.argv[0]
  )
  if any(a in ("-h", "--help", "-help", "--helpshort", "-?") for a in argv[1:]):
    app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
  if "--helpfull" in argv[1:]:
    app.usage(shorthelp=False, writeto_stdout=True, exitcode=0)
  try:
    rest = FLAGS(argv)
    if "config" in FLAGS and any(a.startswith("--config=") for a in argv[1:]):
      list(
        FLAGS.config.keys()
      )  # ml-collections loads the file lazily: its errors belong to the command line
    return rest
  except Exception as e:  # noqa: BLE001  (any parse failure is the command line's fault)
    _exit_parse_error(e, argv)


def _exit_parse_error(e: BaseException, argv) -> None:
  if os.environ.get("MEDJAX_VERBOSE", "") not in ("", "0") or "--verbose" in argv:
    traceback.print_exc()
  msg = _first_line(e)
  given = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")), None)
  if given is not None and not given.split(":")[0]:
    msg = "--config is empty; give configs/<method>/<experiment>.py[:arg]"
  elif given is not None and ("No such file" in str(e) or "Errno 2" in str(e)):
    msg = (
      f"--config: {given.split(':')[0]} does not exist; give configs/<method>/<experiment>.py[:arg]"
    )
  elif isinstance(e, flags.UnrecognizedFlagError) and e.flagname:
    msg = f"unknown flag --{e.flagname}{_flag_hint(e.flagname)}; see --help"
  elif isinstance(e, (KeyError, AttributeError)) and "Did you mean" in str(e):
    # ml-collections: 'num_stepz'\nDid you mean "num_steps" instead of "num_stepz"?
    text = str(e).replace("\\n", "\n").strip("'\"")
    key, _, hint = text.partition("\n")
    msg = f"unknown config key {key.strip(chr(39)).strip(chr(92)).strip(chr(39))}: {hint.strip()}"
  sys.stderr.write(f"error: {msg}\n")
  sys.exit(2)


def _flag_hint(name: str) -> str:
  import difflib

  names = [f.name for f in FLAGS.get_key_flags_for_module(sys.argv[0])]
  if name.startswith("config.") and "config" in names:
    return " (a --config.KEY override needs --config=configs/<method>/<experiment>.py[:arg] too)"
  close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
  if name.startswith(("cofig", "conf", "cnfig")) or "." in name:
    close = close or ["config." + name.split(".", 1)[-1]]
  return f" (did you mean --{close[0]}?)" if close and close[0] != name else ""


_default_unraisable = sys.unraisablehook


def _quiet_unraisable(args) -> None:
  # tensorstore's callbacks into orbax's closed event loop, after a failed checkpoint write
  if isinstance(args.exc_value, RuntimeError) and "Event loop is closed" in str(args.exc_value):
    return
  _default_unraisable(args)


def run(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> None:
  """``absl.app.run(main)`` with the behaviour in the module docstring."""

  def wrapped(args):
    absl_logging.set_verbosity(absl_logging.INFO if verbose() else absl_logging.WARNING)
    if not verbose():
      # Library loggers (orbax logs through absl) stay quiet: what matters reaches the main thread as
      # an exception and is reported below. asyncio reports orbax's failed background writes again.
      import logging

      for name in ("absl", "orbax", "jax", "grain", "tensorflow_datasets", "asyncio", "pydicom"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
      sys.unraisablehook = _quiet_unraisable
    try:
      return main(args)
    except SystemExit:
      raise
    except BaseException as e:  # noqa: BLE001
      line = describe(e)
      if line is None or verbose():
        raise
      sys.stderr.write(f"error: {line}\n")
      sys.stdout.flush()
      sys.stderr.flush()
      # Leave now: finished checkpoints are already renamed into place, and the interpreter's shutdown
      # would only add tracebacks from the background threads of the write that failed.
      os._exit(130 if isinstance(e, KeyboardInterrupt) else 2)

  app.run(wrapped, argv=list(argv) if argv is not None else None, flags_parser=_parse)


def train_main(argv: Sequence[str]) -> int:
  """The ``main`` of every training program (flags from :func:`define_train_flags`)."""
  if len(argv) > 1:
    raise UserError(f"unexpected argument {argv[1]!r}; training takes only flags (see --help)")
  if FLAGS.config is None:
    raise UserError("missing --config=configs/<method>/<experiment>.py[:arg]")
  if not FLAGS.workdir:
    raise UserError("missing --workdir=DIR (where checkpoints, metrics.jsonl and figures go)")
  from common import runtime, trainer

  cfg = FLAGS.config
  trainer.train(
    cfg, trainer.resolve_task(cfg), FLAGS.workdir, allow_config_change=FLAGS.allow_config_change
  )
  runtime.shutdown()
  return 0
