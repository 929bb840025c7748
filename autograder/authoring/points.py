"""How a course's points split: public and hidden cases, and what a table of public answers could earn.

    python -m autograder points

A public case whose inputs the lecture fixes (the slide corpus) has the same answer in
the self-check and when grading, so a student who copies the release's public answers
into a forged result could earn it; so could a case whose verify checks only properties
any valid answer has (a distribution, a shape). Every other case draws its inputs from
the course secret and the student when grading. This prints both, per notebook: "public
on fixed data" is what the table of the release's public answers earns when graded.

It is decided without the course secret, so the table is the same in every clone: a case
counts when the public answer passes under each of two fixed, public sets of grading
seeds (``PROBE_KEYS``). Under one course's own secret, a case whose answer has few
possible values can still coincide by chance (07's ``generate/tensor_start_ids`` does
for about one secret in six); comparing against that secret made the count differ
between fresh clones.
"""

from __future__ import annotations

import json

from autograder.grading.references import graded_notebooks, load_references
from autograder.grading.registry import Registry, load_registry
from autograder.grading.secret import student_seeds
from helpers.checking import Case, judge

PROBE_KEYS = (b"points-table/1", b"points-table/2")  # public on purpose: stand-ins for a course secret


def fixed_public_cases(registry: Registry) -> list[Case]:
    """Public cases that the release's public answer (the public seeds) passes when graded under every ``PROBE_KEYS``."""
    public = load_references(registry, {})
    forged = {cid: json.loads(json.dumps({"value": obs["value"], "calls": [], "error": None, "seconds": 0.0})) for cid, obs in public.items()}
    runs = [load_references(registry, student_seeds([c.id for c in registry.cases], "", key)) for key in PROBE_KEYS]
    return [c for c in registry.cases if c.visibility == "public" and all(judge(c, forged.get(c.id), run[c.id]).passed for run in runs)]


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
