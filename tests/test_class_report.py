"""The class report (autograder/report/class_report.py) on a synthetic class graded once.

40 students hand in notebooks 01-02 (tests/synthetic_class.py): four planted mistakes given
to 12, 8, 4 (a stub) and 3 students, one error whose text is hostile markup, two blank
releases, ten correct; one public test is broken (its reference changed, so even the
solutions fail it). The report must rank the planted mistakes' tests and causes by those
shares, flag the broken test, keep student text escaped and names out unless asked, and
open in a real browser with its figures.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from autograder.grading.registry import load_registry
from autograder.report import class_report
from autograder.report.class_report import analyse, read_test, top_causes, write_class_report
from tests.synthetic_class import BROKEN_CASE, HOSTILE_TEXT, NOTEBOOKS, PLAN, build_class, grade_class

pytestmark = pytest.mark.slow
SHARES = {label: count for label, _, _, _, count in PLAN}
N = sum(SHARES.values())
BLANK = SHARES["blank"]
PLANTED = {function: (label, SHARES[label]) for label, _, function, _, _ in PLAN if function}
HOSTILE_NAME = "<i>mallory&co"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class_report")
    who = build_class(base / "class")
    last = sorted(n for n, label in who.items() if label == "correct")[-1]
    (base / "class" / last).rename(base / "class" / HOSTILE_NAME)  # a student's name is their text too
    who[HOSTILE_NAME] = who.pop(last)
    results = grade_class(base / "class", base / "results.json")
    registry = load_registry(NOTEBOOKS)
    anonymous = write_class_report(results, base / "anonymous", registry=registry)
    named = write_class_report(results, base / "named", names=True, registry=registry)
    return who, results, analyse(results, registry), anonymous, named


def cases_of(report, function):
    return [t for t in report.tests if t.function == function]


def test_the_class_is_as_planned(graded):
    who, results, report, _, _ = graded
    assert len(report.students) == N == len(results) and report.failed_grading == 0
    assert all(results[name]["score"] == 0 for name, label in who.items() if label == "blank")


def test_planted_mistakes_rank_their_tests_by_share(graded):
    """The lowest pass rate among a function's tests is exactly (N - its share - blanks) / N."""
    _, _, report, _, _ = graded
    lowest = {}
    for fn in report.functions:
        rates = [t.pass_rate for t in cases_of(report, fn.function) if t.case != BROKEN_CASE]
        lowest[fn.function] = min(rates)
        share = PLANTED[fn.function][1] if fn.function in PLANTED else 0
        assert lowest[fn.function] == pytest.approx((N - share - BLANK) / N), fn.function
    by_rate = sorted(PLANTED, key=lambda f: lowest[f])
    assert by_rate == sorted(PLANTED, key=lambda f: -PLANTED[f][1])  # softmax (12) < tokenize (8) < encode (4) < sampler (3) < cosine (1)
    ranked = sorted((t for t in report.tests if t.case != BROKEN_CASE), key=lambda t: t.pass_rate)
    assert [t.function for t in ranked[:3]] == ["softmax"] * 3  # the largest share's tests come first


def test_causes_rank_by_share(graded):
    _, _, report, _, _ = graded
    expected = {
        "softmax": ("wrong", 12),
        "tokenize": ("wrong", 8),
        "encode": ("stub", 4 + BLANK),
        "sample_categorical": ("wrong", 3),
        "cosine_similarity": ("error", 1),
    }
    for fn in report.functions:
        if fn.function in expected:
            cause, students = expected[fn.function]
            top = [c for c in fn.causes if c.cause != "stub"] if cause != "stub" else fn.causes
            assert (top[0].cause, top[0].students) == (cause, students), fn.function
            if cause == "wrong":
                assert top[0].hint and top[0].hint in {t.hint for t in cases_of(report, fn.function)}
    order = [
        fn.function for fn, c in top_causes(report, 40) if fn.function != "build_vocab" and c.cause != "stub" or fn.function == "encode"
    ]
    firsts = list(dict.fromkeys(order))
    assert firsts[:5] == ["softmax", "tokenize", "encode", "sample_categorical", "cosine_similarity"]


def test_the_broken_test_is_flagged_first(graded):
    _, _, report, _, _ = graded
    nobody = [f for f in report.flags if f.kind == "nobody passes"]
    assert [f.subject for f in nobody] == [BROKEN_CASE]
    assert report.flags[0].subject == BROKEN_CASE


def test_stub_flag_names_the_function_students_skipped(graded):
    _, _, report, _, _ = graded
    stubs = [f for f in report.flags if f.kind == "left as a stub"]
    assert [f.subject for f in stubs] == ["01 encode"]  # every other stub is a blank notebook's
    encode = next(fn for fn in report.functions if fn.function == "encode")
    assert (encode.stubs, encode.blank) == (4 + BLANK, BLANK)


def test_hidden_case_easier_than_its_public_twin_is_flagged(graded):
    """The planted softmax without the max shift passes the hidden shift-invariance case (moderate scores)
    but fails its public twin (large scores): the self-check is the harder one here."""
    _, _, report, _, _ = graded
    twin = next(t for t in report.tests if t.case == "02/softmax/shift_invariance")
    assert twin.twin == "02/softmax/stable_at_large_scores"
    assert twin.twin_gap == pytest.approx(12 / N)
    twins = {f.subject for f in report.flags if f.kind == "hidden vs public twin"}
    assert "02/softmax/shift_invariance" in twins
    assert not any(s.startswith("01/build_vocab/") for s in twins)  # their twin is the broken test: said once, as "nobody passes"
    assert all(t.twin == "" for t in report.tests if t.visibility == "public")
    assert all(t.twin.startswith(f"{t.notebook}/{t.function}/") for t in report.tests if t.visibility == "hidden")


def test_discrimination_is_the_point_biserial_correlation(graded):
    """Against the textbook formula r = (M1 - M0) / s * sqrt(p q), from the results' raw fields."""
    _, results, report, _, _ = graded
    names = sorted(results)
    rows = {name: {t["name"]: t for t in results[name]["tests"]} for name in names}
    index = class_report._case_index(load_registry(NOTEBOOKS))
    name_of = {read_test(test, index).case: name for name, test in rows[names[0]].items() if read_test(test, index)}
    checked = 0
    for item in report.tests:
        test_name = name_of[item.case]
        passed = [rows[n][test_name]["status"] == "passed" for n in names]
        rest = [results[n]["score"] - rows[n][test_name]["score"] for n in names]
        p = sum(passed) / len(names)
        mean = sum(rest) / len(rest)
        s = (sum((r - mean) ** 2 for r in rest) / len(rest)) ** 0.5
        if p in (0, 1) or s == 0:
            assert item.discrimination is None
            continue
        m1 = sum(r for r, ok in zip(rest, passed) if ok) / sum(passed)
        m0 = sum(r for r, ok in zip(rest, passed) if not ok) / (len(names) - sum(passed))
        assert item.discrimination == pytest.approx((m1 - m0) / s * (p * (1 - p)) ** 0.5), item.case
        checked += 1
    assert checked >= 20


def test_student_text_is_escaped_and_names_only_on_request(graded):
    who, _, report, (anonymous_html, anonymous_csv), (named_html, _) = graded
    cosine = next(fn for fn in report.functions if fn.function == "cosine_similarity")
    examples = [x for c in cosine.causes for x in c.examples]
    assert examples == [f"ValueError: {HOSTILE_TEXT}"]  # the student's own error text, one example, not attributed
    for path in (anonymous_html, named_html):
        page = path.read_text()
        assert "<script" not in page and "<i>" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    anonymous = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", anonymous_html.read_text()) + anonymous_csv.read_text()  # base64 may spell a name
    assert not any(name in anonymous for name in who if name.startswith("s0")) and "mallory" not in anonymous
    named = named_html.read_text()
    assert all(f"<td>{name}</td>" in named for name in who if name.startswith("s0"))
    assert "&lt;i&gt;mallory&amp;co" in named


def test_items_csv_has_every_function_and_test(graded):
    _, _, report, (_, items_csv), _ = graded
    with open(items_csv) as fh:
        rows = list(csv.DictReader(fh))
    registry = load_registry(NOTEBOOKS)
    assert sorted(r["test"] for r in rows if r["level"] == "test") == sorted(c.id for c in registry.cases)
    assert {(r["notebook"], r["function"]) for r in rows if r["level"] == "function"} == {(c.notebook, c.function) for c in registry.cases}
    rates = {r["test"]: float(r["pass_rate"]) for r in rows if r["level"] == "test"}
    assert rates[BROKEN_CASE] == 0 and all(rates[t.case] == pytest.approx(t.pass_rate, abs=1e-3) for t in report.tests)
    broken = next(r for r in rows if r["test"] == BROKEN_CASE)
    assert "nobody passes" in broken["flags"]
    encode = next(r for r in rows if r["level"] == "function" and r["function"] == "encode")
    assert (encode["top_cause"], encode["top_cause_students"], encode["stubs"]) == ("stub", str(4 + BLANK), str(4 + BLANK))


def test_report_opens_in_chromium_with_its_figures(graded):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium")
    _, _, _, (page_path, _), _ = graded
    requests = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate("Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight])")
            flags = page.locator("td.flag").count()
        finally:
            browser.close()
    assert [i[0] for i in images] == ["fig-histogram", "fig-pass_rates", "fig-heatmap"]
    assert all(done and w > 0 and h > 0 for _, done, w, h in images), images
    assert flags >= 3
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # one offline file


# --------------------------------------------------------------------------- #
# The adapter and the written questions, on hand-made results (no grading)
# --------------------------------------------------------------------------- #


def test_adapter_prefers_extra_data_and_hidden_tests_carry_no_student_text():
    base = {
        "name": "02 softmax: whatever",
        "score": 0.0,
        "max_score": 1.0,
        "status": "failed",
        "output": "TypeError: boom",
        "tags": ["02", "softmax", "public"],
    }
    old = read_test(base)
    assert (old.cause, old.student_error, old.notebook, old.function) == ("error", "TypeError: boom", "02", "softmax")
    extra = {
        "case": "02/softmax/x",
        "notebook": "02",
        "function": "softmax",
        "visibility": "hidden",
        "cause": "timeout",
        "hint": "h",
        "student_error": "leak",
    }
    new = read_test({**base, "extra_data": extra})
    assert (new.case, new.visibility, new.cause, new.hint, new.student_error) == ("02/softmax/x", "hidden", "timeout", "h", "")
    public = read_test({**base, "extra_data": {**extra, "visibility": "public", "cause": "wrong"}})
    assert (public.cause, public.student_error) == ("wrong", "leak")
    assert read_test({**base, "tags": ["03", "q03_gradient", "written"]}) is None


@pytest.mark.parametrize(
    "output, cause",
    [
        ('not implemented yet: `softmax` still raises NotImplementedError; implement it, then run check("softmax").', "stub"),
        ("this uses your `softmax`, which fails its own checks: fix `softmax` first.", "callee"),
        ("`softmax` is not defined in your notebook. Keep the graded names", "missing"),
        ("notebook 02 (02_sampling.ipynb) was not found in the submission, so this test scored 0.", "not_submitted"),
        ("not run: grading 02_sampling.ipynb went past its time limit (an infinite loop, or very slow code?).", "timeout"),
        ("failed (hidden test): your code raised ValueError in `softmax`.", "error"),
        ("failed (hidden test): wrong result.\n  hint: h", "wrong"),
        ("expected 26 items, got 21.", "wrong"),
        ("ValueError: refused: time limit was not found in the submission", "error"),  # the student's words are not phrases
        ("grader error: the solution's result is missing", "grader_error"),
    ],
)
def test_cause_from_the_graders_words(output, cause):
    assert class_report.cause_from_output("failed", 0.0, 1.0, output) == cause


def test_written_questions_counted_with_lengths():
    def student(answer):
        return {
            "score": 1.0, "max_score": 1.0,
            "tests": [
                {"name": "03 make_pairs: t", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "", "tags": ["03", "make_pairs", "public"]},
                {"name": "written: q03_gradient (pending manual grading)", "score": 0.0, "max_score": 0.0, "status": "passed" if answer else "failed", "output": "", "tags": ["03", "q03_gradient", "written"]},
            ],
            "extra_data": {"written_answers": {"q03_gradient": answer}},
        }  # fmt: skip

    report = analyse({"a": student("x" * 10), "b": student("y" * 30), "c": student(None)}, load_registry(["03"]))
    (written,) = report.written
    assert (written.grade_id, written.notebook, written.answered, written.asked, sorted(written.lengths)) == (
        "q03_gradient",
        "03",
        2,
        3,
        [10, 30],
    )
    assert "q03_gradient" in class_report.render_html(report)


def test_results_files_round_trip(graded, tmp_path):
    """grade-all keeps results as JSON: the report reads them back the same."""
    _, results, report, _, _ = graded
    again = analyse(json.loads(json.dumps(results)), load_registry(NOTEBOOKS))
    assert [(t.case, t.pass_rate, t.discrimination) for t in again.tests] == [(t.case, t.pass_rate, t.discrimination) for t in report.tests]
