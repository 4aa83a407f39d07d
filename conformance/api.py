"""The public interface for case authors: everything a case module imports.

A case is a function decorated with :func:`case` that gets a :class:`Kit`
(sockets of the instance's backend, closed at teardown; loopback addresses;
errno names; waits with deadlines) and returns an observation. Cases in this
repository and in users' own case directories import from here only, so the
modules behind it may change without breaking them.
"""

from conformance.axes import ALL_FAMILIES, BACKENDS, BLOCKING, C_API, INET, TYPES
from conformance.backends import FAMILY, TYPE, Address, Socket
from conformance.backends.libc import (
    accept_raw,
    bind_sockaddr,
    getsockname_raw,
    listen_fd,
    pack_sockaddr,
    raw_socket,
    sockaddr_header,
    socketpair_raw,
    try_socket,
)
from conformance.blocking import BlockedCall, prove_blocked
from conformance.case import Citation, case, darwin, freebsd, linux, mslearn, posix, seed
from conformance.child import (
    NOBODY,
    ChildSkip,
    as_user,
    at_descriptor_limit,
    credentials_mechanism,
    in_child,
    mount_read_only,
    on_read_only,
)
from conformance.ephemeral import port_range
from conformance.errors import DeadlineExceeded, HarnessError, Unsupported
from conformance.kit import DEADLINE_S, LOOPBACK, WILDCARD, Kit, errno_name
from conformance.search import check, settings_for
from conformance.signals import interrupt, sigpipe_during
from conformance.topology import (
    ADDRESSES,
    HOST,
    PEER,
    Topology,
    TopologyUnavailable,
    name_of,
    open_or_skip,
)

__all__ = [
    "ADDRESSES", "ALL_FAMILIES", "BACKENDS", "BLOCKING", "C_API", "DEADLINE_S", "FAMILY", "HOST",
    "INET",
    "LOOPBACK", "NOBODY", "PEER", "TYPE", "TYPES", "WILDCARD", "Address", "BlockedCall",
    "ChildSkip", "Citation", "DeadlineExceeded", "HarnessError", "Kit", "Socket", "Topology",
    "TopologyUnavailable", "Unsupported", "accept_raw", "as_user", "at_descriptor_limit",
    "bind_sockaddr", "case", "check", "credentials_mechanism", "darwin", "errno_name", "freebsd",
    "getsockname_raw", "in_child",
    "interrupt", "linux", "listen_fd", "mount_read_only", "mslearn", "name_of", "on_read_only",
    "open_or_skip",
    "pack_sockaddr", "port_range", "posix", "prove_blocked", "raw_socket", "seed",
    "settings_for", "sigpipe_during", "sockaddr_header", "socketpair_raw", "try_socket",
]
