"""Slides: the derived slideshow metadata (autograder/lecture/slides.py) and the offline reveal.js decks."""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS, available
from autograder.lecture import slides

LECTURE = ROOT.parent / "shared" / "lecture"


def _solution(nb_id: str):
    return nbformat.read(str(SOLUTIONS / f"{available()[nb_id]}.ipynb"), as_version=4)


def _types(nb) -> list[str]:
    return [cell.metadata["slideshow"]["slide_type"] for cell in nb.cells]


@pytest.mark.parametrize("nb_id", list(available()))
def test_annotate_is_deterministic_idempotent_and_valid(nb_id):
    nb = _solution(nb_id)
    once = slides.annotate(copy.deepcopy(nb))
    assert slides.annotate(copy.deepcopy(once)) == once
    assert slides.annotate(copy.deepcopy(nb)) == once
    assert slides.drift(once) == []
    nbformat.validate(once)
    kinds = _types(once)
    assert set(kinds) <= set(slides.SLIDE_TYPES)
    assert kinds[0] == "slide"  # the title
    for cell, kind in zip(once.cells, kinds):
        grader = cell.metadata.get("nbgrader", {})
        if grader.get("grade_id") == "setup":
            assert kind == "skip"
        elif cell.cell_type == "markdown" and cell.source.startswith(("# ", "## ")):
            assert kind == "slide"
        elif cell.cell_type == "markdown" and cell.source.startswith("### "):
            assert kind == "subslide"
        elif cell.cell_type == "code" and grader.get("grade"):  # a check("...") cell appears under its definition
            assert kind == "fragment"
    assert once.metadata["rise"]["scroll"] is True


def test_rules_on_a_small_notebook():
    from autograder.authoring import nbcells

    nb = nbcells.new_notebook(
        [
            nbcells.markdown("# 09 A title"),
            nbcells.setup("import numpy as np"),
            nbcells.markdown("## 1. A section\n\n" + "A long explanation.\n" * 6),  # more than a short heading
            nbcells.solution("f", "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
            nbcells.selfcheck("f", 1),
            nbcells.code("y = f(2)"),
            nbcells.code("import torch"),
            nbcells.code("plt.plot([1, 2])"),
            nbcells.markdown("**What to notice**: a line."),
            nbcells.markdown("### A short heading"),
            nbcells.code("plot_loss([1.0])"),
            nbcells.markdown("**Try it**: a slider."),
            nbcells.code("show(lambda: slider())"),
        ]
    )
    assert _types(slides.annotate(nb)) == ["slide", "skip", "slide", "subslide", "fragment", "-", "skip", "subslide", "fragment", "subslide", "-", "subslide", "-"]
    assert slides.outline(nb) == [("09 A title", 0), ("1. A section", 4)]
    nb.cells[2].source = "## 1. A section\n\nShort."  # a short heading keeps the definition under it
    assert _types(slides.annotate(nb))[3] == "-"


def test_a_slide_type_set_by_hand_is_kept_and_the_rest_follows_the_content():
    nb = slides.annotate(_solution("01"))
    nb.cells[3].metadata["slideshow"]["slide_type"] = "notes"  # changed in JupyterLab's property inspector
    nb.cells[6].metadata["slideshow"] = {"slide_type": "fragment"}  # set by hand, never annotated
    nb.cells[4].metadata["slideshow"].pop("slide_type")  # set to "-" in JupyterLab, which drops the default
    nb.cells[2].source = "Not a heading any more."  # content edited: the derived type follows
    again = slides.annotate(copy.deepcopy(nb))
    assert again.cells[3].metadata["slideshow"]["slide_type"] == "notes"
    assert again.cells[6].metadata["slideshow"]["slide_type"] == "fragment"
    assert again.cells[2].metadata["slideshow"]["slide_type"] == "-"
    assert nb.cells[4].metadata["slideshow"]["auto"] == "subslide" and again.cells[4].metadata["slideshow"]["slide_type"] == "-"
    assert slides.annotate(copy.deepcopy(again)) == again
    nb.metadata["rise"]["theme"] = "simple"
    assert slides.annotate(nb).metadata["rise"]["theme"] == "simple"


@pytest.mark.parametrize("nb_id", list(available()))
def test_solution_metadata_is_what_the_annotator_gives(nb_id):
    """Drift: re-run `python -m autograder slides --annotate` (then `release`) after editing a notebook."""
    assert slides.drift(_solution(nb_id)) == []


def test_lecture_titles_are_the_lecture_slides():
    if not LECTURE.is_dir():
        pytest.skip("shared/lecture/ is not beside the repository")
    text = "\n".join(p.read_text() for p in LECTURE.glob("*.txt"))
    lines = {line.strip() for line in text.splitlines()}
    assert set(slides.LECTURE_SLIDES) == set(available())
    for nb_id, titles in slides.LECTURE_SLIDES.items():
        for title in titles:
            assert title in lines, f"{nb_id}: {title!r} is not a slide title of the lecture"


def test_mathtext_typesets_formulas_outside_code():
    out = slides.typeset(r"the table $V$, $$\hat{\mathbf y} = g(U\mathbf v)$$ and `$x$` in code")
    assert out.count('<img class="math"') == 2 and "`$x$`" in out
    assert slides.typeset(r"$\begin{cases} 1 \end{cases}$") == r"$\begin{cases} 1 \end{cases}$"  # beyond mathtext: left as TeX


def test_decks_are_offline(tmp_path):
    decks = {}
    for release in (False, True):
        out = tmp_path / ("student" if release else "solutions")
        (row,) = slides.build(out, ["01"], release=release, run=False, log=lambda *_: None)
        page = row["page"].read_text()
        assert slides.remote_references(page) == []
        assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "a remote script, style or image"
        assert "require(" not in page and "MathJax" not in page and "mermaid" not in page
        for asset in ("reveal/dist/reveal.js", "reveal/dist/reveal.css", "reveal/dist/theme/white.css"):
            assert (out / asset).stat().st_size > 5_000, asset
        assert "window.Reveal" in (out / "reveal/dist/reveal.js").read_text()
        assert page.count("<section") >= row["slides"] + row["subslides"]
        assert "BEGIN SOLUTION" not in page and 'class="math"' in page
        assert (out / "index.html").exists()
        decks[release] = re.sub(r"<[^>]+>", "", page).count("NotImplementedError(")
    assert decks[True] - decks[False] == 6  # the release deck shows the stubs of 01's six graded functions, the solution deck the answers


def test_slides_command_annotates(tmp_path, monkeypatch, capsys):
    from autograder.__main__ import main

    stem = available()["01"]
    (tmp_path / f"{stem}.ipynb").write_text((SOLUTIONS / f"{stem}.ipynb").read_text())
    monkeypatch.setattr(slides, "SOLUTIONS", tmp_path)
    assert main(["slides", "--annotate", "01"]) == 0
    assert slides.drift(nbformat.read(str(tmp_path / f"{stem}.ipynb"), as_version=4)) == []
    assert main(["slides", "--annotate", "01"]) == 0
    assert "0 solution notebook(s) changed" in capsys.readouterr().out
    assert main(["slides", "99"]) == 2
    assert RELEASE.is_dir()
