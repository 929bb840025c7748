"""How long does the class report take, and what does it flag on the synthetic class?

    python benchmarks/class_report_speed.py [--scale 1] [--students 200] [--repeat 3]

Grades the synthetic class of tests/synthetic_class.py (40 students times ``--scale``:
planted mistakes given to known shares, stubs, blanks, one broken test) on notebooks 01-02,
prints the report's top five flags, then builds report.html and items.csv for a class of
``--students`` made of copies of those graded results (renamed; the report's work grows
with students times tests, not with how they were graded) and prints the best of
``--repeat`` build times, for notebooks 01-02 and for the whole course (every other
notebook's cases added to each copy, passed or failed at random with a fixed seed).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.grading.registry import load_registry  # noqa: E402
from autograder.report.class_report import analyse, write_class_report  # noqa: E402
from tests.synthetic_class import NOTEBOOKS, build_class, grade_class  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="synthetic class size: 40 times this")
    parser.add_argument("--students", type=int, default=200, help="class size for the timing")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = load_registry(NOTEBOOKS)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        who = build_class(base / "class", scale=args.scale)
        start = time.monotonic()
        results = grade_class(base / "class", base / "results.json")
        print(f"graded {len(who)} synthetic students (notebooks {', '.join(NOTEBOOKS)}) in {time.monotonic() - start:.1f} s")
        report = analyse(results, registry)
        print("top five flags:")
        for i, flag in enumerate(report.flags[:5], 1):
            print(f"  {i}. {flag.kind}: {flag.subject}: {flag.detail}")
        names = sorted(results)
        big = {f"c{i:04d}": results[names[i % len(names)]] for i in range(args.students)}
        time_report(big, registry, base / "out", args.repeat)
        full = load_registry()
        rng = random.Random(0)
        for name in big:
            extra = [fake_test(case, rng.random() < 0.85) for case in full.cases if case.notebook not in NOTEBOOKS]
            big[name] = {**big[name], "tests": big[name]["tests"] + extra}
        time_report(big, full, base / "full", args.repeat)
    return 0


def fake_test(case, passed: bool) -> dict:
    """A results.json entry for ``case`` as build_results writes it."""
    return {
        "name": f"{case.notebook} {case.function}: {case.title}" + (" (hidden test)" if case.visibility == "hidden" else ""),
        "score": case.points if passed else 0.0,
        "max_score": case.points,
        "status": "passed" if passed else "failed",
        "output": "" if passed else "expected 3, got 4.",
        "visibility": "visible" if case.visibility == "public" else "after_published",
        "tags": [case.notebook, case.function, case.visibility],
    }


def time_report(results: dict, registry, out: Path, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        html_path, csv_path = write_class_report(results, out, registry=registry)
        times.append(time.perf_counter() - start)
    tests = len(next(iter(results.values()))["tests"])
    print(
        f"class report for {len(results)} students x {tests} tests: best {min(times):.2f} s of {repeat} "
        f"(report.html {html_path.stat().st_size / 1e3:.0f} kB, items.csv {csv_path.stat().st_size / 1e3:.0f} kB)"
    )


if __name__ == "__main__":
    sys.exit(main())
