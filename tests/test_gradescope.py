"""The Gradescope autograder zip runs against a simulated /autograder layout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.course import RELEASE, SOLUTIONS
from autograder.integrations.gradescope import build_zip

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
    shutil.copytree(submission_src, root / "submission", symlinks=True)  # links stay links, as a student's zip would have them
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_KIT_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_zip_ships_tests_solutions_and_secret_but_no_frozen_references(layout):
    """References are computed in the container for each student's seeds: no table of them is shipped."""
    _, names = layout
    assert {"setup.sh", "run_autograder", "course-secret", "requirements.txt", "autograder/__main__.py", "helpers/checking.py"} <= set(names)
    assert any(n.startswith("autograder/hidden/") for n in names)
    assert any(n.startswith("solutions/") and n.endswith(".ipynb") for n in names)
    assert "references.json" not in names
    setup = (layout[0] / "source" / "setup.sh").read_text()
    assert "torch==2.13.0" in setup and "bubblewrap" in setup and "go-rwx" in setup
    requirements = (layout[0] / "source" / "requirements.txt").read_text().split()
    assert requirements[0] == "torch==2.13.0" and "numpy>=1.26" in requirements


AUTHORING_STACK = ("jupyterlab", "notebook", "nbgrader", "jupyterlab-rise", "ipywidgets", "ipykernel", "nbclient", "nbconvert", "nbformat", "playwright", "ruff")


def test_setup_installs_what_grading_needs_with_torch_cpu_only(layout):
    """requirements.txt holds what the grader and the worker import, none of the authoring
    stack (nbgrader 0.9.6 has no release for Python 3.10), and torch comes from PyTorch's
    CPU-only index: PyPI's wheel brings several GB of CUDA libraries into a GPU-less image.
    (tests/test_containers.py grades with exactly these installed.)"""
    root, _ = layout
    requirements = (root / "source" / "requirements.txt").read_text().split()
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}
    assert names == {"torch", "numpy", "matplotlib", "pytest", "tqdm"}, names
    assert not names & set(AUTHORING_STACK)
    setup = (root / "source" / "setup.sh").read_text()
    torch_lines = [line for line in setup.splitlines() if "pip install" in line and "torch" in line]
    assert len(torch_lines) == 1, torch_lines
    assert '"torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu' in torch_lines[0]
    first_torch = setup.index(torch_lines[0])
    assert first_torch < setup.index('-r "$SOURCE/requirements.txt"')  # torch==2.13.0 in requirements.txt is then already satisfied


PYENV = Path("/root/.pyenv/versions")


@pytest.mark.parametrize("version, venv", [("3.9", False), ("3.10", True), ("3.11", True), ("3.12", True), ("3.13", True)])
def test_setup_uses_the_image_python_only_where_the_kit_runs(layout, version, venv):
    """setup.sh's version gate, run by real interpreters where this machine has them: 3.10
    (Ubuntu 22.04) to 3.13 make the venv from the image's python3, others get a 3.12 from uv."""
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}")) if PYENV.is_dir() else []
    python = str(found[-1]) if found else shutil.which(f"python{version}")
    if python is None:
        pytest.skip(f"no python{version} here")
    setup = (layout[0] / "source" / "setup.sh").read_text()
    gate = next(line for line in setup.splitlines() if line.startswith("if python3 -c"))
    script = gate.replace("python3", python, 1) + "\n  echo venv\nelse\n  echo uv\nfi\n"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == ("venv" if venv else "uv"), (proc.stdout, proc.stderr)


def test_the_kit_compiles_on_python_310(tmp_path):
    """Every module of the kit (grader, worker, helpers, suites, tests) is valid Python 3.10
    (ruff's target is py310; this runs the real 3.10 compiler where the machine has one)."""
    found = sorted(PYENV.glob("3.10.*/bin/python3.10")) if PYENV.is_dir() else []
    python = str(found[-1]) if found else shutil.which("python3.10")
    if python is None:
        pytest.skip("no python3.10 here")
    from autograder.course import ROOT

    files = [str(p) for folder in ("autograder", "helpers", "tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))]
    code = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding='utf-8').read(), f, 'exec')\n"
    proc = subprocess.run([python, "-c", code, *files], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_setup_installs_dependencies_only_and_keeps_the_source_private(layout, tmp_path):
    """The venv (whose site-packages the sandbox mounts) gets the dependencies, never the
    course: no `pip install` of the source. The source is root-only but for helpers/ and
    the grader's top-level modules: not the hidden tests, not the solutions, not the secret."""
    root, _ = layout
    setup = (root / "source" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line and "$VENV" in line]  # (uv goes to the image's python3)
    assert installs and all("torch==2.13.0" in line or "-r" in line.split() or line.endswith("--upgrade pip") for line in installs), installs
    assert not any(line.rstrip().endswith(("/autograder/source", '"$SOURCE"', "$SOURCE")) for line in installs)
    assert 'PYTHONPATH="$ROOT/source"' in (root / "source" / "run_autograder").read_text()
    # run setup.sh's permission steps on a copy of the source
    source = tmp_path / "source"
    shutil.copytree(root / "source", source)
    steps = setup[setup.index("chown -R") :]
    if os.geteuid() != 0:
        steps = steps.replace("chown -R root:root", "true")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", f"SOURCE={source}\n{steps}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    def others(path):
        return os.stat(path).st_mode & 0o077

    assert others(source / "course-secret") == 0
    assert all(others(p) == 0 for p in (source / "solutions").rglob("*"))
    assert all(others(p) == 0 for p in (source / "autograder" / "hidden").rglob("*"))
    assert others(source / "autograder" / "hidden") == 0
    assert all(others(p) & 0o004 for p in (source / "helpers").rglob("*.py"))
    assert all(others(p) & 0o004 for p in (source / "autograder" / "sandbox").rglob("*.py"))
    assert others(source / "autograder") & 0o001
    assert all(others(p) == 0 for p in (source / "autograder" / "grading").rglob("*"))  # the trusted side is root's


def test_run_autograder_grades_solutions_and_blank(layout):
    root, _ = layout
    honest = run(root, SOLUTIONS)
    validate_gradescope(honest)
    assert honest["score"] == sum(t["max_score"] for t in honest["tests"]) > 0
    blank = run(root, RELEASE)
    validate_gradescope(blank)
    assert blank["score"] == 0


def test_symlinked_notebooks_score_zero(layout, tmp_path):
    """A submission whose notebooks are links to the references and to solutions/ gets 0
    for them, with a message; its real notebook is graded as usual."""
    root, _ = layout
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SOLUTIONS / "01_embeddings.ipynb", submission)  # the honest part
    (submission / "02_sampling.ipynb").symlink_to(root / "source" / "course-secret")
    (submission / "03_training.ipynb").symlink_to(SOLUTIONS / "03_training.ipynb")
    (submission / "more").symlink_to(SOLUTIONS)  # a linked folder is not entered
    results = run(root, submission)
    validate_gradescope(results)
    linked = [t for t in results["tests"] if t["tags"][0] in ("02", "03")]
    assert linked and all(t["score"] == 0 and "symbolic link" in t["output"] for t in linked)
    assert "03_training.ipynb is a symbolic link" in results["output"] and "more is a symbolic link" in results["output"]
    honest = [t for t in results["tests"] if t["tags"][0] == "01"]
    assert honest and all(t["status"] == "passed" for t in honest)
    assert results["score"] == sum(t["max_score"] for t in honest)


def test_the_gradescope_identity_is_the_user_id(tmp_path):
    from autograder.integrations.gradescope import submission_identity

    path = tmp_path / "submission_metadata.json"
    path.write_text(json.dumps({"id": 123, "users": [{"id": 42, "name": "A"}, {"id": 43}]}))
    assert submission_identity(path) == "gradescope-user:42"
    path.write_text(json.dumps({"id": 123, "users": []}))
    assert submission_identity(path) == "gradescope-submission:123"
    path.write_text("not json")
    assert submission_identity(path) is None
    assert submission_identity(tmp_path / "missing.json") is None
    assert '--metadata "$ROOT/submission_metadata.json"' in (Path(__file__).parent.parent / "autograder" / "integrations" / "gradescope.py").read_text()
