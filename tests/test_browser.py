"""The HTML matrix in a real headless browser (Debian package `chromium`).

The least machinery that proves the page works: Chromium's own --dump-dom prints
the DOM after the page's script ran, and --screenshot keeps a picture in
tests/artifacts/. The filter state is read from the URL fragment (#disagree),
so the filtered DOM can be dumped without driving the page; a second check
clicks the checkbox from a script appended to a copy of the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.report import matrix, matrix_render, model
from tests import matrix_inputs as mi
from tests.conftest import ARTIFACTS


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless browser: install Debian's chromium (apt-get install -y chromium) "
           "or set CHROMIUM to a Chromium/Chrome binary",
)

# No sandbox (containers, root), no GPU, and nothing that talks to the network.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def browse(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class _Dom(HTMLParser):
    """The attributes of the elements the filter touches."""

    def __init__(self, text: str):
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.rows: list[dict[str, str | None]] = []
        self.areas: list[dict[str, str | None]] = []
        self.imgs = 0
        self.shown = ""
        self._in_shown = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "tr" and "case" in classes:
            self.rows.append(a)
        elif tag == "tbody" and "area" in classes:
            self.areas.append(a)
        elif tag == "img":
            self.imgs += 1
        self._in_shown = a.get("id") == "shown"

    def handle_endtag(self, tag):
        self._in_shown = False

    def handle_data(self, data):
        if self._in_shown:
            self.shown += data


def _disagrees(row: dict) -> bool:
    return "disagree" in (row.get("class") or "").split()


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """matrix.html from a real host report and two edited copies, kept as an artifact."""
    root = tmp_path_factory.mktemp("browser")
    host = model.load(mi.run_host(root / "host"))
    named = [("host.json", host), ("gvisor.json", mi.gvisor_like(host)),
             ("darwin.json", mi.darwin_like(host))]
    m = matrix.build(named, expectations_dir=mi.expectations_dir(root / "exp"))
    assert any(r.disagree for r in m.rows) and not all(r.disagree for r in m.rows)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "matrix.html"
    path.write_text(matrix_render.html(m), encoding="utf-8")
    return path


def test_page_loads_with_every_row_visible(page, tmp_path):
    dom = _Dom(browse(tmp_path, "--dump-dom", page.as_uri()))
    assert dom.body.get("data-filter") == "all", "the filter script did not run"
    assert dom.rows and not any("hidden" in r for r in dom.rows)
    assert dom.shown == f"showing all {len(dom.rows)} rows"


def test_fragment_shows_only_disagreeing_rows(page, tmp_path):
    dom = _Dom(browse(tmp_path, "--dump-dom", page.as_uri() + "#disagree"))
    assert dom.body.get("data-filter") == "disagree"
    split = [r for r in dom.rows if _disagrees(r)]
    assert split and len(split) < len(dom.rows)
    assert all(("hidden" in r) != _disagrees(r) for r in dom.rows)
    assert dom.shown == f"showing {len(split)} of {len(dom.rows)} rows"
    # An area with no disagreeing row disappears as a whole.
    visible_areas = {r.get("data-case", "").split(".")[0] for r in split}
    assert {a.get("data-area") for a in dom.areas if "hidden" not in a} == visible_areas


def test_fragment_can_ignore_documented_columns(page, tmp_path):
    dom = _Dom(browse(tmp_path, "--dump-dom", page.as_uri() + "#disagree-observed"))
    assert dom.body.get("data-filter") == "disagree-observed"
    observed = ["disagree-observed" in (r.get("class") or "").split() for r in dom.rows]
    assert any(observed) and sum(observed) < sum(_disagrees(r) for r in dom.rows)
    assert all(("hidden" in r) != seen for r, seen in zip(dom.rows, observed, strict=True))


def test_clicking_the_checkbox_filters(page, tmp_path):
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.read_text().replace(
        "</body>", '<script>document.getElementById("only-disagree").click();</script></body>'))
    dom = _Dom(browse(tmp_path, "--dump-dom", clicked.as_uri()))
    assert dom.body.get("data-filter") == "disagree"
    assert all(("hidden" in r) != _disagrees(r) for r in dom.rows)


def test_screenshots_are_kept(page, tmp_path):
    for name, url in (("matrix.png", page.as_uri()),
                      ("matrix-disagree.png", page.as_uri() + "#disagree")):
        shot = ARTIFACTS / name
        shot.unlink(missing_ok=True)
        browse(tmp_path, f"--screenshot={shot}", "--window-size=1600,1000", url)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_fields_render_as_text_not_markup(tmp_path):
    script = "<script>document.body.dataset.pwned = 1</script>"
    img = '<img src=x onerror="document.body.dataset.pwned = 1">'
    evil = mi.synthetic(f"evil{script}", [
        mi.result("x.evil", {"family": img}, "deviates", {"errno": script},
                  title=img, message=script, area=script),
    ])
    path = tmp_path / "evil.html"
    path.write_text(matrix_render.html(matrix.build([("evil.json", evil)], documented=False)))
    text = browse(tmp_path, "--dump-dom", path.as_uri())
    dom = _Dom(text)
    assert "data-pwned" not in text and dom.imgs == 0
    assert dom.body.get("data-filter") == "all"
    assert "&lt;script&gt;document.body.dataset.pwned = 1&lt;/script&gt;" in text
