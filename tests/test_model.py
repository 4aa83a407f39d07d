"""The lifecycle model's rules where the audit found them wrong (issue 13, part 4)."""

from __future__ import annotations

from conformance.model import Model, Oracle, Sock


def _tcp_connection(m: Model) -> tuple[Sock, Sock, Sock]:
    listener, client = m.new("tcp"), m.new("tcp")
    m.bound(listener, "ok")
    m.listened(listener, "ok")
    m.connected(client, listener, "ok")
    accepted = m.new("tcp")
    m.accepted(listener, "ok", accepted)
    return listener, client, accepted


def test_connect_to_an_accepted_sockets_address_reaches_its_listener():
    m = Model(Oracle())
    listener, _, accepted = _tcp_connection(m)
    other = m.new("tcp")
    assert m.connect(other, accepted) == {"ok"}
    m.connected(other, accepted, "ok")
    assert listener.pending == [other]


def test_connect_to_an_accepted_socket_after_its_listener_closed_is_refused():
    m = Model(Oracle())
    listener, _, accepted = _tcp_connection(m)
    m.close(listener)
    assert m.connect(m.new("tcp"), accepted) == {"ECONNREFUSED"}


def test_datagram_filtered_by_a_receiver_connected_elsewhere_refuses_the_sender():
    m = Model(Oracle())
    u1, u2, u3 = (m.new("udp") for _ in range(3))
    for u in (u1, u2, u3):
        m.bound(u, "ok")
    m.connected(u2, u3, "ok")
    m.connected(u1, u2, "ok")
    m.sent(u1, b"x", "ok")
    assert u2.inbox == []
    assert "ECONNREFUSED" in m.recv(u1)
    assert "ECONNREFUSED" in m.send(u1)


def test_an_unconnected_receiver_takes_the_datagram_without_error():
    m = Model(Oracle())
    u1, u2 = m.new("udp"), m.new("udp")
    m.bound(u1, "ok")
    m.bound(u2, "ok")
    m.connected(u1, u2, "ok")
    m.sent(u1, b"x", "ok")
    assert u2.inbox == [b"x"]
    assert m.recv(u1) == {"EAGAIN", "EWOULDBLOCK"}
