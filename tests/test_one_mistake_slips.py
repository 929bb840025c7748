"""Partial credit for small slips (issue 17, item 1).

Each slip below, planted alone in the solution, loses at least one point and at most half of its
function's points (every case, public and hidden), and the first failure check() shows carries
the hint that names the slip; a stub still loses all of the function's points.
"""

from __future__ import annotations

import json

import pytest

from helpers.checking import dumps, judge, run_case
from tests.test_doubles import cases_of, planted, score
from tests.test_one_mistake import solution

# slip -> (notebook, function, source, words the first failure's hint must contain)
SLIPS = {
    "causal_mask: the wrong diagonal": ("06", "causal_mask", "def causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)", "diagonal"),
    "MiniGPT: .view on sliced targets": ("07", "MiniGPT", "", "view"),  # filled in below from the solution's class
    "rope: halves instead of adjacent pairs": ("05", "rope", """
        def rope(X, base=10000.0):
            X = np.asarray(X, dtype=float)
            T, d = X.shape[-2], X.shape[-1]
            if d % 2 != 0:
                raise ValueError("d must be even")
            theta = base ** (-2.0 * np.arange(d // 2) / d)
            angles = np.arange(T)[:, None] * theta[None, :]
            pairs = np.stack([X[..., : d // 2], X[..., d // 2 :]], axis=-1)
            out = rotate_2d(pairs, angles)
            return np.concatenate([out[..., 0], out[..., 1]], axis=-1)
        """, "neighbours"),
    "context_windows: off by one": ("04", "context_windows", """
        def context_windows(ids, T):
            ids = np.asarray(ids, dtype=np.int64)
            N = max(len(ids) - T - 1, 0)
            index = np.arange(N)[:, None] + np.arange(T)[None, :]
            return ids[index], ids[T:T + N].copy()
        """, "last window"),
    "loss_and_grads: gradient sign flipped": ("03", "loss_and_grads", """
        def loss_and_grads(V, U, prev_id, next_id):
            v = V[prev_id]
            y_hat = softmax(U @ v)
            loss = float(-np.log(y_hat[next_id]))
            ds = y_hat.copy()
            ds[next_id] -= 1.0
            dV = np.zeros_like(V, dtype=float)
            dV[prev_id] = U.T @ ds
            return loss, -dV, -np.outer(ds, v)
        """, "sign"),
    "one_hot: an int dtype": ("01", "one_hot", """
        def one_hot(ids, vocab_size):
            ids = np.asarray(ids, dtype=np.int64)
            X = np.zeros((len(ids), vocab_size), dtype=np.int64)
            X[np.arange(len(ids)), ids] = 1
            return X
        """, "float"),
    "ContextAverageLM: decode with a bias": ("04", "ContextAverageLM", """
        class ContextAverageLM(nn.Module):
            def __init__(self, vocab_size, dim, context_size):
                super().__init__()
                self.context_size = context_size
                self.encode = nn.Embedding(vocab_size, dim)
                self.decode = nn.Linear(dim, vocab_size)

            def forward(self, contexts):
                return self.decode(self.encode(contexts).mean(dim=-2))
        """, "bias"),
    "rotate_2d: clockwise": ("05", "rotate_2d", """
        def rotate_2d(x, theta):
            x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
            c, s = np.cos(theta), np.sin(theta)
            return np.stack([c * x[..., 0] + s * x[..., 1], -s * x[..., 0] + c * x[..., 1]], axis=-1)
        """, "counter-clockwise"),
    "MultiHeadAttention: heads in a Python list": ("06", "MultiHeadAttention", """
        class MultiHeadAttention(nn.Module):
            def __init__(self, d_model, n_heads, d_head):
                super().__init__()
                self.heads = [AttentionHead(d_model, d_head) for _ in range(n_heads)]
                self.proj = nn.Linear(n_heads * d_head, d_model)

            def forward(self, x, causal=True):
                return self.proj(torch.cat([head(x, causal=causal) for head in self.heads], dim=-1))
        """, "ModuleList"),
}


def _minigpt_with_view() -> str:
    from tests.test_doubles import solution_class

    source = solution_class("07", "MiniGPT")
    assert "targets.reshape(B * T)" in source
    return source.replace("targets.reshape(B * T)", "targets.view(B * T)")


def slip(name: str) -> tuple:
    notebook, function, source, words = SLIPS[name]
    return notebook, function, source or _minigpt_with_view(), words


def first_public_failure(notebook: str, function: str, namespace: dict):
    """The first public case check() shows as failed, or None."""
    for case in [c for c in cases_of(notebook) if c.function == function and c.visibility == "public"]:
        ref = json.loads(dumps(run_case(case, solution(notebook))))
        if not judge(case, json.loads(dumps(run_case(case, namespace))), ref).passed:
            return case
    return None


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_a_small_slip_loses_at_least_one_point_and_at_most_half(name):
    notebook, function, source, words = slip(name)
    earned, total, failed = score(notebook, function, planted(notebook, source))
    lost = total - earned
    print(f"{name}: loses {lost:g} of {total:g} ({failed})")
    assert 1 <= lost <= total / 2, f"{name}: loses {lost:g} of {total:g}: {failed}"
    first = first_public_failure(notebook, function, planted(notebook, source))
    assert first is not None, f"{name}: check() does not see it"
    assert words.lower() in first.hint.lower(), f"{name}: the first failure shown is {first.id}, whose hint does not name the slip: {first.hint}"


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_a_stub_still_loses_everything(name):
    from tests.test_doubles import STUB

    notebook, function, _, _ = slip(name)
    stub = STUB.get(function) or _stub_of(notebook, function)
    earned, total, failed = score(notebook, function, planted(notebook, stub))
    assert earned == 0, f"a stubbed {function} keeps {earned:g} of {total:g}"


def _stub_of(notebook: str, function: str) -> str:
    import inspect

    value = solution(notebook)[function]
    if isinstance(value, type):
        return f"class {function}(nn.Module):\n    def __init__(self, *args, **kwargs):\n        super().__init__()\n        raise NotImplementedError()\n\n    def forward(self, *args, **kwargs):\n        raise NotImplementedError()\n"
    return f"def {function}{inspect.signature(value)}:\n    raise NotImplementedError()\n"
