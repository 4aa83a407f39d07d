"""Model-based case: random socket lifecycles checked step by step against a POSIX model."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from conformance.api import (
    DEADLINE_S,
    Kit,
    Socket,
    case,
    check,
    errno_name,
    linux,
    posix,
    seed,
    settings_for,
)
from conformance.model import BACKLOG, Model, Oracle, Sock

Census = dict[str, dict[str, int]]
T = TypeVar("T")

CALLS = ("socket", "bind", "listen", "connect", "accept", "send", "recv", "shutdown", "close")


def lifecycle_machine(
    kit: Kit, oracle: Oracle, census: Census | None = None
) -> type[RuleBasedStateMachine]:
    """A state machine class whose steps run on ``kit``'s sockets and are judged by ``oracle``.

    Each program starts from a TCP listener with one accepted connection, a
    bound idle TCP socket and two bound UDP sockets, one connected to the
    other, so every call can
    succeed as well as fail within a short program; each has sent a few bytes.
    One rule draws the call, so each is equally likely (separate rules would
    let Hypothesis' swarm testing switch some off for a whole program), then
    its socket (see ``_pick``). Each step's outcome is counted in ``census``
    (call -> outcome -> steps).
    """
    counts: Census = {} if census is None else census

    class SocketLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = Model(oracle)
            self.real: dict[int, Socket] = {}

        def _count(self, call: str, outcome: str) -> None:
            per_call = counts.setdefault(call, {})
            per_call[outcome] = per_call.get(outcome, 0) + 1

        def _step(self, what: str, allowed: frozenset[str], call: Callable[[], Any]) -> str:
            try:
                result = call()
            except OSError as exc:
                outcome = errno_name(exc)
            else:
                outcome = "eof" if result == b"" else "ok"
            self._count(what.split("(", 1)[0], outcome)
            assert outcome in allowed, (
                f"{what}: got {outcome}, expected one of {sorted(allowed)} [model]"
            )
            return outcome

        def _ready(self, s: Sock, allowed: frozenset[str]) -> None:
            # The model knows something is queued: wait for it with a deadline
            # instead of racing the loopback delivery.
            if allowed & {"ok", "eof"} and not s.closed:
                kit.readable(self.real[s.n], DEADLINE_S)

        def _pick(self, data: st.DataObject, call: str, options: list[T],
                  predict: Callable[[T], frozenset[str] | None]) -> T | None:
            """One of ``options`` the model can judge, every predicted outcome equally likely.

            Options are grouped by the outcome set the model predicts for them; a
            group is drawn first, then a member, so the rare outcomes (a refused
            connect, a recv with data waiting) come up as often as the common ones.
            """
            groups: dict[tuple[str, ...], list[T]] = {}
            for option in options:
                predicted = predict(option)
                if predicted is not None:
                    groups.setdefault(tuple(sorted(predicted)), []).append(option)
            if not groups:
                return None
            # Successes first: Hypothesis leans towards small draws, and the
            # failures are the commoner groups anyway.
            keys = sorted(groups, key=lambda k: ("ok" not in k, k))
            key = keys[data.draw(st.integers(0, len(keys) - 1), label=f"{call}: outcome")]
            members = groups[key]
            return members[data.draw(st.integers(0, len(members) - 1), label=f"{call}: which")]

        @initialize()
        def connected_pairs(self) -> None:
            listener, client = self.socket("tcp"), self.socket("tcp")
            self.bind(listener)
            self.listen(listener)
            self.connect(client, listener)
            self.accept(listener)
            self.bind(self.socket("tcp"))  # bound, neither listening nor connected
            first, second = self.socket("udp"), self.socket("udp")
            self.bind(first)
            self.bind(second)
            self.connect(first, second)
            self._send(client, b"tcp")
            self._send(first, b"udp")

        @rule(call=st.sampled_from(CALLS), data=st.data())
        def step(self, call: str, data: st.DataObject) -> None:
            m = self.model
            if call == "socket":
                self.socket(data.draw(st.sampled_from(["tcp", "udp"]), label="socket: kind"))
            elif call == "connect":
                pair = self._pick(data, call, [(s, t) for s in m.socks for t in m.socks],
                                  lambda p: m.connect(*p))
                if pair is not None:
                    self.connect(*pair)
            elif call == "close":
                s = self._pick(data, call, m.socks,
                               lambda s: None if s.closed else frozenset({"ok"}))
                if s is not None:
                    self.close(s)
            else:
                s = self._pick(data, call, m.socks, getattr(m, call))
                if s is not None:
                    getattr(self, call)(s, data) if call == "send" else getattr(self, call)(s)

        def socket(self, kind: str) -> Sock:
            s = self.model.new(kind)
            real = kit.socket("inet", "stream" if kind == "tcp" else "dgram")
            real.set_nonblocking(True)
            self.real[s.n] = real
            self._count("socket", "ok")
            return s

        def bind(self, s: Sock) -> None:
            allowed = self.model.bind(s)
            if allowed is not None:
                out = self._step(f"bind({s})", allowed,
                                 lambda: self.real[s.n].bind(("127.0.0.1", 0)))
                self.model.bound(s, out)

        def listen(self, s: Sock) -> None:
            allowed = self.model.listen(s)
            if allowed is not None:
                out = self._step(f"listen({s})", allowed, lambda: self.real[s.n].listen(BACKLOG))
                self.model.listened(s, out)

        def connect(self, s: Sock, t: Sock) -> None:
            allowed = self.model.connect(s, t)
            if allowed is None:
                return
            # An autobound listener reports the wildcard address; loopback reaches it.
            real, addr = self.real[s.n], ("127.0.0.1", self.real[t.n].getsockname()[1])

            def call() -> None:
                # A blocking connect, so the outcome is the handshake's and not
                # EINPROGRESS; towards a listener with room, or a bound port with
                # no listener, loopback answers at once, and the deadline covers
                # a stack that does not.
                real.set_nonblocking(False)
                try:
                    kit.connect_within(real, addr)
                finally:
                    real.set_nonblocking(True)

            out = self._step(f"connect({s}, {t})", allowed, call)
            self.model.connected(s, t, out)

        def accept(self, s: Sock) -> None:
            allowed = self.model.accept(s)
            if allowed is None:
                return
            self._ready(s, allowed)
            got: list[Socket] = []
            out = self._step(f"accept({s})", allowed,
                             lambda: got.append(self.real[s.n].accept()[0]))
            new = None
            if got:
                new = self.model.new("tcp")
                got[0].set_nonblocking(True)
                self.real[new.n] = got[0]
            self.model.accepted(s, out, new)

        def send(self, s: Sock, data: st.DataObject) -> None:
            self._send(s, data.draw(st.binary(min_size=1, max_size=8), label="send: bytes"))

        def _send(self, s: Sock, payload: bytes) -> None:
            allowed = self.model.send(s)
            if allowed is None:
                return
            out = self._step(f"send({s}, {payload!r})", allowed,
                             lambda: self.real[s.n].send(payload, _NOSIGNAL))
            self.model.sent(s, payload, out)

        def recv(self, s: Sock) -> None:
            allowed = self.model.recv(s)
            if allowed is None:
                return
            self._ready(s, allowed)
            got: list[bytes] = []

            def call() -> bytes:
                received = self.real[s.n].recv(65536)
                got.append(received)
                return received

            out = self._step(f"recv({s})", allowed, call)
            if out == "ok":
                expected = s.inbox[0] if s.kind == "udp" else s.tcp_bytes
                ok = got[0] == expected if s.kind == "udp" else expected.startswith(got[0])
                assert ok, f"recv({s}): got {got[0]!r}, expected {expected!r} [model]"
            self.model.received(s, out, got[0] if got else b"")

        def shutdown(self, s: Sock) -> None:
            allowed = self.model.shutdown(s)
            if allowed is not None:
                out = self._step(f"shutdown({s}, SHUT_WR)", allowed,
                                 lambda: self.real[s.n].shutdown("wr"))
                self.model.shut(s, out)

        def close(self, s: Sock) -> None:
            self.real[s.n].close()
            self.model.close(s)
            self._count("close", "ok")

        def teardown(self) -> None:
            for real in self.real.values():
                real.close()

    return SocketLifecycle


# Python ignores SIGPIPE already; the flag keeps the libc path just as safe.
_NOSIGNAL = ("MSG_NOSIGNAL",) if hasattr(socket, "MSG_NOSIGNAL") else ()


def run_lifecycle(
    kit: Kit, oracle: Oracle, examples: int = 20, steps: int = 12,
    census: Census | None = None,
) -> dict[str, Any]:
    """Run the machine under the active profile; its outcome as an observation.

    ``census`` (call -> outcome -> steps), when given, is filled as the steps run.
    """
    machine = lifecycle_machine(kit, oracle, census)
    return check(lambda: run_state_machine_as_test(
        machine, settings=settings_for(examples, stateful_steps=steps)
    ))


@case(
    "state.socket_lifecycle",
    "any sequence of socket calls returns what the POSIX model and the platform's manual predict",
    cites=[
        seed("2-8", "what socket, bind, listen, connect, accept, send and recv each do"),
        seed("21", "the server and client call sequences"),
        posix("socket"), posix("listen"), posix("accept"), posix("send"), posix("recv"),
        linux("socket(7)"),
    ],
)
def test_socket_lifecycle(kit: Kit, expectations: Any) -> dict[str, Any]:
    """Every step of a random lifecycle returns an outcome the model allows."""
    documented, platform = expectations
    census: Census = {}
    observation = run_lifecycle(kit, Oracle(documented, platform), census=census)
    # Which calls ran with which outcomes: the evidence that the search reached
    # connect, accept and the data path, not only the error paths.
    kit.note(census={call: dict(sorted(outs.items())) for call, outs in sorted(census.items())})
    return observation
