"""The kit's marks in nbgrader's gradebook, so formgrader shows them and TAs grade the rest.

    python -m autograder nbgrader-sync COURSE_DIR ASSIGNMENT [--jobs N] [--db URL]

For an nbgrader course folder (``submitted/<student>/<assignment>/*.ipynb`` and
``gradebook.db``, after ``nbgrader generate_assignment ASSIGNMENT`` recorded the
assignment's cells), grades every submission with the kit's sandboxed grader (public and
hidden cases, the student's code never runs in this process) and writes, through nbgrader's
own API (:class:`nbgrader.api.Gradebook`), each graded cell's score: the ``check_<name>``
cell of every graded function gets the kit's points for that function as its
``auto_score``. The written answers (nbgrader's manually graded Markdown cells) get no
score and are marked as needing manual grading, so they wait for a TA in formgrader;
``nbgrader export`` then gives each student's total.

- A score a TA already set by hand (``manual_score``) is kept: nbgrader shows it instead of
  the auto score, as it always does.
- A submission without a record (nbgrader autograde was never run) gets one
  (``Gradebook.add_submission``), and its notebooks are copied, as submitted, into
  ``autograded/<student>/<assignment>/`` when nothing is there yet, so formgrader can open
  them; nbgrader's own autograded copies are left alone.
- Folders are read like grade-all's: a student folder, assignment folder or notebook that is
  a symbolic link or a special file is never followed (autograder.grading.files).
- When a cell's points in the gradebook differ from the kit's points for the function, the
  kit's share of them is written (score / kit's points * the cell's points) and a note says so.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import SERIES

CHECK_PREFIX = "check_"


@dataclass
class SyncReport:
    students: list[str] = field(default_factory=list)
    cells_written: int = 0
    pending_manual: int = 0  # written-answer cells left for a TA
    notes: list[str] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)  # student -> the kit's results


def _series_of(notebook_name: str) -> str | None:
    """The series number of an nbgrader notebook name ("01_embeddings" -> "01"), by the release's stem or its number."""
    for nb, stem in SERIES.items():
        if notebook_name == stem:
            return nb
    found = re.search(r"(?<!\d)0?([1-9])(?!\d)", notebook_name)  # the number, as grading finds it in a file name
    number = f"0{found.group(1)}" if found else None
    return number if number in SERIES else None


def function_scores(results: dict) -> dict[tuple[str, str], tuple[float, float]]:
    """(notebook, function) -> (score, max_score) over every case, public and hidden (written answers excluded)."""
    from autograder.report.class_report import read_test

    scores: dict[tuple[str, str], tuple[float, float]] = {}
    for test in results.get("tests", []):
        t = read_test(test)
        if t is None:
            continue
        got, top = scores.get((t.notebook, t.function), (0.0, 0.0))
        scores[(t.notebook, t.function)] = (got + t.score, top + t.max_score)
    return scores


def submission_folders(course_dir: Path, assignment: str) -> tuple[dict[str, Path], list[str]]:
    """student -> ``submitted/<student>/<assignment>`` (real folders only) and notes about what was skipped."""
    from autograder.grading.batch import student_folders

    submitted = course_dir / "submitted"
    if not submitted.is_dir():
        return {}, [f"{submitted} does not exist: no submissions to grade"]
    students, refused = student_folders(submitted)
    notes = [f"{name}: {why}" for name, why in refused.items()]
    folders = {}
    for name, folder in students.items():
        target = folder / assignment
        if target.is_symlink():
            notes.append(f"{name}: {target} is a symbolic link: refused")
        elif target.is_dir():
            folders[name] = target
    return folders, notes


def _copy_for_formgrader(course_dir: Path, student: str, assignment: str, folder: Path, notebooks: list[str]) -> None:
    """Copy the submitted notebooks (regular files only, read without following links) to autograded/ where nbgrader has none."""
    from autograder.grading.files import UnsafeFile, read_notebook

    target = course_dir / "autograded" / student / assignment
    for name in notebooks:
        source, dest = folder / f"{name}.ipynb", target / f"{name}.ipynb"
        if dest.exists() or dest.is_symlink():
            continue
        try:
            data = read_notebook(source, folder)
        except (UnsafeFile, OSError):
            continue
        target.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    timestamp = folder / "timestamp.txt"
    if timestamp.is_file() and not timestamp.is_symlink() and not (target / "timestamp.txt").exists() and target.is_dir():
        (target / "timestamp.txt").write_bytes(timestamp.read_bytes()[:200])


def sync(course_dir: Path, assignment: str, jobs: int = 2, db_url: str | None = None, limits=None) -> SyncReport:
    """Grade every submission of ``assignment`` with the kit and write the scores into nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.grading.grade import grade_submissions
    from autograder.grading.registry import load_registry

    course_dir = Path(course_dir).resolve()
    report = SyncReport()
    db_url = db_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    with Gradebook(db_url) as gb:
        try:
            notebook_names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            raise SystemExit(
                f"error: the gradebook has no assignment {assignment!r}: run `nbgrader generate_assignment {assignment}` first"
            ) from None
        series = {name: _series_of(name) for name in notebook_names}
        report.notes += [
            f"notebook {name} is not one of the kit's notebooks: its cells are left to nbgrader"
            for name, nb in series.items()
            if nb is None
        ]
        graded_series = sorted({nb for nb in series.values() if nb})
        folders, notes = submission_folders(course_dir, assignment)
        report.notes += notes
        report.results = (
            grade_submissions(folders, registry=load_registry(graded_series), jobs=jobs, limits=limits) if folders and graded_series else {}
        )
        for student in sorted(report.results):
            results = report.results[student]
            if results.get("error") or not results.get("tests"):
                report.notes.append(
                    f"{student}: grading failed ({str(results.get('error') or results.get('output'))[:200]}); the gradebook was not changed"
                )
                continue
            scores = function_scores(results)
            gb.update_or_create_student(student)
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                gb.add_submission(assignment, student)
                _copy_for_formgrader(course_dir, student, assignment, folders[student], notebook_names)
            for name, nb in series.items():
                if nb is None:
                    continue
                submitted = gb.find_submission_notebook(name, assignment, student)
                for grade in submitted.grades:
                    if grade.cell_type == "markdown" or not grade.name.startswith(CHECK_PREFIX):
                        if grade.manual_score is None and grade.cell_type == "markdown":
                            grade.needs_manual_grade = True  # a written answer: formgrader lists it for a TA
                            report.pending_manual += 1
                        continue
                    function = grade.name[len(CHECK_PREFIX) :]
                    if (nb, function) not in scores:
                        report.notes.append(f"{name}: cell {grade.name} has no graded function {function!r} in the kit; left as it was")
                        continue
                    got, top = scores[(nb, function)]
                    cell_max = float(grade.max_score or 0.0)
                    if top and cell_max and abs(top - cell_max) > 1e-9:
                        got = got / top * cell_max
                        note = f"{name}: cell {grade.name} is worth {cell_max:g} points in the gradebook and {top:g} in the kit: the kit's share was written"
                        if note not in report.notes:
                            report.notes.append(note)
                    grade.auto_score = round(min(got, cell_max) if cell_max else got, 6)
                    grade.needs_manual_grade = False
                    report.cells_written += 1
            gb.db.commit()
            report.students.append(student)
    return report


def main_args(args) -> int:
    """The ``nbgrader-sync`` subcommand."""
    course = Path(args.course_dir)
    if not course.is_dir():
        print(f"error: {course} is not an nbgrader course folder", file=sys.stderr)
        return 2
    jobs = args.jobs or os.cpu_count() or 1
    report = sync(course, args.assignment, jobs=jobs, db_url=args.db)
    for note in report.notes:
        print(f"note: {note}")
    print(
        f"wrote {report.cells_written} autograded cells for {len(report.students)} students into nbgrader's gradebook; "
        f"{report.pending_manual} written answers wait for manual grading in formgrader (nbgrader export gives the totals)"
    )
    return 0
