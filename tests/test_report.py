"""Report writing: schema validation and atomic writes."""

from __future__ import annotations

import pytest

from conformance.errors import ReportError
from conformance.probe import fingerprint
from conformance.report import model, write


def _report():
    result = {
        "id": "a.b", "params": {"family": "inet"}, "nodeid": "t.py::t[family=inet]",
        "verdict": "conforms", "observation": {"x": 1}, "detail": {}, "expected": None,
        "portable": None, "sources": [], "duration_s": 0.001, "message": "",
        "title": "t", "level": "must", "area": "a", "citations": [],
    }
    return model.build(fingerprint(), [result], "")


def test_built_report_is_schema_valid():
    model.validate(_report())


def test_schema_mismatch_names_the_field():
    report = _report()
    report["results"][0]["verdict"] = "maybe"
    with pytest.raises(ReportError, match=r"results/0/verdict"):
        model.validate(report, "r.json")


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    from conformance.report import render

    def boom(report):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "html", boom)
    with pytest.raises(KeyboardInterrupt):
        write.write_all(_report(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_html_escapes_report_fields(tmp_path):
    report = _report()
    report["results"][0]["message"] = "<script>alert(1)</script>"
    paths = write.write_all(report, tmp_path)
    html = paths["html"].read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _result(case_id, params, verdict, observation, **extra):
    r = {
        "id": case_id, "params": params, "nodeid": f"t.py::{case_id}", "verdict": verdict,
        "observation": observation, "detail": {}, "expected": None, "portable": None,
        "sources": [], "duration_s": 0.001, "message": "", "title": "t", "level": "must",
        "area": case_id.split(".")[0], "citations": [],
    }
    r.update(extra)
    return r


def _mixed():
    results = [
        _result("a.ok", {"backend": b, "family": f}, "conforms", {"errno": "EAGAIN"})
        for b in ("python", "libc") for f in ("inet", "inet6")
    ] + [
        _result("a.bad", {"backend": "libc"}, "deviates", {"errno": "EINVAL"},
                expected={"accept": [{"errno": "EAGAIN"}], "source": "accept(2)",
                          "url": "https://man7.org/x", "when": {}, "open": False},
                sources=[{"family": "linux", "text": "accept(2)", "url": "https://man7.org/x"}]),
        _result("b.hang", {}, "timeout", None, message="accept() did not return within 2s"),
        _result("c.prop", {}, "deviates", {"holds": False, "counterexample": ["x=```1"],
                                           "reproduce": ["@reproduce_failure('6', b'AA')"]}),
    ]
    return model.build(fingerprint(), results, "")


def test_markdown_leads_with_areas_then_what_needs_attention_then_the_rest():
    from conformance.report import render

    md = render.markdown(_mixed())
    areas, attention, rest = (md.index(h) for h in (
        "| area | results |", "## Needs attention: 3", "## Everything else, by area"))
    assert areas < attention < rest
    # Deviations before the timeout; the conforming case only in the rest, once, folded.
    assert md.index("DEVIATES `a.bad`") < md.index("TIMEOUT `b.hang`") < rest
    assert md.count("`a.ok`") == 1
    assert "backend=libc\\|python, family=inet\\|inet6 (4 instances)" in md


def test_markdown_gives_expected_got_source_and_counterexample():
    from conformance.report import render

    md = render.markdown(_mixed())
    assert "- expected: errno=EAGAIN" in md and "- got: errno=EINVAL" in md
    assert "[accept(2)](<https://man7.org/x>)" in md
    # The fence is longer than the backticks inside it, so the example cannot end it.
    assert "````\nx=```1\n@reproduce_failure('6', b'AA')\n````" in md


def test_markdown_renders_report_text_as_text():
    from conformance.report import render

    report = _mixed()
    report["results"][0].update(
        message="<img src=x onerror=alert(1)>", verdict="error",
        sources=[{"text": "click", "url": "javascript:alert(1)"}])
    md = render.markdown(report)
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)" in md
    assert "javascript:" not in md


def test_every_instance_has_a_stable_anchor():
    from conformance.report import layout

    a = layout.anchor("accept.blocks", {"family": "inet6", "backend": "libc"})
    assert a == "accept.blocks--family-inet6--backend-libc"
    assert layout.anchor("x.y", {"p": '"><script>'}) == "x.y--p-_script_"
    assert layout.safe_url("javascript:alert(1)") is None
    assert layout.safe_url("https://man7.org/") == "https://man7.org/"


def test_instances_differing_only_in_detail_fold_and_keep_each_detail():
    from conformance.report import layout, render

    results = [_result("a.port", {"family": f}, "conforms", {"bound": True},
                       detail={"port": port}) for f, port in (("inet", 40001), ("inet6", 40002))]
    report = model.build(fingerprint(), results, "")
    (area,) = layout.build(report).areas
    (row,) = area.rows
    assert row.details == [("family=inet", {"port": 40001}), ("family=inet6", {"port": 40002})]
    page = render.html(report)
    assert "family=inet: port=40001" in page and "family=inet6: port=40002" in page
