"""The interactive demos: each widget's callback redraws from the notebook's functions,
and each has a static version."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

pytest.importorskip("ipywidgets")
from helpers.widgets import cosine_widget, plot_cosine, plot_temperatures, sampling_widget, show, temperature_widget, unit


def cosine(a, b):  # a stand-in for the student's function (a plain, independent formula)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def test_cosine_widget_redraws_when_a_slider_moves():
    box = cosine_widget(cosine, angle_u=0, angle_v=90, length_u=1, length_v=1)
    first = box.image.value
    assert abs(box.state["cos"]) < 1e-12 and abs(box.state["dot"]) < 1e-12
    box.controls[2].value = 0.0  # angle v -> same direction as u
    assert box.state["cos"] == pytest.approx(1.0) and box.image.value != first
    box.controls[1].value = 2.0  # |u| -> 2: the dot product doubles, the cosine does not move
    assert box.state["cos"] == pytest.approx(1.0) and box.state["dot"] == pytest.approx(2.0)
    box.redraw(angle_v=180.0)
    assert box.state["cos"] == pytest.approx(-1.0)


def test_temperature_widget_sharpens_and_flattens():
    s = np.array([2.0, 1.0, 0.0])
    box = temperature_widget(lambda T: softmax(s / T), ["a", "b", "c"])
    box.redraw(0.1)
    sharp = box.state["probs"]
    box.controls[0].value = 10.0
    flat = box.state["probs"]
    assert sharp[0] > 0.99 and np.ptp(flat) < 0.1 and box.state["temperature"] == pytest.approx(10.0)


def test_sampling_widget_draws_a_fresh_seed_per_click():
    box = sampling_widget(lambda seed: f"text for seed {seed}", first_seed=5)
    box.controls[0].click()
    box.controls[0].click()
    assert [seed for seed, _ in box.state["texts"]] == [7, 6, 5]
    assert "seed 7" in box.children[1].value


def test_static_versions_draw_without_widgets():
    import matplotlib.pyplot as plt

    ax = plot_cosine(unit(0, 2), unit(60, 1), cosine)
    assert ax.cosine_state["cos"] == pytest.approx(0.5) and ax.cosine_state["dot"] == pytest.approx(1.0)
    axes = plot_temperatures(lambda T: softmax(np.array([1.0, 0.0]) / T), ["a", "b"], temperatures=(0.5, 2.0))
    assert len(axes) == 2
    plt.close("all")


def test_show_outside_a_kernel_says_so(capsys):
    show(lambda: cosine_widget(cosine))
    assert "static version" in capsys.readouterr().out


def test_temperature_panels_share_one_y_scale():
    """The flattening must be visible: every panel of plot_temperatures uses the same y-limits."""
    import matplotlib.pyplot as plt

    s = np.array([3.0, 1.0, 0.0, -1.0])
    axes = plot_temperatures(lambda tau: softmax(s / tau), ["a", "b", "c", "d"], temperatures=(0.5, 1.0, 2.0))
    limits = {ax.get_ylim() for ax in axes}
    assert len(limits) == 1 and limits.pop()[1] >= softmax(s / 0.5).max()
    assert all("\u03c4" in ax.get_title() for ax in axes)
    plt.close("all")
