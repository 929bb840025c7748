"""Student text is data in every file the grader writes (autograder/report/text.py).

The payloads of the field test: a clipboard write (OSC 52), clear-screen, cursor moves that
overwrite the previous line, C1 controls and a bidirectional override; a lone surrogate in
a file name and in a status field; formulas that start after a ';' or a tab (how Excel
splits a line in many locales). The unit tests check each function; the end-to-end test
grades a small class with grade-all (a hostile student, a refused link, an honest student)
and reads back every file written: feedback, written/<question>.md, both CSVs, results.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata

import nbformat
import pytest

from autograder.course import ROOT, SOLUTIONS
from autograder.grading.batch import _write_csvs, feedback_markdown, write_written_answers
from autograder.grading.registry import load_registry
from autograder.report.text import csv_cell, md_code_block, md_text, printable, write_text

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes the clipboard of the terminal that shows it
CLEAR = "\x1b[2J\x1b[3J\x1b[H\x1bc"  # clear screen and scroll-back, home, reset
CURSOR = "\r\x1b[1A\x1b[2K\x1b[999D\x08\x08"  # up one line, erase it: the previous student's answer is gone
C1 = "\x9b2J\x9d52;c;eA==\x9c"  # the same as 8-bit C1 controls
BIDI = "score: \u202e112 / 112\u202c"  # shown reversed
PAYLOADS = [OSC52, CLEAR, CURSOR, C1, BIDI, "\x7f\x00\x1b\\"]
SURROGATE = "bad\udcffname\ud800"  # what os.listdir gives for a name that is not UTF-8 (and worse)
TRIGGERS = "=+-@"


def terminal_controls(text: str) -> list[str]:
    """The characters of ``text`` a terminal acts on (all but newline and tab), and lone surrogates."""
    return [c for c in text if (unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t") or "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"]


def formula_starts(text: str) -> list[str]:
    """Every piece of ``text`` a spreadsheet would read as a formula, splitting lines at ',', ';', tab or '|'."""
    found = []
    for line in re.split(r"\r\n|\r|\n", text):
        for separator in (",", ";", "\t", "|"):
            for piece in line.split(separator):
                if piece.strip(" \"'")[:1] in tuple(TRIGGERS) and not piece.lstrip(" \"").startswith("'"):
                    found.append(piece)
    return found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_printable_shows_control_sequences_as_text(payload):
    shown = printable(f"before {payload} after\nnext\tline")
    assert not terminal_controls(shown), shown
    assert shown.startswith("before ") and shown.endswith(" after\nnext\tline")  # newlines and tabs stay
    for name in ("md_text", "md_code_block"):
        rendered = md_text(payload) if name == "md_text" else "\n".join(md_code_block(payload))
        assert not terminal_controls(rendered), (name, rendered)
    assert printable(OSC52) == "\\x1b]52;c;ZWNobyBwd25lZA==\\x07"  # visible, and says what it was


def test_any_string_can_be_written(tmp_path):
    assert printable(SURROGATE) == "bad\\udcffname\\ud800"
    printable(SURROGATE).encode("utf-8")  # strict
    write_text(tmp_path / "raw.md", SURROGATE + OSC52)  # even unescaped text cannot make the writer raise
    assert (tmp_path / "raw.md").read_bytes().decode("utf-8").startswith("bad\\udcffname")


@pytest.mark.parametrize(
    "value",
    [
        "=1+1", "a;=1+1", "a; =HYPERLINK(\"http://evil.example\")", "x\t=cmd|' /C calc'!A0", "ok, -2+3", "q;\"=1\"", "safe|@SUM(A1)",
        "line\n=1", "line\r+1", " @x", "'=already", "\t\t-1",
    ],
)
def test_csv_cells_are_text_under_every_separator(value):
    cell = csv_cell(value)
    assert not formula_starts(cell), cell
    assert "\t" not in cell and "\r" not in cell and not terminal_controls(cell)


def test_csv_cells_keep_plain_text_and_numbers():
    assert [csv_cell(v) for v in ("alice", "01:tokenize", "score 3 / 5", 2.5, 0)] == ["alice", "01:tokenize", "score 3 / 5", 2.5, 0]


def _results(output: str, error: str = "") -> dict:
    tests = [{"name": "01 tokenize: t", "score": 0.0, "max_score": 1.0, "status": "failed", "output": output, "tags": ["01", "tokenize", "public"], "visibility": "visible"}]
    data = {"score": 0.0, "max_score": 1.0, "tests": tests, "output": output, "extra_data": {"notes": output, "written_answers": {"q03_gradient": output}}}
    return {**data, "error": error} if error else data


def test_every_writer_survives_hostile_text_and_keeps_the_honest_rows(tmp_path):
    hostile = "".join(PAYLOADS) + SURROGATE + " a;=1+1\t=2"
    results = {
        SURROGATE: _results(hostile),
        "status" + SURROGATE: _results(hostile, error="the submission folder " + SURROGATE + OSC52 + " is a symbolic link;=1+1"),
        "zz_honest": _results("fine"),
    }
    _write_csvs(tmp_path / "grades.csv", results, load_registry(["01"]))
    write_written_answers(tmp_path / "written", results, ["03"])
    for name, data in results.items():
        write_text(tmp_path / f"{name}.md", feedback_markdown(name, data))
    files = [tmp_path / "grades.csv", tmp_path / "grades-tests.csv", tmp_path / "written" / "q03_gradient.md", *tmp_path.glob("*.md")]
    assert len(files) == 6
    for path in files:
        text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")  # strict: every byte is UTF-8 (CR LF ends a CSV row)
        assert not terminal_controls(text), (path.name, terminal_controls(text)[:5])
        if path.suffix == ".csv":
            assert not formula_starts(text), (path.name, formula_starts(text)[:5])
    with open(tmp_path / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == [printable(SURROGATE), printable("status" + SURROGATE), "zz_honest"]
    assert rows[3][3] == "graded"
    with open(tmp_path / "grades-tests.csv", newline="") as fh:
        assert sum(1 for r in csv.reader(fh) if r[0] == "zz_honest") == 1


def test_a_broken_result_costs_only_its_own_row(tmp_path):
    results = {"a_broken": {"score": 0.0, "max_score": 1.0, "tests": [{"name": "x"}], "output": ""}, "b_honest": _results("fine")}
    _write_csvs(tmp_path / "grades.csv", results, load_registry(["01"]))
    with open(tmp_path / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["a_broken"]["status"].startswith("error: grader error") and rows["b_honest"]["status"] == "graded"
    with open(tmp_path / "grades-tests.csv", newline="") as fh:
        assert [r["student"] for r in csv.DictReader(fh)] == ["a_broken", "b_honest"]


# --------------------------------------------------------------------------- #
# End to end: grade-all writes every file
# --------------------------------------------------------------------------- #

LOAD_ERROR = f"raise ValueError({(OSC52 + CLEAR + CURSOR + C1 + BIDI + ' ;=1+1').__repr__()})"
ANSWER = f"my answer{CURSOR}{OSC52}\nsecond line;=HYPERLINK(\"http://evil.example\")\t@SUM(1)"


def _hostile_03(folder, file_name: str) -> None:
    nb = nbformat.read(str(SOLUTIONS / "03_training.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "q03_gradient":
            cell.source = ANSWER
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"class _Loud:\n    print({OSC52 + CLEAR!r})\n    " + LOAD_ERROR))
    os.makedirs(folder, exist_ok=True)
    nbformat.write(nb, os.path.join(folder, file_name))


@pytest.mark.slow
def test_grade_all_writes_only_safe_text(tmp_path):
    root, out = tmp_path / "class", tmp_path / "out"
    root.mkdir()
    hostile = os.path.join(str(root), os.fsdecode(b"a_\xff\x1b[2J"))  # not UTF-8, with an escape: os.listdir gives a lone surrogate
    _hostile_03(hostile, os.fsdecode(b"hw03 \x1b]52;c;eA==\x07\xfe.ipynb"))
    (root / "b_honest").mkdir()
    shutil.copy(SOLUTIONS / "03_training.ipynb", root / "b_honest" / "03_training.ipynb")
    os.symlink(SOLUTIONS, os.path.join(str(root), os.fsdecode(b"c_link\xfe")))  # refused: its status names it
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade-all", str(root), "--csv", str(out / "grades.csv"), "--feedback", str(out / "feedback"), "--jobs", "1"],
        cwd=ROOT, capture_output=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not terminal_controls(proc.stdout.decode("utf-8")), proc.stdout[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(list((out / "feedback").iterdir())) == 3 and (out / "written" / "q03_gradient.md").exists()
    for path in files:
        text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")  # strict
        assert not terminal_controls(text), (path.name, terminal_controls(text)[:5])
        if path.suffix == ".csv":
            assert not formula_starts(text), (path.name, formula_starts(text)[:5])
    # the payloads reached every file, as text
    written = (out / "written" / "q03_gradient.md").read_text()
    assert "\\x1b[1A\\x1b[2K" in written and "\\x1b]52;c;" in written
    hostile_name = os.fsdecode(b"a_\xff\x1b[2J")
    feedback = (out / "feedback" / f"{hostile_name}.md").read_bytes().decode("utf-8")
    assert "ValueError" in feedback and "\\x1b]52;c;" in feedback
    results = json.loads((out / "results" / f"{hostile_name}.json").read_text())
    assert "\\x1b]52;c;" in results["output"] and "\\x1b]52;c;" in results["extra_data"]["student_output"]
    shown = [results["output"], results["extra_data"]["notes"], results["extra_data"]["student_output"], *(t["output"] for t in results["tests"])]
    assert not [terminal_controls(text) for text in shown if terminal_controls(text)]
    # the honest student keeps full marks, a feedback file and every row
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {printable(hostile_name), "b_honest", printable(os.fsdecode(b"c_link\xfe"))}
    assert float(rows["b_honest"]["03_training"]) == load_registry(["03"]).points("03")
    assert rows[printable(os.fsdecode(b"c_link\xfe"))]["status"].startswith("error: the submission folder c_link\\udcfe is a symbolic link")
    assert f"**Score: {load_registry(['03']).points('03'):g} / " in (out / "feedback" / "b_honest.md").read_text()
    with open(out / "grades-tests.csv", newline="", encoding="utf-8") as fh:
        honest = [r for r in csv.DictReader(fh) if r["student"] == "b_honest"]
    assert len(honest) >= len(load_registry(["03"]).cases)
