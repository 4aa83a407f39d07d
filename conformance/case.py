"""Case metadata: stable id, title, citations, level and parameter axes.

A case is a pytest function in ``cases/`` decorated with :func:`case`. The
decorator registers the case in the catalogue, marks it, and parametrizes it
over its axes with readable ids (``family=inet6``). Parameter values that need
a platform capability (IPv6, AF_UNIX, a usable libc) carry a ``conformance_requires`` mark,
so a missing capability yields ``unsupported`` for that instance only.

The case body returns an observation (a JSON-safe dict of what the stack did);
the plugin, not the case, turns it into a verdict.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

LEVELS = ("must", "should", "may", "platform-defined")
# The areas whose cases are Hypothesis searches (conformance.search): each is
# many calls, not one, which the scheduler and the benchmark treat apart.
SEARCH_AREAS = ("props", "state")

CASE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# A specification entry a case asserts: source, page, condition
# (``posix:connect:EALREADY``, ``linux:unix.7:ENOENT``, ``posix:recv:MSG_PEEK``).
SPEC_ENTRY = re.compile(r"^(posix|linux|freebsd|darwin|windows):[a-z0-9_.]+:[A-Za-z0-9_.-]+$")

# Which capability a parameter value needs; probed once per process (probe.py).
AXIS_CAPABILITIES: dict[tuple[str, str], str] = {
    ("family", "inet6"): "ipv6",
    ("family", "unix"): "af_unix",
    ("backend", "libc"): "libc",
}



@dataclass(frozen=True)
class Citation:
    """One source a reader can check: a seed-document passage, a standard or a manual page."""

    kind: str
    ref: str
    section: str = ""
    url: str | None = None

    def text(self) -> str:
        return f"{self.ref} {self.section}".strip()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "section": self.section, "url": self.url}


def seed(lines: str, claim: str) -> Citation:
    """The seed tutorial's lines ``lines`` ("34" or "2-8"), quoted in English.

    The tutorial does not ship with the suite, so the citation carries the
    passage itself (conformance/seed.toml); ``claim`` says, in our words, what
    the case takes from it, and a report shows it beside the quotation.
    """
    return Citation("seed", "Seed tutorial", f"“{seed_quote(lines)}” (cited for: {claim})",
                    None)


@cache
def _seed_lines() -> dict[str, str]:
    text = resources.files("conformance").joinpath("seed.toml").read_text("utf-8")
    return dict(tomllib.loads(text)["lines"])


def seed_quote(lines: str) -> str:
    """The English rendering of seed lines ``lines``; ValueError for a line it lacks."""
    first, _, last = lines.partition("-")
    last = last or first
    known = _seed_lines()
    if first not in known or last not in known:
        raise ValueError(f"seed line {lines} has no English rendering in conformance/seed.toml")
    # Blank and image lines inside a range have no rendering of their own.
    return " ".join(known[str(n)] for n in range(int(first), int(last) + 1) if str(n) in known)


def posix(function: str, section: str = "") -> Citation:
    """The POSIX.1-2024 (Issue 8) page of ``function``."""
    url = f"https://pubs.opengroup.org/onlinepubs/9799919799/functions/{function}.html"
    return Citation("posix", f"POSIX {function}()", section, url)


def linux(page: str, section: str = "") -> Citation:
    """A Linux man-pages page such as ``accept(2)`` or ``udp(7)``."""
    name, num = _split_page(page)
    url = f"https://man7.org/linux/man-pages/man{num}/{name}.{num}.html"
    return Citation("linux", f"Linux {page}", section, url)


def freebsd(page: str, section: str = "") -> Citation:
    """A FreeBSD manual page such as ``connect(2)`` or ``udp(4)``."""
    name, num = _split_page(page)
    url = f"https://man.freebsd.org/cgi/man.cgi?query={name}&sektion={num}"
    return Citation("freebsd", f"FreeBSD {page}", section, url)


def darwin(page: str, section: str = "") -> Citation:
    """A macOS (xnu) manual page such as ``connect(2)``."""
    name, num = _split_page(page)
    url = f"https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man{num}/{name}.{num}.html"
    return Citation("darwin", f"macOS {page}", section, url)


def mslearn(function: str, section: str = "") -> Citation:
    """A Winsock reference page on Microsoft Learn, such as ``accept``."""
    url = f"https://learn.microsoft.com/en-us/windows/win32/api/winsock2/nf-winsock2-{function}"
    return Citation("mslearn", f"Winsock {function}()", section, url)


def _split_page(page: str) -> tuple[str, str]:
    m = re.fullmatch(r"([a-z0-9_.-]+)\((\d)\)", page)
    if not m:
        raise ValueError(f"manual page must look like 'accept(2)', got {page!r}")
    return m.group(1), m.group(2)


@dataclass(frozen=True)
class CaseInfo:
    """Everything the catalogue and the report say about one case."""

    id: str
    title: str
    level: str
    citations: tuple[Citation, ...]
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    asserts: tuple[str, ...] = ()
    module: str = ""
    function: str = ""
    file: str = ""

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "area": self.area,
            "params": {k: list(v) for k, v in self.params.items()},
            "citations": [c.to_json() for c in self.citations],
            "asserts": list(self.asserts),
        }


class DuplicateCaseId(ValueError):
    """Two cases claim the same id; ids are the public interface and must be unique."""


CATALOGUE: dict[str, CaseInfo] = {}


def case(
    id: str,
    title: str,
    cites: Sequence[Citation],
    level: str = "must",
    params: Mapping[str, Iterable[str]] | None = None,
    asserts: Sequence[str] = (),
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Declare a conformance case; see the module docstring.

    ``asserts`` names the specification entries the case checks (``SPEC_ENTRY``);
    ``socket-conformance coverage`` counts them against the specifications' lists.
    """
    if not CASE_ID.match(id):
        raise ValueError(f"case id must be dotted lower-case words, got {id!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r} for {id}")
    if not cites:
        raise ValueError(f"case {id} has no citation")
    bad = [a for a in asserts if not SPEC_ENTRY.match(a)]
    if bad:
        raise ValueError(
            f"case {id}: asserts entries must look like 'posix:connect:EALREADY', got {bad}"
        )
    axes = {axis: tuple(values) for axis, values in (params or {}).items()}

    def decorate(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        info = CaseInfo(
            id, title, level, tuple(cites), axes, tuple(asserts), fn.__module__, fn.__name__,
            fn.__code__.co_filename,
        )
        known = CATALOGUE.get(id)
        # The same file may be imported under two module names (pytest's
        # rootdir import and conformance.cases); only another function clashes.
        if known is not None and (known.file, known.function) != (info.file, info.function):
            raise DuplicateCaseId(
                f"case id {id} is declared twice: {known.module}.{known.function} "
                f"and {info.module}.{info.function}"
            )
        CATALOGUE[id] = info
        marked: Callable[..., dict[str, Any]] = pytest.mark.conformance_case(info)(fn)
        # Applied in declaration order, the instance id reads the same way:
        # [family=inet-backend=libc].
        for axis, values in axes.items():
            marked = pytest.mark.parametrize(
                axis, [_param(axis, v) for v in values]
            )(marked)
        return marked

    return decorate


def _param(axis: str, value: str) -> Any:
    cap = AXIS_CAPABILITIES.get((axis, value))
    marks = [pytest.mark.conformance_requires(cap)] if cap else []
    return pytest.param(value, id=f"{axis}={value}", marks=marks)


def case_info(item: pytest.Item) -> CaseInfo | None:
    """The CaseInfo of a collected item, or None for an ordinary test."""
    marker = item.get_closest_marker("conformance_case")
    return marker.args[0] if marker else None


def load_catalogue() -> dict[str, CaseInfo]:
    """Import every case module shipped in ``conformance.cases`` and return the catalogue."""
    import importlib
    import pkgutil

    package = importlib.import_module("conformance.cases")
    for mod in pkgutil.iter_modules(package.__path__):
        if mod.name.startswith("test_"):
            importlib.import_module(f"conformance.cases.{mod.name}")
    return dict(sorted(CATALOGUE.items()))
