"""The kit's marks in nbgrader's gradebook (autograder/integrations/nbgrader_gradebook.py).

A temporary nbgrader course with notebooks 01 and 03 (03 has a written answer): the real
``nbgrader generate_assignment``, three submissions (the solutions, the blank release, the
solutions with a planted tokenize mistake), ``python -m autograder nbgrader-sync``; then
nbgrader's own API reads the kit's scores (public and hidden cases) in every check cell,
the written answer waits for manual grading, and ``nbgrader export`` gives the totals.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow
NOTEBOOKS = ["01_embeddings", "03_training"]
ASSIGNMENT = "ps01"
TOKENIZE_SPLIT = "def tokenize(text):\n    return text.split()\n"


def env() -> dict:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader shells out to alembic from the venv
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
        cwd=course,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def submit(course: Path, student: str, kind: str) -> None:
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    for name in NOTEBOOKS:
        released = course / "release" / ASSIGNMENT / f"{name}.ipynb"
        if kind == "blank":
            shutil.copy(released, target)
            continue
        nb = nbformat.read(str(SOLUTIONS / f"{name}.ipynb"), as_version=4)
        released_nb = nbformat.read(str(released), as_version=4)
        for cell, released_cell in zip(nb.cells, released_nb.cells):  # keep nbgrader's ids and checksums
            cell.metadata = released_cell.metadata
        if kind == "tokenize":
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "tokenize":
                    cell.source = TOKENIZE_SPLIT
        nbformat.write(nb, str(target / f"{name}.ipynb"))
    (target / "timestamp.txt").write_text("2026-12-03 12:00:00.000000 UTC")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader_gradebook")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'llm-course'\n")
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(SOLUTIONS / f"{name}.ipynb", course / "source" / ASSIGNMENT)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    for student, kind in (("honest", "solutions"), ("blank", "blank"), ("planted", "tokenize")):
        submit(course, student, kind)
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "nbgrader-sync", str(course), ASSIGNMENT, "--jobs", "2"],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return course, proc.stdout


def grades(course: Path, student: str) -> dict[str, tuple]:
    """cell name -> (auto_score, manual_score, score, max_score, needs_manual_grade), read with nbgrader's API."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name in NOTEBOOKS:
            for g in gb.find_submission_notebook(name, ASSIGNMENT, student).grades:
                out[g.name] = (g.auto_score, g.manual_score, g.score, g.max_score, g.needs_manual_grade)
    return out


def kit_points() -> dict[str, float]:
    from autograder.grading.registry import load_registry

    registry = load_registry(["01", "03"])
    return {f"check_{c.function}": registry.points(c.notebook, c.function) for c in registry.cases}


def test_the_honest_submission_has_every_check_cell_full(course):
    course_dir, out = course
    got = grades(course_dir, "honest")
    points = kit_points()
    checks = {k: v for k, v in got.items() if k.startswith("check_")}
    assert set(checks) == set(points)  # every graded function of 01 and 03
    assert all(auto == top == points[name] and not pending for name, (auto, _, _, top, pending) in checks.items())
    assert "for 3 students" in out


def test_the_blank_submission_scores_zero(course):
    got = grades(course[0], "blank")
    assert all(auto == 0 for name, (auto, *_) in got.items() if name.startswith("check_"))


def test_a_planted_mistake_costs_its_function_only_with_hidden_cases_counted(course):
    got = grades(course[0], "planted")
    points = kit_points()
    assert got["check_tokenize"][0] == 0
    assert all(got[name][0] == points[name] for name in points if name != "check_tokenize")


def test_written_answers_wait_for_manual_grading(course):
    for student in ("honest", "blank", "planted"):
        auto, manual, score, top, pending = grades(course[0], student)["q03_gradient"]
        assert auto is None and manual is None and pending and top == 3
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gb:
        submission = gb.find_submission(ASSIGNMENT, "honest")
        assert submission.needs_manual_grade  # formgrader lists it for a TA


def test_formgrader_can_open_the_submissions(course):
    for student in ("honest", "blank", "planted"):
        for name in NOTEBOOKS:
            path = course[0] / "autograded" / student / ASSIGNMENT / f"{name}.ipynb"
            assert path.read_bytes() == (course[0] / "submitted" / student / ASSIGNMENT / f"{name}.ipynb").read_bytes()


def test_nbgrader_export_gives_the_totals(course):
    course_dir, _ = course
    nbgrader(course_dir, "export", "--to", str(course_dir / "grades.csv"))
    with open(course_dir / "grades.csv") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    total = sum(kit_points().values())
    assert float(rows["honest"]["score"]) == total
    assert float(rows["blank"]["score"]) == 0
    assert float(rows["planted"]["score"]) == total - kit_points()["check_tokenize"]
    assert float(rows["honest"]["max_score"]) == total + 3  # the written answer's 3 points, for a TA
