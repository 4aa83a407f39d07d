"""Bad option values are refused before anything runs or is written (issue 17 item 1).

Each value below once started a run that then overwrote a good report
with a useless one (or ended in a traceback). Now the command line is
checked first: one line, exit 2, and the report directory untouched.
"""

from __future__ import annotations

import argparse

import pytest

from conformance import checks, cli

BAD = [
    ("-k", "("), ("-k", "a and"), ("--timeout", "inf"), ("--timeout", "nan"),
    ("--timeout", "1e-9"), ("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "1e400"),
    ("--deadline", "0"), ("--deadline", "-1"), ("--deadline", "nan"), ("--deadline", "inf"),
    ("-n", "99999999999999999999999"), ("-n", "9" * 5000), ("-n", "-1"), ("-n", "1e3"),
    ("-n", "\u0663"), ("-n", str(checks.max_workers() + 1)), ("--reruns", "9" * 5000),
    ("--reruns", "101"),
]


@pytest.mark.parametrize(("flag", "value"), BAD, ids=[f"{f}={v[:12]}" for f, v in BAD])
def test_bad_option_value_is_refused_before_anything_is_written(tmp_path, capsys, flag, value):
    out = tmp_path / "out"
    out.mkdir()
    (out / "linux-host.json").write_text("the last good report")
    assert cli.main(["run", "--out", str(out), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err
    assert [p.name for p in out.iterdir()] == ["linux-host.json"]
    assert (out / "linux-host.json").read_text() == "the last good report"


@pytest.mark.parametrize(("flag", "value"), [("-n", "auto"), ("-n", "0"), ("-n", "8"),
                                             ("--timeout", "1"), ("--deadline", "900"),
                                             ("-k", "udp and not inet6"), ("--reruns", "0")])
def test_reasonable_option_values_are_accepted(flag, value):
    args = cli.build_parser().parse_args(["run", flag, value])
    assert args is not None


def test_keyword_check_still_refuses_what_pytest_cannot_parse():
    """Guards the private pytest API checks.keyword relies on: if pytest moves
    or renames its expression parser, this fails loudly instead of every -k passing."""
    with pytest.raises(argparse.ArgumentTypeError, match="does not parse"):
        checks.keyword("(")
    assert checks.keyword("a or (b and not c)") == "a or (b and not c)"


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "UPPER", "x" * 40,
                                  "host\n", "gvisor;rm"])
def test_stack_name_is_a_name_not_a_path(name):
    with pytest.raises(ValueError, match="not a plain name"):
        checks.stack_name(name)


def test_stack_name_given_to_the_plugin_cannot_escape_the_output_directory(session):
    session.makepyfile(test_x="def test_x():\n    pass\n")
    result = session.runpytest("-p", "conformance.plugin", "--conformance-stack", "../up",
                               "--conformance-out", str(session.path / "out"))
    result.stderr.fnmatch_lines(["*--conformance-stack: stack name '../up' is not a plain name*"])
    assert not (session.path / "up.json").exists()
    assert not list(session.path.parent.glob("*.json"))
