"""Figures for notebook 05 (RoPE): rotated token vectors, and a theta1 slider.

The slider replaces the slide's Desmos demo (https://www.desmos.com/calculator/88combmfxfv):
each token of a sentence is a 2-D vector, rotated by ``i * theta1`` at position ``i``;
moving theta1 turns the vectors and their average (the context vector v').

Nothing here computes a rotation itself: both functions take ``rope_fn``, the
notebook's own ``rope_2d(X, theta1)`` (X of shape (T, 2) -> (T, 2)), so the figures
show exactly what the student's function does.

* :func:`plot_rotations` draws one sentence for one theta1 on a matplotlib axes (static:
  works everywhere, including nbclient, CI and HTML exports).
* :func:`rope_slider` returns an ipywidgets box (a FloatSlider above a PNG image of the
  figure). Its callback is an ordinary method (``box.redraw(theta1)``), and setting
  ``box.slider.value`` redraws the figure, so it can be tested without a browser.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import numpy as np

MEAN_COLOR = "k"  # the average of the rotated vectors: the context vector v'


def _position_colors(T: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.85 * i / max(T - 1, 1)) for i in range(T)]


def plot_rotations(
    X,
    labels: Sequence[str],
    theta1: float,
    rope_fn: Callable,
    ax=None,
    show_original: bool = True,
    show_mean: bool = True,
    title: str | None = None,
    lim: float | None = None,
    ticks: bool = False,
):
    """Draw the tokens of one sentence as 2-D vectors rotated by their positions.

    X: (T, 2) the sentence's token vectors (row i = the token at position i).
    labels: T strings (the tokens); drawn as "i: token".
    theta1: the base angle; position i is rotated by i * theta1 (radians).
    rope_fn: the notebook's ``rope_2d(X, theta1) -> (T, 2)``.
    show_original: also draw the unrotated vectors, faded.
    show_mean: also draw the average of the rotated vectors, v' = (1/T) sum_i x'_i, in black.
    lim: half-width of the square view (default: from the vectors' lengths, which
        rotations keep, so the view does not jump while theta1 changes).
    ticks: draw the axes' tick labels (off by default: the coordinates do not matter
        here, and tick labels are most of the drawing time of a panel).

    Returns the axes; ``ax.rope_state`` holds what was drawn: ``{"theta1", "rotated"
    (T, 2), "mean" (2,)}``.
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_rotations needs a (T, 2) array, got shape {X.shape}")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} vectors")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    rotated = np.asarray(rope_fn(X.copy(), float(theta1)), dtype=float)  # (T, 2)
    if rotated.shape != X.shape:
        raise ValueError(f"rope_fn returned shape {rotated.shape}, expected {X.shape}")
    mean = rotated.mean(axis=0)  # (2,)
    colors = _position_colors(len(X))
    if lim is None:
        lim = max(1.0, float(np.linalg.norm(X, axis=1).max()) * 1.25)
    # Arrows as quivers (one artist per group: fast to redraw while the slider moves).
    arrow = dict(angles="xy", scale_units="xy", scale=1, width=0.006, headwidth=4, headlength=5)
    if show_original:
        ax.quiver(np.zeros(len(X)), np.zeros(len(X)), X[:, 0], X[:, 1], color=colors, alpha=0.3, **arrow)
    ax.quiver(np.zeros(len(X)), np.zeros(len(X)), rotated[:, 0], rotated[:, 1], color=colors, **arrow)
    placed: list[np.ndarray] = []  # label anchors so far: stack the labels of (nearly) equal vectors
    for i, (r, label, color) in enumerate(zip(rotated, labels, colors)):
        crowd = sum(float(np.linalg.norm(r - p)) < 0.06 * lim for p in placed)
        ax.annotate(f"{i}: {label}", tuple(r), textcoords="offset points", xytext=(4, 4 - 14 * crowd), color=color, fontsize=12)
        placed.append(r)
    if show_mean:
        ax.quiver([0.0], [0.0], [mean[0]], [mean[1]], color=MEAN_COLOR, **{**arrow, "width": 0.01})
        ax.annotate("v' (mean)", tuple(mean), textcoords="offset points", xytext=(4, -15), color=MEAN_COLOR, fontsize=12)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_aspect("equal")
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title if title is not None else f"theta1 = {theta1:.2f}")
    ax.rope_state = {"theta1": float(theta1), "rotated": rotated, "mean": mean}
    return ax


def _as_panels(X, labels) -> list[tuple[np.ndarray, list[str]]]:
    """One (T, 2) array with T labels, or a list of arrays with a list of label lists."""
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return [(X, list(labels))]
    if len(X) != len(labels):
        raise ValueError(f"{len(X)} sentences but {len(labels)} label lists")
    return [(np.asarray(x, dtype=float), list(lab)) for x, lab in zip(X, labels)]


def rope_slider(
    X,
    labels,
    rope_fn: Callable,
    theta1: float = 0.5,
    theta_max: float = float(np.pi),
    step: float = 0.01,
    titles: Sequence[str] | None = None,
    dpi: int = 80,
):
    """An interactive theta1 slider over the rotated vectors of one or more sentences.

    X: a (T, 2) array, or a list of (T_k, 2) arrays (one panel per sentence).
    labels: T strings, or a list of label lists (one per sentence).
    rope_fn: the notebook's ``rope_2d(X, theta1)``.
    theta1: the slider's start value; theta_max, step: its range [0, theta_max] and step.
    titles: an optional title per panel (theta1 is appended).

    Returns an ``ipywidgets.VBox([slider, image])`` with extra attributes for code and tests:
    ``slider`` (FloatSlider), ``image`` (Image, PNG bytes of the figure), ``figure`` (a
    matplotlib Figure, not managed by pyplot, so it is never shown twice), ``axes``,
    ``redraw(theta1)`` (the callback) and ``state`` (the theta1 last drawn and each panel's
    ``rope_state``). Display it with ``display(box)`` in a live Jupyter kernel.
    Raises ImportError when ipywidgets is not installed.
    """
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    panels = _as_panels(X, labels)
    if titles is not None and len(titles) != len(panels):
        raise ValueError(f"{len(titles)} titles for {len(panels)} sentences")
    lim = max(1.0, max(float(np.linalg.norm(x, axis=1).max()) for x, _ in panels) * 1.25)
    figure = Figure(figsize=(4.2 * len(panels), 4.4), dpi=dpi)
    axes = list(figure.subplots(1, len(panels), squeeze=False)[0])
    slider = widgets.FloatSlider(
        value=float(theta1), min=0.0, max=float(theta_max), step=float(step), description="theta1",
        readout_format=".2f", continuous_update=True, layout=widgets.Layout(width="60%"),
    )
    image = widgets.Image(format="png")
    box = widgets.VBox([slider, image])
    state: dict = {"theta1": None, "panels": []}

    def redraw(value: float) -> None:
        value = float(value)
        state["panels"] = []
        for k, (ax, (x, lab)) in enumerate(zip(axes, panels)):
            ax.clear()
            head = f"{titles[k]}\n" if titles is not None else ""
            plot_rotations(x, lab, value, rope_fn, ax=ax, lim=lim, title=f"{head}theta1 = {value:.2f}")
            state["panels"].append(ax.rope_state)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        image.value = buffer.getvalue()
        state["theta1"] = value

    def on_change(change) -> None:
        redraw(change["new"])

    slider.observe(on_change, names="value")
    redraw(slider.value)
    box.slider, box.image, box.figure, box.axes, box.redraw, box.state = slider, image, figure, axes, redraw, state
    return box
