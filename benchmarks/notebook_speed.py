"""How fast does each solution notebook run top to bottom, against the floor?

    python benchmarks/notebook_speed.py [--repeat 1]

Executes every solution notebook with nbclient in a fresh kernel and, in the same run,
a "floor" notebook that only starts a kernel and imports numpy, torch, matplotlib and
helpers. Prints each notebook's time and its slowest cell (cells tagged "training" are
reported apart: they carry a progress bar), and the ratio of the whole series to seven
times the floor. Targets: the series within 2x the floor; no cell over about 2 s
except the training cells of 07.
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
"""
CELL_BUDGET = 2.0


def run(nb) -> tuple[float, list[tuple[float, int, list[str]]]]:
    """Execute ``nb``; return (seconds, [(cell seconds, index, tags)])."""
    timings = []
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
    return time.perf_counter() - start, timings


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
            seconds, timings = run(nb)
            if best is None or seconds < best[0]:
                best = (seconds, timings)
        seconds, timings = best
        total += seconds
        setup = sum(t[0] for t in timings if "setup" in t[2])
        worst = max((t for t in timings if not {"training", "setup"} & set(t[2])), default=(0.0, -1, []))
        training = sum(t[0] for t in timings if "training" in t[2])
        over = [(round(t, 2), i) for t, i, tags in timings if t > CELL_BUDGET and not {"training", "setup"} & set(tags)]
        slow_cells += [(stem, i, t) for t, i in over]
        extra = f", training cells {training:.1f} s" if training else ""
        print(f"{stem:24} {seconds:6.2f} s  ({seconds / floor:4.1f}x floor; setup cell {setup:.2f} s; slowest other cell {worst[0]:.2f} s, #{worst[1]}{extra})")
    ratio = total / (len(available()) * floor)
    print(f"series: {total:.1f} s = {ratio:.2f} x ({len(available())} x floor = {len(available()) * floor:.1f} s); target <= 2.0")
    print(f"cells over {CELL_BUDGET:g} s outside the setup and training cells: {slow_cells or 'none'}")
    print(f"peak memory of a kernel: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
