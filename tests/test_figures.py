"""Figures a lecture hall can read: the V/U plots of notebooks 01-03 never overprint a label.

Each figure is drawn as the notebooks draw it (helpers.plots), then every pair of text
labels on an axes is compared by its window extent after ``fig.canvas.draw()``.
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.data import SLIDE_TABLE_ORDER, SLIDE_U, SLIDE_V
from helpers.plots import NEXT_COLOR, PREV_COLOR, display_label, merge_coincident, plot_probs, plot_tables, plot_vectors

VOCAB = list(SLIDE_TABLE_ORDER)  # ['!', '.', 'ate', 'cat', 'dog', 'ran', 'the', 'zoo']

# Tables like the trained ones of notebook 03: 'cat', 'dog', 'zoo' coincide in U, 'ran'/'ate'
# and '.'/'!' are neighbours, 'dog'/'cat' nearly coincide in V.
TRAINED_V = np.array([[-1.9, 0.4], [-1.85, 0.45], [0.9, 1.7], [1.6, -0.95], [1.62, -0.9], [0.95, 1.65], [-0.2, -2.1], [0.92, 1.69]])
TRAINED_U = np.array([[1.2, -0.5], [1.25, -0.45], [1.1, -1.4], [0.3, -1.6], [0.3, -1.6], [1.05, -1.45], [-1.9, 0.5], [0.301, -1.601]])


def overlaps(ax) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty text labels on ax whose rendered boxes intersect."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def figures():
    """The V/U figures of 01-03: name -> figure."""
    out = {}
    out["01 slide tables"] = plot_tables(SLIDE_V, SLIDE_U, VOCAB, title="The slide's random tables (M = 2)")
    out["03 trained tables"] = plot_tables(TRAINED_V, TRAINED_U, VOCAB, title="After 200 epochs of SGD")
    out["03 trained, exactly coincident"] = plot_tables(np.round(TRAINED_V, 0), np.round(TRAINED_U, 0), VOCAB)
    fig, ax = plt.subplots(figsize=(5, 5))  # 02: v = V['the'] among the next-token vectors
    plot_vectors(SLIDE_U, VOCAB, ax=ax, color=NEXT_COLOR, legend="U: next tokens")
    plot_vectors(SLIDE_V[[6]], ["v = V['the']"], ax=ax, color=PREV_COLOR, legend="v: previous token")
    out["02 U and v"] = fig
    fig, ax = plt.subplots(figsize=(4.5, 4.5))  # 01: the rows of 'the dog ran .'
    plot_vectors(SLIDE_V[[6, 4, 5, 1]], ["the", "dog", "ran", "."], ax=ax)
    out["01 lookup"] = fig
    rng = np.random.default_rng(0)  # a crowded table: clusters of near-coincident vectors
    crowded = np.repeat(rng.normal(size=(4, 2)), 3, axis=0) + rng.normal(scale=0.08, size=(12, 2))
    out["crowded"] = plot_tables(crowded, crowded[::-1], [f"tok{i}" for i in range(12)])
    return out


@pytest.fixture(scope="module")
def drawn():
    figs = figures()
    yield figs
    plt.close("all")


@pytest.mark.parametrize("name", ["01 slide tables", "03 trained tables", "03 trained, exactly coincident", "02 U and v", "01 lookup", "crowded"])
def test_no_two_labels_overlap(drawn, name):
    for ax in drawn[name].axes:
        assert not overlaps(ax), f"{name}: overlapping labels {overlaps(ax)}"


def test_coincident_vectors_share_one_label_with_a_marker(drawn):
    u_axis = drawn["03 trained, exactly coincident"].axes[1]
    labels = [t.get_text() for t in u_axis.texts]
    assert any("cat" in label and "dog" in label for label in labels), labels
    assert u_axis.collections, "a marker at the common tip"
    groups = merge_coincident(TRAINED_U, VOCAB, tol=0.01)
    assert any(sorted(m) == [3, 4, 7] for _, _, m in groups)


def test_punctuation_is_quoted_and_2d_plots_have_equal_aspect(drawn):
    assert display_label(".") == "'.'" and display_label("!") == "'!'" and display_label("dog") == "dog"
    for ax in drawn["01 slide tables"].axes:
        assert ax.get_aspect() == 1.0
    texts = [t.get_text() for t in drawn["01 slide tables"].axes[0].texts]  # V
    assert "'.'" in texts and "'!'" in texts


def test_probability_panels_can_share_a_scale():
    fig, axes = plt.subplots(1, 2)
    plot_probs(np.array([0.9, 0.1]), ["a", "b"], ax=axes[0], ymax=1.0)
    plot_probs(np.array([0.5, 0.5]), ["a", "b"], ax=axes[1], ymax=1.0)
    assert axes[0].get_ylim() == axes[1].get_ylim() == (0.0, 1.0)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Every figure of every solution notebook, as a lecture shows it.
#
# Each solution notebook runs top to bottom in a kernel with the inline backend (once for the
# session: tests/executed.py); after every cell a hook draws each open figure and records every
# piece of text that was actually drawn (titles, labels, tick labels, legends, annotations, colour
# bars) with its size and its box. A figure wider than SHOWN_WIDTH inches is shown scaled down to
# that width (a notebook column, a slide), so its text is measured at that scale.

from autograder.course import available  # noqa: E402

MIN_POINTS = 12.0  # the smallest text a lecture hall reads, at the size the figure is shown
SHOWN_WIDTH = 10.0  # inches: wider figures are shown scaled down to this


@pytest.fixture(scope="module")
def executed(executed_solutions):
    """Every solution notebook, executed once: stem -> (figure report, executed notebook)."""
    return {stem: (run.figures, run.nb) for stem, run in executed_solutions.items()}


@pytest.fixture(scope="module")
def notebook_figures(executed):
    return {stem: report for stem, (report, _) in executed.items()}


@pytest.mark.slow
def test_every_notebook_draws_figures(notebook_figures):
    for stem, figs in notebook_figures.items():
        assert figs, f"{stem}: no figure was drawn (the hook saw none)"


@pytest.mark.slow
@pytest.mark.parametrize("stem", list(available().values()))
def test_figure_text_is_large_enough_and_inside(notebook_figures, stem):
    problems = []
    for fig in notebook_figures[stem]:
        scale = min(1.0, SHOWN_WIDTH / fig["width"])
        for t in fig["texts"]:
            if t["size"] * scale < MIN_POINTS - 1e-6:
                problems.append(f"cell {fig['cell']} ({fig['first_line']!r}): {t['text']!r} at {t['size'] * scale:.1f} pt")
            if not t["inside"]:
                problems.append(f"cell {fig['cell']} ({fig['first_line']!r}): {t['text']!r} is cut at the figure's edge")
    assert not problems, f"{stem}: {len(problems)} texts a lecture hall cannot read:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------------------------------------
# Every number the teaching text quotes is computed: it is printed by a cell of the same notebook
# (equal once rounded to the digits quoted; "57%" matches a printed 0.571), or it is a constant
# this test recomputes below. Formulas ($...$) and code spans (`...`) are not claims.

import math  # noqa: E402
import re  # noqa: E402

from helpers import grammar  # noqa: E402

QUOTED = re.compile(r"(?<![\w.])(\d+\.\d+|\d+%)(?![\w.])")
PRINTED = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?")
RECOMPUTED = {  # (notebook, cell id) -> {quoted number: its value, computed here}
    ("02_sampling", "c36"): {"0.1": 0.1},  # the slider's range (a setting, not a result)
    ("03_training", "c08"): {"2.08": math.log(8)},  # a uniform guess over 8 tokens
    ("03_training", "c25"): {"2.08": math.log(8)},
    ("03_training", "c42"): {"0.592": grammar.floor(3)},  # notebook 04's 3-token floor
    ("07_minigpt", "c37"): {"1.00": 1.0},  # the scale's end points, described
    ("07_minigpt", "c42"): {"95%": grammar.GRAMMAR.end["cat"]["!"]},  # the grammar's rule for cat sentences
}


def _matches(quoted: str, values: list[float]) -> bool:
    if quoted.endswith("%"):
        return any(round(100 * v) == int(quoted[:-1]) for v in values) or float(quoted[:-1]) in values
    digits = len(quoted.split(".")[1])
    return any(round(v, digits) == float(quoted) for v in values)


@pytest.mark.slow
@pytest.mark.parametrize("stem", list(available().values()))
def test_every_quoted_number_is_printed_or_recomputed(executed, stem):
    nb = executed[stem][1]
    printed = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    values = [float(x) for x in PRINTED.findall(printed)] + [float(x[:-1]) / 100 for x in re.findall(r"\d+%", printed)]
    unbacked = []
    for c in nb.cells:
        if c.cell_type != "markdown" or c.metadata.get("nbgrader", {}).get("solution"):
            continue  # model answers to written questions are graded by people
        text = re.sub(r"`[^`]*`", "", re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", c.source, flags=re.S))
        known = RECOMPUTED.get((stem, c.get("id")), {})
        for quoted in QUOTED.findall(text):
            if quoted in known:
                assert _matches(quoted, [known[quoted]]), f"{stem} {c.get('id')}: {quoted} is not {known[quoted]}"
            elif not _matches(quoted, values):
                unbacked.append(f"{c.get('id')}: {quoted} ({text.strip()[:70]!r})")
    assert not unbacked, f"{stem}: numbers in the text that no cell prints:\n" + "\n".join(unbacked)
