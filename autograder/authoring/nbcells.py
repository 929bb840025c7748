"""Build course notebooks cell by cell with the nbgrader markup this kit uses.

Conventions (nbgrader 0.9, schema_version 3):
- ``setup``: the locked first code cell (autoreload, imports, ``from helpers import ...``).
- ``solution(grade_id, source)``: a graded definition; the answer sits between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` inside the function body.
- ``selfcheck(function, points)``: a locked autograder-test cell ``check("function")``;
  its points are the total points of that function's cases (public and hidden).
- ``markdown`` / ``code``: teaching text and demo cells (not graded, not locked).
"""

from __future__ import annotations

import textwrap

import nbformat

SCHEMA = 3


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(source: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(source).strip())


def code(source: str, tags: list[str] | None = None):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def setup(source: str):
    cell = code(source)
    cell.metadata.update(_nbgrader("setup", locked=True))
    return cell


def solution(grade_id: str, source: str):
    cell = code(source)
    cell.metadata.update(_nbgrader(grade_id, solution=True))
    return cell


def selfcheck(function: str, points: float):
    cell = code(f'check("{function}")')
    cell.metadata.update(_nbgrader(f"check_{function}", grade=True, locked=True, points=points))
    return cell


def new_notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(nb, path) -> None:
    """Write without outputs' noise: stable ids, no execution counts."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, str(path))
