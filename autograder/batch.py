"""Grade a whole class: one folder per student, a CSV of grades, feedback files.

    python -m autograder grade-all ROOT --csv grades.csv [--jobs N] [--feedback DIR] [--force]

Every subfolder of ROOT is one student's submission. Every student gets a row, also
when grading them failed (the row says why). Results are kept per student in
``OUT/results/<student>.json`` (OUT defaults to the CSV's folder); a re-run skips
students whose results are newer than their files and were made by the same tests,
unless ``--force``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from autograder.course import SERIES
from autograder.grading import grade_submissions
from autograder.references import graded_notebooks
from autograder.registry import load_registry
from autograder.runner import Limits


def _newest_file_time(folder: Path) -> float:
    times = [folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times)


def _is_fresh(results_path: Path, folder: Path, fingerprint: str) -> bool:
    if not results_path.exists():
        return False
    try:
        data = json.loads(results_path.read_text())
    except ValueError:
        return False
    return data.get("extra_data", {}).get("tests_fingerprint") == fingerprint and results_path.stat().st_mtime >= _newest_file_time(folder)


def feedback_markdown(student: str, results: dict) -> str:
    """A report a student can read: score per function, then each failed test and why."""
    lines = [f"# Feedback for {student}", "", f"**Score: {results['score']:g} / {results['max_score']:g}**", ""]
    if results.get("error"):
        lines += [f"Grading could not be completed: {results['error']}", "", "Please contact the course staff.", ""]
        return "\n".join(lines)
    lines += ["| notebook | function | score |", "|---|---|---|"]
    per_function: dict[tuple[str, str], list[float]] = {}
    for test in results["tests"]:
        key = (test["tags"][0], test["tags"][1])
        got, top = per_function.get(key, [0.0, 0.0])
        per_function[key] = [got + test["score"], top + test["max_score"]]
    for (nb, function), (got, top) in per_function.items():
        lines.append(f"| {SERIES.get(nb, nb)} | `{function}` | {got:g} / {top:g}{'' if got == top else ' ✘'} |")
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    if results.get("output"):
        lines += ["", "## Notes", "", "```", results["output"], "```"]
    if failed:
        lines += ["", "## Tests that did not pass", ""]
        for test in failed:
            lines += [f"### {test['name']} ({test['max_score']:g} pt)", "", "```", test["output"], "```", ""]
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
) -> dict[str, dict]:
    """Grade every student folder under ``root``; write the CSVs (and feedback); return results."""
    students = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    registry = load_registry(graded_notebooks())
    store = csv_path.resolve().parent / "results"
    store.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    todo = {}
    for name, folder in students.items():
        path = store / f"{name}.json"
        if not force and _is_fresh(path, folder, registry.fingerprint):
            results[name] = json.loads(path.read_text())
        else:
            todo[name] = folder
    bar = None
    if show_progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="student")
    start = time.monotonic()
    try:
        graded = grade_submissions(todo, registry=registry, jobs=jobs, limits=limits, progress=(lambda sub: bar.update(1)) if bar else None) if todo else {}
    except Exception as exc:  # noqa: BLE001 - one broken batch must still give every student a row
        graded = {name: error_results(f"grader error: {type(exc).__name__}: {exc}", registry.points()) for name in todo}
    finally:
        if bar:
            bar.close()
    for name in todo:
        data = graded.get(name) or error_results("grader error: no result", registry.points())
        data.setdefault("extra_data", {})["tests_fingerprint"] = registry.fingerprint
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
        print(f"graded {len(todo)} of {len(students)} students in {time.monotonic() - start:.1f} s ({len(students) - len(todo)} up to date)")
    return results


def _write_csvs(csv_path: Path, results: dict[str, dict], registry) -> None:
    notebooks = sorted({c.notebook for c in registry.cases})
    functions = list(dict.fromkeys((c.notebook, c.function) for c in registry.cases))
    header = ["student", "score", "max_score", "status"] + [SERIES[nb] for nb in notebooks] + [f"{nb}:{fn}" for nb, fn in functions]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for name, data in sorted(results.items()):
            per_nb = {nb: 0.0 for nb in notebooks}
            per_fn = {key: 0.0 for key in functions}
            for test in data.get("tests", []):
                nb, fn = test["tags"][0], test["tags"][1]
                per_nb[nb] = per_nb.get(nb, 0.0) + test["score"]
                per_fn[(nb, fn)] = per_fn.get((nb, fn), 0.0) + test["score"]
            status = "error: " + data["error"] if data.get("error") else "graded"
            writer.writerow([name, data["score"], data["max_score"], status] + [per_nb[nb] for nb in notebooks] + [per_fn[k] for k in functions])
    tests_path = csv_path.with_name(csv_path.stem + "-tests.csv")
    with open(tests_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "test", "score", "max_score", "status", "output"])
        for name, data in sorted(results.items()):
            for test in data.get("tests", []):
                writer.writerow([name, test["name"], test["score"], test["max_score"], test["status"], test["output"][:500]])
