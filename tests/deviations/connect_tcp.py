"""Deviating observations for the connect.tcp.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "connect.tcp.handshake": [
        ("connect() returns before the handshake: no peer yet (ENOTCONN)",
         {"connect": "ok", "client_getpeername": "ENOTCONN", "server_connection_pending": True},
         {}),
        ("connect() succeeds but the server never sees a connection",
         {"connect": "ok", "client_getpeername": "listener", "server_connection_pending": False},
         {}),
        ("connect() to a listener fails", {"connect": "ECONNREFUSED"}, {}),
    ],
    "connect.tcp.refused": [
        ("connect() to a non-listening port succeeds", {"errno": "ok"}, {}),
        ("connect() to a non-listening port times out instead of being reset",
         {"errno": "ETIMEDOUT"}, {}),
    ],
    "connect.tcp.already_connected": [
        ("a second connect() on a connected socket succeeds", {"errno": "ok"}, {}),
        ("a second connect() reports EALREADY", {"errno": "EALREADY"}, {}),
    ],
    "connect.tcp.implicit_bind": [
        ("connect() leaves the client without a local port",
         {"bound_before_connect": False, "bound_after_connect": False,
          "accept_reports_client_address": False}, {}),
        ("accept() reports an address other than the client's",
         {"bound_before_connect": False, "bound_after_connect": True,
          "accept_reports_client_address": False}, {}),
    ],
    "connect.tcp.client_bind": [
        ("connect() replaces the bound port with a new ephemeral one",
         {"server_sees_bound_port": False, "client_port_unchanged": False}, {}),
    ],
    "connect.tcp.nonblocking_in_progress": [
        ("non-blocking connect() blocks and succeeds at once",
         {"connect": "ok", "writable": True, "so_error": "ok"}, {}),
        ("non-blocking connect() reports EAGAIN (the AF_UNIX answer) on TCP",
         {"connect": "EAGAIN", "writable": True, "so_error": "ok"}, {}),
        ("the socket never becomes writable after EINPROGRESS",
         {"connect": "EINPROGRESS", "writable": False, "so_error": "ok"}, {}),
    ],
}
