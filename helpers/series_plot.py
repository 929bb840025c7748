"""The series' story in one table and one figure (notebook 07): every model with the loss it
reached against the exact floor of what it can see.

Reads :class:`helpers.series.SeriesRow` rows (``helpers.series.load()``); a notebook that has
not recorded a row yet gets a placeholder that says which notebook to run. Plotting and
formatting only: nothing here trains or evaluates a model.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .series import SeriesRow


def with_placeholders(rows: Sequence[SeriesRow], expected: Sequence[str]) -> list[SeriesRow | str]:
    """The rows in notebook order; for each expected notebook without a row, the string "NN"."""
    out: list[SeriesRow | str] = []
    for notebook in sorted(set(expected) | {r.notebook for r in rows}):
        mine = [r for r in rows if r.notebook == notebook]
        out.extend(sorted(mine, key=lambda r: -r.loss) if mine else [notebook])
    return out


def _missing(notebook: str, here: str | None) -> str:
    return "train the models above to fill this row" if notebook == here else f"run notebook {notebook} to fill this row"


def series_table(rows: Sequence[SeriesRow], expected: Sequence[str] = ("03", "04", "05", "06", "07"), here: str | None = None) -> str:
    """A plain-text table: notebook, model, loss reached, floor, gap (nats/token). ``here``: the
    notebook that draws it (its missing rows say "train the models above")."""
    lines = [f"{'nb':3s} {'model':34s} {'reached':>8s} {'floor':>7s} {'of':14s} {'gap':>6s}"]
    for row in with_placeholders(rows, expected):
        if isinstance(row, str):
            lines.append(f"{row:3s} (no row yet: {_missing(row, here)})")
        else:
            lines.append(f"{row.notebook:3s} {row.model:34s} {row.loss:8.3f} {row.floor:7.3f} {row.floor_name:14s} {row.loss - row.floor:+6.3f}")
    return "\n".join(lines)


def plot_series(rows: Sequence[SeriesRow], expected: Sequence[str] = ("03", "04", "05", "06", "07"), ax=None, here: str | None = None):
    """One point per model (the held-out loss it reached) above a bar at its floor, in series order.

    A missing notebook gets a grey "run notebook NN" marker in its place. Returns the axes.
    """
    items = with_placeholders(rows, expected)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.05 * len(items) + 1.5), 4.2))
    x = np.arange(len(items))
    names = []
    for i, row in enumerate(items):
        if isinstance(row, str):
            ax.text(i, 0.5, _missing(row, here).replace(" to fill", "\nto fill"), ha="center", va="bottom", fontsize=7.5, color="0.45", rotation=90)
            names.append(f"({row})")
            continue
        ax.hlines(row.floor, i - 0.35, i + 0.35, color="k", lw=2.5, label="exact floor" if i == 0 or "exact floor" not in ax.get_legend_handles_labels()[1] else None)
        ax.vlines(i, row.floor, row.loss, color="0.6", lw=1, ls=":")
        ax.plot(i, row.loss, "o", color="tab:red", ms=7, label="loss reached" if "loss reached" not in ax.get_legend_handles_labels()[1] else None)
        ax.text(i + 0.08, row.loss + 0.03, f"{row.loss:.3f}", fontsize=7.5, color="tab:red")
        names.append(f"{row.notebook}: {row.model}")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("held-out cross-entropy (nats / token)")
    ax.set_xlim(-0.6, len(items) - 0.4)
    top = max([r.loss for r in items if not isinstance(r, str)] + [1.2])
    ax.set_ylim(0.4, top + 0.15)
    ax.set_title("The series: the loss each model reached against the floor of what it sees")
    if ax.get_legend_handles_labels()[0]:  # no row recorded yet: nothing to explain
        ax.legend(fontsize=8, loc="upper right")
    ax.figure.tight_layout()
    return ax
