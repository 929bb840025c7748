"""The class report: item analysis of a whole class's results, for the instructor.

    grade-all ROOT --csv grades.csv [--names]   # also writes report.html and items.csv beside the CSV

What it answers: which tests most students fail and why (a misleading instruction, a
broken test, a topic taught too thinly), which hidden tests the self-check does not
prepare for, which functions are left as stubs. From every student's results dict:

- per notebook and function the score distribution (mean, quartiles, full and zero marks);
- per test its pass rate, its discrimination (the point-biserial correlation of passing it
  with the rest of the student's score: near 0 or negative, the test measures something
  other than the rest of the course does), public or hidden, and its public twin;
- per function the most common failure causes, grouped by (cause, hint), with counts and
  two anonymised examples of the students' own error text (public tests only);
- flags: tests (almost) nobody passes, tests everybody passes, hidden tests whose pass rate
  differs most from their public twin's, tests with negative discrimination, functions most
  often left as stubs;
- the written questions with answer counts and lengths.

``report.html`` is one offline file: the figures (matplotlib, Agg) are embedded as base64
PNG and every text that a student controls is escaped with :func:`html.escape`. Student
identities appear only with ``names=True`` (a per-student score table); ``items.csv``
never holds them.

Results are read through one adapter, :func:`read_test`: it uses a test's
``extra_data`` (case, notebook, function, visibility, cause, hint, student_error) when the
grader wrote it, and otherwise derives the same fields from the older ones (tags, status,
score, output; the case id and hint from the suites by the test's name).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

WRITTEN = "written"  # tags[2] of a written answer's pending entry (autograder.grading.grade.WRITTEN)
CAUSES = ("passed", "partial", "wrong", "stub", "missing", "callee", "load_error", "error", "timeout", "not_submitted", "grader_error")
NOBODY = 0.05  # a pass rate at or below this: "(almost) nobody passes"
TWIN_GAP = 0.15  # a hidden test flagged when its pass rate is this far below (or above) its public twin's
FLAGS_SHOWN = 8  # entries per flag list
EXAMPLE_CHARS = 200  # characters of one example of a student's error text
HINTED = {"wrong", "partial", "error"}  # causes grouped by (cause, hint); the others by cause alone


# --------------------------------------------------------------------------- #
# Reading results: one adapter for the shared contract and the older fields
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TestResult:
    """One test of one student, in the report's terms."""

    case: str  # the case id "NN/function/name" (or the test's name when no suite knows it)
    notebook: str
    function: str
    visibility: str  # "public" | "hidden"
    title: str
    score: float
    max_score: float
    cause: str  # one of CAUSES
    hint: str = ""
    student_error: str = ""  # the student's own error text (public tests only; data, never markup)

    @property
    def passed(self) -> bool:
        return self.cause == "passed"


_NAME = re.compile(r"^(\d\d) (\w+): (.*?)( \(hidden test\))?$", re.S)
_ERROR_LINE = re.compile(r"^(?:[A-Z]\w*(?:Error|Exception|Exit|Interrupt)|MissingDefinition)\b")


def cause_from_output(status: str, score: float, max_score: float, output: str) -> str:
    """The cause of a verdict, derived from the grader's own words in a test's output.

    Used only when a result has no ``extra_data.cause`` (results made before the shared
    contract); the phrases are the ones autograder.grading.grade writes.
    """
    if status == "passed":
        return "passed"
    if 0 < score < max_score:
        return "partial"
    first = str(output).split("\n", 1)[0]
    if first.startswith("this uses your") or "which fails its own checks" in first:
        return "callee"
    if first.startswith("not implemented yet") or "still raises NotImplementedError" in first:
        return "stub"
    if "is not defined in your notebook" in first:
        return "missing"
    if _ERROR_LINE.match(first):  # "ValueError: ..." (the rest of the line is the student's text: not read for phrases)
        return "error"
    if "was not found in the submission" in first or "was not submitted" in first:
        return "not_submitted"
    if "could not be read" in first or "symbolic link" in first or "special file" in first or "refused" in first:
        return "load_error"
    if first.startswith("grader error"):
        return "grader_error"
    if "time limit" in first or "took more than" in first:
        return "timeout"
    if first.startswith("not run") or "your code raised" in first:
        return "error"
    return "wrong"


def _case_index(registry) -> dict[str, object]:
    """Test name (as build_results writes it) -> Case, for results without ``extra_data.case``."""
    index = {}
    for case in registry.cases:
        name = f"{case.notebook} {case.function}: {case.title}" + (" (hidden test)" if case.visibility == "hidden" else "")
        index[name] = case
    return index


def read_test(test: dict, index: dict | None = None) -> TestResult | None:
    """A results.json test entry as a :class:`TestResult`; None for a written answer's entry.

    Prefers ``extra_data`` (the shared contract); falls back to tags
    ``[notebook, function, public|hidden]``, status, score and output.
    """
    tags = list(test.get("tags") or [])
    if tags[2:3] == [WRITTEN]:
        return None
    extra = test.get("extra_data") or {}
    name = str(test.get("name", ""))
    parsed = _NAME.match(name)
    case = (index or {}).get(name)
    notebook = str(extra.get("notebook") or (tags[0] if tags else "") or (parsed.group(1) if parsed else ""))
    function = str(extra.get("function") or (tags[1] if len(tags) > 1 else "") or (parsed.group(2) if parsed else ""))
    visibility = str(
        extra.get("visibility")
        or (tags[2] if len(tags) > 2 else "")
        or ("hidden" if test.get("visibility") == "after_published" else "public")
    )
    score, max_score = float(test.get("score") or 0.0), float(test.get("max_score") or 0.0)
    cause = extra.get("cause")
    if cause not in CAUSES:
        cause = cause_from_output(str(test.get("status", "")), score, max_score, str(test.get("output", "")))
    hint = str(extra.get("hint") if "hint" in extra else (case.hint if case is not None else ""))
    student_error = ""
    # hidden tests never carry the student's text; a stub, a missing name or notebook is said in the grader's words
    if visibility == "public" and cause in ("wrong", "partial", "error", "timeout"):
        if "student_error" in extra:
            student_error = str(extra["student_error"])
        elif cause == "error":
            student_error = str(test.get("output", "")).split("\n", 1)[0]
    return TestResult(
        case=str(extra.get("case") or (case.id if case is not None else name)),
        notebook=notebook,
        function=function,
        visibility="hidden" if visibility == "hidden" else "public",
        title=case.title if case is not None else (parsed.group(3) if parsed else name),
        score=score,
        max_score=max_score,
        cause=cause,
        hint=hint,
        student_error=student_error[:500],
    )


# --------------------------------------------------------------------------- #
# The analysis
# --------------------------------------------------------------------------- #


@dataclass
class TestItem:
    """One test across the class."""

    case: str
    notebook: str
    function: str
    visibility: str
    title: str
    max_score: float
    hint: str
    passed: list[bool] = field(default_factory=list)  # per graded student, in the report's student order
    pass_rate: float = 0.0
    discrimination: float | None = None  # point-biserial r of passing with the rest of the score; None when undefined
    twin: str = ""  # hidden tests: the public case of the same function and kind
    twin_pass_rate: float | None = None

    @property
    def twin_gap(self) -> float | None:
        return None if self.twin_pass_rate is None else self.pass_rate - self.twin_pass_rate


@dataclass
class Cause:
    cause: str
    hint: str
    students: int  # students with at least one test of the function failed this way
    tests: int  # failed (student, test) pairs
    examples: list[str] = field(default_factory=list)  # up to two students' own error texts (anonymised, unescaped data)


@dataclass
class FunctionItem:
    notebook: str
    function: str
    max_score: float
    scores: list[float] = field(default_factory=list)  # per graded student
    stubs: int = 0  # students whose every test of this function failed as a stub (or not submitted)
    blank: int = 0  # of those, students who left every function of the notebook so
    causes: list[Cause] = field(default_factory=list)  # most students first

    def quartiles(self) -> tuple[float, float, float]:
        if len(self.scores) < 2:
            one = self.scores[0] if self.scores else 0.0
            return one, one, one
        q = statistics.quantiles(self.scores, n=4, method="inclusive")
        return q[0], q[1], q[2]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0


@dataclass
class Flag:
    kind: str  # "nobody passes", "everybody passes", "hidden vs public twin", "negative discrimination", "left as a stub"
    subject: str  # a case id or "NN function"
    detail: str  # the grader's words (numbers, case ids): no student text


@dataclass
class Written:
    grade_id: str
    notebook: str
    answered: int
    asked: int  # students whose notebook held the question
    lengths: list[int] = field(default_factory=list)  # characters per answer


@dataclass
class ClassReport:
    students: list[str]  # graded students (names: shown only with names=True)
    totals: list[float]
    max_score: float
    failed_grading: int  # students whose grading failed (no tests): not in the statistics
    tests: list[TestItem]
    functions: list[FunctionItem]
    written: list[Written]
    flags: list[Flag]


def _point_biserial(passed: list[bool], rest: list[float]) -> float | None:
    """Pearson's r between a 0/1 variable and a score: the point-biserial correlation (None when either is constant)."""
    n = len(passed)
    if n < 3:
        return None
    x = [1.0 if p else 0.0 for p in passed]
    mx, my = sum(x) / n, sum(rest) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in rest)
    if sxx == 0 or syy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, rest)) / (sxx * syy) ** 0.5


def _words(case_id: str) -> set[str]:
    return set(case_id.rsplit("/", 1)[-1].split("_")) - {"and", "the", "of", "a", "other", "hidden", "is", "to"}


def public_twin(hidden, public: list) -> str:
    """The public case a hidden case is the twin of: same function and kind.

    The kind is read from the suites: a public case sharing the hidden one's verify step is
    its twin; else the public case of the same function with the same hint and the most
    words of its name in common (``large_and_infinite_scores_other_tables`` ->
    ``large_and_infinite_scores``); else the one with the same hint; else the function's
    first public case. ``hidden`` and ``public`` are Cases or TestItems (``.case``/``.id``).
    """
    same = [p for p in public if p.function == hidden.function and p.notebook == hidden.notebook]
    if not same:
        return ""

    def ident(c) -> str:
        return getattr(c, "id", None) or c.case

    verify = getattr(hidden, "verify_fn", None)
    for p in same:
        if verify is not None and getattr(p, "verify_fn", None) is verify:
            return ident(p)
    words = _words(ident(hidden))

    def closeness(p) -> tuple:
        shared = len(words & _words(ident(p))) / max(1, len(words | _words(ident(p))))
        return (p.hint == hidden.hint, shared)

    return ident(max(same, key=closeness))  # max keeps the first of equals: the function's first public case


def analyse(results_by_student: dict[str, dict], registry=None) -> ClassReport:
    """The class report of ``results_by_student`` (name -> results dict, as grade-all keeps them)."""
    if registry is None:
        from autograder.grading.references import graded_notebooks
        from autograder.grading.registry import load_registry

        registry = load_registry(graded_notebooks())
    index = _case_index(registry)
    cases_by_id = {c.id: c for c in registry.cases}
    graded = {name: data for name, data in sorted(results_by_student.items()) if data.get("tests") and not data.get("error")}
    failed_grading = len(results_by_student) - len(graded)
    students = list(graded)
    per_student = {name: [t for t in (read_test(test, index) for test in data["tests"]) if t is not None] for name, data in graded.items()}
    totals = [sum(t.score for t in per_student[name]) for name in students]
    max_score = max((sum(t.max_score for t in per_student[name]) for name in students), default=0.0)

    items: dict[str, TestItem] = {}
    for name in students:
        for t in per_student[name]:
            items.setdefault(t.case, TestItem(t.case, t.notebook, t.function, t.visibility, t.title, t.max_score, t.hint))
    rows = {name: {t.case: t for t in per_student[name]} for name in students}
    for item in items.values():
        scores = []
        for name in students:
            t = rows[name].get(item.case)
            item.passed.append(bool(t and t.passed))
            scores.append(t.score if t else 0.0)
        n = len(students)
        item.pass_rate = sum(item.passed) / n if n else 0.0
        item.discrimination = _point_biserial(item.passed, [total - s for total, s in zip(totals, scores)])
    public = [i for i in items.values() if i.visibility == "public"]
    by_id = {i.case: i for i in items.values()}
    for item in items.values():
        if item.visibility != "hidden":
            continue
        hidden_case = cases_by_id.get(item.case)
        candidates = [cases_by_id[p.case] for p in public if p.case in cases_by_id]
        twin = public_twin(hidden_case, candidates) if hidden_case is not None and candidates else public_twin(item, public)
        if twin in by_id:
            item.twin, item.twin_pass_rate = twin, by_id[twin].pass_rate

    functions: dict[tuple[str, str], FunctionItem] = {}
    for item in items.values():
        fn = functions.setdefault((item.notebook, item.function), FunctionItem(item.notebook, item.function, 0.0))
        fn.max_score += item.max_score
    by_function = {name: {} for name in students}  # student -> (notebook, function) -> their tests of it
    for name in students:
        for t in per_student[name]:
            by_function[name].setdefault((t.notebook, t.function), []).append(t)
    stubbed = {name: {key for key, own in by_function[name].items() if all(t.cause == "stub" for t in own)} for name in students}
    for (nb, function), fn in functions.items():
        groups: dict[tuple[str, str], Cause] = {}
        others = [key for key in functions if key[0] == nb]
        for name in students:
            own = by_function[name].get((nb, function), [])
            fn.scores.append(sum(t.score for t in own))
            fn.stubs += (nb, function) in stubbed[name]
            fn.blank += all(key in stubbed[name] for key in others)
            seen = set()
            for t in (t for t in own if not t.passed):
                key = (t.cause, t.hint if t.cause in HINTED else "")  # a stub's or a missing notebook's hint explains nothing
                group = groups.setdefault(key, Cause(*key, 0, 0))
                group.tests += 1
                if key not in seen:
                    seen.add(key)
                    group.students += 1
                    if t.student_error and len(group.examples) < 2 and t.student_error[:EXAMPLE_CHARS] not in group.examples:
                        group.examples.append(t.student_error[:EXAMPLE_CHARS])
        fn.causes = sorted(groups.values(), key=lambda c: (-c.students, -c.tests, c.cause, c.hint))

    report = ClassReport(students, totals, max_score, failed_grading, list(items.values()), list(functions.values()), _written(graded), [])
    report.flags = flags(report)
    return report


def top_causes(report: "ClassReport", count: int = 10) -> list[tuple["FunctionItem", "Cause"]]:
    """The class's most common failure causes: (function, cause) by the number of students, most first."""
    pairs = [(fn, c) for fn in report.functions for c in fn.causes]
    return sorted(pairs, key=lambda p: (-p[1].students, -p[1].tests, p[0].notebook, p[0].function, p[1].cause))[:count]


def _written(graded: dict[str, dict]) -> list[Written]:
    """The written questions: how many students answered each and how long the answers are."""
    from autograder.report.written import QUESTIONS

    found: dict[str, Written] = {}
    for data in graded.values():
        answers = (data.get("extra_data") or {}).get("written_answers") or {}
        asked = {str(t["tags"][1]) for t in data["tests"] if list(t.get("tags") or [])[2:3] == [WRITTEN]}
        for grade_id in asked | set(answers):
            q = QUESTIONS.get(grade_id)
            w = found.setdefault(grade_id, Written(grade_id, q.notebook if q else "", 0, 0))
            w.asked += 1
            text = answers.get(grade_id)
            if isinstance(text, str):
                w.answered += 1
                w.lengths.append(len(text))
    return sorted(found.values(), key=lambda w: (w.notebook, w.grade_id))


def flags(report: ClassReport) -> list[Flag]:
    """What the instructor should look at first, most telling first within each kind."""
    out: list[Flag] = []
    n = len(report.students)
    if not n:
        return out
    nobody = sorted((t for t in report.tests if t.pass_rate <= NOBODY), key=lambda t: (t.pass_rate, t.case))
    out += [
        Flag(
            "nobody passes",
            t.case,
            f"{sum(t.passed)} of {n} students pass it ({t.visibility}): a broken test or reference, or a step the notebook does not teach?",
        )
        for t in nobody[:FLAGS_SHOWN]
    ]
    broken = {t.case for t in nobody}  # a twin nobody passes explains its hidden cases' gap: flagged once, above
    gaps = sorted(
        (t for t in report.tests if t.twin_gap is not None and abs(t.twin_gap) >= TWIN_GAP and t.twin not in broken),
        key=lambda t: (-abs(t.twin_gap), t.case),
    )
    out += [
        Flag(
            "hidden vs public twin",
            t.case,
            f"hidden pass rate {t.pass_rate:.0%} vs {t.twin_pass_rate:.0%} for its public twin {t.twin}: "
            + ("the self-check does not prepare for this case" if t.twin_gap < 0 else "the hidden case is easier than its self-check"),
        )
        for t in gaps[:FLAGS_SHOWN]
    ]
    negative = sorted(
        (t for t in report.tests if t.discrimination is not None and t.discrimination < 0), key=lambda t: (t.discrimination, t.case)
    )
    out += [
        Flag(
            "negative discrimination",
            t.case,
            f"r = {t.discrimination:.2f}: stronger students fail it more often than weaker ones (a misleading instruction?)",
        )
        for t in negative[:FLAGS_SHOWN]
    ]
    # a function is flagged when students who did other parts of its notebook left it as a stub
    stubs = sorted((f for f in report.functions if f.stubs > f.blank), key=lambda f: (-(f.stubs - f.blank), f.notebook, f.function))
    out += [
        Flag("left as a stub", f"{f.notebook} {f.function}", f"{f.stubs} of {n} students did not implement it"
             + (f" ({f.blank} of them left the whole notebook blank)" if f.blank else ""))
        for f in stubs[:FLAGS_SHOWN]
    ]  # fmt: skip
    everybody = [t for t in report.tests if t.pass_rate == 1.0]
    out += [Flag("everybody passes", t.case, f"all {n} students pass it: it separates no one") for t in everybody[:FLAGS_SHOWN]]
    if len(everybody) > FLAGS_SHOWN:
        out.append(Flag("everybody passes", "...", f"and {len(everybody) - FLAGS_SHOWN} more tests every student passes (see items.csv)"))
    return out


# --------------------------------------------------------------------------- #
# Output: items.csv and report.html
# --------------------------------------------------------------------------- #

ITEM_COLUMNS = [
    "level", "notebook", "function", "test", "title", "visibility", "max_score", "students",
    "mean", "q1", "median", "q3", "full_marks", "zero", "pass_rate", "discrimination",
    "public_twin", "twin_pass_rate", "stubs", "top_cause", "top_cause_hint", "top_cause_students", "flags",
]  # fmt: skip


def write_items_csv(report: ClassReport, path: Path) -> Path:
    """One row per function (level "function": the score distribution) and per test (level "test")."""
    from autograder.grading.batch import csv_cell

    flagged: dict[str, list[str]] = {}
    for f in report.flags:
        flagged.setdefault(f.subject, []).append(f.kind)
    n = len(report.students)

    def num(x, digits=3):
        return "" if x is None else round(x, digits)

    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ITEM_COLUMNS)
        for fn in report.functions:
            q1, med, q3 = fn.quartiles()
            top = fn.causes[0] if fn.causes else None
            row = {
                "level": "function", "notebook": fn.notebook, "function": fn.function, "max_score": fn.max_score, "students": n,
                "mean": num(fn.mean), "q1": num(q1), "median": num(med), "q3": num(q3),
                "full_marks": num(sum(s == fn.max_score for s in fn.scores) / n if n else None),
                "zero": num(sum(s == 0 for s in fn.scores) / n if n else None), "stubs": fn.stubs,
                "top_cause": top.cause if top else "", "top_cause_hint": top.hint if top else "", "top_cause_students": top.students if top else "",
                "flags": "; ".join(flagged.get(f"{fn.notebook} {fn.function}", [])),
            }  # fmt: skip
            writer.writerow([csv_cell(row.get(c, "")) for c in ITEM_COLUMNS])
            for t in (t for t in report.tests if t.notebook == fn.notebook and t.function == fn.function):
                row = {
                    "level": "test", "notebook": t.notebook, "function": t.function, "test": t.case, "title": t.title,
                    "visibility": t.visibility, "max_score": t.max_score, "students": n, "pass_rate": num(t.pass_rate),
                    "discrimination": num(t.discrimination), "public_twin": t.twin, "twin_pass_rate": num(t.twin_pass_rate),
                    "flags": "; ".join(flagged.get(t.case, [])),
                }  # fmt: skip
                writer.writerow([csv_cell(row.get(c, "")) for c in ITEM_COLUMNS])
    return path


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figures(report: ClassReport) -> dict[str, str]:
    """The report's figures as base64 PNG: score histogram, pass rate per test, notebook-by-function heat map."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    ax.hist(
        report.totals, bins=min(20, max(5, len(report.totals) // 2)), range=(0, report.max_score or 1), color="#4c72b0", edgecolor="white"
    )
    ax.set_xlabel(f"score (of {report.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title("Total score")
    out["histogram"] = _png(fig)

    tests = report.tests
    fig, ax = plt.subplots(figsize=(max(6.5, 0.09 * len(tests) + 2), 3.2))
    colors = ["#4c72b0" if t.visibility == "public" else "#dd8452" for t in tests]
    ax.bar(range(len(tests)), [t.pass_rate for t in tests], color=colors, width=0.85)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(-0.7, len(tests) - 0.3)
    ax.set_ylabel("pass rate")
    ax.set_xlabel("test (series order; blue public, orange hidden)")
    starts = {}
    for i, t in enumerate(tests):
        starts.setdefault(t.notebook, i)
    ax.set_xticks(list(starts.values()), [f"{nb}" for nb in starts])
    for x in starts.values():
        ax.axvline(x - 0.5, color="0.8", lw=0.8)
    ax.set_title("Pass rate per test")
    out["pass_rates"] = _png(fig)

    notebooks = sorted({f.notebook for f in report.functions})
    width = max((sum(f.notebook == nb for f in report.functions) for nb in notebooks), default=1)
    grid = [[float("nan")] * width for _ in notebooks]
    labels = [[""] * width for _ in notebooks]
    for r, nb in enumerate(notebooks):
        for c, f in enumerate([f for f in report.functions if f.notebook == nb]):
            grid[r][c] = f.mean / f.max_score if f.max_score else float("nan")
            labels[r][c] = f"{f.function}\n{grid[r][c]:.0%}"
    fig, ax = plt.subplots(figsize=(1.6 * width + 1.5, 0.7 * len(notebooks) + 1.2))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for r in range(len(notebooks)):
        for c in range(width):
            if labels[r][c]:
                ax.text(c, r, labels[r][c], ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(notebooks)), notebooks)
    ax.set_xticks([])
    ax.set_title("Mean share of points, per notebook and function")
    fig.colorbar(image, ax=ax, fraction=0.03)
    out["heatmap"] = _png(fig)
    return out


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _pct(x) -> str:
    return "" if x is None else f"{x:.0%}"


def render_html(report: ClassReport, names: bool = False, title: str = "Class report") -> str:
    """The report as one self-contained HTML page (inline CSS, base64 figures, no script, nothing fetched)."""
    n = len(report.students)
    figs = figures(report) if n else {}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title>",
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        "pre{white-space:pre-wrap;margin:0;font-size:12px;background:#f7f7f7}.n{text-align:right}.flag{color:#a00}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{n} students graded"
        + (f"; {report.failed_grading} could not be graded (see grades.csv)" if report.failed_grading else "")
        + (
            f". Mean score {statistics.fmean(report.totals):.1f} of {report.max_score:g}, median {statistics.median(report.totals):.1f}."
            if n
            else "."
        )
        + "</p>",
    ]
    out += ["<h2>Flags</h2>"]
    if report.flags:
        out += ["<table><tr><th>flag</th><th>test or function</th><th>why</th></tr>"]
        out += [f'<tr><td class="flag">{_e(f.kind)}</td><td>{_e(f.subject)}</td><td>{_e(f.detail)}</td></tr>' for f in report.flags]
        out += ["</table>"]
    else:
        out += ["<p>Nothing flagged.</p>"]
    for key, alt in (("histogram", "score histogram"), ("pass_rates", "pass rate per test"), ("heatmap", "notebook-by-function heat map")):
        if key in figs:
            out.append(f'<p><img id="fig-{key}" alt="{alt}" src="data:image/png;base64,{figs[key]}"></p>')
    causes = top_causes(report)
    if causes:
        out += [
            "<h2>Most common failure causes</h2>",
            "<table><tr><th>students</th><th>tests failed</th><th>function</th><th>cause</th><th>hint</th></tr>",
        ]
        out += [
            f"<tr><td class=n>{c.students}</td><td class=n>{c.tests}</td><td>{_e(fn.notebook)} {_e(fn.function)}</td><td>{_e(c.cause)}</td><td>{_e(c.hint)}</td></tr>"
            for fn, c in causes
        ]
        out += ["</table>"]
    out += ["<h2>Functions: score distribution and failure causes</h2>", "<table><tr><th>notebook</th><th>function</th><th>points</th>"
            "<th>mean</th><th>quartiles</th><th>full marks</th><th>zero</th><th>stubs</th><th>most common failure causes (students: cause, hint; examples of their errors)</th></tr>"]  # fmt: skip
    for fn in report.functions:
        q1, med, q3 = fn.quartiles()
        causes = []
        for c in fn.causes[:4]:
            text = f"<b>{c.students}</b>: {_e(c.cause)}" + (f" &mdash; {_e(c.hint)}" if c.hint else "")
            text += "".join(f"<pre>{_e(x)}</pre>" for x in c.examples)
            causes.append(text)
        out.append(
            f"<tr><td>{_e(fn.notebook)}</td><td>{_e(fn.function)}</td><td class=n>{fn.max_score:g}</td><td class=n>{fn.mean:.2f}</td>"
            f"<td class=n>{q1:g} / {med:g} / {q3:g}</td><td class=n>{_pct(sum(s == fn.max_score for s in fn.scores) / n if n else None)}</td>"
            f"<td class=n>{_pct(sum(s == 0 for s in fn.scores) / n if n else None)}</td><td class=n>{fn.stubs}</td><td>{'<br>'.join(causes)}</td></tr>"
        )
    out += ["</table>", "<h2>Tests</h2>", "<table><tr><th>test</th><th>title</th><th>kind</th><th>points</th><th>pass rate</th>"
            "<th>discrimination</th><th>public twin</th><th>twin's pass rate</th></tr>"]  # fmt: skip
    for t in report.tests:
        disc = "" if t.discrimination is None else f"{t.discrimination:.2f}"
        out.append(
            f"<tr><td>{_e(t.case)}</td><td>{_e(t.title)}</td><td>{_e(t.visibility)}</td><td class=n>{t.max_score:g}</td>"
            f"<td class=n>{_pct(t.pass_rate)}</td><td class=n>{disc}</td><td>{_e(t.twin)}</td><td class=n>{_pct(t.twin_pass_rate)}</td></tr>"
        )
    out += ["</table>", "<h2>Written questions</h2>"]
    if report.written:
        out += [
            "<table><tr><th>question</th><th>notebook</th><th>answered</th><th>median length (characters)</th><th>shortest</th><th>longest</th></tr>"
        ]
        for w in report.written:
            lengths = w.lengths or [0]
            out.append(
                f"<tr><td>{_e(w.grade_id)}</td><td>{_e(w.notebook)}</td><td class=n>{w.answered} of {w.asked}</td>"
                f"<td class=n>{statistics.median(lengths):g}</td><td class=n>{min(lengths)}</td><td class=n>{max(lengths)}</td></tr>"
            )
        out += ["</table>", "<p>The answers themselves are in <code>written/</code> beside the CSV, for the TAs.</p>"]
    else:
        out += ["<p>No written question in the graded notebooks.</p>"]
    if names:
        out += ["<h2>Students</h2>", "<table><tr><th>student</th><th>score</th></tr>"]
        out += [
            f"<tr><td>{_e(s)}</td><td class=n>{total:g}</td></tr>"
            for s, total in sorted(zip(report.students, report.totals), key=lambda p: (-p[1], p[0]))
        ]
        out += ["</table>"]
    out += ["</body></html>"]
    return "\n".join(out) + "\n"


def write_class_report(results_by_student: dict[str, dict], out_dir: Path, names: bool = False, registry=None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``items.csv`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = analyse(results_by_student, registry)
    html_path, csv_path = out_dir / "report.html", out_dir / "items.csv"
    html_path.write_text(render_html(report, names=names))
    write_items_csv(report, csv_path)
    return html_path, csv_path
