"""The destination guard: traffic goes to loopback or to suite-made namespaces only.

The unspecified address (0.0.0.0, ::) counts as loopback: no stack routes it off the host.

Every backend calls :func:`check_destination` before connect() and sendto().
Namespace prefixes are admitted only while a topology created by the suite is
active (topology.py registers them); the host's own subnets never are. When the
topology also registers its namespaces and the backend passes the socket, a
namespace address is admitted only from a socket that lives in one of them, so
a host socket cannot reach those prefixes through the host's default route.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from conformance.errors import UnsafeDestination

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_lock = threading.Lock()
_namespace_prefixes: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
_namespaces: list[int] = []  # inode numbers of suite-created network namespaces
_SIOCGSKNS = 0x894C  # Linux: a descriptor of the socket's network namespace


@contextmanager
def namespace_prefixes(*prefixes: str, namespaces: Iterable[int] = ()) -> Iterator[None]:
    """Admit these prefixes while a suite-created namespace topology exists.

    ``namespaces`` (namespace inode numbers) further restricts them to sockets
    that live inside those namespaces.
    """
    nets = [ipaddress.ip_network(p) for p in prefixes]
    inodes = list(namespaces)
    with _lock:
        _namespace_prefixes.extend(nets)
        _namespaces.extend(inodes)
    try:
        yield
    finally:
        with _lock:
            for n in nets:
                _namespace_prefixes.remove(n)
            for i in inodes:
                _namespaces.remove(i)


def _netns_of(fd: int) -> int | None:
    import fcntl
    import os

    try:
        ns = fcntl.ioctl(fd, _SIOCGSKNS)
    except OSError:
        return None
    try:
        return os.fstat(ns).st_ino
    finally:
        os.close(ns)


def check_destination(family: str, addr: Any, fd: int | None = None) -> None:
    """Raise UnsafeDestination unless ``addr`` is loopback or a suite namespace address.

    ``fd`` is the sending socket; with it, a namespace address is refused to a
    socket outside the registered namespaces.
    """
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
        prefixes, namespaces = list(_namespace_prefixes), set(_namespaces)
    if any(ip.version == net.version and ip in net for net in _LOOPBACK):
        return
    if ip.is_unspecified:
        # The wildcard as a destination never leaves the host: Linux sends to
        # the local host, the BSDs substitute a local address of the sending
        # host (in_pcbconnect), Winsock refuses it (WSAEADDRNOTAVAIL).
        return
    if not any(ip.version == net.version and ip in net for net in prefixes):
        raise UnsafeDestination(
            f"refusing destination {host}: only loopback and suite namespaces are allowed"
        )
    if fd is not None and namespaces and _netns_of(fd) not in namespaces:
        raise UnsafeDestination(
            f"refusing destination {host}: the socket is not inside a suite namespace"
        )
