"""Feedback a student reads in a minute: per function its score, the first failure in full,
the others one line each, one line per shared cause (a stub, a missing notebook, a callee),
locations by function name, "did you mean", and written answers collected for the TAs.

One small class is graded once (a struggling student, a renamed function, a student with
written answers); the Markdown feedback and results.json are rendered from one report."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.course import RELEASE, SERIES, SOLUTIONS

WRONG = {  # plausible mistakes: softmax without the shift, a causal mask that hides the diagonal
    "softmax": '''def softmax(s, axis=-1):
    """Softmax of the scores (forgot the max shift)."""
    e = np.exp(np.asarray(s, dtype=float))
    return e / np.sum(e, axis=axis, keepdims=True)
''',
    "causal_mask": '''def causal_mask(T):
    """Lower triangle (but without the diagonal)."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
''',
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _write(dest: Path, stem: str, cells: list[dict]) -> None:
    nb = json.loads((RELEASE / f"{stem}.ipynb").read_text())
    nb["cells"] = cells
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1))


def make_struggling(dest: Path) -> dict[str, str]:
    """The release with every third graded function filled in from solutions/, two of those wrong
    (WRONG), the rest left as stubs. Returns function -> "solution" | "wrong" | "stub"."""
    kinds, index = {}, 0
    for stem in SERIES.values():
        solution = {_grade_id(c): c for c in _cells(SOLUTIONS / f"{stem}.ipynb") if c["cell_type"] == "code" and _grade_id(c)}
        cells = []
        for cell in _cells(RELEASE / f"{stem}.ipynb"):
            name = _grade_id(cell)
            if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                if name in WRONG:
                    cell = {**cell, "source": WRONG[name]}
                    kinds[name] = "wrong"
                elif index % 3 == 0:
                    cell = {**cell, "source": solution[name]["source"]}
                    kinds[name] = "solution"
                else:
                    kinds[name] = "stub"
                index += 1
            cells.append(cell)
        _write(dest, stem, cells)
    return kinds
