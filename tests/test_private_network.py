"""Sockets bound to the wildcard address live in a private network namespace
(issue 17 item 8).

listen() on an unbound socket and the implicit bind of connect() or sendto()
on an unbound UDP socket bind the wildcard address: in the host's namespace
the port is reachable from the network while the socket is open. Those cases
call ``kit.private_network()``; where the platform can make a namespace their
sockets are made inside one, and only there.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

import pytest

from conformance import kit as kit_module
from conformance import topology
from conformance.backends import Tracker
from conformance.kit import Kit

# <linux/sockios.h>: a descriptor for the network namespace a socket lives in.
SIOCGSKNS = 0x894C
WILDCARD_CASES = ("listen.unbound.autobind", "connect.udp.implicit_bind",
                  "udp.unconnected.sendto_autobind")


def _namespace_of(fd: int) -> int:
    ns = fcntl.ioctl(fd, SIOCGSKNS)
    try:
        return os.fstat(ns).st_ino
    finally:
        os.close(ns)


@pytest.fixture
def private_kit():
    kit = Kit("python", Tracker())
    if not kit.private_network():
        kit.close()
        pytest.skip(f"no private network namespace here: {kit.detail['netns']}")
    yield kit
    kit.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCGSKNS is Linux's")
@pytest.mark.parametrize("backend", ["python", "libc"])
def test_unbound_listener_lives_outside_the_host_namespace(private_kit, backend):
    s = private_kit.socket("inet", "stream", backend=backend)
    s.listen(1)
    assert s.getsockname()[0] == "0.0.0.0" and s.getsockname()[1] != 0
    assert _namespace_of(s.fileno()) != os.stat("/proc/self/ns/net").st_ino


def test_private_namespace_keeps_the_host_ephemeral_range(private_kit):
    from conformance.ephemeral import port_range

    lo, hi, _ = port_range()
    s = private_kit.socket("inet", "dgram")
    s.sendto(b"x", ("127.0.0.1", 9))
    assert lo <= s.getsockname()[1] <= hi


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCGSKNS is Linux's")
def test_cases_share_one_private_namespace_and_find_nothing_of_the_case_before(private_kit):
    first = private_kit.socket("inet", "stream")
    first.bind(("0.0.0.0", 0))
    port, namespace = first.getsockname()[1], _namespace_of(first.fileno())
    private_kit.close()
    after = Kit("python", Tracker())
    try:
        assert after.private_network()
        second = after.socket("inet", "stream")
        assert _namespace_of(second.fileno()) == namespace
        second.bind(("0.0.0.0", port))  # the first case's socket is gone with its kit
    finally:
        after.close()


def test_without_a_namespace_the_kit_says_why_and_stays_in_the_host(monkeypatch):
    def unavailable(**kwargs):
        raise topology.TopologyUnavailable("no privilege for namespaces")

    monkeypatch.setattr(topology, "Topology", unavailable)
    monkeypatch.setattr(kit_module, "_private", None)
    kit = Kit("python", Tracker())
    try:
        assert kit.private_network() is False
        assert kit.detail["netns"] == "host: no privilege for namespaces"
        assert kit.socket("inet", "dgram") is not None
    finally:
        kit.close()


def test_wildcard_binding_cases_run_in_a_private_namespace(tmp_path):
    probe = Kit("python", Tracker())
    available = probe.private_network()
    probe.close()
    if not available:
        pytest.skip(f"no private network namespace here: {probe.detail['netns']}")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "-q", "--out", str(out),
                           "-k", "unbound_autobind or implicit_bind or sendto_autobind"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("*.json")
    results = [r for r in json.loads(path.read_text())["results"] if r["id"] in WILDCARD_CASES]
    assert {r["id"] for r in results} == set(WILDCARD_CASES)
    for r in results:
        assert r["detail"]["netns"] == "private", (r["id"], r["params"], r["detail"])
