"""Deviating observations for the socket.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "socket.create": [
        ("socket() is refused for a family and type the host has",
         {"socket": "EACCES"}, {"type": "stream"}),
        ("a stream socket reports SOCK_DGRAM in SO_TYPE",
         {"socket": "ok", "so_type": "dgram"}, {"type": "stream"}),
        ("a datagram socket reports SOCK_STREAM in SO_TYPE",
         {"socket": "ok", "so_type": "stream"}, {"type": "dgram"}),
    ],
    "socket.create.bad_family": [
        ("socket() creates a socket of a family that does not exist", {"errno": "ok"}, {}),
        ("an unknown family is reported as a bad argument", {"errno": "EINVAL"}, {}),
    ],
    "socket.create.bad_type": [
        ("socket() creates a socket of a type that does not exist", {"errno": "ok"}, {}),
        ("an unknown type is reported as ESOCKTNOSUPPORT", {"errno": "ESOCKTNOSUPPORT"}, {}),
    ],
    "socket.unbound_name": [
        ("an unbound socket already has a port",
         {"address": "wildcard", "port": 40000}, {}),
        ("an unbound socket reports a specific address",
         {"address": "127.0.0.1", "port": 0}, {}),
        ("getsockname() fails on an unbound socket", {"errno": "EINVAL"}, {}),
    ],
}
