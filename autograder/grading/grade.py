"""Grade submissions: worker observations -> pytest verification -> results.json.

1. Find each submission's notebooks by series number ("02" in the file name).
2. Run them in worker processes (runner.py): student code stays there, plain data
   comes back.
3. Verify every case in ONE pytest session in this process (test_student_work.py):
   each pytest item compares one student's observation with the solution's.
4. Build a Gradescope-format results dict per submission.
"""

from __future__ import annotations

import builtins
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.course import SERIES
from autograder.grading.files import Entry, UnsafeFile, read_notebook, refusal, walk
from autograder.grading.references import graded_notebooks, grading_seeds, load_references
from autograder.grading.registry import Registry, load_registry
from autograder.grading.runner import Limits, RunResult, WorkerPool
from autograder.report.text import printable
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

    @classmethod
    def find(cls, name: str, folder: Path, series: list[str]) -> "Submission":
        """The submission in ``folder``: its notebooks (see :func:`find_notebooks`) and what was refused."""
        notebooks, notes, refused = find_notebooks(folder, series)
        return cls(name, Path(folder), notebooks, notes, refused=refused)

    def read(self, notebook: str) -> bytes:
        """The bytes of one of its notebooks, read safely (raises files.UnsafeFile, an OSError)."""
        path = self.notebooks.get(notebook)
        if path is None:
            raise UnsafeFile(self.refused.get(notebook) or f"notebook {notebook} was not submitted")
        return read_notebook(path, self.folder)


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
        elif self.got is not None and self.ref is not None and self.got.get("bytes", 0) > 4 * self.ref.get("bytes", float("inf")) + 2**20:
            self.verdict = Verdict(self.case, False, "the result is far larger than the expected one (arrays of the wrong size?); it was not checked.")
        else:
            self.verdict = judge(self.case, self.got, self.ref)
        return self.verdict


class VerifyTimeout(BaseException):
    """Raised by the timer in the middle of a verify (a BaseException: judge's `except Exception` must not catch it)."""


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


TEST_OUTPUT_CAP = 8_000  # characters of one test's output in results.json
OUTPUT_CAP = 20_000  # characters of the top-level output
PROBLEMS_SHOWN = 8  # a notebook's reading/loading problems listed at most (each cut at PROBLEM_CAP)
PROBLEM_CAP = 400
CUT = "\n... (cut)"
_ERROR_TYPES = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}
_MISSING = re.compile(r"`(\w{1,60})` is not defined in your notebook")
_RAISED_IN = re.compile(r"in `(\w{1,60})")
_IN_FUNCTION = re.compile(r"in `(\w{1,60}(?:\.\w{1,60}){0,3})`.{0,200}?, line (\d{1,6})", re.S)


def _hidden_where(where: str, graded_names: set[str]) -> str:
    """Where a hidden test's exception came from, in the grader's words: a graded function's name, or nothing.

    The file name, line number and code line of a traceback are the student's process's to
    choose, so free text or long numbers there could carry a hidden input or a seed out; the
    name of one of the notebook's graded functions carries no more than the verdict does.
    """
    found = _IN_FUNCTION.match(where or "")
    name = found.group(1).split(".")[0] if found else ""
    return f" in `{name}`" if name in graded_names else ""




def cap(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, with a marker when cut."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + CUT


def _missing_reason(sub: Submission, nb: str) -> str:
    path = sub.notebooks.get(nb)
    if path is None:
        if nb in sub.refused:
            return sub.refused[nb]
        return f"notebook {nb} ({SERIES[nb]}.ipynb) was not found in the submission, so this test scored 0."
    info = (sub.run.notebooks if sub.run else {}).get(nb, {})
    status, end = info.get("status") or Status(nb), info.get("end") or End()
    if status.invalid:
        return f"{path.name} could not be read: {'; '.join(str(p)[:PROBLEM_CAP] for p in status.problems[:PROBLEMS_SHOWN])}"
    if end.timed_out:
        return f"not run: grading {path.name} went past its time limit (an infinite loop, or very slow code?)."
    if end.worker_died:
        return f"not run: the process grading {path.name} stopped (did the code kill its parent process, or use too much memory?)."
    if end.signal:
        return f"not run: the process grading {path.name} was stopped by signal {end.signal} (out of memory, or killed?)."
    if info.get("stream"):
        return f"not run: the results of {path.name} came back malformed ({info['stream'][0]})."
    return f"not run: the process grading {path.name} stopped before this test ran (did the code call exit() or os._exit()?)."


def hidden_message(item: GradedItem, graded_names: set[str] | None = None) -> str:
    """What a student may see of a failed hidden test: verdict, kind of failure and hint.

    Never its inputs, expected values or the values the student's code returned: the
    verify's message (expected/got), the calls (with the hidden inputs) and the text of
    an exception (which a student's code could fill with its inputs) are left out. Only
    the grader's own words, a builtin exception's type and a code location (cell and
    line) remain; anything else the student's process reported becomes generic.
    """
    case, verdict = item.case, item.verdict
    hint = f"\n  hint: {case.hint}" if case.hint else ""
    if verdict.kind == "grader":
        return "grader error: the solution's result for this hidden test is missing; please tell the course staff."
    if item.got is None:  # the grader's own words: the notebook was missing, refused, unreadable, or did not run
        return verdict.message
    if verdict.kind == "error":
        if verdict.error_type == "NotImplementedError":
            raised_in = _RAISED_IN.match(verdict.where or "")
            who = raised_in.group(1) if raised_in and raised_in.group(1) in (graded_names or {case.function}) else None
            return f"not implemented yet: {f'`{who}`' if who else 'the function'} still raises NotImplementedError (replace the stub with your code)."
        if verdict.error_type == "MissingDefinition":
            # name it only when it is one of the course's graded names (the student's process wrote the message)
            named = _MISSING.match(item.verdict.message)
            name = named.group(1) if named and named.group(1) in (graded_names or {case.function}) else None
            return (f"`{name}` is not defined in your notebook" if name else "a graded name is not defined in your notebook") + (
                ". Keep the graded names and signatures exactly as given (did you rename or delete it, or does its cell have a syntax error?)"
            )
        raised = verdict.error_type if verdict.error_type in _ERROR_TYPES else "an exception"
        return f"failed (hidden test): your code raised {raised}{_hidden_where(verdict.where, graded_names or {case.function})}.{hint}"
    if verdict.kind in ("wrong", "unreadable"):
        return f"failed (hidden test): wrong result.{hint}"
    return f"failed (hidden test).{hint}"


# --------------------------------------------------------------------------- #
# The per-function report: one source for results.json and the Markdown feedback
# --------------------------------------------------------------------------- #

WRITTEN = "written"  # the tag (tags[2]) of a written answer's pending entry
_STUB = re.compile(r"not implemented yet: `(\w{1,60})` still raises|this uses your `(\w{1,60})`, which is not implemented yet")
_CALLEE_FAILS = re.compile(r"uses your `?(\w{1,60})`?, which fails its own checks")
_NOT_DEFINED = re.compile(r"`(\w{1,60})` is not defined in your notebook(?:; did you mean `(\w{1,60})`\?)?")
SHORTENED = "\n  (shortened: the first failed test of `{function}` shows the details; fix that one first)"


@dataclass
class FunctionReport:
    """What a student needs about one graded function (only the grader's words, or student text kept apart)."""

    notebook: str
    function: str
    score: float = 0.0
    max_score: float = 0.0
    causes: list[str] = field(default_factory=list)  # shared causes, each said once; grader-made, names are \w only
    first: tuple[str, str] | None = None  # (title, full output) of the first failed test not explained by a cause
    others: list[str] = field(default_factory=list)  # "title: first line" of the other such tests

    @property
    def passed(self) -> bool:
        return not self.causes and self.first is None

    @property
    def summary(self) -> str:
        """One line: what to do about this function (grader-made text only)."""
        parts = list(self.causes)
        if self.first:
            n = 1 + len(self.others)
            parts.append(f"{n} test{'s' if n > 1 else ''} failed" + (" for other reasons" if self.causes else "") + ": see below")
        return "; ".join(parts)


@dataclass
class NotebookReport:
    notebook: str
    score: float = 0.0
    max_score: float = 0.0
    not_graded: str = ""  # every test failed with this one message (not submitted, refused, unreadable): said once

    @property
    def why_not_graded(self) -> str:
        return self.not_graded.replace(", so this test scored 0.", ".")
    functions: list[FunctionReport] = field(default_factory=list)


@dataclass
class Report:
    notebooks: list[NotebookReport]
    written: list[tuple[str, str, bool]]  # (grade_id, what the student sees, answered)
    outputs: list[str]  # per test, what results.json shows (the same words as the feedback)


def _first_line(text: str) -> str:
    return str(text).split("\n", 1)[0]


def _title(test: dict) -> str:
    name = str(test.get("name", ""))
    return name.split(": ", 1)[1] if ": " in name else name


def _cause(output: str, function: str, graded: set[str]) -> tuple[str, str] | None:
    """(key, line) when a failure has a cause shared by several tests, said once; else None."""
    first = _first_line(output)
    stub = _STUB.match(first)
    if stub or first.startswith("not implemented yet"):
        who = (stub.group(1) or stub.group(2)) if stub else function
        if who in graded and who != function:
            return f"callee:{who}", f"this uses your `{who}`, which is not implemented yet: implement `{who}` first."
        return "stub", f'not implemented yet: `{function}` still raises NotImplementedError; implement it, then run check("{function}").'
    missing = _NOT_DEFINED.match(first)
    if missing:
        close = f"; did you mean `{missing.group(2)}`?" if missing.group(2) else "."
        return f"missing:{missing.group(1)}", (
            f"`{missing.group(1)}` is not defined in your notebook{close} Keep the graded names and signatures exactly as given."
        )
    callee = _CALLEE_FAILS.search(str(output))
    if callee and callee.group(1) in graded and callee.group(1) != function:
        who = callee.group(1)
        return f"callee:{who}", f"this uses your `{who}`, which fails its own checks: fix `{who}` first."
    return None


def feedback_report(tests: list[dict]) -> Report:
    """The report of one submission, from its results' tests: per notebook and function the
    score, shared causes said once (a stub, a missing name, a callee that fails, a notebook
    that was not graded), the first other failure in full and the rest one line each.

    ``outputs`` rewrites each test's output to match: applied to its own result it changes
    nothing, so results.json and the Markdown made later from it say the same things.
    """
    outputs = [str(t.get("output", "")) for t in tests]
    graded = {str(t["tags"][1]) for t in tests if t["tags"][2:3] != [WRITTEN]}
    notebooks: dict[str, NotebookReport] = {}
    groups: dict[tuple[str, str], list[int]] = {}
    written = []
    for i, test in enumerate(tests):
        if test["tags"][2:3] == [WRITTEN]:
            written.append((str(test["tags"][1]), outputs[i], test["status"] == "passed"))
            continue
        nb, function = str(test["tags"][0]), str(test["tags"][1])
        report = notebooks.setdefault(nb, NotebookReport(nb))
        report.score += test["score"]
        report.max_score += test["max_score"]
        groups.setdefault((nb, function), []).append(i)
    for report in notebooks.values():
        indices = [i for (nb, _), idx in groups.items() if nb == report.notebook for i in idx]
        functions = {fn for (nb, fn) in groups if nb == report.notebook}
        if len(functions) > 1 and all(tests[i]["status"] != "passed" for i in indices) and len({outputs[i] for i in indices}) == 1:
            report.not_graded = outputs[indices[0]]
    for (nb, function), indices in groups.items():
        fn = FunctionReport(nb, function)
        notebooks[nb].functions.append(fn)
        fn.score = sum(tests[i]["score"] for i in indices)
        fn.max_score = sum(tests[i]["max_score"] for i in indices)
        if notebooks[nb].not_graded:
            continue
        causes: dict[str, str] = {}
        own = []
        failed = [i for i in indices if tests[i]["status"] != "passed"]
        found = {i: _cause(outputs[i], function, graded) for i in failed}
        for key, line in filter(None, found.values()):  # a "did you mean" said in one test is said for all
            if key not in causes or ("did you mean" in line and "did you mean" not in causes[key]):
                causes[key] = line
        for i in failed:
            if found[i]:
                outputs[i] = causes[found[i][0]]
            else:
                own.append(i)
        fn.causes = list(causes.values())
        if own:
            fn.first = (f"{_title(tests[own[0]])} ({tests[own[0]]['max_score']:g} pt)", outputs[own[0]])
            shortened = SHORTENED.format(function=function)
            for i in own[1:]:
                first = _first_line(outputs[i])
                said = first.removeprefix("failed (hidden test): ") if _title(tests[i]).endswith("(hidden test)") else first
                fn.others.append(f"{_title(tests[i])}: {said}")
                outputs[i] = first + shortened
    return Report(list(notebooks.values()), written, outputs)


def report_text(report: Report, notes: str = "") -> str:
    """The report as plain text: Gradescope's top-level output (each test's output holds its details)."""
    lines = []
    for nb in report.notebooks:
        head = f"{SERIES.get(nb.notebook, nb.notebook)}: {nb.score:g} / {nb.max_score:g}"
        if nb.not_graded:
            lines.append(f"{head}: {_first_line(nb.why_not_graded)[:PROBLEM_CAP]}")
            continue
        lines.append(head)
        for fn in nb.functions:
            mark = "\u2714" if fn.passed else "\u2718"
            line = f"  {mark} {fn.function}: {fn.score:g} / {fn.max_score:g}"
            if fn.causes:
                line += ": " + "; ".join(fn.causes)
            if fn.first:
                line += f"{';' if fn.causes else ':'} {1 + len(fn.others)} failed, first: {fn.first[0]}: {_first_line(fn.first[1])[:PROBLEM_CAP]}"
            lines.append(line)
    if report.written:
        lines.append("written answers (a TA grades them; not part of this score):")
        lines += [f"  {gid}: {text}" for gid, text, _ in report.written]
    if notes:
        lines += ["", notes]
    return "\n".join(lines)


def _notes(sub: Submission, per_notebook: dict[str, tuple[float, float]]) -> str:
    """What the grader noticed about the files: reading and loading problems, discovery notes."""
    lines = []
    for nb in per_notebook:
        info = (sub.run.notebooks if sub.run else {}).get(nb) or {}
        status = info.get("status") or Status(nb)
        problems = status.problems + status.load_errors + [f"malformed result: {p}" for p in info.get("stream", [])]
        if problems:  # a notebook that was not submitted or refused is said once by the report (NotebookReport.not_graded)
            lines.append(f"{SERIES[nb]}:")
        lines += [f"  - {str(problem)[:PROBLEM_CAP]}" for problem in problems[:PROBLEMS_SHOWN]]
        if len(problems) > PROBLEMS_SHOWN:
            lines.append(f"  - ... and {len(problems) - PROBLEMS_SHOWN} more")
    lines += [f"note: {n}" for n in sub.notes]
    if sub.run and sub.run.worker_problems:
        lines += [f"grader: {p}" for p in sub.run.worker_problems]
    return "\n".join(lines)


def _written_tests(sub: Submission, notebooks: list[str]) -> tuple[list[dict], dict[str, str | None]]:
    """One pending entry per written question of the submitted notebooks (score 0 of 0), and the answers' texts."""
    from autograder.report import written

    tests, answers = [], {}
    for nb in notebooks:
        questions = written.questions_of(nb)
        if not questions:
            continue
        if sub.notebooks.get(nb) is None:
            continue  # not submitted or refused: the report says so once for the notebook (and the TAs' file: not answered)
        try:
            found, why = written.read_answers(sub.read(nb), nb)  # data only, read safely (autograder.grading.files)
        except OSError:
            found, why = {}, f"notebook {nb} could not be read (see the notes)"
        for q in questions:
            text = found.get(q.grade_id)
            ok, line = written.status_line(q, text, why)
            answers[q.grade_id] = text if ok else None
            tests.append(
                {
                    "name": f"written: {q.grade_id} (pending manual grading)",
                    "number": f"{nb}.{q.grade_id}",
                    "score": 0.0,
                    "max_score": 0.0,
                    "status": "passed" if ok else "failed",
                    "output": cap(line, TEST_OUTPUT_CAP),
                    "visibility": "visible",
                    "tags": [nb, q.grade_id, WRITTEN],
                }
            )
    return tests, answers


def build_results(sub: Submission, items: list[GradedItem], seconds: float, reveal_hidden: bool = False) -> dict:
    """Gradescope's results dict for one submission.

    A failed hidden test shows only what :func:`hidden_message` keeps, unless
    ``reveal_hidden`` (the instructor's ``--reveal-hidden``, after the deadline). Outputs
    follow :func:`feedback_report` (a shared cause said once, a function's first failure in
    full, the others one line), the top-level output is :func:`report_text`. Written
    answers are pending entries worth 0 (their points are a TA's). Every text field is
    bounded (:data:`TEST_OUTPUT_CAP`, :data:`OUTPUT_CAP`).
    """
    tests, per_notebook = [], {}
    graded_names = {item.case.function for item in items}
    for number, item in enumerate(items, start=1):
        case, verdict = item.case, item.verdict
        score = case.points if verdict.passed else 0.0
        hidden = case.visibility == "hidden"
        if verdict.passed:
            output = ""
        elif hidden and not reveal_hidden:
            output = hidden_message(item, graded_names)
        else:
            output = verdict.message
        tests.append(
            {
                "name": f"{case.notebook} {case.function}: {case.title}" + (" (hidden test)" if hidden else ""),
                "number": f"{case.notebook}.{number}",
                "score": score,
                "max_score": case.points,
                "status": "passed" if verdict.passed else "failed",
                "output": cap(printable(output), TEST_OUTPUT_CAP),
                "visibility": "visible" if case.visibility == "public" else "after_published",
                "tags": [case.notebook, case.function, case.visibility],
            }
        )
        got, top = per_notebook.get(case.notebook, (0.0, 0.0))
        per_notebook[case.notebook] = (got + score, top + case.points)
    written_tests, answers = _written_tests(sub, list(per_notebook))
    tests += written_tests
    report = feedback_report(tests)
    for test, output in zip(tests, report.outputs):
        test["output"] = cap(output, TEST_OUTPUT_CAP)
    notes = cap(_notes(sub, per_notebook), OUTPUT_CAP)
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(seconds, 2),
        "output": cap(printable(report_text(report, notes)), OUTPUT_CAP),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student_output": printable((sub.run.output if sub.run else "")[-4000:]),
            "reveal_hidden": reveal_hidden,
            "notes": printable(notes),
            "written_answers": answers,
        },
    }


def grade_submissions(
    folders: dict[str, Path],
    registry: Registry | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
    verbose: bool = False,
    progress=None,
    reveal_hidden: bool = False,
) -> dict[str, dict]:
    """Grade several submissions (name -> folder); returns name -> results dict."""
    start = time.monotonic()
    registry = registry or load_registry(graded_notebooks())
    series = sorted({c.notebook for c in registry.cases})
    seeds = grading_seeds(registry)
    references = load_references(registry, seeds)
    subs = []
    for name, folder in folders.items():
        subs.append(Submission.find(name, folder, series))

    with WorkerPool(registry, limits, jobs, seeds) as workers:

        def run(sub: Submission) -> Submission:
            present, unreadable = {}, {}
            for nb, path in sub.notebooks.items():
                if path is None:
                    continue
                try:
                    present[nb] = sub.read(nb)  # regular files inside the folder only (autograder.grading.files)
                except OSError as exc:
                    unreadable[nb] = {"status": Status(nb, problems=[str(exc)], invalid=True), "end": End()}
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
            results[sub.name] = build_results(sub, items_by_sub[sub.name], elapsed / max(1, len(subs)), reveal_hidden)
        except Exception as exc:  # noqa: BLE001
            results[sub.name] = {
                "score": 0.0, "max_score": registry.points(), "tests": [], "output": f"grader error: {type(exc).__name__}", "error": f"{type(exc).__name__}: {exc}"[:500],
            }  # fmt: skip
    return results
