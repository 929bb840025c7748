"""Slides: the derived slideshow metadata (autograder/lecture/slides.py) and the offline reveal.js decks."""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS, available
from autograder.lecture import deck, slides

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
    at = {cell["id"]: i for i, cell in enumerate(nb.cells)}  # by cell id: a cell added to 01 moves none of these
    nb.cells[at["c03"]].metadata["slideshow"]["slide_type"] = "notes"  # changed in JupyterLab's property inspector
    nb.cells[at["c06"]].metadata["slideshow"] = {"slide_type": "fragment"}  # set by hand, never annotated
    nb.cells[at["c04"]].metadata["slideshow"].pop("slide_type")  # set to "-" in JupyterLab, which drops the default
    nb.cells[at["c02"]].source = "Not a heading any more."  # content edited: the derived type follows
    again = slides.annotate(copy.deepcopy(nb))
    assert again.cells[at["c03"]].metadata["slideshow"]["slide_type"] == "notes"
    assert again.cells[at["c06"]].metadata["slideshow"]["slide_type"] == "fragment"
    assert again.cells[at["c02"]].metadata["slideshow"]["slide_type"] == "-"
    assert nb.cells[at["c04"]].metadata["slideshow"]["auto"] == "subslide" and again.cells[at["c04"]].metadata["slideshow"]["slide_type"] == "-"
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


WRITTEN = {"03": "q03_gradient", "04": "q04_order_blind", "05": "q05_relative", "06": "q06_sqrt_dk"}  # shared/COURSE.md


def _answers() -> dict[str, str]:
    """The model answers of the written questions, read from solutions/ by their nbgrader ids."""
    found = {}
    for nb_id, question in WRITTEN.items():
        for cell in _solution(nb_id).cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == question:
                found[question] = cell.source
    assert sorted(found) == sorted(WRITTEN.values()), found  # every written question is found: the checks below can fail
    return found


def leaked_answers(page: str) -> list[str]:
    """The written-answer phrases that appear in a deck's text."""
    text = " ".join(deck.plain_words(page))
    return [f"{q}: {p!r}" for q, answer in _answers().items() for p in deck.answer_phrases(answer) if p in text]


def test_instructions_and_sections():
    text = (
        "# 01 A title\n\nThe idea, in one line.\n\n**How to work.** Replace each stub with your code.\n\n"
        "Write each function in place of its `raise NotImplementedError(...)`, then run its `check(\"name\")` cell. "
        "Graded functions use only their arguments. Rotations keep lengths.\n\n### A part\n\nMore."
    )
    clean = deck.strip_instructions(text)
    assert "How to work" not in clean and "NotImplementedError" not in clean and "Graded functions" not in clean
    assert "The idea, in one line." in clean and "Rotations keep lengths." in clean
    assert deck.sections(clean) == [(1, "01 A title", "The idea, in one line.\n\nRotations keep lengths."), (3, "A part", "More.")]
    assert deck.sections("```\n# a comment\n```") == [(0, "", "```\n# a comment\n```")]  # not a heading inside code
    assert deck.display_math(r"a $x$ and $$\frac{1}{T}$$ b") == [r"$$\frac{1}{T}$$"]


def test_a_cell_shows_its_figure_first_and_folds_long_code():
    image = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}
    printed = {"output_type": "stream", "name": "stdout", "text": "a line\n"}
    widget = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {}, "text/plain": "slider"}, "metadata": {}}
    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: hidden"}
    cell = nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(deck.FIGURE_CODE_LINES + 1)), outputs=[printed, image, widget, warning])
    blocks = deck.code_cell_blocks(cell)
    assert blocks[0].startswith('<div class="figures n1"><img') and "<details" in blocks[1] and "a line" in blocks[2]
    assert "slider" not in "".join(blocks) and "UserWarning" not in "".join(blocks)
    cell.source = "x = 1"
    assert "<details" not in deck.code_cell_blocks(cell)[1]  # short code under a figure is shown
    cell.outputs = []
    cell.source = "\n".join(f"x{i} = {i}" for i in range(deck.CODE_LINES))
    assert "<details" not in deck.code_cell_blocks(cell)[0]
    cell.source += "\nlast = 1"
    assert "<details" in deck.code_cell_blocks(cell)[0]
    cell.source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    assert "SOLUTION" not in deck.code_cell_blocks(cell)[0]


def test_notebook_deck_follows_the_metadata_and_leaves_out_answers_and_setup():
    nb = slides.annotate(_solution("03"))
    stacks = slides.notebook_stacks(nb)
    page = deck.page("03", stacks)
    assert len(stacks) >= len(slides.outline(nb))  # a slide per "slide" cell, and per "##" heading inside a cell
    assert leaked_answers(page) == []
    assert "Question (written, 3 points)" in page  # the question is shown
    assert "%load_ext" not in page and "How to work" not in page and "NotImplementedError" not in page
    # The check is real: the same deck with the answer cells kept shows them.
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "q03_gradient":
            cell.metadata["nbgrader"]["solution"] = False
    assert leaked_answers(deck.page("03", slides.notebook_stacks(nb)))


def test_lecture_manifest_names_lecture_slides_and_existing_cells():
    from autograder.lecture import lecture_deck

    notebooks = {nb_id: _solution(nb_id) for nb_id in available()}
    stacks, problems = slides.lecture_stacks(notebooks)
    # Unexecuted solutions have no figures or printed output; every other problem is a broken manifest.
    assert [p for p in problems if "is the notebook executed" not in p] == []
    screens = sum(len(stack) for stack in stacks)
    assert 30 <= screens <= 40, screens
    seen = set()
    for _, entries in lecture_deck.PARTS:
        for entry in entries:
            for spec in entry.show:
                cell_id, part = spec.split(":")[:2]
                cell = {c.id: c for c in notebooks[entry.notebook].cells}[cell_id]
                assert (cell.cell_type == "code") == (part.startswith("figure") or part in ("code", "output")) or part == "all", spec
                seen.add(entry.notebook)
    assert seen == set(available())  # the lecture passes through every notebook
    assert leaked_answers(deck.page("lecture", stacks)) == []
    if LECTURE.is_dir():
        lines = {line.strip() for p in LECTURE.glob("*.txt") for line in p.read_text().splitlines()}
        assert [e.title for _, entries in lecture_deck.PARTS for e in entries if e.title not in lines] == []
    with pytest.raises(ValueError, match="never shown"):
        lecture_deck.select({c.id: c for c in notebooks["03"].cells}, "c16:all")  # q03_gradient's answer
    with pytest.raises(KeyError):
        lecture_deck.select({}, "c99:all")
    with pytest.raises(ValueError):
        lecture_deck.select({c.id: c for c in notebooks["03"].cells}, "c08:figure")


def test_decks_are_offline(tmp_path):
    decks = {}
    for release in (False, True):
        out = tmp_path / ("student" if release else "solutions")
        rows = slides.build(out, ["01"], release=release, run=False, log=lambda *_: None)
        (row,) = [r for r in rows if r["id"] == "01"]
        page = row["page"].read_text()
        assert slides.remote_references(page) == []
        assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "a remote script, style or image"
        assert "require(" not in page and "MathJax" not in page and "mermaid" not in page
        for asset in ("reveal/dist/reveal.js", "reveal/dist/reveal.css", "reveal/dist/theme/white.css", "katex/katex.min.js",
                      "katex/katex.min.css", "katex/auto-render.min.js", "katex/LICENSE"):  # fmt: skip
            assert (out / "assets" / asset).stat().st_size > 1_000, asset
        css = (out / "assets/katex/katex.min.css").read_text()
        for font in re.findall(r"url\((fonts/[^)]+)\)", css):
            assert (out / "assets/katex" / font).exists(), font  # every font KaTeX asks for is shipped
        assert "window.Reveal" in (out / "assets/reveal/dist/reveal.js").read_text()
        assert page.count("<section") >= row["slides"] + row["subslides"]
        assert "BEGIN SOLUTION" not in page and "renderMathInElement" in page
        assert (out / "index.html").exists()
        decks[release] = re.sub(r"<[^>]+>", "", page).count("NotImplementedError(")
    assert decks[True] - decks[False] == 6  # the release deck shows the stubs of 01's six graded functions, the solution deck the answers


def test_decks_execute_with_inline_figures_whatever_mplbackend(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "agg")  # with agg in the kernel, plt.show() draws nothing
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")])
    slides.execute(nb)
    assert deck.figures(nb.cells[0]), nb.cells[0].outputs


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


def test_slides_command_builds_only_the_decks_asked_for(tmp_path, capsys):
    from autograder.__main__ import main

    assert main(["slides", "--no-execute", "--out", str(tmp_path), "lecture", "5"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.slides.html")) == ["05_rope.slides.html", "lecture.slides.html"]
    assert '"lecture": ' in capsys.readouterr().out  # the screen counts are printed


def lecture_order_breaks(titles: list[str], lines: list[str]) -> list[str]:
    """The titles that do not follow the lecture's order: each must be a slide title at or after the last one's place."""
    at, breaks = 0, []
    for title in titles:
        later = [i for i in range(at, len(lines)) if lines[i] == title]
        if later:
            at = later[0]
        else:
            breaks.append(title)
    return breaks


def test_lecture_deck_follows_the_slides_order():
    from autograder.lecture import lecture_deck

    if not LECTURE.is_dir():
        pytest.skip("shared/lecture/ is not beside the repository")
    lines = [line.strip() for p in sorted(LECTURE.glob("*.txt")) for line in p.read_text().splitlines()]
    titles = [e.title for _, entries in lecture_deck.PARTS for e in entries if not e.recap]
    assert lecture_order_breaks(titles, lines) == []
    assert lecture_order_breaks(list(reversed(titles)), lines)  # the check can fail
