"""helpers/: the slide data, plots and seeding the notebooks import."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import helpers
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_TEXT, SLIDE_U, SLIDE_V, slide_tables


def test_slide_tables_and_the_slide_probability():
    V, U, vocab = slide_tables()
    assert V.shape == U.shape == (8, 2) and vocab == sorted(vocab) == SLIDE_TABLE_ORDER
    V[0, 0] = 99.0
    assert SLIDE_V[0, 0] == 0.884, "slide_tables must return copies"
    s = SLIDE_U @ SLIDE_V[vocab.index("the")]  # independent of the notebooks' code
    p = np.exp(s) / np.exp(s).sum()
    assert abs(p[vocab.index("ate")] - 0.571) < 5e-4
    assert SLIDE_TEXT.count("\n") == 4 and SLIDE_TEXT.startswith("The dog ran.")


def test_plot_vectors_draws_one_labelled_arrow_per_row():
    ax = helpers.plot_vectors(SLIDE_V, SLIDE_TABLE_ORDER)
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    assert labels == [helpers.plots.display_label(t) for t in SLIDE_TABLE_ORDER]  # punctuation drawn quoted: "'.'"
    assert sum(1 for t in ax.texts if t.arrow_patch is not None) == 8
    plt.close("all")


def test_plot_tables_probs_loss_heatmap():
    fig = helpers.plot_tables(SLIDE_V, SLIDE_U, SLIDE_TABLE_ORDER)
    assert len(fig.axes) == 2
    ax = helpers.plot_probs(np.full(8, 1 / 8), SLIDE_TABLE_ORDER, highlight="ate")
    assert len(ax.patches) == 8
    ax = helpers.plot_loss([3.0, 2.0, 1.5], floor=1.2)
    assert len(ax.lines) == 2 and "1.200" in ax.get_legend().get_texts()[1].get_text()
    ax = helpers.plot_heatmap(np.eye(3), list("abc"), list("abc"))
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abc")
    plt.close("all")


def test_seeding_is_explicit_and_reproducible():
    assert helpers.make_rng(3).random() == helpers.make_rng(3).random()
    a = torch.rand(2, generator=helpers.make_generator(5))
    assert torch.equal(a, torch.rand(2, generator=helpers.make_generator(5)))


def test_helpers_never_import_answers_or_the_grader():
    for path in Path(helpers.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("solutions", "autograder") for n in names), f"{path} imports {names}"
