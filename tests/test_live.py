"""The lecturer's live-coding aids (autograder/lecture/live.py): %load_answer, catch_up, and their absence for students."""

from __future__ import annotations

import ast

import nbformat
import numpy as np
import pytest
import torch

from autograder.course import HELPERS, RELEASE, ROOT, SOLUTIONS, available
from autograder.lecture import live


def _solution_cell(nb_id: str, name: str) -> str:
    nb = nbformat.read(str(SOLUTIONS / f"{available()[nb_id]}.ipynb"), as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == name]
    return cell.source


class FakeShell:
    def __init__(self):
        self.next_input = []

    def set_next_input(self, text, replace=False):
        self.next_input.append((text, replace))


def test_load_answer_fills_the_cell_with_the_solution():
    shell = FakeShell()
    text = live.load_answer("softmax", shell)
    assert shell.next_input == [(text, True)]
    solution = _solution_cell("02", "softmax")
    assert "### BEGIN SOLUTION" in solution and "BEGIN SOLUTION" not in text  # nbgrader's markers are left out
    assert text == "\n".join(line for line in solution.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    namespace = {"np": np}
    exec(compile(text, "<answer>", "exec"), namespace)  # the answer runs as it is
    p = namespace["softmax"](np.array([1000.0, 999.0, -np.inf]))
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0])


def test_load_answer_asks_which_notebook_for_a_shared_name(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(KeyError, match="02 and 07"):
        live.load_answer("generate", FakeShell())
    shell = FakeShell()
    assert "def generate(model" in live.load_answer("07 generate", shell)
    monkeypatch.setenv("JPY_SESSION_NAME", str(RELEASE / "02_sampling.ipynb"))  # JupyterLab says which notebook
    assert "def generate(V, U" in live.load_answer("generate", FakeShell())
    with pytest.raises(KeyError, match="not a graded"):
        live.load_answer("no_such_function", FakeShell())


def test_catch_up_defines_what_comes_before_upto():
    namespace = {"np": np, "torch": torch, "nn": torch.nn}
    defined = live.catch_up("05", upto="rope", namespace=namespace, quiet=True)
    assert defined == ["rotate_2d", "rope_2d"]
    assert "rope" not in namespace and "ContextRoPELM" not in namespace
    np.testing.assert_allclose(namespace["rotate_2d"](np.array([1.0, 0.0]), np.pi / 2), [0.0, 1.0], atol=1e-12)
    with pytest.raises(KeyError, match="not graded in notebook 05"):
        live.catch_up("05", upto="softmax", namespace={}, quiet=True)


def test_aids_refuse_without_the_instructor_kit(monkeypatch, tmp_path):
    monkeypatch.setattr(live, "SOLUTIONS", tmp_path / "solutions")
    with pytest.raises(live.InstructorKitMissing, match="instructor kit"):
        live.load_answer("softmax", FakeShell())
    with pytest.raises(live.InstructorKitMissing, match="not from the student package"):
        live.catch_up("05", namespace={}, quiet=True)


@pytest.mark.slow
def test_catch_up_then_run_all_in_a_blank_student_notebook():
    """The lecture skipped every function of 05: catch_up after the setup cell, then Run All runs clean."""
    import nbclient

    nb = nbformat.read(str(RELEASE / "05_rope.ipynb"), as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell('%load_ext autograder.lecture.live\ncatch_up("05")'))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(RELEASE)}}).execute()  # raises on an error
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "caught up on notebook 05: rotate_2d, rope_2d, rope, ContextRoPELM" in text
    assert text.count("\u2714") == 4 and "\u2718" not in text, text[-2000:]  # every self-check passes: the stubs did not win


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_student_package_has_no_live_aids():
    for path in sorted(HELPERS.rglob("*.py")):
        imported = _imports(path)
        assert not any(name == "autograder" or name.startswith("autograder.") for name in imported), f"{path} imports the instructor kit"
        assert "autograder.lecture.live" not in path.read_text() and "load_answer" not in path.read_text(), path
    assert (ROOT / "autograder" / "live.py").exists() and not list(HELPERS.rglob("live.py"))
    for path in sorted(RELEASE.glob("*.ipynb")):  # nor does the release use them
        assert "autograder.lecture.live" not in path.read_text() and "load_answer" not in path.read_text(), path
