"""The grader's side of the wall: checking what a student's process sends, and bounding the time it costs.

Unit tests (no sandbox): every malformed line becomes a ProtocolError, a well-formed one
is read as the dataclass it claims to be, and a verify that runs too long fails only the
cases of its own student and notebook.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from autograder.grading import grade as grading
from autograder.grading.probes import probe_source
from autograder.grading.runner import RunResult, _record
from autograder.sandbox.protocol import CaseResult, Done, End, ProtocolError, Status, read_result_line
from helpers.checking import Case

NOTEBOOKS = {"01"}
IDS = {"01/tokenize/a", "01/tokenize/b"}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def obs(value=1.0, **extra):
    return {"value": value, "calls": [], "error": None, "seconds": 0.1, **extra}


def test_well_formed_lines_are_read_as_messages():
    assert isinstance(read_result_line(line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs()}), NOTEBOOKS, IDS), CaseResult)
    assert isinstance(read_result_line(line({"kind": "Status", "notebook": "01", "problems": ["x"]}), NOTEBOOKS, IDS), Status)
    assert isinstance(read_result_line(line({"kind": "Done", "notebook": "01"}), NOTEBOOKS, IDS), Done)
    array = {"$nd": "<f8", "shape": [2], "b64": "AAAAAAAAAAAAAAAAAAAAAA=="}
    assert read_result_line(line({"kind": "CaseResult", "id": "01/tokenize/b", "obs": obs({"$tuple": [array, {"$dict": [["k", 1]]}]})}), NOTEBOOKS, IDS)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"not json",
        b"\xff\xfe",
        line([1, 2]),
        line({"kind": "CaseResult", "id": "02/softmax/x", "obs": obs()}),  # a case of another notebook
        line({"kind": "CaseResult", "id": 5, "obs": obs()}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": {"value": 1}}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs(calls="no")}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": {**obs(), "seconds": float("nan")}}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": {**obs(), "seconds": 10**4000}}),  # JSON reads it; float() overflows
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": {**obs(), "error": "boom"}}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs({"$nd": 5})}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs({"$nd": "<f8", "shape": [-1], "b64": ""})}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs({"$dict": [[1]]})}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs({"unknown": 1})}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs({"$nd": "<f8", "$tuple": []})}),
        line({"kind": "Status", "notebook": ["01"]}),
        line({"kind": "Status", "notebook": "01", "problems": 7}),
        line({"kind": "Status", "notebook": "01", "invalid": "yes"}),
        line({"kind": "Done", "notebook": "02"}),
        line({"kind": "Nonsense"}),
    ],
)
def test_malformed_lines_are_refused(raw):
    with pytest.raises(ProtocolError):
        read_result_line(raw, NOTEBOOKS, IDS)


def test_deep_values_are_refused():
    value = 1
    for _ in range(60):
        value = [value]
    with pytest.raises(ProtocolError):
        read_result_line(line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs(value)}), NOTEBOOKS, IDS)


@pytest.mark.parametrize("container", ["list", "dict pairs"])
def test_the_value_limits_hold_for_scalars_counted_without_a_call(container):
    """check_plain counts a list's (or a dict's) scalar items in the loop, not one call each:
    the node cap and the depth cap must still hold exactly where they did."""
    from autograder.sandbox.protocol import MAX_DEPTH, MAX_NODES, check_plain

    def wrap(items):
        return items if container == "list" else {"$dict": [[f"k{i}", x] for i, x in enumerate(items)]}

    per_item = 1 if container == "list" else 2  # a pair is a key and a value
    check_plain(wrap([0.5] * ((MAX_NODES - 1) // per_item)))  # the container itself is one value
    with pytest.raises(ProtocolError, match="too many values"):
        check_plain(wrap([0.5] * ((MAX_NODES - 1) // per_item + 1)))
    nested = wrap([1.0])
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    check_plain(nested)  # the scalar sits at depth MAX_DEPTH
    with pytest.raises(ProtocolError, match="nested too deeply"):
        check_plain([nested])


def test_a_second_result_voids_the_case_and_a_done_notebook_says_nothing_more():
    result = RunResult()
    lines = [
        line({"kind": "Status", "notebook": "01"}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs(1.0)}),
        line({"kind": "CaseResult", "id": "01/tokenize/a", "obs": obs(2.0)}),
        line({"kind": "Done", "notebook": "01"}),
        line({"kind": "CaseResult", "id": "01/tokenize/b", "obs": obs(3.0)}),  # after Done: refused
        b"garbage",
    ]
    assert _record(result, ["01"], IDS, lines, End()) == []
    assert result.observations["01/tokenize/a"]["error"]["type"] == "ProtocolError"
    assert "01/tokenize/b" not in result.observations
    assert result.notebooks["01"].get("stream")  # the malformed lines are noted against the notebook


def _case(name: str, verify):
    case = Case("01", "tokenize", name, 1.0, "public", probe=lambda student: None)
    case.verify_fn = verify
    return case


def test_a_slow_verify_fails_only_its_own_notebook(monkeypatch):
    monkeypatch.setattr(grading, "VERIFY_SECONDS", 0.5)

    released = threading.Event()  # set only after verify() returned: a verify() that waited for slow() would wait 60 s and then fail below

    def slow(got, ref):
        if not released.wait(60):
            raise AssertionError("the deadline never stopped this verify")

    def fine(got, ref):
        pass

    plain = obs(None)
    slow_items = [grading.GradedItem("forger", _case("a", slow), plain, plain), grading.GradedItem("forger", _case("b", fine), plain, plain)]
    honest = [grading.GradedItem("honest", _case("a", fine), plain, plain)]
    start = time.monotonic()
    try:
        grading.NotebookItem("forger", "01", slow_items).verify()
    except BaseException:  # noqa: BLE001 - pytest.fail of the failed item
        pass
    released.set()
    print(f"the slow verify was stopped after {time.monotonic() - start:.2f} s (deadline 0.5 s)")
    assert all(not item.verdict.passed and "took more than" in item.verdict.message for item in slow_items), [i.verdict for i in slow_items]
    grading.NotebookItem("honest", "01", honest).verify()
    assert honest[0].verdict.passed


def test_a_far_larger_result_is_not_decoded():
    ref = {**obs(1.0), "bytes": 1000}
    got = {**obs(1.0), "bytes": 50 * 2**20}
    item = grading.GradedItem("s", _case("a", lambda g, r: None), got, ref)
    assert not item.judge().passed and "far larger" in item.verdict.message


def test_probe_source_keeps_probes_and_drops_verify_steps():
    source = '''
import numpy as np
from helpers.checking import Suite

suite = Suite("01", visibility="hidden")
SIZE = 3


def build(seed):
    return np.arange(SIZE) + seed


def reference(x):
    return x * 2


@suite.case("tokenize", points=1)
def doubles(student):
    """A probe."""
    return {"x": build(student.seed(1)), "y": student.tokenize(build(student.seed(1)))}


@doubles.verify
def _(got, ref):
    assert (got["y"] == reference(ref["x"])).all()


doubles.verify(lambda got, ref: reference(ref["x"]))
'''
    kept = probe_source(source)
    assert "def build" in kept and "SIZE = 3" in kept and "def doubles" in kept
    assert "reference" not in kept and "got[" not in kept
    original = source.splitlines()
    assert all(line in ("", original[i]) for i, line in enumerate(kept.splitlines()))  # every kept line stays at its number
    with pytest.raises(ValueError):
        probe_source("from helpers.checking import Suite\nsuite = Suite('01')\nfor i in range(3):\n    print(i)\n")
