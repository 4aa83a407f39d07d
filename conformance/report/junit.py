"""JUnit XML from a platform report, for CI interfaces that show test results.

One <testcase> per case instance: the name is the stable case id with its
params (``udp.connected.send[family=inet,backend=libc]``), never the pytest
node id, so a CI history follows an instance across renames of test
functions; the classname is the area. deviates, timeout and error are
<failure> elements (type = the verdict) saying got / expected; unsupported
and skipped are <skipped>; a flaky instance passes and carries one
<flakyFailure> per failed attempt (Maven Surefire's element, which Jenkins
and others read as "passed on a re-run").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.report.render import expected_text, short
from conformance.report.write import atomic_write
from conformance.verdict import FAILING

_SKIPPED = frozenset({"unsupported", "skipped"})
# Characters XML 1.0 cannot carry at all, even escaped; ElementTree would
# write them raw and produce a file no parser accepts.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def case_name(result: dict[str, Any]) -> str:
    """``id[k=v,k=v]``, or the bare id for an instance without params."""
    params = ",".join(f"{k}={v}" for k, v in result["params"].items())
    return f"{result['id']}[{params}]" if params else result["id"]


def _classname(result: dict[str, Any]) -> str:
    area: str = result.get("area") or result["id"].split(".", 1)[0]
    return area


def _got_expected(result: dict[str, Any]) -> str:
    return (f"got {short(result['observation'])}; "
            f"expected {expected_text(result['expected'])}")


def _testcase(parent: ET.Element, r: dict[str, Any]) -> str:
    """Append one <testcase>; return how JUnit counts it (pass, failure, skipped)."""
    tc = ET.SubElement(parent, "testcase", classname=_clean(_classname(r)),
                       name=_clean(case_name(r)), time=f"{r['duration_s']:.6f}")
    props = ET.SubElement(tc, "properties")
    for name, value in (("verdict", r["verdict"]), ("observation", short(r["observation"])),
                        ("expected", expected_text(r["expected"])),
                        ("portable", short(r["portable"]))):
        ET.SubElement(props, "property", name=name, value=_clean(value))
    verdict = r["verdict"]
    if verdict in FAILING:
        message = _got_expected(r) if verdict == "deviates" else r["message"] or _got_expected(r)
        el = ET.SubElement(tc, "failure", type=verdict, message=_clean(f"{verdict}: {message}"))
        sources = "\n".join(f"source: {s['text']}" + (f" <{s['url']}>" if s.get("url") else "")
                            for s in r["sources"])
        el.text = _clean("\n".join(x for x in (_got_expected(r), r["message"], sources) if x))
        return "failure"
    if verdict in _SKIPPED:
        ET.SubElement(tc, "skipped", message=_clean(f"{verdict}: {r['message']}"))
        return "skipped"
    # Only a flaky result gets here with attempts: its failed ones, then a pass.
    for a in (a for a in r.get("attempts", []) if a["verdict"] in FAILING):
        ET.SubElement(tc, "flakyFailure", type=a["verdict"], message=_clean(
            f"{a['verdict']}: got {short(a['observation'])}; {a['message']}"))
    if r["message"]:
        ET.SubElement(tc, "system-out").text = _clean(r["message"])
    return "pass"


def to_xml(report: dict[str, Any]) -> str:
    """The whole report as one <testsuite> (named by platform id) inside <testsuites>."""
    p = report["platform"]
    results = report["results"]
    root = ET.Element("testsuites", name="socket-conformance")
    suite = ET.SubElement(root, "testsuite", name=_clean(p["id"]),
                          timestamp=_clean(report["started"]))
    props = ET.SubElement(suite, "properties")
    for key in ("os", "release", "arch", "libc", "python", "stack"):
        ET.SubElement(props, "property", name=key, value=_clean(p.get(key, "")))
    ET.SubElement(props, "property", name="suite",
                  value=_clean(f"{report['suite']['version']} ({report['suite']['revision']})"))
    counts = {"pass": 0, "failure": 0, "skipped": 0}
    for r in results:
        counts[_testcase(suite, r)] += 1
    total = f"{sum(r['duration_s'] for r in results):.6f}"
    for el in (root, suite):
        el.set("tests", str(len(results)))
        el.set("failures", str(counts["failure"]))
        el.set("errors", "0")
        el.set("skipped", str(counts["skipped"]))
        el.set("time", total)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def write(report: dict[str, Any], path: Path) -> None:
    """Write the JUnit file atomically: the old file or the new one, never half."""
    atomic_write(path, to_xml(report), "--junit")
