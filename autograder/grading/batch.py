"""Grade a whole class: one folder per student, a CSV of grades, feedback files.

    python -m autograder grade-all ROOT --csv grades.csv [--jobs N] [--feedback DIR] [--force] [--reveal-hidden]

Every subfolder of ROOT is one student's submission. Every student gets a row, also
when grading them failed (the row says why). Results are kept per student in
``OUT/results/<student>.json`` (OUT defaults to the CSV's folder); a re-run skips
students whose results are newer than their files and were made by the same tests,
unless ``--force``. Written answers go to ``OUT/written/<question>.md`` (one file per
question, every student's answer fenced, for the TAs).
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

from autograder.course import SERIES
from autograder.grading.files import newest_time
from autograder.grading.grade import feedback_report, grade_submissions
from autograder.grading.references import graded_notebooks
from autograder.grading.registry import load_registry
from autograder.grading.runner import Limits
from autograder.report.class_report import write_class_report
from autograder.report.results import error_results, results_json
from autograder.report.text import csv_cell, csv_row, file_stem, md_code_block, md_text, open_csv, printable, safe_path, write_text  # noqa: F401 - csv_cell: used by the tests


def _newest_file_time(folder: Path) -> float:
    return newest_time(folder)  # lstat only: links are never followed


def _is_fresh(results_path: Path, folder: Path, fingerprint: str, reveal_hidden: bool = False) -> bool:
    if not results_path.exists():
        return False
    try:
        data = json.loads(results_path.read_text())
        extra = data.get("extra_data", {})
        return (
            extra.get("tests_fingerprint") == fingerprint
            and bool(extra.get("reveal_hidden", False)) == reveal_hidden
            and results_path.stat().st_mtime >= _newest_file_time(folder)
        )
    except (ValueError, AttributeError, OSError):
        return False


def feedback_markdown(student: str, results: dict) -> str:
    """A report a student reads in a minute: per function its score and what to fix, then the
    first failure of each function in full and its other failures one line each.

    Made by :func:`autograder.report.feedback.feedback_report`, like results.json's outputs, so both
    say the same things. Everything the student controls (their name, file names, messages,
    outputs) is shown as data: in code blocks it cannot leave, or escaped; the table's
    advice is the grader's own words (graded names, checked to be plain identifiers).
    """
    lines = [f"# Feedback for {md_text(student)}", "", f"**Score: {results['score']:g} / {results['max_score']:g}**", ""]
    if results.get("error"):
        lines += ["Grading could not be completed:", "", *md_code_block(results["error"]), "", "Please contact the course staff.", ""]
        return "\n".join(lines) + "\n"
    report = feedback_report(results["tests"])
    lines += ["| notebook | function | score | what to fix |", "|---|---|---|---|"]
    for nb in report.notebooks:
        notebook = md_text(SERIES.get(nb.notebook, nb.notebook))
        if nb.not_graded:
            lines.append(f"| {notebook} | every function | {nb.score:g} / {nb.max_score:g} ✘ | not graded: see Notes |")
            continue
        for fn in nb.functions:
            shown = f"`{fn.function}`" if re.fullmatch(r"\w+", fn.function) else md_text(fn.function)
            todo = "✔" if fn.passed else _advice(fn.summary)
            lines.append(f"| {notebook} | {shown} | {fn.score:g} / {fn.max_score:g}{'' if fn.passed else ' ✘'} | {todo} |")
    notes = (results.get("extra_data") or {}).get("notes", results.get("output", ""))
    not_graded = [f"{SERIES.get(nb.notebook, nb.notebook)}: not graded: {nb.why_not_graded}" for nb in report.notebooks if nb.not_graded]
    notes = "\n".join(not_graded + ([notes] if notes else []))
    if notes:
        lines += ["", "## Notes", "", *md_code_block(notes)]
    failing = [fn for nb in report.notebooks for fn in nb.functions if fn.first]
    if failing or any(not fn.passed for nb in report.notebooks for fn in nb.functions) or any(nb.not_graded for nb in report.notebooks):
        lines += ["", "## Tests that did not pass", ""]
        if not failing:
            lines += ["The table above says what to fix in each function.", ""]
        for fn in failing:
            title, output = fn.first
            lines += [f"### {md_text(fn.notebook)} {md_text(fn.function)}: {fn.score:g} / {fn.max_score:g}", ""]
            lines += [*md_code_block(f"✘ {title}\n{output}"), ""]
            if fn.others:
                lines += ["Also failed (one line each):", "", *md_code_block("\n".join(f"✘ {o}" for o in fn.others)), ""]
    else:
        lines += ["", "Every test passed."]
    if report.written:
        lines += ([] if lines[-1] == "" else [""]) + ["## Written answers", "", "| question | status |", "|---|---|"]
        for gid, text, ok in report.written:
            shown = f"`{gid}`" if re.fullmatch(r"\w+", gid) else md_text(gid)
            lines.append(f"| {shown} | {_advice(_first_line(text))} |")
    return "\n".join(lines) + "\n"


_ADVICE = re.compile(r"[\w `\"'()\[\]:;,.!?/-]*")


def _advice(text: str) -> str:
    """A table cell of the grader's own advice: kept as it is (names in code spans) when it
    holds nothing but plain words, identifiers and punctuation; else escaped."""
    return text if _ADVICE.fullmatch(text) and text.count("`") % 2 == 0 else md_text(text)


def _first_line(text: str) -> str:
    return str(text).split("\n", 1)[0]


def grade_all(
    root: Path,
    csv_path: Path,
    jobs: int = 2,
    feedback_dir: Path | None = None,
    force: bool = False,
    limits: Limits | None = None,
    show_progress: bool = True,
    reveal_hidden: bool = False,
    names: bool = False,
) -> dict[str, dict]:
    """Grade every student folder under ``root``; write the CSVs (and feedback); return results.

    A student entry that is a symbolic link (to a folder or anything else) is not
    followed: it gets a row saying it was refused. With ``reveal_hidden`` the hidden
    tests' messages are shown in full (results kept without them are graded again).
    """
    students, refused = student_folders(root)
    registry = load_registry(graded_notebooks())
    store = csv_path.resolve().parent / "results"
    store.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {name: error_results(why, registry.points()) for name, why in refused.items()}
    todo = {}
    for name, folder in students.items():
        path = safe_path(store / f"{file_stem(name)}.json")
        if not force and _is_fresh(path, folder, registry.fingerprint, reveal_hidden):
            results[name] = json.loads(path.read_text())
        else:
            todo[name] = folder
    bar = None
    if show_progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="student")
    start = time.monotonic()
    try:
        progress = (lambda sub: bar.update(1)) if bar else None
        graded = (
            grade_submissions(todo, registry=registry, jobs=jobs, limits=limits, progress=progress, reveal_hidden=reveal_hidden)
            if todo
            else {}
        )
    except Exception as exc:  # noqa: BLE001 - one broken batch must still give every student a row
        graded = {name: error_results(f"grader error: {type(exc).__name__}: {exc}", registry.points()) for name in todo}
    finally:
        if bar:
            bar.close()
    for name in todo:
        data = graded.get(name) or error_results("grader error: no result", registry.points())
        try:
            data.setdefault("extra_data", {}).update(tests_fingerprint=registry.fingerprint, reveal_hidden=reveal_hidden)
            text = results_json(data)
        except Exception as exc:  # noqa: BLE001 - a grader bug with this student costs this student's row only
            data = error_results(f"grader error: the results could not be stored ({type(exc).__name__})", registry.points())
            text = results_json(data)
        tmp = safe_path(store / f".{file_stem(name)}.json.tmp")
        tmp.write_text(text)
        os.replace(tmp, safe_path(store / f"{file_stem(name)}.json"))
        results[name] = data
    _write_csvs(csv_path, results, registry)
    write_written_answers(csv_path.resolve().parent / "written", results, sorted({c.notebook for c in registry.cases}))
    if feedback_dir is not None:
        feedback_dir.mkdir(parents=True, exist_ok=True)
        for name, data in results.items():
            write_text(feedback_dir / f"{file_stem(name)}.md", _feedback_or_error(name, data))
    write_class_report(results, csv_path.resolve().parent, names=names, registry=registry)  # report.html, items.csv
    if show_progress:
        print(
            f"graded {len(todo)} of {len(students)} students in {time.monotonic() - start:.1f} s ({len(students) - len(todo)} up to date)"
        )
        for name, why in refused.items():
            print(f"refused {printable(name)!r}: {printable(why)}")
    return results


def write_written_answers(folder: Path, results: dict[str, dict], notebooks: list[str]) -> list[Path]:
    """One Markdown file per written question for the TAs: every student's answer, escaped and fenced.

    The answers are the ones build_results read from each notebook (``extra_data.written_answers``);
    a student's text is never rendered: it sits in a code block it cannot close.
    """
    from autograder.report.written import QUESTIONS

    written = []
    for question in QUESTIONS.values():
        if question.notebook not in notebooks:
            continue
        answers = {name: ((data.get("extra_data") or {}).get("written_answers") or {}).get(question.grade_id) for name, data in results.items()}
        count = sum(1 for a in answers.values() if isinstance(a, str))
        lines = [
            f"# Written answers: {md_text(question.grade_id)} ({md_text(SERIES.get(question.notebook, question.notebook))}, {question.points:g} points)",
            "",
            f"{count} of {len(answers)} students answered. Each answer is shown as written (its Markdown and LaTeX source), in a code block.",
        ]
        model = _model_answer(question)
        if model:
            lines += ["", "## The question and its model answer (solutions/)", "", *md_code_block(model)]
        for name, answer in sorted(answers.items()):
            lines += ["", f"## {md_text(name)}", ""]
            if isinstance(answer, str):
                lines += md_code_block(answer)
            elif results[name].get("error"):
                lines.append("*not graded: grading this student failed*")
            else:
                lines.append("*not answered*")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{question.grade_id}.md"
        write_text(path, "\n".join(lines) + "\n")
        written.append(path)
    return written


def _model_answer(question) -> str:
    """The solution notebook's answer cell (the question and the model answer), when solutions/ is here."""
    from autograder.course import SOLUTIONS
    from autograder.report.written import read_answers

    path = SOLUTIONS / f"{SERIES.get(question.notebook, '')}.ipynb"
    try:
        return read_answers(path.read_bytes(), question.notebook)[0].get(question.grade_id) or ""
    except OSError:
        return ""


def student_folders(root: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """(name -> folder, name -> why refused) for the entries of ``root``, without following links.

    Real folders are students; a link (to a folder or not) is refused with a reason;
    plain files and entries starting with "." are ignored.
    """
    students, refused = {}, {}
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            refused[entry.name] = (
                f"the submission folder {entry.name} is a symbolic link: refused (the grader reads only real folders and files)."
            )
        elif entry.is_dir(follow_symlinks=False):
            students[entry.name] = Path(entry.path)
    return students, refused


def _write_csvs(csv_path: Path, results: dict[str, dict], registry) -> None:
    """grades.csv (one row per student) and grades-tests.csv (one row per student and test).

    Every cell goes through :func:`autograder.report.text.csv_cell`. A student whose
    results cannot be turned into a row (a grader bug, a damaged results file) gets a row
    that says so; no other student's row is touched.
    """
    notebooks = sorted({c.notebook for c in registry.cases})
    functions = list(dict.fromkeys((c.notebook, c.function) for c in registry.cases))
    header = ["student", "score", "max_score", "status"] + [SERIES[nb] for nb in notebooks] + [f"{nb}:{fn}" for nb, fn in functions]
    with open_csv(csv_path) as fh:
        writer = csv.writer(fh)
        writer.writerow(csv_row(header))
        for name, data in sorted(results.items()):
            try:
                row = _grades_row(name, data, notebooks, functions)
            except Exception as exc:  # noqa: BLE001 - this student's row says what failed; the others are written
                row = [name, 0.0, registry.points(), f"error: grader error: this student's results could not be read ({type(exc).__name__})"]
            writer.writerow(csv_row(row))
    tests_path = csv_path.with_name(csv_path.stem + "-tests.csv")
    with open_csv(tests_path) as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "test", "score", "max_score", "status", "output"])
        for name, data in sorted(results.items()):
            try:
                rows = [[name, test["name"], test["score"], test["max_score"], test["status"], str(test["output"])[:500]] for test in data.get("tests", [])]
            except Exception as exc:  # noqa: BLE001
                rows = [[name, "", 0.0, 0.0, "error", f"grader error: this student's results could not be read ({type(exc).__name__})"]]
            writer.writerows(csv_row(row) for row in rows)


def _grades_row(name: str, data: dict, notebooks: list[str], functions: list[tuple[str, str]]) -> list:
    """One student's row of grades.csv: total, per notebook, per function, and whether grading completed."""
    per_nb = {nb: 0.0 for nb in notebooks}
    per_fn = {key: 0.0 for key in functions}
    for test in data.get("tests", []):
        nb, fn = test["tags"][0], test["tags"][1]
        per_nb[nb] = per_nb.get(nb, 0.0) + test["score"]
        per_fn[(nb, fn)] = per_fn.get((nb, fn), 0.0) + test["score"]
    status = "error: " + data["error"] if data.get("error") else "graded"
    return [name, data["score"], data["max_score"], status] + [per_nb[nb] for nb in notebooks] + [per_fn[k] for k in functions]


def _feedback_or_error(name: str, data: dict) -> str:
    """The student's feedback file; if building it fails (a grader bug), a file that says so, and the others are still written."""
    try:
        return feedback_markdown(name, data)
    except Exception as exc:  # noqa: BLE001
        message = f"grader error: the feedback could not be written ({type(exc).__name__})"
        return "\n".join([f"# Feedback for {md_text(name)}", "", *md_code_block(message), "", "Please contact the course staff.", ""])
