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


def _axes(ax=None, figsize=(4.5, 4.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_vectors(vectors, labels: Sequence[str], ax=None, color: str = PREV_COLOR, title: str | None = None, arrows: bool = True):
    """Draw 2-D vectors as labelled arrows from the origin (the slides' V and U plots).

    vectors: (n, 2) array; labels: n strings.
    """
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[1] != 2:
        raise ValueError(f"plot_vectors needs an (n, 2) array, got shape {vectors.shape}")
    ax = _axes(ax)
    for (x, y), label in zip(vectors, labels):
        if arrows:
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        else:
            ax.scatter([x], [y], color=color, s=18)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), color=color, fontsize=10)
    lim = max(1.0, float(np.abs(vectors).max()) * 1.25)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_tables(V, U, vocab: Sequence[str], title: str = ""):
    """V (previous tokens) and U (next tokens) side by side, as on the slides. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    plot_vectors(V, vocab, ax=axes[0], color=PREV_COLOR, title="V: previous tokens")
    plot_vectors(U, vocab, ax=axes[1], color=NEXT_COLOR, title="U: next tokens")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_probs(p, vocab: Sequence[str], ax=None, title: str | None = None, highlight: str | None = None):
    """Bar chart of a next-token distribution p (shape (vocab_size,))."""
    p = np.asarray(p, dtype=float)
    ax = _axes(ax, figsize=(6, 3))
    colors = [NEXT_COLOR if tok == highlight else "0.6" for tok in vocab]
    ax.bar(range(len(vocab)), p, color=colors)
    ax.set_xticks(range(len(vocab)))
    ax.set_xticklabels(vocab)
    ax.set_ylim(0, max(1e-9, float(p.max())) * 1.15)
    ax.set_ylabel("probability")
    for i, value in enumerate(p):
        ax.text(i, value, f"{value:.2f}", ha="center", va="bottom", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_loss(losses, floor: float | None = None, ax=None, label: str = "training loss", floor_label: str = "floor (best possible)", title: str | None = None, xlabel: str = "epoch"):
    """A loss curve (nats per token) with the best achievable loss as a dashed line."""
    ax = _axes(ax, figsize=(6, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses, label=label)
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=1, label=f"{floor_label} = {floor:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_heatmap(weights, row_labels: Sequence[str], col_labels: Sequence[str], ax=None, title: str | None = None, cmap: str = "viridis", annotate: bool = True):
    """A matrix (attention weights, similarities) with tokens as tick labels."""
    weights = np.asarray(weights, dtype=float)
    ax = _axes(ax, figsize=(4, 4))
    image = ax.imshow(weights, cmap=cmap)
    ax.set_xticks(range(len(col_labels)))
    ax.set_xticklabels(col_labels, rotation=45, ha="right")
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels(row_labels)
    if annotate and weights.size <= 144:
        for (i, j), value in np.ndenumerate(weights):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < weights.mean() else "k")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax
