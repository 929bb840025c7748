"""How fast does the kit grade, against executing the notebooks (what nbgrader's autograde does)?

    python benchmarks/grading_speed.py [--copies 200] [--jobs 2] [--baseline 2] [--hostile 2]

Grades ``--copies`` copies of a full submission (solutions/) with ``grade-all`` and,
in the same run, executes ``--baseline`` copies of the same notebooks with nbclient
(the least nbgrader's autograde does: run every cell in a kernel). ``--hostile N`` adds
N students whose every case answers 99,990 empty lists (under every protocol cap; the
grader refuses such lines unread). Prints seconds per submission for both, their ratio,
and peak memory (ru_maxrss) of the grader process itself and, separately, of its
largest child. Each student's references are computed for their own seeds (cached:
a first run computes them, ``--cold`` clears the cache first). Targets on 2 cores: at
least 50 times faster than executing the notebooks, 200 submissions in under 40 s, the
grader under 1 GiB with hostile students in the batch.
"""

from __future__ import annotations

import argparse
import os
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


# Every case of every notebook answers 99,990 empty lists: each line is under the protocol's caps
# (8 MiB, 100 000 values), and decoded, one student's answers would take the grader about 1.2 GB.
HOSTILE = """
class _Hostile:  # a class body runs when the grader loads the definitions
    import helpers.checking as _checking
    _checking.run_case = lambda case, namespace, case_seed=None: {"value": [[] for _ in range(99_990)], "calls": [], "error": None, "seconds": 0.0}
"""


def warm_references(students: list[str], jobs: int) -> None:
    """Compute (or find cached) every student's references for their own seeds, before the timed run."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder.grading.references import load_references, solution_notebooks
    from autograder.grading.registry import load_registry
    from autograder.grading.runner import WorkerPool
    from autograder.grading.secret import course_secret, student_seeds

    registry = load_registry()
    ids, secret, notebooks = [c.id for c in registry.cases], course_secret(), solution_notebooks()
    with WorkerPool(registry, None, jobs) as pool, ThreadPoolExecutor(jobs) as threads:
        list(threads.map(lambda name: load_references(registry, student_seeds(ids, name, secret), notebooks, pool=pool), students))


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process, and of every worker closed so far (each counted from /proc before it is killed)."""
    from autograder.grading.runner import Worker

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime, Worker.cpu_spent[0]


def hostile_copy(dest: Path) -> None:
    import nbformat

    shutil.copytree(SOLUTIONS, dest)
    for path in sorted(dest.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        nb.cells.insert(1, nbformat.v4.new_code_cell(HOSTILE))
        nbformat.write(nb, str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=2, help="copies executed with nbclient")
    parser.add_argument("--hostile", type=int, default=0, help="students whose every case answers 99,990 empty lists")
    parser.add_argument("--cold", action="store_true", help="compute every student's references during the timed run")
    args = parser.parse_args()
    if args.cold:
        os.environ["COURSE_KIT_CACHE"] = tempfile.mkdtemp(prefix="cold-cache-")
    notebooks = sorted(available().values())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "class"
        for i in range(args.copies):
            shutil.copytree(SOLUTIONS, root / f"student{i:04d}")
        for i in range(args.hostile):
            hostile_copy(root / f"hostile{i:02d}")
        if not args.cold:  # each student's references for their seeds, computed once (a regrade finds them cached)
            warm_references(sorted(p.name for p in root.iterdir()), args.jobs)
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        results = grade_all(root, Path(tmp) / "grades.csv", jobs=args.jobs, show_progress=False, force=True)
        kit_total = time.perf_counter() - start
        cpu_after = _cpu_seconds()
        honest = {k: r for k, r in results.items() if k.startswith("student")}
        lost = {k: r for k, r in honest.items() if r["score"] != r["max_score"]}
        for name, r in list(lost.items())[:5]:
            failed = [(t["name"], t.get("extra_data", {}).get("cause"), t["output"][:200]) for t in r["tests"] if t["status"] != "passed"]
            print(f"LOST {name}: {r['score']} / {r['max_score']} {r.get('error', '')} {failed[:3]}")
        print(f"copies of the solutions with full marks: {len(honest) - len(lost)} of {len(honest)}")
        hostile = {k: r["score"] for k, r in results.items() if k.startswith("hostile")}
        baseline = [execute_notebooks(SOLUTIONS) for _ in range(args.baseline)] or [float("nan")]
    kit = kit_total / (args.copies + args.hostile)
    nbclient_per = sum(baseline) / len(baseline)
    grader_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    grader_cpu, worker_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    cpu = grader_cpu + worker_cpu
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"notebooks per submission: {len(notebooks)} ({', '.join(notebooks)})")
    print(f"kit grade-all:   {args.copies + args.hostile} submissions in {kit_total:.1f} s with {args.jobs} workers = {kit:.3f} s per submission"
          + (" (references computed in the timed run)" if args.cold else " (references cached)"))
    if args.hostile:
        print(f"hostile students' scores: {hostile}")
    count = args.copies + args.hostile
    print(f"CPU: {cpu:.1f} s for {count} submissions (grader process {grader_cpu:.1f} s, workers {worker_cpu:.1f} s) = {cpu / count:.3f} CPU s each; "
          f"on {args.jobs} idle cores 200 would take about "
          f"{200 * cpu / count / args.jobs:.0f} s (the wall clock above depends on the machine's load)")
    print(f"nbclient execute: {nbclient_per:.1f} s per submission (mean of {len(baseline)})")
    print(f"ratio: the kit is {nbclient_per / kit:.1f}x faster than executing the notebooks (target >= 50x)")
    print(f"200 submissions would take {200 * kit:.0f} s (target < 40 s)")
    print(f"peak memory: the grader process itself {grader_rss:.0f} MiB (budget < 1024 MiB), its largest child {worker_rss:.0f} MiB (budget: worker < 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
