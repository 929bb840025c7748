"""More attacks on the grader that its other integrity tests did not try, each one that worked.

Every test here failed on the grader as it was when the attack was found; the ones whose
fix is not local are marked xfail(strict=True) with the fix they need.
"""

from __future__ import annotations

import json
import os

import pytest

from autograder.sandbox.protocol import ProtocolError, read_result_line

# --------------------------------------------------------------------------- #
# 1. A result line names a case with a large budget in its first bytes (what the
#    size check peeks at) and the case it is really for later (what json keeps:
#    the last of duplicate keys), so a line far over its case's budget is decoded.
# --------------------------------------------------------------------------- #

BUDGETS = {"01/small": 5_000, "01/large": 4_000_000}
IDS = set(BUDGETS)


def _forged(*id_spellings: str, size: int = 1_000_000) -> bytes:
    """A CaseResult line whose keys spell "id" as given (first one peeked, last one kept by json)."""
    head = '{"kind": "CaseResult", ' + ", ".join(f'{key}: "{cid}"' for key, cid in id_spellings)
    obs = json.dumps({"value": ["x" * 1000] * (size // 1000), "calls": [], "error": None, "seconds": 0.0})
    return f'{head}, "obs": {obs}}}'.encode()


@pytest.mark.parametrize(
    "spellings",
    [
        [('"id"', "01/large"), ('"id"', "01/small")],  # a plain duplicate key
        [('"id"', "01/large"), ('"\\u0069d"', "01/small")],  # the second key spelled with an escape
        [('"id"', "01/large"), ('"id" ', "01/small")],  # white space before the colon
    ],
    ids=["duplicate", "escaped", "spaced"],
)
def test_a_line_cannot_borrow_another_cases_budget(spellings):
    line = _forged(*spellings)
    assert len(line) > 4 * BUDGETS["01/small"]
    with pytest.raises(ProtocolError, match="far larger"):
        read_result_line(line, {"01"}, IDS, BUDGETS)


def test_a_line_cannot_borrow_the_budget_of_a_case_outside_its_job():
    line = _forged(('"id"', "01/large"), size=1_000_000)  # a hidden case's budget, claimed in the visible phase
    with pytest.raises(ProtocolError, match="far larger"):
        read_result_line(line, {"01"}, {"01/small"}, BUDGETS)


def test_an_honest_large_line_keeps_its_own_budget():
    line = _forged(('"id"', "01/large"), size=400_000)
    message = read_result_line(line, {"01"}, IDS, BUDGETS)
    assert message.id == "01/large"


# --------------------------------------------------------------------------- #
# 2. Seven sparse notebooks of 500 MB each (no disk at all; an archive of a few kB)
#    are each read whole into the grader, and copied again into a memfd for the
#    worker: one student cost the grader 4.4 GB of memory (and as much again in
#    memfds), enough to take a class's batch down with two of them side by side.
# --------------------------------------------------------------------------- #

SPARSE_GRADER = """
import json, resource, sys
from pathlib import Path
from autograder.grading.grade import grade_submissions
results = grade_submissions({"sparse": Path(sys.argv[1])}, jobs=1)
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print("RESULTS" + json.dumps(results))
"""


@pytest.mark.slow
def test_sparse_notebooks_cost_the_grader_at_most_one_notebooks_worth(tmp_path):
    import os
    import subprocess
    import sys

    from autograder.course import ROOT, SERIES

    folder = tmp_path / "sparse"
    folder.mkdir()
    for name in SERIES.values():
        with open(folder / f"{name}.ipynb", "wb") as fh:
            fh.truncate(500 * 1024 * 1024)
    proc = subprocess.run(
        [sys.executable, "-c", SPARSE_GRADER, str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak = int(next(line for line in proc.stdout.splitlines() if line.startswith("PEAK")).split()[1])
    results = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS"))[len("RESULTS"):])["sparse"]
    assert results["score"] == 0
    print(f"grader peak {peak / 2**30:.2f} GiB")
    assert peak < 2 * 2**30  # was 4.4 GiB: every notebook in memory at once
    assert "together are more than" in results["output"]


# --------------------------------------------------------------------------- #
# 3. A student folder whose name is long (250 bytes: any name up to 255 is a folder
#    Linux accepts) makes grade-all's own files for it ("NAME.json", ".NAME.json.tmp",
#    "NAME.md") too long to create: grade-all raised, and no student got a CSV row,
#    feedback or a class report.
# --------------------------------------------------------------------------- #


@pytest.mark.slow
def test_a_long_folder_name_costs_no_other_student_their_grade(tmp_path):
    import shutil

    from autograder.course import SOLUTIONS
    from autograder.grading.batch import grade_all

    root = tmp_path / "root"
    honest = root / "honest"
    honest.mkdir(parents=True)
    for path in SOLUTIONS.glob("*.ipynb"):
        shutil.copy(path, honest / path.name)
    long_name = "x" * 250
    (root / long_name).mkdir()
    out = tmp_path / "out"
    results = grade_all(root, out / "grades.csv", jobs=1, feedback_dir=out / "fb", show_progress=False)
    assert results["honest"]["score"] == results["honest"]["max_score"] > 0
    rows = (out / "grades.csv").read_text()
    assert "honest" in rows and long_name in rows
    assert (out / "fb" / "honest.md").exists() and (out / "report.html").exists()


# --------------------------------------------------------------------------- #
# 4. A folder chain under /tmp deeper than PATH_MAX (made with chdir and relative
#    mkdirs, so no path the student uses is long) is listed and removed by the
#    janitor through full paths: past 4096 bytes it can neither list nor remove
#    anything, and the whole chain (with a note at its bottom) waits for the next
#    student on the worker.
# --------------------------------------------------------------------------- #


def _deep_chain(top: str, levels: int) -> None:
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d" * 60, dir_fd=fd)
            sub = os.open("d" * 60, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        note = os.open("note", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
        os.write(note, b"left for the next student")
        os.close(note)
        os.chmod("note", 0o000, dir_fd=fd)
    finally:
        os.close(fd)


def test_the_janitor_removes_a_folder_chain_deeper_than_path_max(tmp_path):
    from autograder.sandbox.janitor import WritableAreas

    area = tmp_path / "tmp"
    (area / "kept").mkdir(parents=True)
    areas = WritableAreas([str(area)])
    _deep_chain(str(area), 150)  # 150 * 61 bytes: over twice PATH_MAX
    areas.restore()
    assert sorted(os.listdir(area)) == ["kept"]


# --------------------------------------------------------------------------- #
# 5. Extended attributes (tmpfs keeps user.* ones since Linux 6.6) on /tmp itself, or
#    on a file or folder that was there before the first student (matplotlib's config),
#    survive the janitor, which restores paths, modes and bytes only: a note the next
#    student on the worker reads with os.getxattr.
# --------------------------------------------------------------------------- #


def test_the_janitor_removes_extended_attributes_a_student_set(tmp_path):
    from autograder.sandbox.janitor import WritableAreas

    area = tmp_path / "tmp"
    (area / "config").mkdir(parents=True)
    (area / "config" / "fontlist.json").write_text("{}")
    try:
        os.setxattr(area, "user.probe", b"1")
        os.removexattr(area, "user.probe")
    except OSError:
        pytest.skip("this file system keeps no user extended attributes")
    os.setxattr(area / "config", "user.kept", b"the course's own")
    areas = WritableAreas([str(area)])
    for path in (area, area / "config", area / "config" / "fontlist.json"):
        os.setxattr(path, "user.note", b"left for the next student")
    os.setxattr(area / "config", "user.kept", b"changed")
    areas.restore()
    for path in (area, area / "config", area / "config" / "fontlist.json"):
        assert "user.note" not in os.listxattr(path), path
    assert os.getxattr(area / "config", "user.kept") == b"the course's own"


# --------------------------------------------------------------------------- #
# 6. The times of a file that was there before the first student (os.utime: 2 x 64
#    bits a student chooses): the janitor rewrote a file only when its bytes changed,
#    so the times stayed for the next student to read.
# --------------------------------------------------------------------------- #


def test_the_janitor_puts_back_the_times_of_what_was_there(tmp_path):
    from autograder.sandbox.janitor import WritableAreas

    area = tmp_path / "tmp"
    (area / "config").mkdir(parents=True)
    font = area / "config" / "fontlist.json"
    font.write_text("{}")
    before = {p: (os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns) for p in (font, area / "config")}
    areas = WritableAreas([str(area)])
    for path in before:
        os.utime(path, ns=(123456789_000000001, 987654321_000000002))
    areas.restore()
    for path, times in before.items():
        assert os.stat(path).st_mtime_ns == times[1], path
        assert os.stat(path).st_mtime_ns != 987654321_000000002


# --------------------------------------------------------------------------- #
# 7. A child may lower the priority of the worker it was forked from (same uid:
#    setpriority to 19, SCHED_IDLE) and its resource limits (prlimit: for good, an
#    unprivileged process cannot raise a hard limit again), and every later student's
#    child on that worker inherits them: the next student's code runs at idle priority,
#    behind everything else on the machine, with 50 file descriptors.
# --------------------------------------------------------------------------- #

from autograder.grading.launch import bwrap_path  # noqa: E402

NICER = """
import os
os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)
try:
    os.sched_setscheduler(os.getppid(), os.SCHED_IDLE, os.sched_param(0))
except OSError as exc:
    print("NICER no SCHED_IDLE", exc)
print("NICER worker nice", os.getpriority(os.PRIO_PROCESS, os.getppid()), "policy", os.sched_getscheduler(os.getppid()))
import resource
resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (50, 50))  # lowered for good: the worker cannot raise it again
print("NICER worker files", resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE))
"""

NICE_FINDER = """
import os
import resource
print("FINDER nice", os.getpriority(os.PRIO_PROCESS, 0), "policy", os.sched_getscheduler(0), "files", resource.getrlimit(resource.RLIMIT_NOFILE))
"""


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs the bubblewrap sandbox (apt-get install bubblewrap)")
def test_the_next_student_does_not_inherit_a_priority_the_last_one_set(tmp_path):
    from tests.conftest import grade_folders
    from tests.test_integrity_sandbox import _release_with, at_load

    _release_with(tmp_path / "a_nicer", at_load(NICER))
    _release_with(tmp_path / "b_finder", at_load(NICE_FINDER))
    graded = grade_folders({"a_nicer": tmp_path / "a_nicer", "b_finder": tmp_path / "b_finder"}, jobs=1, limits={"notebook_seconds": 30.0})
    assert "NICER worker nice 19" in graded["a_nicer"]["extra_data"]["student_output"]
    found = graded["b_finder"]["extra_data"]["student_output"]
    assert "NICER worker files (50, 50)" in graded["a_nicer"]["extra_data"]["student_output"]
    assert "FINDER nice 0 policy 0 files" in found and "(50, 50)" not in found, found[-2000:]
