"""Hostile submissions get nothing, and never stop the run: honest students graded in
the same batch, on the same workers, after each attack still get full marks.

Each attack is a student's notebook 01 from the release (stubs, so every test should
fail) plus one cell with the attack. Attacks that must run when the definitions load
sit in a class body, which is executed; plain top-level statements are not run by
the grader at all. These tests need the bubblewrap sandbox (CI installs it): without
it, an attack such as kill(-1) would reach this machine's other processes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS, available
from autograder.grading.launch import bwrap_path
from autograder.grading.registry import load_registry
from tests.conftest import grade_folders

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs the bubblewrap sandbox (apt-get install bubblewrap)")]


def at_load(body: str) -> str:
    """Source that runs ``body`` when the grader loads the notebook's definitions."""
    return "class _Attack:\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")


ATTACKS = {
    "patch_comparisons": at_load(
        """
        import builtins, math
        import numpy as np
        import torch
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        math.isclose = lambda *a, **k: True
        builtins.isinstance = lambda *a, **k: True
        """
    ),
    "read_solution_files": at_load(
        """
        import glob, json, os
        found = []
        for pattern in ["/**/solutions/*.ipynb", "/**/hidden/*.py", "/**/references*.json", "/**/01_embeddings.ipynb"]:
            found += glob.glob(pattern, recursive=True)
        for path in found:
            try:
                nb = json.load(open(path))
                for cell in nb.get("cells", []):
                    if cell.get("cell_type") == "code" and "def " in "".join(cell["source"]):
                        exec("".join(cell["source"]), globals())
            except Exception:
                pass
        """
    ),
    "caller_frames": textwrap.dedent(
        """
        import sys
        def tokenize(text):
            frame, seen = sys._getframe(1), []
            while frame is not None:
                for name in ("ref", "ref_obs", "expected", "references"):
                    if name in frame.f_locals:
                        return frame.f_locals[name]
                frame = frame.f_back
            return []
        """
    ),
    "sys_exit": at_load("import sys\nsys.exit(0)"),
    "os_exit": at_load("import os\nos._exit(0)"),
    "kill_parent": at_load("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)"),
    "infinite_loop": at_load(
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
        """
    ),
    "memory_bomb": at_load("import numpy as np\nhog = [np.ones(2**20)]\nhog.append(np.ones(2**33))"),
    "fork_bomb": at_load(
        """
        import os, time
        for _ in range(400):
            try:
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
            except OSError:
                break
        """
    ),
    "flood_output": at_load(
        """
        import sys
        for _ in range(600):
            print("x" * 100_000)
            sys.stderr.write("y" * 100_000)
        """
    ),
    "fake_results": at_load(
        """
        import json, os
        fake = json.dumps({"score": 1000, "tests": []})
        for path in ["results.json", "/autograder/results/results.json", "RESULTS_PATH", "/tmp/results.json"]:
            try:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                open(path, "w").write(fake)
            except Exception:
                pass
        """
    ),
    "rewrite_course_files": at_load(
        """
        import glob
        for path in glob.glob("/**/*.ipynb", recursive=True) + glob.glob("/course/**/*.py", recursive=True) + ["SOLUTION_PATH"]:
            try:
                open(path, "w").write("{}")
            except Exception:
                pass
        """
    ),
    "lying_objects": textwrap.dedent(
        """
        import numpy as np

        class AlwaysEqual(list):
            def __eq__(self, other):
                return True

        class LyingArray(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(other), bool)

        class LyingFloat(float):
            def __eq__(self, other):
                return True

        def tokenize(text):
            return AlwaysEqual()

        def build_vocab(tokens):
            return AlwaysEqual()

        def encode(tokens, vocab):
            return np.zeros(len(tokens), dtype=np.int64).view(LyingArray)

        def one_hot(ids, vocab_size):
            return np.zeros((len(ids), vocab_size)).view(LyingArray)

        def embed(E, ids):
            return LyingFloat(0.0)
        """
    ),
    "patch_grader": at_load(
        """
        import sys, types
        import helpers.checking as checking
        checking.assert_matches = lambda *a, **k: None
        checking.judge = lambda case, got, ref: checking.Verdict(case, True, "passed")
        checking.to_plain = lambda obj, *a, **k: {"$object": "all good"}
        fake = types.ModuleType("pytest")
        fake.fail = lambda *a, **k: None
        sys.modules["pytest"] = fake
        """
    ),
}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_cell(folder, source: str) -> None:
    nb = nbformat.read(str(RELEASE / "01_embeddings.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / "01_embeddings.ipynb"))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    results_path = base / "results.json"
    solution = SOLUTIONS / "01_embeddings.ipynb"
    folders = {}
    for i, (name, source) in enumerate(ATTACKS.items()):
        source = source.replace("RESULTS_PATH", str(results_path)).replace("SOLUTION_PATH", str(solution))
        folder = base / f"{i:02d}_{name}"
        _with_cell(folder, source)
        folders[folder.name] = folder
        if i in (3, 9):  # honest students between the attacks, on the same workers
            honest = base / f"{i:02d}z_honest"
            shutil.copytree(SOLUTIONS, honest)
            folders[honest.name] = honest
    honest = base / "99_honest"
    shutil.copytree(SOLUTIONS, honest)
    folders[honest.name] = honest
    protected = [p for p in (ROOT / "solutions").glob("*.ipynb")] + list((ROOT / "helpers").rglob("*.py")) + list((ROOT / "autograder").rglob("*.py"))
    before = {p: _sha(p) for p in protected}
    graded = grade_folders(folders, limits={"notebook_seconds": 15.0, "load_seconds": 5.0})
    after = {p: _sha(p) for p in protected}
    return graded, before, after, results_path


@pytest.fixture(scope="module")
def n_cases():
    return len(load_registry(list(available())).cases)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_gets_nothing_and_a_complete_report(batch, attack, n_cases):
    graded = batch[0]
    name = next(k for k in graded if k.endswith(f"_{attack}"))
    results = graded[name]
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["status"] == "passed"]
    assert len(results["tests"]) == n_cases
    assert all(t["status"] == "failed" and t["output"].strip() for t in results["tests"])


def test_honest_students_in_the_same_batch_get_full_marks(batch):
    graded = batch[0]
    honest = [k for k in graded if k.endswith("honest")]
    assert len(honest) == 3
    for name in honest:
        failed = [(t["name"], t["output"]) for t in graded[name]["tests"] if t["status"] != "passed"]
        assert not failed, name


def test_attacks_are_reported_for_what_they_are(batch):
    graded = batch[0]

    def out(attack):
        results = graded[next(k for k in graded if k.endswith(f"_{attack}"))]
        return results["output"] + "\n".join(t["output"] for t in results["tests"])

    assert "time limit" in out("infinite_loop")
    assert "stopped" in out("os_exit")
    # kill_parent: the worker dies, and the child either dies with it ("stopped") or finishes first
    # and is graded as it is (stubs: "not implemented yet"); either way nothing is gained.
    assert "stopped" in out("kill_parent") or "not implemented yet" in out("kill_parent")
    assert "MemoryError" in out("memory_bomb")
    assert "SystemExit" in out("sys_exit")
    assert "object of type" in out("lying_objects")


def test_course_files_are_untouched(batch):
    _, before, after, results_path = batch
    assert before == after
    assert not results_path.exists()


def test_results_file_is_out_of_reach(tmp_path):
    results_path = tmp_path / "results.json"
    student = tmp_path / "student"
    _with_cell(student, ATTACKS["fake_results"].replace("RESULTS_PATH", str(results_path)))
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(student), "--results", str(results_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(results_path.read_text())["score"] == 0
