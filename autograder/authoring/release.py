"""Build the student release (notebooks/) from the solutions with nbgrader's preprocessors.

The same preprocessors as ``nbgrader generate_assignment`` (without its database):
solution regions become a stub, hidden-test and mark-scheme
regions are removed, outputs are cleared, cells are locked and checksummed as nbgrader
expects. After nbgrader's ClearSolutions, each stub ``raise NotImplementedError()`` is
given the message ``helpers.demo.stub_message(NAME)`` ("implement NAME, then run
check('NAME')"), NAME being the graded function or class of its solution cell, so a
student who runs a cell that needs it reads what to do, and ``helpers.demo.implemented``
recognises the stub (the message is a literal in the function's code). Written answers
(markdown solution cells) keep nbgrader's "YOUR ANSWER HERE". The public references the self-checks compare against are written beside the
public tests (helpers/selfcheck/references.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from autograder.course import PUBLIC_SUITES, RELEASE, SOLUTIONS, available
from autograder.grading.references import load_references, solution_notebooks
from autograder.grading.registry import load_registry
from helpers.demo import stub_message

NBGRADER_STUB = "raise NotImplementedError()"


def student_version(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student notebook made from one solution notebook (a new object)."""
    nb = nbformat.from_dict(json.loads(json.dumps(solution)))
    resources: dict = {}
    for index, cell in enumerate(nb.cells):  # nbgrader would fail without saying where
        if "BEGIN SOLUTION" in cell.source and not cell.metadata.get("nbgrader", {}).get("solution"):
            raise ValueError(
                f"{name}: cell {index} ({cell.cell_type}) contains the text 'BEGIN SOLUTION' but is not a solution cell; "
                "nbgrader would treat it as an answer region (rephrase it, or mark the cell as a solution)"
            )
    for preprocessor in PIPELINE:
        nb, resources = preprocessor().preprocess(nb, resources)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
            cell.outputs = []
    nb.metadata.pop("widgets", None)
    return nb


def name_stubs(nb: nbformat.NotebookNode) -> None:
    """Give every code stub the message that names its graded function or class (in place)."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution") or NBGRADER_STUB not in cell.source:
            continue
        name = meta["grade_id"]
        named = f"raise NotImplementedError({stub_message(name)!r})"
        cell.source = cell.source.replace(NBGRADER_STUB, named)


class NameStubs(Preprocessor):
    """Runs right after ClearSolutions, so the checksums nbgrader computes next cover the named stubs."""

    def preprocess(self, nb, resources):
        name_stubs(nb)
        return nb, resources


PIPELINE = [
    LockCells,
    ClearSolutions,
    NameStubs,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
]


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def public_references_text(references: dict[str, dict], public_ids: list[str]) -> str:
    """The public cases' reference observations, one case per line, deterministic."""
    lines = []
    for case_id in public_ids:
        obs = references[case_id]
        kept = {"value": obs["value"], "error": obs["error"]}
        lines.append(f"{json.dumps(case_id)}: {json.dumps(kept, sort_keys=True, separators=(',', ':'))}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def build(out_dir: Path = RELEASE, references_path: Path | None = PUBLIC_SUITES / "references.json") -> dict[Path, str]:
    """Write the release and the public references; return {path: text} of what was written."""
    written: dict[Path, str] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem in available().values():
        solution = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
        text = render(student_version(solution, f"solutions/{stem}.ipynb"))
        path = out_dir / f"{stem}.ipynb"
        path.write_text(text)
        written[path] = text
    if references_path is not None:
        registry = load_registry(list(available()))
        references = load_references(registry, {}, solution_notebooks(list(available())))  # {}: the public seeds of check()
        text = public_references_text(references, [c.id for c in registry.cases if c.visibility == "public"])
        references_path.write_text(text)
        written[references_path] = text
    return written
