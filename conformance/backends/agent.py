"""The ``agent`` backend: the Socket protocol, performed by the stack agent.

For stacks that cannot host Python (lwIP, a library; Winsock under Wine, a
Windows program) the calls are made by a small native program
(conformance/agent/agent.c) that reads one request per line and answers one
reply per line, running every call on a thread of its own. This module keeps
one agent per process, started on first use, and turns its replies back into
what the other backends give: return values, ``OSError`` with the errno name
(normalised by errnos.py, the stack's spelling kept), ``Unsupported`` for a
name the stack lacks.

Every request has a deadline. No reply in time is ``DeadlineExceeded`` (the
case's verdict is ``timeout``) and the agent, whose thread is still stuck in
the stack, is retired when the case ends. An agent that dies (a crash in the
stack) fails the request in flight with ``HarnessError`` (``error``); the
next case starts a fresh one. Calls on sockets of a retired or dead agent
close nothing and fail at once.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from conformance import deadlines, errnos
from conformance.backends import (
    FAMILY,
    KNOWN_FLAGS,
    KNOWN_OPTIONS,
    TYPE,
    Address,
    Flags,
    OptionValue,
    Tracker,
)
from conformance.backends.guard import check_destination
from conformance.child import ChildSkip, changed_here
from conformance.errors import DeadlineExceeded, HarnessError, Unsupported

# A call that should finish at once and has not after this long is hung. It
# is longer than any wait a case makes on a call it later unblocks itself
# (kit.DEADLINE_S, 10 s).
DEADLINE_S = 12.0
# Wine's first start in a new prefix creates the prefix (several seconds here).
START_DEADLINE_S = 120.0


class StackError(OSError):
    """An error the stack reported; ``raw_name`` is its own spelling (WSAEINVAL)."""

    def __init__(self, raw_name: str, call: str):
        name = errnos.normalise(raw_name)
        super().__init__(errnos.host_number(name), f"{call}: {raw_name}")
        self.raw_name = raw_name


class Agent:
    """One running stack agent and the requests waiting for its replies."""

    def __init__(self, build: str):
        from conformance import agent

        self.build = build
        self.pid = os.getpid()
        self._af_unix: bool | None = None
        self.stuck = False
        self.dead: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, list[Any]] = {}
        self._lock = threading.Lock()
        self._stderr: deque[str] = deque(maxlen=20)
        argv, env = agent.command(build)
        with agent.first_start(build):
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, start_new_session=True,
            )
            threading.Thread(target=self._read, daemon=True).start()
            threading.Thread(target=self._read_stderr, daemon=True).start()
            words = self.call("hello", deadline=START_DEADLINE_S)
        self.info = dict(w.split("=", 1) for w in words if "=" in w)
        self.errno_space = self.info.get("errno", "posix")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            head, _, rest = raw.decode("ascii", "replace").rstrip("\n").partition(" ")
            with self._lock:
                slot = self._pending.get(int(head)) if head.isdigit() else None
            if slot is not None:
                slot[1] = rest
                slot[0].set()
        rc = self.proc.wait()
        if rc < 0:
            self.dead = f"killed by signal {signal.Signals(-rc).name}"
        else:
            self.dead = f"exited with status {rc}"
        tail = " | ".join(self._stderr)
        if tail:
            self.dead += f" (stderr: {tail[-300:]})"
        with self._lock:
            for slot in self._pending.values():
                slot[0].set()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def call(self, op: str, *args: Any, deadline: float = DEADLINE_S) -> list[str]:
        """Send one request; the reply's words after ``ok``, or the matching exception."""
        # A case that changes this process (child.py: its limit, its user on one
        # thread, anything in a forked child) would miss the agent, another process.
        changed = "this is a forked child" if os.getpid() != self.pid else changed_here()
        if changed is not None:
            raise ChildSkip(f"the case changes this process ({changed}); the stack agent "
                            "is another process and does not share the change")
        if self.dead is not None:
            raise HarnessError(f"the {self.build} stack agent has died: {self.dead}")
        deadlines.before_wait()
        rid = next(self._ids)
        slot: list[Any] = [threading.Event(), None]
        with self._lock:
            self._pending[rid] = slot
        line = " ".join([str(rid), op, *map(str, args)]) + "\n"
        try:
            with self._lock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line.encode("ascii"))
                self.proc.stdin.flush()
            # The calling thread waits on a pipe while the call runs in the agent:
            # blocking proofs must not read this thread's system call.
            with deadlines.elsewhere():
                answered = slot[0].wait(deadline)
        except (BrokenPipeError, ValueError):
            answered = True
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        if not answered:
            self.stuck = True
            raise deadlines.missed(f"stack agent: {op} did not return within {deadline}s")
        reply = slot[1]
        if reply is None:
            self.proc.wait()
            raise HarnessError(f"the {self.build} stack agent died during {op}: "
                               f"{self.dead or 'its input closed'}")
        status, _, rest = reply.partition(" ")
        if rest.endswith(" sigpipe"):
            rest = rest.removesuffix(" sigpipe")
            global _sigpipes
            _sigpipes += 1
        if status == "ok":
            return [str(word) for word in rest.split()]
        if status == "err":
            raw = errnos.from_number(int(rest), self.errno_space)
            raise StackError(raw, op)
        if status == "unsupported":
            raise Unsupported(f"{self.build} stack: {rest}")
        raise HarnessError(f"the {self.build} stack agent sent {reply[:80]!r} for {op}")

    def has_af_unix(self) -> bool:
        """Whether the stack binds an AF_UNIX socket to a path (lwIP makes one and cannot)."""
        if self._af_unix is None:
            from conformance import tempdirs

            self._af_unix = False
            fd = self.call("socket", "unix", "stream")[0]
            try:
                with tempdirs.make("sc-") as d:
                    self.call("bind", fd, "unix", os.fsencode(os.path.join(d, "p")).hex(), 0)
                self._af_unix = True
            except (OSError, Unsupported):
                pass
            finally:
                self.call("close", fd)
        return self._af_unix

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


_agent: Agent | None = None
_agent_lock = threading.Lock()
# How many calls the stack answered with SIGPIPE raised at the agent's thread.
_sigpipes = 0


def sigpipes() -> int:
    """A count that grows with every call during which the agent's stack raised SIGPIPE."""
    return _sigpipes


def running(build: str) -> Agent:
    """This process's agent of ``build``, started (again) when there is none alive."""
    global _agent
    with _agent_lock:
        if _agent is not None and (_agent.dead is not None or _agent.build != build):
            _agent.stop()
            _agent = None
        if _agent is None:
            _agent = Agent(build)
        return _agent


def release() -> None:
    """At the end of a case: retire an agent that hung (its stuck thread stays in the stack)."""
    global _agent
    with _agent_lock:
        if _agent is not None and (_agent.stuck or _agent.dead is not None):
            _agent.stop()
            _agent = None


def _build() -> str:
    from conformance import stacks

    build = stacks.current().agent
    if build is None:
        raise Unsupported(f"stack {stacks.current().name} is not reached through the agent")
    return build


# Options whose value is a pair (backends/__init__.py, pack_option).
_PAIRS = {"SO_LINGER": "(on, seconds)", "SO_RCVTIMEO": "(seconds, microseconds)",
          "SO_SNDTIMEO": "(seconds, microseconds)"}


def _flags(flags: Flags) -> str:
    """Names only some manual documents reach the agent; a misspelt one is a harness error."""
    for name in flags:
        if name not in KNOWN_FLAGS:
            raise HarnessError(f"{name!r} is not a message flag any manual documents")
    return ",".join(flags) or "-"


def _option(name: str) -> str:
    if name not in KNOWN_OPTIONS:
        raise HarnessError(f"{name!r} is not a socket option any manual documents")
    return name


def _address(family: str, addr: Address) -> list[str]:
    if family == "unix":
        return ["unix", os.fsencode(addr).hex() or "-", "0"]
    return [family, str(addr[0]), str(int(addr[1]))]


def _unpack(words: Sequence[str]) -> tuple[Address | None, int]:
    """``<len> <family> <host> <port>`` -> (address, length)."""
    length, family, host, port = int(words[0]), words[1], words[2], int(words[3])
    if family in ("inet", "inet6"):
        return (host, port), length
    if family == "unix":
        return os.fsdecode(bytes.fromhex("" if host == "-" else host)), length
    if family.startswith("af"):
        return ("af", int(family[2:])), length
    return None, length


def _data(word: str) -> bytes:
    return b"" if word == "-" else bytes.fromhex(word)


class AgentSocket:
    backend = "agent"

    def __init__(self, agent: Agent, fd: int, family: str, type: str, tracker: Tracker):
        self._agent = agent
        self._fd = fd
        self.family = family
        self.type = type
        self._tracker = tracker

    @classmethod
    def create(cls, family: str, type: str, tracker: Tracker) -> AgentSocket:
        if family not in FAMILY or type not in TYPE:
            raise KeyError(family if family not in FAMILY else type)
        agent = running(_build())
        if family == "unix" and not agent.has_af_unix():
            raise Unsupported(f"{agent.build} stack: AF_UNIX sockets cannot be bound to a path")
        fd = int(agent.call("socket", family, type)[0])
        return cls(agent, fd, family, type, tracker)

    def _call(self, op: str, *args: Any, deadline: float = DEADLINE_S) -> list[str]:
        if self._fd < 0:
            raise StackError("EBADF", op)
        return self._agent.call(op, self._fd, *args, deadline=deadline)

    def fileno(self) -> int:
        """Never a descriptor of this process: a case that needs one is ``skipped``.

        The agent's descriptor lives in the agent (or in lwIP's own table). A
        case that hands fileno() to this process's select(), poll() or
        ioctl() observes the host, not this stack, so it cannot run here.
        """
        import pytest

        pytest.skip("the case inspects a descriptor of this process (select, poll, ioctl "
                    "or a signal on fileno()); the stack agent's sockets live in the agent")

    @property
    def descriptor(self) -> int:
        """The socket's number in its stack's own descriptor table."""
        return self._fd

    def bind(self, addr: Address) -> None:
        self._call("bind", *_address(self.family, addr))

    def bind_as(self, family: str, addr: Address) -> None:
        """bind() with an address of another family than the socket's own."""
        self._call("bind", *_address(family, addr))

    def listen(self, backlog: int = 16) -> None:
        self._call("listen", backlog)

    def accept(self) -> tuple[AgentSocket, Address]:
        words = self._call("accept")
        child = AgentSocket(self._agent, int(words[0]), self.family, self.type, self._tracker)
        self._tracker.add(child)
        return child, _unpack(words[1:])[0]

    def connect(self, addr: Address) -> None:
        check_destination(self.family, addr)
        self._call("connect", *_address(self.family, addr))

    def connect_unspec(self) -> None:
        self._call("connect_unspec")

    def send(self, data: bytes, flags: Flags = ()) -> int:
        return int(self._call("send", _flags(flags), data.hex() or "-")[0])

    def sendto(self, data: bytes, addr: Address | None, flags: Flags = ()) -> int:
        if addr is None:
            where = ["none", "-", "0"]
        else:
            check_destination(self.family, addr)
            where = _address(self.family, addr)
        return int(self._call("sendto", _flags(flags), *where, data.hex() or "-")[0])

    def recv(self, n: int, flags: Flags = ()) -> bytes:
        return _data(self._call("recv", n, _flags(flags))[1])

    def recvfrom(
        self, n: int, flags: Flags = (), *, want_address: bool = True
    ) -> tuple[bytes, Address | None]:
        words = self._call("recvfrom", n, _flags(flags), 1 if want_address else 0)
        return _data(words[1]), _unpack(words[2:])[0]

    def recvfrom_addrlen(self, n: int, flags: Flags = ()) -> tuple[bytes, Address | None, int]:
        """recvfrom() that also returns the address length the stack wrote back."""
        words = self._call("recvfrom", n, _flags(flags), 1)
        addr, length = _unpack(words[2:])
        return _data(words[1]), addr, length

    def recvmsg(self, n: int) -> tuple[bytes, bool]:
        words = self._call("recvmsg", n)
        return _data(words[1]), words[2] == "1"

    def getsockname(self) -> Address:
        return _unpack(self._call("getsockname"))[0]

    def getpeername(self) -> Address:
        return _unpack(self._call("getpeername"))[0]

    def shutdown(self, how: str) -> None:
        self._call("shutdown", how)

    def set_nonblocking(self, flag: bool) -> None:
        self._call("nonblock", 1 if flag else 0)

    def is_nonblocking(self) -> bool:
        return self._call("isnonblock")[0] == "1"

    def setsockopt(self, name: str, value: OptionValue) -> None:
        if name in _PAIRS:
            if not isinstance(value, tuple):
                raise HarnessError(f"{name} takes {_PAIRS[name]}")
            self._call("setsockopt", _option(name), *value)
            return
        if isinstance(value, tuple):
            raise HarnessError(f"{name} takes an int")
        self._call("setsockopt", _option(name), value)

    def getsockopt(self, name: str) -> int:
        return int(self._call("getsockopt", _option(name))[0])

    def close(self) -> None:
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        if self._agent.dead is not None or self._agent.stuck:
            return  # retired at the end of the case; its descriptors go with it
        try:
            self._agent.call("close", fd)
        except (OSError, DeadlineExceeded, HarnessError):
            pass  # like close(2) in the libc backend: the outcome is not an observation


def try_socket(family: int, type: int) -> None:
    """socket() with raw numbers (the host's, mapped to names where the stack has them)."""
    fam = {int(v): k for k, v in FAMILY.items()}.get(family, f"#{family}")
    typ = {int(v): k for k, v in TYPE.items()}.get(type, f"#{type}")
    agent = running(_build())
    fd = agent.call("socket", fam, typ)[0]
    agent.call("close", fd)


def wait(
    readers: Sequence[AgentSocket], writers: Sequence[AgentSocket], timeout: float
) -> tuple[list[AgentSocket], list[AgentSocket]]:
    """poll() in the stack: which of ``readers``/``writers`` are ready within ``timeout``.

    Readable and writable as select() reports them: an error or hang-up
    condition counts as readable (and an error as writable), since the next
    call then returns at once.
    """
    every = list(dict.fromkeys([*readers, *writers]))
    if not every:
        return [], []
    agent = every[0]._agent
    if any(s._agent is not agent for s in every):
        raise HarnessError("wait() over sockets of two different stack agents")
    want = [f"{s._fd}:{'r' if s in readers else ''}{'w' if s in writers else ''}"
            for s in every]
    words = agent.call("poll", int(timeout * 1000), *want, deadline=timeout + DEADLINE_S)
    events = {int(w.split(":")[0]): w.split(":")[1] for w in words}
    # Readiness as select() reports it; the letters are poll()'s revents.
    ready_r = [s for s in readers if set(events.get(s._fd, "")) & set("rhe")]
    ready_w = [s for s in writers if set(events.get(s._fd, "")) & set("we")]
    return ready_r, ready_w
