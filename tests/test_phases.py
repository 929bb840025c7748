"""A student's run has two phases that cannot know what comes after them.

The visible phase (load the notebooks, run the public cases: shown in full) runs in a
child that never holds a hidden seed or probe; the hidden phase reloads the notebooks in
a fresh child that only then receives them, and everything it sends is treated as
hidden. Seeds are drawn per student. These tests attack that from inside the student's
process: a payload that searches every frame, object, file descriptor and environment
variable of the visible phase for the hidden seeds (computed here, on the test side),
and a child that forges its public results.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from autograder.course import RELEASE, SOLUTIONS
from autograder.grading.registry import load_registry
from autograder.grading.secret import course_secret, student_seeds
from helpers.checking import PUBLIC_REFERENCES
from tests.conftest import grade_folders
from tests.test_integrity_sandbox import at_load

slow = pytest.mark.slow
KEY = 0x5DEECE66D1234567  # the payload holds the seeds XORed with this, so its own source is not a match


def _with_cell(folder, notebook: str, cell: str, solution: bool = True, at: int = 1) -> None:
    source = (SOLUTIONS if solution else RELEASE) / f"{notebook}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    nb.cells.insert(at, nbformat.v4.new_code_cell(cell))
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


# Runs at load time in a class body, in both phases: collects every integer of 33 to 63 bits it can
# reach (objects the garbage collector tracks, every frame of every thread and its locals, inspect's
# stack, every open file descriptor read without blocking, /proc/self/environ and cmdline, the
# environment), as ints in containers and as runs of digits in text and bytes; then prints how many
# of the public and of the hidden seeds (given XORed) it found.
SEARCH = """
import gc, inspect, os, re, sys
found = set()
digits = re.compile(rb"(?<![0-9])[0-9]{10,19}(?![0-9])")
def take(value, depth=0):
    kind = type(value)
    if kind is int:
        if 2**32 <= value < 2**63:
            found.add(value)
    elif kind in (str, bytes, bytearray, memoryview):
        data = value.encode("utf-8", "ignore") if kind is str else bytes(value[: 1 << 24])
        for match in digits.finditer(data):
            found.add(int(match.group()))
    elif depth < 3 and kind in (list, tuple, set, frozenset):
        for item in list(value)[:100000]:
            take(item, depth + 1)
    elif depth < 3 and kind is dict:
        for k, v in list(value.items())[:100000]:
            take(k, depth + 1)
            take(v, depth + 1)
for obj in gc.get_objects():
    try:
        take(obj)
        if hasattr(obj, "__dict__") and type(obj.__dict__) is dict:
            take(obj.__dict__)
    except Exception:
        pass
frames = list(sys._current_frames().values()) + [info.frame for info in inspect.stack()]
for frame in frames:
    while frame is not None:
        try:
            take(dict(frame.f_locals))
            take(frame.f_code.co_consts)
        except Exception:
            pass
        frame = frame.f_back
for name in os.listdir("/proc/self/fd"):
    fd, blocking = int(name), None
    try:
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)  # an empty pipe must not make the search wait
        take(os.pread(fd, 1 << 24, 0))
    except Exception:
        try:
            take(os.read(fd, 1 << 24))
        except Exception:
            pass
    finally:
        if blocking is not None:
            try:
                os.set_blocking(fd, blocking)
            except Exception:
                pass
for path in ("/proc/self/environ", "/proc/self/cmdline"):
    try:
        take(open(path, "rb").read())
    except Exception:
        pass
take(dict(os.environ))
code = [o for o in gc.get_objects() if type(o).__name__ == "function"]
probes = {"public": 0, "hidden": 0}
for function in code:
    filename = getattr(getattr(function, "__code__", None), "co_filename", "")
    for kind in probes:
        probes[kind] += filename.startswith(f"<probes.{kind}.")
probes["hidden"] += sum(name.startswith("probes.hidden") or name.startswith("autograder.hidden") for name in sys.modules)
public = {v ^ KEY for v in PUBLIC_XOR}
hidden = {v ^ KEY for v in HIDDEN_XOR}
print(f"ZQXSEARCH candidates={len(found)} public={len(found & public)} hidden={len(found & hidden)} "
      f"public_probes={probes['public']} hidden_probes={probes['hidden']}", flush=True)
"""


def _search_payload(public: list[int], hidden: list[int]) -> str:
    body = f"KEY = {KEY}\nPUBLIC_XOR = {[s ^ KEY for s in public]}\nHIDDEN_XOR = {[s ^ KEY for s in hidden]}\n" + SEARCH
    return at_load(body)


def _reports(output: str) -> list[dict]:
    rows = []
    for line in output.splitlines():
        if line.startswith("ZQXSEARCH "):
            rows.append({k: int(v) for k, v in (part.split("=") for part in line.split()[1:])})
    return rows


@slow
def test_the_visible_phase_holds_no_hidden_seed(tmp_path):
    """Every frame, object, fd and environment variable of the visible phase: no hidden seed (the public ones are found)."""
    registry = load_registry()
    name = "searcher"
    seeds = student_seeds([c.id for c in registry.cases], name, course_secret())
    public = [seeds[c.id] for c in registry.cases if c.visibility == "public"]
    hidden = [seeds[c.id] for c in registry.cases if c.visibility == "hidden"]
    folder = tmp_path / name
    for path in sorted(SOLUTIONS.glob("0*.ipynb")):  # every notebook, so every hidden seed exists in this student's run
        _with_cell(folder, path.stem, _search_payload(public, hidden) if path.stem.startswith("01") else "x = 1")
    results = grade_folders({name: folder}, jobs=1)[name]
    visible = _reports(results["extra_data"]["student_output"])
    in_hidden_phase = _reports(results["extra_data"]["hidden_output"])
    assert len(visible) == 1 and len(in_hidden_phase) == 1, (results["extra_data"]["student_output"][-800:], results["extra_data"]["hidden_output"][-800:])
    assert visible[0]["public"] > 0 and visible[0]["public_probes"] > 0, visible  # the search reaches where the job's seeds and probes are
    assert visible[0]["hidden"] == 0 and visible[0]["hidden_probes"] == 0, visible
    assert in_hidden_phase[0]["hidden"] == 0 and in_hidden_phase[0]["public"] == 0, in_hidden_phase  # before Loaded: nothing yet
    assert in_hidden_phase[0]["hidden_probes"] == 0, in_hidden_phase
    # the payload costs nothing: the rest of the solution keeps full marks
    assert results["score"] == results["max_score"], [t["name"] for t in results["tests"] if t["status"] != "passed"][:5]


def _forger(references: dict) -> str:
    """At load, writes a CaseResult with the release's public answer for every public case into every writable
    pipe, then stops the real probes (so no second result voids the forged one)."""
    return at_load(
        f"""
        import json, os, stat, sys
        answers = json.loads({json.dumps(json.dumps(references))})
        if os.path.exists("zqx-forged"):  # once per job: a second result for a case would void the first
            return
        open("zqx-forged", "w").close()
        lines = b"".join((json.dumps({{"kind": "CaseResult", "id": cid, "obs": {{"value": obs.get("value"), "calls": [],
                          "error": None, "seconds": 0.0}}}}) + "\\n").encode() for cid, obs in answers.items())
        for fd in range(3, 64):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode) and os.fstat(fd).st_mode & 0o200:
                    os.write(fd, lines)
            except OSError:
                pass
        worker = sys.modules.get("autograder.sandbox.worker") or sys.modules.get("__main__")
        if worker is not None and hasattr(worker, "run_cases"):
            worker.run_cases = lambda *args, **kwargs: None
        """
    )


def _readme_fixed_data_points() -> float:
    """The "all" row's last column of the README's points table: what a table of public answers earns."""
    from autograder.course import ROOT

    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| all |"))
    return float(row.strip("|").split("|")[-1])


@slow
def test_forged_public_results_earn_no_more_than_the_fixed_data_points(tmp_path, monkeypatch):
    # A fixed course secret: under about one secret in three a low-entropy public case (a greedy path, one
    # categorical draw) also coincides by chance (README); under this one none does, so the bound is exact.
    monkeypatch.setenv("COURSE_KIT_SECRET", "forger-test/2")
    references = json.loads(PUBLIC_REFERENCES.read_text())
    folder = tmp_path / "forger"
    for path in sorted(RELEASE.glob("0*.ipynb")):
        _with_cell(folder, path.stem, _forger(references), solution=False, at=len(nbformat.read(str(path), as_version=4).cells))
    honest = tmp_path / "honest"
    for path in sorted(SOLUTIONS.glob("0*.ipynb")):
        _with_cell(honest, path.stem, "x = 1")
    results = grade_folders({"forger": folder, "honest": honest}, jobs=1)
    forged = results["forger"]
    passed = [t for t in forged["tests"] if t["status"] == "passed" and t["max_score"] > 0]
    assert passed, "the forged results reached the grader (some public cases on fixed data must pass)"
    assert all(t["extra_data"]["visibility"] == "public" for t in passed), [t["name"] for t in passed if "hidden" in t["name"]]
    assert forged["score"] <= _readme_fixed_data_points(), (forged["score"], [t["name"] for t in passed])
    assert results["honest"]["score"] == results["honest"]["max_score"]


@slow
def test_hidden_failures_say_only_verdict_and_hint(tmp_path):
    """A student whose functions raise different exceptions (and print) in hidden tests: each hidden failure reads
    "failed (hidden test)." and the hint, the same whatever was raised; the output stays the instructor's."""
    cell = textwrap.dedent(
        """
        import sys
        def _raise_something(text):
            kinds = [ValueError, KeyError, IndexError, ZeroDivisionError, TypeError]
            print("ZQXPRINT", text[:20], file=sys.stderr)
            raise kinds[len(str(text)) % len(kinds)]("ZQXTEXT " + str(text)[:40])

        def tokenize(text):
            return _raise_something(text)
        """
    )
    folder = tmp_path / "raiser"
    _with_cell(folder, "01_embeddings", cell, solution=False, at=len(nbformat.read(str(RELEASE / "01_embeddings.ipynb"), as_version=4).cells))
    results = grade_folders({"raiser": folder}, jobs=1)["raiser"]
    hidden = [t for t in results["tests"] if t["extra_data"]["visibility"] == "hidden" and t["extra_data"]["function"] == "tokenize"]
    assert hidden and all(t["status"] == "failed" for t in hidden)
    for test in hidden:
        hint = test["extra_data"]["hint"]
        assert test["output"].split("\n  (shortened")[0] in ("failed (hidden test)." + (f"\n  hint: {hint}" if hint else ""), "failed (hidden test)."), test["output"]
        assert "student_error" not in test["extra_data"]
    shown = "".join(t["output"] for t in hidden)
    assert "ZQXTEXT" not in shown and "ZQXPRINT" not in results["output"] + shown
    assert not any(kind in t["output"] for t in hidden for kind in ("ValueError", "KeyError", "IndexError", "ZeroDivisionError", "TypeError"))
    assert "ZQXPRINT" in results["extra_data"]["hidden_output"]  # kept for the instructor
    public = [t for t in results["tests"] if t["extra_data"]["visibility"] == "public" and t["extra_data"]["function"] == "tokenize"]
    assert any("ZQXTEXT" in t["extra_data"].get("student_error", "") for t in public)  # public errors are the student's to see


def test_seeds_are_per_student_and_the_self_check_keeps_seed_k():
    from helpers.cases import Student

    ids = [c.id for c in load_registry(["01"]).cases]
    a, b = student_seeds(ids, "alice", b"k" * 32), student_seeds(ids, "bob", b"k" * 32)
    assert a == student_seeds(ids, "alice", b"k" * 32)  # reproducible: a regrade gives the same marks
    assert all(a[i] != b[i] for i in ids) and len(set(a.values())) == len(ids)
    assert all(0 <= s < 2**63 for s in a.values())
    assert [Student({}, None).seed(k) for k in (0, 7, 41)] == [0, 7, 41]


ISOLATION = """
import json, sys
from pathlib import Path
import autograder.grading.grade as grade
from autograder.grading.runner import WorkerPool

real_run, real_build, real_judge = WorkerPool.run_submission, grade.build_results, grade.GradedItem.judge

def run(self, notebooks, seeds=None, budgets=None):
    if any(b"ZQXRUNFAIL" in raw for raw in notebooks.values()):
        raise MemoryError("while running")
    return real_run(self, notebooks, seeds, budgets)

def build(sub, items, *args, **kwargs):
    if sub.name == "c_build":
        raise MemoryError("while building the results")
    return real_build(sub, items, *args, **kwargs)

def judge(self, *args, **kwargs):
    if self.submission == "d_judge":
        raise MemoryError("while judging")
    return real_judge(self, *args, **kwargs)

WorkerPool.run_submission, grade.build_results, grade.GradedItem.judge = run, build, judge
folders = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}
print("RESULTS" + json.dumps(grade.grade_submissions(folders, jobs=2)))
"""


@slow
def test_a_grader_error_while_handling_one_student_fails_that_row_only(tmp_path):
    """A MemoryError while running, judging or building one student's results: their row says so; the others are graded."""
    import os
    import subprocess
    import sys

    from autograder.course import ROOT

    for name in ("a_honest", "c_build", "d_judge", "e_honest"):
        _with_cell(tmp_path / name, "01_embeddings", "x = 1")
    _with_cell(tmp_path / "b_run", "01_embeddings", "# ZQXRUNFAIL")
    folders = {p.name: str(p) for p in sorted(tmp_path.iterdir())}
    proc = subprocess.run(
        [sys.executable, "-c", ISOLATION, json.dumps(folders)], cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS"))[len("RESULTS") :])
    assert set(results) == set(folders)
    for name, why in (("b_run", "while running"), ("c_build", "while building"), ("d_judge", "while judging")):
        assert results[name]["score"] == 0 and "MemoryError" in results[name]["error"] and why in results[name]["error"], results[name]
    for name in ("a_honest", "e_honest"):
        tests = [t for t in results[name]["tests"] if t["tags"][0] == "01"]
        assert tests and all(t["status"] == "passed" for t in tests), [t["name"] for t in tests if t["status"] != "passed"]


def test_a_result_far_larger_than_its_reference_is_refused_before_it_is_decoded(monkeypatch):
    """99,990 empty lists (under every protocol cap) for a case whose reference is small: refused unread."""
    from autograder.sandbox import protocol

    line = json.dumps({"kind": "CaseResult", "id": "01/embed/a", "obs": {"value": [[]] * 99_990, "calls": [], "error": None, "seconds": 0.0}}).encode()
    assert len(line) < protocol.MAX_LINE_BYTES
    protocol.read_result_line(line, {"01"}, {"01/embed/a"})  # without a budget it is well-formed
    decoded = []
    monkeypatch.setattr(protocol.json, "loads", lambda *a, **k: decoded.append(1))
    with pytest.raises(protocol.ProtocolError, match="far larger"):
        protocol.read_result_line(line, {"01"}, {"01/embed/a"}, budgets={"01/embed/a": 4 * 300 + 65536})
    forged_id = line.replace(b'"id": "01/embed/a"', b'"id": "01/embed/b"')
    with pytest.raises(protocol.ProtocolError, match="far larger"):  # an id that is no case's gets the smallest budget
        protocol.read_result_line(forged_id, {"01"}, {"01/embed/a"}, budgets={"01/embed/a": 4 * 300 + 65536})
    assert decoded == []
