"""bind(): attaching a socket to a local address and port."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    C_API,
    INET,
    LOOPBACK,
    TYPES,
    Kit,
    Unsupported,
    case,
    errno_name,
    freebsd,
    linux,
    mslearn,
    pack_sockaddr,
    port_range,
    posix,
    seed,
)

# Loopback aliases: on Linux every address in 127.0.0.0/8 is local through the
# local routing table (local 127.0.0.0/8 dev lo); ip(7) itself names only 127.0.0.1.
BOUND_ALIAS = "127.0.0.2"
OTHER_ALIAS = "127.0.0.3"
# Documentation prefixes (RFC 5737, RFC 3849): never assigned to a real host.
NOT_LOCAL = {"inet": "192.0.2.1", "inet6": "2001:db8::1"}
# The Linux switch that would let bind() accept a non-local address (ip(7)).
NONLOCAL_BIND_SYSCTL = {
    "inet": "/proc/sys/net/ipv4/ip_nonlocal_bind",
    "inet6": "/proc/sys/net/ipv6/ip_nonlocal_bind",
}


@case(
    "bind.port_zero.ephemeral",
    "bind() to port 0 assigns a non-zero port from the platform's ephemeral range",
    cites=[
        seed("34", "without bind the kernel assigns the port itself"),
        posix("bind"),
        linux("ip(7)", "ip_local_port_range"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
    asserts=["linux:ip.7:ip_local_port_range"],
)
def test_port_zero_ephemeral(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind(port 0) picks a port inside the range the platform publishes (ip(7))."""
    lo, hi, where = port_range()
    s = kit.bound(family, type)
    port = s.getsockname()[1]
    kit.note(port=port, range=[lo, hi], range_source=where)
    return {"nonzero": port != 0, "in_ephemeral_range": lo <= port <= hi}


def _alias_or_unsupported(result: str, host: str) -> str:
    """EADDRNOTAVAIL for a loopback alias means the platform lacks it, not a deviation."""
    if result == "EADDRNOTAVAIL":
        raise Unsupported(
            f"{host} is not a local address here (EADDRNOTAVAIL); on Linux all of "
            "127.0.0.0/8 is local, elsewhere an alias must be configured"
        )
    return result


@case(
    "bind.specific_address",
    "a socket bound to one local address receives only what is sent to that address",
    cites=[
        seed("12", "bind tells the kernel which local interface and port the program wants"),
        seed("14", "bound to interface A's address, the program gets only A's packets"),
        posix("bind"),
        linux("ip(7)", "DESCRIPTION: bind to a local interface address"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
)
def test_specific_address(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Bound to 127.0.0.2, a socket gets traffic for 127.0.0.2 and none for 127.0.0.3."""
    server = kit.socket("inet", type)
    try:
        server.bind((BOUND_ALIAS, 0))
    except OSError as exc:
        _alias_or_unsupported(errno_name(exc), BOUND_ALIAS)
        raise
    port = server.getsockname()[1]
    kit.note(port=port, bound=BOUND_ALIAS, other=OTHER_ALIAS)
    if type == "stream":
        server.listen(16)
        # Nothing is bound to the other alias at this port (only bind(0) ports
        # are ever used), so a stack that honours the address refuses it.
        other = kit.outcome(kit.connect_within, kit.socket("inet", "stream"),
                            (OTHER_ALIAS, port))
        client = kit.socket("inet", "stream")
        kit.connect_within(client, (BOUND_ALIAS, port))
        client.send(b"own")
        conn, _ = kit.accept_within(server)
        own = "delivered" if kit.recv_within(conn) == b"own" else "garbled"
        return {"bound_address": own, "other_address": other}
    sender = kit.socket("inet", "dgram")
    sender.sendto(b"other", (OTHER_ALIAS, port))
    sender.sendto(b"own", (BOUND_ALIAS, port))
    # The datagram to the bound address is the barrier: loopback delivers one
    # sender's datagrams in order, so "other" would be queued before it.
    got = kit.drain(server, b"own")
    return {
        "bound_address": "delivered",
        "other_address": "delivered" if b"other" in got else "not_delivered",
    }


@case(
    "bind.port_zero.distinct",
    "two sockets bound to port 0 on the same address get different ports",
    cites=[
        seed("34", "when the program does not choose a port the kernel assigns one"),
        posix("bind"),
        linux("ip(7)", "DESCRIPTION: one socket per local (address, port) pair"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
)
def test_port_zero_distinct(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Each bind(port 0) gets a port no other bound socket of that type holds."""
    first = kit.bound(family, type).getsockname()[1]
    second = kit.bound(family, type).getsockname()[1]
    kit.note(ports=[first, second])
    return {"distinct": first != second}


@case(
    "bind.explicit_port",
    "bind() to an explicit free port gives the socket exactly that port",
    cites=[
        seed("34", "a server binds to choose the port it serves on, which clients are told"),
        posix("bind"),
        linux("bind(2)", "DESCRIPTION"),
        linux("ip(7)", "DESCRIPTION"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
)
def test_explicit_port(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A port learnt from bind(0) on 127.0.0.1 can be bound explicitly on 127.0.0.3."""
    # Why this is race-free, unlike "bind(0), close, rebind": the holder keeps
    # the port bound on 127.0.0.1 for the whole case, so no wildcard or
    # 127.0.0.1 bind(0), and no connect() autobind, can be handed it meanwhile.
    # Only a bind(0) to 127.0.0.3 itself could, and no case binds that alias
    # (bind.specific_address only sends to it); the suite never binds fixed
    # ports. The same type is kept on purpose: TCP and UDP ports are separate
    # spaces, so the holder would guard nothing for a socket of the other type.
    holder = kit.bound("inet", type)
    port = holder.getsockname()[1]
    s = kit.socket("inet", type)
    result = _alias_or_unsupported(kit.outcome(s.bind, (OTHER_ALIAS, port)), OTHER_ALIAS)
    kit.note(port=port, address=OTHER_ALIAS)
    if result != "ok":
        return {"bind": result}
    got = s.getsockname()
    return {"bind": "ok", "port": "as_requested" if got[1] == port else "other"}


@case(
    "bind.in_use",
    "bind() to an address a bound socket of the same type holds fails with EADDRINUSE",
    cites=[
        posix("bind", "ERRORS: EADDRINUSE"),
        linux("bind(2)", "ERRORS: EADDRINUSE"),
        linux("ip(7)", "ERRORS: EADDRINUSE"),
        mslearn("bind", "WSAEADDRINUSE"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EADDRINUSE", "linux:bind.2:EADDRINUSE"],
)
def test_in_use(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A second socket cannot bind the exact address (or path) a first one is bound to."""
    holder = kit.bound(family, type)
    taken = holder.getsockname()
    kit.note(address=taken)
    return {"errno": kit.outcome(kit.socket(family, type).bind, taken)}


@case(
    "bind.twice",
    "bind() on a socket that is already bound fails with EINVAL",
    cites=[
        posix("bind", "ERRORS: EINVAL already bound"),
        linux("bind(2)", "ERRORS: EINVAL already bound"),
        freebsd("bind(2)", "ERRORS: EINVAL"),
        mslearn("bind", "WSAEINVAL"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EINVAL.bound", "linux:bind.2:EINVAL.bound"],
)
def test_twice(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A bound socket refuses a second bind() to another free address."""
    s = kit.bound(family, type)
    return {"errno": kit.outcome(s.bind, kit.address(family, 0))}


@case(
    "bind.non_local_address",
    "bind() to an address that is not on this host fails with EADDRNOTAVAIL",
    cites=[
        seed("12", "bind names an address of the local host"),
        posix("bind", "ERRORS: EADDRNOTAVAIL"),
        linux("ip(7)", "ERRORS: EADDRNOTAVAIL"),
        freebsd("bind(2)", "ERRORS: EADDRNOTAVAIL"),
        mslearn("bind", "WSAEADDRNOTAVAIL"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EADDRNOTAVAIL", "linux:ip.7:EADDRNOTAVAIL"],
)
def test_non_local_address(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Binding a documentation-prefix address (RFC 5737 / RFC 3849) is refused."""
    # bind() sends nothing, so the backends' loopback guard (which checks
    # connect and sendto destinations only) rightly lets this address through.
    try:
        with open(NONLOCAL_BIND_SYSCTL[family]) as f:
            kit.note(ip_nonlocal_bind=f.read().strip())
    except OSError:
        pass  # not Linux: no such switch to report
    s = kit.socket(family, type)
    return {"errno": kit.outcome(s.bind, (NOT_LOCAL[family], 0))}


@case(
    "bind.wrong_family",
    "bind() with a socket address of the other Internet family fails",
    cites=[
        posix("bind", "ERRORS: EAFNOSUPPORT; EINVAL address_len not valid for the family"),
        linux("bind(2)", "ERRORS: EINVAL addrlen is wrong or addr not valid for the domain"),
    ],
    params={"family": INET, "backend": C_API},
    asserts=["posix:bind:EAFNOSUPPORT", "posix:bind:EINVAL.addrlen",
             "linux:bind.2:EINVAL.addrlen"],
)
def test_wrong_family(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """An inet socket given a sockaddr_in6 (and an inet6 one given a sockaddr_in) is refused."""
    other = "inet6" if family == "inet" else "inet"
    # The natural mistake in C: the other family's struct, with its own size.
    # The socket module cannot pass it; the C backends can (bind_as).
    sockaddr = pack_sockaddr(other, (LOOPBACK[other], 0))
    s = kit.socket(family, "stream")
    kit.note(sockaddr_family=other, addrlen=len(sockaddr))
    return {"errno": kit.outcome(s.bind_as, other, (LOOPBACK[other], 0))}  # type: ignore[attr-defined]
