"""A synthetic class for the class report: planted mistakes given to known shares of students.

Each student hands in notebooks 01 and 02 made from the solutions, with one graded cell
replaced (a planted mistake, a stub, an error whose text is hostile markup), or the blank
release, or nothing changed. :data:`PLAN` says who gets what; ``tests/test_class_report.py``
grades the class once and checks the report against it, and ``benchmarks/class_report_speed.py``
times the report on it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from autograder.course import RELEASE, SERIES, SOLUTIONS

NOTEBOOKS = ["01", "02"]

SOFTMAX_NO_SHIFT = """
def softmax(s, axis=-1):
    e = np.exp(np.asarray(s, dtype=float))
    return e / np.sum(e, axis=axis, keepdims=True)
"""
TOKENIZE_SPLIT = """
def tokenize(text):
    return text.split()
"""
ENCODE_STUB = """
def encode(tokens, vocab):
    raise NotImplementedError("implement encode")
"""
SAMPLER_NOT_STRICT = """
def sample_categorical(p, rng):
    u = rng.random()
    return int(np.searchsorted(np.cumsum(p), u, side="left"))
"""
HOSTILE_TEXT = "<script>alert('x')</script><img src=x onerror=alert(1)>"
COSINE_HOSTILE_ERROR = f"""
def cosine_similarity(a, b):
    raise ValueError({HOSTILE_TEXT!r})
"""

# (label, notebook, function, planted source, how many students); "blank" hands in the release
PLAN = [
    ("softmax_no_shift", "02", "softmax", SOFTMAX_NO_SHIFT, 12),
    ("tokenize_split", "01", "tokenize", TOKENIZE_SPLIT, 8),
    ("encode_stub", "01", "encode", ENCODE_STUB, 4),
    ("sampler_not_strict", "02", "sample_categorical", SAMPLER_NOT_STRICT, 3),
    ("cosine_hostile", "02", "cosine_similarity", COSINE_HOSTILE_ERROR, 1),
    ("blank", None, None, None, 2),
    ("correct", None, None, None, 10),
]
BROKEN_CASE = "01/build_vocab/slide_vocab"  # its reference is changed, so even the solutions fail it


def plant(source_nb: Path, function: str, source: str, target: Path) -> None:
    """Copy a solution notebook with the graded cell of ``function`` replaced by ``source``."""
    nb = nbformat.read(str(source_nb), as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == function]
    assert len(cells) == 1, f"no single graded cell for {function} in {source_nb.name}"
    cells[0].source = source.strip() + "\n"
    nbformat.write(nb, str(target))


def build_class(root: Path, scale: int = 1) -> dict[str, str]:
    """Write the class under ``root`` (one folder per student); return student -> label.

    ``scale`` multiplies every share (scale=5 gives a class five times as large).
    """
    who = {}
    number = 0
    for label, notebook, function, source, count in PLAN:
        for _ in range(count * scale):
            number += 1
            name = f"s{number:03d}"
            folder = root / name
            folder.mkdir(parents=True)
            for nb in NOTEBOOKS:
                stem = SERIES[nb]
                if label == "blank":
                    shutil.copy(RELEASE / f"{stem}.ipynb", folder)
                elif nb == notebook:
                    plant(SOLUTIONS / f"{stem}.ipynb", function, source, folder / f"{stem}.ipynb")
                else:
                    shutil.copy(SOLUTIONS / f"{stem}.ipynb", folder)
            who[name] = label
    return who


GRADE_SCRIPT = """
import json, sys
from pathlib import Path
import autograder.grading.grade as grade
from autograder.grading.registry import load_registry

broken = sys.argv[2]
original = grade.load_references


def load_references(registry, seeds, *args, **kwargs):
    references = dict(original(registry, seeds, *args, **kwargs))
    references[broken] = {**references[broken], "value": ["a changed reference"]}  # a broken test: nobody can pass it
    return references


grade.load_references = load_references
folders = {p.name: p for p in sorted(Path(sys.argv[1]).iterdir())}
results = grade.grade_submissions(folders, registry=load_registry(sys.argv[3].split(",")), jobs=2)
Path(sys.argv[4]).write_text(json.dumps(results))
"""


def grade_class(root: Path, out: Path, broken_case: str = BROKEN_CASE) -> dict[str, dict]:
    """Grade every student under ``root`` on notebooks 01-02 in a subprocess, with ``broken_case``'s reference changed."""
    import os
    import subprocess
    import sys

    from autograder.course import ROOT

    proc = subprocess.run(
        [sys.executable, "-c", GRADE_SCRIPT, str(root), broken_case, ",".join(NOTEBOOKS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())
