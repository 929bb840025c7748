"""One mistake costs once (notebooks 04-06): a single planted mistake in a callee costs only
the callee's points; every correct caller keeps full marks, public and hidden cases alike.

In-process: the solution's definitions are loaded into a fresh module, one definition is
replaced by a wrong one (exec'd into the same module, so the callers see it), and every case
is judged against the solution's own observations (run_case + judge, as the grader does).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from autograder.course import SERIES, SOLUTIONS
from autograder.hidden import nb04 as hidden04
from autograder.hidden import nb05 as hidden05
from autograder.hidden import nb06 as hidden06
from autograder.sandbox.worker import load_definitions
from helpers.checking import dumps, judge, run_case
from helpers.selfcheck import nb04 as public04
from helpers.selfcheck import nb05 as public05
from helpers.selfcheck import nb06 as public06

SUITES = {"04": (public04, hidden04), "05": (public05, hidden05), "06": (public06, hidden06)}

# (notebook, callee, its wrong definition, the callers that must keep full marks)
MISTAKES = [
    ("05", "rotate_2d", """
        def rotate_2d(x, theta):
            x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
            c, s = np.cos(theta), np.sin(theta)
            return np.stack([c * x[..., 0] + s * x[..., 1], -s * x[..., 0] + c * x[..., 1]], axis=-1)
        """, ["rope_2d", "rope"]),
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
    ("06", "causal_mask", "def causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", "def causal_mask(T):\n    return torch.triu(torch.ones(T, T, dtype=torch.bool))",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", "def causal_mask(T):\n    return torch.tril(torch.ones(T, T))",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "causal_mask", "def causal_mask(T):\n    raise NotImplementedError()",
     ["scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1)
            if causal:
                S = S.masked_fill(~causal_mask(S.shape[-1]), float("-inf"))
            weights = torch.softmax(S, dim=-1)
            return weights @ V, weights
        """, ["AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
            weights = torch.softmax(S, dim=-2)
            return weights @ V, weights
        """, ["AttentionHead", "MultiHeadAttention"]),
    ("06", "scaled_dot_product_attention", "def scaled_dot_product_attention(Q, K, V, causal=False):\n    raise NotImplementedError()",
     ["AttentionHead", "MultiHeadAttention"]),
]


@pytest.fixture(scope="module")
def references():
    """{notebook: (solution namespace loader, {case id: the solution's observation})}."""
    out = {}
    for nb in SUITES:
        namespace = _load(nb)
        obs = {c.id: json.loads(dumps(run_case(c, namespace))) for c in _cases(nb)}
        out[nb] = obs
    return out


def _load(nb: str) -> dict:
    namespace, status = load_definitions(nb, (SOLUTIONS / f"{SERIES[nb]}.ipynb").read_bytes(), 60)
    assert not status.load_errors, status
    return namespace


def _cases(nb: str) -> list:
    public, hidden = SUITES[nb]
    return public.suite.cases + hidden.suite.cases


def _scores(nb: str, namespace: dict, refs: dict, functions: set) -> dict:
    """{function: (points earned, points possible, [failed case messages])} over public and hidden cases."""
    scores: dict = {}
    for case in _cases(nb):
        if case.function not in functions:
            continue
        verdict = judge(case, json.loads(dumps(run_case(case, namespace))), refs[case.id])
        earned, total, failed = scores.get(case.function, (0.0, 0.0, []))
        scores[case.function] = (earned + case.points * verdict.passed, total + case.points, failed + ([] if verdict.passed else [f"{case.id}: {verdict.message}"]))
    return scores


@pytest.mark.parametrize("nb, callee, wrong, callers", MISTAKES, ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(MISTAKES)])
def test_a_wrong_callee_costs_its_callers_nothing(references, nb, callee, wrong, callers):
    namespace = _load(nb)
    exec(compile(textwrap.dedent(wrong), f"<planted {callee}>", "exec"), namespace)
    scores = _scores(nb, namespace, references[nb], {callee, *callers})
    earned, total, _ = scores[callee]
    assert earned < total, f"the planted mistake in {callee} is not caught"
    for caller in callers:
        earned, total, failed = scores[caller]
        assert earned == total, f"{caller} lost points for a mistake in {callee}:\n" + "\n".join(failed)


def test_a_caller_wrong_too_is_charged_its_own_mistake(references):
    """A wrong mask and a wrong attention: beside the mask's double the attention's mistake is its own, and the message
    says the mask is wrong too, without "fix causal_mask first" (which contradicted "whatever your causal_mask does")."""
    namespace = _load("06")
    exec("def causal_mask(T):\n    return torch.triu(torch.ones(T, T, dtype=torch.bool))", namespace)
    exec(
        "def scaled_dot_product_attention(Q, K, V, causal=False):\n"
        "    S = Q @ K.transpose(-2, -1)\n"
        "    if causal:\n"
        "        S = S.masked_fill(~causal_mask(S.shape[-1]), float('-inf'))\n"
        "    weights = torch.softmax(S, dim=-1)\n"
        "    return weights @ V, weights\n",
        namespace,
    )
    _, _, failed = _scores("06", namespace, references["06"], {"scaled_dot_product_attention"})["scaled_dot_product_attention"]
    assert any("your causal_mask gives other results than the solution's too" in f for f in failed), "\n".join(failed)
    assert not any("fix causal_mask first" in f for f in failed), "\n".join(failed)
