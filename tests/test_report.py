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
