"""Grading integrity on the file and output side: what the student controls on disk and in
text gains nothing and breaks nothing.

* Files: symbolic links (to solutions/, to /proc/kmsg, to a whole folder) and special
  files (a FIFO, a socket) are never followed or read; such a notebook scores 0 with a
  message, and nothing hangs.
* Student text is data: feedback Markdown keeps its structure whatever the messages, file
  names and student names hold; CSV cells cannot become spreadsheet formulas; outputs
  are bounded.
* Hidden tests stay hidden: results and feedback show a hidden test's title, verdict and
  hint, not its inputs, expected values or the student's values, unless --reveal-hidden.

The unit tests run in a second; the end-to-end ones grade one small class (grade-all) and
two single submissions (grade), honest students included.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import mistune
import nbformat
import pytest

from autograder.course import ROOT, SOLUTIONS
from autograder.grading.batch import _is_fresh, _write_csvs, csv_cell, feedback_markdown, md_code_block, md_text
from autograder.grading.files import MAX_NOTEBOOK_BYTES, UnsafeFile, newest_time, read_notebook, walk
from autograder.grading.grade import OUTPUT_CAP, TEST_OUTPUT_CAP, GradedItem, Submission, build_results, feedback_report, find_notebooks
from autograder.grading.registry import load_registry
from helpers.checking import Suite, judge, to_plain
from tests.conftest import grade_folders

SERIES = ["01", "02", "03"]
INJECTION = "```\n<script>alert(1)</script>\n# Injected heading\n[click](javascript:alert(1))\n`````````\n<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def no_hang():
    """Fail (rather than hang) if reading a FIFO or /proc/kmsg ever blocks."""
    previous = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("blocked")))
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _nb(folder: Path, name: str, text: str = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}') -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- #
# files.py
# --------------------------------------------------------------------------- #


def test_read_notebook_reads_regular_files_only(tmp_path):
    sub = tmp_path / "student"
    good = _nb(sub, "01_embeddings.ipynb", "hello")
    _nb(sub, "deep/er/02_sampling.ipynb", "deep")
    assert read_notebook(good, sub) == b"hello"
    assert read_notebook(sub / "deep" / "er" / "02_sampling.ipynb", sub) == b"deep"
    (sub / "linked.ipynb").symlink_to(SOLUTIONS / "01_embeddings.ipynb")
    (sub / "kmsg.ipynb").symlink_to("/proc/kmsg")
    (sub / "dirlink").symlink_to(SOLUTIONS)
    (sub / "up").symlink_to(sub / "deep")
    os.mkfifo(sub / "fifo.ipynb")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sub / "sock.ipynb"))
    cases = {
        "linked.ipynb": "symbolic link",
        "kmsg.ipynb": "symbolic link",
        "dirlink/01_embeddings.ipynb": "dirlink is a symbolic link",
        "up/er/02_sampling.ipynb": "up is a symbolic link",
        "fifo.ipynb": "FIFO",
        "sock.ipynb": "socket",
        "missing.ipynb": "no longer there",
    }
    for name, why in cases.items():
        with pytest.raises(UnsafeFile, match=why):
            read_notebook(sub / name, sub)
    server.close()
    with pytest.raises(UnsafeFile, match="not inside"):
        read_notebook(SOLUTIONS / "01_embeddings.ipynb", sub)
    with pytest.raises(UnsafeFile, match="not a file inside"):
        read_notebook(sub / ".." / "student" / "01_embeddings.ipynb", sub)
    with pytest.raises(UnsafeFile, match="MB"):
        read_notebook(good, sub, limit=3)
    assert MAX_NOTEBOOK_BYTES > 100e6  # 100 MB of outputs still get a report
    (tmp_path / "linked_student").symlink_to(sub)
    with pytest.raises(UnsafeFile, match="symbolic link: refused"):
        read_notebook(tmp_path / "linked_student" / "01_embeddings.ipynb", tmp_path / "linked_student")
    assert issubclass(UnsafeFile, OSError)  # runner's `except OSError` reports it as an unreadable file


def test_walk_never_follows_links(tmp_path):
    sub = tmp_path / "student"
    _nb(sub, "a/01_embeddings.ipynb")
    (sub / "b").symlink_to(SOLUTIONS)
    (sub / "loop").symlink_to(sub)
    os.mkfifo(sub / "f")
    _nb(sub, ".ipynb_checkpoints/01_embeddings-checkpoint.ipynb")
    entries, notes = walk(sub)
    kinds = {e.relative: e.kind for e in entries}
    assert kinds == {"a/01_embeddings.ipynb": "file", "b": "symlink", "loop": "symlink", "f": "FIFO (named pipe)"}
    assert not notes
    assert newest_time(sub) >= os.lstat(sub / "a" / "01_embeddings.ipynb").st_mtime
    (tmp_path / "linked").symlink_to(sub)
    with pytest.raises(UnsafeFile):
        walk(tmp_path / "linked")


def _same_device_folder(tmp_path: Path, like: Path) -> Path:
    """A fresh folder on the file system of ``like`` (a hard link cannot cross file systems)."""
    if os.stat(tmp_path).st_dev == os.stat(like).st_dev:
        return tmp_path
    folder = ROOT / "build" / f"hardlinks-{os.getpid()}-{tmp_path.name}"
    folder.mkdir(parents=True)
    return folder


HIDDEN_SUITE = ROOT / "autograder" / "hidden" / "nb01.py"


def test_hard_links_are_refused_like_symbolic_links(tmp_path):
    """A hard link (as shutil.unpack_archive makes from an archive's link entries) to a solution, a hidden suite or any file is not read."""
    base = _same_device_folder(tmp_path, SOLUTIONS)
    sub = base / "student"
    sub.mkdir()
    other = _nb(base, "elsewhere.txt", "someone else's file")
    os.link(SOLUTIONS / "01_embeddings.ipynb", sub / "01_embeddings.ipynb")
    os.link(HIDDEN_SUITE, sub / "02_sampling.ipynb")
    os.link(other, sub / "hw4.ipynb")
    try:
        own = _nb(sub, "03_training.ipynb", "mine")
        for name, why in (("01_embeddings.ipynb", "a file of the course itself"), ("02_sampling.ipynb", "a file of the course itself"), ("hw4.ipynb", "a hard link")):
            with pytest.raises(UnsafeFile, match=why):
                read_notebook(sub / name, sub)
        assert read_notebook(own, sub) == b"mine"
        kinds = {e.relative: e.kind for e in walk(sub)[0]}
        assert kinds == {"01_embeddings.ipynb": "course file", "02_sampling.ipynb": "course file", "03_training.ipynb": "file", "hw4.ipynb": "hard link"}
        found, notes, refused = find_notebooks(sub, [*SERIES, "04"])
        assert found == {"01": None, "02": None, "03": own, "04": None}
        assert "course itself" in refused["01"] and "scored 0" in refused["02"] and "is a hard link" in refused["04"]
        _nb(sub, "hw1.ipynb", "my own 01")  # a regular file for the same notebook is graded instead
        assert find_notebooks(sub, SERIES)[0]["01"] == sub / "hw1.ipynb"
        assert find_notebooks(SOLUTIONS, SERIES)[0]["01"] == SOLUTIONS / "01_embeddings.ipynb"  # the course's own file, linked or not
    finally:  # the course's files must not keep a second name
        for name in ("01_embeddings.ipynb", "02_sampling.ipynb"):
            (sub / name).unlink()


def test_an_unpacked_archive_with_a_hard_link_entry_is_refused(tmp_path):
    """The field case: a student's tar holds a hard-link entry to a solution; the instructor runs shutil.unpack_archive."""
    import tarfile

    base = _same_device_folder(tmp_path, SOLUTIONS)
    archive = base / "submission.tar"
    with tarfile.open(archive, "w") as tar:
        entry = tarfile.TarInfo("student/01_embeddings.ipynb")
        entry.type, entry.linkname = tarfile.LNKTYPE, str(SOLUTIONS / "01_embeddings.ipynb")
        tar.addfile(entry)
    try:
        shutil.unpack_archive(archive, base / "class")
    except tarfile.TarError:  # Python 3.14's default "data" filter refuses a link outside the archive
        pytest.skip("this Python's unpack_archive refuses links outside the archive")
    linked = base / "class" / "student" / "01_embeddings.ipynb"
    try:
        assert os.path.samefile(linked, SOLUTIONS / "01_embeddings.ipynb")  # the archive did make a hard link
        found, _, refused = find_notebooks(base / "class" / "student", SERIES)
        assert found["01"] is None and "a file of the course itself" in refused["01"]
    finally:
        linked.unlink()


def test_a_course_file_under_another_name_is_refused(tmp_path):
    """One name, but the inode of a course file (a bind mount, a moved file): refused; the course file at its own path is not."""
    from autograder.grading.files import course_files, file_kind

    st = os.lstat(HIDDEN_SUITE)
    assert (st.st_dev, st.st_ino) in course_files()
    assert file_kind(st, tmp_path / "02_sampling.ipynb") == "course file"
    assert file_kind(st, HIDDEN_SUITE) == "file"  # grading solutions/ itself (the demo) still works


@pytest.mark.slow
def test_hard_links_earn_nothing_and_leak_nothing(tmp_path):
    base = _same_device_folder(tmp_path, SOLUTIONS)
    sub = base / "linker"
    sub.mkdir()
    shadow = Path("/etc/shadow")
    links = {"01_embeddings.ipynb": SOLUTIONS / "01_embeddings.ipynb", "02_sampling.ipynb": HIDDEN_SUITE}
    if os.stat(shadow).st_dev == os.stat(base).st_dev:
        links["03_training.ipynb"] = shadow
    for name, target in links.items():
        os.link(target, sub / name)
    honest = base / "honest"
    honest.mkdir()
    shutil.copy(SOLUTIONS / "01_embeddings.ipynb", honest / "01_embeddings.ipynb")
    try:
        results = grade_folders({"linker": sub, "honest": honest}, jobs=1)
    finally:
        for name in links:
            (sub / name).unlink()
    linker = results["linker"]
    assert linker["score"] == 0
    for nb in ("01", "02", "03")[: len(links)]:
        assert all("is a file of the course itself" in t["output"] or "is a hard link" in t["output"] for t in linker["tests"] if t["tags"][0] == nb), nb
    if shadow in links.values():
        assert "root:" not in json.dumps(linker)
    marker = next(line.strip() for line in HIDDEN_SUITE.read_text().splitlines() if len(line.strip()) > 40 and "def " not in line)
    assert marker not in json.dumps(linker)
    assert sum(t["score"] for t in results["honest"]["tests"] if t["tags"][0] == "01") == load_registry(["01"]).points("01")


def test_find_notebooks_refuses_links_and_special_files(tmp_path):
    sub = tmp_path / "student"
    (sub).mkdir()
    (sub / "01_embeddings.ipynb").symlink_to(SOLUTIONS / "01_embeddings.ipynb")
    (sub / "02_sampling.ipynb").symlink_to("/proc/kmsg")
    os.mkfifo(sub / "03_training.ipynb")
    (sub / "solutions").symlink_to(SOLUTIONS)  # a linked folder full of notebooks is not entered
    found, notes, refused = find_notebooks(sub, SERIES)
    assert found == {"01": None, "02": None, "03": None}
    assert "symbolic link" in refused["01"] and "symbolic link" in refused["02"] and "FIFO" in refused["03"]
    assert all("scored 0" in why for why in refused.values())
    assert any("solutions is a symbolic link and was ignored" in n for n in notes)
    # a regular file for the same notebook is graded; the link beside it is only noted
    _nb(sub, "hw1.ipynb")
    found, notes, refused = find_notebooks(sub, SERIES)
    assert found["01"] == sub / "hw1.ipynb" and "01" not in refused
    assert any("01_embeddings.ipynb is a symbolic link" in n for n in notes)
    # a submission folder that is a link is refused as a whole
    (tmp_path / "linked").symlink_to(SOLUTIONS)
    found, notes, refused = find_notebooks(tmp_path / "linked", SERIES)
    assert found == {nb: None for nb in SERIES} and all("symbolic link: refused" in why for why in refused.values())
    submission = Submission.find("s", tmp_path / "linked", SERIES)
    with pytest.raises(UnsafeFile):
        submission.read("01")


# --------------------------------------------------------------------------- #
# Feedback Markdown, CSV, bounded outputs
# --------------------------------------------------------------------------- #


def _walk_tokens(tokens):
    for token in tokens:
        yield token
        yield from _walk_tokens(token.get("children", []))


def assert_feedback_intact(md: str, student: str, test_names: list[str]) -> None:
    """The feedback's structure is the grader's: no raw HTML, only its own headings, and
    every piece of injected text inside a code block."""
    tokens = mistune.create_markdown(renderer=None, plugins=["table"])(md)
    every = list(_walk_tokens(tokens))
    assert not [t for t in every if t["type"] in ("block_html", "inline_html")], "raw HTML in the feedback"
    assert not [t for t in every if t["type"] in ("link", "image")], "a link or image in the feedback"
    headings = [(t["attrs"]["level"], html.unescape("".join(c.get("raw", "") for c in _walk_tokens(t["children"])))) for t in tokens if t["type"] == "heading"]
    assert headings[0] == (1, f"Feedback for {' '.join(student.splitlines())}")
    assert {h for level, h in headings if level == 2} <= {"Notes", "Tests that did not pass", "Written answers"}
    assert [h for level, h in headings if level == 3] == test_names
    text_outside_code = " ".join(t.get("raw", "") for t in every if t["type"] in ("text", "codespan"))
    assert "Injected heading" not in text_outside_code and "<script" not in text_outside_code
    rendered = mistune.html(md)
    assert "<script" not in rendered and "<img" not in rendered and "<h1>Injected" not in rendered


def _results(output: str, test_output: str, name: str = "01 tokenize: splits words") -> dict:
    test = {"name": name, "score": 0.0, "max_score": 1.0, "status": "failed", "output": test_output, "tags": ["01", "tokenize", "public"]}
    return {"score": 0.0, "max_score": 1.0, "output": output, "tests": [test]}


def test_feedback_keeps_student_text_in_code_blocks():
    student = "<script>alert(1)</script>\n# Heading | `x` [a](javascript:1)"
    results = _results(f"note: graded 01 ```<img src=x onerror=alert(1)>.ipynb as notebook 01\n{INJECTION}", INJECTION)
    md = feedback_markdown(student, results)
    assert_feedback_intact(md, student, ["01 tokenize: 0 / 1"])  # a function's first failure under its heading
    code = [t["raw"] for t in _walk_tokens(mistune.create_markdown(renderer=None)(md)) if t["type"] == "block_code"]
    assert any(INJECTION in raw for raw in code)  # shown verbatim, just not as Markdown
    error = feedback_markdown(student, {"score": 0, "max_score": 3, "error": INJECTION, "tests": []})
    assert_feedback_intact(error, student, [])
    assert md_code_block("a````b")[0] == "`````text"
    assert md_text("# x") == "\\# x"


def test_csv_cells_cannot_be_formulas(tmp_path):
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "plain", 3.0)] == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "\\t=1", "\\x0d=1", "plain", 3.0]

    names = ['=HYPERLINK("http://evil.example","x")', "+cmd", "-2+3", "@SUM(1)"]
    results = {n: _results("", "=cmd|' /C calc'!A0") for n in names}
    results["error_student"] = {"score": 0.0, "max_score": 1.0, "tests": [], "error": "=evil"}
    _write_csvs(tmp_path / "grades.csv", results, load_registry(["01"]))
    for path in (tmp_path / "grades.csv", tmp_path / "grades-tests.csv"):
        with open(path, newline="") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], path.name
        assert any(c.startswith("'=HYPERLINK") for c in cells)


def _hidden_case():
    suite = Suite("01", "hidden")

    @suite.case("tokenize", points=2, hint="split on whitespace, then on punctuation")
    def secret_probe(student):
        """tokenize keeps runs of punctuation apart"""
        return student.tokenize("SECRET INPUT!!")

    return suite.cases[0]


def _graded(case, got_obs, ref_obs) -> GradedItem:
    item = GradedItem("s", case, got_obs, ref_obs)
    item.verdict = judge(case, got_obs, ref_obs)
    return item


def test_hidden_messages_need_reveal_hidden(tmp_path):
    case = _hidden_case()
    ref = {"value": to_plain(["secret", "expected", "value"])}
    calls = ["tokenize('SECRET INPUT!!')"]
    items = [
        _graded(case, {"value": to_plain(["student", "value"]), "calls": calls}, ref),
        _graded(
            case,
            {
                "error": {"type": "ValueError", "message": "ValueError: SECRET INPUT!!", "where": "01, cell 3, line 2: raise ValueError(SECRET)"},
                "calls": calls,
            },
            ref,
        ),
        _graded(case, {"error": {"type": "Leak_SECRET", "message": "SECRET", "where": "SECRET INPUT!!"}, "calls": calls}, ref),
        _graded(case, {"error": {"type": "NotImplementedError", "message": "not implemented yet", "where": ""}, "calls": calls}, ref),
        _graded(case, {"error": {"type": "MissingDefinition", "message": "`tokenize` is not defined in your notebook. Keep ..."}}, ref),
        _graded(case, {"error": {"type": "MissingDefinition", "message": "`SECRET_INPUT` is not defined in your notebook. Keep ..."}}, ref),
        _graded(case, None, ref),
    ]
    items[-1].missing_reason = "notebook 01 (01_embeddings.ipynb) was not found in the submission, so this test scored 0."
    items[-1].reason_visible, items[-1].missing_cause = True, "not_submitted"  # the grader's words from before the hidden phase
    items[-1].verdict = items[-1].judge()
    sub = Submission("s", tmp_path, {"01": tmp_path / "01_embeddings.ipynb"})
    hidden = build_results(sub, items, 1.0)
    outputs = [t["output"] for t in hidden["tests"]]
    assert all("SECRET" not in o and "secret" not in o and "expected" not in o and "student" not in o and "called" not in o for o in outputs), outputs
    # the hidden phase's process is the student's: whatever it raised or returned, a verdict and the hint
    assert outputs[0] == "failed (hidden test).\n  hint: split on whitespace, then on punctuation"
    assert all(o.split("\n")[0] == "failed (hidden test)." for o in outputs[1:6]), outputs[1:6]  # later ones: one line each
    assert outputs[6].startswith("notebook 01 (01_embeddings.ipynb) was not found")
    causes = [t["extra_data"]["cause"] for t in hidden["tests"]]  # for the instructor: the causes are data
    assert causes == ["wrong", "error", "error", "stub", "missing", "missing", "not_submitted"], causes
    assert not any("student_error" in t["extra_data"] for t in hidden["tests"])
    assert all(t["name"].endswith("tokenize keeps runs of punctuation apart (hidden test)") and t["score"] == 0 for t in hidden["tests"])
    revealed = build_results(sub, items, 1.0, reveal_hidden=True)
    outputs = [t["output"] for t in revealed["tests"]]
    assert "SECRET" in outputs[0] and "called" in outputs[0] and "SECRET" in outputs[1]
    assert revealed["extra_data"]["reveal_hidden"] is True and hidden["extra_data"]["reveal_hidden"] is False


def test_stored_results_are_regraded_when_reveal_hidden_changes(tmp_path):
    student = tmp_path / "student"
    _nb(student, "01_embeddings.ipynb")
    stored = tmp_path / "student.json"
    stored.write_text(json.dumps({"extra_data": {"tests_fingerprint": "f", "reveal_hidden": False}}))
    assert _is_fresh(stored, student, "f") and not _is_fresh(stored, student, "f", reveal_hidden=True)
    assert not _is_fresh(stored, student, "other")
    os.utime(student / "01_embeddings.ipynb", (stored.stat().st_mtime + 10,) * 2)
    assert not _is_fresh(stored, student, "f")  # a newer file: graded again
    (student / "link").symlink_to("/proc/kmsg")  # a link is timed by lstat, never followed
    assert newest_time(student) >= stored.stat().st_mtime


def test_outputs_are_bounded(tmp_path):
    case = _hidden_case()
    case.visibility = "public"
    item = _graded(case, {"error": {"type": "ValueError", "message": "x" * 10**6, "where": ""}}, {"value": to_plain([])})
    sub = Submission("s", tmp_path, {"01": None}, notes=["y" * 10**6])
    results = build_results(sub, [item], 1.0)
    assert len(results["tests"][0]["output"]) <= TEST_OUTPUT_CAP + 20 and results["tests"][0]["output"].endswith("... (cut)")
    assert len(results["output"]) <= OUTPUT_CAP + 20 and results["output"].endswith("... (cut)")


# --------------------------------------------------------------------------- #
# End to end: grade-all and grade on a small class
# --------------------------------------------------------------------------- #


def _with_cell(src: Path, dest: Path, source: str) -> None:
    nb = nbformat.read(str(src), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest))


WRONG_01 = """
def build_vocab(tokens):
    return sorted(set(tokens), reverse=True)

def decode(ids, vocab):
    raise ValueError("LEAKED-INPUT " + repr(list(ids)) + repr(list(vocab)))
"""
INJECT_01 = f"""
def tokenize(text):
    raise RuntimeError({INJECTION!r})
"""
ODD_NAME = '=HYPERLINK("evil.example","x")'
ODD_FILE = "01 ```<img src=x onerror=alert(1)># Heading.ipynb"


def _run(*args, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return proc


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    root, out = base / "class", base / "out"
    shutil.copytree(SOLUTIONS, root / "alice")  # honest
    mallory = root / "mallory"  # links to the solutions
    mallory.mkdir(parents=True)
    (mallory / "01_embeddings.ipynb").symlink_to(SOLUTIONS / "01_embeddings.ipynb")
    (mallory / "hw3.ipynb").symlink_to(SOLUTIONS / "03_training.ipynb")
    (mallory / "sol").symlink_to(SOLUTIONS)
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "02_sampling.ipynb")
    (root / "kmsg").mkdir()
    (root / "kmsg" / "02_sampling.ipynb").symlink_to("/proc/kmsg")
    (root / "linked").symlink_to(SOLUTIONS)  # a whole student folder that is a link
    _with_cell(SOLUTIONS / "01_embeddings.ipynb", root / ODD_NAME / ODD_FILE, INJECT_01)
    _with_cell(SOLUTIONS / "01_embeddings.ipynb", root / "wrong" / "01_embeddings.ipynb", WRONG_01)
    (root / "wrong" / "02_sampling.ipynb").symlink_to(SOLUTIONS / "02_sampling.ipynb")  # for `grade` below
    proc = _run("grade-all", str(root), "--csv", str(out / "grades.csv"), "--feedback", str(out / "feedback"), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return root, out, rows, results


def _tests(results: dict, nb: str) -> list[dict]:
    return [t for t in results["tests"] if t["tags"][0] == nb]


@pytest.mark.slow
def test_links_and_special_files_score_zero_with_a_message(graded_class):
    _, _, rows, results = graded_class
    for name in ("mallory", "fifo", "kmsg"):
        assert float(rows[name]["score"]) == 0, name
    assert all("symbolic link" in t["output"] for t in _tests(results["mallory"], "01") + _tests(results["mallory"], "03"))
    assert all("FIFO" in t["output"] for t in _tests(results["fifo"], "02"))
    assert all("symbolic link" in t["output"] for t in _tests(results["kmsg"], "02"))
    assert "sol is a symbolic link and was ignored" in results["mallory"]["output"]
    assert rows["linked"]["status"].startswith("error: the submission folder linked is a symbolic link: refused")
    assert float(rows["linked"]["score"]) == 0


@pytest.mark.slow
def test_honest_student_in_the_same_batch_keeps_full_marks(graded_class):
    _, _, rows, results = graded_class
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0
    assert not [t["name"] for t in results["alice"]["tests"] if t["status"] != "passed"]


@pytest.mark.slow
def test_feedback_and_csv_injection_is_neutralized(graded_class):
    _, out, rows, results = graded_class
    assert "'" + ODD_NAME in rows  # the CSV cell is text, not a formula
    data = results[ODD_NAME]
    assert any(INJECTION in t["output"] for t in data["tests"])  # it did reach the results...
    assert "```<img" in data["output"]
    md = (out / "feedback" / f"{ODD_NAME}.md").read_text()
    report = feedback_report(data["tests"])  # one heading per function with a failure of its own
    failed = [f"{fn.notebook} {fn.function}: {fn.score:g} / {fn.max_score:g}" for nb in report.notebooks for fn in nb.functions if fn.first]
    assert_feedback_intact(md, ODD_NAME, failed)  # ...but not into the feedback's structure
    for path in (out / "grades.csv", out / "grades-tests.csv"):
        with open(path, newline="") as fh:
            assert not [c for row in csv.reader(fh) for c in row if c[:1] in ("=", "+", "-", "@")]


@pytest.mark.slow
def test_hidden_tests_stay_hidden_unless_revealed(graded_class, tmp_path):
    root, out, _, results = graded_class
    failed = [t for t in _tests(results["wrong"], "01") if t["status"] == "failed"]
    hidden_failed = [t for t in failed if "hidden" in t["tags"]]
    public_failed = [t for t in failed if "public" in t["tags"]]
    assert hidden_failed and any("LEAKED-INPUT" in t["output"] for t in public_failed)
    for test in hidden_failed:
        assert "LEAKED-INPUT" not in test["output"] and "called" not in test["output"] and "expected" not in test["output"]
        assert test["output"].startswith("failed (hidden test)")
    assert "LEAKED-INPUT" not in "\n".join(t["output"] for t in hidden_failed)
    assert "LEAKED-INPUT" not in (out / "feedback" / "wrong.md").read_text().split("(hidden test)", 1)[1].split("###", 1)[0]
    proc = _run("grade", str(root / "wrong"), "--results", str(tmp_path / "r.json"), "--reveal-hidden")
    assert proc.returncode == 0, proc.stderr[-3000:]
    revealed = json.loads((tmp_path / "r.json").read_text())
    assert any("LEAKED-INPUT" in t["output"] for t in revealed["tests"] if "hidden" in t["tags"])
    assert [t["score"] for t in revealed["tests"]] == [t["score"] for t in results["wrong"]["tests"]]
    # `grade` (as grade-all) gives the symlinked notebook 0 and says why
    linked = _tests(revealed, "02")
    assert linked and all(t["score"] == 0 and "02_sampling.ipynb is a symbolic link" in t["output"] for t in linked)


def test_grade_refuses_a_linked_folder(tmp_path):
    (tmp_path / "linked").symlink_to(SOLUTIONS)
    proc = _run("grade", str(tmp_path / "linked"), timeout=120)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr


# --------------------------------------------------------------------------- #
# The student package: helpers alone
# --------------------------------------------------------------------------- #


def test_student_package_holds_helpers_only(tmp_path):
    import tarfile
    import zipfile

    proc = _run("student-package", "--out", str(tmp_path / "dist"), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("*.whl"))
    sdist = next((tmp_path / "dist").glob("*.tar.gz"))
    with zipfile.ZipFile(wheel) as zf:
        wheel_names = zf.namelist()
    with tarfile.open(sdist) as tf:
        sdist_names = [n.split("/", 1)[1] for n in tf.getnames()]
    for names in (wheel_names, sdist_names):
        assert "helpers/__init__.py" in names and "helpers/selfcheck/references.json" in names
        assert not [n for n in names if "autograder" in n or "hidden" in n or "solutions" in n or n.endswith(".ipynb")]
        assert {n.split("/")[0] for n in names if "/" in n} <= {"helpers", wheel.name.split("-py3")[0] + ".dist-info"}
    # pip accepts it offline, and helpers imports from it alone (no course checkout on the path)
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=120
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    check = (
        f"import sys; sys.path.insert(0, {str(target)!r}); import helpers, helpers.checking as c; "
        "assert 'autograder' not in sys.modules; print(helpers.__file__, c.PUBLIC_REFERENCES.exists())"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"MPLBACKEND": "Agg"}
    imported = subprocess.run([sys.executable, "-I", "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert imported.stdout.split() == [str(target / "helpers" / "__init__.py"), "True"]


# --------------------------------------------------------------------------- #
# Written answers: the grader's memory is not the student's to spend
# --------------------------------------------------------------------------- #

MEASURE_WRITTEN = """
import json, resource, sys
from autograder.report.written import read_answers
with open(sys.argv[1], "rb") as fh:
    raw = fh.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
answers, why = read_answers(raw, "03")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"extra_mb": (after - before) / 1024, "why": why, "answers": answers}))
"""


def _measure_written(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE_WRITTEN, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_huge_notebook_of_tiny_values_costs_the_grader_little_memory(tmp_path):
    """64 MB of metadata [{},{},...] (16 million dicts, about 2 GB for json.loads) does not take the grader 100 MB over."""
    path = tmp_path / "03_training.ipynb"
    count = 64 * 1024 * 1024 // 3
    with open(path, "wb") as fh:
        fh.write(b'{"cells": [], "metadata": {"x": [')
        for _ in range(64):
            fh.write(b"{}," * (count // 64))
        fh.write(b'{}]}, "nbformat": 4, "nbformat_minor": 5}')
    measured = _measure_written(path)
    print(f"grader's extra peak memory for a 64 MB notebook of empty dicts: {measured['extra_mb']:.0f} MB")
    assert measured["extra_mb"] < 100, measured
    assert measured["why"].startswith("written answers not read: notebook too large"), measured
    assert measured["answers"] == {"q03_gradient": None}


def test_a_large_honest_notebook_still_has_its_answers_read(tmp_path):
    """Outputs make a notebook large (a few long strings): it is parsed in the child and its answer is found."""
    from autograder.report.written import IN_PROCESS_BYTES

    nb = nbformat.read(str(SOLUTIONS / "03_training.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo" * (IN_PROCESS_BYTES // 5)})]
    path = tmp_path / "03_training.ipynb"
    nbformat.write(nb, str(path))
    assert path.stat().st_size > IN_PROCESS_BYTES
    measured = _measure_written(path)
    assert measured["why"] == "" and "Model answer" in (measured["answers"]["q03_gradient"] or ""), measured


def test_the_references_cache_is_private(tmp_path, monkeypatch):
    """The cached references (the solutions' hidden answers) are 0600 in a 0700 folder, like the course secret."""
    from autograder.grading import references

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o755)
    monkeypatch.setenv("COURSE_KIT_CACHE", str(cache))
    monkeypatch.setattr(references, "compute_references", lambda registry, notebooks, seeds, pool=None: {"01/x": {"value": 1}})
    previous = os.umask(0o022)  # as on most machines: files 0644 unless made otherwise
    try:
        registry = load_registry(["01"])
        assert references.load_references(registry, {}) == {"01/x": {"value": 1}}
        (written,) = cache.iterdir()
        assert (cache.stat().st_mode & 0o777, written.stat().st_mode & 0o777) == (0o700, 0o600)
        os.chmod(cache, 0o755)  # a cache made before: private again when read
        assert references.load_references(registry, {}) == {"01/x": {"value": 1}}
        assert cache.stat().st_mode & 0o777 == 0o700
        target = cache / "refs.json"
        stale = target.with_suffix(f".tmp{os.getpid()}")  # a temporary file left by a crash, readable by all
        stale.write_text("old")
        os.chmod(stale, 0o644)
        references.write_private(target, "new")
        assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)
