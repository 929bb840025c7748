"""grade-all: a class of honest, wrong, hostile and broken submissions; every student gets a
row and a feedback file; a re-run skips students already graded."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys

import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS
from autograder.grading.launch import bwrap_path

pytestmark = pytest.mark.slow


def grade_all(root, out, *extra):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade-all", str(root), "--csv", str(out / "grades.csv"), "--feedback", str(out / "feedback"), "--jobs", "2", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    root, out = base / "class", base / "out"
    shutil.copytree(SOLUTIONS, root / "alice")
    shutil.copytree(RELEASE, root / "bob")  # handed in the blank release
    (root / "carol").mkdir(parents=True)
    (root / "carol" / "01_embeddings.ipynb").write_text("{ not json")
    (root / "dave").mkdir()  # handed in nothing
    if bwrap_path() is not None:  # a hostile one only where the sandbox keeps it in
        shutil.copytree(RELEASE, root / "eve")
        nb = (root / "eve" / "01_embeddings.ipynb").read_text()
        (root / "eve" / "01_embeddings.ipynb").write_text(nb.replace('"cells": [', '"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null, "source": "class X:\\n    import os, signal\\n    os.kill(os.getppid(), signal.SIGKILL)"},', 1))
    first = grade_all(root, out)
    return root, out, first


def rows(out):
    with open(out / "grades.csv") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_every_student_gets_a_row_and_feedback(graded_class):
    root, out, _ = graded_class
    students = sorted(p.name for p in root.iterdir())
    table = rows(out)
    assert sorted(table) == students
    assert float(table["alice"]["score"]) == float(table["alice"]["max_score"]) > 0
    for name in students:
        feedback = (out / "feedback" / f"{name}.md").read_text()
        assert feedback.startswith(f"# Feedback for {name}") and "Score:" in feedback
        if name != "alice":
            assert float(table[name]["score"]) == 0
            assert "Tests that did not pass" in feedback
    assert "01:tokenize" in table["alice"]  # a column per function
    tests_csv = (out / "grades-tests.csv").read_text()
    assert tests_csv.count("\nbob,") > 10


def test_feedback_says_what_failed(graded_class):
    _, out, _ = graded_class
    assert "not implemented yet" in (out / "feedback" / "bob.md").read_text()
    assert "could not be read" in (out / "feedback" / "carol.md").read_text()
    assert "not found in the submission" in (out / "feedback" / "dave.md").read_text()


def test_rerun_skips_graded_students_unless_forced(graded_class):
    root, out, _ = graded_class
    again = grade_all(root, out)
    assert f"graded 0 of {len(list(root.iterdir()))} students" in again.stdout
    (root / "bob" / "01_embeddings.ipynb").touch()
    again = grade_all(root, out)
    assert "graded 1 of" in again.stdout
    forced = grade_all(root, out, "--force")
    assert f"graded {len(list(root.iterdir()))} of" in forced.stdout


def test_feedback_is_short_and_written_answers_are_collected(graded_class):
    root, out, _ = graded_class
    bob = (out / "feedback" / "bob.md").read_text()  # the blank release: one line per function
    assert len(bob.splitlines()) < 80 and bob.count('run check("') == bob.count("| `") - 4  # four written questions
    written = out / "written" / "q03_gradient.md"
    text = written.read_text()
    assert "Model answer" in text.split("## alice", 1)[1].split("\n## ", 1)[0]  # the solutions' cell, as alice's answer
    assert text.split("## bob", 1)[1].split("##", 1)[0].strip() == "*not answered*"
    assert "pending manual grading" in (out / "feedback" / "alice.md").read_text()


def test_grade_all_writes_the_class_report(graded_class):
    """report.html and items.csv beside the CSVs: anonymous, every graded test a row, the blank student's stubs counted."""
    root, out, _ = graded_class
    page = (out / "report.html").read_text()
    text = re.sub(r'data:image/png;base64,[A-Za-z0-9+/=]+', "", page)  # a name may occur in the figures' base64 by chance
    assert page.count('src="data:image/png;base64,') == 3 and "alice" not in text and "bob" not in text
    with open(out / "items.csv") as fh:
        items = list(csv.DictReader(fh))
    tests = {row["test"] for row in items if row["level"] == "test"}
    assert "01/tokenize/slide_corpus_tokens" in tests and "07/generate/temperatures" in tests
    tokenize = next(row for row in items if row["level"] == "function" and row["function"] == "tokenize")
    assert int(tokenize["stubs"]) >= 1  # bob handed in the blank release


def test_results_json_is_the_same_json_as_an_indented_dump_and_ascii():
    import json

    from autograder.report.results import results_json

    data = {
        "score": 3.5, "max_score": 4, "output": "a student's \x1b[2J text \ud800 and \u00e9",
        "tests": [{"name": "01 / tokenize", "score": 1, "output": "line\nnext", "extra_data": {"cause": "passed"}}, {"name": "b", "score": 0}],
        "extra_data": {"reveal_hidden": False}, "empty": [],
    }  # fmt: skip
    text = results_json(data)
    assert json.loads(text) == json.loads(json.dumps(data, indent=1)) == data
    assert text.isascii() and text.count("\n") == len(data) + len(data["tests"]) + 3  # a line per key and per test
    assert json.loads(results_json({"tests": []})) == {"tests": []}
