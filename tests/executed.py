"""The solution notebooks, executed once per test session, as a lecture shows them.

Three test files need every solution executed: test_notebooks (they run clean, within their CPU
budget, every self-check passes), test_figures (every drawn text is large enough) and the browser's
decks (figures inline). One kernel run of each solution serves all three: the notebook runs with
matplotlib's inline backend (what Jupyter and the decks use), a first cell that records, after
every cell and before the inline backend shows and closes its figures, every piece of text each
figure draws, and a last cell that prints the kernel's CPU time. What the callers get back is the
solution's own cells with their outputs (the added cells removed), the figure report and the times.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nbformat

from autograder.course import SOLUTIONS, available
from autograder.lecture import slides

# At every plt.show() and after every cell (before the inline backend shows and closes the figures) each open figure is
# drawn and every text that was actually drawn (titles, labels, tick labels, legends, annotations,
# colour bars) is recorded with its size and whether it lies inside the figure.
FIGURE_HOOK = r'''
import json as _json
import matplotlib.pyplot as _plt
import matplotlib.text as _mtext

_FIGURE_REPORT = []
_drawn = []
_text_draw = _mtext.Text.draw


def _recording_draw(self, renderer):
    _text_draw(self, renderer)
    if self.get_visible() and self.get_text().strip():
        _drawn.append(self)


def _walk_figures(cell):
    for num in _plt.get_fignums():
        fig = _plt.figure(num)
        _drawn.clear()
        _mtext.Text.draw = _recording_draw
        try:
            fig.canvas.draw()
        finally:
            _mtext.Text.draw = _text_draw
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        texts = []
        for t in dict.fromkeys(_drawn):  # each text once, in drawing order
            extent = t.get_window_extent(renderer)
            clip = t.get_clip_box() if t.get_clip_on() else None
            if clip is not None and not extent.overlaps(clip):
                continue  # clipped away entirely: not shown
            texts.append({"text": t.get_text()[:40], "size": float(t.get_fontsize()),
                          "inside": bool(extent.x0 >= box.x0 - 1 and extent.y0 >= box.y0 - 1 and extent.x1 <= box.x1 + 1 and extent.y1 <= box.y1 + 1)})
        _FIGURE_REPORT.append({"cell": cell, "width": float(fig.get_figwidth()), "texts": texts})


# The inline backend shows the figures and closes them at plt.show() and after the cell (its own
# post_execute callback): walk them just before either.
_show = _plt.show


def _this_cell():
    return get_ipython().execution_count - 1  # IPython counts the cell before it runs it


def _walking_show(*args, **kwargs):
    _walk_figures(_this_cell())
    return _show(*args, **kwargs)


_plt.show = _walking_show
get_ipython().events.callbacks["post_execute"].insert(0, lambda: _walk_figures(_this_cell()))
'''

REPORT = "print('FIGURE_REPORT', _json.dumps(_FIGURE_REPORT))"
CPU_PROBE = "import time as _time\nprint('KERNEL_CPU_SECONDS', _time.process_time())"  # a loaded machine stretches wall time, not this


@dataclass
class Executed:
    nb: nbformat.NotebookNode  # the solution's own cells, with their outputs
    figures: list[dict]  # per figure drawn: {"cell", "first_line", "width", "texts": [{"text", "size", "inside"}]}
    cpu_seconds: float  # the kernel's CPU time for the whole notebook
    seconds: float  # wall time


def _printed(cell, tag: str) -> str:
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    return next(line for line in text.splitlines() if line.startswith(tag)).split(" ", 1)[1]


def execute(stem: str) -> Executed:
    nb = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_HOOK))
    nb.cells += [nbformat.v4.new_code_cell(REPORT), nbformat.v4.new_code_cell(CPU_PROBE)]
    start = time.monotonic()
    slides.execute(nb, SOLUTIONS, timeout=900)  # the inline backend, whatever MPLBACKEND says
    seconds = time.monotonic() - start
    probe, report = nb.cells.pop(), nb.cells.pop()
    nb.cells.pop(0)
    figures = json.loads(_printed(report, "FIGURE_REPORT"))
    sources = {c.get("execution_count"): c.source for c in nb.cells if c.cell_type == "code"}
    for fig in figures:
        fig["first_line"] = next((line for line in sources.get(fig["cell"], "").splitlines() if line.strip()), "")[:60]
    return Executed(nb, figures, float(_printed(probe, "KERNEL_CPU_SECONDS")), seconds)


def execute_all() -> dict[str, Executed]:
    """stem -> its run, two kernels at a time."""
    stems = list(available().values())
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(stems, pool.map(execute, stems)))
