"""Model-based case: random socket lifecycles checked step by step against a POSIX model."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    multiple,
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
from conformance.model import Model, Oracle, Sock


def lifecycle_machine(kit: Kit, oracle: Oracle) -> type[RuleBasedStateMachine]:
    """A state machine class whose steps run on ``kit``'s sockets and are judged by ``oracle``."""

    class SocketLifecycle(RuleBasedStateMachine):
        socks = Bundle("socks")

        def __init__(self) -> None:
            super().__init__()
            self.model = Model(oracle)
            self.real: dict[int, Socket] = {}

        def _step(self, what: str, allowed: frozenset[str], call: Callable[[], Any]) -> str:
            try:
                result = call()
            except OSError as exc:
                outcome = errno_name(exc)
            else:
                outcome = "eof" if result == b"" else "ok"
            assert outcome in allowed, (
                f"{what}: got {outcome}, expected one of {sorted(allowed)} [model]"
            )
            return outcome

        def _ready(self, s: Sock, allowed: frozenset[str]) -> None:
            # The model knows something is queued: wait for it with a deadline
            # instead of racing the loopback delivery.
            if allowed & {"ok", "eof"} and not s.closed:
                kit.readable(self.real[s.n], DEADLINE_S)

        @rule(target=socks, kind=st.sampled_from(["tcp", "udp"]))
        def socket(self, kind: str) -> Sock:
            s = self.model.new(kind)
            real = kit.socket("inet", "stream" if kind == "tcp" else "dgram")
            real.set_nonblocking(True)
            self.real[s.n] = real
            return s

        @rule(s=socks)
        def bind(self, s: Sock) -> None:
            allowed = self.model.bind(s)
            if allowed is not None:
                out = self._step(f"bind({s})", allowed,
                                 lambda: self.real[s.n].bind(("127.0.0.1", 0)))
                self.model.bound(s, out)

        @rule(s=socks)
        def listen(self, s: Sock) -> None:
            allowed = self.model.listen(s)
            if allowed is not None:
                out = self._step(f"listen({s})", allowed, lambda: self.real[s.n].listen(8))
                self.model.listened(s, out)

        @rule(s=socks, t=socks)
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

        @rule(target=socks, s=socks)
        def accept(self, s: Sock) -> Any:
            allowed = self.model.accept(s)
            if allowed is None:
                return multiple()
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
            return new if new is not None else multiple()

        @rule(s=socks, data=st.binary(min_size=1, max_size=8))
        def send(self, s: Sock, data: bytes) -> None:
            allowed = self.model.send(s)
            if allowed is not None:
                out = self._step(f"send({s}, {data!r})", allowed,
                                 lambda: self.real[s.n].send(data, _NOSIGNAL))
                self.model.sent(s, data, out)

        @rule(s=socks)
        def recv(self, s: Sock) -> None:
            allowed = self.model.recv(s)
            if allowed is None:
                return
            self._ready(s, allowed)
            got: list[bytes] = []

            def call() -> bytes:
                data = self.real[s.n].recv(65536)
                got.append(data)
                return data

            out = self._step(f"recv({s})", allowed, call)
            if out == "ok":
                expected = s.inbox[0] if s.kind == "udp" else s.tcp_bytes
                ok = got[0] == expected if s.kind == "udp" else expected.startswith(got[0])
                assert ok, f"recv({s}): got {got[0]!r}, expected {expected!r} [model]"
            self.model.received(s, out, got[0] if got else b"")

        @rule(s=socks)
        def shutdown(self, s: Sock) -> None:
            allowed = self.model.shutdown(s)
            if allowed is None:
                return
            out = self._step(f"shutdown({s}, SHUT_WR)", allowed,
                             lambda: self.real[s.n].shutdown("wr"))
            self.model.shut(s, out)

        @rule(s=socks)
        def close(self, s: Sock) -> None:
            if not s.closed:
                self.real[s.n].close()
                self.model.close(s)

        def teardown(self) -> None:
            for real in self.real.values():
                real.close()

    return SocketLifecycle


# Python ignores SIGPIPE already; the flag keeps the libc path just as safe.
_NOSIGNAL = ("MSG_NOSIGNAL",) if hasattr(socket, "MSG_NOSIGNAL") else ()


def run_lifecycle(kit: Kit, oracle: Oracle, examples: int = 30, steps: int = 12) -> dict[str, Any]:
    """Run the machine under the active profile; its outcome as an observation."""
    machine = lifecycle_machine(kit, oracle)
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
    return run_lifecycle(kit, Oracle(documented, platform))
