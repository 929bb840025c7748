"""Figures and metrics for notebook 07 (miniGPT): head spaces, attention grids, losses by position, end marks,
and the shipped trained weights of its models.

Plotting and loading only: these functions take plain arrays (numpy, or tensors converted with
``np.asarray``) and draw them; nothing here builds or trains a model, and nothing here
is a graded answer. The trained weights (``helpers/trained/07_*.pt``) are made by
``python -m autograder.authoring.trained`` from the solution notebook's own training cell and
seeds, so a lecture can show trained models without waiting for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .grammar import VOCAB

TRAINED_DIR = Path(__file__).resolve().parent / "trained"


def trained_path(name: str, notebook: str = "07") -> Path:
    """Where the shipped weights of model ``name`` ("femto", "wide GPT", ...) of ``notebook`` live."""
    return TRAINED_DIR / f"{notebook}_{name.replace(' ', '_')}.pt"


def load_trained(name: str, notebook: str = "07") -> dict:
    """The shipped training result of model ``name``: {"state_dict": {parameter name: tensor}, "losses": (steps,)
    float tensor, the training loss of every step}. Loaded with ``weights_only=True`` (tensors only, no code)."""
    import torch

    return torch.load(trained_path(name, notebook), weights_only=True)


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


def plot_head_spaces(points, labels: Sequence[str], title: str | None = None, cell: float = 3.4, vocab: Sequence[str] = VOCAB,
                     legend_title: str = "token", layers: Sequence[int] | None = None):
    """The output embedded space of every attention head: a layers x heads grid of 2-D scatters.

    points: (n_layers, n_heads, N, 2), each head's output vector (its weighted average of values,
        before the output projection) at N token positions; labels: N strings, what colours each
        point (the token at each position, or a named feature such as its place in the sentence);
        vocab: every possible label, in legend order; legend_title: what the labels are.
        layers: which layers to draw (counted from 0; default all), e.g. [-1] for the last one large.
        Every point is drawn in its label's color; one legend (right of the grid)
        names the colors, so no text is printed over the points. Every panel has equal axis scales,
        so distances and angles read true. Heads and layers are counted from 1.
    Returns the figure.
    """
    from matplotlib.lines import Line2D

    points = np.asarray(points, dtype=float)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"plot_head_spaces needs (n_layers, n_heads, N, 2) points, got shape {points.shape}")
    layer_ids = [range(points.shape[0])[i] for i in layers] if layers is not None else list(range(points.shape[0]))
    points = points[layer_ids]  # (drawn layers, n_heads, N, 2)
    n_layers, n_heads, n, _ = points.shape
    if len(labels) != n:
        raise ValueError(f"{n} points but {len(labels)} labels")
    colors = token_colors(vocab)
    labels = np.asarray(labels)
    present = set(labels.tolist())
    tokens = [tok for tok in vocab if tok in present] + sorted(present - set(vocab))
    grey = (0.4, 0.4, 0.4, 1.0)
    point_colors = [colors.get(tok, grey) for tok in labels]  # (N,) one color per point
    legend_width = 0.6 + 0.11 * max(len(str(tok)) for tok in tokens)  # inches: the legend's longest entry at 12 pt
    width, height = cell * n_heads + 0.5 + legend_width, cell * n_layers + 0.9
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(width, height), squeeze=False)
    fig.set_layout_engine("none")  # the fixed margins below, not the style's tight layout
    fig.subplots_adjust(left=0.55 / width, right=1 - legend_width / width, bottom=0.4 / height, top=1 - 0.85 / height, wspace=0.35, hspace=0.4)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            xy = points[layer, head]  # (N, 2)
            ax.axhline(0, color="0.9", lw=0.8, zorder=0)
            ax.axvline(0, color="0.9", lw=0.8, zorder=0)
            ax.scatter(xy[:, 0], xy[:, 1], s=14, c=point_colors, alpha=0.6, linewidths=0)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"layer {layer_ids[layer] + 1}, head {head + 1}", y=1.0)  # a fixed y skips a costly title-placement pass
            ax.locator_params(nbins=3)  # a few ticks: the arrangement matters, not the numbers
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=colors.get(tok, grey), label=repr(tok) if tok in (".", "!") else tok)
               for tok in tokens]
    fig.legend(handles=handles, loc="center right", title=legend_title, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_attention_grid(weights, tokens: Sequence[str], title: str | None = None, cell: float = 3.0, annotate: bool = True):
    """The attention weights of every layer and head on one input: a layers x heads grid of heatmaps.

    weights: (n_layers, n_heads, T, T); row t of a heatmap is the attention of position t (the
        query, predicting the token after tokens[t]) over positions 0..t (the keys). tokens: T strings.
    One shared color scale from 0 to 1; entries above the diagonal (the future) are left blank. The
    panels share their token labels (left column and bottom row); with annotate, weights of at least
    0.05 are written in their cells.
    Returns the figure.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"plot_attention_grid needs (n_layers, n_heads, T, T) weights, got shape {weights.shape}")
    n_layers, n_heads, T, _ = weights.shape
    if len(tokens) != T:
        raise ValueError(f"{T} positions but {len(tokens)} tokens")
    width, height = cell * n_heads + 1.9, cell * n_layers + 1.5
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(width, height), squeeze=False, sharex=True, sharey=True)
    fig.set_layout_engine("none")  # the fixed margins below (and the colour bar's place), not the style's tight layout
    fig.subplots_adjust(left=0.65 / width, right=1 - 1.25 / width, bottom=0.8 / height, top=1 - 0.7 / height, wspace=0.08, hspace=0.25)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)  # (T, T)
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            w = np.ma.masked_array(weights[layer, head], mask=future)  # (T, T)
            image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
            if annotate and T <= 10:
                for (i, j), value in np.ndenumerate(weights[layer, head]):
                    if j <= i and value >= 0.05:
                        text = "1" if value >= 0.995 else f"{value:.2f}".lstrip("0")
                        ax.text(j, i, text, ha="center", va="center", fontsize=12, color="w" if value < 0.5 else "k")
            ax.set_title(f"layer {layer + 1}, head {head + 1}", y=1.0)  # a fixed y skips a costly title-placement pass
    axes[0, 0].set_xticks(range(T))
    axes[0, 0].set_yticks(range(T))
    for ax in axes[-1]:
        ax.set_xticklabels(tokens, rotation=60, ha="right")
    for ax in axes[:, 0]:
        ax.set_yticklabels(tokens)
    if image is not None:
        cax = fig.add_axes((1 - 1.1 / width, 0.3, 0.15 / width, 0.4))  # the color bar, right of the panels
        fig.colorbar(image, cax=cax, label="attention weight")
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
        _, ax = plt.subplots(figsize=(9, 5))
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
    ax.legend(ncol=2)
    if title:
        ax.set_title(title)
    return ax


def end_mark_accuracy(last_logits, true_probs, stream, offset: int, vocab: Sequence[str] = VOCAB) -> dict[str, float]:
    """How often a model prefers the end mark the grammar prefers, where the next token is an end mark.

    last_logits: (N, V) a model's scores for the token stream[offset + i] (row i); true_probs: (N, V) the
    grammar's full-history probabilities for the same tokens (helpers.grammar.true_next_probs);
    stream: the token ids. A position counts when the next token is '.' or '!'; the model is right
    when it ranks '!' above '.' exactly when the grammar does. Returns the share right in short
    sentences ("the SUBJECT VERB END": the subject 2 tokens back) and long ones ("the SUBJECT VERB
    the OBJECT END": 4 tokens back), {"short": ..., "long": ...}.
    """
    last_logits, true_probs = np.asarray(last_logits, dtype=float), np.asarray(true_probs, dtype=float)
    stream = np.asarray(stream)
    bang, dot, the = vocab.index("!"), vocab.index("."), vocab.index("the")
    targets = stream[offset : offset + len(last_logits)]  # (N,)
    at_end = np.flatnonzero((targets == bang) | (targets == dot))  # rows whose next token is an end mark
    model_bang = last_logits[at_end, bang] > last_logits[at_end, dot]
    true_bang = true_probs[at_end, bang] > true_probs[at_end, dot]
    right = model_bang == true_bang  # (n_end,)
    long = stream[offset + at_end - 2] == the  # "... the OBJECT END"
    return {"short": float(right[~long].mean()), "long": float(right[long].mean())}


def merge_close(vectors, labels: Sequence[str], share: float = 0.1) -> tuple[np.ndarray, list[str]]:
    """Vectors whose tips lie within ``share`` of the largest length of each other become one
    arrow with one label ("cat, dog"), so labels are never printed over each other; punctuation
    tokens are quoted ("'!'"). Returns (vectors (k, 2), k labels) for helpers.plots.plot_vectors."""
    vectors = np.asarray(vectors, dtype=float)
    radius = share * float(np.linalg.norm(vectors, axis=1).max() or 1.0)
    groups: list[tuple[np.ndarray, list[str]]] = []
    for v, label in zip(vectors, labels):
        shown = repr(label) if not label.isalnum() else label
        for anchor, names in groups:
            if np.linalg.norm(anchor - v) <= radius:
                names.append(shown)
                break
        else:
            groups.append((v, [shown]))
    return np.array([g[0] for g in groups]), [", ".join(g[1]) for g in groups]


def main_direction_share(points) -> float:
    """The share of the spread of 2-D points (N, 2) along their main direction: 1.0 when they lie on a line,
    0.5 when they spread equally in every direction (the first squared singular value of the centred points
    over the sum of both)."""
    centred = np.asarray(points, dtype=float) - np.mean(points, axis=0)  # (N, 2)
    s = np.linalg.svd(centred, compute_uv=False) ** 2  # (2,)
    return float(s[0] / s.sum()) if s.sum() > 0 else 1.0


def feature_share(points, labels: Sequence) -> float:
    """The share of the variance of points (N, 2) that the label of each point explains (R^2 of the label
    means): 1.0 when every label sits at one spot of its own, 0.0 when the labels do not matter."""
    points = np.asarray(points, dtype=float)
    labels = np.asarray(labels)
    total = ((points - points.mean(axis=0)) ** 2).sum()
    means = {lab: points[labels == lab].mean(axis=0) for lab in set(labels.tolist())}
    within = sum(((points[labels == lab] - m) ** 2).sum() for lab, m in means.items())
    return float(1.0 - within / total) if total > 0 else 1.0
