"""The compatibility matrix: model, renderings and `socket-conformance compare`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.errors import ReportError
from conformance.report import matrix, matrix_render, model
from tests import matrix_inputs as mi
from tests.conftest import cli, one_line_error


def compare(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return cli("compare", *args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A real host report and two copies edited into a gVisor-like and a macOS-like one."""
    root = tmp_path_factory.mktemp("matrix")
    host_file = mi.run_host(root / "host")
    host = model.load(host_file)
    files = {
        "host": host_file,
        "gvisor": mi.write(root / "gvisor.json", mi.gvisor_like(host)),
        "darwin": mi.write(root / "darwin.json", mi.darwin_like(host)),
    }
    return {"root": root, "files": files, "exp": mi.expectations_dir(root / "exp")}


@pytest.fixture(scope="module")
def mx(inputs):
    named = [(str(p), model.load(p)) for p in inputs["files"].values()]
    return matrix.build(named, expectations_dir=inputs["exp"])


def rows_of(m: matrix.Matrix, case_id: str) -> dict[str, matrix.Row]:
    return {r.params: r for r in m.rows if r.case_id == case_id}


def cells(m: matrix.Matrix, row: matrix.Row) -> dict[str, matrix.Cell]:
    return {c.id: cell for c, cell in zip(m.columns, row.cells, strict=True)}


def test_columns_are_reports_then_documented_families_without_a_report(mx):
    assert mx.columns[0].id.endswith("-host")
    assert [(c.id, c.observed) for c in mx.columns[1:]] == [
        ("linux-4.4-gvisor", True),
        ("darwin-24.1-arm64", True),
        # darwin has a report, linux has reports and no file here: no documented column.
        ("freebsd-documented", False),
        ("windows-documented", False),
    ]


def test_rows_are_grouped_by_area(mx):
    areas = [a for a, _ in mx.areas]
    assert areas == sorted(areas) and {"accept", "bind"} <= set(areas)
    assert all(r.area == a for a, rows in mx.areas for r in rows)


def test_a_case_where_every_instance_agrees_is_one_collapsed_row(mx):
    rows = rows_of(mx, mi.BLOCKS)
    assert list(rows) == ["family=inet|inet6, backend=libc|python"]
    row = rows["family=inet|inet6, backend=libc|python"]
    assert row.instances == 4 and row.disagree == ""
    got = cells(mx, row)
    assert got["darwin-24.1-arm64"].state == matrix.ABSENT
    # The test's expectations overlay names no entry for it: FreeBSD's shipped one stands.
    assert got["freebsd-documented"].state == matrix.DOCUMENTED


def test_a_case_that_differs_by_one_axis_expands_only_that_axis(mx):
    rows = rows_of(mx, mi.NONBLOCK)
    assert set(rows) == {"family=inet|inet6, backend=libc", "family=inet|inet6, backend=python"}
    py = cells(mx, rows["family=inet|inet6, backend=python"])
    assert py["linux-4.4-gvisor"].text == "errno=EINVAL"
    assert py["linux-4.4-gvisor"].state == "deviates"
    host = py[mx.columns[0].id]
    assert host.kinds == (1,) and py["linux-4.4-gvisor"].kinds == (2,)
    assert py["darwin-24.1-arm64"].kinds == (1,)
    assert rows["family=inet|inet6, backend=python"].disagree == "observed"


def test_documented_cells_join_the_kinds_they_admit_and_flag_new_ones(mx):
    rows = rows_of(mx, mi.NONBLOCK)
    libc = cells(mx, rows["family=inet|inet6, backend=libc"])
    assert libc["freebsd-documented"].state == matrix.DOCUMENTED
    assert libc["freebsd-documented"].kinds == (1,)  # admits the observed EAGAIN
    # Winsock's spelling reads as the POSIX name (one errno vocabulary), and
    # EINVAL is not the observed EAGAIN: a new kind.
    assert libc["windows-documented"].text == "errno=EINVAL"
    assert libc["windows-documented"].kinds == (2,)
    assert rows["family=inet|inet6, backend=libc"].disagree == "documented"
    py = cells(mx, rows["family=inet|inet6, backend=python"])
    assert py["windows-documented"].state == matrix.UNKNOWN  # `when` limits it to libc


def test_unsupported_is_a_behaviour_kind_and_skipped_is_not(mx):
    rows = rows_of(mx, mi.EPHEMERAL)
    assert set(rows) == {
        "family=inet, type=dgram|stream, backend=libc|python",
        "family=inet6, type=dgram|stream, backend=libc|python",
    }
    v6 = rows["family=inet6, type=dgram|stream, backend=libc|python"]
    got = cells(mx, v6)
    assert got["linux-4.4-gvisor"].state == "unsupported" and got["linux-4.4-gvisor"].kinds == (2,)
    assert got["darwin-24.1-arm64"].state == "skipped" and got["darwin-24.1-arm64"].kinds == ()
    assert v6.disagree == "observed"
    assert rows["family=inet, type=dgram|stream, backend=libc|python"].disagree == ""


def test_incomplete_grid_expands_every_instance():
    # Changing family alone or backend alone never changes a cell between the two
    # instances present, yet the two instances differ: both must stay visible.
    a = mi.synthetic("p-a", [
        mi.result("x.y", {"family": "inet", "backend": "libc"}, "conforms", {"v": 1}),
        mi.result("x.y", {"family": "inet6", "backend": "python"}, "conforms", {"v": 2}),
    ])
    m = matrix.build([("a.json", a)], documented=False)
    assert [r.params for r in m.rows] == ["family=inet, backend=libc",
                                          "family=inet6, backend=python"]


def test_documented_columns_alone_can_disagree(tmp_path):
    (tmp_path / "freebsd.toml").write_text('[["x.y"]]\naccept = [{ v = 1 }]\nsource = "s"\n')
    (tmp_path / "windows.toml").write_text('[["x.y"]]\naccept = [{ v = 2 }]\nsource = "s"\n')
    a = mi.synthetic("p-a", [mi.result("x.y", {}, "skipped", None)])
    m = matrix.build([("a.json", a)], expectations_dir=tmp_path)
    (row,) = m.rows
    got = cells(m, row)
    assert (got["freebsd-documented"].kinds, got["windows-documented"].kinds) == ((1,), (2,))
    assert row.disagree == "documented"


def test_same_platform_id_twice_names_both_files():
    a = mi.synthetic("same-id", [])
    with pytest.raises(ReportError, match=r"one\.json and two\.json .*same-id"):
        matrix.build([("one.json", a), ("two.json", a)])


def test_markdown_has_a_table_per_area_and_marks_documented_columns(mx):
    md = matrix_render.markdown(mx)
    assert "## accept" in md and "## bind" in md
    assert "FreeBSD (documented, not observed)" in md
    assert ("| ≠ 2 (observed) | `accept.nonblocking.would_block` | family=inet\\|inet6, "
            "backend=python |") in md
    assert "[2] [errno=EINVAL](<linux-4.4-gvisor.html#accept.nonblocking.would_block--" in md


def _hostile() -> dict:
    evil = "<script>alert(1)</script>"
    return mi.synthetic(f"evil{evil}", [
        mi.result("x.evil", {"family": evil}, "deviates", {"errno": evil},
                  title=evil, message=evil, area=evil),
    ])


def test_html_escapes_everything_taken_from_reports():
    m = matrix.build([("evil.json", _hostile())], documented=False)
    page = matrix_render.html(m)
    assert "<script>alert(1)</script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert page.count("<script>") == 1  # the page's own filter script
    md = matrix_render.markdown(m)
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_every_verdict_has_a_legend_entry_and_a_colour():
    from conformance.verdict import VERDICTS

    page = matrix_render.html(matrix.build([("a.json", mi.synthetic("p", []))]))
    style = page[page.index("<style>"):page.index("</style>")]
    for v in VERDICTS:
        assert v in matrix_render.LEGEND and re.search(rf"\.{v}\b", style), v


def test_html_is_self_contained(mx):
    page = matrix_render.html(mx)
    for needle in (" src=", "<link", "@import", "url(", "<iframe", "<object"):
        assert needle not in page, needle
    assert "default-src 'none'" in page
    assert 'id="only-disagree"' in page
    assert page.count('class="case disagree') == sum(1 for r in mx.rows if r.disagree)


def test_compare_writes_both_files(inputs, tmp_path):
    files = [str(p) for p in inputs["files"].values()]
    proc = compare(*files, "--out", "out", cwd=tmp_path,
                   env={"SOCKET_CONFORMANCE_EXPECTATIONS": str(inputs["exp"])})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "matrix.md").exists()
    assert (tmp_path / "out" / "matrix.html").exists()
    assert "row(s) where platforms disagree" in proc.stdout
    assert "documented only: freebsd-documented, windows-documented" in proc.stdout


def test_compare_takes_a_directory_of_reports(inputs, tmp_path):
    proc = compare(str(inputs["files"]["host"].parent), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "observed: linux-" in proc.stdout


@pytest.mark.parametrize(("content", "expect"), [
    ("this is not json", r"bad\.json: not JSON .*not a report"),
    ('{"hello": 1}', r"bad\.json: not a socket-conformance report"),
    ("[1, 2]", r"bad\.json: not a socket-conformance report"),
])
def test_compare_refuses_a_file_that_is_not_a_report(tmp_path, content, expect):
    (tmp_path / "bad.json").write_text(content)
    line = one_line_error(compare("bad.json", "--out", "out", cwd=tmp_path))
    assert re.search(expect, line), line
    assert not (tmp_path / "out").exists()


def test_compare_names_the_file_and_field_of_a_schema_mismatch(inputs, tmp_path):
    report = json.loads(inputs["files"]["host"].read_text())
    report["results"][1]["verdict"] = "maybe"
    mi.write(tmp_path / "broken.json", report)
    line = one_line_error(compare(str(inputs["files"]["gvisor"]), "broken.json",
                                  "--out", "out", cwd=tmp_path))
    assert "broken.json" in line and "results/1/verdict" in line
    assert not (tmp_path / "out").exists()


def test_compare_names_the_schema_version_it_does_not_know(inputs, tmp_path):
    report = json.loads(inputs["files"]["host"].read_text())
    report["schema"] = "socket-conformance/report/99"
    mi.write(tmp_path / "future.json", report)
    line = one_line_error(compare("future.json", cwd=tmp_path))
    assert "future.json" in line and "socket-conformance/report/99" in line


def test_compare_refuses_two_reports_of_one_platform(inputs, tmp_path):
    host = inputs["files"]["host"]
    copy = mi.write(tmp_path / "copy.json", json.loads(host.read_text()))
    line = one_line_error(compare(str(host), str(copy), "--out", "out", cwd=tmp_path))
    assert str(host) in line and str(copy) in line and "platform" in line
    assert not (tmp_path / "out").exists()


def test_compare_refuses_a_missing_file_and_an_empty_directory(tmp_path):
    line = one_line_error(compare("nope.json", cwd=tmp_path))
    assert "nope.json" in line
    (tmp_path / "empty").mkdir()
    line = one_line_error(compare("empty", cwd=tmp_path))
    assert "empty" in line and "no report" in line


def test_compare_needs_at_least_one_report(tmp_path):
    one_line_error(compare(cwd=tmp_path))


GRID = [{"a": a, "b": b} for a in ("x", "y") for b in ("p", "q")]


@given(st.lists(st.lists(st.sampled_from(["1", "2", None]), min_size=4, max_size=4),
                min_size=1, max_size=3))
@settings(max_examples=150, deadline=None)
def test_collapsing_loses_nothing(platforms):
    """Every instance is in exactly one row, and that row shows its observation everywhere."""
    reports = [
        (f"{i}.json", mi.synthetic(f"p{i}", [
            mi.result("c.d", params, "conforms" if v else "skipped", {"v": v} if v else None)
            for params, v in zip(GRID, values, strict=True)
        ]))
        for i, values in enumerate(platforms)
    ]
    m = matrix.build(reports, documented=False)
    assert sum(r.instances for r in m.rows) == len(GRID)
    for params, *values in zip(GRID, *platforms, strict=True):
        holding = [r for r in m.rows
                   if all(params[k] in v.split("|")
                          for k, v in (part.split("=") for part in r.params.split(", ")))]
        assert len(holding) == 1, (params, [r.params for r in m.rows])
        texts = [c.text for c in holding[0].cells]
        assert texts == [f"v={v}" if v else "skipped" for v in values]


def test_winsock_errno_names_are_the_posix_ones_in_one_vocabulary():
    linux = mi.synthetic("linux-x", [mi.result("a.b", {}, "conforms", {"errno": "EINVAL"})])
    windows = mi.synthetic("windows-x", [
        mi.result("a.b", {}, "deviates", {"errno": "WSAEINVAL", "calls": ["WSAENOTSOCK"]})])
    windows["platform"]["os"] = "windows"
    linux["results"][0]["observation"]["calls"] = ["ENOTSOCK"]
    m = matrix.build([("l.json", linux), ("w.json", windows)], documented=False)
    (row,) = m.rows
    assert row.disagree == "" and row.kinds == 1
    assert row.cells[1].text == "errno=EINVAL, calls=[ENOTSOCK]"
    # The platform's own spelling stays with the cell.
    assert "WSAEINVAL" in row.cells[1].note
    # Not a prefix rule for any word: only WSAE<NAME> is Winsock's errno spelling.
    assert matrix.one_errno_vocabulary(["WSAStartup", "WSAEACCES"]) == ["WSAStartup", "EACCES"]


def test_each_observed_cell_links_to_its_result_in_that_platforms_report(mx):
    from conformance.report import layout

    row = rows_of(mx, mi.BLOCKS)["family=inet|inet6, backend=libc|python"]
    got = cells(mx, row)
    host_id = mx.columns[0].id
    link = got[host_id].link
    page, _, fragment = link.partition("#")
    assert page == f"{host_id}.html"
    assert fragment.startswith(layout.anchor(mi.BLOCKS, {}))
    assert got["darwin-24.1-arm64"].link == ""  # absent there: nothing to link to
    assert got["freebsd-documented"].link == ""  # documented, not a report
    page = matrix_render.html(mx)
    assert f'href="{link}"' in page
    assert f"(<{link}>)" in matrix_render.markdown(mx)


def test_link_to_a_report_cannot_leave_the_directory_or_become_a_scheme():
    assert matrix.report_link("../x:y", "a.b", {"p": "v"}) == "..%2Fx%3Ay.html#a.b--p-v"


def test_each_area_says_how_many_rows_agree_across_observed_platforms(mx):
    accept = dict(mx.areas)["accept"]
    split = [r for r in accept if r.disagree == "observed"]
    assert [r.case_id for r in split] == [mi.NONBLOCK]  # its python row, gVisor's EINVAL
    assert matrix.agreeing(accept) == len(accept) - 1
    line = f"{matrix.agreeing(accept)} of {len(accept)} row(s) agree across the 3 observed"
    assert line in matrix_render.markdown(mx) and line in matrix_render.html(mx)


def test_every_link_lands_on_an_anchor_of_that_platforms_report(mx, inputs):
    from conformance.report import render

    host = model.load(inputs["files"]["host"])
    page = render.html(host)
    links = [r.cells[0].link for r in mx.rows if r.cells[0].link]
    assert len(links) == len([r for r in mx.rows if r.cells[0].state != matrix.ABSENT])
    for link in links:
        assert f'id="{link.partition("#")[2]}"' in page, link
