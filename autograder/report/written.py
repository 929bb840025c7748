"""Written answers: nbgrader's manually graded Markdown cells, collected for the TAs.

The solution notebooks hold a few questions answered in words (nbgrader markdown cells
with ``solution`` and ``grade``; the release keeps nbgrader's "YOUR ANSWER HERE"). The
grader reads each submission's answers on the trusted side as data, from the notebook's
JSON (read with :mod:`autograder.grading.files`; never executed or rendered), shows each
question as "pending manual grading" (a test worth 0 that states the question's points,
so the autograder's total is unchanged) and ``grade-all`` writes one file per question
with every student's answer, escaped and fenced (``OUT/written/<grade_id>.md``).

:data:`QUESTIONS` is here, not read from solutions/ at grading time, because the
Gradescope kit ships without solutions/ and notebooks/; ``tests/test_feedback.py``
checks that it matches the solutions' nbgrader markup (ids, notebooks and points).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PLACEHOLDER = "YOUR ANSWER HERE"
MAX_JSON_BYTES = 128 * 1024 * 1024  # a larger notebook is not parsed here (its outputs are the bulk: clear them)
MAX_ANSWER_CHARS = 20_000


@dataclass(frozen=True)
class Question:
    grade_id: str
    notebook: str
    points: float


QUESTIONS = {
    "q03_gradient": Question("q03_gradient", "03", 3),
    "q04_order_blind": Question("q04_order_blind", "04", 2),
    "q05_relative": Question("q05_relative", "05", 2),
    "q06_sqrt_dk": Question("q06_sqrt_dk", "06", 2),
}


def questions_of(notebook: str) -> list[Question]:
    return [q for q in QUESTIONS.values() if q.notebook == notebook]


def _text(source) -> str:
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def read_answers(raw: bytes, notebook: str) -> tuple[dict[str, str | None], str]:
    """(grade_id -> the answer's text, or None when no answer cell was found; a problem or "").

    The answer cells are found by their nbgrader ``grade_id`` (a Markdown cell; nbformat 4
    or 3). Several cells with one id (a copied cell) are joined. Nothing is executed.
    """
    wanted = {q.grade_id for q in questions_of(notebook)}
    answers: dict[str, str | None] = {gid: None for gid in wanted}
    if not wanted:
        return answers, ""
    if len(raw) > MAX_JSON_BYTES:
        return answers, f"the notebook is larger than {MAX_JSON_BYTES >> 20} MB, so its written answers were not read (clear its outputs)"
    try:
        nb = json.loads(raw)
        cells = nb.get("cells") if isinstance(nb, dict) else None
        if cells is None and isinstance(nb, dict) and isinstance(nb.get("worksheets"), list):
            cells = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in (ws.get("cells") or [])]
        if not isinstance(cells, list):
            return answers, "the notebook has no cells, so its written answers were not read"
        for cell in cells:
            if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
                continue
            meta = cell.get("metadata")
            nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
            gid = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
            if gid in wanted:
                text = _text(cell.get("source"))
                answers[gid] = text if answers[gid] is None else answers[gid] + "\n\n" + text
    except (ValueError, RecursionError, AttributeError, TypeError):
        return answers, "the notebook could not be read, so its written answers were not read"
    return {gid: (None if a is None else a[:MAX_ANSWER_CHARS]) for gid, a in answers.items()}, ""


def answered(text: str | None) -> bool:
    return text is not None and text.strip() not in ("", PLACEHOLDER)


def status_line(question: Question, text: str | None, why_missing: str = "") -> tuple[bool, str]:
    """(answered, what the student sees) for one written question."""
    points = f"{question.points:g} point{'s' if question.points != 1 else ''}"
    if answered(text):
        words = len(text.split())
        return True, f"pending manual grading: a TA grades your answer ({words} words) for {points}; not part of the autograder's score."
    if text is not None:
        why = f"the answer cell still says {PLACEHOLDER}"
    else:
        why = why_missing or f"no answer cell {question.grade_id} was found (keep the question's answer cell: its nbgrader metadata identifies it)"
    return False, f"not answered: {why} ({points}, graded by a TA)."
