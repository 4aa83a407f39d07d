"""recvfrom() and its source address: an address buffer too small for it, and the address
a stream reports."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    DEADLINE_S,
    DeadlineExceeded,
    Kit,
    case,
    linux,
    posix,
)


@case(
    "recvfrom.address_truncated",
    "recvfrom() into a 4-byte address buffer truncates the address; addrlen reports its length",
    cites=[
        posix("recvfrom", "DESCRIPTION: a longer address is truncated; address_len gives "
                          "the length of the stored address"),
        linux("recv(2)", "DESCRIPTION: the returned address is truncated if the buffer is too "
                         "small; addrlen then returns a value greater than was supplied"),
    ],
    level="platform-defined",
    # Python's recvfrom() always passes a full-size address buffer.
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["linux:recv.2:addrlen"],
)
def test_address_truncated(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Two equal datagrams: one read with a 4-byte address buffer, one with a full one."""
    receiver = kit.bound(family, "dgram")
    sender = kit.bound(family, "dgram")
    for _ in range(2):
        sender.sendto(b"datagram", receiver.getsockname())
    if not kit.readable(receiver, DEADLINE_S):
        raise DeadlineExceeded(f"recvfrom: nothing readable within {DEADLINE_S}s")
    _, short, short_len = receiver.recvfrom_raw(64, 4)  # type: ignore[attr-defined]
    if not kit.readable(receiver, DEADLINE_S):
        raise DeadlineExceeded(f"recvfrom: second datagram not readable within {DEADLINE_S}s")
    _, full, full_len = receiver.recvfrom_raw(64, 128)  # type: ignore[attr-defined]
    kit.note(short_len=short_len, full_len=full_len)
    reported = ("full length" if short_len == full_len
                else "buffer length" if short_len == 4 else f"{short_len}")
    return {"addrlen": reported, "stored_prefix_intact": short == full[:4]}


@case(
    "recvfrom.stream_address.unix",
    "recvfrom() on an AF_UNIX stream reports the sending peer's bound path, if it has one",
    cites=[
        linux("recv(2)", "DESCRIPTION: src_addr is filled in when the underlying protocol "
                         "provides the source address"),
        posix("recvfrom", "DESCRIPTION: for a protocol that provides no source address, "
                          "the stored address is unspecified"),
    ],
    level="platform-defined",
    params={"peer_bound": ("yes", "no"), "backend": BACKENDS},
    asserts=["linux:recv.2:src_addr"],
)
def test_stream_address_unix(peer_bound: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The accepted side's recvfrom() of bytes from a client bound to a path (or not)."""
    listener = kit.listener("unix")
    client = kit.socket("unix", "stream")
    if peer_bound == "yes":
        client.bind(kit.address("unix"))
    kit.connect_within(client, listener.getsockname())
    peer, _ = kit.accept_within(listener)
    client.send(b"stream bytes")
    if not kit.readable(peer, DEADLINE_S):
        raise DeadlineExceeded(f"recvfrom: nothing readable within {DEADLINE_S}s")
    _, addr = peer.recvfrom(64)
    kit.note(address=addr)
    if not addr:
        return {"address": "none"}
    return {"address": "peer" if addr == client.getsockname() else "other"}
