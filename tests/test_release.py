"""The student release is generated from solutions/ and never drifts from it."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from autograder.authoring.release import build
from autograder.course import PUBLIC_SUITES, RELEASE, SOLUTIONS, available
from autograder.grading.registry import load_registry
from helpers.checking import assert_matches, from_plain
from helpers.demo import stub_message

# The graded interface of shared/COURSE.md, notebook by notebook.
INTERFACE = {
    "01": ["tokenize", "build_vocab", "encode", "decode", "one_hot", "embed"],
    "02": ["dot_scores", "cosine_similarity", "softmax", "next_token_probs", "sample_categorical", "generate"],
    "03": ["make_pairs", "cross_entropy", "loss_and_grads", "sgd_epoch", "WordEmbedLM", "train_word_embed_lm"],
    "04": ["context_windows", "average_context", "ContextAverageLM"],
    "05": ["rotate_2d", "rope_2d", "rope", "ContextRoPELM"],
    "06": ["self_similarity", "causal_mask", "scaled_dot_product_attention", "AttentionHead", "MultiHeadAttention"],
    "07": ["CausalSelfAttention", "TransformerBlock", "MiniGPT", "generate"],
}


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    written = build(out_dir=out, references_path=out / "references.json")
    return out, written


def test_committed_release_matches_a_fresh_build(fresh_build):
    out, _ = fresh_build
    built = sorted(p.name for p in out.glob("*.ipynb"))
    committed = sorted(p.name for p in RELEASE.glob("*.ipynb"))
    assert built == committed, "notebooks/ differs from solutions/: run `python -m autograder release`"
    for name in built:
        assert (out / name).read_text() == (RELEASE / name).read_text(), f"notebooks/{name} drifted: run `python -m autograder release`"


def test_committed_public_references_match(fresh_build):
    out, _ = fresh_build
    fresh = json.loads((out / "references.json").read_text())
    committed = json.loads((PUBLIC_SUITES / "references.json").read_text())
    assert sorted(fresh) == sorted(committed), "helpers/selfcheck/references.json is stale: run `python -m autograder release`"
    for case_id, obs in fresh.items():
        assert_matches(from_plain(committed[case_id]["value"]), from_plain(obs["value"]), path=case_id, rtol=1e-5, atol=1e-6)


def test_release_carries_no_answers_and_no_outputs():
    for path in RELEASE.glob("*.ipynb"):
        nb = nbformat.read(str(path), as_version=4)
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} carries outputs"
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                stub = f"raise NotImplementedError({stub_message(meta['grade_id'])!r})"
                assert stub in cell.source, f"{path.name}: a solution cell without its named stub"


@pytest.mark.parametrize("notebook", sorted(available()))
def test_solution_markup_matches_interface_and_points(notebook):
    stem = available()[notebook]
    nb = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
    registry = load_registry([notebook])
    solutions, checks = {}, {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":  # markdown solution cells are written answers
            solutions[meta["grade_id"]] = cell.source
        if meta.get("grade") and not meta.get("solution"):
            checks[meta["grade_id"]] = (cell.source, meta.get("points"))
    assert list(solutions) == INTERFACE[notebook], "one solution cell per graded name, in COURSE.md order"
    for name, source in solutions.items():
        defined = [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert name in defined, f"solution cell {name} does not define {name}"
        assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source
        assert f"check_{name}" in checks, f"no self-check cell under {name}"
        check_source, points = checks[f"check_{name}"]
        assert check_source.strip() == f'check("{name}")'
        assert points == registry.points(notebook, name) > 0, f"{name}: the self-check cell's points differ from its cases' total"
        assert any(c.visibility == "public" for c in registry.cases if c.function == name)
        assert any(c.visibility == "hidden" for c in registry.cases if c.function == name)
