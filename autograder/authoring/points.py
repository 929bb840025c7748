"""How a course's points split: public and hidden cases, and what a table of public answers could earn.

    python -m autograder points

A public case whose inputs the lecture fixes (the slide corpus) has the same answer in
the self-check and when grading, so a student who copies the release's public answers
into a forged result could earn it. Every other case draws its inputs from the course
secret when grading. This prints both, per notebook.

Which cases are on fixed data is decided without the course secret, so the table is the
same in every clone: a case counts when its answer under the public seeds is also its
answer under two fixed, public sets of grading seeds (``PROBE_KEYS``). Under one course's
own secret, a case whose answer has few possible values can still coincide by chance
(07's ``generate/tensor_start_ids`` does for about one secret in six); comparing against
that secret made the count differ between fresh clones.
"""

from __future__ import annotations

from autograder.grading.references import graded_notebooks, load_references
from autograder.grading.registry import Registry, load_registry
from autograder.grading.secret import case_seed
from helpers.checking import Case

PROBE_KEYS = (b"points-table/1", b"points-table/2")  # public on purpose: stand-ins for a course secret


def fixed_public_cases(registry: Registry) -> list[Case]:
    """Public cases whose answer does not depend on the seeds (the public ones and ``PROBE_KEYS``' alike)."""
    public = load_references(registry, {})
    runs = [load_references(registry, {c.id: case_seed(c.id, key) for c in registry.cases}) for key in PROBE_KEYS]
    return [c for c in registry.cases if c.visibility == "public" and all(public[c.id]["value"] == run[c.id]["value"] for run in runs)]


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
