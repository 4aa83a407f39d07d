"""Option names and help texts, shared by ``addoption``/``addini`` and the CLI.

Precedence: command line > environment > ini > default. A bad value raises
``pytest.UsageError`` naming where it came from.
"""

from __future__ import annotations

OUT = ("--conformance-out", "conformance_out", "SOCKET_CONFORMANCE_OUT",
       "directory for the platform report (<platform-id>.json/.md/.html); "
       "setting it turns report writing on")
STACK = ("--conformance-stack", "conformance_stack", "SOCKET_CONFORMANCE_STACK",
         "name of the socket stack under test: host, gvisor, uml, lwip, wine (default host)")
EXPECTATIONS = ("--conformance-expectations", "conformance_expectations",
                "SOCKET_CONFORMANCE_EXPECTATIONS",
                "a directory of your own expectation TOML files (<family>.toml, "
                "<family>/*.toml), laid over the shipped ones: its entries for a case id "
                "replace the shipped entries for that id")
RERUNS = ("--conformance-reruns", "conformance_reruns", "SOCKET_CONFORMANCE_RERUNS",
          "run an instance whose result deviates, times out or errors up to N more times, "
          "until it passes or fails as the attempt before did; one that then passes is "
          "marked flaky (default 2)")

DEADLINE = ("--conformance-deadline", "conformance_deadline", "SOCKET_CONFORMANCE_DEADLINE",
            "stop the run after this many seconds and report what completed "
            "(default: no deadline)")

ALL = (OUT, STACK, EXPECTATIONS, RERUNS, DEADLINE)
# A switch only: the suite is on when it is given, or any option above is on the command line.
ACTIVE = ("--conformance", "conformance", "",
          "run this session as a socket-conformance suite (also switched on by any "
          "--conformance-* option or by collecting the shipped cases)")
