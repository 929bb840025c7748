"""Partial credit for small slips (issue 17, item 1).

Each slip below, planted alone in the solution, loses at least one point and at most half of its
function's points (every case, public and hidden), and the first failure check() shows carries
the hint that names the slip; a stub still loses all of the function's points.
"""

from __future__ import annotations

import pytest

from tests.mistakes import WRONG
from tests.planting import edited, planted, score, stub, verdicts

# slip -> (notebook, function, source, words the first failure's hint must contain)
SLIPS = {
    "causal_mask: the wrong diagonal": ("06", "causal_mask", WRONG["causal_mask: the diagonal hidden"], "diagonal"),
    "MiniGPT: .view on sliced targets": ("07", "MiniGPT", edited("07", "MiniGPT", ("targets.reshape(B * T)", "targets.view(B * T)")), "view"),
    "rope: halves instead of adjacent pairs": ("05", "rope", WRONG["rope: halves instead of adjacent pairs"], "neighbours"),
    "context_windows: off by one": ("04", "context_windows", WRONG["context_windows: off by one"], "last window"),
    "loss_and_grads: gradient sign flipped": ("03", "loss_and_grads", WRONG["loss_and_grads: gradient sign flipped"], "sign"),
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
    "rotate_2d: clockwise": ("05", "rotate_2d", WRONG["rotate_2d: clockwise"], "counter-clockwise"),
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


def first_public_failure(notebook: str, function: str, namespace: dict):
    """The first public case check() shows as failed, or None."""
    return next((v.case for v in verdicts(notebook, function, namespace, visibility="public") if not v.passed), None)


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_a_small_slip_loses_at_least_one_point_and_at_most_half(name):
    notebook, function, source, words = SLIPS[name]
    earned, total, failed = score(notebook, function, planted(notebook, source))
    lost = total - earned
    print(f"{name}: loses {lost:g} of {total:g} ({failed})")
    assert 1 <= lost <= total / 2, f"{name}: loses {lost:g} of {total:g}: {failed}"
    first = first_public_failure(notebook, function, planted(notebook, source))
    assert first is not None, f"{name}: check() does not see it"
    assert words.lower() in first.hint.lower(), f"{name}: the first failure shown is {first.id}, whose hint does not name the slip: {first.hint}"


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_a_stub_still_loses_everything(name):
    notebook, function, _, _ = SLIPS[name]
    earned, total, failed = score(notebook, function, planted(notebook, stub(notebook, function)))
    assert earned == 0, f"a stubbed {function} keeps {earned:g} of {total:g}"
