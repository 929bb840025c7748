"""The shared test machinery: plain-data codec, comparisons, messages, self-check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers.checking import Case, Opaque, Suite, assert_matches, dumps, from_plain, judge, rel_error, run_case, to_plain


def roundtrip(value):
    return from_plain(json.loads(dumps(to_plain(value))))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.bool_]), shape=hnp.array_shapes(min_dims=0, max_dims=3)))
def test_arrays_roundtrip_exactly(array):
    back = roundtrip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_tensors_scalars_and_containers_roundtrip():
    value = {"t": torch.arange(6.0).reshape(2, 3), "n": np.float32(1.5), "f": float("nan"), "tup": (1, "a", None), "l": [True, 2.5]}
    back = roundtrip(value)
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float32
    assert type(back["n"]) is np.float32 and back["tup"] == (1, "a", None) and back["l"] == [True, 2.5]
    assert np.isnan(back["f"])


class LyingFloat(float):
    def __eq__(self, other):
        return True


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)


class AlwaysEqual:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize(
    "liar",
    [LyingFloat(0.0), np.zeros(3).view(LyingArray), AlwaysEqual(), torch.nn.Linear(2, 2)],
    ids=["float subclass", "ndarray subclass", "__eq__ always true", "module"],
)
def test_lying_objects_become_opaque_and_fail(liar):
    back = roundtrip(liar)
    assert isinstance(back, Opaque)
    with pytest.raises(AssertionError, match="expected"):
        assert_matches(back, np.zeros(3))
    with pytest.raises(AssertionError):
        assert_matches(back, 1.0)


def test_messages_name_shape_dtype_and_values():
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got shape \(2,\)"):
        assert_matches(np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="an integer dtype"):
        assert_matches(np.zeros(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(AssertionError, match=r"1 of 3 values differ.*index \(1,\)"):
        assert_matches(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.5, 2.0]))
    with pytest.raises(AssertionError, match="expected a numpy array"):
        assert_matches(torch.zeros(3), np.zeros(3))
    with pytest.raises(AssertionError, match="`dV`"):
        assert_matches({"dV": np.ones(2)}, {"dV": np.zeros(2)})
    with pytest.raises(AssertionError, match="item 1 differs: expected 'b'"):
        assert_matches(["a", "x"], ["a", "b"])
    assert_matches(np.float64(0.5), 0.5)
    assert_matches(np.array(0.5), 0.5)


def test_rel_error_scale():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert 1e-4 < rel_error(1.0, 1.001) < 1e-3


def _case(probe, verify=None, hint="try again") -> Case:
    suite = Suite("99")
    case = suite.case("double", points=1, hint=hint)(probe)
    if verify:
        case.verify(verify)
    return case


def test_judge_reports_input_expected_got_and_hint():
    def probe(student):
        """double doubles its input."""
        return student.double(np.array([1.0, 2.0]))

    case = _case(probe)
    ref = json.loads(dumps(run_case(case, {"double": lambda x: 2 * x})))
    got = json.loads(dumps(run_case(case, {"double": lambda x: x + 1})))
    verdict = judge(case, got, ref)
    assert not verdict.passed
    assert "called: double(array([1., 2.]))" in verdict.message
    assert "expected" in verdict.message and "got" in verdict.message and "hint: try again" in verdict.message
    assert judge(case, ref, ref).passed


def test_judge_explains_missing_and_unimplemented_functions():
    def probe(student):
        return student.double(1.0)

    case = _case(probe)
    ref = run_case(case, {"double": lambda x: 2 * x})

    def stub(x):
        raise NotImplementedError()

    assert "not implemented yet" in judge(case, run_case(case, {"double": stub}), ref).message
    assert "`double` is not defined" in judge(case, run_case(case, {}), ref).message
    assert "ZeroDivisionError" in judge(case, run_case(case, {"double": lambda x: 1 / 0}), ref).message


def test_judge_never_raises_on_malformed_observations():
    case = _case(lambda student: student.double(1.0))
    ref = run_case(case, {"double": lambda x: 2 * x})
    for bad in [{"value": {"$nd": "<f8", "shape": [5], "b64": "!!"}, "error": None}, {"value": {"weird": 1}, "error": None}]:
        verdict = judge(case, bad, ref)
        assert not verdict.passed and "could not check" in verdict.message


def test_system_exit_in_student_code_is_an_error_not_an_exit():
    case = _case(lambda student: student.double(1.0))

    def leave(x):
        raise SystemExit(0)

    obs = run_case(case, {"double": leave})
    assert obs["error"]["type"] == "SystemExit"


def test_a_probe_drawing_from_the_global_generators_is_seeded_per_case_and_leaves_them_alone():
    """A probe that builds a student's nn.Module (default init: torch's global generator) observes the same
    whatever ran before it, and a different seed gives other draws; the caller's global streams are untouched."""

    def probe(student):
        return {"weight": torch.nn.Linear(3, 2).weight.detach(), "numpy": np.random.rand(2)}

    case = Case(notebook="00", function="f", name="global_draws", points=1, visibility="public", probe=probe)
    torch.manual_seed(1)
    np.random.seed(1)
    first = run_case(case, {})
    after_torch, after_numpy = torch.rand(1), np.random.rand()
    torch.manual_seed(2)
    np.random.seed(2)
    torch.rand(5)
    second = run_case(case, {})
    assert first["error"] is None and from_plain(first["value"])["weight"].equal(from_plain(second["value"])["weight"])
    assert np.array_equal(from_plain(first["value"])["numpy"], from_plain(second["value"])["numpy"])
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.rand(1).equal(after_torch) and np.random.rand() == after_numpy  # the probe drew from its own stream
    graded = run_case(case, {}, case_seed=12345)
    assert not from_plain(graded["value"])["weight"].equal(from_plain(first["value"])["weight"])


@pytest.mark.parametrize("device", ["cuda", "mps", "xpu"])
def test_a_check_leaves_the_accelerators_random_streams_alone(monkeypatch, device):
    """Only the CPU generator is seeded during a probe (the one put back after): torch.manual_seed would also
    reseed a GPU's (CUDA, Apple's MPS) and leave it so, changing a student's training after every check()."""
    module = getattr(torch, device)
    seeded = []
    for name in ("manual_seed", "manual_seed_all"):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, lambda seed, name=name: seeded.append((device, name, seed)))
    case = Case(notebook="00", function="f", name="draws", points=1, visibility="public", probe=lambda student: torch.rand(2))
    obs = run_case(case, {})
    assert obs["error"] is None and seeded == []


def test_edge_floats_are_seeded_in_range_and_draw_the_edges_often():
    from helpers.checking import edge_floats

    draws = edge_floats(np.random.default_rng(5), -50.0, 50.0, 2000)
    assert draws.shape == (2000,) and np.array_equal(draws, edge_floats(np.random.default_rng(5), -50.0, 50.0, 2000))
    assert draws.min() >= -50.0 and draws.max() <= 50.0
    for edge in (-50.0, 50.0, 0.0):  # about 1 in 16 each: a uniform draw would almost never hit them
        assert 40 < np.count_nonzero(draws == edge) < 250, edge
    _, counts = np.unique(draws[(draws != -50) & (draws != 50) & (draws != 0)], return_counts=True)
    assert counts.max() > 1  # ties: an earlier value drawn again
    one = edge_floats(np.random.default_rng(1), 0.0, 1.0)
    assert type(one) is float and 0.0 <= one <= 1.0
    assert edge_floats(np.random.default_rng(2), -1.0, 1.0, (3, 2)).shape == (3, 2)
