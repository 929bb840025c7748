"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def executed_solutions():
    """Every solution notebook executed once for the session (tests/executed.py): stem -> Executed."""
    from tests.executed import execute_all

    return execute_all()


def grade_folders(folders: dict[str, Path], timeout: float = 600, limits: dict | None = None, jobs: int = 2) -> dict[str, dict]:
    """Grade several submission folders in a subprocess (as the CLI does); name -> results.

    ``limits`` overrides fields of autograder.grading.runner.Limits (e.g. a short notebook_seconds).
    """
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from autograder.grading.grade import grade_submissions\n"
        "from autograder.grading.runner import Limits\n"
        "folders = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}\n"
        "limits = Limits(**json.loads(sys.argv[2]))\n"
        f"print('RESULTS' + json.dumps(grade_submissions(folders, jobs={jobs}, limits=limits)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps({k: str(v) for k, v in folders.items()}), json.dumps(limits or {})],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS"))
    return json.loads(line[len("RESULTS"):])
