"""The one exception type a user sees as a single line (see common.cli)."""


class UserError(Exception):
  """Bad input, config, workdir or environment.

  The message names the problem and the fix. Command lines print it as one ``error: ...`` line and exit
  with status 2; the traceback is shown only with ``--verbose`` or ``MEDJAX_VERBOSE=1``. It is
  deliberately not a ``ValueError``: absl and ml-collections wrap those with a traceback.
  """


class InputError(UserError, ValueError):
  """Bad input data (an image of the wrong kind, shape or values); also a ValueError for callers that
  catch those."""
