"""Deviating observations for the ports.* cases (see tests/deviations/__init__.py)."""

IN_RANGE = {"tcp_bind_in_range": True, "udp_bind_in_range": True, "tcp_listen_in_range": True,
            "tcp_connect_in_range": True, "udp_connect_in_range": True}

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "ports.range": [
        ("connect() picks its port from a range of its own",
         {**IN_RANGE, "tcp_connect_in_range": False}, {}),
        ("the namespace's range is ignored by bind(0)",
         {**IN_RANGE, "tcp_bind_in_range": False, "udp_bind_in_range": False}, {}),
        ("listen() without bind() takes a port outside the range",
         {**IN_RANGE, "tcp_listen_in_range": False}, {}),
    ],
    "ports.exhaustion": [
        ("bind(0) past the range reports EADDRNOTAVAIL",
         {"bind_past_range": "EADDRNOTAVAIL", "connect_past_range": "EADDRNOTAVAIL",
          "failed_once_range_full": True}, {}),
        ("connect() past the range reports EAGAIN",
         {"bind_past_range": "EADDRINUSE", "connect_past_range": "EAGAIN",
          "failed_once_range_full": True}, {}),
        ("listen() on an unbound socket past the range listens on some port",
         {"bind_past_range": "EADDRINUSE", "connect_past_range": "EADDRNOTAVAIL",
          "listen_past_range": "ok", "failed_once_range_full": True}, {}),
        ("bind(0) hands out a port twice instead of failing",
         {"bind_past_range": "no failure", "connect_past_range": "EADDRNOTAVAIL",
          "failed_once_range_full": False}, {}),
    ],
    "ports.connect_reserved": [
        ("another socket may bind the port connect() picked",
         {"bind_same_address": "ok", "bind_wildcard": "ok"}, {}),
    ],
}
