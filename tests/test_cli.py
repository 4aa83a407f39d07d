"""The command line, run as a user runs it: a subprocess started outside the checkout."""

from __future__ import annotations

import json

import pytest

from conformance.case import load_catalogue
from tests.conftest import cli, one_line_error


@pytest.fixture(scope="module")
def host_reports(tmp_path_factory):
    """A full host run at -n 0 and at -n 2, each started from an empty directory."""
    runs = {}
    for n in ("0", "2"):
        cwd = tmp_path_factory.mktemp(f"run-n{n}")
        proc = cli("run", "-q", "-n", n, "--out", "out", cwd=cwd)
        files = list((cwd / "out").glob("*.json"))
        runs[n] = (proc, files)
    return runs


def test_host_run_exits_zero_and_writes_one_valid_report(host_reports, load_report):
    proc, files = host_reports["0"]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert len(files) == 1
    report = load_report(files[0])
    assert report["summary"]["error"] == report["summary"]["deviates"] == 0
    assert files[0].with_suffix(".md").exists() and files[0].with_suffix(".html").exists()
    assert "report: " in proc.stdout
    cwd = files[0].parent.parent
    assert sorted(p.name for p in cwd.iterdir()) == ["out"], "the run left files in its cwd"


def test_host_run_covers_every_catalogued_case(host_reports, load_report):
    report = load_report(host_reports["0"][1][0])
    assert {r["id"] for r in report["results"]} == set(load_catalogue())


def test_parallel_run_gives_the_same_results_as_serial(host_reports, load_report):
    def triples(n):
        report = load_report(host_reports[n][1][0])
        return {(r["id"], json.dumps(r["params"], sort_keys=True), r["verdict"])
                for r in report["results"]}

    proc = host_reports["2"][0]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert triples("0") == triples("2"), triples("0") ^ triples("2")


def test_unwritable_out_is_one_line_and_exit_2(tmp_path):
    line = one_line_error(cli("run", "--out", "/proc/x", cwd=tmp_path))
    assert "/proc/x" in line


def test_unknown_option_is_one_line_and_exit_2(tmp_path):
    assert "--bogus" in one_line_error(cli("run", "--bogus", cwd=tmp_path))


def test_unknown_platform_is_one_line_and_exit_2(tmp_path):
    assert "mars" in one_line_error(cli("run", "--platform", "mars", cwd=tmp_path))


def test_bad_worker_count_is_one_line_and_exit_2(tmp_path):
    assert "-n" in one_line_error(cli("run", "-n", "lots", cwd=tmp_path))


def test_malformed_expectations_name_file_and_line(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "linux.toml").write_text('\n[["accept.blocks"]]\naccept = [{ a = 1 }]\n')
    proc = cli("run", "--out", str(tmp_path / "out"), cwd=tmp_path,
               env={"SOCKET_CONFORMANCE_EXPECTATIONS": str(exp)})
    line = one_line_error(proc)
    assert "linux.toml:2" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_version(tmp_path):
    proc = cli("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("socket-conformance ")


def test_cases_lists_every_id_as_text_and_json(tmp_path):
    text = cli("cases", cwd=tmp_path)
    as_json = json.loads(cli("cases", "--json", cwd=tmp_path).stdout)
    ids = set(load_catalogue())
    assert ids == {c["id"] for c in as_json}
    assert all(i in text.stdout for i in ids)
    assert all(c["citations"] for c in as_json)


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """`run` without and with -v, where an overlay makes accept.dgram deviate."""
    cwd = tmp_path_factory.mktemp("words")
    exp = cwd / "exp"
    exp.mkdir()
    for family in ("linux", "darwin", "freebsd", "windows"):
        (exp / f"{family}.toml").write_text(
            '[["accept.dgram"]]\naccept = [{ errno = "EINVAL" }]\nsource = "expects otherwise"\n')
    common = ("-n", "2", "-k", "test_accept and dgram", "--expectations", str(exp),
              "--out", "out")
    return cli("run", *common, cwd=cwd), cli("run", "-v", *common, cwd=cwd)


def test_run_speaks_in_verdicts_not_in_pytest_words(words):
    plain, _ = words
    assert plain.returncode == 1, plain.stderr
    out = plain.stdout
    for word in ("passed", "failed", "FAILED", "PASSED", "rootdir", "plugins:", "timeout:",
                 "test session starts", "bringing up nodes", "FAILURES", "[100%]"):
        assert word not in out, f"{word!r} in:\n{out}"
    first, *rest = [line for line in out.splitlines() if line.strip()]
    assert first.startswith("socket-conformance: ") and "case instances" in first
    assert rest[0].endswith("results: deviates 6")
    assert rest[1].startswith("DEVIATES accept.dgram [") and "(6 instances): got errno=EOPNOTSUPP" \
        in rest[1] and rest[1].endswith("expected errno=EINVAL")
    assert rest[-1].startswith("report: ")


def test_verbose_run_keeps_pytests_own_output(words):
    _, loud = words
    assert loud.returncode == 1, loud.stderr
    assert "test session starts" in loud.stdout and "rootdir" in loud.stdout
    assert "FAILED" in loud.stdout
    assert "DEVIATES accept.dgram" in loud.stdout  # the suite's summary still closes it
