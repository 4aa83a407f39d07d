"""Inputs: reports and expectation files are bounded and checked (issue 17 item 4).

Every file the suite reads is hostile until checked. A FIFO or /dev/zero
must not hang or fill memory, a huge sparse file must be refused by its
size, and an encoding, nesting depth or number size beyond sense must be
one line and exit 2, never a traceback. The Hypothesis tests at the end
generate malformed and adversarial files and hold the loaders to that.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import cli, expectations, inputs
from conformance.errors import UsageError
from tests.conftest import cli as run_cli
from tests.conftest import one_line_error
from tests.test_outputs import _report

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _gate(capsys, baseline: Path, new: Path | None = None) -> tuple[int, list[str]]:
    code = cli.main(["gate", "--baseline", str(baseline), str(new or baseline)])
    return code, capsys.readouterr().err.strip().splitlines()


def _refused(capsys, path: Path) -> str:
    code, err = _gate(capsys, path)
    assert code == 2, err
    assert len(err) == 1, err
    return err[0]


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_report()))
    return path


def test_gate_baseline_fifo_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "baseline.json"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(capsys, fifo)


def test_run_baseline_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "baseline.json"
    os.mkfifo(fifo)
    proc = run_cli("run", "--out", str(tmp_path / "out"), "--baseline", str(fifo), cwd=tmp_path)
    assert "not a regular file" in one_line_error(proc)
    assert not (tmp_path / "out").exists()


def test_gate_baseline_dev_zero_is_refused_without_reading_it(capsys):
    assert "not a regular file" in _refused(capsys, Path("/dev/zero"))


def test_huge_sparse_baseline_is_refused_by_its_size(tmp_path, capsys):
    sparse = tmp_path / "sparse.json"
    with open(sparse, "wb") as f:
        f.truncate(2 * 1024 ** 3)
    assert "more than the" in _refused(capsys, sparse)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_baseline_in_another_encoding_is_one_line(tmp_path, capsys, encoding):
    path = tmp_path / "b.json"
    text = json.dumps(_report(), ensure_ascii=False).replace("fake(2)", "façade(2)")
    path.write_bytes(text.encode(encoding))
    line = _refused(capsys, path)
    assert "UTF-16" in line if encoding == "utf-16" else "not UTF-8" in line


def test_json_nested_100000_deep_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    assert "nested" in _refused(capsys, path)


def test_report_nested_deeper_than_any_real_one_is_one_line(tmp_path, capsys):
    rep = _report()
    deep: object = "x"
    for _ in range(500):
        deep = {"k": deep}
    rep["results"][0]["observation"] = {"v": deep}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(rep))
    assert "nested more than" in _refused(capsys, path)


def test_5000_digit_integer_is_one_line(tmp_path, capsys):
    rep = json.dumps(_report()).replace('"duration_s": 0.01', '"duration_s": ' + "9" * 5000, 1)
    path = tmp_path / "big.json"
    path.write_text(rep)
    assert "5000-digit" in _refused(capsys, path)


def test_5000_digit_schema_version_is_one_line(tmp_path, capsys):
    rep = _report()
    rep["schema"] = "socket-conformance/report/" + "7" * 5000
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(rep))
    line = _refused(capsys, path)
    assert "is not a socket-conformance report schema" in line and len(line) < 600


def test_lone_surrogate_is_one_line(tmp_path, capsys):
    rep = json.dumps(_report()).replace('"message": ""', '"message": "\\ud800"', 1)
    path = tmp_path / "surrogate.json"
    path.write_text(rep)
    assert "lone surrogate" in _refused(capsys, path)


def test_nan_and_infinity_are_not_json(tmp_path, capsys):
    rep = json.dumps(_report()).replace('"duration_s": 0.01', '"duration_s": NaN', 1)
    path = tmp_path / "nan.json"
    path.write_text(rep)
    assert "NaN" in _refused(capsys, path)


def test_javascript_url_in_a_report_is_refused(tmp_path, capsys):
    rep = _report()
    rep["results"][0]["sources"] = [{"text": "x", "url": "javascript:alert(document.domain)"}]
    path = tmp_path / "js.json"
    path.write_text(json.dumps(rep))
    assert "not an http or https address" in _refused(capsys, path)


def test_javascript_url_in_an_expectation_file_is_refused(tmp_path):
    (tmp_path / "linux.toml").write_text(
        '[["udp.x"]]\nsource = "man"\nurl = "javascript:alert(document.domain)"\n'
        'accept = [{errno = "EINVAL"}]\n')
    with pytest.raises(expectations.ExpectationError, match="http or https"):
        expectations.load_all(tmp_path)


def test_step_summary_fifo_does_not_hang_the_gate(tmp_path):
    good = _good(tmp_path)
    fifo = tmp_path / "summary"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "conformance", "gate", "--baseline",
                           str(good), str(good)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, GITHUB_STEP_SUMMARY=str(fifo)))
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "GITHUB_STEP_SUMMARY" in proc.stderr


def test_read_text_refuses_a_file_over_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_text("x" * 11)
    with pytest.raises(inputs.InputError, match="more than the 10"):
        inputs.read_text(path, limit=10)


# --- generated attacks ------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["\x1b]0;pwned\x07", "\ud800", "javascript:alert(1)", "<script>x</script>",
                     "9" * 5000, "socket-conformance/report/" + "1" * 400, "\n## forged"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_reports(draw) -> bytes:
    """A valid report with one field replaced by anything, or removed."""
    doc = copy.deepcopy(_report())
    path = draw(st.sampled_from(_paths(doc)[1:]), label="field")
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if draw(st.booleans(), label="remove") and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(_VALUES, label="value")
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


_RAW = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(1, 3000).map(lambda n: (b"[" * n) + (b"]" * n)),
    st.integers(1, 3000).map(lambda n: (b'{"a":' * n) + b"1" + (b"}" * n)),
    st.sampled_from([b"\xff\xfe{\x00}\x00", b"\xef\xbb\xbf{}", b"NaN", b"1e999999",
                     b"-" + b"1" * 5000, json.dumps(_report()).encode("utf-16")]),
)


@FUZZ
@given(data=st.one_of(mutated_reports(), _RAW))
def test_generated_reports_get_one_line_and_exit_2_never_a_traceback(tmp_path, capsys, data):
    bad = tmp_path / "fuzz.json"
    bad.write_bytes(data)
    good = _good(tmp_path)
    for args in ((bad, good), (good, bad)):
        code, err = _gate(capsys, *args)
        assert code in (0, 1, 2), code
        if code == 2:
            assert len(err) == 1, err
        # Nothing from the file reaches the terminal as a control sequence.
        out = "\n".join(err)
        assert "\x1b" not in out and "\x07" not in out


_TOML_VALUES = st.one_of(
    st.text(max_size=12).map(json.dumps), st.integers().map(str),
    st.sampled_from(['"javascript:alert(1)"', "[1, 2]", "{a = 1}", "9" * 5000, "true",
                     '"https://example.org/"', '[{errno = "EINVAL"}]', "[[[[[[[[1]]]]]]]]"]),
)


@st.composite
def expectation_files(draw) -> bytes:
    """An expectations file: plausible entries with arbitrary values, or raw junk."""
    if draw(st.booleans(), label="junk"):
        return draw(_RAW)
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        lines.append(f'[["{draw(st.sampled_from(["udp.a", "tcp.b", "x"]))}"]]')
        for _ in range(draw(st.integers(0, 5))):
            key = draw(st.sampled_from(["source", "url", "accept", "open", "when", "tags",
                                        "bogus"]))
            lines.append(f"{key} = {draw(_TOML_VALUES)}")
    text = "\n".join(lines) + "\n"
    return text.encode("utf-8", "surrogatepass")


@FUZZ
@given(data=expectation_files())
def test_generated_expectation_files_get_one_line_never_a_traceback(tmp_path, data):
    directory = tmp_path / "exp"
    directory.mkdir(exist_ok=True)
    (directory / "linux.toml").write_bytes(data)
    try:
        expectations.load_all(directory)
    except UsageError as exc:
        assert len(str(exc).strip().splitlines()) == 1, str(exc)


def test_expectations_directory_with_malformed_file_is_one_line_at_the_cli(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "linux.toml").write_bytes(b"[" * 5000)
    proc = run_cli("run", "--out", str(tmp_path / "out"), cwd=tmp_path,
                   env={"SOCKET_CONFORMANCE_EXPECTATIONS": str(exp)})
    one_line_error(proc)
