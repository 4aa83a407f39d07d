"""Building and starting the stack agent (agent.c, shipped beside this module).

The source is compiled on first use into a cache directory
(``$XDG_CACHE_HOME/socket-conformance/agent``, else ``~/.cache/...``), one
binary per build and source digest, written under a temporary name and
renamed into place so concurrent workers never see half a binary. A missing
compiler, library or Wine is one line naming the package to install
(:class:`AgentUnavailable`, exit 2 at the command line).

Builds: ``libc`` (gcc, the host's C library: the self-check against the libc
backend), ``lwip`` (gcc and Debian's liblwip-dev), ``wine`` (the MinGW-w64
cross compiler; run by ``wine`` in a private WINEPREFIX inside the cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from conformance.errors import UsageError


class AgentUnavailable(UsageError):
    """The agent cannot be built or started here; the message says what to install."""


@dataclass(frozen=True)
class Build:
    name: str
    compiler: str
    compiler_package: str
    flags: tuple[str, ...]
    libs: tuple[str, ...]
    # A header whose absence means the library's development package is missing.
    header: str | None = None
    header_package: str = ""
    suffix: str = ""
    runner: str | None = None
    runner_package: str = ""


BUILDS = {
    "libc": Build("libc", "gcc", "gcc", ("-O1",), ("-lpthread",)),
    "lwip": Build("lwip", "gcc", "gcc", ("-O1", "-DAGENT_LWIP", "-I/usr/include/lwip"),
                  ("-llwip", "-lpthread"), header="/usr/include/lwip/lwip/sockets.h",
                  header_package="liblwip-dev"),
    "wine": Build("wine", "x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64-win32", ("-O1",),
                  ("-lws2_32",), suffix=".exe", runner="wine", runner_package="wine wine64"),
}

_INSTALL = "apt-get install -y --no-install-recommends"


def source() -> bytes:
    return resources.files("conformance.agent").joinpath("agent.c").read_bytes()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "socket-conformance" / "agent"


def executable(build_name: str) -> Path:
    """The compiled agent for ``build_name``, compiling it first if needed."""
    b = BUILDS[build_name]
    compiler = shutil.which(b.compiler)
    if compiler is None:
        raise AgentUnavailable(
            f"the {b.name} stack agent needs the compiler {b.compiler}, which is not "
            f"installed; install it with: {_INSTALL} {b.compiler_package}"
        )
    if b.header is not None and not os.path.exists(b.header):
        raise AgentUnavailable(
            f"the {b.name} stack agent needs {b.header}, which is not installed; "
            f"install it with: {_INSTALL} {b.header_package}"
        )
    src = source()
    digest = hashlib.sha256(b"\0".join([src, b.name.encode(), *map(str.encode, b.flags)]))
    target = cache_dir() / f"agent-{b.name}-{digest.hexdigest()[:16]}{b.suffix}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    src_path = target.with_suffix(".c")
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    src_path.write_bytes(src)
    argv = [compiler, *b.flags, "-o", str(tmp), str(src_path), *b.libs]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AgentUnavailable(f"compiling the {b.name} stack agent took over 120 s") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no output)"])[0]
        raise AgentUnavailable(f"compiling the {b.name} stack agent failed: {first}")
    os.replace(tmp, target)
    return target


def command(build_name: str) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that start the agent of ``build_name``."""
    b = BUILDS[build_name]
    exe = executable(build_name)
    env = dict(os.environ)
    if b.runner is None:
        return [str(exe)], env
    runner = shutil.which(b.runner)
    if runner is None:
        raise AgentUnavailable(
            f"the {b.name} stack agent needs {b.runner}, which is not installed; "
            f"install it with: {_INSTALL} {b.runner_package}"
        )
    # A private prefix; no debug output on stderr; no prompts to install Mono or Gecko.
    env.update(WINEPREFIX=str(cache_dir() / "wineprefix"), WINEDEBUG="-all",
               WINEDLLOVERRIDES="mscoree,mshtml=")
    return [runner, str(exe)], env


@contextlib.contextmanager
def first_start(build_name: str) -> Iterator[None]:
    """Serialise agent start-ups of a build that sets up shared state (Wine's prefix).

    Two xdist workers creating one WINEPREFIX at once can leave it broken; the
    first start holds a lock on a file beside it until its agent answers.
    """
    if BUILDS[build_name].runner is None:
        yield
        return
    import fcntl

    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / "wineprefix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
