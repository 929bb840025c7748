"""The series' scoreboard: each notebook records the loss its model reached.

Notebooks 03-07 each train a model against an exact floor (helpers.grammar). They call
``record(...)`` after training; notebook 07 reads every row back with ``load()`` and
draws the lecture's story in one table and one figure. The file lives beside the
notebooks (``series_losses.json``), so a row appears once its notebook has run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "series_losses.json"


@dataclass
class SeriesRow:
    notebook: str  # "03" .. "07"
    model: str  # e.g. "bigram embedding (dim 2)"
    loss: float  # nats/token the model reached on held-out text
    floor: float  # the exact floor of its context (helpers.grammar)
    floor_name: str  # e.g. "bigram", "3-token", "full history"
    width: int | None = None  # the model's embedding dimension (2 for the slides' models)
    own_floor: float | None = None  # the best loss of any model built like this one, where it is above `floor`
    own_floor_name: str = ""  # e.g. "order-blind": what limits the model (04's average sees only the bag of tokens)


def _path(folder: str | Path | None) -> Path:
    return Path(folder) / FILE_NAME if folder is not None else Path.cwd() / FILE_NAME


def record(row: SeriesRow, folder: str | Path | None = None) -> None:
    """Add or replace the row of ``row.model``."""
    path = _path(folder)
    rows = {r.model: r for r in load(folder)}
    rows[row.model] = row
    ordered = sorted(rows.values(), key=lambda r: (r.notebook, r.model))
    path.write_text(json.dumps([asdict(r) for r in ordered], indent=1))


def load(folder: str | Path | None = None) -> list[SeriesRow]:
    """Every recorded row, by notebook; [] when no notebook has recorded one yet."""
    path = _path(folder)
    try:
        data = json.loads(path.read_text())
        return [SeriesRow(**item) for item in data]
    except (OSError, ValueError, TypeError):
        return []
