"""Address reuse: TIME_WAIT, SO_REUSEADDR, SO_REUSEPORT and IPv6 dual-stack reservations."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    BACKENDS,
    INET,
    LOOPBACK,
    TYPES,
    WILDCARD,
    Kit,
    Socket,
    Unsupported,
    case,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
)

# Which of the two sockets set SO_REUSEADDR before bind(): the old one (the
# listener whose connection is in TIME_WAIT) and/or the new one.
REUSE_SIDES = ("none", "new", "old", "both")
BINDV6ONLY = "/proc/sys/net/ipv6/bindv6only"


def _option(s: Socket, name: str, value: int = 1) -> None:
    """setsockopt(), with an option the stack refuses (ENOPROTOOPT) counted as absent."""
    try:
        s.setsockopt(name, value)
    except OSError as exc:
        if errno_name(exc) in ("ENOPROTOOPT", "EINVAL", "EOPNOTSUPP"):
            raise Unsupported(f"setsockopt({name}) refused: {errno_name(exc)}") from exc
        raise


def _time_wait(kit: Kit, family: str, reuse: bool) -> tuple[str, int]:
    """A server-side connection in TIME_WAIT on a bind(0) port, its listener closed.

    The server closes first (active close), the client reads the EOF and
    closes too: the server's end then waits in TIME_WAIT holding the port.
    """
    listener = kit.socket(family, "stream")
    if reuse:
        _option(listener, "SO_REUSEADDR")
    listener.bind((LOOPBACK[family], 0))
    listener.listen(1)
    host, port = listener.getsockname()
    client = kit.socket(family, "stream")
    kit.connect_within(client, (host, port))
    conn, _ = kit.accept_within(listener)
    listener.close()
    conn.close()
    if kit.recv_within(client) != b"":
        raise Unsupported("the client did not see the server's FIN")
    client.close()
    return host, port


@case(
    "reuse.time_wait.rebind",
    "rebinding a port whose connection is in TIME_WAIT, with SO_REUSEADDR on neither, "
    "the new, the old or both sockets",
    cites=[
        posix("bind", "ERRORS: EADDRINUSE the specified address is already in use"),
        posix("setsockopt", "SO_REUSEADDR: reuse of local addresses, if supported by the "
                            "protocol"),
        linux("ip(7)", "NOTES: a TCP local socket address that has been bound is unavailable "
                       "for some time after closing, unless SO_REUSEADDR has been set"),
        linux("socket(7)", "SO_REUSEADDR"),
        freebsd("getsockopt(2)", "SO_REUSEADDR"),
        mslearn("setsockopt", "SO_REUSEADDR"),
    ],
    level="platform-defined",
    params={"family": INET, "reuseaddr": REUSE_SIDES, "backend": BACKENDS},
    asserts=["linux:ip.7:SO_REUSEADDR"],
)
def test_time_wait_rebind(family: str, reuseaddr: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind() of a new listener to the port a TIME_WAIT connection holds; nothing waits."""
    host, port = _time_wait(kit, family, reuseaddr in ("old", "both"))
    kit.note(port=port)
    new = kit.socket(family, "stream")
    if reuseaddr in ("new", "both"):
        _option(new, "SO_REUSEADDR")
    return {"bind": kit.outcome(new.bind, (host, port))}


@case(
    "reuse.addr.bound_pair",
    "two sockets that both set SO_REUSEADDR may bind one address while neither listens",
    cites=[
        linux("socket(7)", "SO_REUSEADDR: for AF_INET sockets a socket may bind, except when "
                           "there is an active listening socket bound to the address"),
        freebsd("getsockopt(2)", "SO_REUSEADDR"),
        mslearn("setsockopt", "SO_REUSEADDR: allows the socket to be bound to an address "
                              "that is already in use"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
    asserts=["linux:socket.7:SO_REUSEADDR"],
)
def test_addr_bound_pair(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The second bind() of the exact address, both sockets with SO_REUSEADDR, none listening."""
    first = kit.socket(family, type)
    _option(first, "SO_REUSEADDR")
    first.bind((LOOPBACK[family], 0))
    second = kit.socket(family, type)
    _option(second, "SO_REUSEADDR")
    return {"bind": kit.outcome(second.bind, first.getsockname())}


@case(
    "reuse.addr.listening_holder",
    "SO_REUSEADDR does not let a socket bind the address of an active listener",
    cites=[
        posix("bind", "ERRORS: EADDRINUSE"),
        linux("socket(7)", "SO_REUSEADDR: ... except when there is an active listening "
                           "socket bound to the address"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:socket.7:SO_REUSEADDR"],
)
def test_addr_listening_holder(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Both sockets set SO_REUSEADDR; the first listens; the second bind() is refused."""
    first = kit.socket(family, "stream")
    _option(first, "SO_REUSEADDR")
    first.bind((LOOPBACK[family], 0))
    first.listen(1)
    second = kit.socket(family, "stream")
    _option(second, "SO_REUSEADDR")
    return {"bind": kit.outcome(second.bind, first.getsockname())}


@case(
    "reuse.addr.second_listener",
    "of two SO_REUSEADDR sockets bound to one address, the second listen() fails",
    cites=[
        linux("listen(2)", "ERRORS: EADDRINUSE another socket is already listening on the "
                           "same port"),
        linux("socket(7)", "SO_REUSEADDR"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:listen.2:EADDRINUSE"],
)
def test_addr_second_listener(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Both bound while neither listened; the first listens; the second's listen() is refused."""
    first = kit.socket(family, "stream")
    _option(first, "SO_REUSEADDR")
    first.bind((LOOPBACK[family], 0))
    second = kit.socket(family, "stream")
    _option(second, "SO_REUSEADDR")
    second.bind(first.getsockname())
    first.listen(1)
    return {"listen": kit.outcome(second.listen, 1)}


# Which socket sets what before bind(): both SO_REUSEPORT, only the second,
# or SO_REUSEADDR on the first and SO_REUSEPORT on the second.
REUSEPORT_MODES = {
    "both": ("SO_REUSEPORT", "SO_REUSEPORT"),
    "second_only": (None, "SO_REUSEPORT"),
    "mixed": ("SO_REUSEADDR", "SO_REUSEPORT"),
}


@case(
    "reuse.port",
    "SO_REUSEPORT allows identical bindings only when every socket set it before bind()",
    cites=[
        linux("socket(7)", "SO_REUSEPORT: multiple sockets may bind an identical address if "
                           "every one of them set the option before bind() (same effective "
                           "UID)"),
        freebsd("getsockopt(2)", "SO_REUSEPORT: complete duplicate bindings by multiple "
                                 "processes if they all set SO_REUSEPORT before binding"),
    ],
    level="platform-defined",
    params={"family": INET, "type": TYPES, "mode": tuple(REUSEPORT_MODES),
            "backend": BACKENDS},
    asserts=["linux:socket.7:SO_REUSEPORT"],
)
def test_port(family: str, type: str, mode: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The second bind() of the first socket's exact address, per option combination."""
    options = REUSEPORT_MODES[mode]
    first = kit.socket(family, type)
    if options[0]:
        _option(first, options[0])
    first.bind((LOOPBACK[family], 0))
    second = kit.socket(family, type)
    _option(second, options[1])
    return {"bind": kit.outcome(second.bind, first.getsockname())}


@case(
    "reuse.dualstack.reserves_inet",
    "a wildcard AF_INET6 socket holds the same AF_INET port unless IPV6_V6ONLY is set",
    cites=[
        posix("setsockopt", "IPV6_V6ONLY: restrict AF_INET6 sockets to IPv6 communications "
                            "only (<netinet/in.h>)"),
        linux("ipv6(7)", "IPV6_V6ONLY: if false, the socket can send and receive IPv4 "
                         "packets using IPv4-mapped IPv6 addresses"),
        freebsd("inet6(4)", "IPV6_V6ONLY"),
        mslearn("setsockopt", "IPV6_V6ONLY"),
    ],
    params={"type": TYPES, "v6only": ("off", "on"), "first": ("inet6", "inet"),
            "backend": BACKENDS},
    asserts=["linux:ipv6.7:IPV6_V6ONLY"],
)
def test_dualstack_reserves_inet(
    type: str, v6only: str, first: str, backend: str, kit: Kit
) -> dict[str, Any]:
    """[::]:p with IPV6_V6ONLY off/on and 0.0.0.0:p, bound in either order."""
    # A private namespace keeps the wildcard bindings off the network, and
    # keeps the host's other IPv4 sockets (TIME_WAIT ones too) off port p,
    # which IPV6_V6ONLY leaves free for anyone in the IPv4 space.
    kit.private_network()
    v6 = kit.socket("inet6", type)
    _option(v6, "IPV6_V6ONLY", 1 if v6only == "on" else 0)
    v4 = kit.socket("inet", type)
    if first == "inet6":
        v6.bind((WILDCARD["inet6"], 0))
        port = v6.getsockname()[1]
        result = kit.outcome(v4.bind, (WILDCARD["inet"], port))
    else:
        v4.bind((WILDCARD["inet"], 0))
        port = v4.getsockname()[1]
        result = kit.outcome(v6.bind, (WILDCARD["inet6"], port))
    kit.note(port=port)
    return {"second_bind": result}


@case(
    "reuse.dualstack.default",
    "the default of IPV6_V6ONLY on a new AF_INET6 socket",
    cites=[
        linux("ipv6(7)", "IPV6_V6ONLY: the default is the value of "
                         "/proc/sys/net/ipv6/bindv6only (0 unless changed)"),
        freebsd("inet6(4)", "IPV6_V6ONLY: default from the net.inet6.ip6.v6only sysctl (1)"),
        mslearn("setsockopt", "IPV6_V6ONLY: on by default"),
    ],
    level="platform-defined",
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["linux:ipv6.7:IPV6_V6ONLY"],
)
def test_dualstack_default(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """getsockopt(IPV6_V6ONLY) before any setsockopt, beside the Linux switch if it exists."""
    value = kit.socket("inet6", type).getsockopt("IPV6_V6ONLY")
    try:
        with open(BINDV6ONLY) as f:
            switch: bool | str = f.read().strip() == "1"
    except OSError:
        switch = "absent"  # not Linux, or a stack (gVisor) without the file
    return {"v6only": bool(value), "sysctl_bindv6only": switch}


@case(
    "reuse.dualstack.v4mapped",
    "an AF_INET6 socket reaches an IPv4 listener through an IPv4-mapped address",
    cites=[
        linux("ipv6(7)", "DESCRIPTION: IPv4 connections can be handled with the v6 API by "
                         "using the v4-mapped-on-v6 address type"),
        freebsd("inet6(4)", "DESCRIPTION: IPv4-mapped addresses"),
    ],
    params={"backend": BACKENDS},
    asserts=["linux:ipv6.7:IPV6_V6ONLY"],
)
def test_dualstack_v4mapped(backend: str, kit: Kit) -> dict[str, Any]:
    """connect() to ::ffff:127.0.0.1:p where an AF_INET listener waits; both names compared."""
    listener = kit.listener("inet")
    port = listener.getsockname()[1]
    client = kit.socket("inet6", "stream")
    _option(client, "IPV6_V6ONLY", 0)
    connected = kit.outcome(kit.connect_within, client, ("::ffff:127.0.0.1", port))
    if connected != "ok":
        return {"connect": connected}
    _, peer = kit.accept_within(listener)
    mine = client.getsockname()
    kit.note(client_name=mine, accepted_peer=peer)
    return {
        "connect": "ok",
        "client_name_mapped": mine[0] == "::ffff:127.0.0.1",
        "listener_sees_inet": peer == ("127.0.0.1", mine[1]),
    }
