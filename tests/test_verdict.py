"""The verdict logic: observation + expectation -> conforms/deviates/undocumented, portable."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.expectations import ExpectationSet, load_file
from conformance.verdict import judge

LINUX = {"os": "linux", "kernel": "6.18", "stack": "host"}


def _set(tmp_path: Path, name: str, text: str) -> ExpectationSet:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return load_file(path)


@pytest.fixture
def sets(tmp_path):
    linux = _set(tmp_path, "linux", '''
[["x.errno"]]
accept = [{ errno = "EAGAIN" }, { errno = "EWOULDBLOCK" }]
source = "man page"

[["x.kernel"]]
accept = [{ v = "new" }]
source = "since 4.6"
when = { kernel = ">=4.6" }

[["x.kernel"]]
accept = [{ v = "old" }]
source = "before 4.6"

[["x.params"]]
accept = [{ delivered = false }]
source = "unix only"
when = { params = { family = "unix" } }

[["x.stack"]]
accept = [{ v = 1 }]
source = "gVisor docs"
when = { stack = "gvisor" }
''')
    posix = _set(tmp_path, "posix", '''
[["x.errno"]]
accept = [{ errno = "EAGAIN" }, { errno = "EWOULDBLOCK" }]
source = "POSIX"

[["x.kernel"]]
open = true
source = "POSIX leaves it open"
''')
    return linux, posix


def test_accepted_observation_conforms(sets):
    j = judge("x.errno", {"errno": "EAGAIN"}, LINUX, {}, *sets)
    assert (j.verdict, j.portable) == ("conforms", True)


def test_unaccepted_observation_deviates_with_got_and_expected(sets):
    j = judge("x.errno", {"errno": "EINVAL"}, LINUX, {}, *sets)
    assert j.verdict == "deviates"
    assert j.portable is False
    assert "EINVAL" in j.message and "EAGAIN" in j.message and "man page" in j.message


def test_extra_observation_keys_do_not_matter(sets):
    j = judge("x.errno", {"errno": "EAGAIN", "method": "timed"}, LINUX, {}, *sets)
    assert j.verdict == "conforms"


def test_kernel_condition_selects_entry(sets):
    assert judge("x.kernel", {"v": "new"}, LINUX, {}, *sets).verdict == "conforms"
    old = dict(LINUX, kernel="4.4")
    assert judge("x.kernel", {"v": "new"}, old, {}, *sets).verdict == "deviates"
    assert judge("x.kernel", {"v": "old"}, old, {}, *sets).verdict == "conforms"


def test_posix_open_gives_portable_null(sets):
    assert judge("x.kernel", {"v": "new"}, LINUX, {}, *sets).portable is None


def test_params_condition(sets):
    assert judge("x.params", {"delivered": True}, LINUX, {"family": "unix"}, *sets).verdict \
        == "deviates"
    assert judge("x.params", {"delivered": True}, LINUX, {"family": "inet"}, *sets).verdict \
        == "undocumented"


def test_stack_condition(sets):
    gv = dict(LINUX, stack="gvisor")
    assert judge("x.stack", {"v": 1}, gv, {}, *sets).verdict == "conforms"
    assert judge("x.stack", {"v": 1}, LINUX, {}, *sets).verdict == "undocumented"


def test_no_expectation_is_undocumented_not_invented(sets):
    j = judge("x.none", {"a": 1}, LINUX, {}, *sets)
    assert (j.verdict, j.expected, j.portable) == ("undocumented", None, None)


def test_a_source_from_an_area_fragment_names_its_family_not_the_area(tmp_path):
    (tmp_path / "linux").mkdir()
    fragment = tmp_path / "linux" / "connect.toml"
    fragment.write_text('[["x.frag"]]\naccept = [{ errno = "EISCONN" }]\nsource = "connect(2)"\n')
    posix = _set(tmp_path, "posix", '[["x.frag"]]\naccept = [{ errno = "EISCONN" }]\n'
                                    'source = "POSIX connect()"\n')
    j = judge("x.frag", {"errno": "EISCONN"}, LINUX, {}, load_file(fragment, "linux"), posix)
    assert [s["family"] for s in j.sources] == ["linux", "posix"]
