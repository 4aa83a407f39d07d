"""Namespace topologies: always torn down, traffic admitted only while they exist.

Teardown is shown from the outside: the helper process is gone (watched
through a pidfd, not a sleep), this process holds nothing of its namespaces,
and neither ``ip netns list`` nor ``ip -o link`` on the host changed. That
holds when the code using a topology raises midway, when a case fails, when
pytest-timeout interrupts a case, and when the test process dies outright.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import topology
from conformance.backends import Tracker, open_socket
from conformance.backends.guard import check_destination
from conformance.errors import UnsafeDestination
from conformance.topology import HOST, PEER, Topology, TopologyUnavailable

GONE_DEADLINE_S = 10.0


def _host_view() -> tuple[str, str]:
    ip = topology._find_ip() or "ip"
    netns = subprocess.run([ip, "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run([ip, "-o", "link"], capture_output=True, text=True).stdout
    return netns, links


def _gone(pid: int) -> bool:
    """Whether process ``pid`` ends within the deadline (its pidfd turns readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(GONE_DEADLINE_S * 1000))
    finally:
        os.close(fd)


def _held_here(inodes: set[int], pid: int | str = "self") -> list[str]:
    """Namespace references (thread namespaces, descriptors) this process (or ``pid``) has."""
    held = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        if os.stat(f"/proc/{pid}/task/{tid}/ns/net").st_ino in inodes:
            held.append(f"thread {tid}")
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if any(target == f"net:[{i}]" for i in inodes):
            held.append(f"fd {fd}")
    return held


@pytest.fixture
def host_view() -> Iterator[tuple[str, str]]:
    """The host's namespace names and links before the test; compared after it."""
    before = _host_view()
    yield before
    assert _host_view() == before, "a namespace name or a link outlived the topology"


def _build(peer: bool = True, shared: bool = False) -> Topology:
    try:
        return Topology(peer=peer, shared=shared)
    except TopologyUnavailable as exc:
        pytest.skip(f"no namespaces here: {exc}")


class _Owner:
    """What Topology.socket needs from a kit: a backend name and a tracker."""

    def __init__(self, backend: str = "python"):
        self.backend = backend
        self.tracker = Tracker()


def test_raising_midway_tears_everything_down(host_view):
    owner = _Owner()
    with pytest.raises(RuntimeError, match="midway"):
        with _build() as topo:
            pid, inodes = topo.helper_pid, set(topo.netns.values())
            s = topo.socket(owner, HOST, "inet", "dgram")
            s.bind((topology.ADDRESSES["host.a"], 0))
            owner.tracker.close_all()  # a socket would keep its namespace alive
            raise RuntimeError("midway")
    assert not topo.alive
    assert _gone(pid), f"namespace helper {pid} outlived the topology"
    assert not _held_here(inodes)


def test_a_shared_helper_ends_each_topology_on_close(host_view):
    """Topologies in the worker's one helper get their own namespaces, gone on close."""
    owner = _Owner()
    key = "net.ipv4.ip_local_port_range"
    with _build(peer=False, shared=True) as a, _build(peer=False, shared=True) as b, \
            _build(shared=True) as c:
        pid = a.helper_pid
        assert b.helper_pid == c.helper_pid == pid
        inodes = {a.netns[HOST], b.netns[HOST], *c.netns.values()}
        assert len(inodes) == 4, "every topology has namespaces of its own"
        assert a.sysctl(HOST, key, "40000 40009") == "40000 40009"
        assert b.sysctl(HOST, key) != "40000 40009"
        try:
            s = a.socket(owner, HOST, "inet", "stream")
            s.bind(("127.0.0.1", 0))  # lo is up in a loopback-only namespace
            assert 40000 <= s.getsockname()[1] <= 40009
            s = c.socket(owner, PEER, "inet", "dgram")
            s.bind((topology.ADDRESSES["peer.a"], 0))
        finally:
            owner.tracker.close_all()
        assert _held_here(inodes, pid), "the helper holds the live topologies' namespaces"
        b.close()
        assert not _held_here({b.netns[HOST]}, pid)
        assert _held_here({a.netns[HOST]}, pid)
    assert not _held_here(inodes, pid), "a closed topology's namespace outlived it"
    assert not _gone_now(pid), "the shared helper serves the next topology"
    with _build(peer=False, shared=True) as d:
        assert d.helper_pid == pid


def test_a_dead_shared_helper_is_replaced():
    with _build(peer=False, shared=True) as a:
        pid = a.helper_pid
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid)
        with pytest.raises(TopologyUnavailable):
            a.sysctl(HOST, "net.ipv4.ip_local_port_range")
    with _build(peer=False, shared=True) as b:
        assert b.helper_pid != pid and b.alive


def test_sockets_live_in_the_topology_not_the_host():
    owner = _Owner("libc")
    with _build() as topo:
        try:
            s = topo.socket(owner, PEER, "inet", "dgram")
            s.bind((topology.ADDRESSES["peer.a"], 0))  # no such address on the host
            with pytest.raises(OSError):
                host = open_socket("python", "inet", "dgram", owner.tracker)
                host.bind((topology.ADDRESSES["peer.a"], 0))
        finally:
            owner.tracker.close_all()


def test_sysctl_is_private_to_the_namespace():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        host_range = " ".join(f.read().split())
    with _build(peer=False) as topo:
        assert topo.sysctl(HOST, "net.ipv4.ip_local_port_range", "40000 40009") == "40000 40009"
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            assert " ".join(f.read().split()) == host_range


@pytest.mark.parametrize("backend", ["python", "libc"])
def test_guard_admits_namespace_prefixes_only_while_a_topology_exists(backend):
    dst = (topology.ADDRESSES["peer.a"], 9)
    with pytest.raises(UnsafeDestination):
        check_destination("inet", dst)
    tracker = Tracker()
    try:
        s = open_socket(backend, "inet", "dgram", tracker)
        with pytest.raises(UnsafeDestination):
            s.sendto(b"x", dst)
        with _build() as topo:
            check_destination("inet", dst)
            check_destination("inet", (topology.ADDRESSES["host.b"], 9))
            with pytest.raises(UnsafeDestination):
                check_destination("inet", ("192.0.2.1", 9))  # not a suite prefix
            # A host socket would leave through the host's default route.
            with pytest.raises(UnsafeDestination, match="not inside a suite namespace"):
                s.sendto(b"x", dst)
            owner = _Owner(backend)
            inside = topo.socket(owner, HOST, "inet", "dgram")
            try:
                inside.sendto(b"x", dst)
            finally:
                owner.tracker.close_all()
        with pytest.raises(UnsafeDestination):
            s.sendto(b"x", dst)
    finally:
        tracker.close_all()


def test_a_loopback_only_namespace_admits_no_prefix():
    with _build(peer=False):
        with pytest.raises(UnsafeDestination):
            check_destination("inet", (topology.ADDRESSES["peer.a"], 9))


def test_other_platforms_are_told_why(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(pytest.skip.Exception, match="only on Linux"):
        topology.open_or_skip()


def test_missing_iproute2_is_told_why(monkeypatch):
    monkeypatch.setattr(topology, "_find_ip", lambda: None)
    with pytest.raises(TopologyUnavailable, match="`ip` command was not found"):
        Topology()


@pytest.mark.parametrize("shared", [False, True])
def test_process_killed_outright_leaves_nothing(host_view, shared):
    """SIGKILL runs no finaliser: the helper still ends, on end-of-file of its stdin."""
    code = ("import json, sys; from conformance.topology import Topology\n"
            f"t = Topology(shared={shared}); Topology(peer=False, shared={shared})\n"
            "print(json.dumps([t.helper_pid, list(t.netns.values())]), "
            "flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        r, _, _ = select.select([proc.stdout], [], [], topology.BUILD_DEADLINE_S)
        line = proc.stdout.readline() if r else ""
        if not line:
            pytest.skip("no namespaces here: the child could not build a topology")
        pid, _ = json.loads(line)
        assert not _gone_now(pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert _gone(pid), f"namespace helper {pid} outlived its killed parent"


def _gone_now(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


INNER = '''
import json, pathlib, time
import pytest
from conformance.cases.test_nic import hosts  # the real session fixture

def record(hosts):
    pathlib.Path("topologies.jsonl").open("a").write(
        json.dumps([hosts.helper_pid, list(hosts.netns.values())]) + "\\n")

def test_raises_midway(hosts):
    record(hosts)
    raise RuntimeError("midway")

@pytest.mark.timeout(1, method="signal")
def test_hangs(hosts):
    record(hosts)
    time.sleep(30)  # stands in for a call that never returns
'''

INNER_DIES = '''
import json, pathlib, time
import pytest
from conformance.cases.test_nic import hosts

@pytest.mark.timeout(1, method="thread")  # pytest-timeout ends the whole process
def test_hangs(hosts):
    pathlib.Path("topologies.jsonl").write_text(
        json.dumps([hosts.helper_pid, list(hosts.netns.values())]) + "\\n")
    time.sleep(30)  # stands in for a call that never returns
'''


def _recorded(pytester: pytest.Pytester) -> list[tuple[int, list[int]]]:
    path = Path(pytester.path, "topologies.jsonl")
    if not path.exists():
        pytest.skip("no namespaces here: the inner session skipped its topology")
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


def test_failing_and_timed_out_cases_tear_down(pytester, host_view):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*RuntimeError: midway*", "*Timeout*"])
    recorded = _recorded(pytester)
    assert len({pid for pid, _ in recorded}) == 1, "one topology serves the session"
    for pid, _ in recorded:
        assert _gone(pid), f"namespace helper {pid} outlived the session"


def test_a_session_killed_by_timeout_leaves_nothing(pytester, host_view):
    pytester.makepyfile(test_inner=INNER_DIES)
    started = time.monotonic()
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert time.monotonic() - started < 20
    for pid, _ in _recorded(pytester):
        assert _gone(pid), f"namespace helper {pid} outlived its killed session"


SKIPPING = '''
import conformance.topology as t
t._find_ip = lambda: None  # as on a host without iproute2
'''


def test_cases_are_skipped_with_the_reason(pytester):
    pytester.makeconftest(SKIPPING)
    pytester.makepyfile(test_inner="from conformance.cases.test_nic import hosts, test_wildcard\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "--conformance-out", str(pytester.path / "out"))
    result.assert_outcomes(skipped=2)
    report = json.loads(next((pytester.path / "out").glob("*.json")).read_text())
    verdicts = {(r["id"], r["verdict"]) for r in report["results"]}
    assert verdicts == {("bind.nic.wildcard", "skipped")}
    assert all("`ip` command was not found" in r["message"] for r in report["results"])


def _fill_descriptor_table(leave_free: int) -> tuple[list[int], tuple[int, int]]:
    """Lower RLIMIT_NOFILE just above the descriptors in use and take every free
    slot but ``leave_free``; returns what to close and the limit to restore."""
    import resource

    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 8, saved[1]))
    taken: list[int] = []
    try:
        while True:
            taken.append(os.dup(0))
    except OSError:
        pass
    for _ in range(leave_free):
        os.close(taken.pop())
    return taken, saved


def test_a_socket_the_kernel_drops_for_a_full_descriptor_table_names_the_limit(monkeypatch):
    # Python 3.13 starts the helper with posix_spawn (no error pipe), so at a low
    # limit it starts where 3.11 ran out; the socket it then passes back found
    # no free slot, and the kernel dropped it (MSG_CTRUNC) instead of failing.
    import resource

    from conformance import limits
    from conformance.errors import EnvironmentLimit

    owner = _Owner("libc")
    with _build(peer=False) as topo:
        # One slot left: the request's own socket takes it, the passed one finds none.
        taken, saved = _fill_descriptor_table(leave_free=1)
        try:
            monkeypatch.setattr(limits, "_NOFILE_AT_START",
                                resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            with pytest.raises(EnvironmentLimit, match="descriptor limit"):
                topo.socket(owner, HOST, "inet", "dgram")
        finally:
            for fd in taken:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)
            owner.tracker.close_all()


@pytest.mark.parametrize(("err", "sent"), [("EMFILE", True), ("ENFILE", True), ("EPERM", False)])
def test_a_build_that_ran_out_of_descriptors_says_so_and_any_other_failure_skips(err, sent):
    import errno

    from conformance import nshelper

    failure = nshelper._failure(OSError(getattr(errno, err), "x"), "error", with_errno=False)
    assert failure.get("errno") == (err if sent else None)
    with pytest.raises(OSError if sent else TopologyUnavailable):
        topology._raise_failure(failure, failure["error"])
