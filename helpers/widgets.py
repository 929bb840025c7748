"""Interactive demos (ipywidgets) for notebook 02, in place of the slides' Desmos demos.

Each demo has the same shape as ``helpers.rope_extras.rope_slider``: a function that
builds an ``ipywidgets.VBox`` of controls above a PNG image of a matplotlib figure,
with ``box.redraw(...)`` (the callback: setting a control calls it), ``box.figure``,
``box.state`` (what was drawn last) and ``box.controls``. A matching ``plot_*``
function draws the same picture statically on an axes, for places where widgets do not
render (nbclient, CI, an HTML export): notebooks draw the static figure, then show the
widget in a live kernel.

Nothing here computes a graded answer: the demos take the notebook's own functions
(``cosine_fn``, ``probs_fn``, ``sample_fn``) and only draw what they return.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import numpy as np

from .plots import NEXT_COLOR, PREV_COLOR, plot_probs


def _image_box(controls: list, figsize=(5, 4), dpi: int = 80):
    """(box, figure, image): controls above a PNG image of a pyplot-free Figure."""
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi)
    image = widgets.Image(format="png")
    box = widgets.VBox([*controls, image])
    box.figure, box.image, box.controls, box.state = figure, image, controls, {}
    return box, figure, image


def _render(figure, image) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    image.value = buffer.getvalue()


def unit(angle_deg: float, length: float = 1.0) -> np.ndarray:
    """The 2-D vector of the given length at the given angle (degrees, counter-clockwise)."""
    angle = np.deg2rad(angle_deg)
    return length * np.array([np.cos(angle), np.sin(angle)])


def plot_cosine(a, b, cosine_fn: Callable, ax=None):
    """Two 2-D vectors u and v with their angle, norms, cos(theta) and u . v = |u||v| cos(theta).

    a, b: (2,) vectors; cosine_fn: the notebook's cosine_similarity(a, b) -> float.
    Returns the axes; ``ax.cosine_state`` holds {"cos", "dot", "norms"}.
    """
    import matplotlib.pyplot as plt

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    cos = float(cosine_fn(a, b))
    norms = (float(np.hypot(*a)), float(np.hypot(*b)))
    dot = norms[0] * norms[1] * cos  # the identity the slide writes: u . v = |u| |v| cos(theta)
    for vec, name, color in ((a, "u", NEXT_COLOR), (b, "v", PREV_COLOR)):
        ax.annotate("", xy=tuple(vec), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=2))
        ax.annotate(name, tuple(vec), textcoords="offset points", xytext=(4, 4), color=color, fontsize=12)
    start, stop = sorted(np.rad2deg([np.arctan2(a[1], a[0]), np.arctan2(b[1], b[0])]))
    if stop - start > 180:
        start, stop = stop, start + 360
    arc = np.deg2rad(np.linspace(start, stop, 40))
    radius = 0.3 * min(norms) if min(norms) > 0 else 0.3
    ax.plot(radius * np.cos(arc), radius * np.sin(arc), color="0.4")
    lim = max(1.0, max(norms) * 1.25)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_title(f"cos(theta) = {cos:.2f}   u.v = {dot:.2f}\n|u| = {norms[0]:.2f}, |v| = {norms[1]:.2f}")
    ax.cosine_state = {"cos": cos, "dot": dot, "norms": norms}
    return ax


def cosine_widget(cosine_fn: Callable, angle_u: float = 30.0, angle_v: float = 100.0, length_u: float = 1.5, length_v: float = 1.0):
    """Sliders for the angles and lengths of two 2-D vectors; shows cos(theta) and u . v.

    Moving a length changes the dot product but not the cosine: the norm is what the
    cosine divides out.
    """
    import ipywidgets as widgets

    sliders = {
        "angle_u": widgets.FloatSlider(value=angle_u, min=-180, max=180, step=1, description="angle u"),
        "length_u": widgets.FloatSlider(value=length_u, min=0.1, max=3, step=0.05, description="|u|"),
        "angle_v": widgets.FloatSlider(value=angle_v, min=-180, max=180, step=1, description="angle v"),
        "length_v": widgets.FloatSlider(value=length_v, min=0.1, max=3, step=0.05, description="|v|"),
    }
    box, figure, image = _image_box(list(sliders.values()), figsize=(4.5, 4.5))

    def redraw(**values) -> None:
        for name, value in values.items():
            if sliders[name].value != value:
                sliders[name].value = value  # the observer below redraws
                return
        figure.clear()
        ax = figure.subplots()
        v = {name: s.value for name, s in sliders.items()}
        plot_cosine(unit(v["angle_u"], v["length_u"]), unit(v["angle_v"], v["length_v"]), cosine_fn, ax=ax)
        box.state = {**v, **ax.cosine_state}
        _render(figure, image)

    for slider in sliders.values():
        slider.observe(lambda change: redraw(), names="value")
    box.redraw = redraw
    redraw()
    return box


def plot_temperatures(probs_fn: Callable, vocab: Sequence[str], temperatures=(0.5, 1.0, 2.0), axes=None, highlight: str | None = None):
    """One bar chart of probs_fn(tau) per temperature tau (probs_fn: the notebook's softmax(s / tau)).

    All panels share one y-scale, so the flattening from panel to panel is what the eye sees.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(temperatures), figsize=(min(10.0, 3.4 * len(temperatures)), 3.4), sharey=True)
    probs = [np.asarray(probs_fn(tau), dtype=float) for tau in temperatures]
    ymax = max(float(p.max()) for p in probs) * 1.15
    for ax, tau, p in zip(np.atleast_1d(axes), temperatures, probs):
        entropy = float(-np.sum(p[p > 0] * np.log(p[p > 0])))
        plot_probs(p, vocab, ax=ax, title=f"\u03c4 = {tau:g}: entropy {entropy:.2f} nats", highlight=highlight, ymax=ymax)
    return axes


def temperature_widget(probs_fn: Callable, vocab: Sequence[str], temperature: float = 1.0, highlight: str | None = None):
    """A temperature slider over the next-token distribution probs_fn(tau) -> (vocab_size,), on a fixed 0..1 scale."""
    import ipywidgets as widgets

    slider = widgets.FloatLogSlider(value=temperature, base=10, min=-1, max=1, step=0.02, description="\u03c4 (temperature)")
    box, figure, image = _image_box([slider], figsize=(6, 3))

    def redraw(value: float | None = None) -> None:
        if value is not None and slider.value != value:
            slider.value = value
            return
        figure.clear()
        ax = figure.subplots()
        p = np.asarray(probs_fn(slider.value), dtype=float)
        plot_probs(p, vocab, ax=ax, title=f"\u03c4 = {slider.value:.2f}", highlight=highlight, ymax=1.0)
        box.state = {"temperature": slider.value, "probs": p}
        _render(figure, image)

    slider.observe(lambda change: redraw(), names="value")
    box.redraw = redraw
    redraw()
    return box


def sampling_widget(sample_fn: Callable, first_seed: int = 0):
    """A button that samples again with a fresh seed; sample_fn(seed) -> text (str).

    Shows the text of every seed drawn so far (the newest first).
    """
    import ipywidgets as widgets

    button = widgets.Button(description="sample again (new seed)")
    output = widgets.HTML()
    box = widgets.VBox([button, output])
    box.controls, box.state = [button], {"seed": first_seed - 1, "texts": []}

    def redraw(_=None) -> None:
        box.state["seed"] += 1
        text = sample_fn(box.state["seed"])
        box.state["texts"].insert(0, (box.state["seed"], text))
        rows = "".join(f"<div><code>seed {seed}</code>: {t}</div>" for seed, t in box.state["texts"][:8])
        output.value = rows

    button.on_click(redraw)
    box.redraw = redraw
    redraw()
    return box


def show(make_widget: Callable) -> None:
    """Display the widget ``make_widget()`` where a Jupyter kernel runs; say so elsewhere.

    The static figure drawn just before stays the record in exports and CI; the widget
    is the live version of it.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is None:
            raise ImportError("no IPython kernel")
        display(make_widget())
    except ImportError as exc:
        print(f"(interactive version not shown: {exc}; the figure above is its static version)")
