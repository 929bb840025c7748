"""No verify reads an input from the student's side (issue 9, item 2).

For every case of every suite, the probe runs in-process on the solution's definitions
with a student proxy that records every call of a student definition: its arguments
(copied at call time) and what it returned (for a returned nn.Module, also its forward
calls). A leaf of the solution's observation that equals an argument and is not a
returned value is an *echoed input*. Those leaves are replaced, in a copy used as the
student's observation, by forged values of the same type and shape, and the verify must
still pass: it may only read inputs from ``ref``, never from ``got``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from autograder.course import available
from helpers.checking import Case, Opaque, Student, Suite, assert_matches, dumps, from_plain, to_plain
from tests.planting import solution

# Notebooks whose suites are not converted yet: their failures are expected (but not required).
NOT_CONVERTED: set[str] = set()  # every suite reads its inputs from the reference
# Cases the recording proxy below cannot run: it wraps classes in functions, and these probes use the class itself.
PROXY_CANNOT_RECORD = {"06/MultiHeadAttention/structure": "the probe checks isinstance against the student's AttentionHead class"}


# --------------------------------------------------------------------------- #
# Recording what the probe passes to the student's definitions
# --------------------------------------------------------------------------- #


def _copy(value):
    return from_plain(json.loads(dumps(to_plain(value))))


class RecordingStudent(Student):
    """A Student proxy that records the arguments and results of every call into the student's definitions."""

    def __init__(self, namespace: dict, inputs: list, outputs: list):
        super().__init__(namespace)
        self._inputs, self._outputs = inputs, outputs

    def get(self, name: str):
        obj = super().get(name)
        if not callable(obj):
            return obj
        inputs, outputs = self._inputs, self._outputs

        def hook(module, args, out):
            inputs.extend(_copy(a) for a in args)
            outputs.append(_copy(out))

        def call(*args, **kwargs):
            inputs.extend(_copy(a) for a in args)
            inputs.extend(_copy(v) for v in kwargs.values())
            out = obj(*args, **kwargs)
            outputs.append(_copy(out))
            torch = sys.modules.get("torch")
            if torch is not None and isinstance(out, torch.nn.Module):  # its parameters are the student's outputs too
                outputs.extend([list(p.shape) for p in out.parameters()] + [_copy(p) for p in out.parameters()])
                out.register_forward_hook(hook)
            return out

        return call


def _is_array(x) -> bool:
    torch = sys.modules.get("torch")
    return isinstance(x, np.ndarray) or (torch is not None and isinstance(x, torch.Tensor))


def _as_array(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else x.detach().cpu().numpy()


def key(value):
    """A hashable fingerprint of a plain value: equal values (arrays by shape, kind and values, numbers by
    value, containers item by item) have equal keys. Flags and missing values get None: they are
    observations, never echoed inputs."""
    if _is_array(value):
        x = _as_array(value)
        data = x.astype(bool) if x.dtype.kind == "b" else np.nan_to_num(x.astype(float), nan=np.pi * 1e300)
        return ("array", x.shape, x.dtype.kind == "b", data.tobytes())
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, Opaque):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return ("number", float(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, (list, tuple)):
        items = tuple(key(v) for v in value)
        return ("list", items) if items and None not in items else None
    if isinstance(value, dict):
        items = tuple(sorted((repr(k), key(v)) for k, v in value.items()))
        return ("dict", items) if items and all(v is not None for _, v in items) else None
    return None


def keys_of(values: list, nested: bool) -> set:
    """The keys of ``values`` (and, if ``nested``, of everything inside them)."""
    out = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        out.add(key(value))
        if nested and isinstance(value, (list, tuple)):
            stack.extend(value)
        elif nested and isinstance(value, dict):
            stack.extend(value.values())
    out.discard(None)
    return out


# Keys under which a probe records what the student's code passed to a callee (the ids generate fed its
# model, the input a block gave its attention). They are the student's behaviour, observed, and may equal
# an input by value (the first feed is the start ids; without LayerNorm the attention gets x itself).
BEHAVIOUR_RECORDS = ("fed", "attention input")


def echoed_paths(ref, inputs: set, outputs: set, path: tuple = ()) -> list[tuple]:
    """Paths of the nodes of ``ref`` that equal an argument (or an item of one) and no returned value (or part of one)."""
    if any(isinstance(p, str) and p.startswith(BEHAVIOUR_RECORDS) for p in path):
        return []
    k = key(ref)
    if k is not None and k in inputs and k not in outputs:
        return [path]
    found = []
    if isinstance(ref, (list, tuple)):
        for i, v in enumerate(ref):
            found += echoed_paths(v, inputs, outputs, path + (i,))
    elif isinstance(ref, dict):
        for name, v in ref.items():
            found += echoed_paths(v, inputs, outputs, path + (name,))
    return found


def forge(value):
    """A different value of the same type and shape."""
    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return value + 1.2345
        if value.dtype.kind in "iu":
            return value + 1
        return value
    if torch is not None and isinstance(value, torch.Tensor):
        return value + (1.2345 if value.is_floating_point() else 1)
    if isinstance(value, (bool, np.bool_)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return type(value)(value + 1)
    if isinstance(value, (float, np.floating)):
        return type(value)(value + 1.5)
    if isinstance(value, str):
        return value + "_forged"
    if isinstance(value, list):
        return [forge(v) for v in value]
    if isinstance(value, tuple):
        return tuple(forge(v) for v in value)
    if isinstance(value, dict):
        return {k: forge(v) for k, v in value.items()}
    return value


def replace_at(value, path: tuple, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        out = list(value)
        out[head] = replace_at(value[head], rest, new)
        return out
    if isinstance(value, tuple):
        out = list(value)
        out[head] = replace_at(value[head], rest, new)
        return tuple(out)
    out = dict(value)
    out[head] = replace_at(value[head], rest, new)
    return out


def get_at(value, path: tuple):
    for p in path:
        value = value[p]
    return value


def forged_inputs_problem(case: Case, namespace: dict) -> tuple[list, str | None]:
    """(echoed paths, a problem or None): the verify must pass when every echoed input in ``got`` is forged."""
    inputs: list = []
    outputs: list = []
    student = RecordingStudent(namespace, inputs, outputs)
    plain = json.loads(dumps(to_plain(case.probe(student))))
    ref = from_plain(plain)
    try:
        case.judge(from_plain(plain), ref)
    except AssertionError as exc:
        return [], f"the solution fails its own case: {exc}"
    paths = echoed_paths(ref, keys_of(inputs, nested=True), keys_of(outputs, nested=True))
    got = from_plain(plain)
    for path in paths:
        got = replace_at(got, path, forge(get_at(got, path)))
    try:
        case.judge(got, from_plain(plain))
    except AssertionError as exc:
        shown = ", ".join("/".join(map(str, p)) or "(the whole result)" for p in paths)
        return paths, f"{case.id}: the verify reads inputs echoed in `got` ({shown}): {str(exc)[:300]}"
    except Exception as exc:  # noqa: BLE001 - a crash on forged inputs is reading them too
        shown = ", ".join("/".join(map(str, p)) or "(the whole result)" for p in paths)
        return paths, f"{case.id}: the verify crashed on forged inputs ({shown}): {type(exc).__name__}: {exc}"
    return paths, None


# --------------------------------------------------------------------------- #
# Every case of every suite
# --------------------------------------------------------------------------- #

def _all_cases() -> list:
    import importlib

    params = []
    for notebook in available():
        for package in ("helpers.selfcheck", "autograder.hidden"):
            try:
                module = importlib.import_module(f"{package}.nb{notebook}")
            except ModuleNotFoundError:
                continue
            for case in module.suite.cases:
                marks = [pytest.mark.xfail(strict=False, reason=f"suite {notebook} not converted yet")] if notebook in NOT_CONVERTED else []
                if case.id in PROXY_CANNOT_RECORD:
                    marks = [pytest.mark.skip(reason=PROXY_CANNOT_RECORD[case.id])]
                params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", _all_cases())
def test_verify_ignores_echoed_inputs(case):
    _, problem = forged_inputs_problem(case, solution(case.notebook))
    assert problem is None, problem


# --------------------------------------------------------------------------- #
# The check can fail
# --------------------------------------------------------------------------- #


def _toy_case(reads_got: bool) -> Case:
    suite = Suite("99")

    @suite.case("double", points=1)
    def doubles_an_array(student):
        x = np.random.default_rng(student.seed(1)).normal(size=4)  # (4,)
        return {"x": x, "y": student.double(x.copy())}

    @doubles_an_array.verify
    def _(got, ref):
        x = got["x"] if reads_got else ref["x"]
        assert_matches(got["y"], 2 * x, "y")

    return doubles_an_array


def test_a_verify_that_reads_an_echoed_input_is_caught():
    namespace = {"double": lambda x: 2 * x}
    paths, problem = forged_inputs_problem(_toy_case(reads_got=True), namespace)
    assert paths == [("x",)]
    assert problem is not None and "reads inputs echoed in `got` (x)" in problem


def test_a_verify_that_reads_inputs_from_ref_passes():
    namespace = {"double": lambda x: 2 * x}
    paths, problem = forged_inputs_problem(_toy_case(reads_got=False), namespace)
    assert paths == [("x",)] and problem is None


def test_returned_values_are_not_taken_for_inputs():
    """An identity function returns its argument: that leaf is an output, not an echoed input."""
    suite = Suite("99")

    @suite.case("same", points=1)
    def identity(student):
        x = np.arange(3.0)
        return {"y": student.same(x)}

    @identity.verify
    def _(got, ref):
        assert_matches(got["y"], ref["y"])

    start = time.process_time()  # CPU time: the same on a loaded machine
    paths, problem = forged_inputs_problem(identity, {"same": lambda x: x.copy()})
    assert paths == [] and problem is None and time.process_time() - start < 5
