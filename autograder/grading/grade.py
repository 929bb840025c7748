"""Grade submissions: per-student seeds -> references -> worker phases -> pytest verdicts -> results.json.

1. Find each submission's notebooks by series number ("02" in the file name).
2. Per student, in worker threads: the student's seeds (HMAC of the course secret, the
   case and the student), the solution's references for them (cached), then the two
   phases of the student's run (runner.py): student code stays in the sandbox, plain
   data comes back.
3. Meanwhile, ONE pytest session in this process verifies each student as soon as
   their run ends (test_student_work.py: one item per student, a judge loop over
   their cases whose verdicts are data), records their results and drops their
   observations, so the grader's memory holds a few students at a time.
4. Results (autograder.report.results) are built from the verdicts.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.course import SERIES
from autograder.grading.files import MAX_NOTEBOOK_BYTES, MAX_SUBMISSION_BYTES, Entry, TooLarge, UnsafeFile, read_notebook, refusal, walk
from autograder.grading.references import graded_notebooks, load_references, solution_notebooks
from autograder.grading.registry import Registry, load_registry
from autograder.grading.runner import Limits, RunResult, WorkerPool
from autograder.grading.secret import course_secret, student_seeds
from autograder.report.feedback import SHORTENED, WRITTEN, feedback_report, report_text  # noqa: F401 - re-exported
from autograder.report.results import (  # noqa: F401 - re-exported
    OUTPUT_CAP,
    PROBLEM_CAP,
    PROBLEMS_SHOWN,
    TEST_OUTPUT_CAP,
    build_results,
    cap,
    error_results,
    hidden_message,
    printable,
)
from autograder.sandbox.protocol import End, Status
from helpers.checking import Case, Verdict, judge

TEST_MODULE = Path(__file__).with_name("test_student_work.py")
VERIFY_SECONDS = 30.0  # checking one notebook of one student on the trusted side (all of it takes about 0.1 s)


_NUMBER = re.compile(r"(?<!\d)0?([1-9])(?!\d)")


@dataclass
class Submission:
    name: str
    folder: Path
    notebooks: dict[str, Path | None] = field(default_factory=dict)  # regular files inside ``folder`` only
    notes: list[str] = field(default_factory=list)  # what discovery noticed (extra files, duplicates, links)
    run: RunResult | None = None
    refused: dict[str, str] = field(default_factory=dict)  # notebook -> why its file was not read (a link, a FIFO, ...)
    identity: str = ""  # who the seeds are drawn for (the folder's name unless given)
    references: dict[str, dict] | None = None  # the solution's observations for this student's seeds
    error: str = ""  # a grader error while handling this student (their row says it; no other row changes)
    cases: list[Case] = field(default_factory=list)  # the cases it is graded on

    @classmethod
    def find(cls, name: str, folder: Path, series: list[str]) -> "Submission":
        """The submission in ``folder``: its notebooks (see :func:`find_notebooks`) and what was refused."""
        notebooks, notes, refused = find_notebooks(folder, series)
        return cls(name, Path(folder), notebooks, notes, refused=refused)

    def read(self, notebook: str, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
        """The bytes of one of its notebooks, read safely (raises files.UnsafeFile, an OSError)."""
        path = self.notebooks.get(notebook)
        if path is None:
            raise UnsafeFile(self.refused.get(notebook) or f"notebook {notebook} was not submitted")
        return read_notebook(path, self.folder, limit)

    def read_all(self) -> tuple[dict[str, bytes], dict[str, dict]]:
        """(notebook -> bytes, notebook -> the status of one that could not be read), at most
        MAX_SUBMISSION_BYTES in all: a notebook past that is refused (it scores 0 and is not read again)."""
        present, unreadable, left = {}, {}, MAX_SUBMISSION_BYTES
        for nb, path in list(self.notebooks.items()):
            if path is None:
                continue
            limit = min(MAX_NOTEBOOK_BYTES, left)
            try:
                present[nb] = self.read(nb, limit)
                left -= len(present[nb])
            except TooLarge as exc:
                if limit == MAX_NOTEBOOK_BYTES:  # too large by itself: said like any unreadable file
                    unreadable[nb] = {"status": Status(nb, problems=[str(exc)], invalid=True), "end": End()}
                else:  # said once for the notebook (it scores 0), and never read again (written answers)
                    self.refused[nb] = (
                        f"{path.name} was not read: the submission's notebooks together are more than the "
                        f"{MAX_SUBMISSION_BYTES / 1e6:.0f} MB the grader reads, so its tests scored 0."
                    )
                    self.notebooks[nb] = None
            except OSError as exc:
                unreadable[nb] = {"status": Status(nb, problems=[str(exc)], invalid=True), "end": End()}
        return present, unreadable


MAX_NOTES = 40  # notes kept per submission (a folder of 10 000 stray files gets one line for the rest)


def find_notebooks(folder: Path, series: list[str]) -> tuple[dict[str, Path | None], list[str], dict[str, str]]:
    """Map each series number to the student's notebook for it (None when missing or refused).

    A file belongs to notebook "02" when its name holds the number 2 or 02 as a whole
    number ("02_sampling.ipynb", "hw2-sampling.ipynb"); the release's own name wins,
    then the most recently modified file. Only regular files count: a symbolic link or a
    special file (FIFO, device, socket) is never followed or read; when a notebook has no
    regular file, it is refused with a message (``refused[nb]``) and scores 0. A folder
    that is itself a link refuses every notebook. Returns (found, notes, refused).
    """
    notes: list[str] = []
    refused: dict[str, str] = {}
    try:
        entries, walk_notes = walk(folder)
    except UnsafeFile as exc:
        return {nb: None for nb in series}, [str(exc)], {nb: str(exc) for nb in series}
    notes += walk_notes
    candidates: dict[str, list[Entry]] = {nb: [] for nb in series}
    unsafe: dict[str, list[Entry]] = {nb: [] for nb in series}
    for entry in entries:
        if not entry.relative.endswith(".ipynb"):
            if entry.kind == "symlink":
                notes.append(f"{entry.relative} is a symbolic link and was ignored (the grader never follows links)")
            continue
        match = _NUMBER.search(Path(entry.relative).stem)
        nb = f"0{match.group(1)}" if match else None
        if nb not in candidates:
            notes.append(f"{entry.relative} is not part of the graded series and was ignored")
        elif entry.regular:
            candidates[nb].append(entry)
        else:
            unsafe[nb].append(entry)
    found: dict[str, Path | None] = {}
    for nb, paths in candidates.items():
        for bad in unsafe[nb]:
            notes.append(refusal(bad.relative, bad.kind))
        if not paths:
            found[nb] = None
            if unsafe[nb]:
                refused[nb] = refusal(unsafe[nb][0].relative, unsafe[nb][0].kind) + " This notebook scored 0."
            continue
        exact = [e for e in paths if Path(e.relative).stem == SERIES[nb]]
        chosen = exact[0] if exact else max(paths, key=lambda e: (e.mtime, e.relative))
        found[nb] = chosen.path
        if Path(chosen.relative).stem != SERIES[nb]:
            notes.append(f"graded {chosen.relative} as notebook {nb} ({SERIES[nb]}.ipynb)")
        for other in paths:
            if other is not chosen:
                notes.append(f"{other.relative} was also found for notebook {nb}; graded {chosen.relative} instead")
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES] + [f"... and {len(notes) - MAX_NOTES} more notes like these"]
    return found, notes, refused


# --------------------------------------------------------------------------- #
# Verdicts
# --------------------------------------------------------------------------- #

_MISSING = re.compile(r"`(\w{1,60})` is not defined in your notebook(?:; did you mean `(\w{1,60})`\?)?")
_RAISED_IN = re.compile(r"in `(\w{1,60})")
_CALLEE_FAILS = re.compile(r"uses your `?(\w{1,60})`?, which fails its own checks")
RESULT_SLACK = 64 * 1024  # bytes a result line may exceed 4x its reference by before it is refused unread


@dataclass
class GradedItem:
    """One case of one submission: the student's observation, the solution's, and the verdict with its cause.

    ``cause`` (one of autograder.report.results.CAUSES) and ``about`` (the graded name a
    stub, missing name or failing callee is about) are data on the verdict, decided here
    once; results and feedback are built from them.
    """

    submission: str
    case: Case
    got: dict | None
    ref: dict | None
    missing_reason: str = ""
    verdict: Verdict | None = None
    missing_cause: str = "error"  # the cause when no observation came back
    reason_visible: bool = False  # the missing reason comes from the grader or the visible phase (a hidden test may say it)
    cause: str = ""
    about: str = ""
    close: str = ""
    callee_stub: bool = False

    def judge(self, graded_names: set[str] | None = None) -> Verdict:
        if self.got is None and self.missing_reason:
            self.verdict = Verdict(self.case, False, self.missing_reason, kind="not run")
        elif self.got is not None and self.ref is not None and self.got.get("bytes", 0) > 4 * self.ref.get("bytes", float("inf")) + 2**20:
            self.verdict = Verdict(self.case, False, "the result is far larger than the expected one (arrays of the wrong size?); it was not checked.", kind="wrong")
        else:
            self.verdict = judge(self.case, self.got, self.ref)
        self.classify(graded_names or {self.case.function})
        return self.verdict

    def classify(self, graded_names: set[str]) -> None:
        """The verdict's cause, from its kind and the observation's error (names kept only when graded)."""
        verdict, function = self.verdict, self.case.function
        if verdict.passed:
            self.cause = "passed"
        elif verdict.kind == "grader":
            self.cause = "grader_error"
        elif self.got is None:
            self.cause = self.missing_cause
        elif verdict.kind == "error":
            error = self.got.get("error") or {}
            if verdict.error_type == "NotImplementedError":
                raised_in = _RAISED_IN.match(verdict.where or "")
                who = raised_in.group(1) if raised_in else function
                if who != function and who in graded_names:
                    self.cause, self.about, self.callee_stub = "callee", who, True
                else:
                    self.cause = "stub"
            elif verdict.error_type == "MissingDefinition":
                named = _MISSING.match(str(error.get("message", "")))
                self.cause = "missing"
                self.about = named.group(1) if named and named.group(1) in graded_names else function
                self.close = named.group(2) or "" if named else ""
            elif verdict.error_type == "CaseTimeout":
                self.cause = "timeout"
            else:
                self.cause = "error"
        else:
            callee = _CALLEE_FAILS.search(verdict.message)  # the verify's own words (trusted side), not the student's
            if callee and callee.group(1) in graded_names and callee.group(1) != function:
                self.cause, self.about = "callee", callee.group(1)
            else:
                self.cause = "wrong"


class VerifyTimeout(BaseException):
    """Raised by the timer in the middle of a verify (a BaseException: judge's `except Exception` must not catch it)."""


@dataclass
class NotebookItem:
    """Every case of one notebook of one submission, judged within VERIFY_SECONDS."""

    submission: str
    notebook: str
    cases: list[GradedItem]
    graded_names: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return f"{self.submission}::{self.notebook}"

    def judge_all(self) -> list[Verdict]:
        """Judge every case (a forged result must not stall the batch); return the failed verdicts."""

        def stop(signum, frame):
            raise VerifyTimeout

        timed = threading.current_thread() is threading.main_thread()
        if timed:
            previous = signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, VERIFY_SECONDS)
        try:
            for item in self.cases:
                item.judge(self.graded_names or None)
        except VerifyTimeout:
            for item in self.cases:
                if item.verdict is None:
                    item.verdict = Verdict(item.case, False, f"not checked: checking this notebook's results took more than {VERIFY_SECONDS:g} s.", kind="grader")
                    item.cause = "grader_error"
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        return [item.verdict for item in self.cases if not item.verdict.passed]

    def verify(self) -> None:
        failed = self.judge_all()
        if failed:
            summary = "\n".join(f"{v.case.id}: {v.message.splitlines()[0]}" for v in failed)
            pytest.fail(f"{len(failed)} of {len(self.cases)} cases failed\n{summary}", pytrace=False)


class StudentItem:
    """One pytest item: one student, verified as soon as their run ends.

    Its body is the judge loop over the student's cases; its outcome is whether every
    case passed, and the verdicts (with their causes) are the data results are built
    from. Then the student's observations and references are dropped.
    """

    def __init__(self, name: str, future: Future, finish):
        self.name = name
        self.future = future
        self.finish = finish  # (sub, items or None) -> results; records them and frees the student's data
        self.failed: list[Verdict] = []

    def verify(self) -> None:
        sub = self.future.result()  # run() never raises: a grader error is on sub.error
        items = None
        try:
            if not sub.error:
                items = sub_items(sub)
                names = {i.case.function for i in items}
                by_notebook: dict[str, list[GradedItem]] = {}
                for item in items:
                    by_notebook.setdefault(item.case.notebook, []).append(item)
                for nb, cases in by_notebook.items():
                    self.failed += NotebookItem(sub.name, nb, cases, names).judge_all()
        except BaseException as exc:  # noqa: BLE001 - MemoryError too: this student's row says it, the batch goes on
            sub.error = f"grader error while checking this submission: {type(exc).__name__}: {exc}"[:500]
        self.finish(sub, items)
        if sub.error:
            pytest.fail(sub.error, pytrace=False)
        if self.failed:
            pytest.fail(f"{len(self.failed)} cases failed\n" + "\n".join(f"{v.case.id}: {v.message.splitlines()[0]}" for v in self.failed[:50]), pytrace=False)


class VerifyPlugin:
    def __init__(self, items: list):
        self.items = items

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "student(name): the submission an item verifies")

    def pytest_generate_tests(self, metafunc):
        if "graded" in metafunc.fixturenames:
            metafunc.parametrize("graded", self.items, ids=[str(i) for i in range(len(self.items))])


def run_pytest(items: list, verbose: bool = False) -> None:
    """Run ``items`` (each with a ``verify()``) as the items of one pytest session in this process."""
    if not items:
        return
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
    pytest.main(args, plugins=[VerifyPlugin(items)])


def verify(items: list[GradedItem], verbose: bool = False) -> None:
    """Judge ``items`` in one pytest session (an item per notebook of a submission); sets ``item.verdict``."""
    groups: dict[tuple[str, str], list[GradedItem]] = {}
    for item in items:
        groups.setdefault((item.submission, item.case.notebook), []).append(item)
    names = {item.case.function for item in items}
    run_pytest([NotebookItem(sub, nb, cases, names) for (sub, nb), cases in groups.items()], verbose)
    for item in items:  # anything pytest did not run (an internal error) is a failure, not a pass
        if item.verdict is None:
            item.verdict = Verdict(item.case, False, "grader error: this test did not run", kind="grader")
            item.cause = "grader_error"


def _missing_reason(sub: Submission, nb: str, hidden: bool = False) -> tuple[str, str, bool]:
    """(cause, message, said before the hidden phase) for a case of notebook ``nb`` that has no observation.

    A hidden case whose notebook ran in the hidden phase has a cause only the instructor
    sees (the hidden child's time-outs and deaths are the student's to choose).
    """
    path = sub.notebooks.get(nb)
    if path is None:
        if nb in sub.refused:
            return "load_error", sub.refused[nb], True
        return "not_submitted", f"notebook {nb} ({SERIES[nb]}.ipynb) was not found in the submission, so this test scored 0.", True
    run = sub.run or RunResult()
    if hidden and nb in run.hidden:
        end = run.hidden[nb].get("end") or End()
        return ("timeout" if end.timed_out else "error"), "not run: the hidden phase gave no result for this test.", False
    info = run.notebooks.get(nb, {})
    status, end = info.get("status") or Status(nb), info.get("end") or End()
    if status.invalid:
        return "load_error", f"{path.name} could not be read: {'; '.join(str(p)[:PROBLEM_CAP] for p in status.problems[:PROBLEMS_SHOWN])}", True
    if end.timed_out:
        return "timeout", f"not run: grading {path.name} went past its time limit (an infinite loop, or very slow code?).", True
    if end.worker_died:
        return "error", f"not run: the process grading {path.name} stopped (did the code kill its parent process, or use too much memory?).", True
    if end.signal:
        return "error", f"not run: the process grading {path.name} was stopped by signal {end.signal} (out of memory, or killed?).", True
    if info.get("stream"):
        return "error", f"not run: the results of {path.name} came back malformed ({info['stream'][0]}).", True
    return "error", f"not run: the process grading {path.name} stopped before this test ran (did the code call exit() or os._exit()?).", True


def sub_items(sub: Submission, cases: list[Case] | None = None) -> list[GradedItem]:
    """The graded items of one submission: each case with its observation, reference and missing reason."""
    observations = sub.run.observations if sub.run else {}
    references = sub.references or {}
    items = []
    for case in cases if cases is not None else sub.cases:
        got = observations.get(case.id)
        cause, reason, visible = ("", "", False) if got is not None else _missing_reason(sub, case.notebook, case.visibility == "hidden")
        items.append(GradedItem(sub.name, case, got, references.get(case.id), reason, missing_cause=cause or "error", reason_visible=visible))
    return items


def grade_submissions(
    folders: dict[str, Path],
    registry: Registry | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
    verbose: bool = False,
    progress=None,
    reveal_hidden: bool = False,
    identities: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Grade several submissions (name -> folder); returns name -> results dict.

    ``identities``: name -> the identity seeds are drawn for (default: the name, i.e. the
    student's folder; Gradescope: the user id). Runs and verification overlap: a student
    is verified (in this process's pytest session) as soon as their run ends, and at most
    ``jobs + 2`` finished runs wait for it, so memory holds a few students, not the batch.
    An error while handling one student (MemoryError included) fails that student's row only.
    """
    start = time.monotonic()
    registry = registry or load_registry(graded_notebooks())
    series = sorted({c.notebook for c in registry.cases})
    secret = course_secret()
    solutions = solution_notebooks(series)
    case_ids = [c.id for c in registry.cases]
    subs = [Submission.find(name, folder, series) for name, folder in folders.items()]
    for sub in subs:
        sub.identity = (identities or {}).get(sub.name, sub.name)
        sub.cases = registry.cases
    results: dict[str, dict] = {}
    window = max(1, jobs) + 2
    verified = threading.Condition()
    done = [0]  # students verified so far, in order

    with WorkerPool(registry, limits, jobs) as workers:
        workers.prestart(min(max(1, jobs), len(subs)))

        def run(index: int, sub: Submission) -> Submission:
            with verified:  # at most `window` students ahead of the verifier: bounded memory
                verified.wait_for(lambda: index < done[0] + window)
            try:
                seeds = student_seeds(case_ids, sub.identity, secret)
                sub.references = load_references(registry, seeds, solutions, pool=workers)
                budgets = {cid: 4 * int(ref.get("bytes", 0)) + RESULT_SLACK for cid, ref in sub.references.items()}
                present, unreadable = sub.read_all()  # regular files inside the folder only (autograder.grading.files)
                sub.run = workers.run_submission(present, seeds, budgets) if present else RunResult()
                del present
                sub.run.notebooks.update(unreadable)
            except BaseException as exc:  # noqa: BLE001 - one student's run never stops the batch (MemoryError included)
                sub.run = sub.run or RunResult()
                sub.error = f"grader error while running this submission: {type(exc).__name__}: {exc}"[:500]
            if progress:
                try:
                    progress(sub)
                except Exception:  # noqa: BLE001
                    pass
            return sub

        def finish(sub: Submission, items: list[GradedItem] | None) -> None:
            try:
                if sub.error or items is None:
                    results[sub.name] = error_results(sub.error or "grader error: no result", registry.points())
                else:
                    results[sub.name] = build_results(sub, items, sub.run.visible_seconds if sub.run else 0.0, reveal_hidden)
            except BaseException as exc:  # noqa: BLE001
                results[sub.name] = error_results(f"grader error: {type(exc).__name__}: {exc}"[:500], registry.points())
            sub.run, sub.references = None, None  # the observations go: memory holds a few students
            with verified:
                done[0] += 1
                verified.notify_all()

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
            futures = [threads.submit(run, i, sub) for i, sub in enumerate(subs)]
            student_items = [StudentItem(sub.name, future, finish) for sub, future in zip(subs, futures)]
            try:
                run_pytest(student_items, verbose)
            finally:
                for sub, future in zip(subs, futures):  # pytest did not verify them (an internal error): say so, in order
                    if sub.name not in results:
                        future.result()
                        sub.error = sub.error or "grader error: this submission was not verified"
                        finish(sub, None)
    elapsed = time.monotonic() - start
    for data in results.values():
        data.setdefault("execution_time", round(elapsed / max(1, len(subs)), 2))
    return results
