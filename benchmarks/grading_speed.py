"""How fast does the kit grade, against executing the notebooks (what nbgrader's autograde does)?

    python benchmarks/grading_speed.py [--copies 200] [--jobs 2] [--baseline 2]

Grades ``--copies`` copies of a full submission (solutions/) with ``grade-all`` and,
in the same run, executes ``--baseline`` copies of the same notebooks with nbclient
(the least nbgrader's autograde does: run every cell in a kernel). Prints seconds per
submission for both, their ratio, and peak memory (ru_maxrss) of the grader and of its
workers. Targets on 2 cores: at least 50 times faster than executing the notebooks, and
200 submissions in under a minute.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course import SOLUTIONS, available  # noqa: E402
from autograder.grading.batch import grade_all  # noqa: E402


def execute_notebooks(folder: Path) -> float:
    import nbclient
    import nbformat

    start = time.perf_counter()
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(SOLUTIONS)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=2, help="copies executed with nbclient")
    args = parser.parse_args()
    notebooks = sorted(available().values())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "class"
        for i in range(args.copies):
            shutil.copytree(SOLUTIONS, root / f"student{i:04d}")
        # Compute the solution references first (cached; a batch computes them once anyway).
        warm = Path(tmp) / "warm"
        shutil.copytree(SOLUTIONS, warm / "student")
        grade_all(warm, Path(tmp) / "warm.csv", jobs=1, show_progress=False)
        start = time.perf_counter()
        results = grade_all(root, Path(tmp) / "grades.csv", jobs=args.jobs, show_progress=False, force=True)
        kit_total = time.perf_counter() - start
        assert all(r["score"] == r["max_score"] for r in results.values()), "a copy of the solutions lost points"
        baseline = [execute_notebooks(SOLUTIONS) for _ in range(args.baseline)]
    kit = kit_total / args.copies
    nbclient_per = sum(baseline) / len(baseline)
    grader_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"notebooks per submission: {len(notebooks)} ({', '.join(notebooks)})")
    print(f"kit grade-all:   {args.copies} submissions in {kit_total:.1f} s with {args.jobs} workers = {kit:.3f} s per submission")
    print(f"nbclient execute: {nbclient_per:.1f} s per submission (mean of {len(baseline)})")
    print(f"ratio: the kit is {nbclient_per / kit:.1f}x faster than executing the notebooks (target >= 50x)")
    print(f"200 submissions would take {200 * kit:.0f} s (target < 60 s)")
    print(f"peak memory: grader {grader_rss:.0f} MiB, largest worker or kernel {worker_rss:.0f} MiB (budget: worker < 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
