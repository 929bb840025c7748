"""Figures used across the notebooks: one API for all seven.

Every function draws on ``ax`` when given (so figures can be combined) and returns
the axes it drew on.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

PREV_COLOR = "tab:blue"  # V: previous-token vectors, as on the slides
NEXT_COLOR = "tab:red"  # U: next-token vectors

# Text a lecture hall can read: nothing below 12 pt at the size a figure is shown (tests/test_figures.py).
LECTURE_STYLE = {
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.titlesize": 15,
    "figure.autolayout": True,  # tight layout at every draw: bigger text never runs off the figure's edge
}
plt.rcParams.update(LECTURE_STYLE)


def _axes(ax=None, figsize=(4.5, 4.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def display_label(token: str) -> str:
    """A token as a figure shows it: punctuation in quotes ("'.'"), so a lone dot or '!' stays visible."""
    if not token or token.startswith("'") or any(ch.isalnum() for ch in token):
        return token  # a word, or already quoted (a merged label such as "'!', '.'")
    return f"'{token}'"


def merge_coincident(vectors, labels: Sequence[str], tol: float) -> list[tuple[np.ndarray, str, list[int]]]:
    """Groups of vectors whose tips lie within ``tol`` of each other (chained), in first-seen order.

    Returns (tip, label, members) per group: the mean tip, the members' labels joined with ", "
    ("cat, dog") and the member indices. A group of one keeps its own tip and label.
    """
    vectors = np.asarray(vectors, dtype=float)
    parent = list(range(len(vectors)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            if np.linalg.norm(vectors[i] - vectors[j]) <= tol:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(vectors)):
        groups.setdefault(root(i), []).append(i)
    out = []
    for members in groups.values():
        names = [labels[i] for i in members if labels[i]]
        out.append((vectors[members].mean(axis=0), ", ".join(names), members))
    return out


def repel_labels(ax, pad_px: float = 2.0, max_iter: int = 300) -> int:
    """Move the labels drawn by plot_vectors on ``ax`` apart until no two overlap; returns the moves made.

    Works in display pixels on the real text extents (the figure's renderer), moving each
    overlapping pair apart along the axis of least overlap; the anchors (arrow tips) stay.
    Call it again after anything that resizes the axes (plot_tables does, after tight_layout).
    """
    texts = [t for t in getattr(ax, "vector_labels", []) if t.get_visible() and t.get_text()]
    if len(texts) < 2:
        return 0
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()
    to_points = 72.0 / fig.dpi
    moves = 0
    for _ in range(max_iter):
        boxes = [t.get_window_extent(renderer).expanded(1.0, 1.0).padded(pad_px) for t in texts]
        shift = np.zeros((len(texts), 2))
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                a, b = boxes[i], boxes[j]
                dx = min(a.x1, b.x1) - max(a.x0, b.x0)
                dy = min(a.y1, b.y1) - max(a.y0, b.y0)
                if dx <= 0 or dy <= 0:
                    continue
                ca = np.array([(a.x0 + a.x1) / 2, (a.y0 + a.y1) / 2])
                cb = np.array([(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2])
                if dy <= dx:  # move vertically: the smaller overlap
                    sign = 1.0 if ca[1] > cb[1] or (ca[1] == cb[1] and i < j) else -1.0
                    step = np.array([0.0, sign * (dy / 2 + 0.5)])
                else:
                    sign = 1.0 if ca[0] > cb[0] or (ca[0] == cb[0] and i < j) else -1.0
                    step = np.array([sign * (dx / 2 + 0.5), 0.0])
                shift[i] += step
                shift[j] -= step
        if not shift.any():
            break
        for text, (sx, sy) in zip(texts, shift):
            if sx or sy:
                x, y = text.xyann
                text.xyann = (x + sx * to_points, y + sy * to_points)
                moves += 1
    return moves


def plot_vectors(
    vectors,
    labels: Sequence[str],
    ax=None,
    color: str = PREV_COLOR,
    title: str | None = None,
    arrows: bool = True,
    *,
    legend: str | None = None,
    merge_tol: float = 0.06,
    lim: float | None = None,
    fontsize: float = 13,
    legend_loc: str = "best",
):
    """Draw 2-D vectors as labelled arrows from the origin (the slides' V and U plots).

    vectors: (n, 2) array; labels: n strings (tokens; punctuation is drawn quoted, '.').
    Vectors whose tips (nearly) coincide, within ``merge_tol`` times the axis half-width,
    get one label ("cat, dog") and a dot at their common tip; labels are pushed apart so
    that none overprints another (``repel_labels``), also across several calls on one ax.
    legend: a legend entry for this colour (e.g. "U: next tokens"), at legend_loc; lim: the axis
    half-width (default from the vectors). Equal aspect: lengths and angles are true.
    """
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[1] != 2:
        raise ValueError(f"plot_vectors needs an (n, 2) array, got shape {vectors.shape}")
    ax = _axes(ax)
    if lim is None:
        lim = max(1.0, float(np.abs(vectors).max()) * 1.3) if len(vectors) else 1.0
        lim = max(lim, getattr(ax, "vector_lim", 0.0))
    ax.vector_lim = lim
    for x, y in vectors:
        if arrows:
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=1.6))
        else:
            ax.scatter([x], [y], color=color, s=18)
    if not hasattr(ax, "vector_labels"):
        ax.vector_labels = []
    for tip, label, members in merge_coincident(vectors, [display_label(str(t)) for t in labels], merge_tol * lim):
        if len(members) > 1:
            ax.scatter([tip[0]], [tip[1]], s=36, facecolor="white", edgecolor=color, zorder=4, linewidths=1.5)
        if not label:
            continue
        norm = float(np.hypot(*tip))
        direction = tip / norm if norm > 1e-12 else np.array([1.0, 1.0]) / np.sqrt(2)
        offset = 7.0 * direction  # points, outward along the arrow
        punctuation = any(part.startswith("'") for part in label.split(", "))
        text = ax.annotate(
            label,
            tuple(tip),
            textcoords="offset points",
            xytext=tuple(offset),
            color=color,
            fontsize=fontsize * (1.3 if punctuation and len(members) == 1 else 1.0),
            fontweight="bold" if punctuation else "normal",
            ha="left" if direction[0] >= -0.2 else "right",
            va="bottom" if direction[1] >= -0.2 else "top",
            annotation_clip=False,
        )
        ax.vector_labels.append(text)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_aspect("equal")
    if legend:
        ax.plot([], [], color=color, lw=1.6, marker=">", markersize=5, label=legend)
        ax.legend(loc=legend_loc, framealpha=0.9)
    if title:
        ax.set_title(title)
    repel_labels(ax)
    return ax


def table_lim(*tables) -> float:
    """One axis half-width for several (n, 2) tables, so their panels share a scale."""
    return max(1.0, 1.3 * max(float(np.abs(np.asarray(t, dtype=float)).max()) for t in tables))


def plot_tables(V, U, vocab: Sequence[str], title: str = "", lim: float | None = None):
    """V (previous tokens) and U (next tokens) side by side, as on the slides, on one scale (arrow lengths
    compare across the panels). lim: the axes' half-width, to share a scale with another figure (before/after;
    ``table_lim(V0, U0, V1, U1)``), default from V and U. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    lim = table_lim(V, U) if lim is None else lim
    plot_vectors(V, vocab, ax=axes[0], color=PREV_COLOR, title="V: previous tokens", lim=lim)
    plot_vectors(U, vocab, ax=axes[1], color=NEXT_COLOR, title="U: next tokens", lim=lim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    for ax in axes:
        repel_labels(ax)
    return fig


def plot_probs(p, vocab: Sequence[str], ax=None, title: str | None = None, highlight: str | None = None, *, ymax: float | None = None):
    """Bar chart of a next-token distribution p (shape (vocab_size,)); ymax fixes the y-scale (to compare panels)."""
    p = np.asarray(p, dtype=float)
    ax = _axes(ax, figsize=(6, 3))
    colors = [NEXT_COLOR if tok == highlight else "0.6" for tok in vocab]
    ax.bar(range(len(vocab)), p, color=colors)
    ax.set_xticks(range(len(vocab)))
    ax.set_xticklabels([display_label(t) for t in vocab])
    ax.set_ylim(0, ymax if ymax is not None else max(1e-9, float(p.max())) * 1.15)
    ax.set_ylabel("probability")
    for i, value in enumerate(p):
        ax.text(i, value, f"{value:.2f}", ha="center", va="bottom", fontsize=12)
    if title:
        ax.set_title(title)
    return ax


def plot_loss(losses, floor: float | None = None, ax=None, label: str = "training loss", floor_label: str = "floor (best possible)", title: str | None = None, xlabel: str = "epoch"):
    """A loss curve (nats per token) with the best achievable loss as a dashed line."""
    ax = _axes(ax, figsize=(6, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses, label=label)
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=1.5, label=f"{floor_label} = {floor:.3f}")
        low, high = ax.get_ylim()
        if floor - low < 0.05 * (high - low):  # keep the floor line off the bottom axis
            ax.set_ylim(floor - 0.08 * (high - floor), high)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def _short(value: float) -> str:
    """A heatmap cell's number in few characters: 0.57 -> ".57", -0.5 -> "-.50", 1.234 -> "1.23"."""
    text = f"{value:.2f}"
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


def plot_heatmap(weights, row_labels: Sequence[str], col_labels: Sequence[str], ax=None, title: str | None = None, cmap: str = "viridis", annotate: bool = True):
    """A matrix (attention weights, similarities) with tokens as tick labels."""
    weights = np.asarray(weights, dtype=float)
    ax = _axes(ax, figsize=(4, 4))
    image = ax.imshow(weights, cmap=cmap)
    ax.set_xticks(range(len(col_labels)))
    ax.set_xticklabels([display_label(str(t)) for t in col_labels], rotation=45, ha="right")
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels([display_label(str(t)) for t in row_labels])
    if annotate and weights.size <= 144:
        for (i, j), value in np.ndenumerate(weights):
            r, g, b, _ = image.cmap(image.norm(value))  # the cell's colour: dark text on light cells, white on dark
            ax.text(j, i, _short(value), ha="center", va="center", fontsize=12, color="k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax
