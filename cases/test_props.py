"""Property-based cases: Hypothesis searches around the seed document's claims.

Each case builds an inner Hypothesis test and returns its outcome through
conformance.search.check: ``{"holds": true}``, or the shrunk counterexample
and its reproduction. Payloads are generated as (length, seed) pairs and
expanded with a seeded PRNG, so a megabyte costs Hypothesis two integers and
still shrinks to the smallest failing length.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from conformance.api import (
    ALL_FAMILIES,
    DEADLINE_S,
    INET,
    DeadlineExceeded,
    Kit,
    Socket,
    Unsupported,
    case,
    check,
    errno_name,
    linux,
    posix,
    seed,
    settings_for,
)

MIB = 1 << 20

# Up to 16 segments of up to 64 KiB: at most 1 MiB in total, empty sends included.
segments = st.lists(st.tuples(st.integers(0, 64 * 1024), st.integers(0, 2**16)), max_size=16)


def payload(length: int, seed_: int) -> bytes:
    return random.Random(seed_).randbytes(length)


def _pump(kit: Kit, sender: Socket, receiver: Socket, chunks: list[bytes]) -> bytes:
    """Send every chunk while reading, so neither side's buffer can deadlock the other."""
    sender.set_nonblocking(True)
    receiver.set_nonblocking(True)
    want = sum(len(c) for c in chunks)
    got = bytearray()
    queue = [memoryview(c) for c in chunks]
    for c in chunks:
        if not c:
            sender.send(b"")  # an empty send is part of the segmentation under test
    queue = [q for q in queue if len(q)]
    while len(got) < want:
        r, w = kit.select([receiver], [sender] if queue else [], DEADLINE_S)
        if not r and not w:
            raise DeadlineExceeded(f"stream transfer stalled at {len(got)} of {want} bytes")
        if w:
            n = sender.send(queue[0])
            queue[0] = queue[0][n:]
            if not len(queue[0]):
                queue.pop(0)
        if r:
            data = receiver.recv(256 * 1024)
            if not data:
                break
            got += data
    return bytes(got)


@case(
    "props.tcp.stream_integrity",
    "any bytes in any segmentation arrive complete and in order on a stream socket",
    cites=[
        seed("24", "after the handshake both sides exchange data with send/recv"),
        posix("send"),
        linux("tcp(7)", "reliable, in-order byte stream"),
    ],
    params={"family": ALL_FAMILIES},
)
def test_stream_integrity(family: str, kit: Kit) -> dict[str, Any]:
    """For arbitrary segmentations up to 1 MiB, the receiver reads exactly the bytes sent."""
    listener = kit.listener(family)

    @settings_for(max_examples=12)
    @given(segments)
    @example([(0, 0), (MIB // 16, 1)] + [(MIB // 16, 2)] * 15)
    def stream(segs: list[tuple[int, int]]) -> None:
        client = kit.socket(family, "stream")
        kit.connect_within(client, listener.getsockname())
        server, _ = kit.accept_within(listener)
        try:
            chunks = [payload(n, s) for n, s in segs]
            got = _pump(kit, client, server, chunks)
            assert got == b"".join(chunks), (
                f"got {len(got)} bytes, expected {sum(map(len, chunks))} in order "
                f"[recv after {len(chunks)} sends]"
            )
        finally:
            client.close()
            server.close()

    return check(stream)


def _datagram_edge(kit: Kit, family: str, receiver: Socket) -> tuple[int, str]:
    """The largest datagram sendto() accepts on loopback, and the errno one byte past it."""
    sender = kit.socket(family, "dgram")
    dest = receiver.getsockname()
    lo, hi = 0, 1 << 17
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            sender.sendto(bytes(mid), dest)
        except OSError:
            hi = mid
        else:
            lo = mid
            kit.recv_within(receiver, 1 << 17)
    try:
        sender.sendto(bytes(lo + 1), dest)
        past = "ok"
    except OSError as exc:
        past = errno_name(exc)
    sender.close()
    return lo, past


@case(
    "props.udp.datagram_integrity",
    "every datagram up to the largest loopback size arrives whole, one per recv",
    cites=[
        seed("26", "sendto/recvfrom exchange datagrams with an address"),
        posix("recvfrom", "message-based sockets: one message per call"),
        posix("sendto", "ERRORS: EMSGSIZE the message is too large to be sent all at once"),
        linux("send(2)", "ERRORS: EMSGSIZE the message cannot be sent atomically"),
    ],
    params={"family": INET},
)
def test_datagram_integrity(family: str, kit: Kit) -> dict[str, Any]:
    """Datagrams of 0..edge bytes each arrive exactly once and whole; past the edge, an errno."""
    receiver = kit.bound(family, "dgram")
    receiver.setsockopt("SO_RCVBUF", 1 << 20)
    edge, past = _datagram_edge(kit, family, receiver)
    sender = kit.bound(family, "dgram")
    dest = receiver.getsockname()

    @settings_for(max_examples=15)
    @given(st.lists(st.tuples(st.integers(0, edge), st.integers(0, 2**16)), min_size=1,
                    max_size=4))
    @example([(0, 0), (edge, 1)])
    def datagrams(items: list[tuple[int, int]]) -> None:
        sent = [payload(n, s) for n, s in items]
        for d in sent:
            sender.sendto(d, dest)
        got = [kit.recv_within(receiver, edge + 1) for _ in sent]
        assert got == sent, (
            f"got sizes {[len(g) for g in got]}, expected {[len(s) for s in sent]} "
            f"[recv of {len(sent)} datagrams]"
        )

    return {**check(datagrams), "edge": edge, "past_edge": past}


SENDERS = ("peer", "foreign1", "foreign2", "foreign3")
events = st.lists(st.tuples(st.sampled_from(SENDERS), st.integers(0, 255)), max_size=12)


@case(
    "props.udp.connected_filter",
    "after connect(), a UDP socket receives exactly the peer's datagrams, in order",
    cites=[
        seed("31", "recv only receives datagrams from the associated address"),
        seed("35", "UDP connect only records the destination"),
        posix("connect", "datagram sockets: only datagrams from the peer are received"),
        linux("udp(7)", "connect: only datagrams from the peer are received"),
    ],
    params={"family": INET},
)
def test_connected_filter(family: str, kit: Kit) -> dict[str, Any]:
    """For any interleaving of peer and foreign senders around connect(), only the peer's
    later datagrams arrive, plus whatever the platform keeps from before connect()."""
    senders = {name: kit.bound(family, "dgram") for name in SENDERS}
    queued: set[str] = set()

    @settings_for(max_examples=25)
    @given(events, st.data())
    def interleaving(evs: list[tuple[str, int]], data: st.DataObject) -> None:
        cut = data.draw(st.integers(0, len(evs)), label="connect after event")
        receiver = kit.bound(family, "dgram")
        dest = receiver.getsockname()
        try:
            for name, tag in evs[:cut]:
                senders[name].sendto(bytes([tag]) + name.encode(), dest)
            receiver.connect(senders["peer"].getsockname())
            for name, tag in evs[cut:]:
                senders[name].sendto(bytes([tag]) + name.encode(), dest)
            marker = b"\xffmarker"
            senders["peer"].sendto(marker, dest)
            got = kit.drain(receiver, marker)[:-1]
        finally:
            receiver.close()
        before = [bytes([t]) + n.encode() for n, t in evs[:cut]]
        after = [bytes([t]) + n.encode() for n, t in evs[cut:] if n == "peer"]
        if before:
            kept = got[: len(before)] == before
            queued.add("kept" if kept else "dropped")
            expected = (before if kept else []) + after
        else:
            expected = after
        assert got == expected, (
            f"got {got}, expected {expected} [recv on a UDP socket connected to the peer]"
        )

    result = check(interleaving)
    if result["holds"]:
        result["queued"] = "/".join(sorted(queued)) or "untested"
    return result


@case(
    "props.bind.addresses",
    "any 127/8 address binds, getsockname round-trips it, and nothing for another arrives",
    cites=[
        seed("12", "bind tells the OS which local address and port the socket wants"),
        posix("bind"),
        # ip(7) names only 127.0.0.1; the rest of 127.0.0.0/8 is local through the
        # kernel's local routing table (local 127.0.0.0/8 dev lo).
        linux("ip(7)", "INADDR_LOOPBACK (127.0.0.1) always refers to the local host"),
    ],
)
def test_bind_addresses(kit: Kit) -> dict[str, Any]:
    """Bound to an arbitrary 127/8 address, a socket reports it and gets only its own traffic."""
    # Probed once up front: the BSDs and macOS make only 127.0.0.1 local, so
    # there the claim has nothing to search (unsupported), not 25 failures.
    probe = kit.socket("inet", "dgram")
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError as exc:
        if errno_name(exc) == "EADDRNOTAVAIL":
            raise Unsupported("127.0.0.2 is not local here: 127/8 beyond 127.0.0.1 needs "
                              "aliases on this platform") from None
        raise
    finally:
        probe.close()
    sender = kit.bound("inet", "dgram")
    addrs = st.integers(0x7F000001, 0x7FFFFFFE).map(
        lambda n: f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    )

    @settings_for(max_examples=25)
    @given(addrs, addrs)
    def addresses(mine: str, other: str) -> None:
        if mine == other:
            return
        receiver = kit.socket("inet", "dgram")
        try:
            try:
                receiver.bind((mine, 0))
            except OSError as exc:
                if errno_name(exc) == "EADDRNOTAVAIL":
                    raise Unsupported(f"{mine} is not local here: only aliased 127/8 "
                                      "addresses can be bound") from None
                raise
            host, port = receiver.getsockname()
            assert host == mine, f"got getsockname {host}, expected {mine} [bind({mine}, 0)]"
            sender.sendto(b"stray", (other, port))
            sender.sendto(b"marker", (mine, port))
            got = kit.drain(receiver, b"marker")
            assert got == [b"marker"], (
                f"got {got}, expected only the marker [datagram for {other}:{port} "
                f"delivered to a socket bound to {mine}]"
            )
        finally:
            receiver.close()

    return check(addresses)
