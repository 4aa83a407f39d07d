"""Nothing a report contains can act (issue 17 item 5).

A report is input: its strings may hold terminal escape sequences (set the
title, clear the screen, draw a fake verdict), line breaks that forge
lines of output, HTML and Markdown for a CI job summary, URLs with other
schemes, and characters XML cannot carry. Each test plants one of those
and checks where it is shown that it stays text.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import cli, inert
from conformance.report import gate, junit, render, summary
from tests.test_outputs import _report

OSC_TITLE = "\x1b]0;owned\x07"
CLEAR_AND_FAKE = "\x1b[2J\x1b[H\x1b[31mgate: ok\x1b[0m"
FORGED = "\ngate: ok: regression 0, removed 0"
HOSTILE = OSC_TITLE + CLEAR_AND_FAKE + FORGED + "\u202e\x00\x9b"


def _hostile_pair(tmp_path: Path) -> tuple[Path, Path]:
    old = _report()
    new = _report()
    for i, r in enumerate(new["results"]):
        r["verdict"] = "error"
        r["message"] = HOSTILE
        r["observation"] = {"errno": HOSTILE}
        r["params"] = {"family": f"{HOSTILE}{i}"}
    paths = tmp_path / "old.json", tmp_path / "new.json"
    for p, rep in zip(paths, (old, new), strict=True):
        p.write_text(json.dumps(rep))
    return paths


def test_terminal_output_escapes_control_sequences(tmp_path, capsys):
    old, new = _hostile_pair(tmp_path)
    assert cli.main(["gate", "--baseline", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    for c in "\x1b\x07\x00\x9b\u202e":
        assert c not in out, repr(c)
    assert "\\x1b]0;owned\\x07" in out


def test_newline_in_a_field_cannot_forge_a_line_of_gate_output(tmp_path, capsys):
    old, new = _hostile_pair(tmp_path)
    cli.main(["gate", "--baseline", str(old), str(new)])
    lines = capsys.readouterr().out.splitlines()
    assert [ln for ln in lines if ln.startswith("gate: ")][-1].startswith("gate: FAIL")
    assert not [ln for ln in lines if ln.startswith("gate: ok")], lines


def test_run_summary_escapes_control_sequences():
    rep = _report()
    rep["results"][0].update(verdict="error", message=HOSTILE)
    lines = summary.lines(rep, {"json": Path("r.json")})
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == len(lines), "a line break in a field forged a line"


def test_error_line_escapes_control_characters_of_a_file_name(tmp_path, capsys):
    name = tmp_path / f"{OSC_TITLE}.json"
    name.write_text("{")
    assert cli.main(["gate", "--baseline", str(name), str(name)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.strip().splitlines()) == 1


def test_gate_markdown_escapes_html_images_backticks_and_line_breaks(tmp_path):
    old, new = _hostile_pair(tmp_path)
    payloads = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                "![t](https://evil.example/x.png)", "`` </td> ``", "\n## forged heading",
                "[click](javascript:alert(1))"]
    rep = json.loads(new.read_text())
    for i, (r, p) in enumerate(zip(rep["results"], payloads * 3, strict=False)):
        r["message"] = r["params"]["family"] = p + str(i)
        r["observation"] = {"errno": p}
        r["id"] = f"a.`{p}`"
    new.write_text(json.dumps(rep))
    md_path = tmp_path / "summary.md"
    cli.main(["gate", "--baseline", str(old), str(new), "--markdown", str(md_path)])
    md = md_path.read_text()
    for bad in ("<script", "<img", "![", "\n## forged", "](javascript", "</td>"):
        assert bad not in md, bad
    rows = [ln for ln in md.splitlines() if ln.startswith("| fails")]
    assert rows, md
    for row in rows:  # every row keeps its five cells: no pipe or backtick broke out
        assert len(row.replace("\\|", "").split("|")) == 7, row


@pytest.mark.parametrize("url,ok", [
    ("https://man7.org/linux/man-pages/man2/bind.2.html", True), ("http://x.org/", True),
    ("javascript:alert(1)", False), ("JAVASCRIPT:alert(1)", False), ("data:text/html,x", False),
    ("//evil.example/", False), ("java\nscript:alert(1)", False), ("vbscript:x", False),
])
def test_only_http_and_https_urls_may_become_links(url, ok):
    assert (inert.http_url(url) is not None) is ok


def test_junit_xml_holds_only_xml_legal_characters(tmp_path):
    rep = _report()
    for r in rep["results"]:
        r.update(verdict="error", message="nul\x00 esc\x1b surrogate\ud800 \ufffe bell\x07")
        r["observation"] = {"errno": "\x0b\x0c"}
    path = tmp_path / "junit.xml"
    junit.write(rep, path)
    root = ET.parse(path).getroot()  # a parser accepts it
    text = path.read_text(encoding="utf-8")
    for c in "\x00\x1b\x07\x0b\x0c\ufffe":
        assert c not in text, repr(c)
    assert root.find(".//failure") is not None


def _rendered_links(html: str) -> list[str]:
    import re

    return re.findall(r'href="([^"]*)"', html)


def test_report_html_links_only_http_and_https():
    rep = _report()
    rep["results"][0]["sources"] = [{"text": "x", "url": "javascript:alert(document.domain)"}]
    links = _rendered_links(render.html(rep))
    # In-page anchors (#accept.a--family-inet) are the report's own; every other link
    # must be a web address.
    assert not [u for u in links if not u.startswith("#") and inert.http_url(u) is None]
    assert "javascript:" not in render.html(rep)


def test_markdown_report_escapes_html_and_control_characters():
    rep = _report()
    rep["results"][0]["message"] = rep["results"][0]["observation"]["errno"] = \
        "<img src=x onerror=alert(1)>\x1b[2J\x00"
    md = render.markdown(rep)
    assert "<img" not in md and "\x1b" not in md and "\x00" not in md


def test_gate_text_keeps_ordinary_text_as_it_is():
    old = new = _report()
    out = gate.text(gate.compare(old, new))
    assert out[-1].startswith("gate: ok")
