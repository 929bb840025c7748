"""One student's CPU is one student's: 40 CPU burners slow an honest student beside them by at most 3x.

Each worker serves one student at a time inside its own cgroup with a CPU quota of one
core (autograder/grading/launch.py, Cgroup; Limits.cpus), so the burners share that core
among themselves while the honest student, graded at the same time in the other worker,
keeps the other. Measured as a ratio against the same honest student graded alone in the
same test (no absolute times): the time from the batch's start until the honest student's
run has finished, as the grader's progress callback sees it.

Measured on 2 cores: 1.2x to 1.7x idle, 2.0x once on a noisy CI machine; with no cgroups
at all (Cgroup.create returning None) the honest student waits for the burners to stop:
4.2x (20 s against 4.8 s). The bound, 3x, lies between the two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS
from autograder.grading.launch import Cgroup

pytestmark = pytest.mark.slow


def _cpu_quota_works() -> bool:
    cgroup = Cgroup.create(64, 4 * 1024**3, 1.0)
    if cgroup is None:
        return False
    cgroup.kill_all_and_remove()
    return "cpu" in cgroup.limits


BURNER = """
class _Burn:  # runs when the grader loads the definitions
    import subprocess, sys, time
    _until = time.monotonic() + 20  # the honest student beside it takes a few seconds
    _loop = f"import time\\nwhile time.monotonic() < {_until}: pass"  # the clock is the machine's: same in the child
    _burners = []
    for _ in range(40):  # each in a session of its own (the kernel's autogroups would share the CPU per session)
        _burners.append(subprocess.Popen([sys.executable, "-c", _loop], start_new_session=True))
    while time.monotonic() < _until:  # keep the job (and so the burners) alive
        time.sleep(0.2)
"""

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from autograder.grading.grade import grade_submissions
    folders = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}
    start, finished = time.monotonic(), {}
    def progress(sub):
        finished[sub.name] = time.monotonic() - start
    results = grade_submissions(folders, jobs=2, progress=progress)
    print("RESULTS" + json.dumps({n: {"score": r["score"], "max_score": r["max_score"], "seconds": finished[n]} for n, r in results.items()}))
    """
)


def _grade(folders: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps({k: str(v) for k, v in folders.items()})],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS"))[len("RESULTS") :])


@pytest.mark.skipif(not _cpu_quota_works(), reason="needs a writable cgroup cpu controller (elsewhere rlimits bound each process, not the share)")
def test_cpu_burners_slow_an_honest_student_beside_them_at_most_three_times(tmp_path):
    burner = tmp_path / "burner"
    burner.mkdir()
    nb = nbformat.read(str(RELEASE / "01_embeddings.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(BURNER))
    nbformat.write(nb, str(burner / "01_embeddings.ipynb"))
    alone = _grade({"honest": SOLUTIONS})["honest"]
    beside = _grade({"burner": burner, "honest": SOLUTIONS})
    again = _grade({"honest": SOLUTIONS})["honest"]
    honest = beside["honest"]
    assert honest["score"] == honest["max_score"] == alone["score"] > 0
    assert beside["burner"]["score"] == 0
    baseline = max(alone["seconds"], again["seconds"])  # the machine is shared: the slower of two quiet runs
    ratio = honest["seconds"] / baseline
    print(f"honest alone {alone['seconds']:.1f} s and {again['seconds']:.1f} s, beside 40 burners {honest['seconds']:.1f} s: {ratio:.2f}x")
    assert ratio <= 3.0


CASE_LIMITS = textwrap.dedent(
    """
    import json, os, sys, time
    from autograder.sandbox.worker import run_cases
    from helpers.checking import Case

    def sleeps(student):  # 1.5 s of wall time, almost no CPU: what a loaded machine does to a correct function
        time.sleep(1.5)
        return "done"

    def spins(student):  # an infinite loop
        while True:
            pass

    def hangs(student):  # an infinite loop that sleeps
        while True:
            time.sleep(0.1)

    cases = [Case("01", "embed", probe.__name__, 1.0, "public", probe, timeout=1.0) for probe in (sleeps, spins, hangs)]
    read, write = os.pipe()
    start = time.monotonic()
    run_cases(cases, {}, {}, write)
    os.close(write)
    lines = os.read(read, 1 << 20).decode().splitlines()
    print("RESULTS" + json.dumps({"lines": [json.loads(l) for l in lines], "seconds": time.monotonic() - start}))
    """
)


def test_a_case_limit_counts_cpu_time_not_wall_time():
    """A case's limit is the probe's CPU time, so load (which stretches wall time, not CPU
    time) cannot make a correct function time out; code that sleeps forever still stops, at
    3x the limit of wall time."""
    proc = subprocess.run([sys.executable, "-c", CASE_LIMITS], cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS"))[len("RESULTS") :])
    by_name = {line["id"].rsplit("/", 1)[1]: line["obs"] for line in out["lines"]}
    print(f"three cases with a 1 s limit took {out['seconds']:.1f} s")
    assert by_name["sleeps"]["error"] is None and by_name["sleeps"]["value"] == "done"  # 1.5 s of wall time is within the limit
    assert by_name["spins"]["error"]["type"] == "CaseTimeout" and "CPU time" in by_name["spins"]["error"]["message"]
    assert by_name["hangs"]["error"]["type"] == "CaseTimeout"
