"""How a course's points split: public and hidden cases, and what a table of public answers could earn.

    python -m autograder points

A public case whose inputs the lecture fixes (the slide corpus) has the same answer in
the self-check and when grading, so a student who copies the release's public answers
into a forged result could earn it. Every other case draws its inputs from the course
secret when grading. This prints both, per notebook.
"""

from __future__ import annotations

from autograder.grading.references import graded_notebooks, grading_seeds, load_references
from autograder.grading.registry import Registry, load_registry
from helpers.checking import Case


def fixed_public_cases(registry: Registry) -> list[Case]:
    """Public cases whose answer is the same under the public seeds and the grading seeds."""
    public = load_references(registry, {})
    graded = load_references(registry, grading_seeds(registry))
    return [c for c in registry.cases if c.visibility == "public" and public[c.id]["value"] == graded[c.id]["value"]]


def points_table(registry: Registry | None = None) -> str:
    registry = registry or load_registry(graded_notebooks())
    fixed = {c.id for c in fixed_public_cases(registry)}
    rows = ["| notebook | public | hidden | total | public on fixed data |", "|---|---|---|---|---|"]
    totals = [0.0, 0.0, 0.0]
    for nb in sorted({c.notebook for c in registry.cases}):
        cases = registry.for_notebook(nb)
        public = sum(c.points for c in cases if c.visibility == "public")
        hidden = sum(c.points for c in cases if c.visibility == "hidden")
        on_fixed = sum(c.points for c in cases if c.id in fixed)
        totals = [totals[0] + public, totals[1] + hidden, totals[2] + on_fixed]
        rows.append(f"| {nb} | {public:g} | {hidden:g} | {public + hidden:g} | {on_fixed:g} |")
    rows.append(f"| all | {totals[0]:g} | {totals[1]:g} | {totals[0] + totals[1]:g} | {totals[2]:g} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(points_table())
