"""One mistake costs once: a correct caller keeps full marks when a graded function it calls is wrong.

Each test plants one mistake in a callee of an otherwise-solution namespace and runs the
caller's cases (public and hidden) in-process against the solution's observations, the
way ``python -m autograder devcheck`` does.
"""

from __future__ import annotations

import importlib
import json

import pytest

from autograder.course import SERIES, SOLUTIONS
from autograder.sandbox.worker import load_definitions
from helpers.checking import dumps, judge, run_case

_SOLUTIONS: dict = {}


def solution(notebook: str) -> dict:
    if notebook not in _SOLUTIONS:
        namespace, status = load_definitions(notebook, (SOLUTIONS / f"{SERIES[notebook]}.ipynb").read_bytes(), 60)
        assert not status.load_errors, status
        _SOLUTIONS[notebook] = namespace
    return _SOLUTIONS[notebook]


def cases(notebook: str, function: str) -> list:
    out = []
    for package in ("helpers.selfcheck", "autograder.hidden"):
        out += [c for c in importlib.import_module(f"{package}.nb{notebook}").suite.cases if c.function == function]
    return out


def plant(notebook: str, source: str) -> dict:
    """A fresh module of the solution's definitions with those of ``source`` replacing theirs.

    Every solution function is rebound to the new module, so a correct caller really calls the planted callee.
    """
    import types

    original = solution(notebook)
    namespace: dict = {}
    for name, value in original.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is original:
            value = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__)
        namespace[name] = value
    exec(compile(source, "<planted>", "exec"), namespace)
    return namespace


def run(notebook: str, function: str, namespace: dict) -> list:
    reference = solution(notebook)
    out = []
    for case in cases(notebook, function):
        ref = json.loads(dumps(run_case(case, reference)))
        got = json.loads(dumps(run_case(case, namespace)))
        v = judge(case, got, ref)
        out.append((case.id, v.passed, v.message))
    return out


def assert_all_pass(results: list) -> None:
    failed = [f"{cid}: {msg}" for cid, ok, msg in results if not ok]
    assert not failed, "\n".join(failed)


def assert_some_fail(results: list) -> None:
    assert any(not ok for _, ok, _ in results), "the planted mistake was not caught by its own function's cases"


SOFTMAX_NO_SHIFT = '''
def softmax(s, axis=-1):
    e = np.exp(np.asarray(s, dtype=float))
    return e / np.sum(e, axis=axis, keepdims=True)
'''
SOFTMAX_WRONG_AXIS = '''
def softmax(s, axis=-1):
    s = np.asarray(s, dtype=float)
    e = np.exp(s - np.max(s))
    return e / np.sum(e)
'''
SOFTMAX_STUB = '''
def softmax(s, axis=-1):
    raise NotImplementedError
'''
SAMPLER_NOT_STRICT = '''
def sample_categorical(p, rng):
    u = rng.random()
    return int(np.searchsorted(np.cumsum(p), u, side="left"))
'''
SAMPLER_TWO_DRAWS = '''
def sample_categorical(p, rng):
    rng.random()
    u = rng.random()
    return int(np.searchsorted(np.cumsum(p), u, side="right"))
'''
SAMPLER_FLOAT = '''
def sample_categorical(p, rng):
    return float(np.argmax(p)) + 0.5
'''
DOT_TRANSPOSED = '''
def dot_scores(U, v):
    return np.asarray(U)[:, ::-1] @ np.asarray(v)
'''


@pytest.mark.parametrize(
    "callee, source",
    [
        ("softmax", SOFTMAX_NO_SHIFT),
        ("softmax", SOFTMAX_WRONG_AXIS),
        ("softmax", SOFTMAX_STUB),
        ("sample_categorical", SAMPLER_NOT_STRICT),
        ("sample_categorical", SAMPLER_TWO_DRAWS),
        ("sample_categorical", SAMPLER_FLOAT),
        ("dot_scores", DOT_TRANSPOSED),
    ],
)
def test_02_callers_keep_their_points(callee, source):
    namespace = plant("02", source)
    assert_some_fail(run("02", callee, namespace))
    for caller in ("next_token_probs", "generate"):
        if caller == "next_token_probs" and callee == "sample_categorical":
            continue
        assert_all_pass(run("02", caller, namespace))


def test_02_temperature_as_a_product_fails_the_self_check():
    namespace = plant(
        "02",
        '''
def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
    ids = [int(i) for i in start_ids]
    for _ in range(n_new):
        s = dot_scores(U, np.asarray(V)[ids[-1]])
        ids.append(int(np.argmax(s)) if greedy else int(sample_categorical(softmax(s * temperature), rng)))
    return ids
''',
    )
    results = run("02", "generate", namespace)
    assert any(not ok and cid.startswith("02/generate/temperature_scales") for cid, ok, _ in results)


def test_02_a_wrong_caller_still_fails():
    namespace = plant(
        "02",
        '''
def next_token_probs(V, U, prev_id):
    return softmax(dot_scores(V, np.asarray(U)[prev_id]))
''',
    )
    results = run("02", "next_token_probs", namespace)
    assert all(not ok for _, ok, _ in results)


GRADS_WRONG_SIGN = '''
def loss_and_grads(V, U, prev_id, next_id):
    v = V[prev_id]
    y_hat = softmax(U @ v)
    ds = y_hat.copy()
    ds[next_id] -= 1.0
    dV = np.zeros_like(V, dtype=float)
    dV[prev_id] = U.T @ ds
    return float(-np.log(y_hat[next_id])), -dV, -np.outer(ds, v)
'''
GRADS_DOUBLED_LOSS_LOG2 = '''
def loss_and_grads(V, U, prev_id, next_id):
    v = V[prev_id]
    y_hat = softmax(U @ v)
    ds = y_hat.copy()
    ds[next_id] -= 1.0
    dV = np.zeros_like(V, dtype=float)
    dV[prev_id] = 2 * U.T @ ds
    return float(-np.log2(y_hat[next_id])), dV, np.outer(ds, v)
'''
GRADS_STUB = '''
def loss_and_grads(V, U, prev_id, next_id):
    raise NotImplementedError
'''


@pytest.mark.parametrize("source", [GRADS_WRONG_SIGN, GRADS_DOUBLED_LOSS_LOG2, GRADS_STUB])
def test_03_sgd_epoch_keeps_its_points(source):
    namespace = plant("03", source)
    assert_some_fail(run("03", "loss_and_grads", namespace))
    assert_all_pass(run("03", "sgd_epoch", namespace))


def test_03_a_wrong_sgd_epoch_still_fails_and_names_the_callee():
    """Judged beside the double of loss_and_grads, the wrong steps are sgd_epoch's own: it is not told to fix its callee first."""
    namespace = plant(
        "03",
        GRADS_DOUBLED_LOSS_LOG2
        + '''
def sgd_epoch(V, U, prev_ids, next_ids, lr):
    V = np.array(V, dtype=float)
    U = np.array(U, dtype=float)
    losses = []
    for prev_id, next_id in zip(prev_ids, next_ids):
        loss, dV, dU = loss_and_grads(V, U, prev_id, next_id)
        losses.append(loss)
        V += lr * dV
        U += lr * dU
    return V, U, float(np.mean(losses))
''',
    )
    results = run("03", "sgd_epoch", namespace)
    failed = [msg for cid, ok, msg in results if not ok]
    assert failed and any("your loss_and_grads gives other results than the solution's too" in m for m in failed), failed
    assert not any("which fails its own checks" in m for m in failed), failed
