"""The Gradescope autograder zip runs against a simulated /autograder layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from autograder.course import RELEASE, SOLUTIONS
from autograder.gradescope import build_zip

pytestmark = pytest.mark.slow
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def validate_gradescope(results: dict) -> None:
    """Gradescope's results.json format (the fields this kit writes)."""
    assert isinstance(results.get("score"), (int, float))
    assert isinstance(results.get("tests"), list) and results["tests"]
    assert results.get("visibility", "visible") in VISIBILITY
    assert results.get("stdout_visibility", "hidden") in VISIBILITY
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITY
    json.dumps(results, allow_nan=False)  # strict JSON: no NaN or Infinity


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    zip_path = build_zip(base / "autograder.zip")
    root = base / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        zf.extractall(root / "source")
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    return root, names


def run(root, submission_src):
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    shutil.copytree(submission_src, root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_KIT_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_zip_ships_tests_and_references_but_no_solutions(layout):
    _, names = layout
    assert {"setup.sh", "run_autograder", "references.json", "autograder/__main__.py", "helpers/checking.py"} <= set(names)
    assert any(n.startswith("autograder/hidden/") for n in names)
    assert not any("solutions/" in n for n in names)
    setup = (layout[0] / "source" / "setup.sh").read_text()
    assert "torch==2.13.0" in setup and "bubblewrap" in setup and "go-rwx" in setup


def test_run_autograder_grades_solutions_and_blank(layout):
    root, _ = layout
    honest = run(root, SOLUTIONS)
    validate_gradescope(honest)
    assert honest["score"] == sum(t["max_score"] for t in honest["tests"]) > 0
    blank = run(root, RELEASE)
    validate_gradescope(blank)
    assert blank["score"] == 0
