"""How fast does each solution notebook run top to bottom, against the floor?

    python benchmarks/notebook_speed.py [--repeat 1]

Executes every solution notebook with nbclient in a fresh kernel and, in the same run,
a "floor" notebook that only starts a kernel and imports numpy, torch, matplotlib and
helpers. Prints each notebook's time, its slowest cell (first line and seconds; cells
tagged "training" are reported apart: they carry a progress bar) and the time to its first
figure (from the kernel's start), then the ratio of the whole series to seven times the
floor, and lists every cell over 2 s, whatever its kind (a lecturer runs them all live; the
setup cell is listed too, marked, since the floor pays the same imports). Cells tagged
"optional" (notebook 07's live training) run as a top-to-bottom run leaves them: flag off.
Targets: the series within 1.5x the floor; no cell over 2 s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course import SOLUTIONS, available  # noqa: E402

FLOOR_SOURCE = """
import sys, pathlib
sys.path.insert(0, str(pathlib.Path.cwd().parent))
import numpy as np
import torch
import matplotlib.pyplot as plt
import helpers
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch.optim's one-time import (about 1.5 s), paid by 03-07
"""
CELL_BUDGET = 2.0
SERIES_TARGET = 1.5


FIGURES = ("image/png", "image/svg+xml", "image/jpeg")


def first_line(cell) -> str:
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return (lines[0][:60] + ("..." if len(lines[0]) > 60 else "")) if lines else ""


def run(nb) -> tuple[float, list[tuple[float, int, list[str]]], float | None]:
    """Execute ``nb``; return (seconds, [(cell seconds, index, tags)], seconds to the first figure or None)."""
    timings, first_figure = [], None
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(SOLUTIONS)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t = time.perf_counter()
            client.execute_cell(cell, index)
            tags = list(cell.metadata.get("tags", []))
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
                tags.append("setup")  # the imports: what the floor measures
            timings.append((time.perf_counter() - t, index, tags))
            if first_figure is None and any(set(FIGURES) & set(o.get("data", {})) for o in cell.outputs):
                first_figure = time.perf_counter() - start
    return time.perf_counter() - start, timings, first_figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each notebook (the minimum is reported)")
    args = parser.parse_args()
    floor_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_SOURCE)])
    floor = min(run(floor_nb)[0] for _ in range(max(1, args.repeat)))
    print(f"floor (kernel start + imports): {floor:.2f} s")
    total, slow_cells = 0.0, []
    for nb_id, stem in available().items():
        best = None
        for _ in range(max(1, args.repeat)):
            nb = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
            seconds, timings, figure = run(nb)
            if best is None or seconds < best[0]:
                best = (seconds, timings, figure, nb)
        seconds, timings, figure, nb = best
        total += seconds
        setup = sum(t[0] for t in timings if "setup" in t[2])
        worst = max((t for t in timings if not {"training", "setup"} & set(t[2])), default=(0.0, -1, []))
        training = sum(t[0] for t in timings if "training" in t[2])
        over = [(t, i, tags) for t, i, tags in timings if t > CELL_BUDGET]
        kinds = {"setup": " (setup: imports)", "training": " (training)", "optional": " (optional)"}
        slow_cells += [(stem, i, round(t, 2), first_line(nb.cells[i]) + "".join(kinds[k] for k in kinds if k in tags)) for t, i, tags in over]
        extra = f", training cells {training:.1f} s" if training else ""
        slowest = f"#{worst[1]} {first_line(nb.cells[worst[1]])!r} {worst[0]:.2f} s" if worst[1] >= 0 else "none"
        shown = f"{figure:.2f} s" if figure is not None else "no figure"
        print(f"{stem:24} {seconds:6.2f} s  ({seconds / floor:4.1f}x floor; setup cell {setup:.2f} s{extra}; first figure at {shown})")
        print(f"{'':24} slowest cell (not setup/training): {slowest}")
    ratio = total / (len(available()) * floor)
    print(f"series: {total:.1f} s = {ratio:.2f} x ({len(available())} x floor = {len(available()) * floor:.1f} s); target <= {SERIES_TARGET}")
    print(f"live cells over {CELL_BUDGET:g} s: {'none' if not slow_cells else ''}")
    for stem, index, seconds, line in slow_cells:
        print(f"  {stem} #{index}: {seconds:.2f} s  {line!r}")
    print(f"peak memory of a kernel: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
