"""Written answers: nbgrader's manually graded Markdown cells, collected for the TAs.

The solution notebooks hold a few questions answered in words (nbgrader markdown cells
with ``solution`` and ``grade``; the release keeps nbgrader's "YOUR ANSWER HERE"). The
grader reads each submission's answers on the trusted side as data, from the notebook's
JSON (read with :mod:`autograder.grading.files`; never executed or rendered), shows each
question as "pending manual grading" (a test worth 0 that states the question's points,
so the autograder's total is unchanged) and ``grade-all`` writes one file per question
with every student's answer, escaped and fenced (``OUT/written/<grade_id>.md``).

Parsing JSON costs memory in proportion to how many values it holds, not to its size: a
64 MB notebook whose metadata is ``[{},{},...]`` is 16 million dicts, about 2 GB. So the
trusted process parses a notebook itself only up to :data:`IN_PROCESS_BYTES` (a few
dozen MB at worst); a larger one is parsed in a child process with an address-space and a
CPU limit (:func:`_answers_in_child`), which sends back only the answers. A large honest
notebook (its outputs, base64 images: few, long strings) still has its answers read; a
notebook that takes more than the child's limits gets "written answers not read".

:data:`QUESTIONS` is here, not read from solutions/ at grading time, because the
Gradescope kit ships without solutions/ and notebooks/; ``tests/test_feedback.py``
checks that it matches the solutions' nbgrader markup (ids, notebooks and points).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

PLACEHOLDER = "YOUR ANSWER HERE"
MAX_JSON_BYTES = 128 * 1024 * 1024  # a larger notebook is not parsed at all (its outputs are the bulk: clear them)
IN_PROCESS_BYTES = 2 * 1024 * 1024  # parsed in the grader's own process up to this size; larger ones in a child
CHILD_MEMORY_BYTES = 768 * 1024 * 1024  # the child's address space: a plain notebook needs a few times its size
CHILD_SECONDS = 30
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
    A notebook over :data:`IN_PROCESS_BYTES` is parsed in a child with limits.
    """
    wanted = sorted(q.grade_id for q in questions_of(notebook))
    if not wanted:
        return {}, ""
    if len(raw) > MAX_JSON_BYTES:
        return dict.fromkeys(wanted), f"written answers not read: notebook too large (over {MAX_JSON_BYTES >> 20} MB; clear its outputs)"
    if len(raw) > IN_PROCESS_BYTES:
        return _answers_in_child(raw, wanted)
    return answers_from_json(raw, wanted)


def answers_from_json(raw: bytes, wanted: list[str]) -> tuple[dict[str, str | None], str]:
    """The answers of the cells ``wanted`` in the notebook JSON ``raw`` (see :func:`read_answers`)."""
    answers: dict[str, str | None] = dict.fromkeys(wanted)
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
            if gid in answers:
                text = _text(cell.get("source"))
                answers[gid] = text if answers[gid] is None else answers[gid] + "\n\n" + text
    except (ValueError, RecursionError, AttributeError, TypeError):
        return answers, "the notebook could not be read, so its written answers were not read"
    return {gid: (None if a is None else a[:MAX_ANSWER_CHARS]) for gid, a in answers.items()}, ""


# The child limits itself before it reads a byte (no preexec_fn: the grader has threads).
_CHILD = """
import json, resource, sys
memory, seconds = int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
from autograder.report.written import answers_from_json
wanted = json.loads(sys.argv[1])
answers, problem = answers_from_json(sys.stdin.buffer.read(), wanted)
sys.stdout.write(json.dumps({"answers": answers, "problem": problem}))
"""


def _answers_in_child(raw: bytes, wanted: list[str]) -> tuple[dict[str, str | None], str]:
    """:func:`answers_from_json` in a child with memory and CPU limits: the grader's memory is not the student's to spend."""
    too_much = dict.fromkeys(wanted), "written answers not read: notebook too large (its JSON holds too much to parse; clear its outputs)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(wanted), str(CHILD_MEMORY_BYTES), str(CHILD_SECONDS)],
            input=raw, capture_output=True, timeout=2 * CHILD_SECONDS,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": root}, cwd=root,
        )
        data = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return too_much
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return too_much
    answers = {gid: (a[:MAX_ANSWER_CHARS] if isinstance(a, str) else None) for gid, a in data["answers"].items() if gid in wanted}
    return {**dict.fromkeys(wanted), **answers}, str(data.get("problem") or "")


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
