"""The per-function report of one submission: one source for results.json's outputs and the Markdown feedback.

Built from the verdicts' data (each test entry's ``extra_data``: the case's function,
visibility and failure cause), never by reading the messages back: a cause shared by
several tests (a stub, a missing name, a callee that fails its own checks, a notebook
that was not graded) is said once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autograder.course import SERIES

PROBLEM_CAP = 400
WRITTEN = "written"  # the tag (tags[2]) of a written answer's pending entry
SHORTENED = "\n  (shortened: the first failed test of `{function}` shows the details; fix that one first)"
_NAME = re.compile(r"\w{1,60}")


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


def _cause(test: dict, function: str, graded: set[str]) -> tuple[str, str] | None:
    """(key, line) when a failure has a cause shared by several tests, said once; else None.

    Read from the test's ``extra_data`` (the verdict's data). Only public tests name a
    cause: what a hidden test's process did is the student's to choose (see feedback_report).
    """
    extra = test.get("extra_data") or {}
    if extra.get("visibility") != "public":
        return None
    cause, about = extra.get("cause"), str(extra.get("about") or "")
    if cause == "stub":
        return "stub", f'not implemented yet: `{function}` still raises NotImplementedError; implement it, then run check("{function}").'
    if cause == "callee" and about in graded and about != function:
        if extra.get("callee_stub"):
            return f"callee:{about}", f"this uses your `{about}`, which is not implemented yet: implement `{about}` first."
        return f"callee:{about}", f"this uses your `{about}`, which fails its own checks: fix `{about}` first."
    if cause == "missing":
        name = about if _NAME.fullmatch(about) else function
        close = str(extra.get("close") or "")
        did_you_mean = f"; did you mean `{close}`?" if _NAME.fullmatch(close) else "."
        return f"missing:{name}", f"`{name}` is not defined in your notebook{did_you_mean} Keep the graded names and signatures exactly as given."
    return None


def feedback_report(tests: list[dict]) -> Report:
    """The report of one submission, from its results' tests: per notebook and function the
    score, shared causes said once (a stub, a missing name, a callee that fails, a notebook
    that was not graded), the first other failure in full and the rest one line each.

    A failed hidden test is folded into a shared cause its function's public tests show
    (that cause is known from the visible phase); otherwise it is listed with its own
    (hidden) message. ``outputs`` rewrites each test's output to match: applied to its own
    result it changes nothing, so results.json and the Markdown made later from it say the
    same things.
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
        found = {i: _cause(tests[i], function, graded) for i in failed}
        for key, line in filter(None, found.values()):  # a "did you mean" said in one test is said for all
            if key not in causes or ("did you mean" in line and "did you mean" not in causes[key]):
                causes[key] = line
        shared = next(iter(causes), None)
        for i in failed:
            hidden = ((tests[i].get("extra_data") or {}).get("visibility")) == "hidden"
            key = found[i][0] if found[i] else (shared if hidden and shared else None)
            if key:
                outputs[i] = causes[key]
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


