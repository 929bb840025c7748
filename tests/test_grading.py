"""End-to-end grading: the solutions get full marks, the blank release 0, and broken
submissions still get a complete report with everything gradeable graded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.course import RELEASE, SOLUTIONS, available
from autograder.grading.registry import load_registry
from tests.conftest import ROOT, grade_folders

pytestmark = pytest.mark.slow


def _solution_cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("subs")
    honest = base / "honest"
    shutil.copytree(SOLUTIONS, honest)
    blank = base / "blank"
    shutil.copytree(RELEASE, blank)

    syntax = base / "syntax"
    shutil.copytree(SOLUTIONS, syntax)
    nb = nbformat.read(str(syntax / "01_embeddings.ipynb"), as_version=4)
    cell = _solution_cell(nb, "encode")
    indent = re.search(r"^( *)### BEGIN SOLUTION", cell.source, re.M).group(1)
    cell.source = cell.source.replace("### BEGIN SOLUTION", f"### BEGIN SOLUTION\n{indent}oops = (]", 1)
    nbformat.write(nb, str(syntax / "01_embeddings.ipynb"))

    deleted = base / "deleted"
    shutil.copytree(SOLUTIONS, deleted)
    nb = nbformat.read(str(deleted / "01_embeddings.ipynb"), as_version=4)
    nb.cells.remove(_solution_cell(nb, "one_hot"))
    nbformat.write(nb, str(deleted / "01_embeddings.ipynb"))

    invalid = base / "invalid"
    shutil.copytree(SOLUTIONS, invalid)
    (invalid / "01_embeddings.ipynb").write_text('{"cells": [ oops')

    partial = base / "partial"
    partial.mkdir()
    shutil.copy(SOLUTIONS / "01_embeddings.ipynb", partial / "hw01-embeddings.ipynb")
    (partial / "notes.txt").write_text("not a notebook")

    messy = base / "messy"
    _messy_submission(messy)

    folders = {p.name: p for p in (honest, blank, syntax, deleted, invalid, partial, messy)}
    return grade_folders(folders)


def _messy_submission(folder):
    """Everything at once: nbformat 3, a renamed function, magics and shell escapes, 100 MB of
    outputs, a file named by another scheme, a stray copy and extra files."""
    shutil.copytree(SOLUTIONS, folder)
    nb = nbformat.read(str(folder / "02_sampling.ipynb"), as_version=4)
    cell = _solution_cell(nb, "cosine_similarity")
    cell.source = cell.source.replace("def cosine_similarity(", "def cosine_sim(")
    nb.cells.insert(2, nbformat.v4.new_code_cell("%matplotlib inline\n!pip install nothing\nimport numpy as np\nnp.random.seed(0)?"))
    nb.cells.insert(3, nbformat.v4.new_code_cell("%%bash\necho hello"))
    nb.cells.insert(4, nbformat.v4.new_code_cell("files = !ls\nget_ipython().system('ls')\n%time x = 1"))
    (folder / "02_sampling.ipynb").write_text(nbformat.writes(nbformat.convert(nb, 3)))
    shutil.copy(SOLUTIONS / "02_sampling.ipynb", folder / "02_sampling-Copy1.ipynb")
    os.utime(folder / "02_sampling.ipynb", (1, 1))  # the canonical name wins over a newer copy
    nb = nbformat.read(str(folder / "03_training.ipynb"), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (100 * 1024 * 1024))]
    nbformat.write(nb, str(folder / "03_training.ipynb"))
    if (folder / "04_context_averaging.ipynb").exists():
        (folder / "04_context_averaging.ipynb").rename(folder / "HW4-context.ipynb")
    (folder / "notes.txt").write_text("my notes")
    (folder / "data").mkdir()
    (folder / "data" / "scratch.ipynb").write_text("{}")


@pytest.fixture(scope="module")
def cases():
    return load_registry(list(available())).cases


def by_function(results, notebook, function):
    return [t for t in results["tests"] if t["tags"][:2] == [notebook, function]]


def _cases_only(results: dict) -> list[dict]:
    """The results' tests of cases (written answers have a pending entry worth 0 besides: tests/test_feedback.py)."""
    return [t for t in results["tests"] if t["tags"][2:3] != ["written"]]


def test_every_submission_gets_one_result_per_test(graded, cases):
    for name, results in graded.items():
        assert len(_cases_only(results)) == len(cases), name
        assert len({t["name"] for t in _cases_only(results)}) == len(cases), f"{name}: test names are not unique"
        for test in _cases_only(results):
            assert test["status"] in ("passed", "failed")
            assert test["score"] in (0, test["max_score"])
            assert test["status"] == "passed" or test["output"].strip(), f"{name}: {test['name']} failed without a message"
        assert results["score"] == sum(t["score"] for t in results["tests"])
        assert results["max_score"] == sum(c.points for c in cases)


def test_solutions_get_full_marks(graded):
    results = graded["honest"]
    failed = [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert not failed
    assert results["score"] == results["max_score"] > 0


def test_blank_release_gets_zero_with_a_message_per_test(graded):
    results = graded["blank"]
    assert results["score"] == 0
    for test in _cases_only(results):
        assert "not implemented yet" in test["output"], (test["name"], test["output"])


def test_syntax_error_costs_only_that_cell(graded):
    results = graded["syntax"]
    encode = by_function(results, "01", "encode")
    assert encode and all(t["status"] == "failed" and "`encode` is not defined" in t["output"] for t in encode)
    assert "syntax error" in results["output"]
    independent = [t for t in results["tests"] if t["tags"][0] != "01" or t["tags"][1] in ("tokenize", "build_vocab", "one_hot", "embed")]
    assert independent and all(t["status"] == "passed" for t in independent)


def test_deleted_function_fails_with_its_name(graded):
    results = graded["deleted"]
    one_hot = by_function(results, "01", "one_hot")
    assert one_hot and all("`one_hot` is not defined" in t["output"] for t in one_hot)
    assert all(t["status"] == "passed" for t in results["tests"] if t["tags"][1] != "one_hot")


def test_invalid_json_fails_its_notebook_only(graded):
    results = graded["invalid"]
    for test in results["tests"]:
        if test["tags"][0] == "01":
            assert test["status"] == "failed" and "could not be read" in test["output"] and "JSON" in test["output"]
        else:
            assert test["status"] == "passed", test["name"]


def test_notebooks_are_matched_by_number_and_missing_ones_reported(graded):
    results = graded["partial"]
    for test in results["tests"]:
        if test["tags"][0] == "01":
            assert test["status"] == "passed"
        else:
            assert "was not found in the submission" in test["output"]
    assert "hw01-embeddings.ipynb as notebook 01" in results["output"]


def test_cli_writes_gradescope_results(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(RELEASE), "--results", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # grading completed, although the score is 0
    results = json.loads(out.read_text())
    assert results["score"] == 0 and results["tests"]
    assert set(results["tests"][0]) >= {"name", "score", "max_score", "status", "output", "visibility"}
    assert "total" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a folder" in bad.stderr


def test_messy_submission_is_graded_where_it_can_be(graded):
    results = graded["messy"]
    renamed = by_function(results, "02", "cosine_similarity")
    assert renamed and all("`cosine_similarity` is not defined" in t["output"] for t in renamed)
    others = [t for t in results["tests"] if t["tags"][1] != "cosine_similarity"]
    failed = [(t["name"], t["output"][:200]) for t in others if t["status"] != "passed"]
    assert not failed
    assert "nbformat 3" in results["output"]
    assert "02_sampling-Copy1.ipynb was also found for notebook 02" in results["output"]
    assert "data/scratch.ipynb is not part of the graded series" in results["output"]
