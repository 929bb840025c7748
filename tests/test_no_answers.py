"""No answer line is readable by a student (issue 10, item 1; issue 17, item 2).

An *answer line* is a line of a solution region (between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` in a code cell of solutions/*.ipynb) that carries an answer on its
own. Lines are compared normalized: the trailing comment dropped and all whitespace
removed, so ``out = weights @ V  # (..., T_q, d_v)`` is found in a hint that writes
``out=weights@V`` (the whole line, anywhere in a text, even across string literals). Not answer lines: blank
lines, comments, docstrings, lines shorter than MIN_CHARS non-space characters (``pass``,
``else:``, ``return out``, a lone bracket), an argument converted to an array of itself, a
``return`` of names only, PyTorch's idioms (a call without arguments such as ``loss.backward()``,
``with torch.no_grad():``, a loop header over a name, appending a name), and the few lines of
``ALLOWED`` (the lecture's notation, each with its reason).

Fails when an answer line occurs in
1. any file under helpers/ (the student package: .py source and its string literals, .json strings),
2. the release notebooks/ (any cell: the release must carry only stubs in solution regions),
3. the given code (code outside the solution regions, docstrings included) or the Markdown of any
   notebook of solutions/, its own or another one: a later notebook never writes an earlier
   notebook's answer out (it uses a library built-in or the student's own function, helpers.earlier),
4. the feedback of wrong submissions (the release itself, and one built from solutions/ whose
   graded functions each return a wrong but well-typed value), graded in one run of
   ``python -m autograder grade-all --feedback --reveal-hidden``: the Markdown feedback and
   the results JSON;
and when a text a student reads before answering states a result that a written question asks
to derive (``WRITTEN_RESULTS``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MIN_CHARS = 12  # shorter lines ("return out", "pass", "else:", "ids.append(i)") name no answer on their own
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class AnswerLine:
    key: str  # the normalized code: no trailing comment, no whitespace
    text: str  # the line as written
    where: str  # "solutions/02_sampling.ipynb: softmax"


def code_part(line: str) -> str:
    """The line without its trailing comment (a '#' outside string literals)."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
        elif ch == "#":
            return line[:i]
        elif ch in "'\"":
            quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else ch
            i += len(quote)
            continue
        i += 1
    return line


def normalize(text: str) -> str:
    return re.sub(r"\s+", "", text)


def split_regions(source: str) -> tuple[list[str], list[str]]:
    """(lines inside solution regions, lines outside them) of one code cell."""
    inside, outside, in_region = [], [], False
    for line in source.splitlines():
        if BEGIN in line:
            in_region = True
        elif END in line:
            in_region = False
        else:
            (inside if in_region else outside).append(line)
    return inside, outside


def drop_docstrings(lines: list[str]) -> list[str]:
    out, in_doc = [], None
    for line in lines:
        stripped = line.strip()
        if in_doc:
            if in_doc in stripped:
                in_doc = None
            continue
        for q in ('"""', "'''"):
            if stripped.startswith(q):
                if stripped.count(q) == 1:  # opens a docstring that goes on
                    in_doc = q
                break
        else:
            out.append(line)
    return out


def solution_cells() -> list[tuple[str, str, str]]:
    """(notebook path, grade_id or cell index, source) of every code cell of solutions/."""
    cells = []
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
                cells.append((f"solutions/{path.name}", name, cell.source))
    return cells


# Lines that name no answer whatever their length: an argument converted to an array of itself
# (x = np.asarray(x, dtype=float)), returning or unpacking names only (return out, weights), and
# PyTorch's idioms: a call without arguments (optimizer.step(), loss.backward(), model.eval()), a
# context manager without arguments (with torch.no_grad():), a loop header over a name
# (for _ in range(epochs):) and appending a name or its item() (losses.append(loss.item())).
GENERIC = (
    re.compile(r"(\w+)=np\.(?:asarray|array)\(\1(?:,dtype=[\w.]+)?\)"),
    re.compile(r"return\w+(?:,\w+)*"),
    re.compile(r"[\w.]+\(\)"),
    re.compile(r"with[\w.]+\(\):"),
    re.compile(r"for\w+in(?:range\(\w+\)|\w+):"),
    re.compile(r"\w+\.append\([\w.]+(?:\(\))?\)"),
)

# Lines of a solution region that a student may read elsewhere, normalized -> why. A test fails when
# an entry is no longer an answer line or no longer read anywhere (drop it then): the list only shrinks.
ALLOWED = {
    "v=V[prev_id]": "the lecture's notation: docstrings define v as the row V[prev_id] (slide step 2)",
    "u=rng.random()": "the graded contract of sample_categorical (shared/COURSE.md: exactly one u = rng.random())",
    "s=dot_scores(U,v)": "02's demo of dot_scores itself, the first graded function; next_token_probs is more than this call",
    "returnself.decode(v)": "06's given TinyAttentionLM ends with the decode layer U, as every LM of the series does",
}


def is_generic(key: str) -> bool:
    return len(key) < MIN_CHARS or any(pattern.fullmatch(key) for pattern in GENERIC)


def answer_lines(cells=None) -> list[AnswerLine]:
    """Every answer line of the solutions, once each (the first place it is written)."""
    cells = solution_cells() if cells is None else cells
    seen: dict[str, AnswerLine] = {}
    for where, name, source in cells:
        inside, _ = split_regions(source)
        for line in drop_docstrings(inside):
            key = normalize(code_part(line))
            if is_generic(key) or key in ALLOWED or key in seen:
                continue
            seen[key] = AnswerLine(key, line.strip(), f"{where}: {name}")
    return list(seen.values())


def find(answers: list[AnswerLine], texts: dict[str, str]) -> list[str]:
    """Every (answer line, location) pair where a text contains the normalized line; one message each."""
    found = []
    for location, text in texts.items():
        flat = normalize(text)
        for answer in answers:
            if answer.key in flat:
                found.append(f"{answer.text!r} (from {answer.where}) appears in {location}")
    return found


def python_texts(path: Path, label: str) -> dict[str, str]:
    """A .py file's source, and its string literals joined (a hint split over several literals)."""
    source = path.read_text()
    texts = {label: source}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return texts
    strings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            strings.append("".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)))
    texts[f"{label} (string literals)"] = "\n".join(strings)
    return texts


def json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *json_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return []


def json_texts(path: Path, label: str) -> dict[str, str]:
    text = path.read_text()
    texts = {label: text}
    try:
        texts[f"{label} (strings)"] = "\n".join(json_strings(json.loads(text)))
    except ValueError:
        pass
    return texts


def tree_texts(folder: Path, relative_to: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        label = str(path.relative_to(relative_to))
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if path.suffix == ".py":
            texts.update(python_texts(path, label))
        elif path.suffix == ".json":
            texts.update(json_texts(path, label))
        elif path.suffix in (".md", ".txt"):
            texts[label] = path.read_text()
    return texts


def given_texts() -> dict[str, str]:
    """What a student reads of the solutions besides the answers: every code cell outside its solution
    regions (docstrings included) and every Markdown cell except the written questions' model answers."""
    texts = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            label = f"solutions/{path.name}, {cell.cell_type} cell {index} {first!r}"
            if cell.cell_type == "markdown" and not meta.get("solution"):
                texts[label] = cell.source
            elif cell.cell_type == "code":
                texts[label] = "\n".join(split_regions(cell.source)[1])
    return texts


def notebook_texts(folder: Path, relative_to: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for index, cell in enumerate(nb.cells):
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            texts[f"{path.relative_to(relative_to)}, {cell.cell_type} cell {first!r}"] = cell.source
    return texts


# Violations that cannot be fixed in the hint texts, reported to the lead: (where, answer line) -> why.
# The tests fail when an entry no longer occurs (drop it then), so the list only ever shrinks.
KNOWN: dict = {}  # (where, answer line) -> why it may stay; empty: no answer line is readable by a student


def without_known(found: list[str]) -> list[str]:
    return [f for f in found if not any(where in f and repr(line) in f for where, line in KNOWN)]


def report(found: list[str]) -> str:
    return f"{len(found)} answer line(s) readable by a student:\n  " + "\n  ".join(found)


# ---------------------------------------------------------------------------- the extraction

ANSWERS = answer_lines()


def test_answer_lines_extracted():
    # every solution notebook has answer lines; docstrings, comments and given code are not among them
    assert len(ANSWERS) > 80, len(ANSWERS)
    assert {a.where.split(":")[0] for a in ANSWERS} == {f"solutions/{p.name}" for p in (ROOT / "solutions").glob("*.ipynb")}
    assert all(not is_generic(a.key) and not a.text.startswith(("#", '"""')) for a in ANSWERS)
    assert is_generic("x=np.asarray(x,dtype=float)") and is_generic("returnout,weights") and not is_generic("returnids[:-1].copy()")
    print(f"{len(ANSWERS)} answer lines")


def test_planted_line_is_found(tmp_path):
    """The test can fail: a hint quoting an answer line (reformatted, in split literals) is found, with its place."""
    scores = next(a for a in ANSWERS if a.key.startswith("S=Q@K.transpose(-2,-1)"))
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "nbXX.py").write_text(
        'HINT = ("scale the scores: S = Q @ "\n'
        '        "K.transpose(-2, -1)  /  math.sqrt(d_k) then mask")\n'
    )
    (tmp_path / "helpers" / "refs.json").write_text(json.dumps({"case": {"hint": "use " + scores.text}}))
    found = find(ANSWERS, tree_texts(tmp_path / "helpers", tmp_path))
    assert any("helpers/nbXX.py" in f and "K.transpose" in f for f in found), found
    assert any("helpers/refs.json" in f for f in found), found
    assert not find(ANSWERS, {"x": "pass\nelse:\nreturn out\n)\nloss.backward()\nwith torch.no_grad():\nfor _ in range(epochs):"})


def test_copied_answer_in_a_later_notebook_is_found():
    """The test can fail: a later notebook whose given code writes out 02's softmax (as 03 once did) is found."""
    softmax = [a for a in ANSWERS if a.where == "solutions/02_sampling.ipynb: softmax"]
    assert len(softmax) >= 3, softmax
    copied = 'def softmax(s, axis=-1):\n    """Given."""\n' + "\n".join("    " + a.text for a in softmax)
    found = find(ANSWERS, {"solutions/03_training.ipynb, code cell 3": copied, "solutions/04_context_averaging.ipynb, markdown": "`" + softmax[0].text + "`"})
    assert len(found) == len(softmax) + 1 and all("02_sampling.ipynb: softmax" in f for f in found), found


def test_allowed_lines_still_needed():
    """Every ALLOWED line is still an answer line and still read somewhere (else drop it from the list)."""
    keys = {normalize(code_part(line)) for _, _, source in solution_cells() for line in drop_docstrings(split_regions(source)[0])}
    flat = normalize("\n".join(given_texts().values()))
    assert [k for k in ALLOWED if k not in keys] == []
    assert [k for k in ALLOWED if k not in flat] == []


def test_code_part_and_docstrings():
    assert code_part('x = "a # b"  # comment') == 'x = "a # b"  '
    assert code_part("y = 1") == "y = 1"
    assert drop_docstrings(['    """Doc', "    more", '    """', "    x = 1", '    """one line"""']) == ["    x = 1"]


# ---------------------------------------------------------------------------- 1. helpers/, 2. the release


def test_no_answer_in_helpers():
    found = find(ANSWERS, tree_texts(ROOT / "helpers", ROOT))
    found = without_known(found)
    assert not found, report(found)


def test_no_answer_in_given_code_or_markdown():
    """No notebook's given code, docstrings or Markdown writes out an answer line of any notebook."""
    found = find(ANSWERS, given_texts())
    assert not found, report(found)


# Results a written question asks the student to derive: (question, where it is, what a text must not state).
# Patterns match plain text and LaTeX: y_hat - y, \hat{\mathbf y} - \mathbf y, outer(y_hat - y, v), U^T (y_hat - y).
YHAT_MINUS_Y = r"(?:y_hat|y-hat|ŷ|\\hat\{?\s*(?:\\mathbf\s*)?\{?y\}?\}?)\s*-\s*(?:\\mathbf\s*)?\{?y\b"
WRITTEN_RESULTS = [
    ("q03_gradient", "03_training", re.compile(YHAT_MINUS_Y)),
]


def test_no_text_states_a_written_answer():
    """Before the written question, nothing a student reads of that notebook states its result
    (03's loss_and_grads docstring once gave dJ/dV and dJ/dU)."""
    found = []
    for question, stem, pattern in WRITTEN_RESULTS:
        nb = nbformat.read(str(ROOT / "solutions" / f"{stem}.ipynb"), as_version=4)
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "markdown":
                continue  # the model answer itself
            text = "\n".join(split_regions(cell.source)[1]) if cell.cell_type == "code" else cell.source
            found += [f"{stem} cell {index} states {m.group(0)!r}, which {question} asks to derive" for m in pattern.finditer(text)]
    assert not found, "\n".join(found)
    assert WRITTEN_RESULTS[0][2].search("dV row = U^T (y_hat - y)") and WRITTEN_RESULTS[0][2].search(r"$\hat{\mathbf y} - \mathbf y$")


def test_no_answer_in_release():
    found = find(ANSWERS, notebook_texts(ROOT / "notebooks", ROOT))
    found = without_known(found)
    assert not found, report(found)


# ---------------------------------------------------------------------------- 3. feedback of wrong submissions

# A wrong but well-typed body for every solution region: (notebook, grade_id, enclosing def) -> code.
# No line of these is an answer line (a test below checks it), so what the feedback echoes of them is harmless.
WRONG = {
    ("01", "tokenize", "tokenize"): "return text.split()",
    ("01", "build_vocab", "build_vocab"): "return list(tokens)",
    ("01", "encode", "encode"): "return np.zeros(len(tokens), dtype=np.int64)",
    ("01", "decode", "decode"): 'return ["?" for _ in ids]',
    ("01", "one_hot", "one_hot"): "return np.zeros((len(ids), vocab_size))",
    ("01", "embed", "embed"): "return np.zeros((len(ids), 1))",
    ("02", "dot_scores", "dot_scores"): "return np.zeros(len(U))",
    ("02", "cosine_similarity", "cosine_similarity"): "return 0.5",
    ("02", "softmax", "softmax"): "return np.ones(np.shape(s))",
    ("02", "next_token_probs", "next_token_probs"): "return np.full(len(U), 1.0 / len(U))",
    ("02", "sample_categorical", "sample_categorical"): "rng.random()\nreturn 0",
    ("02", "generate", "generate"): "return list(start_ids) + [0] * n_new",
    ("03", "make_pairs", "make_pairs"): "return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)",
    ("03", "cross_entropy", "cross_entropy"): "return 1.0",
    ("03", "loss_and_grads", "loss_and_grads"): "return 1.0, np.ones(np.shape(V)), np.ones(np.shape(U))",
    ("03", "sgd_epoch", "sgd_epoch"): "return np.ones(np.shape(V)), np.ones(np.shape(U)), 1.0",
    ("03", "WordEmbedLM", "forward"): "return torch.zeros(*prev_ids.shape, 3)",
    ("03", "train_word_embed_lm", "train_word_embed_lm"): "return [1.0] * epochs",
    ("04", "context_windows", "context_windows"): "return np.zeros((0, T), dtype=np.int64), np.zeros(0, dtype=np.int64)",
    ("04", "average_context", "average_context"): "return np.zeros((len(contexts), 1))",
    ("04", "ContextAverageLM", "forward"): "return torch.zeros(*contexts.shape[:-1], 3)",
    ("05", "rotate_2d", "rotate_2d"): "return np.array(x, dtype=float) * 2.0",
    ("05", "rope_2d", "rope_2d"): "return np.array(X, dtype=float) * 2.0",
    ("05", "rope", "rope"): "return np.array(X, dtype=float) * 2.0",
    ("05", "ContextRoPELM", "forward"): "return torch.zeros(len(contexts), 3)",
    ("06", "self_similarity", "self_similarity"): "return np.zeros((1, 1))",
    ("06", "causal_mask", "causal_mask"): "return torch.ones(T, T, dtype=torch.bool)",
    ("06", "scaled_dot_product_attention", "scaled_dot_product_attention"):
        "return torch.zeros(*Q.shape[:-1], V.shape[-1]), torch.zeros(*Q.shape[:-1], K.shape[-2])",
    ("06", "AttentionHead", "forward"): "return torch.zeros_like(x)",
    ("06", "MultiHeadAttention", "forward"): "return torch.zeros_like(x)",
    ("07", "CausalSelfAttention", "forward"): "return torch.zeros_like(x)",
    ("07", "TransformerBlock", "forward"): "return torch.zeros_like(x)",
    ("07", "MiniGPT", "forward"): "return torch.zeros(*ids.shape, 2), None",
    ("07", "generate", "generate"): "return list(start_ids) + [0] * n_new",
}


def wrong_source(notebook: str, grade_id: str, source: str) -> str:
    """The cell with every solution region's body replaced by its wrong body (``pass`` in __init__)."""
    out, in_region, enclosing = [], False, ""
    for line in source.splitlines():
        match = re.match(r"\s*(?:def|class)\s+(\w+)", line)
        if match and not in_region:
            enclosing = match.group(1)
        if BEGIN in line:
            in_region = True
            indent = line[: len(line) - len(line.lstrip())]
            body = "pass" if enclosing == "__init__" else WRONG[(notebook, grade_id, enclosing)]
            out += [indent + b for b in body.splitlines()]
        elif END in line:
            in_region = False
        elif not in_region:
            out.append(line)
    return "\n".join(out)


def wrong_submission(folder: Path) -> None:
    folder.mkdir(parents=True)
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and BEGIN in cell.source:
                cell.source = wrong_source(path.name[:2], cell.metadata["nbgrader"]["grade_id"], cell.source)
            if cell.cell_type == "code":
                cell.outputs = []
        nbformat.write(nb, str(folder / path.name))


def test_wrong_bodies_carry_no_answer():
    bodies = "\n".join(WRONG.values())
    assert not find(ANSWERS, {"WRONG": bodies})


@pytest.fixture(scope="module")
def feedback(tmp_path_factory) -> dict[str, str]:
    """Grade the release and the wrong submission in one grade-all run (hidden tests revealed)."""
    root = tmp_path_factory.mktemp("no_answers")
    students = root / "students"
    (students / "release").mkdir(parents=True)
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        (students / "release" / path.name).write_bytes(path.read_bytes())
    wrong_submission(students / "wrong")
    out = root / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade-all", str(students), "--csv", str(out / "grades.csv"),
         "--feedback", str(out / "feedback"), "--reveal-hidden", "--jobs", "2", "--force"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    texts = tree_texts(out, out)
    assert any(label.startswith("feedback/") for label in texts), sorted(texts)
    assert any(label.startswith("results/") for label in texts), sorted(texts)
    return texts


def test_feedback_graded_wrong(feedback):
    results = {label: json.loads(text) for label, text in feedback.items() if label.startswith("results/") and label.endswith(".json")}
    for label, result in results.items():
        assert result["score"] < result.get("max_score", 1e9) / 2, (label, result["score"])  # both submissions really are wrong


def test_feedback_shows_the_hints(feedback):
    """The scan has something to scan: every graded function's feedback shows one of its hints in full.

    (Feedback gives each function's first failure in full and collapses the others into a line,
    so one hint per function is what a wrong submission shows.)
    """
    import importlib

    by_function: dict = {}
    for package in ("helpers.selfcheck", "autograder.hidden"):
        for nb in range(1, 8):
            for c in importlib.import_module(f"{package}.nb{nb:02d}").suite.cases:
                if c.hint:
                    by_function.setdefault((c.notebook, c.function), set()).add(c.hint)
    flat = normalize("\n".join(t for label, t in feedback.items() if label.startswith("feedback/")))
    missing = [key for key, hints in by_function.items() if not any(normalize(h) in flat for h in hints)]
    print(f"{len(by_function) - len(missing)} of {len(by_function)} graded functions show a hint in the feedback")
    assert len(missing) <= 0.2 * len(by_function), missing


def test_no_answer_in_feedback(feedback):
    found = find(ANSWERS, feedback)
    assert not found, report(found)
