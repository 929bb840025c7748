"""Property tests (hypothesis) of the solution's RoPE functions in solutions/05_rope.ipynb.

The definitions are taken out of the notebook exactly as the grader takes them
(autograder.sandbox.worker.load_definitions), so these tests check the answer key itself:
rotations keep lengths, R(b) R(a) = R(a + b), RoPE keeps every pair's length, and after
RoPE the score q'_i . k'_j depends only on j - i.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autograder.course import SOLUTIONS
from autograder.sandbox.worker import load_definitions

pytestmark = pytest.mark.skipif(not (SOLUTIONS / "05_rope.ipynb").exists(), reason="notebook 05 is not written yet")

_NS: dict = {}


def solution(name: str):
    if not _NS:
        namespace, status = load_definitions("05", (SOLUTIONS / "05_rope.ipynb").read_bytes(), 60)
        assert not status.problems and not status.load_errors, status
        _NS.update(namespace)
    return _NS[name]


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
angle = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)
SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(x=arrays(np.float64, st.tuples(st.integers(1, 6), st.just(2)), elements=finite), a=angle)
def test_rotate_2d_keeps_lengths(x, a):
    out = solution("rotate_2d")(x, a)
    assert out.shape == x.shape
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(x=arrays(np.float64, (2,), elements=finite), a=angle, b=angle)
def test_rotate_2d_composes(x, a, b):
    rotate_2d = solution("rotate_2d")
    np.testing.assert_allclose(rotate_2d(rotate_2d(x, a), b), rotate_2d(x, a + b), rtol=1e-9, atol=1e-9 * (1 + np.abs(x).max()))
    np.testing.assert_allclose(rotate_2d(rotate_2d(x, a), -a), x, rtol=1e-9, atol=1e-9 * (1 + np.abs(x).max()))


@SETTINGS
@given(
    X=st.integers(1, 7).flatmap(lambda T: arrays(np.float64, (T, 2), elements=finite)),
    theta1=angle,
)
def test_rope_2d_keeps_lengths_and_row_zero(X, theta1):
    out = solution("rope_2d")(X, theta1)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(X, axis=1), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out[0], X[0])


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5).map(lambda h: 2 * h)),
    seed=st.integers(0, 2**32 - 1),
    base=st.floats(2.0, 1e5),
)
def test_rope_keeps_every_pair_length(shape, seed, base):
    X = np.random.default_rng(seed).normal(size=shape) * 10
    out = solution("rope")(X, base=base)
    pairs = lambda Z: np.linalg.norm(Z.reshape(*Z.shape[:-1], -1, 2), axis=-1)  # noqa: E731
    assert out.shape == X.shape
    np.testing.assert_allclose(pairs(out), pairs(X), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(
    d=st.integers(1, 6).map(lambda h: 2 * h),
    T=st.integers(2, 10),
    shift=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    base=st.floats(2.0, 1e5),
)
def test_rope_scores_depend_only_on_distance(d, T, shift, seed, base):
    """q'_i . k'_j depends only on j - i: moving both sequences by `shift` positions changes no score."""
    rope = solution("rope")
    rng = np.random.default_rng(seed)
    Q, K = rng.normal(size=(T, d)), rng.normal(size=(T, d))
    pad = np.zeros((shift, d))
    S = rope(Q, base=base) @ rope(K, base=base).T  # (T, T)
    S_shifted = rope(np.vstack([pad, Q]), base=base)[shift:] @ rope(np.vstack([pad, K]), base=base)[shift:].T
    np.testing.assert_allclose(S_shifted, S, rtol=1e-8, atol=1e-8)
    q, k = Q[0], K[0]  # the same q and k at every position: S is constant along each diagonal
    S_tiled = rope(np.tile(q, (T, 1)), base=base) @ rope(np.tile(k, (T, 1)), base=base).T
    for delta in range(-T + 1, T):
        diagonal = np.diagonal(S_tiled, offset=delta)
        np.testing.assert_allclose(diagonal, diagonal[0], rtol=1e-8, atol=1e-8)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 4).map(lambda h: 2 * h), T=st.integers(1, 5), theta1=angle)
def test_context_rope_lm_is_rope_then_average(seed, d, T, theta1):
    """The model's logits equal U (mean over positions of rope(V[x]) with every angle scaled by theta1)."""
    import torch

    rng = np.random.default_rng(seed)
    model = solution("ContextRoPELM")(7, d, T, theta1)
    V, U = rng.normal(size=(7, d)), rng.normal(size=(7, d))
    with torch.no_grad():
        model.encode.weight.copy_(torch.from_numpy(V))
        model.decode.weight.copy_(torch.from_numpy(U))
        contexts = rng.integers(0, 7, size=(4, T))
        logits = model(torch.from_numpy(contexts)).double().numpy()
    rotate_2d = solution("rotate_2d")
    angles = np.arange(T)[:, None] * theta1 * 10000.0 ** (-2.0 * np.arange(d // 2) / d)  # (T, d/2)
    pairs = V[contexts].reshape(4, T, d // 2, 2)
    expected = rotate_2d(pairs, angles).reshape(4, T, d).mean(axis=1) @ U.T  # (4, 7)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    if d == 2:
        np.testing.assert_allclose(rotate_2d(pairs, angles).reshape(4, T, 2), np.stack([solution("rope_2d")(V[c], theta1) for c in contexts]))
