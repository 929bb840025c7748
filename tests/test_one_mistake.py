"""One mistake costs once: a correct caller keeps full marks when a graded function it calls is wrong.

Each test plants one mistake in a callee of an otherwise-solution namespace and runs the
caller's cases (public and hidden) in-process against the solution's observations, the
way ``python -m autograder devcheck`` does.
"""

from __future__ import annotations

import pytest

from tests.mistakes import WRONG
from tests.planting import edited, plant, run


def assert_all_pass(results: list) -> None:
    failed = [f"{cid}: {msg}" for cid, ok, msg in results if not ok]
    assert not failed, "\n".join(failed)


def assert_some_fail(results: list) -> None:
    assert any(not ok for _, ok, _ in results), "the planted mistake was not caught by its own function's cases"


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


@pytest.mark.parametrize(
    "callee, source",
    [
        ("softmax", WRONG["softmax: no shift"]),
        ("softmax", SOFTMAX_WRONG_AXIS),
        ("softmax", SOFTMAX_STUB),
        ("sample_categorical", SAMPLER_NOT_STRICT),
        ("sample_categorical", SAMPLER_TWO_DRAWS),
        ("sample_categorical", SAMPLER_FLOAT),
        ("dot_scores", WRONG["dot_scores: columns reversed"]),
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
    namespace = plant("02", WRONG["generate: temperature as a product"])
    results = run("02", "generate", namespace)
    assert any(not ok and cid.startswith("02/generate/temperature_scales") for cid, ok, _ in results)


def test_02_a_wrong_caller_still_fails():
    namespace = plant("02", WRONG["next_token_probs: row of U"])
    results = run("02", "next_token_probs", namespace)
    assert all(not ok for _, ok, _ in results)


GRADS_DOUBLED_LOSS_LOG2 = edited("03", "loss_and_grads", ("-np.log(", "-np.log2("), ("dV[prev_id] = U.T @ ds", "dV[prev_id] = 2 * U.T @ ds"))
GRADS_STUB = '''
def loss_and_grads(V, U, prev_id, next_id):
    raise NotImplementedError
'''


@pytest.mark.parametrize("source", [WRONG["loss_and_grads: gradient sign flipped"], GRADS_DOUBLED_LOSS_LOG2, GRADS_STUB])
def test_03_sgd_epoch_keeps_its_points(source):
    namespace = plant("03", source)
    assert_some_fail(run("03", "loss_and_grads", namespace))
    assert_all_pass(run("03", "sgd_epoch", namespace))


def test_03_a_wrong_sgd_epoch_still_fails_and_names_the_callee():
    """Judged beside the double of loss_and_grads, the wrong steps are sgd_epoch's own: it is not told to fix its callee first."""
    namespace = plant("03", GRADS_DOUBLED_LOSS_LOG2 + WRONG["sgd_epoch: steps uphill"])
    results = run("03", "sgd_epoch", namespace)
    failed = [msg for cid, ok, msg in results if not ok]
    assert failed and any("your loss_and_grads gives other results than the solution's too" in m for m in failed), failed
    assert not any("which fails its own checks" in m for m in failed), failed
