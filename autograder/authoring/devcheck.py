"""For course authors: run one notebook's cases in-process against its solution.

    python -m autograder.authoring.devcheck 02

Every case must pass against the solution itself (it is its own reference); the
report shows each case's title, points and time. Use it while writing a notebook;
the real grader runs student code in a separate worker.
"""

from __future__ import annotations

import importlib
import json
import sys

from autograder.course import HIDDEN_SUITES, PUBLIC_SUITES, SERIES, SOLUTIONS
from autograder.sandbox.worker import load_definitions
from helpers.checking import dumps, judge, run_case


def main(notebook: str) -> int:
    stem = SERIES[notebook]
    raw = (SOLUTIONS / f"{stem}.ipynb").read_bytes()
    namespace, status = load_definitions(notebook, raw, 60)
    print(f"{stem}: problems={status.problems} load_errors={status.load_errors}")
    cases = []
    for folder, package in ((PUBLIC_SUITES, "helpers.selfcheck"), (HIDDEN_SUITES, "autograder.hidden")):
        if (folder / f"nb{notebook}.py").exists():
            cases += importlib.import_module(f"{package}.nb{notebook}").suite.cases
    failed = 0
    for case in cases:
        obs = json.loads(dumps(run_case(case, namespace)))
        verdict = judge(case, obs, obs)
        failed += not verdict.passed
        mark = "ok  " if verdict.passed else "FAIL"
        print(f"{mark} {case.visibility:6} {case.points:4g} pt {obs['seconds']*1000:7.1f} ms  {case.id}: {case.title}")
        if not verdict.passed:
            print("      " + verdict.message.replace("\n", "\n      "))
    print(f"{len(cases) - failed} of {len(cases)} cases pass against the solution")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
