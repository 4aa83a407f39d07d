"""The leak check's descriptor snapshots: what is open, and which sockets are new."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from conformance import descriptors

pytestmark = pytest.mark.skipif(not descriptors.can_list(), reason="descriptors are handles here")


def test_a_socket_left_at_the_lowest_free_number_is_new():
    # The snapshot's own listing used that number; it must not count as open.
    before = descriptors.open_fds()
    assert before is not None
    lowest = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert s.fileno() == lowest
        assert descriptors.new_sockets(before) == {s.fileno()}


def test_sockets_open_before_and_descriptors_of_other_kinds_are_not_new():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as kept:
        before = descriptors.open_fds()
        assert before is not None and kept.fileno() in before
        r, w = os.pipe()
        try:
            assert descriptors.new_sockets(before) == set()
        finally:
            os.close(r)
            os.close(w)


def test_a_socket_closed_again_is_not_new():
    before = descriptors.open_fds()
    assert before is not None
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    assert descriptors.new_sockets(before) == set()


def test_queue_length_of_a_socket_the_harness_closed_is_a_fault_not_unsupported():
    from conformance.kit import Kit

    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    closed = type("Closed", (), {"fileno": lambda self: fd})()
    with pytest.raises(OSError) as raised:
        Kit.queued(closed)
    assert raised.value.errno == errno.EBADF


def test_queue_length_of_a_live_socket_is_read():
    from conformance.kit import Kit

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert Kit.queued(s) == 0
