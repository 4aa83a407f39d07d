"""socket-conformance: BSD-socket semantics, asserted against the stack it runs on.

Data flows one way: a case (cases/) exercises a backend and returns an
observation; the plugin looks up the platform's expectation and derives a
verdict; the report writer serializes verdicts; matrix and gate read reports.
"""

from conformance._version import __version__
from conformance.errors import (
    DeadlineExceeded,
    ExpectationError,
    HarnessError,
    ReportError,
    Unsupported,
    UsageError,
)

__all__ = [
    "DeadlineExceeded",
    "ExpectationError",
    "HarnessError",
    "ReportError",
    "Unsupported",
    "UsageError",
    "__version__",
]
