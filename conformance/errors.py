"""The exception hierarchy.

What the stack did is never an exception here: a deviation is data (an
observation that matches no expectation). Exceptions are for the three other
things that can happen to a case, plus bad input at the CLI boundary:

- ``Unsupported``: the feature is absent on this platform (verdict ``unsupported``);
- ``DeadlineExceeded``: a blocking call did not return in time (``timeout``);
- ``HarnessError``: the harness itself broke (``error``);
- ``EnvironmentLimit``: the machine ran out of descriptors, memory or path
  length (``error``, the limit named; never an errno the stack returned).
"""


class ConformanceError(Exception):
    """Base of every exception this package raises on purpose."""


class Unsupported(ConformanceError):
    """The platform lacks the feature a case needs (no IPv6, no AF_UNIX, ...)."""


class DeadlineExceeded(ConformanceError):
    """A blocking call did not return within its deadline."""


class HarnessError(ConformanceError):
    """The harness broke: a bug in a case, a backend or the plugin."""


class EnvironmentLimit(ConformanceError):
    """The machine, not the stack, ran out: a descriptor limit, a path too long (limits.py)."""


class UnsafeDestination(HarnessError):
    """A case tried to send traffic somewhere other than loopback or a suite namespace."""


class UsageError(ConformanceError):
    """Bad input to a command; the CLI turns it into one line and exit 2."""


class ExpectationError(UsageError):
    """A malformed expectations file; the message names the file and line."""


class ReportError(UsageError):
    """A file that is not a valid report; the message names the file and field."""


class OutputError(UsageError):
    """An output that cannot or must not be written; the message says what was kept."""
