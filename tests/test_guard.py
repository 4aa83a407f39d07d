"""The destination guard refuses everything but loopback and suite namespaces."""

from __future__ import annotations

import pytest

from conformance.backends import Tracker, open_socket
from conformance.backends.guard import check_destination, namespace_prefixes
from conformance.errors import UnsafeDestination


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1",
                                  "0.0.0.0", "::"])
def test_loopback_and_the_unspecified_address_are_allowed(host):
    check_destination("inet6" if ":" in host else "inet", (host, 9))


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.2", "8.8.8.8", "2001:db8::1",
                                  "198.51.100.1", "localhost"])
def test_other_destinations_are_refused(host):
    with pytest.raises(UnsafeDestination):
        check_destination("inet6" if ":" in host else "inet", (host, 9))


def test_namespace_prefix_is_allowed_only_while_registered():
    with namespace_prefixes("198.51.100.0/24"):
        check_destination("inet", ("198.51.100.7", 9))
    with pytest.raises(UnsafeDestination):
        check_destination("inet", ("198.51.100.7", 9))


@pytest.mark.parametrize("backend", ["python", "libc"])
@pytest.mark.parametrize("call", ["connect", "sendto"])
def test_backends_refuse_before_any_packet_leaves(backend, call):
    tracker = Tracker()
    s = open_socket(backend, "inet", "dgram", tracker)
    try:
        with pytest.raises(UnsafeDestination):
            if call == "connect":
                s.connect(("192.0.2.1", 9))
            else:
                s.sendto(b"x", ("192.0.2.1", 9))
    finally:
        tracker.close_all()
