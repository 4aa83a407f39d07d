"""The socket stacks the suite can run against, and what each offers the cases.

A stack names the backends its instances use (the ``backend`` axis values a
report of it holds), the stack agent build that reaches it, if any, and
whether the suite's network-namespace topologies can hold its sockets.
``host``, ``gvisor`` and ``uml`` are the kernel's socket API, reached from
Python (``python``, ``libc``). ``lwip`` and ``wine`` cannot host Python: the
cases reach them through the stack agent (backend ``agent``), running in the
host's pytest; the host's python and libc instances would measure Linux, so
those stacks' reports do not hold them. ``agent-libc`` is the agent built
against the host's libc beside the libc backend: the agent's self-check.

The session's stack is set once by the plugin (:func:`use`) and read by the
kit, the agent backend, the topology and the ephemeral-range helper.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stack:
    name: str
    backends: tuple[str, ...]
    # The stack agent build (conformance/agent) that reaches this stack, or None.
    agent: str | None = None
    # Why the suite's namespace topologies cannot hold this stack's sockets; "" when they can.
    no_namespaces: str = ""
    # The ephemeral port range where the stack publishes it outside the host's
    # own sysctls: (first, last, where it is stated).
    port_range: tuple[int, int, str] | None = None
    # The per-case last-resort limit (pytest-timeout) when --timeout is not given.
    # An agent's instance may wait out several 12 s request deadlines, and the
    # first one in a worker starts the agent (a new Wine prefix takes 15 s or
    # more); a guard shorter than that has the watchdog kill a working worker.
    guard_s: float = 20.0
    # Whether an `error` result fails the run's job (report/judge.py). The
    # agent stacks are observed only: under -n auto a run could end with
    # instances left unreported while lwIP hung in a call (README, "lwIP and
    # Wine: the stack agent"); their errors are listed, a broken run still fails.
    gating: bool = True


_AGENT_NETNS = ("its sockets live in the stack agent ({}), which the suite's network-"
                "namespace topologies cannot enter")

STACKS = {
    "host": Stack("host", ("python", "libc")),
    "gvisor": Stack("gvisor", ("python", "libc")),
    "uml": Stack("uml", ("python", "libc")),
    "lwip": Stack(
        "lwip", ("agent",), agent="lwip",
        no_namespaces=_AGENT_NETNS.format("lwIP's own loopback interface"),
        # lwIP 2.1.3 src/core/tcp.c and udp.c define TCP_LOCAL_PORT_RANGE_START
        # 0xc000 and TCP_LOCAL_PORT_RANGE_END 0xffff unless lwipopts.h
        # overrides them; Debian's /usr/include/lwip/lwipopts.h does not.
        port_range=(0xC000, 0xFFFF, "lwIP 2.1.3 tcp.c/udp.c TCP_LOCAL_PORT_RANGE_START.."
                                    "TCP_LOCAL_PORT_RANGE_END (not overridden by Debian's "
                                    "lwipopts.h)"),
        guard_s=180.0,
        gating=False,
    ),
    "wine": Stack(
        "wine", ("agent",), agent="wine",
        no_namespaces=_AGENT_NETNS.format("a Windows program under Wine, in the host's "
                                          "namespace"),
        guard_s=180.0,
        gating=False,
    ),
    "agent-libc": Stack("agent-libc", ("agent", "libc"), agent="libc", guard_s=180.0),
}

_current = STACKS["host"]


def get(name: str) -> Stack:
    """The stack of that name; an unknown name is a stack like the host's."""
    return STACKS.get(name) or Stack(name, ("python", "libc"))


def use(name: str) -> Stack:
    """Make ``name`` the session's stack (the plugin does, once per session)."""
    global _current
    _current = get(name)
    return _current


def current() -> Stack:
    return _current
