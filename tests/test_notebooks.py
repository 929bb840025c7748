"""Every solution notebook runs top to bottom in a fresh kernel, quickly, and its
self-checks all pass."""

from __future__ import annotations

import pytest

from autograder.course import available

pytestmark = pytest.mark.slow
BUDGET_SECONDS = {"07": 120.0}  # of the kernel's CPU time (a loaded machine stretches wall time, not this): the miniGPT notebook trains three models; the rest take seconds


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("notebook", sorted(available()))
def test_solution_notebook_runs_clean(executed_solutions, notebook):
    stem = available()[notebook]
    run = executed_solutions[stem]  # executed once for the session, in a fresh kernel (tests/executed.py)
    nb, cpu, seconds = run.nb, run.cpu_seconds, run.seconds
    print(f"{stem}: {cpu:.1f} s of the kernel's CPU time, {seconds:.1f} s of wall time")
    assert cpu < BUDGET_SECONDS.get(notebook, 60.0), f"{stem} took {cpu:.1f} s of CPU time ({seconds:.1f} s of wall time)"
    checks = 0
    images = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = "".join(_text(o) for o in cell.outputs)
        assert not any(o.get("output_type") == "error" for o in cell.outputs), text
        images += sum("image/png" in o.get("data", {}) for o in cell.outputs)
        if cell.metadata.get("nbgrader", {}).get("grade"):
            checks += 1
            assert "\u2714" in text and "\u2718" not in text, f"self-check failed in the solution: {text}"
    assert checks > 0 and images > 0
