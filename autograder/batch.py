"""Grade a whole class: one folder per student, a CSV of grades, feedback files.

    python -m autograder grade-all ROOT --csv grades.csv [--jobs N] [--feedback DIR] [--force] [--reveal-hidden]

Every subfolder of ROOT is one student's submission. Every student gets a row, also
when grading them failed (the row says why). Results are kept per student in
``OUT/results/<student>.json`` (OUT defaults to the CSV's folder); a re-run skips
students whose results are newer than their files and were made by the same tests,
unless ``--force``.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import time
from pathlib import Path

from autograder.course import SERIES
from autograder.files import newest_time
from autograder.grading import grade_submissions
from autograder.references import graded_notebooks
from autograder.registry import load_registry
from autograder.runner import Limits


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


# --------------------------------------------------------------------------- #
# Student text is data: Markdown and CSV that it cannot break out of
# --------------------------------------------------------------------------- #

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md_text(text: str) -> str:
    """``text`` as plain inline Markdown: one line, no HTML, no Markdown syntax of its own."""
    one_line = " ".join(str(text).splitlines())
    return html.escape(_MD_SPECIAL.sub(r"\\\1", one_line), quote=False)


def md_code_block(text: str) -> list[str]:
    """Lines of a fenced code block holding ``text`` verbatim, which it cannot close.

    The fence is longer than any run of backticks in the text, so no line of it can end
    the block; inside a code block, HTML and Markdown are shown as text.
    """
    text = str(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text: a string starting with = + - @ (or a tab or CR) gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def feedback_markdown(student: str, results: dict) -> str:
    """A report a student can read: score per function, then each failed test and why.

    Everything the student controls (their name, file names, messages, outputs) is shown
    as data: in code blocks it cannot leave, or escaped.
    """
    lines = [f"# Feedback for {md_text(student)}", "", f"**Score: {results['score']:g} / {results['max_score']:g}**", ""]
    if results.get("error"):
        lines += ["Grading could not be completed:", "", *md_code_block(results["error"]), "", "Please contact the course staff.", ""]
        return "\n".join(lines) + "\n"
    lines += ["| notebook | function | score |", "|---|---|---|"]
    per_function: dict[tuple[str, str], list[float]] = {}
    for test in results["tests"]:
        key = (test["tags"][0], test["tags"][1])
        got, top = per_function.get(key, [0.0, 0.0])
        per_function[key] = [got + test["score"], top + test["max_score"]]
    for (nb, function), (got, top) in per_function.items():
        shown = f"`{function}`" if re.fullmatch(r"\w+", str(function)) else md_text(function)
        lines.append(f"| {md_text(SERIES.get(nb, nb))} | {shown} | {got:g} / {top:g}{'' if got == top else ' ✘'} |")
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    if results.get("output"):
        lines += ["", "## Notes", "", *md_code_block(results["output"])]
    if failed:
        lines += ["", "## Tests that did not pass", ""]
        for test in failed:
            lines += [f"### {md_text(test['name'])} ({test['max_score']:g} pt)", "", *md_code_block(test["output"]), ""]
    else:
        lines += ["", "Every test passed."]
    return "\n".join(lines) + "\n"


def error_results(message: str, max_score: float) -> dict:
    return {"score": 0.0, "max_score": max_score, "tests": [], "output": message, "error": message}


def grade_all(
    root: Path,
    csv_path: Path,
    jobs: int = 2,
    feedback_dir: Path | None = None,
    force: bool = False,
    limits: Limits | None = None,
    show_progress: bool = True,
    reveal_hidden: bool = False,
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
        path = store / f"{name}.json"
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
        data.setdefault("extra_data", {}).update(tests_fingerprint=registry.fingerprint, reveal_hidden=reveal_hidden)
        tmp = store / f".{name}.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, store / f"{name}.json")
        results[name] = data
    _write_csvs(csv_path, results, registry)
    if feedback_dir is not None:
        feedback_dir.mkdir(parents=True, exist_ok=True)
        for name, data in results.items():
            (feedback_dir / f"{name}.md").write_text(feedback_markdown(name, data))
    if show_progress:
        print(
            f"graded {len(todo)} of {len(students)} students in {time.monotonic() - start:.1f} s ({len(students) - len(todo)} up to date)"
        )
        for name, why in refused.items():
            print(f"refused {name!r}: {why}")
    return results


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
    notebooks = sorted({c.notebook for c in registry.cases})
    functions = list(dict.fromkeys((c.notebook, c.function) for c in registry.cases))
    header = ["student", "score", "max_score", "status"] + [SERIES[nb] for nb in notebooks] + [f"{nb}:{fn}" for nb, fn in functions]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([csv_cell(cell) for cell in header])
        for name, data in sorted(results.items()):
            per_nb = {nb: 0.0 for nb in notebooks}
            per_fn = {key: 0.0 for key in functions}
            for test in data.get("tests", []):
                nb, fn = test["tags"][0], test["tags"][1]
                per_nb[nb] = per_nb.get(nb, 0.0) + test["score"]
                per_fn[(nb, fn)] = per_fn.get((nb, fn), 0.0) + test["score"]
            status = "error: " + data["error"] if data.get("error") else "graded"
            row = [name, data["score"], data["max_score"], status] + [per_nb[nb] for nb in notebooks] + [per_fn[k] for k in functions]
            writer.writerow([csv_cell(cell) for cell in row])
    tests_path = csv_path.with_name(csv_path.stem + "-tests.csv")
    with open(tests_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "test", "score", "max_score", "status", "output"])
        for name, data in sorted(results.items()):
            for test in data.get("tests", []):
                row = [name, test["name"], test["score"], test["max_score"], test["status"], str(test["output"])[:500]]
                writer.writerow([csv_cell(cell) for cell in row])
