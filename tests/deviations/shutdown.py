"""Deviating observations for the shutdown.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "shutdown.listening": [
        ("shutdown() on a listener reports ENOTCONN as POSIX says, unlike Linux's source",
         {"errno": "ENOTCONN"}, {}),
        ("shutdown() on a listener tears the listener down with EINVAL", {"errno": "EINVAL"}, {}),
    ],
    "shutdown.unconnected": [
        ("shutdown() on a fresh socket succeeds", {"errno": "ok"}, {}),
    ],
}
