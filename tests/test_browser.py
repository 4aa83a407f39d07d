"""The HTML report and matrix in a real headless browser (Debian package `chromium`).

The least machinery that proves the pages work: Chromium's own --dump-dom prints
the DOM after the page's script ran, and --screenshot keeps a picture in
tests/artifacts/. The matrix filter reads the URL fragment (#disagree), so the
filtered DOM can be dumped without driving the page. Everything else is asked
of the page by a probe: a script appended to a copy of it that acts as a reader
would (unticks a verdict, picks an area, follows a link), measures the layout
at the window size, and leaves its findings as JSON in the dumped DOM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.report import layout, matrix, matrix_render, model, render
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
def host(tmp_path_factory) -> dict:
    """A real host report of the accept and bind areas."""
    return model.load(mi.run_host(tmp_path_factory.mktemp("browser") / "host"))


@pytest.fixture(scope="module")
def page(host, tmp_path_factory) -> Path:
    """matrix.html from a real host report and two edited copies, kept as an artifact."""
    root = tmp_path_factory.mktemp("browser")
    named = [("host.json", host), ("gvisor.json", mi.gvisor_like(host)),
             ("darwin.json", mi.darwin_like(host))]
    m = matrix.build(named, expectations_dir=mi.expectations_dir(root / "exp"))
    assert any(r.disagree for r in m.rows) and not all(r.disagree for r in m.rows)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "matrix.html"
    path.write_text(matrix_render.html(m), encoding="utf-8")
    # Beside it, the reports its cells link to, as `compare reports/ --out reports` has them.
    for _, report in named:
        (ARTIFACTS / f"{report['platform']['id']}.html").write_text(render.html(report))
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
        browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,1000", url)
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


# --- the per-platform report -------------------------------------------------------

WIDTH, HEIGHT = 1280, 800

# Appended to a copy of the page; ``ACTIONS`` is replaced by what the reader does.
_PROBE = """<script>
(function () {
  function visible(el) { return !el.closest("[hidden]") && el.getClientRects().length > 0; }
  ACTIONS
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-verdict]"));
  var shown = items.filter(visible);
  var first = shown[0];
  var wide = Array.prototype.slice.call(document.querySelectorAll("body *")).filter(
    function (el) { return visible(el) && el.getBoundingClientRect().right > innerWidth + 0.5; });
  var target = document.querySelector(".target");
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    width: innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    too_wide: wide.slice(0, 5).map(function (el) { return el.tagName + "." + el.className; }),
    first: first && {verdict: first.dataset.verdict, id: first.id,
                     top: first.getBoundingClientRect().top - scrollY, height: innerHeight},
    shown: shown.map(function (el) { return [el.dataset.verdict, el.dataset.area]; }),
    sections: Array.prototype.slice.call(document.querySelectorAll("section.area"))
      .filter(visible).map(function (s) { return s.dataset.area; }),
    counter: document.getElementById("shown").textContent,
    target: target && (target.id || target.dataset.verdict),
    target_ids: target ? Array.prototype.slice.call(target.querySelectorAll("[id]"))
      .map(function (e) { return e.id; }).concat([target.id]) : [],
    target_visible: !!target && visible(target)
  });
  document.body.appendChild(out);
})();
</script>"""


def probe(page: Path, tmp_path: Path, actions: str = "", fragment: str = "") -> dict:
    copy = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}.html"
    copy.write_text(page.read_text().replace("</body>", _PROBE.replace("ACTIONS", actions)
                                             + "</body>"))
    text = browse(tmp_path, f"--window-size={WIDTH},{HEIGHT}", "--dump-dom",
                  copy.as_uri() + fragment)
    start = text.index('<pre id="probe">') + len('<pre id="probe">')
    raw = text[start:text.index("</pre>", start)]
    return json.loads(raw.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


@pytest.fixture(scope="module")
def troubled(host) -> dict:
    return mi.troubled(host)


@pytest.fixture(scope="module")
def report_page(troubled) -> Path:
    """The HTML report of a run with deviations, timeouts, an error, a flaky instance and a
    property counterexample; kept in tests/artifacts/ with its Markdown."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "report.html"
    path.write_text(render.html(troubled), encoding="utf-8")
    (ARTIFACTS / "report.md").write_text(render.markdown(troubled), encoding="utf-8")
    return path


def _untick(*verdicts: str) -> str:
    return "".join(
        f'document.querySelector("input.verdict-filter[value={v}]").click();' for v in verdicts)


def test_first_result_a_reader_sees_is_a_deviation_on_the_first_screen(report_page, tmp_path):
    seen = probe(report_page, tmp_path)
    assert seen["first"]["verdict"] == "deviates", seen["first"]
    assert 0 <= seen["first"]["top"] < HEIGHT, seen["first"]


def test_nothing_is_wider_than_a_1280px_window(report_page, tmp_path):
    seen = probe(report_page, tmp_path)
    assert seen["width"] == WIDTH
    assert seen["scroll_width"] <= WIDTH and not seen["too_wide"], seen


def test_nothing_is_wider_than_a_1280px_window_with_every_detail_open(report_page, tmp_path):
    seen = probe(report_page, tmp_path,
                 'document.querySelectorAll("details").forEach(function (d) { d.open = true; });')
    assert seen["scroll_width"] <= WIDTH and not seen["too_wide"], seen


def test_verdict_filter_shows_only_the_ticked_verdicts(report_page, troubled, tmp_path):
    seen = probe(report_page, tmp_path, _untick("conforms", "deviates", "error", "flaky"))
    assert seen["shown"] and {v for v, _ in seen["shown"]} == {"timeout"}
    timeouts = troubled["summary"]["timeout"]
    assert seen["counter"] == f"showing {timeouts} of {len(troubled['results'])} results"
    # No conforming row is left, so no area table is either.
    assert seen["sections"] == []


def test_area_filter_shows_one_area(report_page, tmp_path):
    seen = probe(report_page, tmp_path,
                 'var a = document.getElementById("area-filter"); a.value = "bind";'
                 'a.dispatchEvent(new Event("change"));')
    assert seen["shown"] and {a for _, a in seen["shown"]} == {"bind"}
    assert seen["sections"] == ["bind"]
    assert {v for v, _ in seen["shown"]} >= {"conforms", "error", "flaky"}


def test_anchor_of_a_folded_instance_marks_its_row(report_page, troubled, tmp_path):
    rows = [row for a in layout.build(troubled).areas for row in a.rows if len(row.instances) > 1]
    folded = rows[0].anchors[-1]
    seen = probe(report_page, tmp_path, fragment=f"#{folded}")
    assert seen["target_visible"] and folded in seen["target_ids"], seen


def test_link_to_a_result_a_filter_hides_clears_the_filter(report_page, troubled, tmp_path):
    some = next(r for r in troubled["results"] if r["verdict"] == "conforms")
    wanted = layout.anchor(some["id"], some["params"])
    seen = probe(report_page, tmp_path, _untick("conforms") + (
        f'history.replaceState(null, "", "#{wanted}");'
        'window.dispatchEvent(new HashChangeEvent("hashchange"));'))
    assert seen["target_visible"] and wanted in seen["target_ids"], seen
    assert seen["counter"] == f"showing all {len(troubled['results'])} results"


def test_anchors_are_unique_and_cover_every_result(report_page, troubled, tmp_path):
    text = browse(tmp_path, "--dump-dom", report_page.as_uri())
    for r in troubled["results"]:
        assert text.count(f'id="{layout.anchor(r["id"], r["params"])}"') == 1, r["id"]


def test_counterexample_detail_and_attempts_are_shown(report_page, tmp_path):
    text = browse(tmp_path, "--dump-dom", report_page.as_uri())
    for line in mi.COUNTEREXAMPLE:
        assert line.replace("'", "&#39;") in text or line in text, line
    assert "reproduce_failure" in text
    assert "port=40001" in text
    assert "recv: nothing within 1s" in text


def test_report_screenshots_are_kept(report_page, tmp_path):
    only_failing = tmp_path / "only-failing.html"
    only_failing.write_text(report_page.read_text().replace(
        "</body>", f"<script>{_untick('conforms')}</script></body>"))
    for name, height, page in (("report.png", HEIGHT, report_page),
                               ("report-long.png", 3000, report_page),
                               ("report-failing-only.png", HEIGHT, only_failing)):
        shot = ARTIFACTS / name
        shot.unlink(missing_ok=True)
        browse(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{height}",
               page.as_uri())
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_fields_render_as_text_not_links_or_markup(tmp_path):
    script = "<script>document.body.dataset.pwned = 1</script>"
    img = '<img src=x onerror="document.body.dataset.pwned = 1">'
    evil = mi.synthetic(f"evil{script}", [
        mi.result("x.evil", {"family": img}, "deviates", {"errno": script},
                  title=img, message=script, area=script,
                  sources=[{"text": img, "url": "javascript:document.body.dataset.pwned=1"}],
                  citations=[{"kind": "x", "ref": script, "section": img,
                              "url": "data:text/html,<b>x</b>"}]),
    ])
    path = tmp_path / "evil.html"
    path.write_text(render.html(evil))
    text = browse(tmp_path, "--dump-dom", path.as_uri())
    assert "data-pwned" not in text and "<img" not in text
    assert "javascript:" not in text.split("<script>")[0] and 'href="data:' not in text
    assert "&lt;script&gt;document.body.dataset.pwned = 1&lt;/script&gt;" in text


def test_a_matrix_cell_opens_its_result_in_that_platforms_report(page, tmp_path):
    import re

    links = re.findall(r'class="to-report" href="([^"]+)"', page.read_text())
    deviating = next(link for link in links if link.startswith("linux-4.4-gvisor.html#"))
    report, _, fragment = deviating.partition("#")
    seen = probe(page.parent / report, tmp_path, fragment=f"#{fragment}")
    assert seen["target_visible"] and fragment in seen["target_ids"], seen


def test_matrix_fits_a_1280px_window(page, tmp_path):
    seen = probe(page, tmp_path)
    assert seen["scroll_width"] <= WIDTH and not seen["too_wide"], seen
