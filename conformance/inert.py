"""Text from reports and input files, made inert wherever it is shown.

A report is input like any other: a field may hold terminal escape
sequences, line breaks, HTML or Markdown. Each place text is shown has
its own escaping, and all of it is here: the terminal (control characters
and bidirectional overrides become visible escapes, so a field cannot set
the title, clear the screen, or forge a line), Markdown (HTML, images,
links, code spans, table cells and line breaks stay text), HTML links
(http and https only) and XML (only the characters XML 1.0 allows).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# C0 and C1 controls and DEL, plus the Unicode line separators and the
# bidirectional overrides that reorder what a reader sees (Trojan Source).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Every ASCII punctuation character may be backslash-escaped in CommonMark; these
# can start markup anywhere in a line or a table cell ('<' and '&' become entities).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]!|~])")
# These start a block (heading, list, quote) only at the start of a line.
_MD_LEADING = re.compile(r"^([#+\-=>])")
_CODE_UNSAFE = re.compile(r"[`<>&\\]")


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (
        f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def terminal(text: object) -> str:
    """One line a terminal shows as it is: every control character escaped (``\\x1b``),
    and lone surrogates (which no terminal encoding can carry) too."""
    s = _CONTROL.sub(_visible, str(text))
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def markdown(text: object) -> str:
    """Markdown that renders as exactly this text, on one line, in a table cell or not."""
    s = terminal(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_LEADING.sub(r"\\\1", _MD_SPECIAL.sub(r"\\\1", s))


def markdown_code(text: object) -> str:
    """An identifier as a code span when it is plain, else as escaped text: a code
    span cannot hold a backtick safely, and some renderers mishandle markup in one."""
    s = terminal(text)
    if _CODE_UNSAFE.search(s):
        return markdown(s)
    return "`" + s.replace("|", "\\|") + "`"


def http_url(url: object) -> str | None:
    """The URL if it is an absolute http or https one, else None (never a link)."""
    s = str(url).strip()
    if _CONTROL.search(s):
        return None
    try:
        parts = urlsplit(s)
    except ValueError:
        return None
    return s if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def xml(text: object) -> str:
    """The text with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))
