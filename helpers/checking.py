"""The self-check: ``check("name")`` in a notebook, and the one place the test machinery is imported from.

A test of student work is a :class:`Case` (helpers/cases.py): a probe that runs where the
student's code runs and a verify step on the trusted side. What crosses between them is
plain data (helpers/codec.py); comparisons and messages are in helpers/compare.py. The
same cases serve :func:`check` (in the notebook, on the public seeds) and the grader, so
a self-check and the autograder's public test are the same code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .cases import Case, MissingDefinition, Student, Suite, Verdict, describe_error, edge_floats, judge, run_case
from .codec import MAX_DEPTH, MAX_PLAIN_BYTES, Opaque, dumps, from_plain, to_plain
from .compare import FLOAT32_TOL, assert_matches, describe, rel_error

__all__ = [
    "Case", "MissingDefinition", "Student", "Suite", "Verdict", "describe_error", "edge_floats", "judge", "run_case",
    "MAX_DEPTH", "MAX_PLAIN_BYTES", "Opaque", "dumps", "from_plain", "to_plain",
    "FLOAT32_TOL", "assert_matches", "describe", "rel_error", "check", "public_suites", "CheckReport",
]  # fmt: skip

# --------------------------------------------------------------------------- #
# Suites on disk and the self-check entry point
# --------------------------------------------------------------------------- #

SELFCHECK_DIR = Path(__file__).resolve().parent / "selfcheck"
PUBLIC_REFERENCES = SELFCHECK_DIR / "references.json"


def public_suites() -> list[Suite]:
    """The public suites, one per notebook, from helpers/selfcheck/nbNN.py."""
    import importlib

    suites = []
    for path in sorted(SELFCHECK_DIR.glob("nb[0-9][0-9].py")):
        module = importlib.import_module(f"helpers.selfcheck.{path.stem}")
        suites.append(module.suite)
    return suites


def _load_public_references() -> dict:
    if not PUBLIC_REFERENCES.exists():
        return {}
    return json.loads(PUBLIC_REFERENCES.read_text())


def check(function: str, namespace: dict | None = None) -> "CheckReport":
    """Run the public tests of one graded function on the notebook's definitions.

    Prints a short report (what passed, and for each failure the input, what was
    expected, what came back and a hint) and returns the verdicts. The grader runs
    these same tests and hidden ones besides.
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    suites = [s for s in public_suites() if any(c.function == function for c in s.cases)]
    if not suites:
        known = sorted({c.function for s in public_suites() for c in s.cases})
        raise KeyError(f"no self-check is named {function!r}; known: {', '.join(known)}")
    # A name graded in two notebooks (generate: 02 and 07): use the notebook whose other
    # graded names this namespace defines.
    suite = max(suites, key=lambda s: sum(c.function in namespace for c in s.cases))
    cases = [c for c in suite.cases if c.function == function]
    references = _load_public_references()
    verdicts = []
    for case in cases:
        observation = run_case(case, namespace)
        observation = json.loads(dumps(observation))  # the same plain-data round trip as grading
        verdicts.append(judge(case, observation, references.get(case.id)))
    _print_report(function, verdicts)
    if os.environ.get("NBGRADER_EXECUTION") and not all(v.passed for v in verdicts):
        raise AssertionError(f"{function}: {sum(not v.passed for v in verdicts)} self-check(s) failed")
    return CheckReport(verdicts)


class CheckReport(list):
    """The verdicts of one check() call; shows nothing more in a notebook (the report is printed)."""

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self)

    def _ipython_display_(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{sum(v.passed for v in self)} of {len(self)} self-checks passed>"


def _print_report(function: str, verdicts: list[Verdict]) -> None:
    passed = sum(v.passed for v in verdicts)
    mark = "\u2714" if passed == len(verdicts) else "\u2718"
    lines = [f"{mark} {function}: {passed} of {len(verdicts)} self-checks passed."]
    stubs = [v for v in verdicts if not v.passed and v.error_type == "NotImplementedError"]
    if stubs:  # a stub is one cause: said once, with its location, not once per case
        first = stubs[0].message.splitlines()
        lines.append(f"  \u2718 {'all ' if len(stubs) == len(verdicts) else ''}{len(stubs)} self-check{'s' if len(stubs) > 1 else ''}: {first[0]}")
        lines.extend("    " + line.strip() for line in first[1:] if not line.strip().startswith("called:"))
    for v in verdicts:
        if not v.passed and v not in stubs:
            lines.append(f"  \u2718 {v.case.title} ({v.case.name})")
            lines.extend("    " + line for line in v.message.splitlines())
    if passed == len(verdicts):
        lines[0] += " (The grader also runs hidden tests.)"
    print("\n".join(lines))
