"""Grade submissions: worker observations -> pytest verification -> results.json.

1. Find each submission's notebooks by series number ("02" in the file name).
2. Run them in worker processes (runner.py): student code stays there, plain data
   comes back.
3. Verify every case in ONE pytest session in this process (test_student_work.py):
   each pytest item compares one student's observation with the solution's.
4. Build a Gradescope-format results dict per submission.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.course import SERIES
from autograder.protocol import End, Status
from autograder.references import graded_notebooks, grading_seeds, load_references
from autograder.registry import Registry, load_registry
from autograder.runner import Limits, RunResult, WorkerPool
from helpers.checking import Case, Verdict, judge

TEST_MODULE = Path(__file__).with_name("test_student_work.py")
MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024  # a larger file is not read at all
VERIFY_SECONDS = 30.0  # checking one notebook of one student on the trusted side (all of it takes about 0.1 s)


def read_notebook(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise OSError(f"the file is {size / 1e6:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB the grader reads")
    return path.read_bytes()
_NUMBER = re.compile(r"(?<!\d)0?([1-9])(?!\d)")


@dataclass
class Submission:
    name: str
    folder: Path
    notebooks: dict[str, Path | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what discovery noticed (extra files, duplicates)
    run: RunResult | None = None


def find_notebooks(folder: Path, series: list[str]) -> tuple[dict[str, Path | None], list[str]]:
    """Map each series number to the student's notebook for it (None when missing).

    A file belongs to notebook "02" when its name holds the number 2 or 02 as a whole
    number ("02_sampling.ipynb", "hw2-sampling.ipynb"); the release's own name wins,
    then the most recently modified file.
    """
    notes: list[str] = []
    candidates: dict[str, list[Path]] = {nb: [] for nb in series}
    files = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())
    for path in files:
        match = _NUMBER.search(path.stem)
        nb = f"0{match.group(1)}" if match else None
        if nb in candidates:
            candidates[nb].append(path)
        else:
            notes.append(f"{path.relative_to(folder)} is not part of the graded series and was ignored")
    found: dict[str, Path | None] = {}
    for nb, paths in candidates.items():
        if not paths:
            found[nb] = None
            continue
        exact = [p for p in paths if p.stem == SERIES[nb]]
        chosen = exact[0] if exact else max(paths, key=lambda p: (p.stat().st_mtime, str(p)))
        found[nb] = chosen
        if chosen.stem != SERIES[nb]:
            notes.append(f"graded {chosen.relative_to(folder)} as notebook {nb} ({SERIES[nb]}.ipynb)")
        for other in paths:
            if other != chosen:
                notes.append(f"{other.relative_to(folder)} was also found for notebook {nb}; graded {chosen.name} instead")
    return found, notes


# --------------------------------------------------------------------------- #
# Verification in pytest
# --------------------------------------------------------------------------- #


@dataclass
class GradedItem:
    """One case of one submission: the student's observation and the solution's."""

    submission: str
    case: Case
    got: dict | None
    ref: dict | None
    missing_reason: str = ""
    verdict: Verdict | None = None

    def judge(self) -> Verdict:
        if self.got is None and self.missing_reason:
            self.verdict = Verdict(self.case, False, self.missing_reason)
        elif self.got is not None and self.ref is not None and _array_bytes(self.got.get("value")) > 4 * _array_bytes(self.ref.get("value")) + 2**20:
            self.verdict = Verdict(self.case, False, "the result is far larger than the expected one (arrays of the wrong size?); it was not checked.")
        else:
            self.verdict = judge(self.case, self.got, self.ref)
        return self.verdict


def _array_bytes(plain) -> int:
    """About how many bytes the arrays in a plain-data value decode to (from their base64 text)."""
    total, stack = 0, [plain]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if "b64" in item and isinstance(item["b64"], str):
                total += len(item["b64"]) * 3 // 4
            else:
                stack.extend(item.values())
        elif isinstance(item, str):
            total += len(item)
    return total


class VerifyTimeout(Exception):
    pass


@dataclass
class NotebookItem:
    """One pytest item: every case of one notebook of one submission.

    (An item per notebook rather than per case keeps pytest's per-item overhead small
    for a class of hundreds; every case still gets its own verdict and result.)
    """

    submission: str
    notebook: str
    cases: list[GradedItem]

    @property
    def id(self) -> str:
        return f"{self.submission}::{self.notebook}"

    def verify(self) -> None:
        """Judge every case; all of one student's notebook gets VERIFY_SECONDS (a forged result must not stall the batch)."""

        def stop(signum, frame):
            raise VerifyTimeout

        timed = threading.current_thread() is threading.main_thread()
        if timed:
            previous = signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, VERIFY_SECONDS)
        try:
            for item in self.cases:
                item.judge()
        except VerifyTimeout:
            for item in self.cases:
                if item.verdict is None:
                    item.verdict = Verdict(item.case, False, f"not checked: checking this notebook's results took more than {VERIFY_SECONDS:g} s.")
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        failed = [item.verdict for item in self.cases if not item.verdict.passed]
        if failed:
            summary = "\n".join(f"{v.case.id}: {v.message.splitlines()[0]}" for v in failed)
            pytest.fail(f"{len(failed)} of {len(self.cases)} cases failed\n{summary}", pytrace=False)


class VerifyPlugin:
    def __init__(self, items: list[NotebookItem]):
        self.items = items

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "notebook(nb): the series number of the notebook an item tests")

    def pytest_generate_tests(self, metafunc):
        if "graded" in metafunc.fixturenames:
            metafunc.parametrize("graded", self.items, ids=[item.id for item in self.items])

    def pytest_collection_modifyitems(self, items):
        for item in items:
            item.add_marker(pytest.mark.notebook(item.callspec.params["graded"].notebook))


def verify(items: list[GradedItem], verbose: bool = False) -> None:
    """Judge every item in one pytest session in this process; sets ``item.verdict``."""
    if not items:
        return
    groups: dict[tuple[str, str], list[GradedItem]] = {}
    for item in items:
        groups.setdefault((item.submission, item.case.notebook), []).append(item)
    plugin = VerifyPlugin([NotebookItem(sub, nb, cases) for (sub, nb), cases in groups.items()])
    try:  # verify steps use tiny tensors: threads only add overhead (and contend with the workers)
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    args = [
        str(TEST_MODULE),
        "-p", "no:cacheprovider",
        "-p", "no:logging",
        "--capture=no",
        "--rootdir", str(TEST_MODULE.parent),
        "-c", str(TEST_MODULE.with_name("pytest.ini")),
    ]  # fmt: skip
    args += ["-q", "--tb=line", "--disable-warnings"] if verbose else ["-p", "no:terminal"]
    pytest.main(args, plugins=[plugin])
    for item in items:  # anything pytest did not run (an internal error) is a failure, not a pass
        if item.verdict is None:
            item.verdict = Verdict(item.case, False, "grader error: this test did not run")


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #


def _missing_reason(sub: Submission, nb: str) -> str:
    path = sub.notebooks.get(nb)
    if path is None:
        return f"notebook {nb} ({SERIES[nb]}.ipynb) was not found in the submission, so this test scored 0."
    info = (sub.run.notebooks if sub.run else {}).get(nb, {})
    status, end = info.get("status") or Status(nb), info.get("end") or End()
    if status.invalid:
        return f"{path.name} could not be read: {'; '.join(status.problems)}"
    if end.timed_out:
        return f"not run: grading {path.name} went past its time limit (an infinite loop, or very slow code?)."
    if end.worker_died:
        return f"not run: the process grading {path.name} stopped (did the code kill its parent process, or use too much memory?)."
    if end.signal:
        return f"not run: the process grading {path.name} was stopped by signal {end.signal} (out of memory, or killed?)."
    if info.get("stream"):
        return f"not run: the results of {path.name} came back malformed ({info['stream'][0]})."
    return f"not run: the process grading {path.name} stopped before this test ran (did the code call exit() or os._exit()?)."


def build_results(sub: Submission, items: list[GradedItem], seconds: float) -> dict:
    tests, per_notebook = [], {}
    for number, item in enumerate(items, start=1):
        case, verdict = item.case, item.verdict
        score = case.points if verdict.passed else 0.0
        tests.append(
            {
                "name": f"{case.notebook} {case.function}: {case.title}" + (" (hidden test)" if case.visibility == "hidden" else ""),
                "number": f"{case.notebook}.{number}",
                "score": score,
                "max_score": case.points,
                "status": "passed" if verdict.passed else "failed",
                "output": "" if verdict.passed else verdict.message,
                "visibility": "visible" if case.visibility == "public" else "after_published",
                "tags": [case.notebook, case.function, case.visibility],
            }
        )
        got, top = per_notebook.get(case.notebook, (0.0, 0.0))
        per_notebook[case.notebook] = (got + score, top + case.points)
    lines = []
    for nb, (got, top) in per_notebook.items():
        path = sub.notebooks.get(nb)
        lines.append(f"{SERIES[nb]}: {got:g} / {top:g}" + ("" if path else "  (not submitted)"))
        info = (sub.run.notebooks if sub.run else {}).get(nb) or {}
        status = info.get("status") or Status(nb)
        for problem in status.problems + status.load_errors + [f"malformed result: {p}" for p in info.get("stream", [])]:
            lines.append(f"  - {problem}")
    lines += [f"note: {n}" for n in sub.notes]
    if sub.run and sub.run.worker_problems:
        lines += [f"grader: {p}" for p in sub.run.worker_problems]
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(seconds, 2),
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"student_output": (sub.run.output if sub.run else "")[-4000:]},
    }


def grade_submissions(
    folders: dict[str, Path],
    registry: Registry | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
    verbose: bool = False,
    progress=None,
) -> dict[str, dict]:
    """Grade several submissions (name -> folder); returns name -> results dict."""
    start = time.monotonic()
    registry = registry or load_registry(graded_notebooks())
    series = sorted({c.notebook for c in registry.cases})
    seeds = grading_seeds(registry)
    references = load_references(registry, seeds)
    subs = []
    for name, folder in folders.items():
        notebooks, notes = find_notebooks(folder, series)
        subs.append(Submission(name, folder, notebooks, notes))

    with WorkerPool(registry, limits, jobs, seeds) as workers:

        def run(sub: Submission) -> Submission:
            present, unreadable = {}, {}
            for nb, path in sub.notebooks.items():
                if path is None:
                    continue
                try:
                    present[nb] = read_notebook(path)
                except OSError as exc:
                    unreadable[nb] = {"status": Status(nb, problems=[f"could not read the file: {exc}"], invalid=True), "end": End()}
            try:
                sub.run = workers.run_submission(present) if present else RunResult()
            except Exception as exc:  # noqa: BLE001 - one student's run never stops the batch
                sub.run = RunResult(worker_problems=[f"grader error while running this submission: {type(exc).__name__}: {exc}"[:500]])
            sub.run.notebooks.update(unreadable)
            if progress:
                progress(sub)
            return sub

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
            list(threads.map(run, subs))
    items_by_sub = {}
    for sub in subs:
        items_by_sub[sub.name] = [
            GradedItem(sub.name, case, sub.run.observations.get(case.id), references.get(case.id), _missing_reason(sub, case.notebook))
            for case in registry.cases
        ]
    verify([item for items in items_by_sub.values() for item in items], verbose=verbose)
    elapsed = time.monotonic() - start
    results = {}
    for sub in subs:  # one student's broken results never cost another's
        try:
            results[sub.name] = build_results(sub, items_by_sub[sub.name], elapsed / max(1, len(subs)))
        except Exception as exc:  # noqa: BLE001
            results[sub.name] = {
                "score": 0.0, "max_score": registry.points(), "tests": [], "output": f"grader error: {type(exc).__name__}", "error": f"{type(exc).__name__}: {exc}"[:500],
            }  # fmt: skip
    return results
