"""Doubles that prove something (issue 15, item 3): a caller is judged beside seeded doubles of its graded callees.

For every graded caller and each of its graded callees (the pairs the solutions call), planted
in an otherwise-solution namespace and graded in-process on every case (public and hidden)
against the solution's observations:

* stubbing the callee never raises the caller's score (a correct caller, and each wrong one);
* a wrong caller scores the same beside a correct, a stubbed and a wrong callee;
* the issue's two examples (an sgd_epoch that never steps, a generate that multiplies by the
  temperature and takes the argmin) lose their points beside a stubbed callee;
* a callee that is correct alone but answers otherwise when its caller is on the stack is charged.
"""

from __future__ import annotations

import pytest

from tests.mistakes import WRONG
from tests.planting import edited, planted, score, stub

WRONG_CALLEE = {
    "dot_scores": WRONG["dot_scores: columns reversed"],
    "softmax": "def softmax(s, axis=-1):\n    e = np.exp(np.asarray(s, dtype=float))\n    return e / (1.0 + np.sum(e, axis=axis, keepdims=True))",
    "sample_categorical": "def sample_categorical(p, rng):\n    rng.random()\n    return int(np.argmax(p))",
    "loss_and_grads": WRONG["loss_and_grads: gradient sign flipped"],
    "rotate_2d": WRONG["rotate_2d: clockwise"],
    "causal_mask": "def causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1) | torch.eye(T, dtype=torch.bool).flip(0)",
    "scaled_dot_product_attention": """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1)
            if causal:
                S = S.masked_fill(~torch.tril(torch.ones(S.shape[-1], S.shape[-1], dtype=torch.bool)), float("-inf"))
            weights = torch.softmax(S, dim=-1)
            return weights @ V, weights
        """,
    "AttentionHead": """
        class AttentionHead(nn.Module):
            def __init__(self, d_model, d_head):
                super().__init__()
                self.last_weights = None
                self.query = nn.Linear(d_model, d_head, bias=False)
                self.key = nn.Linear(d_model, d_head, bias=False)
                self.value = nn.Linear(d_model, d_head, bias=False)

            def forward(self, x, causal=True):
                out, weights = scaled_dot_product_attention(self.key(x), self.query(x), self.value(x), causal=False)
                self.last_weights = weights.detach()
                return out
        """,
}

# caller -> (notebook, its graded callees, wrong versions of the caller)
CALLERS = {
    "next_token_probs": ("02", ["dot_scores", "softmax"], [
        WRONG["next_token_probs: row of U"],
        "def next_token_probs(V, U, prev_id):\n    return softmax(2.0 * dot_scores(U, np.asarray(V)[prev_id]))",
    ]),
    "generate": ("02", ["dot_scores", "softmax", "sample_categorical"], [
        """
        def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
            ids = [int(i) for i in start_ids]
            for _ in range(n_new):
                s = dot_scores(U, np.asarray(V)[ids[-1]])
                ids.append(int(np.argmin(s)) if greedy else int(sample_categorical(softmax(s * temperature), rng)))
            return ids
        """,
        """
        def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
            ids = [int(i) for i in start_ids]
            prev = ids[-1]
            for _ in range(n_new):
                s = dot_scores(U, np.asarray(V)[prev])
                ids.append(int(np.argmax(s)) if greedy else int(sample_categorical(softmax(s / temperature), rng)))
            return ids
        """,
    ]),
    "sgd_epoch": ("03", ["loss_and_grads"], [
        """
        def sgd_epoch(V, U, prev_ids, next_ids, lr):
            V, U = np.array(V, dtype=float), np.array(U, dtype=float)
            losses = [loss_and_grads(V, U, p, n)[0] for p, n in zip(prev_ids, next_ids)]
            return V, U, float(np.mean(losses))
        """,
        WRONG["sgd_epoch: steps uphill"],
    ]),
    "rope_2d": ("05", ["rotate_2d"], [
        "def rope_2d(X, theta1):\n    X = np.asarray(X, dtype=float)\n    return rotate_2d(X, (np.arange(len(X)) + 1) * theta1)",
    ]),
    "rope": ("05", ["rotate_2d"], [WRONG["rope: halves instead of adjacent pairs"]]),
    "scaled_dot_product_attention": ("06", ["causal_mask"], [WRONG["scaled_dot_product_attention: no scale"]]),
    "AttentionHead": ("06", ["scaled_dot_product_attention"], [WRONG_CALLEE["AttentionHead"]]),
    "MultiHeadAttention": ("06", ["AttentionHead"], [
        """
        class MultiHeadAttention(nn.Module):
            def __init__(self, d_model, n_heads, d_head):
                super().__init__()
                self.heads = nn.ModuleList([AttentionHead(d_model, d_head) for _ in range(n_heads)])
                self.proj = nn.Linear(n_heads * d_head, d_model)

            def forward(self, x, causal=True):
                return self.proj(torch.cat([head(x, causal=causal) for head in self.heads][::-1], dim=-1))
        """,
    ]),
}
PAIRS = [(caller, callee) for caller, (_, callees, _) in CALLERS.items() for callee in callees]


@pytest.mark.parametrize("caller, callee", PAIRS)
def test_stubbing_the_callee_never_raises_the_callers_score(caller, callee):
    notebook, _, wrong_callers = CALLERS[caller]
    for variant in ["", *wrong_callers]:
        beside_correct = score(notebook, caller, planted(notebook, variant))[0]
        beside_stub = score(notebook, caller, planted(notebook, stub(notebook, callee), variant))
        assert beside_stub[0] <= beside_correct, f"{caller} {'(correct)' if not variant else variant}: {beside_stub} beside a stubbed {callee}, {beside_correct} beside the solution's"


@pytest.mark.parametrize("caller, callee", PAIRS)
def test_a_wrong_caller_scores_the_same_beside_any_callee(caller, callee):
    notebook, _, wrong_callers = CALLERS[caller]
    for variant in wrong_callers:
        scores = {
            "correct": score(notebook, caller, planted(notebook, variant)),
            "stubbed": score(notebook, caller, planted(notebook, stub(notebook, callee), variant)),
            "wrong": score(notebook, caller, planted(notebook, WRONG_CALLEE[callee], variant)),
        }
        assert scores["correct"][0] < scores["correct"][1], f"the wrong {caller} was not caught:\n{variant}"
        assert len({s[0] for s in scores.values()}) == 1, f"{caller} beside a correct, stubbed, wrong {callee}: {scores}\n{variant}"


@pytest.mark.parametrize("caller, callee", PAIRS)
def test_a_correct_caller_keeps_full_marks_beside_a_stubbed_or_wrong_callee(caller, callee):
    notebook = CALLERS[caller][0]
    for planted_callee in (stub(notebook, callee), WRONG_CALLEE[callee]):
        namespace = planted(notebook, planted_callee)
        earned, total, failed = score(notebook, caller, namespace)
        assert earned == total, f"{caller} lost {failed} beside {planted_callee}"
        earned, total, _ = score(notebook, callee, namespace)
        assert earned < total, f"the planted {callee} was not caught by its own cases"


def test_the_issues_examples_lose_their_points_beside_a_stubbed_callee():
    never_steps = CALLERS["sgd_epoch"][2][0]
    earned, total, failed = score("03", "sgd_epoch", planted("03", stub("03", "loss_and_grads"), never_steps))
    # at most "inputs unchanged" and "lr = 0 moves nothing", which a loop that never steps honours
    assert earned <= 2 and total >= 6 and earned == score("03", "sgd_epoch", planted("03", never_steps))[0], (earned, total, failed)
    times_and_argmin = CALLERS["generate"][2][0]
    for callee in ("softmax", "dot_scores", "sample_categorical"):
        earned, total, failed = score("02", "generate", planted("02", stub("02", callee), times_and_argmin))
        # at T = 1 and not greedy, multiplying is dividing: the cases at T = 1 only, as beside a correct callee
        assert earned <= 2 and earned == score("02", "generate", planted("02", times_and_argmin))[0], (callee, earned, total, failed)


UNDER = """
def _under(*callers):
    import sys
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in callers:
            return True
        frame = frame.f_back
    return False
"""
UNDER_MODULE = """
def _under_self(name):
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        if type(frame.f_locals.get("self")).__name__ == name:
            return True
        frame = frame.f_back
    return False
"""
UNDER_CALLER = {  # a callee right alone, wrong when its caller is on the stack: (notebook, callee, source)
    "softmax": ("02", """
        def softmax(s, axis=-1):
            s = np.asarray(s, dtype=float)
            e = np.exp(s - np.max(s, axis=axis, keepdims=True))
            p = e / np.sum(e, axis=axis, keepdims=True)
            return np.flip(p, axis=axis) if _under("generate", "next_token_probs") else p
        """),
    "loss_and_grads": ("03", edited("03", "loss_and_grads", ("return loss, dV, dU", 'sign = -1.0 if _under("sgd_epoch") else 1.0\n    return loss, sign * dV, sign * dU'))),
    "rotate_2d": ("05", """
        def rotate_2d(x, theta):
            x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
            if _under("rope_2d", "rope"):
                theta = -theta
            c, s = np.cos(theta), np.sin(theta)
            return np.stack([c * x[..., 0] - s * x[..., 1], s * x[..., 0] + c * x[..., 1]], axis=-1)
        """),
    "causal_mask": ("06", """
        def causal_mask(T):
            mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
            return torch.ones(T, T, dtype=torch.bool) if _under("scaled_dot_product_attention") else mask
        """),
    "scaled_dot_product_attention": ("06", """
        def scaled_dot_product_attention(Q, K, V, causal=False):
            S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
            if causal and not _under("forward"):
                S = S.masked_fill(~causal_mask(S.shape[-1]), float("-inf"))
            weights = torch.softmax(S, dim=-1)
            return weights @ V, weights
        """),
}


UNDER_CALLER.update({  # class callees: the same, when their caller module's forward is on the stack
    "AttentionHead": ("06", """
        _RealHead = AttentionHead
        class AttentionHead(_RealHead):
            def forward(self, x, causal=True):
                out = super().forward(x, causal=causal)
                return -out if _under_self("MultiHeadAttention") else out
        """),
    "CausalSelfAttention": ("07", """
        _RealAttention = CausalSelfAttention
        class CausalSelfAttention(_RealAttention):
            def forward(self, x):
                out = super().forward(x)
                return 2 * out if _under_self("TransformerBlock") else out
        """),
    "TransformerBlock": ("07", """
        _RealBlock = TransformerBlock
        class TransformerBlock(_RealBlock):
            def forward(self, x):
                out = super().forward(x)
                return out.flip(-1) if _under_self("MiniGPT") else out
        """),
})


@pytest.mark.parametrize("callee", sorted(UNDER_CALLER))
def test_a_callee_that_differs_under_its_caller_is_charged(callee):
    notebook, source = UNDER_CALLER[callee]
    namespace = planted(notebook, UNDER, UNDER_MODULE, source)
    earned, total, failed = score(notebook, callee, namespace)
    assert earned < total, f"{callee} answers otherwise under its caller and keeps {earned}/{total}"
    assert any("/same_" in case_id and "_under_" in case_id for case_id in failed), failed
    for caller, (nb, callees, _) in CALLERS.items():
        if callee in callees:
            earned, total, failed = score(nb, caller, namespace)
            assert earned == total, f"{caller} is charged for its {callee}: {failed}"
