"""Parameter axes shared by the cases; values are the public interface (``family=inet6``)."""

INET = ("inet", "inet6")
ALL_FAMILIES = ("inet", "inet6", "unix")
TYPES = ("stream", "dgram")
BACKENDS = ("python", "libc")
BLOCKING = ("blocking", "nonblocking")
