"""One errno vocabulary: Winsock's and POSIX's spellings of one behaviour are one name."""

from __future__ import annotations

import errno

import pytest

from conformance import errnos, expectations
from conformance.backends.agent import StackError
from conformance.kit import Kit, errno_name


@pytest.mark.parametrize(("raw", "name"), [
    ("WSAEINVAL", "EINVAL"), ("WSAEWOULDBLOCK", "EAGAIN"), ("EWOULDBLOCK", "EAGAIN"),
    ("WSAECONNREFUSED", "ECONNREFUSED"), ("WSAEOPNOTSUPP", "EOPNOTSUPP"),
    ("ENOTSUP", "EOPNOTSUPP"), ("EAGAIN", "EAGAIN"),
    # No POSIX twin: Winsock's own name stays.
    ("WSAEPROCLIM", "WSAEPROCLIM"), ("WSANOTINITIALISED", "WSANOTINITIALISED"),
])
def test_spellings_of_one_behaviour_normalise_to_one_name(raw, name):
    assert errnos.normalise(raw) == name


def test_winsock_numbers_are_named_in_the_winsock_space():
    assert errnos.from_number(10022, "winsock") == "WSAEINVAL"
    assert errnos.from_number(10035, "winsock") == "WSAEWOULDBLOCK"
    assert errnos.from_number(errno.EINVAL, "posix") == "EINVAL"


def test_the_platform_spelling_is_kept_in_the_case_detail():
    from conformance.backends import Tracker

    kit = Kit("agent", Tracker())
    try:
        assert errno_name(StackError("WSAEWOULDBLOCK", "accept")) == "EAGAIN"
        assert errno_name(OSError(errno.EINVAL, "x")) == "EINVAL"
    finally:
        kit.close()
    assert kit.detail == {"errno_spellings": {"EAGAIN": "WSAEWOULDBLOCK"}}


def test_a_stack_error_carries_the_host_number_of_its_normalised_name():
    exc = StackError("WSAECONNRESET", "recv")
    assert exc.errno == errno.ECONNRESET and exc.raw_name == "WSAECONNRESET"


def test_expectations_spelt_the_platform_way_read_as_the_same_behaviour(tmp_path):
    (tmp_path / "windows.toml").write_text(
        '[["accept.not_listening"]]\naccept = [{ errno = "WSAEINVAL" }]\nsource = "Winsock"\n')
    (exp,) = expectations.load_all(tmp_path)["windows"].entries["accept.not_listening"]
    assert exp.accept == ({"errno": "EINVAL"},)
    assert exp.admits({"errno": "EINVAL"})
