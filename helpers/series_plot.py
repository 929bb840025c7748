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


def model_name(row: SeriesRow) -> str:
    """The model's name without its notebook number in front ("03 bigram embedding" -> "bigram embedding")."""
    prefix = f"{row.notebook} "
    return row.model[len(prefix):] if row.model.startswith(prefix) else row.model


def _missing(notebook: str, here: str | None) -> str:
    return "train the models above to fill this row" if notebook == here else f"run notebook {notebook} to fill this row"


def series_table(rows: Sequence[SeriesRow], expected: Sequence[str] = ("03", "04", "05", "06", "07"), here: str | None = None) -> str:
    """A plain-text table: notebook, model, width, loss reached, floor, gap (nats/token), and the floor of what
    the model itself can use where that is higher (04's order-blind floor). ``here``: the notebook that draws it
    (its missing rows say "train the models above")."""
    lines = [f"{'nb':3s} {'model':32s} {'dim':>3s} {'reached':>8s} {'floor':>7s} {'of':14s} {'gap':>6s}  its own floor"]
    for row in with_placeholders(rows, expected):
        if isinstance(row, str):
            lines.append(f"{row:3s} (no row yet: {_missing(row, here)})")
            continue
        width = f"{row.width:3d}" if row.width is not None else "  ?"
        own = f"  {row.own_floor:.3f} {row.own_floor_name}" if row.own_floor is not None else ""
        lines.append(f"{row.notebook:3s} {model_name(row):32s} {width} {row.loss:8.3f} {row.floor:7.3f} {row.floor_name:14s} {row.loss - row.floor:+6.3f}{own}")
    return "\n".join(lines)


def plot_series(rows: Sequence[SeriesRow], expected: Sequence[str] = ("03", "04", "05", "06", "07"), ax=None, here: str | None = None):
    """One point per model (the held-out loss it reached) above a bar at its floor, in series order.

    The floor's name is written under its bar; 2-D models (the slides' sizes) are drawn as open circles, so
    05's 2-D RoPE average and 07's Femto and Pico compare at a glance; a model whose own construction has a
    higher floor (04's average: order-blind) gets a second, dashed bar there. A missing notebook gets a grey
    "run notebook NN" marker in its place. Returns the axes.
    """
    items = with_placeholders(rows, expected)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 6.4))
    x = np.arange(len(items))
    names = []
    seen: set[str] = set()

    def once(label: str) -> str | None:  # one legend entry per kind
        if label in seen:
            return None
        seen.add(label)
        return label

    for i, row in enumerate(items):
        if isinstance(row, str):
            ax.text(i, 0.5, _missing(row, here).replace(" to fill", "\nto fill"), ha="center", va="bottom", color="0.45", rotation=90)
            names.append(f"({row})")
            continue
        ax.hlines(row.floor, i - 0.38, i + 0.38, color="k", lw=2.5, label=once("exact floor of what it sees"))
        if i == 0 or isinstance(items[i - 1], str) or items[i - 1].floor_name != row.floor_name:  # once per run of one floor
            ax.text(i - 0.38, row.floor - 0.015, f"{row.floor_name} floor", ha="left", va="top", color="0.25", fontsize=12)
        if row.own_floor is not None:
            ax.hlines(row.own_floor, i - 0.38, i + 0.38, color="tab:purple", lw=2, ls="--", label=once(f"floor of its construction ({row.own_floor_name})"))
        ax.vlines(i, row.floor, row.loss, color="0.6", lw=1, ls=":")
        two_d = row.width == 2
        ax.plot(i, row.loss, "o", color="tab:red", ms=10, mfc="white" if two_d else "tab:red", mew=2,
                label=once("loss reached, 2-D model" if two_d else "loss reached"))
        ax.text(i + 0.12, row.loss + 0.02, f"{row.loss:.3f}", color="tab:red")
        names.append(f"{row.notebook} {model_name(row)}")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("held-out cross-entropy\n(nats / token)")
    ax.set_xlim(-0.6, len(items) - 0.1)  # room for the last loss's number
    top = max([max(r.loss, r.own_floor or 0.0) for r in items if not isinstance(r, str)] + [1.2])
    ax.set_ylim(0.4, top + 0.25)
    ax.set_title("The series: the loss each model reached\nagainst the floor of what it sees")
    if ax.get_legend_handles_labels()[0]:  # no row recorded yet: nothing to explain
        ax.legend(loc="upper right")
    ax.figure.tight_layout()
    return ax
