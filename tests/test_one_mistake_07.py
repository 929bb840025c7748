"""Notebook 07: one mistake costs once, and the self-check predicts the grade.

Each planted mistake changes one line of one graded definition of the solution notebook (as a
student's submission would). The submission's definitions are loaded the way the grader loads
them, every case of notebook 07 runs in-process (``run_case``) and is judged against the
solution's observation of the same probe (``judge``). Then:

* the function with the mistake loses points, in the public cases (check() sees it) and in the
  grading run (public and hidden cases, with course-secret seeds);
* every other function, including the callers of the wrong one, keeps full marks.
"""

from __future__ import annotations

import json

import pytest

from autograder.course import SOLUTIONS
from autograder.sandbox.worker import load_definitions
from tests.planting import load, verdicts

GRADING_SEED = 4242  # stands in for the course secret
FUNCTIONS = ["CausalSelfAttention", "TransformerBlock", "MiniGPT", "generate"]

# (function at fault, what the mistake is, exact text of the solution, its replacement)
MISTAKES = [
    ("CausalSelfAttention", "scores not scaled by 1/sqrt(d_k)", "scores = q @ k.transpose(-2, -1) / math.sqrt(D)", "scores = q @ k.transpose(-2, -1)"),
    ("CausalSelfAttention", "no causal mask", 'scores = scores.masked_fill(~self.mask[:T, :T], float("-inf"))', "scores = scores"),
    ("CausalSelfAttention", "softmax over the queries", "weights = F.softmax(scores, dim=-1)", "weights = F.softmax(scores, dim=-2)"),
    ("CausalSelfAttention", "no RoPE on the keys", "k = apply_rope(k, self.freqs[:T])", "k = k"),
    ("CausalSelfAttention", "heads merged without moving the positions back", "merged = heads.transpose(1, 2).reshape(B, T, H * D)",
     "merged = heads.reshape(B, T, H * D)"),
    ("TransformerBlock", "attention reads x, not ln_1(x)", "x = x + self.attn(self.ln_1(x))", "x = x + self.attn(x)"),
    ("TransformerBlock", "no residual around the MLP", "x = x + self.mlp(self.ln_2(x))", "x = self.mlp(self.ln_2(x))"),
    ("MiniGPT", "targets flattened with view", "targets.reshape(B * T)", "targets.view(B * T)"),
    ("MiniGPT", "learned positions never added", "x = x + self.pos_emb(torch.arange(T, device=ids.device))", "x = x"),
    ("generate", "temperature multiplies the scores", "s = logits[0, -1] / temperature", "s = logits[0, -1] * temperature"),
    ("generate", "the context is never cropped", "context = torch.tensor([ids[-block_size:]], dtype=torch.long)",
     "context = torch.tensor([ids], dtype=torch.long)"),
]


def _notebook_with(old: str | None = None, new: str | None = None) -> bytes:
    nb = json.loads((SOLUTIONS / "07_minigpt.ipynb").read_text())
    if old is not None:
        hits = 0
        for cell in nb["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and old in source:
                hits += source.count(old)
                cell["source"] = source.replace(old, new)
        assert hits == 1, f"the planted mistake's text occurs {hits} times in the solution's graded cells: {old!r}"
    return json.dumps(nb).encode()


def _lost(namespace: dict) -> dict:
    """{run: {function: points lost}} for the self-check (public cases, public seeds) and grading (every case, secret seeds)."""
    runs = {"self-check": ("public", None), "grading": (None, GRADING_SEED)}
    return {run: {f: sum(v.case.points for v in verdicts("07", f, namespace, seed, visibility) if not v.passed) for f in FUNCTIONS}
            for run, (visibility, seed) in runs.items()}


def test_the_solution_loses_nothing():
    namespace, _ = load_definitions("07", _notebook_with(), 60)
    assert _lost(namespace) == {run: {f: 0.0 for f in FUNCTIONS} for run in ("self-check", "grading")}


@pytest.mark.parametrize("fault, what, old, new", MISTAKES, ids=[m[1] for m in MISTAKES])
def test_one_mistake_costs_once(fault, what, old, new):
    lost = _lost(load("07", _notebook_with(old, new)))
    for run in ("self-check", "grading"):
        assert lost[run][fault] > 0, f"{run}: the mistake ({what}) in {fault} costs nothing"
        others = {f: p for f, p in lost[run].items() if f != fault and p}
        assert not others, f"{run}: the mistake ({what}) in {fault} also costs {others}"
