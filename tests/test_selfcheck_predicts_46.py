"""Notebooks 04-06: the self-check predicts the grade.

For each planted single mistake, check("name") (public cases, public seeds, the released
public references) fails exactly when the grader (public and hidden cases, grading seeds,
the solution's observations under the same seeds) deducts points from that function.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from helpers.checking import check
from tests.mistakes import WRONG
from tests.planting import define, edited, load, verdicts

GRADING_SEED = 20240917  # stands for the course secret

PLANTED = {
    "04": [
        ("context_windows", "off by one: the last window is missing", WRONG["context_windows: off by one"]),
        ("context_windows", "the target is the last context token", """
            def context_windows(ids, T):
                ids = np.asarray(ids, dtype=np.int64)
                N = max(len(ids) - T, 0)
                index = np.arange(N)[:, None] + np.arange(T)[None, :]
                return ids[index], ids[T - 1:T - 1 + N].copy()
            """),
        ("context_windows", "int32 arrays", """
            def context_windows(ids, T):
                ids = np.asarray(ids, dtype=np.int32)
                N = max(len(ids) - T, 0)
                index = np.arange(N)[:, None] + np.arange(T)[None, :]
                return ids[index], ids[T:T + N].copy()
            """),
        ("average_context", "sum instead of mean", "def average_context(V, contexts):\n    return V[contexts].sum(axis=-2)"),
        ("average_context", "mean over the windows", "def average_context(V, contexts):\n    return V[contexts].mean(axis=0)"),
        ("ContextAverageLM", "sums the context vectors", "SUMS"),
        ("ContextAverageLM", "averages over dim 1 (2-D input only)", "DIM_1"),
        ("ContextAverageLM", "detached forward", "AVERAGE_DETACHED"),
    ],
    "05": [
        ("rotate_2d", "clockwise", WRONG["rotate_2d: clockwise"]),
        ("rotate_2d", "writes into x", """
            def rotate_2d(x, theta):
                x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
                c, s = np.cos(theta), np.sin(theta)
                x1 = c * x[..., 0] - s * x[..., 1]
                x2 = s * x[..., 0] + c * x[..., 1]
                if x.shape == np.broadcast_shapes(x.shape, x1.shape + (2,)):
                    x[..., 0], x[..., 1] = x1, x2
                    return x
                return np.stack([x1, x2], axis=-1)
            """),
        ("rope_2d", "positions count from 1", """
            def rope_2d(X, theta1):
                X = np.asarray(X, dtype=float)
                return rotate_2d(X, np.arange(1, X.shape[-2] + 1) * theta1)
            """),
        ("rope_2d", "positions reversed", """
            def rope_2d(X, theta1):
                X = np.asarray(X, dtype=float)
                return rotate_2d(X, np.arange(X.shape[-2])[::-1] * theta1)
            """),
        ("rope", "half-split pairs", WRONG["rope: halves instead of adjacent pairs"]),
        ("rope", "ignores base", """
            def rope(X, base=10000.0):
                X = np.asarray(X, dtype=float)
                T, d = X.shape[-2], X.shape[-1]
                if d % 2:
                    raise ValueError("d must be even")
                angles = np.arange(T)[:, None] * (10000.0 ** (-2.0 * np.arange(d // 2) / d))[None, :]
                return rotate_2d(X.reshape(*X.shape[:-1], d // 2, 2), angles).reshape(X.shape)
            """),
        ("rope", "no check of odd d", """
            def rope(X, base=10000.0):
                X = np.asarray(X, dtype=float)
                T, d = X.shape[-2], X.shape[-1]
                angles = np.arange(T)[:, None] * (base ** (-2.0 * np.arange(d // 2) / d))[None, :]
                return rotate_2d(X.reshape(*X.shape[:-1], d // 2, 2), angles).reshape(X.shape)
            """),
        ("ContextRoPELM", "persistent buffers", "PERSISTENT"),
        ("ContextRoPELM", "angles not scaled by theta1", "NO_THETA1"),
        ("ContextRoPELM", "detached forward", "DETACHED"),
    ],
    "06": [
        ("self_similarity", "X.T for batches", "def self_similarity(X):\n    X = np.asarray(X, dtype=float)\n    return X @ X.T"),
        ("causal_mask", "diagonal hidden", WRONG["causal_mask: the diagonal hidden"]),
        ("causal_mask", "upper triangle", WRONG["causal_mask: the upper triangle"]),
        ("scaled_dot_product_attention", "no scale", WRONG["scaled_dot_product_attention: no scale"]),
        ("scaled_dot_product_attention", "masked after the softmax", """
            def scaled_dot_product_attention(Q, K, V, causal=False):
                S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
                weights = torch.softmax(S, dim=-1)
                if causal:
                    weights = weights * causal_mask(S.shape[-1])
                return weights @ V, weights
            """),
        ("scaled_dot_product_attention", "exp overflows", """
            def scaled_dot_product_attention(Q, K, V, causal=False):
                S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
                if causal:
                    S = S.masked_fill(~causal_mask(S.shape[-1]), float("-inf"))
                e = torch.exp(S)
                weights = e / e.sum(dim=-1, keepdim=True)
                return weights @ V, weights
            """),
        ("AttentionHead", "last_weights not detached", "NOT_DETACHED"),
        ("AttentionHead", "ignores causal", "ALWAYS_CAUSAL"),
        ("MultiHeadAttention", "concatenates along the tokens", "CAT_DIM1"),
        ("MultiHeadAttention", "one head repeated", "REPEATED"),
    ],
}


EDITS = {
    "SUMS": ("ContextAverageLM", "v_avg = vectors.mean(dim=-2)", "v_avg = vectors.sum(dim=-2)"),
    "DIM_1": ("ContextAverageLM", "v_avg = vectors.mean(dim=-2)", "v_avg = vectors.mean(dim=1)"),
    "AVERAGE_DETACHED": ("ContextAverageLM", "return self.decode(v_avg)", "return self.decode(v_avg.detach())"),
    "PERSISTENT": ("ContextRoPELM", ", persistent=False", ""),
    "NO_THETA1": ("ContextRoPELM", "freqs = theta1 * 10000.0", "freqs = 10000.0"),
    "DETACHED": ("ContextRoPELM", "return self.decode(v)", "return self.decode(v.detach())"),
    "NOT_DETACHED": ("AttentionHead", "self.last_weights = weights.detach()", "self.last_weights = weights"),
    "ALWAYS_CAUSAL": ("AttentionHead", "scaled_dot_product_attention(Q, K, V, causal=causal)", "scaled_dot_product_attention(Q, K, V, causal=True)"),
    "CAT_DIM1": ("MultiHeadAttention", "torch.cat(outs, dim=-1)", "torch.cat(outs, dim=1)"),
    "REPEATED": ("MultiHeadAttention", "nn.ModuleList([AttentionHead(d_model, d_head) for _ in range(n_heads)])",
                 "nn.ModuleList([AttentionHead(d_model, d_head)] * n_heads)"),
}


def _planted(nb: str, source: str) -> dict:
    if source in EDITS:
        name, old, new = EDITS[source]
        source = edited(nb, name, (old, new))
    return define(load(nb), source)


def _verdicts(nb: str, function: str, namespace: dict) -> tuple[bool, list]:
    """(check() passes, [ids of the graded cases of ``function`` that fail under the grading seed])."""
    with contextlib.redirect_stdout(io.StringIO()):
        public_passed = check(function, namespace=namespace).passed
    lost = [v.case.id for v in verdicts(nb, function, namespace, GRADING_SEED) if not v.passed]
    return public_passed, lost


CASES = [(nb, fn, what, src) for nb, items in PLANTED.items() for fn, what, src in items]


@pytest.mark.parametrize("nb, function, what, source", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_self_check_fails_exactly_when_the_grader_deducts(nb, function, what, source):
    public_passed, lost = _verdicts(nb, function, _planted(nb, source))
    assert not public_passed, f"check({function!r}) passes with the mistake '{what}'"
    assert lost, f"the grader does not deduct for '{what}' although check({function!r}) fails"


# Correct answers written another way: both the self-check and the grader give full marks.
ALTERNATIVES = [
    ("04", "context_windows", "a Python loop", """
        def context_windows(ids, T):
            ids = [int(i) for i in ids]
            rows = [ids[i:i + T] for i in range(len(ids) - T)]
            return np.array(rows, dtype=np.int64).reshape(-1, T), np.array(ids[T:], dtype=np.int64)
        """),
    ("05", "rope_2d", "one rotate_2d call per row", """
        def rope_2d(X, theta1):
            X = np.asarray(X, dtype=float)
            return np.stack([rotate_2d(X[i], i * theta1) for i in range(X.shape[0])]) if len(X) else X.copy()
        """),
    ("06", "scaled_dot_product_attention", "a large finite mask value", """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
            if causal:
                S = S.masked_fill(~causal_mask(S.shape[-1]), -1e30)
            weights = torch.softmax(S, dim=-1)
            return weights @ V, weights
        """),
    ("06", "MultiHeadAttention", "heads called through forward", "FORWARD_CALLS"),
]
EDITS["FORWARD_CALLS"] = ("MultiHeadAttention", "head(x, causal=causal)", "head.forward(x, causal=causal)")


@pytest.mark.parametrize("nb, function, what, source", ALTERNATIVES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in ALTERNATIVES])
def test_a_correct_variant_keeps_full_marks(nb, function, what, source):
    public_passed, lost = _verdicts(nb, function, _planted(nb, source))
    assert public_passed and not lost, f"'{what}': check passes {public_passed}, graded cases lost {lost}"
