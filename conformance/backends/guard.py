"""The destination guard: traffic goes to loopback or to suite-made namespaces only.

Every backend calls :func:`check_destination` before connect() and sendto().
Namespace prefixes are admitted only while a topology created by the suite is
active (topology.py registers them); the host's own subnets never are.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conformance.errors import UnsafeDestination

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_lock = threading.Lock()
_namespace_prefixes: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


@contextmanager
def namespace_prefixes(*prefixes: str) -> Iterator[None]:
    """Admit these prefixes while a suite-created namespace topology exists."""
    nets = [ipaddress.ip_network(p) for p in prefixes]
    with _lock:
        _namespace_prefixes.extend(nets)
    try:
        yield
    finally:
        with _lock:
            for n in nets:
                _namespace_prefixes.remove(n)


def check_destination(family: str, addr: Any) -> None:
    """Raise UnsafeDestination unless ``addr`` is loopback or a suite namespace address."""
    if family == "unix":
        return
    host = addr[0]
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise UnsafeDestination(f"refusing destination {host!r}: not a literal address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    with _lock:
        allowed = (*_LOOPBACK, *_namespace_prefixes)
    if not any(ip.version == net.version and ip in net for net in allowed):
        raise UnsafeDestination(
            f"refusing destination {host}: only loopback and suite namespaces are allowed"
        )
