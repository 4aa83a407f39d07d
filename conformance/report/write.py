"""Writing outputs: regular files where the user asked, each replaced whole, a report as a set.

Theory of operation. Every output (the report's json/md/html, the JUnit
file, the gate's Markdown, the matrix) is first written in full to a
temporary file beside its target, then renamed over it, so a reader sees the
old file or the new one, never half of one. A report is three files that
must agree: all three temporaries are written first (a full disk or a kill
then replaces nothing), a small *pending* note names the three renames, the
renames follow, and the note goes. A run killed between two renames leaves
its note behind, and the next writer in that directory (every run checks
its output directory before it starts) finishes the renames: a set is never
left half old, half new for longer than until the next run.

Temporary names carry the writer's process id; a temporary or note whose
writer is gone, or that is older than STALE_S, is swept by the next writer.

What is written is always a regular file that this process creates: an
existing device node, FIFO, directory or symbolic link at the target is
refused, never written through or replaced (``--junit /dev/null`` must not
turn /dev/null into a file), and a path that goes through a symbolic link
another user planted in a world-writable directory (``/tmp/reports``) is
refused. New files get the umask's mode; a file that is replaced keeps its
mode.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from conformance.errors import OutputError

TMP_PREFIX = ".socket-conformance-tmp-"
PENDING_PREFIX = ".socket-conformance-pending-"
# A writer needs well under a second per set; anything this old is an orphan.
STALE_S = 600.0
# Where a run that did not complete puts its report, beside the last complete one.
PARTIAL_DIR = "partial"
# A platform id is a file name stem: letters, digits, dot, dash, underscore.
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_KINDS = {
    stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def planted_link(path: Path) -> str | None:
    """Describe the first symbolic link on ``path`` that another user planted in a
    world-writable directory (the attack fs.protected_symlinks stops), or None."""
    current = Path(os.path.abspath(path))
    for prefix in [*reversed(current.parents), current][1:]:
        try:
            st = prefix.lstat()
            if not stat.S_ISLNK(st.st_mode):
                continue
            parent = prefix.parent.stat()
        except OSError:
            return None
        if parent.st_mode & stat.S_IWOTH and st.st_uid not in (os.geteuid(), parent.st_uid):
            return (f"{prefix} is a symbolic link owned by another user (uid {st.st_uid}) "
                    f"in the world-writable directory {prefix.parent}")
    return None


def _refuse_non_regular(path: Path, flag: str) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{flag} {path}: cannot use it ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{flag} {path}: is {_kind(st.st_mode)}; outputs are written only "
                          "as regular files (name a new or regular file)")


def _probe(directory: Path) -> None:
    """Prove a file can be created in ``directory`` (OSError if not)."""
    fd, name = _create_temp(directory, "probe", 0o600)
    os.close(fd)
    os.unlink(name)


def check_directory(path: Path, flag: str = "--out") -> Path:
    """Create the output directory if needed, sweep it, prove it writable; return it.

    Every failure is one OutputError line naming the flag.
    """
    planted = planted_link(path)
    if planted:
        raise OutputError(f"{flag} {path}: {planted}; name the real directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        sweep(path)
        _probe(path)
    except FileExistsError:
        raise OutputError(f"{flag} {path}: exists and is not a directory") from None
    except OSError as exc:
        raise OutputError(f"{flag} {path}: not a writable directory ({exc.strerror})") from None
    return path


def check_file(path: Path, flag: str) -> Path:
    """Refuse, before anything runs, an output file that cannot be written as asked:
    a directory, device, FIFO or symbolic link in its place, a planted link on its
    way, a missing or unwritable directory. Returns the path."""
    if path.name in ("", ".", ".."):
        raise OutputError(f"{flag} {path}: expected a file name")
    _refuse_non_regular(path, flag)
    planted = planted_link(path.parent)
    if planted:
        raise OutputError(f"{flag} {path}: {planted}; name a file in the real directory")
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {path}: directory {parent} does not exist")
    try:
        sweep(parent)
        _probe(parent)
    except OSError as exc:
        raise OutputError(f"{flag} {path}: cannot write in {parent} ({exc.strerror})") from None
    return path


def _create_temp(directory: Path, name: str, mode: int) -> tuple[int, str]:
    tmp = directory / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.{name}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    return os.open(tmp, flags, mode), str(tmp)


def _write_temp(path: Path, text: str) -> str:
    """The whole text in a new temporary beside ``path``, synced; its name."""
    try:
        keep = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        keep = None
    # 0o666 lets the umask decide a new file's mode, as for any file a program creates.
    fd, tmp = _create_temp(path.parent, path.name, 0o666 if keep is None else 0o600)
    try:
        if keep is not None:
            os.fchmod(fd, keep)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=True) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_set(files: dict[Path, str], flag: str = "output") -> None:
    """Replace every file in ``files`` (all in one directory) with its text, as a set:
    on any failure nothing is replaced and one OutputError line says so."""
    if not files:
        return
    directory = next(iter(files)).parent
    for path in files:
        _refuse_non_regular(path, flag)
    done: list[tuple[str, Path]] = []
    try:
        sweep(directory)
        for path, text in files.items():
            done.append((_write_temp(path, text), path))
    except BaseException as exc:
        for tmp, _ in done:
            _unlink(tmp)
        if not isinstance(exc, (OSError, UnicodeEncodeError)):
            raise
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        names = ", ".join(str(p) for p in files)
        raise OutputError(f"cannot write {names} ({why}); nothing was replaced") from None
    note = _write_pending(directory, done) if len(done) > 1 else None
    try:
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        # A set's note stays: the next writer here finishes its renames. A lone
        # file's temporary goes, and the old file stays.
        if note is None:
            _unlink(done[0][0])
        raise
    if note is not None:
        _unlink(note)
    _sync_directory(directory)


def atomic_write(path: Path, text: str, flag: str = "output") -> None:
    """Replace one file with ``text``: the old file or the new one, never half."""
    write_set({path: text}, flag)


def _write_pending(directory: Path, done: list[tuple[str, Path]]) -> str:
    """The note naming the renames about to happen, itself written atomically."""
    text = json.dumps([[Path(tmp).name, path.name] for tmp, path in done])
    fd, tmp = _create_temp(directory, "note", 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    note = directory / f"{PENDING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    os.replace(tmp, note)
    return str(note)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink(name: str | Path) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def _writer_gone(name: str, prefix: str, mtime: float) -> bool:
    """Whether the process that made this temporary or note no longer works on it."""
    if time.time() - mtime > STALE_S:
        return True
    pid = name[len(prefix):].partition("-")[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def sweep(directory: Path) -> None:
    """Finish the renames of a set whose writer died midway, then remove the
    temporaries no live writer owns."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for e in entries:
        if e.name.startswith(PENDING_PREFIX) and e.is_file(follow_symlinks=False) \
                and _writer_gone(e.name, PENDING_PREFIX, e.stat().st_mtime):
            _roll_forward(directory, Path(e.path))
    for e in entries:
        if not e.name.startswith(TMP_PREFIX) or not e.is_file(follow_symlinks=False):
            continue
        try:
            if _writer_gone(e.name, TMP_PREFIX, e.stat().st_mtime):
                _unlink(e.path)
        except OSError:
            continue


def _roll_forward(directory: Path, note: Path) -> None:
    try:
        renames = json.loads(note.read_text(encoding="utf-8"))
        for tmp, target in renames:
            if "/" in tmp or "/" in target or not tmp.startswith(TMP_PREFIX):
                raise ValueError("a name that is not the writer's")
            try:
                os.replace(directory / tmp, directory / target)
            except FileNotFoundError:
                continue
    except (OSError, ValueError, TypeError):
        pass
    _unlink(note)


def stem(report: dict[str, Any]) -> str:
    """The report's file name stem (its platform id), refused unless it is a plain name."""
    name = str(report["platform"]["id"])
    if not _STEM.fullmatch(name):
        raise OutputError(f"platform id {name!r} is not a plain file name; "
                          "refusing to write the report under it")
    return name


def report_json(report: dict[str, Any]) -> str:
    """The report as JSON text: indented, except each result, which is one line.

    One line per result keeps a diff of two reports to the results that
    changed, and lets json use its C encoder (an indent forces the Python one,
    three times slower, in the serial end of a run).
    """
    fields = []
    for key, value in report.items():
        if key == "results" and value:
            text = "[\n" + ",\n".join(f"    {json.dumps(r)}" for r in value) + "\n  ]"
        else:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        fields.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(fields) + "\n}\n" if fields else "{}\n"


def write_all(report: dict[str, Any], out: Path, partial: str | None = None) -> dict[str, Path]:
    """Write <platform-id>.json, .md and .html into ``out`` as a set; return their paths.

    A run that did not complete (``partial`` says why) writes into
    ``out/partial/`` instead, so the last complete report stays where it was.
    """
    from conformance.report import render

    name = stem(report)
    where = check_directory(out / PARTIAL_DIR if partial else out)
    texts = {
        "json": report_json(report),
        "md": render.markdown(report),
        "html": render.html(report),
    }
    paths = {kind: where / f"{name}.{kind}" for kind in texts}
    write_set({paths[kind]: text for kind, text in texts.items()}, "report")
    return paths


def partial_note(paths: dict[str, Path], reason: str) -> str:
    """The line that says where an incomplete run's report went, and why."""
    return (f"the run did not complete ({reason}): its report is {paths['json']}; "
            f"the last complete report in {paths['json'].parent.parent} was left as it was")
