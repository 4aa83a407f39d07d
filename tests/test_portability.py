"""The platform-dependent code paths, exercised here with the platform shaped as elsewhere.

Windows has no fcntl and no socket.recvmsg, older Windows no AF_UNIX; the BSDs
and macOS lay out struct sockaddr with a length byte; only Linux has /proc.
Each test removes or reshapes one of these on Linux and checks that the suite
answers as it must there: ``unsupported`` for an absent feature, the right
bytes for the other ABI, a fallback proof, never an ``error`` or a crash.
"""

from __future__ import annotations

import builtins
import socket
import struct
import sys
import threading
from typing import Any

import pytest

from conformance import api
from conformance.backends import Tracker, libc, open_socket
from conformance.backends import python as pybackend
from conformance.errors import HarnessError, Unsupported


@pytest.fixture
def tracker():
    t = Tracker()
    yield t
    t.close_all()


@pytest.fixture
def no_fcntl(monkeypatch):
    """Import of fcntl fails, as on Windows."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "fcntl":
            raise ImportError("No module named 'fcntl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "fcntl", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_fcntl_reading_the_nonblocking_flag_is_unsupported(no_fcntl, tracker):
    s = open_socket("python", "inet", "stream", tracker)
    with pytest.raises(Unsupported, match="fcntl"):
        s.is_nonblocking()


def test_without_fcntl_the_libc_backend_cannot_set_nonblocking(no_fcntl, tracker):
    s = open_socket("libc", "inet", "stream", tracker)
    with pytest.raises(Unsupported, match="fcntl"):
        s.set_nonblocking(True)


def test_libc_fcntl_is_declared_with_its_fixed_arguments_only():
    # ctypes passes arguments beyond argtypes the variadic way; a third
    # declared argument would be passed as fixed, which Apple arm64 misreads.
    assert len(libc._lib().fcntl.argtypes) == 2


def test_libc_nonblocking_round_trip_through_the_variadic_call(tracker):
    s = open_socket("libc", "inet", "stream", tracker)
    s.set_nonblocking(True)
    assert s.is_nonblocking()
    s.set_nonblocking(False)
    assert not s.is_nonblocking()


def test_without_socket_recvmsg_recvmsg_is_unsupported(tracker):
    s = open_socket("python", "inet", "dgram", tracker)

    class WindowsShapedSocket:
        """Delegates to the real socket but has no recvmsg, as on Windows."""

        def __init__(self, real: socket.socket):
            self._real = real

        def __getattr__(self, name: str) -> Any:
            if name == "recvmsg":
                raise AttributeError(name)
            return getattr(self._real, name)

    assert isinstance(s, pybackend.PySocket)
    s._s = WindowsShapedSocket(s._s)  # type: ignore[assignment]
    with pytest.raises(Unsupported, match="recvmsg"):
        s.recvmsg(10)


def test_a_known_family_the_platform_lacks_is_unsupported(monkeypatch, tracker):
    from conformance import backends

    monkeypatch.setattr(backends, "FAMILY", {k: v for k, v in backends.FAMILY.items()
                                             if k != "unix"})
    with pytest.raises(Unsupported, match="unix"):
        open_socket("python", "unix", "stream", tracker)


@pytest.mark.parametrize(("family", "type"), [("inet", "strem"), ("inte", "stream")])
def test_a_misspelt_family_or_type_is_a_harness_error(family, type, tracker):
    with pytest.raises(HarnessError, match="unknown socket family/type"):
        open_socket("python", family, type, tracker)


@pytest.mark.parametrize(
    ("family", "addr", "length"),
    [("inet", ("127.0.0.1", 8080), 16), ("inet6", ("::1", 8080), 28),
     ("unix", "/tmp/sc-x", 2 + len("/tmp/sc-x") + 1)],
)
def test_bsd_sockaddr_layout_has_a_length_byte_and_a_one_byte_family(
    monkeypatch, family, addr, length
):
    monkeypatch.setattr(libc, "_BSD_SOCKADDR", True)
    raw = libc.pack_sockaddr(family, addr)
    sa_len, sa_family = struct.unpack_from("BB", raw)
    assert (sa_len, sa_family) == (length, libc.FAMILY[family])
    assert len(raw) == length
    assert libc.unpack_sockaddr(raw, len(raw)) == addr


@pytest.mark.parametrize("family, addr", [("inet", ("127.0.0.1", 8080)),
                                          ("inet6", ("::1", 8080))])
def test_linux_sockaddr_layout_has_a_two_byte_family(monkeypatch, family, addr):
    monkeypatch.setattr(libc, "_BSD_SOCKADDR", False)
    raw = libc.pack_sockaddr(family, addr)
    assert struct.unpack_from("=H", raw)[0] == libc.FAMILY[family]
    assert libc.unpack_sockaddr(raw, len(raw)) == addr


def test_without_proc_blocking_is_proven_with_a_timed_window(monkeypatch):
    real_open = builtins.open

    def no_proc(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    gate = threading.Event()
    call = api.BlockedCall(lambda: gate.wait(5)).start()
    try:
        proof = api.prove_blocked(call, "futex")
    finally:
        gate.set()
        call.wait(5)
    assert proof["blocked"] is True
    assert proof["method"].startswith("timed-window")


@pytest.fixture
def fresh_listing():
    from conformance import descriptors

    descriptors._listing_dir.cache_clear()
    yield descriptors
    descriptors._listing_dir.cache_clear()


def test_leak_check_finds_a_socket_when_dev_fd_shows_only_0_to_2(monkeypatch, fresh_listing):
    import os

    real_listdir = os.listdir

    def freebsd_without_fdescfs(path: Any) -> list[str]:
        if path == "/proc/self/fd":
            raise FileNotFoundError(2, "No such file or directory", path)
        if path == "/dev/fd":
            return ["0", "1", "2"]
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", freebsd_without_fdescfs)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        found = fresh_listing.socket_fds()
        assert found is not None and s.fileno() in found
    assert fresh_listing._listing_dir() is None  # the short listing was not trusted


def test_where_sockets_are_handles_the_leak_check_says_it_cannot_run(monkeypatch, fresh_listing):
    from conformance import probe

    monkeypatch.setattr(fresh_listing.os, "name", "nt")
    assert fresh_listing.socket_fds() is None
    assert probe._probe_leak_check() is False


def test_the_leak_check_runs_here():
    from conformance import probe

    assert probe._probe_leak_check() is True
