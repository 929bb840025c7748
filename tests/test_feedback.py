"""Feedback a student reads in a minute: per function its score, the first failure in full,
the others one line each, one line per shared cause (a stub, a missing notebook, a callee),
locations by function name, "did you mean", and written answers collected for the TAs.

One small class is graded once (a struggling student, a renamed function, a student with
written answers); the Markdown feedback and results.json are rendered from one report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mistune
import pytest

from autograder.course import RELEASE, SERIES, SOLUTIONS
from autograder.grading.batch import feedback_markdown, write_written_answers
from autograder.grading.grade import SHORTENED, WRITTEN, feedback_report
from autograder.grading.registry import load_registry
from autograder.report.written import PLACEHOLDER, QUESTIONS
from tests.conftest import grade_folders

WRONG = {  # plausible mistakes: softmax without the shift, a causal mask that hides the diagonal
    "softmax": '''def softmax(s, axis=-1):
    """Softmax of the scores (forgot the max shift)."""
    e = np.exp(np.asarray(s, dtype=float))
    return e / np.sum(e, axis=axis, keepdims=True)
''',
    "causal_mask": '''def causal_mask(T):
    """Lower triangle (but without the diagonal)."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
''',
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _write(dest: Path, stem: str, cells: list[dict]) -> None:
    nb = json.loads((RELEASE / f"{stem}.ipynb").read_text())
    nb["cells"] = cells
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1))


def make_struggling(dest: Path) -> dict[str, str]:
    """The release with every third graded function filled in from solutions/ (and 02's generate and
    07's MiniGPT, whose callees stay stubs), two wrong ones (WRONG) and the rest left as stubs.
    Returns "NN:function" -> "solution" | "wrong" | "stub"."""
    kinds, index = {}, 0
    for nb, stem in SERIES.items():
        solution = {_grade_id(c): c for c in _cells(SOLUTIONS / f"{stem}.ipynb") if c["cell_type"] == "code" and _grade_id(c)}
        cells = []
        for cell in _cells(RELEASE / f"{stem}.ipynb"):
            name = _grade_id(cell)
            if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                key = f"{nb}:{name}"
                if name in WRONG:
                    cell, kinds[key] = {**cell, "source": WRONG[name]}, "wrong"
                elif index % 3 == 0 or key in ("02:generate", "07:MiniGPT"):
                    cell, kinds[key] = {**cell, "source": solution[name]["source"]}, "solution"
                else:
                    kinds[key] = "stub"
                index += 1
            cells.append(cell)
        _write(dest, stem, cells)
    return kinds


RAISES = '''def dot_scores(U, v):
    """Scores (a bug: raises)."""
    scale = 2.0
    raise ValueError("no scores today")
'''
ANSWER_03 = "The gradient is $\\hat y - \\mathbf e_y$.\n```\n# Injected heading\n<script>alert(1)</script>\n"


def make_renamed(dest: Path) -> None:
    """Notebook 02 from solutions/ with cosine_similarity renamed cosine_sim and a dot_scores that raises."""
    cells = []
    for cell in _cells(SOLUTIONS / "02_sampling.ipynb"):
        if _grade_id(cell) == "cosine_similarity":
            cell = {**cell, "source": "".join(cell["source"]).replace("def cosine_similarity(", "def cosine_sim(")}
        elif _grade_id(cell) == "dot_scores":
            cell = {**cell, "source": RAISES}
        cells.append(cell)
    _write(dest, "02_sampling", cells)


def make_writer(dest: Path) -> None:
    """Notebooks 03 and 04 of the release (stubs), an answer to q03 (with Markdown that tries to
    break out) and q04 left as YOUR ANSWER HERE; 05 and 06 not submitted."""
    for stem in ("03_training", "04_context_averaging"):
        cells = []
        for cell in _cells(RELEASE / f"{stem}.ipynb"):
            if _grade_id(cell) == "q03_gradient":
                cell = {**cell, "source": ANSWER_03}
            cells.append(cell)
        _write(dest, stem, cells)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    kinds = make_struggling(root / "struggling")
    make_renamed(root / "renamed")
    make_writer(root / "writer")
    results = grade_folders({name: root / name for name in ("struggling", "renamed", "writer")})
    return kinds, results


def _failing_functions(results: dict) -> dict[tuple[str, str], list[dict]]:
    out = {}
    for test in results["tests"]:
        if test["tags"][2] != WRITTEN and test["status"] != "passed":
            out.setdefault((test["tags"][0], test["tags"][1]), []).append(test)
    return out


def test_struggling_student_reads_one_screen(graded):
    kinds, results = graded
    md = feedback_markdown("struggling", results["struggling"])
    assert len(md.splitlines()) < 150, len(md.splitlines())
    failing = _failing_functions(results["struggling"])
    assert {f"{nb}:{fn}" for nb, fn in failing} >= {k for k, v in kinds.items() if v != "solution"}
    table = {m.group(1): m.group(0) for m in re.finditer(r"^\| \S+ \| `(\w+)` \| .*$", md, re.M)}
    for (nb, function), tests in failing.items():
        assert "✘" in table[function], function  # every failing function is named, with what to fix
        if tests[0]["output"].startswith("not implemented yet"):
            assert f'run check("{function}")' in table[function]
            assert len({t["output"] for t in tests}) == 1  # one cause, said once: every test says the same line
        elif not tests[0]["output"].startswith("this uses your"):
            # its own failure: the first failed test in full under the function's heading
            section = md.split(f"### {nb} {function.replace('_', chr(92) + '_')}: ", 1)[1].split("###", 1)[0]
            assert tests[0]["output"] in section and tests[0]["name"].split(": ", 1)[1] in section
            for other in tests[1:]:
                assert other["output"].count("\n") <= 1 and "shortened" in other["output"]
    for key in (k for k, v in kinds.items() if v == "stub"):
        assert md.count(f"not implemented yet: `{key[3:]}` still raises") == (2 if key[3:] == "generate" else 1), key  # once per function
    # results.json says the same things: its output names each function's cause or first failure
    for (nb, function), tests in failing.items():
        assert tests[0]["output"].split("\n", 1)[0] in results["struggling"]["output"]


def test_a_caller_of_a_stub_is_told_once(graded):
    _, results = graded
    failing = _failing_functions(results["struggling"])
    for nb, function in (("02", "generate"), ("07", "MiniGPT")):  # solutions whose callees are stubs
        tests = failing.get((nb, function), [])  # none when the suite keeps its points (one mistake costs once)
        assert all(t["output"].startswith("this uses your `") for t in tests), [t["output"][:200] for t in tests]


def _test(function: str, output: str, title: str = "a case", visibility: str = "public", nb: str = "02", cause: str = "wrong", **detail) -> dict:
    """A failed test entry; its cause is data (extra_data), as build_results writes it."""
    name = f"{nb} {function}: {title}" + (" (hidden test)" if visibility == "hidden" else "")
    extra = {"case": f"{nb}/{function}/{title}", "notebook": nb, "function": function, "visibility": visibility, "cause": cause, "hint": "", **detail}
    return {"name": name, "score": 0.0, "max_score": 1.0, "status": "failed", "output": output, "tags": [nb, function, visibility], "extra_data": extra}


def test_shared_causes_are_said_once():
    """Causes are the verdicts' data; a hidden test is folded into a cause its function's public tests show."""
    fails = "softmax of the scores contains nan.\n  called: softmax(...)"
    tests = [
        _test("softmax", fails, "large scores"),
        _test("softmax", "wrong sum.\n  hint: normalize", "rows"),
        _test("softmax", "failed (hidden test): wrong result.\n  hint: shift", "torch", "hidden"),
        _test("next_token_probs", "expected 0.5, got nan.\n  this uses your softmax, which fails its own checks; fix softmax first.", cause="callee", about="softmax"),
        _test("next_token_probs", "failed (hidden test).", visibility="hidden", cause="callee"),
        _test("generate", "not implemented yet: `sample_categorical` still raises ...\n  called: generate(...)", cause="callee", about="sample_categorical", callee_stub=True),
        _test("generate", "failed (hidden test).", visibility="hidden", cause="stub"),
        _test("sample_categorical", "not implemented yet: `sample_categorical` still raises NotImplementedError (replace the stub with your code).\n  at", cause="stub"),
        _test("cosine_similarity", "failed (hidden test).", visibility="hidden", cause="missing"),
        _test("cosine_similarity", "`cosine_similarity` is not defined in your notebook; did you mean `cos_sim`? Keep ...", cause="missing", about="cosine_similarity", close="cos_sim"),
    ]
    report = feedback_report(tests)
    functions = {fn.function: fn for fn in report.notebooks[0].functions}
    assert functions["softmax"].first == ("large scores (1 pt)", fails) and functions["softmax"].causes == []
    assert functions["softmax"].others == ["rows: wrong sum.", "torch (hidden test): wrong result."]
    assert report.outputs[1] == "wrong sum." + SHORTENED.format(function="softmax")
    assert functions["next_token_probs"].causes == ["this uses your `softmax`, which fails its own checks: fix `softmax` first."]
    assert functions["next_token_probs"].first is None
    assert functions["generate"].causes == ["this uses your `sample_categorical`, which is not implemented yet: implement `sample_categorical` first."]
    assert functions["sample_categorical"].causes[0].startswith("not implemented yet: `sample_categorical` still raises")
    assert functions["cosine_similarity"].causes == [
        "`cosine_similarity` is not defined in your notebook; did you mean `cos_sim`? Keep the graded names and signatures exactly as given."
    ]
    assert report.outputs[8] == report.outputs[9] == functions["cosine_similarity"].causes[0]
    again = feedback_report([{**t, "output": o} for t, o in zip(tests, report.outputs)])
    assert again.outputs == report.outputs and again.notebooks == report.notebooks  # results.json and the Markdown agree
    md = feedback_markdown("s", {"score": 0, "max_score": len(tests), "tests": [{**t, "output": o} for t, o in zip(tests, report.outputs)], "output": ""})
    assert md.count("fails its own checks") == 1 and md.count("did you mean") == 1 and "### 02 softmax: 0 / 3" in md


def test_results_and_markdown_come_from_one_report(graded):
    _, all_results = graded
    for name, results in all_results.items():
        report = feedback_report(results["tests"])
        assert report.outputs == [t["output"] for t in results["tests"]], name  # a fixed point: made from the report
        md = feedback_markdown(name, results)
        for nb in report.notebooks:
            for fn in nb.functions:
                for cause in fn.causes:
                    assert cause in results["output"] and md.count(cause) == 1, cause


def test_renamed_function_gets_did_you_mean_and_locations_name_functions(graded):
    _, all_results = graded
    results = all_results["renamed"]
    renamed = [t for t in results["tests"] if t["tags"][1] == "cosine_similarity"]
    assert renamed and all(t["output"].startswith("`cosine_similarity` is not defined in your notebook; did you mean `cosine_sim`?") for t in renamed)
    md = feedback_markdown("renamed", results)
    assert md.count("did you mean `cosine_sim`?") == 1
    raised = [t for t in results["tests"] if t["tags"][1] == "dot_scores" and t["status"] == "failed"]
    public = next(t for t in raised if t["tags"][2] == "public")
    assert "in `dot_scores` (the cell starting `def dot_scores(U, v):`), line 4: raise ValueError" in public["output"]
    assert "cell 5" not in md and not re.search(r"cell \d", md)
    hidden = [t for t in raised if t["tags"][2] == "hidden"]
    assert all("no scores today" not in t["output"] for t in hidden)
    assert any("raised ValueError in `dot_scores`, line 4" in t["output"] for t in hidden) or all("shortened" in t["output"] for t in hidden)
    missing = [t for t in results["tests"] if t["tags"][0] != "02"]
    assert missing and all(t["tags"][2] == WRITTEN or "was not found in the submission" in t["output"] for t in missing)
    assert md.count("was not found in the submission") == len(SERIES) - 1  # a missing notebook: one line


def test_written_answers_are_pending_and_collected_for_the_tas(graded, tmp_path):
    _, all_results = graded
    results = all_results["writer"]
    written = {t["tags"][1]: t for t in results["tests"] if t["tags"][2] == WRITTEN}
    assert set(written) == {"q03_gradient", "q04_order_blind"}  # 05 and 06 were not submitted: said once per notebook
    assert all(t["score"] == 0 and t["max_score"] == 0 for t in written.values())
    assert results["max_score"] == load_registry().points()  # the autograder's total is unchanged
    assert written["q03_gradient"]["name"] == "written: q03_gradient (pending manual grading)"
    assert written["q03_gradient"]["status"] == "passed" and "pending manual grading" in written["q03_gradient"]["output"]
    assert "3 points" in written["q03_gradient"]["output"]
    assert written["q04_order_blind"]["output"].startswith("not answered") and PLACEHOLDER in written["q04_order_blind"]["output"]
    paths = write_written_answers(tmp_path, all_results, sorted(SERIES))
    assert sorted(p.name for p in paths) == sorted(f"{q}.md" for q in QUESTIONS)
    text = (tmp_path / "q03_gradient.md").read_text()
    assert "1 of 3 students answered" in text and "*not answered*" in text
    assert (tmp_path / "q05_relative.md").read_text().count("*not answered*") == 3
    tokens = mistune.create_markdown(renderer=None)(text)
    code = [t["raw"] for t in tokens if t["type"] == "block_code"]
    assert [c.rstrip("\n") for c in code][-1:] == [ANSWER_03.rstrip("\n")]  # verbatim, inside a fence it cannot close
    assert "Model answer" in code[0]  # the question and its model answer come first, for the TAs
    assert [t for t in tokens if t["type"] == "heading" and t["attrs"]["level"] == 1] and "<script" not in mistune.html(text)
    md = feedback_markdown("writer", results)
    assert "## Written answers" in md and "`q03_gradient` | pending manual grading" in md


def test_written_questions_match_the_solutions_markup():
    """Written questions (ids, notebooks, points) are the solutions' nbgrader markdown answer cells.

    (The check cells' points equal the suite's points: tests/test_release.py; the README
    has no points table.)"""
    found = {}
    for nb, stem in SERIES.items():
        for cell in _cells(SOLUTIONS / f"{stem}.ipynb"):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "markdown" and meta.get("solution") and meta.get("grade"):
                found[meta["grade_id"]] = (nb, meta["points"])
    assert found == {q.grade_id: (q.notebook, q.points) for q in QUESTIONS.values()}
