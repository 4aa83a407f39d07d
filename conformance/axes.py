"""Parameter axes shared by the cases; values are the public interface (``family=inet6``)."""

INET = ("inet", "inet6")
ALL_FAMILIES = ("inet", "inet6", "unix")
TYPES = ("stream", "dgram")
# Every backend; a platform's report holds the instances of its own (stacks.py).
BACKENDS = ("python", "libc", "agent")
# The C API, where the socket module cannot express the call (a NULL address, AF_UNSPEC).
C_API = ("libc", "agent")
BLOCKING = ("blocking", "nonblocking")
