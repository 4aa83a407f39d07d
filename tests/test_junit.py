"""JUnit XML: well-formed, named by case id + params, one element per verdict kind."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conformance.report import junit, write
from tests.test_gate import flaky, report, result


def _parse(rep: dict) -> ET.Element:
    return ET.fromstring(junit.to_xml(rep).encode("utf-8"))


@pytest.fixture
def tree() -> ET.Element:
    return _parse(report([
        result("udp.connected.send", family="inet", backend="libc"),
        result("bind.b", "deviates", {"errno": "EINVAL"}),
        dict(result("accept.t", "timeout", None), message="accept did not return"),
        dict(result("accept.e", "error", None), message="HarnessError: boom"),
        result("listen.u", "unsupported", None),
        dict(result("listen.s", "skipped", None), message="no namespace privilege"),
        result("listen.d", "undocumented", {"x": 1}),
        flaky("connect.f", family="inet6"),
    ]))


def _case(tree: ET.Element, name: str) -> ET.Element:
    (tc,) = [tc for tc in tree.iter("testcase") if tc.get("name") == name]
    return tc


def test_names_are_case_id_and_params_and_classname_is_the_area(tree):
    tc = _case(tree, "udp.connected.send[family=inet,backend=libc]")
    assert tc.get("classname") == "udp"
    assert list(tc.iter("failure")) == [] and list(tc.iter("skipped")) == []
    assert _case(tree, "bind.b").get("classname") == "bind"


def test_failing_verdicts_are_failures_saying_got_and_expected(tree):
    failure = _case(tree, "bind.b").find("failure")
    assert failure.get("type") == "deviates"
    assert failure.get("message") == "deviates: got errno=EINVAL; expected errno=EAGAIN"
    assert "source: fake(2)" in failure.text
    assert _case(tree, "accept.t").find("failure").get("message") == \
        "timeout: accept did not return"
    assert _case(tree, "accept.e").find("failure").get("type") == "error"


def test_unsupported_and_skipped_are_skipped(tree):
    assert _case(tree, "listen.u").find("skipped").get("message").startswith("unsupported")
    assert _case(tree, "listen.s").find("skipped").get("message") == \
        "skipped: no namespace privilege"


def test_flaky_passes_with_its_failed_attempts(tree):
    tc = _case(tree, "connect.f[family=inet6]")
    assert tc.find("failure") is None
    (ff,) = tc.findall("flakyFailure")
    assert ff.get("type") == "deviates" and "errno=EINVAL" in ff.get("message")
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    assert props["verdict"] == "flaky"


def test_counts_on_suite_and_root(tree):
    (suite,) = tree.findall("testsuite")
    assert suite.get("name") == "linux-6.18-x86_64-host"
    for el in (tree, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors"), el.get("skipped")) == \
            ("8", "3", "0", "2")


def test_characters_xml_cannot_carry_are_replaced_not_written_raw():
    rep = report([dict(result("bind.b", "deviates", {"data": "a\x00b\x1bc<&>"}),
                       message="bad \x01 byte")])
    tree = _parse(rep)
    failure = _case(tree, "bind.b").find("failure")
    assert "a\ufffdb\ufffdc<&>" in failure.get("message")


def test_write_is_atomic_and_replaces_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "junit.xml"
    path.write_text("old")
    rep = report([result("bind.b")])

    def boom(_src, _dst):
        raise KeyboardInterrupt

    # Interrupted at the last moment: the new text is complete but not yet in place.
    monkeypatch.setattr(write.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        junit.write(rep, path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["junit.xml"]
    monkeypatch.undo()
    junit.write(rep, path)
    ET.parse(path)
