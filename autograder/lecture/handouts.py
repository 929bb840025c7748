"""Render the course to HTML for posting after the lecture.

    python -m autograder handouts --out build/handouts

Writes ``solutions/NN_*.html`` (each solution notebook executed top to bottom, with its
figures), ``student/NN_*.html`` (the student release as handed out, without answers),
and an ``index.html`` linking them. Widgets do not render in static HTML; every
interactive demo has a static figure just before it, which is what the page shows.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import nbclient
import nbformat
from nbconvert import HTMLExporter

from autograder.course import RELEASE, SOLUTIONS, available


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("#").strip()
    return ""


def build(out: Path, execute: bool = True) -> list[Path]:
    """Write the HTML pages and the index under ``out``; return the pages written."""
    exporter = HTMLExporter(template_name="lab")
    written, rows = [], []
    (out / "solutions").mkdir(parents=True, exist_ok=True)
    (out / "student").mkdir(parents=True, exist_ok=True)
    for nb_id, stem in available().items():
        solution = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
        start = time.monotonic()
        if execute:
            nbclient.NotebookClient(solution, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(SOLUTIONS)}}).execute()
        seconds = time.monotonic() - start
        body, _ = exporter.from_notebook_node(solution, resources={"metadata": {"name": f"{stem} (solution)"}})
        page = out / "solutions" / f"{stem}.html"
        page.write_text(body)
        written.append(page)
        student = nbformat.read(str(RELEASE / f"{stem}.ipynb"), as_version=4)
        body, _ = exporter.from_notebook_node(student, resources={"metadata": {"name": stem}})
        student_page = out / "student" / f"{stem}.html"
        student_page.write_text(body)
        written.append(student_page)
        rows.append(
            f"<tr><td>{nb_id}</td><td>{html.escape(_title(solution))}</td>"
            f'<td><a href="solutions/{stem}.html">solution (executed in {seconds:.0f} s)</a></td>'
            f'<td><a href="student/{stem}.html">student version</a></td></tr>'
        )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>From word embeddings to miniGPT</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td{padding:.3em 1em}</style></head><body>"
        "<h1>From word embeddings to miniGPT</h1><p>The course notebooks: solutions executed top to bottom, and the "
        "student versions as handed out.</p><table>" + "".join(rows) + "</table></body></html>\n"
    )
    written.append(index)
    return written
