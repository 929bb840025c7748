"""results.json (Gradescope's format) for one submission, built from its verdicts.

Every test entry carries name, number, score, max_score, status, output, visibility,
tags and ``extra_data`` (the shared contract: case, notebook, function, visibility,
cause, hint; a failed public case may add ``student_error``, the escaped text of the
student's error). The outputs come from :func:`autograder.report.feedback.feedback_report`,
the top-level output from :func:`autograder.report.feedback.report_text`.

A hidden case was run by a child that is the student's to control, so everything it
sent is hidden: a failed hidden test shows its verdict and the case's hint, nothing
else (no exception type, location, signal or output), unless ``reveal_hidden``. The
instructor finds the details in the test's ``extra_data`` and with ``--reveal-hidden``.
"""

from __future__ import annotations

import json

from autograder.course import SERIES
from autograder.report.feedback import PROBLEM_CAP, WRITTEN, feedback_report, report_text
from autograder.report.text import printable

TEST_OUTPUT_CAP = 8_000  # characters of one test's output in results.json
OUTPUT_CAP = 20_000  # characters of the top-level output
STUDENT_ERROR_CAP = 500  # characters of a public case's student error in extra_data
PROBLEMS_SHOWN = 8  # a notebook's reading/loading problems listed at most (each cut at PROBLEM_CAP)
CUT = "\n... (cut)"
CAUSES = ("passed", "partial", "wrong", "stub", "missing", "callee", "load_error", "error", "timeout", "not_submitted", "grader_error")

def cap(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, with a marker when cut."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + CUT


def hidden_message(item, graded_names: set[str] | None = None) -> str:
    """What a student may see of a failed hidden test: its verdict and the case's hint.

    The hidden phase's child is the student's: its exception types, locations, signals,
    time-outs and outputs are all its to choose, so none of them is shown (each would be
    a few bits of the hidden inputs per case). Only the grader's own words about the
    notebook from before the hidden phase (not submitted, refused, unreadable, not run in
    the visible phase) and a missing reference are said as they are.
    """
    case, verdict = item.case, item.verdict
    hint = f"\n  hint: {case.hint}" if case.hint else ""
    if verdict.kind == "grader":
        return "grader error: the solution's result for this hidden test is missing; please tell the course staff."
    if item.got is None and getattr(item, "reason_visible", False):
        return verdict.message
    return f"failed (hidden test).{hint}"


def test_extra(item, reveal_hidden: bool = False) -> dict:
    """A test entry's ``extra_data`` (the shared contract), from its verdict's data."""
    case = item.case
    extra = {
        "case": case.id, "notebook": case.notebook, "function": case.function, "visibility": case.visibility,
        "cause": item.cause if item.cause in CAUSES else "error", "hint": case.hint,
    }  # fmt: skip
    if case.visibility == "public":  # grader-checked names (\w, graded) and the student's own words, escaped
        if item.about:
            extra["about"] = item.about
        if item.close:
            extra["close"] = item.close
        if item.callee_stub:
            extra["callee_stub"] = True
        error = (item.got or {}).get("error") if not item.verdict.passed else None
        if error:
            extra["student_error"] = printable(str(error.get("message", "")))[:STUDENT_ERROR_CAP]
    return extra


def _notes(sub, per_notebook: dict[str, tuple[float, float]]) -> str:
    """What the grader noticed about the files: reading and loading problems (of the visible phase), discovery notes."""
    lines = []
    for nb in per_notebook:
        info = (sub.run.notebooks if sub.run else {}).get(nb) or {}
        status = info.get("status")
        problems = (status.problems + status.load_errors if status else []) + [f"malformed result: {p}" for p in info.get("stream", [])]
        if problems:  # a notebook that was not submitted or refused is said once by the report (NotebookReport.not_graded)
            lines.append(f"{SERIES[nb]}:")
        lines += [f"  - {str(problem)[:PROBLEM_CAP]}" for problem in problems[:PROBLEMS_SHOWN]]
        if len(problems) > PROBLEMS_SHOWN:
            lines.append(f"  - ... and {len(problems) - PROBLEMS_SHOWN} more")
    lines += [f"note: {n}" for n in sub.notes]
    if sub.run and sub.run.worker_problems:
        lines += [f"grader: {p}" for p in sub.run.worker_problems]
    return "\n".join(lines)


def _written_tests(sub, notebooks: list[str]) -> tuple[list[dict], dict[str, str | None]]:
    """One pending entry per written question of the submitted notebooks (score 0 of 0), and the answers' texts."""
    from autograder.report import written

    tests, answers = [], {}
    for nb in notebooks:
        questions = written.questions_of(nb)
        if not questions:
            continue
        if sub.notebooks.get(nb) is None:
            continue  # not submitted or refused: the report says so once for the notebook (and the TAs' file: not answered)
        try:
            found, why = written.read_answers(sub.read(nb), nb)  # data only, read safely (autograder.grading.files)
        except OSError:
            found, why = {}, f"notebook {nb} could not be read (see the notes)"
        for q in questions:
            text = found.get(q.grade_id)
            ok, line = written.status_line(q, text, why)
            answers[q.grade_id] = text if ok else None
            tests.append(
                {
                    "name": f"written: {q.grade_id} (pending manual grading)",
                    "number": f"{nb}.{q.grade_id}",
                    "score": 0.0,
                    "max_score": 0.0,
                    "status": "passed" if ok else "failed",
                    "output": cap(line, TEST_OUTPUT_CAP),
                    "visibility": "visible",
                    "tags": [nb, q.grade_id, WRITTEN],
                    "extra_data": {"question": q.grade_id, "notebook": nb, "points": q.points, "answered": ok},
                }
            )
    return tests, answers


def build_results(sub, items: list, seconds: float, reveal_hidden: bool = False) -> dict:
    """Gradescope's results dict for one submission, from its graded items' verdicts.

    A failed hidden test shows only what :func:`hidden_message` keeps, unless
    ``reveal_hidden`` (the instructor's ``--reveal-hidden``, after the deadline). Outputs
    follow :func:`feedback_report` (a shared cause said once, a function's first failure in
    full, the others one line), the top-level output is :func:`report_text`. Written
    answers are pending entries worth 0 (their points are a TA's). Every text field is
    bounded (:data:`TEST_OUTPUT_CAP`, :data:`OUTPUT_CAP`).
    """
    tests, per_notebook = [], {}
    graded_names = {item.case.function for item in items}
    for number, item in enumerate(items, start=1):
        case, verdict = item.case, item.verdict
        if not item.cause:  # a verdict judged without its cause (helpers.checking.judge): decide it now
            item.classify(graded_names)
        score = case.points if verdict.passed else 0.0
        hidden = case.visibility == "hidden"
        if verdict.passed:
            output = ""
        elif hidden and not reveal_hidden:
            output = hidden_message(item, graded_names)
        else:
            output = verdict.message
        tests.append(
            {
                "name": f"{case.notebook} {case.function}: {case.title}" + (" (hidden test)" if hidden else ""),
                "number": f"{case.notebook}.{number}",
                "score": score,
                "max_score": case.points,
                "status": "passed" if verdict.passed else "failed",
                "output": cap(printable(output), TEST_OUTPUT_CAP),
                "visibility": "visible" if case.visibility == "public" else "after_published",
                "tags": [case.notebook, case.function, case.visibility],
                "extra_data": test_extra(item, reveal_hidden),
            }
        )
        got, top = per_notebook.get(case.notebook, (0.0, 0.0))
        per_notebook[case.notebook] = (got + score, top + case.points)
    written_tests, answers = _written_tests(sub, list(per_notebook))
    tests += written_tests
    report = feedback_report(tests)
    for test, output in zip(tests, report.outputs):
        test["output"] = cap(output, TEST_OUTPUT_CAP)
    notes = cap(_notes(sub, per_notebook), OUTPUT_CAP)
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    run = sub.run
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(seconds, 2),
        "output": cap(printable(report_text(report, notes)), OUTPUT_CAP),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student_output": printable((run.output if run else "")[-4000:]),
            "hidden_output": printable((run.hidden_output if run else "")[-4000:]),  # the hidden phase's: for the instructor only
            "reveal_hidden": reveal_hidden,
            "notes": printable(notes),
            "written_answers": answers,
        },
    }


def error_results(message: str, max_score: float) -> dict:
    """The results of a submission the grader could not grade: its row says why, no other's changes."""
    return {"score": 0.0, "max_score": max_score, "tests": [], "output": message, "error": message}


def results_json(data: dict) -> str:
    """A results.json's text: one line per top-level key and per test, ASCII (a lone surrogate
    becomes an escape). The same JSON as ``json.dumps(data, indent=1)``, which runs json's
    pure-Python encoder: with 230 tests per student that was the batch's costliest step after
    the verification; here every piece goes through the C encoder."""
    lines = []
    for key, value in data.items():
        if key == "tests" and isinstance(value, list) and value:
            body = "[\n" + ",\n".join("  " + json.dumps(test) for test in value) + "\n ]"
        else:
            body = json.dumps(value)
        lines.append(f" {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
