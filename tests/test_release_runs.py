"""The blank student release never cascades: every notebook of notebooks/ runs top to
bottom (errors allowed, as a student would run it) and the only thing a missing answer
causes is an "implement X, then run check('X')" message.

Besides the blank release, each notebook also runs half finished (every other graded
function filled in from solutions/, then the other half), so a demo cell whose guard
forgets a name it needs, or a variable made in a cell it did not guard on, is caught.

A cell fails the test when
- it is given code (no solution, no self-check, not guarded by ``if implemented(...)``)
  and raises anything: given code must run without a single student function;
- it raises anything that is not a release stub's NotImplementedError("implement X, ...")
  (a NameError, KeyError, AttributeError ... means a demo cell uses what a stub never made).

The notebooks run in parallel (three kernels at a time); the whole file takes about a minute.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbclient
import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS, available

pytestmark = pytest.mark.slow
STUB = re.compile(r"^implement \w+, then run check\('\w+'\)$")
PENDING: set[str] = set()  # notebooks whose release may still cascade (none)


def _kind(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "check"
    if cell.source.lstrip().startswith("if implemented("):
        return "guarded"
    return "given"


def partial(stem: str, half: int | None) -> nbformat.NotebookNode:
    """The release of ``stem`` with no graded cell written (half None) or every other one (half 0 or 1) from solutions/."""
    nb = nbformat.read(str(RELEASE / f"{stem}.ipynb"), as_version=4)
    if half is None:
        return nb
    solution = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")):
        if k % 2 == half:
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    return nb


def _run(stem: str, half: int | None, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    nb = partial(stem, half)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(workdir)}})
    start = time.monotonic()
    client.execute()
    return nb, time.monotonic() - start


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[tuple[str, int | None], tuple[nbformat.NotebookNode, float]]:
    """Every run, by (notebook, half); kernels work in a temporary folder (a finished training cell writes
    series_losses.json there, not into notebooks/) and import helpers through PYTHONPATH."""
    workdir = tmp_path_factory.mktemp("release_runs")
    jobs = [(number, stem, half) for number, stem in available().items() for half in (None, 0, 1) if half is None or number not in PENDING]
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(max_workers=3) as pool:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        futures = {(number, half): pool.submit(_run, stem, half, workdir) for number, stem, half in jobs}
        return {key: future.result() for key, future in futures.items()}


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What went wrong in an executed blank notebook, one line per bad cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        kind = _kind(cell)
        for output in cell.outputs:
            if output.get("output_type") != "error":
                continue
            ename, evalue = output.get("ename", ""), output.get("evalue", "")
            first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            where = f"cell {index} ({kind}: {first_line[:60]!r})"
            if kind == "given":
                found.append(f"{where}: given code failed with {ename}: {evalue}")
            elif not (ename == "NotImplementedError" and STUB.match(evalue)):
                found.append(f"{where}: {ename}: {evalue} (not a stub's 'implement X' message)")
    return found


@pytest.mark.parametrize(
    "notebook",
    [pytest.param(n, marks=pytest.mark.xfail(reason="07 is being rewritten on another branch", strict=False)) if n in PENDING else n for n in sorted(available())],
)
def test_blank_notebook_runs_top_to_bottom(executed, notebook):
    nb, seconds = executed[(notebook, None)]
    bad = problems(nb)
    assert not bad, f"notebooks/{available()[notebook]}.ipynb ({seconds:.0f} s):\n" + "\n".join(bad)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "stream")
    assert "implement " in printed, "a blank notebook should say which function to implement first"


@pytest.mark.parametrize("half", [0, 1])
@pytest.mark.parametrize("notebook", [n for n in sorted(available()) if n not in PENDING])
def test_half_finished_notebook_runs_top_to_bottom(executed, notebook, half):
    nb, seconds = executed[(notebook, half)]
    bad = problems(nb)
    assert not bad, f"notebooks/{available()[notebook]}.ipynb with every other graded cell written ({seconds:.0f} s):\n" + "\n".join(bad)


def test_problems_are_found():
    """The checker itself: a given cell's error and a NameError in a guarded cell are reported, a stub's message is not."""
    nb = nbformat.v4.new_notebook()
    given = nbformat.v4.new_code_cell("x = missing")
    guarded = nbformat.v4.new_code_cell('if implemented("f"):\n    y = f()')
    stubbed = nbformat.v4.new_code_cell('if implemented("f"):\n    f()')
    given.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'missing' is not defined", traceback=[])]
    guarded.outputs = [nbformat.v4.new_output("error", ename="KeyError", evalue="'dog'", traceback=[])]
    stubbed.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="implement f, then run check('f')", traceback=[])]
    nb.cells = [given, guarded, stubbed]
    found = problems(nb)
    assert len(found) == 2 and "given code" in found[0] and "KeyError" in found[1]
