"""Figures for notebook 07 (miniGPT): head spaces, attention grids, losses by position.

Plotting only: these functions take plain arrays (numpy, or tensors converted with
``np.asarray``) and draw them; nothing here builds or trains a model, and nothing here
is a graded answer.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .grammar import VOCAB


def token_colors(vocab: Sequence[str] = VOCAB) -> dict[str, tuple]:
    """One fixed color per token (tab20), so every figure of the notebook colors 'cat' alike."""
    cmap = plt.get_cmap("tab20")
    return {tok: cmap(i % 20) for i, tok in enumerate(vocab)}


def smooth(values, window: int = 25) -> np.ndarray:
    """Running mean over the last ``window`` values (shorter at the start); same length as ``values``."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))  # (n + 1,)
    idx = np.arange(1, values.size + 1)  # (n,)
    lo = np.maximum(0, idx - window)  # (n,)
    return (csum[idx] - csum[lo]) / (idx - lo)


def _grid(n_rows: int, n_cols: int, cell: float):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols + 0.6, cell * n_rows + 0.6), squeeze=False, layout="constrained")
    return fig, axes


def plot_head_spaces(points, labels: Sequence[str], title: str | None = None, cell: float = 3.4, vocab: Sequence[str] = VOCAB):
    """The output embedded space of every attention head: a layers x heads grid of 2-D scatters.

    points: (n_layers, n_heads, N, 2), each head's output vector (its weighted average of values,
        before the output projection) at N token positions; labels: N token strings, the token at
        each position. Each point is colored by its token; each distinct (token, rounded point) is
        labelled once, so a token that lands in several places (several contexts) shows each.
    Returns the figure.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"plot_head_spaces needs (n_layers, n_heads, N, 2) points, got shape {points.shape}")
    n_layers, n_heads, n, _ = points.shape
    if len(labels) != n:
        raise ValueError(f"{n} points but {len(labels)} labels")
    colors = token_colors(vocab)
    fig, axes = _grid(n_layers, n_heads, cell)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            xy = points[layer, head]  # (N, 2)
            span = float(np.ptp(xy, axis=0).max()) or 1.0
            seen = set()
            for tok in dict.fromkeys(labels):
                mask = np.array([lab == tok for lab in labels])
                ax.scatter(xy[mask, 0], xy[mask, 1], s=14, color=colors.get(tok, "0.4"), alpha=0.6)
            for (x, y), tok in zip(xy, labels):
                key = (tok, round(x / span * 12), round(y / span * 12))  # label nearby duplicates once
                if key in seen:
                    continue
                seen.add(key)
                ax.annotate(tok, (x, y), textcoords="offset points", xytext=(3, 2), fontsize=7, color=colors.get(tok, "0.2"))
            ax.axhline(0, color="0.9", lw=0.8, zorder=0)
            ax.axvline(0, color="0.9", lw=0.8, zorder=0)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=9)
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_attention_grid(weights, tokens: Sequence[str], title: str | None = None, cell: float = 3.0, annotate: bool = True):
    """The attention weights of every layer and head on one input: a layers x heads grid of heatmaps.

    weights: (n_layers, n_heads, T, T); row t of a heatmap is the attention of position t (the
        query, predicting the token after tokens[t]) over positions 0..t (the keys). tokens: T strings.
    One shared color scale from 0 to 1; entries above the diagonal (the future) are left blank.
    Returns the figure.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"plot_attention_grid needs (n_layers, n_heads, T, T) weights, got shape {weights.shape}")
    n_layers, n_heads, T, _ = weights.shape
    if len(tokens) != T:
        raise ValueError(f"{T} positions but {len(tokens)} tokens")
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(cell * n_heads + 1.2, cell * n_layers + 0.5), squeeze=False,
                             layout="constrained")
    future = np.triu(np.ones((T, T), dtype=bool), k=1)  # (T, T)
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            w = np.ma.masked_array(weights[layer, head], mask=future)  # (T, T)
            image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(T))
            ax.set_xticklabels(tokens, rotation=60, ha="right", fontsize=7)
            ax.set_yticks(range(T))
            ax.set_yticklabels(tokens, fontsize=7)
            if annotate and T <= 10:
                for (i, j), value in np.ndenumerate(weights[layer, head]):
                    if j <= i and value >= 0.005:
                        text = "1" if value >= 0.995 else f"{value:.2f}".lstrip("0")
                        ax.text(j, i, text, ha="center", va="center", fontsize=5.5, color="w" if value < 0.5 else "k")
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    if title:
        fig.suptitle(title)
    return fig


def plot_position_losses(losses: Mapping[str, Sequence[float]], floors: Sequence[float], full_floor: float | None = None,
                         bigram_floor: float | None = None, ax=None, title: str | None = None):
    """Loss at each position of a window against the floor for that much context.

    losses: {model name: (T,) mean cross-entropy at positions 0..T-1}; position t predicts the
    next token from t + 1 tokens, so its floor is ``floors[t] = floor(t + 1)``.
    Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    floors = np.asarray(floors, dtype=float)
    context = np.arange(1, len(floors) + 1)
    ax.plot(context, floors, "k--", marker="o", ms=3, lw=1, label="floor for that context (best possible)")
    for name, values in losses.items():
        ax.plot(context[: len(values)], values, marker="o", ms=4, label=name)
    if full_floor is not None:
        ax.axhline(full_floor, color="k", lw=0.6, ls=":", label=f"full-history floor = {full_floor:.3f}")
    if bigram_floor is not None:
        ax.axhline(bigram_floor, color="0.5", lw=0.6, ls=":", label=f"bigram floor = {bigram_floor:.3f}")
    ax.set_xlabel("context length (tokens the model sees)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_xticks(context)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
