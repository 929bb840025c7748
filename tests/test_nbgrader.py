"""The nbgrader path: a temporary nbgrader course made from solutions/, the real
``nbgrader generate_assignment`` and ``nbgrader autograde`` on an honest and a wrong
submission, and the scores nbgrader records. (This path grades in the student's
kernel, with the public self-checks as nbgrader test cells.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow
NOTEBOOK = "01_embeddings"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader shells out to alembic from the venv
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"], cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader_course")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'llm-course'\nc.Execute.timeout = 120\n")
    (course / "source" / "ps01").mkdir(parents=True)
    shutil.copy(SOLUTIONS / f"{NOTEBOOK}.ipynb", course / "source" / "ps01")
    nbgrader(course, "generate_assignment", "ps01", "--force")
    released = course / "release" / "ps01" / f"{NOTEBOOK}.ipynb"
    for student, wrong in (("honest", False), ("wrong", True)):
        target = course / "submitted" / student / "ps01"
        target.mkdir(parents=True)
        nb = nbformat.read(str(SOLUTIONS / f"{NOTEBOOK}.ipynb"), as_version=4)
        released_nb = nbformat.read(str(released), as_version=4)
        for cell, released_cell in zip(nb.cells, released_nb.cells):  # keep nbgrader's ids and checksums
            cell.metadata = released_cell.metadata
        if wrong:
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "tokenize":
                    cell.source = "def tokenize(text):\n    return text.split()\n"
        nbformat.write(nb, str(target / f"{NOTEBOOK}.ipynb"))
    nbgrader(course, "autograde", "ps01", "--force")
    return course


def scores(course: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(NOTEBOOK, "ps01", student)
        return {grade.name: grade.score for grade in submission.grades}, {grade.name: grade.max_score for grade in submission.grades}


def test_release_by_nbgrader_matches_ours(course):
    released = nbformat.read(str(course / "release" / "ps01" / f"{NOTEBOOK}.ipynb"), as_version=4)
    ours = nbformat.read(str(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb"), as_version=4)
    unnamed = [re.sub(r"raise NotImplementedError\(\"implement [^\"]*\"\)", "raise NotImplementedError()", c.source) for c in ours.cells]
    assert [c.source for c in released.cells] == unnamed  # ours only names each stub (autograder/authoring/release.py)


def test_nbgrader_gives_the_honest_submission_full_marks(course):
    got, top = scores(course, "honest")
    assert got and got == top and sum(top.values()) > 0


def test_nbgrader_takes_points_off_the_wrong_function_only(course):
    got, top = scores(course, "wrong")
    assert got["check_tokenize"] == 0
    assert all(got[name] == top[name] for name in got if name != "check_tokenize")
