"""Documented behaviour per platform family, kept as data apart from the cases.

One TOML file per family (``linux.toml``, ``darwin.toml``, ``freebsd.toml``,
``windows.toml``) plus ``posix.toml``, the portable baseline; a family may add
fragments in a folder of its name (``linux/recv.toml``), read after its file in
name order, one per area so that areas are edited apart. Each case id is an
array of tables; the first entry whose ``when`` holds for the platform and the
instance's parameters decides::

    [["udp.connected.sendto_other_address"]]
    accept = [{ errno = "EISCONN" }]        # observations that conform
    source = "FreeBSD send(2), ERRORS: EISCONN"
    url = "https://man.freebsd.org/cgi/man.cgi?query=send&sektion=2"
    when = { params = { family = "inet" } }  # optional: os, kernel, stack, params
    tags = ["doc", "obs"]                    # optional: what backs the entry (TAGS)

An accepted observation matches when each of its keys is present in the
observation with an equal value: cases may record more than an expectation
pins down. In ``posix.toml`` an entry may say ``open = true`` instead of
``accept``: POSIX leaves the behaviour to the implementation.

A user's directory of the same layout (``--conformance-expectations``,
``SOCKET_CONFORMANCE_EXPECTATIONS``, ``run --expectations``) overlays the
shipped files: its entries for a case id replace the shipped ones for that id.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from conformance import inert
from conformance.errnos import normalise
from conformance.errors import ExpectationError as ExpectationError  # raised by the loaders

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FAMILIES = ("linux", "darwin", "freebsd", "windows", "lwip")
BASELINE = "posix"

_ENTRY_KEYS = {"accept", "open", "source", "url", "when", "tags"}
# What backs an entry; reports carry the tags in ``expected`` so readers can weigh it.
TAGS = {
    "doc": "the platform's own documentation says so",
    "src": "read in the platform's source code",
    "obs": "observed on the platform",
}
_WHEN_KEYS = {"os", "kernel", "stack", "params"}
_KERNEL_COND = re.compile(r"^(>=|<=|>|<|==)\s*(\d+(?:\.\d+)*)$")


@dataclass(frozen=True)
class Expectation:
    """What one source says a case should observe, under a condition."""

    case_id: str
    accept: tuple[Mapping[str, Any], ...]
    source: str
    url: str | None
    when: Mapping[str, Any]
    file: str
    line: int
    open: bool = False
    tags: tuple[str, ...] = field(default=())

    def admits(self, observation: Mapping[str, Any]) -> bool:
        """True when the observation matches one of the accepted observations."""
        return any(_subset(a, observation) for a in self.accept)

    def applies(self, platform: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        for key, want in self.when.items():
            if key == "params":
                if any(str(params.get(k)) not in _as_list(v) for k, v in want.items()):
                    return False
            elif key == "kernel":
                if not _kernel_holds(want, platform.get("kernel", "")):
                    return False
            elif str(platform.get(key)) not in _as_list(want):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "accept": [dict(a) for a in self.accept],
            "source": self.source,
            "url": self.url,
            "when": dict(self.when),
            "open": self.open,
            "tags": list(self.tags),
        }


def _subset(want: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    return all(k in got and got[k] == v for k, v in want.items())


def _as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _kernel_holds(cond: str, kernel: str) -> bool:
    m = _KERNEL_COND.match(cond)
    assert m, cond  # validated at load time
    op, ver = m.groups()
    have, want = _version(kernel), _version(ver)
    return {
        ">=": have >= want, "<=": have <= want, ">": have > want,
        "<": have < want, "==": have == want,
    }[op]


class ExpectationSet:
    """All expectations of one family, indexed by case id."""

    def __init__(self, family: str, entries: Mapping[str, list[Expectation]]):
        self.family = family
        self.entries = dict(entries)

    def lookup(
        self, case_id: str, platform: Mapping[str, Any], params: Mapping[str, Any]
    ) -> Expectation | None:
        for exp in self.entries.get(case_id, ()):
            if exp.applies(platform, params):
                return exp
        return None

    def case_ids(self) -> set[str]:
        return set(self.entries)


def load_file(path: Path, family: str | None = None) -> ExpectationSet:
    """Parse and validate one expectations file; errors name the file and line."""
    from conformance import inputs

    try:
        text = inputs.read_text(path)
        data = tomllib.loads(text)
    except inputs.InputError as exc:
        raise ExpectationError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationError(f"{path}: {exc}") from None
    except RecursionError:
        raise ExpectationError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # a number int() refuses (thousands of digits)
        raise ExpectationError(f"{path}: {str(exc)[:120]}") from None
    entries: dict[str, list[Expectation]] = {}
    for case_id, tables in data.items():
        line = _header_line(text, case_id)
        where = f"{path}:{line}"
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ExpectationError(f'{where}: {case_id!r} must be an array of tables '
                                   f'[["{case_id}"]]')
        for table in tables:
            entries.setdefault(case_id, []).append(_entry(case_id, table, str(path), line, where))
    return ExpectationSet(family or path.stem, entries)


def _entry(case_id: str, t: Mapping[str, Any], file: str, line: int, where: str) -> Expectation:
    unknown = set(t) - _ENTRY_KEYS
    if unknown:
        raise ExpectationError(f"{where}: unknown key(s) {sorted(unknown)} in {case_id}")
    if not t.get("source") or not isinstance(t["source"], str):
        raise ExpectationError(f"{where}: {case_id} has no source")
    url = t.get("url")
    # The url becomes a link in every report: only a web address may.
    if url is not None and inert.http_url(url) is None:
        raise ExpectationError(f"{where}: {case_id} url must be an http or https address, "
                               f"got {str(url)[:80]!r}")
    tags = t.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(x, str) and x in TAGS for x in tags):
        raise ExpectationError(f"{where}: {case_id} tags must be a list of {sorted(TAGS)}")
    is_open = bool(t.get("open", False))
    accept = t.get("accept", [])
    if not is_open and (not isinstance(accept, list) or not accept
                        or not all(isinstance(a, dict) for a in accept)):
        raise ExpectationError(f"{where}: {case_id} needs accept = [{{...}}, ...] or open = true")
    # Observations spell errnos one way (errnos.py); a file may use the
    # platform's own spelling (WSAEINVAL, EWOULDBLOCK), read as the same behaviour.
    if isinstance(accept, list):
        accept = [{k: normalise(v) if isinstance(v, str) else v for k, v in a.items()}
                  if isinstance(a, dict) else a for a in accept]
    when = t.get("when", {})
    if not isinstance(when, dict) or set(when) - _WHEN_KEYS:
        raise ExpectationError(f"{where}: {case_id} 'when' takes only {sorted(_WHEN_KEYS)}")
    if "kernel" in when and not _KERNEL_COND.match(str(when["kernel"])):
        raise ExpectationError(f"{where}: {case_id} kernel condition must look like '>=4.6'")
    if not isinstance(when.get("params", {}), dict):
        raise ExpectationError(f"{where}: {case_id} 'when.params' must be a table")
    return Expectation(
        case_id, tuple(accept), t["source"], url, when, file, line, is_open, tuple(tags),
    )


def _header_line(text: str, case_id: str) -> int:
    needle = f'[["{case_id}"]]'
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() == needle:
            return n
    return 1


def data_dir() -> Path:
    return Path(str(resources.files("conformance.expectations")))


def _read_family(family: str, base: Path) -> dict[str, list[Expectation]]:
    """``<family>.toml``, then ``<family>/*.toml``, from one directory.

    Absent files are no entries. The same case id in two files keeps both
    lists of entries, the earlier file's first.
    """
    paths = [base / f"{family}.toml", *sorted((base / family).glob("*.toml"))]
    entries: dict[str, list[Expectation]] = {}
    for path in paths:
        if path.is_file():
            for case_id, found in load_file(path, family).entries.items():
                entries.setdefault(case_id, []).extend(found)
    return entries


def check_overlay(directory: Path) -> None:
    """Refuse a user's expectations directory that cannot be what the user meant.

    A typo must not pass for "no expectations of mine": the directory must
    exist, be readable and hold expectation files, each named for a family.
    """
    try:
        names = sorted(p.name for p in directory.iterdir())
    except FileNotFoundError:
        raise ExpectationError(f"expectations {directory}: no such directory") from None
    except NotADirectoryError:
        raise ExpectationError(f"expectations {directory}: not a directory") from None
    except OSError as exc:
        raise ExpectationError(f"expectations {directory}: cannot read ({exc.strerror})") from None
    known = (*FAMILIES, BASELINE)
    stray = [n for n in names if n.endswith(".toml") and n[:-len(".toml")] not in known]
    if stray:
        raise ExpectationError(f"expectations {directory}: {stray[0]} names no platform family; "
                               f"expected <family>.toml or <family>/*.toml for one of "
                               f"{', '.join(known)}")
    if not any(n in names for n in (*(f"{f}.toml" for f in known), *known)):
        raise ExpectationError(f"expectations {directory}: holds no expectation files "
                               f"(<family>.toml or <family>/*.toml, for one of {', '.join(known)})")


def load_family(family: str, overlay: Path | None = None) -> ExpectationSet:
    """The shipped expectations of a platform family, overlaid with a user's.

    A user's entries for a case id take the place of the shipped ones for
    that id; every other shipped entry stays in force.
    """
    entries = _read_family(family, data_dir())
    if overlay is not None:
        check_overlay(overlay)
        entries.update(_read_family(family, overlay))
    return ExpectationSet(family, entries)


# What load_all read, by overlay, with the files' signature: ``run`` checks every
# file before pytest starts and the plugin, in the same process, reads them again.
_loaded: dict[Path | None, tuple[tuple[Any, ...], dict[str, ExpectationSet]]] = {}


def load_all(overlay: Path | None = None) -> dict[str, ExpectationSet]:
    """Every family plus the POSIX baseline, each overlaid with the user's entries.

    Parsed once per process while no file changes (name, size and mtime of
    every file read): the result is not to be modified.
    """
    signature = _signature(overlay)
    known = _loaded.get(overlay)
    if known is not None and known[0] == signature:
        return known[1]
    sets = {f: load_family(f, overlay) for f in (*FAMILIES, BASELINE)}
    _loaded[overlay] = (signature, sets)
    return sets


def _signature(overlay: Path | None) -> tuple[Any, ...]:
    found: list[Any] = []
    for base in (data_dir(), overlay):
        if base is None:
            continue
        for family in (*FAMILIES, BASELINE):
            for path in [base / f"{family}.toml", *sorted((base / family).glob("*.toml"))]:
                try:
                    st = path.stat()
                except OSError:
                    continue
                found.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(found)
