"""One mistake costs once (notebooks 04-06): a single planted mistake in a callee costs only
the callee's points; every correct caller keeps full marks, public and hidden cases alike.

In-process: the solution's definitions are loaded into a fresh module, one definition is
replaced by a wrong one (exec'd into the same module, so the callers see it), and every case
is judged against the solution's own observations (run_case + judge, as the grader does).
"""

from __future__ import annotations

import pytest

from tests.mistakes import WRONG
from tests.planting import define, load, verdicts

# (notebook, callee, its wrong definition, the callers that must keep full marks)
MISTAKES = [
    ("05", "rotate_2d", WRONG["rotate_2d: clockwise"], ["rope_2d", "rope"]),
    ("05", "rotate_2d", """
        def rotate_2d(x, theta):
            x, theta = np.asarray(x, dtype=float), np.deg2rad(np.asarray(theta, dtype=float))
            c, s = np.cos(theta), np.sin(theta)
            return np.stack([c * x[..., 0] - s * x[..., 1], s * x[..., 0] + c * x[..., 1]], axis=-1)
        """, ["rope_2d", "rope"]),
    ("05", "rotate_2d", "def rotate_2d(x, theta):\n    raise NotImplementedError()", ["rope_2d", "rope"]),
    ("05", "rope", """
        def rope(X, base=10000.0):
            X = np.asarray(X, dtype=float)
            T, d = X.shape[-2:]
            if d % 2:
                raise ValueError("d must be even")
            angles = np.arange(T)[:, None] * (base ** (-2.0 * np.arange(d // 2) / d))[None, :]
            first, second = X[..., : d // 2], X[..., d // 2 :]
            return np.concatenate([np.cos(angles) * first - np.sin(angles) * second, np.sin(angles) * first + np.cos(angles) * second], axis=-1)
        """, ["ContextRoPELM"]),
    ("06", "causal_mask", WRONG["causal_mask: the diagonal hidden"],
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", WRONG["causal_mask: the upper triangle"],
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", "def causal_mask(T):\n    return torch.tril(torch.ones(T, T))",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", "def causal_mask(T):\n    raise NotImplementedError()",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", WRONG["scaled_dot_product_attention: no scale"], ["AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
            weights = torch.softmax(S, dim=-2)
            return weights @ V, weights
        """, ["AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", "def scaled_dot_product_attention(Q, K, V, causal=False):\n    raise NotImplementedError()",
     ["AttentionHead", "MultiHeadAttention"]),
]


def _scores(nb: str, namespace: dict, functions: set) -> dict:
    """{function: (points earned, points possible, [failed case messages])} over public and hidden cases."""
    scores: dict = {}
    for function in functions:
        found = list(verdicts(nb, function, namespace))
        failed = [f"{v.case.id}: {v.message}" for v in found if not v.passed]
        scores[function] = (sum(v.case.points for v in found if v.passed), sum(v.case.points for v in found), failed)
    return scores


@pytest.mark.parametrize("nb, callee, wrong, callers", MISTAKES, ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(MISTAKES)])
def test_a_wrong_callee_costs_its_callers_nothing(nb, callee, wrong, callers):
    namespace = define(load(nb), wrong, f"<planted {callee}>")
    scores = _scores(nb, namespace, {callee, *callers})
    earned, total, _ = scores[callee]
    assert earned < total, f"the planted mistake in {callee} is not caught"
    for caller in callers:
        earned, total, failed = scores[caller]
        assert earned == total, f"{caller} lost points for a mistake in {callee}:\n" + "\n".join(failed)


def test_a_caller_wrong_too_is_charged_its_own_mistake():
    """A wrong mask and a wrong attention: beside the mask's double the attention's mistake is its own, and the message
    says the mask is wrong too, without "fix causal_mask first" (which contradicted "whatever your causal_mask does")."""
    namespace = define(load("06"), WRONG["causal_mask: the upper triangle"] + WRONG["scaled_dot_product_attention: no scale"])
    _, _, failed = _scores("06", namespace, {"scaled_dot_product_attention"})["scaled_dot_product_attention"]
    assert any("your causal_mask gives other results than the solution's too" in f for f in failed), "\n".join(failed)
    assert not any("fix causal_mask first" in f for f in failed), "\n".join(failed)


@pytest.mark.parametrize("seed", [None, 2024], ids=["public seeds", "a grading seed"])
def test_attention_keeps_its_points_before_attention_head_is_written(seed):
    """In the notebook, scaled_dot_product_attention is checked before AttentionHead is written: with the head
    still a stub, every case of a correct attention passes, the public and the hidden one under the head alike."""
    from tests.planting import stub

    namespace = define(load("06"), stub("06", "AttentionHead"))
    failed = [v.message for v in verdicts("06", "scaled_dot_product_attention", namespace, seed) if not v.passed]
    assert not failed, "\n".join(failed)
