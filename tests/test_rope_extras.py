"""helpers/rope_extras.py: the static rotation figure and the theta1 slider of notebook 05.

The slider is driven without a browser: setting ``box.slider.value`` must run the
callback, redraw the figure for the new theta1 and refresh the PNG the widget shows.
The rotation used here is the test's own (the slide's matrix), not the notebook's.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.data import SLIDE_TABLE_ORDER, SLIDE_V
from helpers.rope_extras import plot_rotations, rope_slider

SENTENCE = "the dog ate the cat".split()
X = SLIDE_V[[SLIDE_TABLE_ORDER.index(t) for t in SENTENCE]]  # (5, 2)


def matrix_rope_2d(X, theta1):
    """Row i times the slide's rotation matrix of angle i * theta1 (independent of the notebook)."""
    out = []
    for i, x in enumerate(np.asarray(X, dtype=float)):
        a = i * theta1
        out.append(np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ x)
    return np.array(out)


def test_plot_rotations_draws_the_rotated_vectors_and_their_mean():
    ax = plot_rotations(X, SENTENCE, 0.7, matrix_rope_2d)
    state = ax.rope_state
    assert state["theta1"] == 0.7
    np.testing.assert_allclose(state["rotated"], matrix_rope_2d(X, 0.7))
    np.testing.assert_allclose(state["mean"], matrix_rope_2d(X, 0.7).mean(axis=0))
    labels = [t.get_text() for t in ax.texts]
    assert [f"{i}: {tok}" for i, tok in enumerate(SENTENCE)] + ["v' (mean)"] == labels
    assert "0.70" in ax.get_title()
    quivers = [c for c in ax.collections if isinstance(c, matplotlib.quiver.Quiver)]
    assert len(quivers) == 3  # originals, rotated, mean
    np.testing.assert_allclose(np.column_stack([quivers[1].U, quivers[1].V]), matrix_rope_2d(X, 0.7))
    plt.close("all")


def test_plot_rotations_keeps_the_view_fixed_and_checks_its_inputs():
    ax1 = plot_rotations(X, SENTENCE, 0.0, matrix_rope_2d, show_original=False, show_mean=False)
    ax2 = plot_rotations(X, SENTENCE, 2.5, matrix_rope_2d)
    assert ax1.get_xlim() == ax2.get_xlim()  # rotations keep lengths, so the view does not jump
    assert len(ax1.texts) == len(SENTENCE)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plot_rotations(np.zeros((3, 4)), list("abc"), 0.5, matrix_rope_2d)
    with pytest.raises(ValueError, match="labels"):
        plot_rotations(X, SENTENCE[:2], 0.5, matrix_rope_2d)
    plt.close("all")


def test_equal_vectors_get_stacked_labels():
    ax = plot_rotations(X, SENTENCE, 0.0, matrix_rope_2d)  # 'the' at positions 0 and 3 coincide
    offsets = {t.get_text(): t.xyann for t in ax.texts}
    assert offsets["0: the"] != offsets["3: the"]
    plt.close("all")


def test_slider_callback_redraws_the_figure():
    pytest.importorskip("ipywidgets")
    calls = []

    def recording_rope(X, theta1):
        calls.append(theta1)
        return matrix_rope_2d(X, theta1)

    other = SLIDE_V[[SLIDE_TABLE_ORDER.index(t) for t in "the cat ate the dog".split()]]
    box = rope_slider([X, other], [SENTENCE, "the cat ate the dog".split()], recording_rope, theta1=0.5, titles=["a", "b"])
    assert box.children == (box.slider, box.image)
    assert box.slider.value == 0.5 and box.slider.min == 0.0 and box.slider.max == pytest.approx(np.pi)
    assert box.state["theta1"] == 0.5 and calls == [0.5, 0.5]  # drawn once on creation, one call per panel
    first_png = box.image.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(box.state["panels"][0]["rotated"], matrix_rope_2d(X, 0.5))

    box.slider.value = 1.3  # what moving the slider does in the browser

    assert calls[-2:] == [1.3, 1.3]
    assert box.state["theta1"] == 1.3
    np.testing.assert_allclose(box.state["panels"][0]["rotated"], matrix_rope_2d(X, 1.3))
    np.testing.assert_allclose(box.state["panels"][1]["mean"], matrix_rope_2d(other, 1.3).mean(axis=0))
    assert box.image.value != first_png and box.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in box.axes] == ["a\ntheta1 = 1.30", "b\ntheta1 = 1.30"]
    assert all(len(ax.texts) == 6 for ax in box.axes)  # the old drawing was cleared, not drawn over
    assert plt.get_fignums() == []  # the widget's figure is not a pyplot figure (never shown twice inline)


def test_slider_accepts_one_sentence_and_rejects_mismatched_titles():
    pytest.importorskip("ipywidgets")
    box = rope_slider(X, SENTENCE, matrix_rope_2d, theta1=0.0)
    assert len(box.axes) == 1
    box.redraw(0.25)
    assert box.state["theta1"] == 0.25
    with pytest.raises(ValueError, match="titles"):
        rope_slider([X, X], [SENTENCE, SENTENCE], matrix_rope_2d, titles=["only one"])
