"""The notebooks as reveal.js slides: derived slideshow metadata, and offline decks.

    python -m autograder slides [--out build/slides] [--release] [--no-execute] [NN ...]
    python -m autograder slides --annotate        # write the slideshow metadata into solutions/

**The metadata is derived.** ``annotate(nb)`` marks every cell by rules, so it can be run
again whenever the notebooks' content changes (a test fails when a solution notebook's
metadata differs from what ``annotate`` gives):

- a markdown cell starting with ``# `` or ``## `` starts a slide; ``### `` or "**Try it**"
  a subslide;
- a graded definition (nbgrader solution cell) starts a subslide (the code written live),
  and its ``check("...")`` cell is a fragment under it;
- a code cell that draws (``plt.``, ``plot_``, ``show(``, ``imshow``...) starts a subslide:
  one figure per slide; a "**What to notice**" paragraph after code is a fragment;
- a definition or figure right after a short heading (at most 6 lines) stays on its slide;
- the setup cell and code cells that only import (or are empty) are skipped;
- every other cell continues the slide it is on (``-``).

A person's choice wins: the annotator records the type it derived (``slideshow.auto``);
a cell whose ``slide_type`` differs from that record, or that has a ``slide_type`` but no
record (set in JupyterLab's property inspector, say), keeps its ``slide_type``. RISE
(jupyterlab-rise) reads the same ``slideshow`` metadata for a live slideshow in JupyterLab,
with the notebook-level ``rise`` settings (scrolling slides) that ``annotate`` adds.

**The decks** (``build``): the lecture deck, ``lecture.slides.html``, follows the lecture's
slides through the seven notebooks as the manifest ``autograder/lecture/lecture_deck.py``
says (a lecturer edits it); each notebook's deck follows its cells' slideshow metadata.
What a deck shows of a cell, what it never shows (written answers, student instructions,
setup code) and how a screen fits 1280x800 is autograder/lecture/deck.py. The solutions are
executed with the inline matplotlib backend whatever MPLBACKEND says, once, and kept in
``<out>/.executed/`` until a notebook or helpers/ change.

**The decks are offline.** reveal.js 4 comes from the copy bundled in the jupyterlab-rise
package (its webpack chunk, wrapped so that it defines ``window.Reveal``; its CSS is taken
out of the package's CSS modules); KaTeX is vendored in autograder/lecture/katex/ (MIT
licence). Both are copied next to the decks (``assets/``). Widgets do not render in a
static deck: their outputs are dropped (every widget has a static figure before it).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import html
import json
import os
import re
import time
from pathlib import Path

import nbformat

from autograder.course import RELEASE, ROOT, SOLUTIONS, available
from autograder.lecture import deck
from autograder.lecture.deck import Screen

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
RISE_SETTINGS = {"scroll": True, "transition": "none", "theme": "white", "enable_chalkboard": False}
_DRAWS = re.compile(r"\bplt\.|\bplot_\w*\(|\bshow\(|\.imshow\(|\bsubplots\(|_widget\(|\bdisplay\(")
_NOTICE = re.compile(r"^\s*\*\*What to notice", re.IGNORECASE)
_TRY = re.compile(r"^\s*\*\*Try it", re.IGNORECASE)
SHORT_LINES = 6  # a heading this short keeps the code or figure under it on its slide
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")  # nbgrader's, not for the audience
_MAGIC_LINE = re.compile(r"^\s*[%!]")

# The lecture (shared/lecture/) slides each deck follows, in order: the index page lists
# them beside the deck's own slide titles. tests/test_slides.py checks that every title
# below is a slide title of the lecture text.
LECTURE_SLIDES = {
    "01": ["Word (Token) Embeddings", "Simple Word Embedding LM", "PyTorch for Word Embedding LM"],
    "02": ["Sampling from Word Embeddings", "(Unnormalized) Cosine Similarity Metric"],
    "03": ["Learning Better Vectors", "PyTorch for Word Embedding LM"],
    "04": ["Increasing Context Size"],
    "05": ["Position Encoding"],
    "06": ["Learn to pay attention!"],
    "07": ["GPT Skeleton", "MinGPT Femto", "MinGPT Pico"],
}


# --------------------------------------------------------------------------- annotation


def _only_imports(source: str) -> bool:
    """True for a code cell that only imports (magics and comments aside), or is empty."""
    cleaned = "\n".join("" if _MAGIC_LINE.match(line) else line for line in source.splitlines())
    try:
        body = ast.parse(cleaned).body
    except SyntaxError:
        return False
    return all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body)


def _opens_short(previous) -> bool:
    """True when ``previous`` (slide type, cell) is a short markdown cell that opened a (sub)slide."""
    if previous is None:
        return False
    kind, cell = previous
    return cell.cell_type == "markdown" and kind in ("slide", "subslide") and len(cell.source.strip().splitlines()) <= SHORT_LINES


def derive(cell, previous=None) -> str:
    """The slide type the rules give ``cell``; ``previous`` is (slide type, cell) of the last shown cell before it."""
    nbgrader = cell.metadata.get("nbgrader", {})
    text = cell.source.lstrip()
    if cell.cell_type == "markdown":
        if text.startswith(("# ", "## ")):
            return "slide"
        if text.startswith("### ") or _TRY.match(text):
            return "subslide"
        if _NOTICE.match(text) and previous is not None and previous[1].cell_type == "code":
            return "fragment"
        return "-"
    if cell.cell_type != "code":
        return "skip"
    if nbgrader.get("grade_id") == "setup" or _only_imports(cell.source):
        return "skip"
    if nbgrader.get("grade") and text.startswith("check("):
        return "fragment"
    if (nbgrader.get("solution") or _DRAWS.search(cell.source)) and not _opens_short(previous):
        return "subslide"
    return "-"


def annotate(nb):
    """Mark every cell slide / subslide / fragment / skip / - by the rules (in place; returns nb).

    Deterministic and idempotent; a slide type set by hand (one that differs from the
    recorded ``auto`` value, or has none) is kept.
    """
    previous = None
    for cell in nb.cells:
        rule = derive(cell, previous)
        show = cell.metadata.get("slideshow")
        show = dict(show) if isinstance(show, dict) else {}
        if "auto" in show and "slide_type" not in show:
            show["slide_type"] = "-"  # JupyterLab's inspector drops the key when a person picks the default, "-"
        by_hand = "slide_type" in show and show.get("auto") != show["slide_type"]
        show["auto"] = rule
        if not by_hand:
            show["slide_type"] = rule
        kind = show.pop("slide_type")
        cell.metadata["slideshow"] = {"slide_type": kind, **show}
        if kind not in ("skip", "notes"):
            previous = (kind, cell)
    rise = dict(nb.metadata.get("rise", {}))
    nb.metadata["rise"] = {**RISE_SETTINGS, **rise}
    return nb


def drift(nb) -> list[str]:
    """Where ``nb``'s slideshow metadata differs from what ``annotate`` gives (empty: none)."""
    want = annotate(copy.deepcopy(nb))
    problems = []
    for index, (have, good) in enumerate(zip(nb.cells, want.cells)):
        if have.metadata.get("slideshow") != good.metadata["slideshow"]:
            first = have.source.strip().splitlines()[0][:60] if have.source.strip() else ""
            problems.append(f"cell {index} ({first!r}): {have.metadata.get('slideshow')} != {dict(good.metadata['slideshow'])}")
    if nb.metadata.get("rise") != want.metadata["rise"]:
        problems.append(f"notebook metadata 'rise': {nb.metadata.get('rise')} != {dict(want.metadata['rise'])}")
    return problems


def outline(nb) -> list[tuple[str, int]]:
    """The deck's slides in order: (title, number of subslides under it)."""
    slides: list[list] = []
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind == "slide" or (not slides and kind not in ("skip", "notes")):
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            slides.append([first.lstrip("#").strip() if cell.cell_type == "markdown" else first, 0])
        elif kind == "subslide":
            slides[-1][1] += 1
    return [(title, subs) for title, subs in slides]


def annotate_files(ids: list[str] | None = None) -> list[Path]:
    """Annotate solutions/NN_*.ipynb in place; return the files that changed."""
    changed = []
    for nb_id, stem in available().items():
        if ids and nb_id not in ids:
            continue
        path = SOLUTIONS / f"{stem}.ipynb"
        before = path.read_text()
        nb = annotate(nbformat.read(str(path), as_version=4))
        after = nbformat.writes(nb) + "\n"
        if after != before:
            path.write_text(after)
            changed.append(path)
    return changed


# --------------------------------------------------------------------------- offline reveal.js


def _rise_static() -> Path:
    try:
        import jupyterlab_rise
    except ImportError:
        raise RuntimeError("the slides need the jupyterlab-rise package (pip install jupyterlab-rise): it ships reveal.js") from None
    return Path(jupyterlab_rise.__file__).parent / "static"


def _js_string(text: str) -> str:
    """Decode the body of a JS string or template literal (no ${} left in it)."""
    out, i = [], 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        elif nxt == "\n":
            i += 2
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def _css_module(static: Path, name: str) -> str:
    """The CSS text of ``reveal.js/dist/<name>`` out of the RISE bundle's css-loader modules."""
    marker = f'node_modules/reveal.js/dist/{name}"]'
    for path in sorted(static.glob("*.bundle.js")):
        src = path.read_text(errors="replace")
        at = src.find(marker)
        if at < 0:
            continue
        end = src.rfind(',"",{version:3', 0, at)
        start = src.rfind(".id,", 0, end) + len(".id,")
        quote, body = src[start], src[start + 1 : end - 1]
        if quote == "`":  # drop the @font-face rules that point at bundled fonts: the theme falls back to system fonts
            body = re.sub(r"@font-face\s*\{[^}]*\$\{[^}]*\}", "", body)
            body = re.sub(r"\$\{[^}]*\}", "", body)
        return _js_string(body)
    raise RuntimeError(f"reveal.js's {name} was not found in jupyterlab-rise's static files ({static})")


def _reveal_core(static: Path) -> tuple[str, str]:
    """(the webpack chunk with reveal.js's core, its license text)."""
    for path in sorted(static.glob("*.bundle.js")):
        src = path.read_text(errors="replace")
        if ".VERSION=" in src and "isLastSlide" in src and "getSlidePastCount" in src:
            lic = path.with_name(path.name + ".LICENSE.txt")
            return src, lic.read_text() if lic.exists() else "reveal.js, MIT licensed, https://revealjs.com"
    raise RuntimeError(f"reveal.js's core was not found in jupyterlab-rise's static files ({static})")


_PRELUDE = "/* reveal.js as bundled by the jupyterlab-rise package, wrapped to define window.Reveal (no loader needed). */\n"
_LOADER = """
;(function () {
  var chunks = self.__revealChunks || [], modules = {};
  chunks.forEach(function (chunk) { for (var id in chunk[1]) modules[id] = chunk[1][id]; });
  function req() { throw new Error("reveal.js bundle: unexpected dependency"); }
  req.r = function (e) { Object.defineProperty(e, "__esModule", { value: true }); };
  req.d = function (e, defs) { for (var k in defs) Object.defineProperty(e, k, { enumerable: true, get: defs[k] }); };
  for (var id in modules) { var exp = {}; modules[id]({ exports: exp }, exp, req); if (exp.default && exp.default.VERSION) window.Reveal = exp.default; }
})();
"""


def write_reveal(dest: Path, theme: str = "white") -> Path:
    """Copy reveal.js (core, CSS, a theme) from jupyterlab-rise into ``dest/dist``; return ``dest``."""
    static = _rise_static()
    core, license_text = _reveal_core(static)
    name = re.search(r"webpackChunk\w*", core).group(0)
    core = core.replace(f"self.{name}=self.{name}||[]", "self.__revealChunks=self.__revealChunks||[]")
    core = re.sub(r"//# sourceMappingURL=\S+", "", core)
    dist = dest / "dist"
    (dist / "theme").mkdir(parents=True, exist_ok=True)
    (dist / "reveal.js").write_text("/*\n" + license_text.replace("*/", "* /") + "\n*/\n" + _PRELUDE + core + _LOADER)
    (dist / "reveal.css").write_text(_css_module(static, "reveal.css"))
    (dist / "theme" / f"{theme}.css").write_text(_css_module(static, f"theme/{theme}.css"))
    return dest


# --------------------------------------------------------------------------- decks


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("#").strip()
    return ""


def notebook_stacks(nb) -> list[list[Screen]]:
    """A notebook's deck: its cells, by their (derived or chosen) slideshow metadata, as screens.

    A markdown cell's inner headings open screens too (``##`` a slide, ``###`` a subslide), so
    a "What to notice" cell that goes on to the next section splits where the section starts.
    A screen that would need more than ``deck.SCREEN_BUDGET`` px goes on in a subslide below.
    Written answers, instructions, skipped cells and widgets are left out (autograder/lecture/deck.py).
    """
    stacks: list[list[Screen]] = []

    def open_screen(kind: str, title: str = "") -> None:
        if kind == "slide" or not stacks:
            stacks.append([])
        stacks[-1].append(Screen(title or (stacks[-1][0].title if stacks[-1] else "")))

    def add(blocks: list[str], kind: str) -> None:
        blocks = [b for b in blocks if b]
        if not blocks:
            return
        block = deck.fragment(blocks) if kind == "fragment" else "".join(blocks)
        screen = stacks[-1][-1]
        used = sum(deck.estimated_height(b) for b in screen.blocks) + 60
        if screen.blocks and used + deck.estimated_height(block) > deck.SCREEN_BUDGET:  # too much for one screen: go on below
            stacks[-1].append(Screen(screen.title, subtitle="(continued)"))
        stacks[-1][-1].blocks.append(block)

    for cell in annotate(copy.deepcopy(nb)).cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("skip", "notes") or deck.is_written_answer(cell) or cell.cell_type not in ("markdown", "code"):
            continue
        if cell.cell_type == "code":
            if kind in ("slide", "subslide") or not stacks:
                open_screen(kind)
            add(deck.code_cell_blocks(cell), kind)
            continue
        for i, (level, heading, body) in enumerate(deck.sections(deck.strip_instructions(cell.source))):
            here = kind if i == 0 else {1: "slide", 2: "slide", 3: "subslide"}.get(level, "-")
            opens = here in ("slide", "subslide") or not stacks
            titled = opens and 1 <= level <= 3  # the heading becomes the screen's title
            if opens:
                open_screen(here, heading if titled else "")
            text = body if titled or not level else f"{'#' * level} {heading}\n\n{body}"
            add([deck.markdown_html(text)] if text.strip() else [], kind if i == 0 else "-")
    return stacks


def lecture_stacks(notebooks: dict, parts=None) -> tuple[list[list[Screen]], list[str]]:
    """The lecture deck from the manifest (autograder/lecture/lecture_deck.py): (stacks, problems).

    ``notebooks`` maps a notebook id to its (executed) notebook. A problem is a manifest entry
    that names a missing cell or part, or a written answer; the rest of the deck is still built.
    """
    from autograder.lecture import lecture_deck

    problems: list[str] = []
    stacks = []
    for part_title, screens in parts if parts is not None else lecture_deck.PARTS:
        stack = []
        for entry in screens:
            screen = Screen(entry.title, subtitle=entry.subtitle)
            if entry.text:
                screen.blocks.append(deck.markdown_html(entry.text))
            nb = notebooks.get(entry.notebook) if entry.notebook else None
            cells = {c.get("id"): c for c in nb.cells} if nb is not None else {}
            for spec in entry.show:
                try:
                    screen.blocks += lecture_deck.select(cells, spec)
                except (KeyError, ValueError) as exc:
                    problems.append(f"{part_title} / {entry.title}: {entry.notebook} {spec}: {exc}")
            if entry.side_by_side:
                screen.blocks = lecture_deck.side_by_side(screen.blocks)
            stack.append(screen)
        stacks.append(stack)
    return stacks, problems


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def execute(nb, path: Path = SOLUTIONS, timeout: int = 600):
    """Run ``nb`` in a fresh kernel whose matplotlib draws inline, whatever MPLBACKEND says here."""
    import nbclient

    env = {**os.environ, "MPLBACKEND": INLINE_BACKEND}  # MPLBACKEND=agg would leave the deck without figures
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path)}}).execute(env=env)
    return nb


def _fingerprint(stem: str) -> str:
    """A hash of what an executed solution depends on: it, the notebooks before it (07's series table reads
    the losses 03-06 reached) and the helpers they import."""
    digest = hashlib.sha256()
    for earlier in available().values():
        digest.update((SOLUTIONS / f"{earlier}.ipynb").read_bytes())
        if earlier == stem:
            break
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def executed_path(stem: str, cache: Path) -> Path:
    """Where ``cache`` keeps the solution ``stem`` executed (its name changes when the solution or helpers/ do)."""
    return cache / f"{stem}.{_fingerprint(stem)}.ipynb"


def executed(stem: str, cache: Path, log=print):
    """The solution ``stem``, executed with inline figures; kept in ``cache`` until it or helpers/ change."""
    saved = executed_path(stem, cache)
    if saved.exists():
        return nbformat.read(str(saved), as_version=4)
    start = time.monotonic()
    nb = execute(nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4))
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{stem}.*.ipynb"):
        old.unlink()
    nbformat.write(nb, str(saved))
    log(f"executed {stem} in {time.monotonic() - start:.0f} s")
    return nb


LECTURE_ID = "lecture"  # the lecture deck's name on the command line and in build()'s rows


def _row(nb_id: str, stem: str, page: Path, title: str, stacks, problems=()) -> dict:
    slides, subslides = deck.screen_count(stacks)
    return {"id": nb_id, "stem": stem, "page": page, "title": title, "slides": slides, "subslides": subslides,
            "screens": slides + subslides, "outline": [(s[0].title, len(s) - 1) for s in stacks], "problems": list(problems)}  # fmt: skip


def build(out: Path, ids: list[str] | None = None, release: bool = False, run: bool = True, log=print) -> list[dict]:
    """Write the decks (the lecture deck, one per notebook), assets/ and index.html under ``out``; a row per deck.

    ``ids`` picks notebooks ("01"...) and/or ``"lecture"``; None is every deck. The solutions
    are executed once (with inline figures) and kept in ``out/.executed`` until they change;
    ``run=False`` builds from the unexecuted notebooks (no figures), ``release`` from the
    student notebooks (stubs: the code to write live, no outputs, no lecture deck).
    """
    out.mkdir(parents=True, exist_ok=True)
    deck.write_assets(out / "assets")
    wanted = [n for n in available() if not ids or n in ids]
    lecture = not release and (not ids or LECTURE_ID in ids)
    notebooks = {}
    for nb_id, stem in available().items():
        if nb_id not in wanted and not lecture:
            continue
        if release:
            notebooks[nb_id] = nbformat.read(str(RELEASE / f"{stem}.ipynb"), as_version=4)
        elif run:
            notebooks[nb_id] = executed(stem, out / ".executed", log)
        else:
            notebooks[nb_id] = nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4)
    rows = []
    if lecture:
        from autograder.lecture import lecture_deck

        stacks, problems = lecture_stacks(notebooks)
        for problem in problems:
            log(f"warning: lecture deck: {problem}")
        page = out / "lecture.slides.html"
        page.write_text(deck.page(lecture_deck.TITLE, stacks))
        rows.append(_row(LECTURE_ID, "lecture", page, lecture_deck.TITLE, stacks, problems))
    for nb_id in wanted:
        stem, nb = available()[nb_id], notebooks[nb_id]
        stacks = notebook_stacks(nb)
        page = out / f"{stem}.slides.html"
        page.write_text(deck.page(f"{stem}" + (" (student)" if release else ""), stacks))
        rows.append(_row(nb_id, stem, page, _title(nb), stacks))
    for row in rows:
        log(f"{row['stem']:24} {row['slides']:3} slides + {row['subslides']:3} subslides = {row['screens']:3} screens -> {row['page']}")
    _index(out, rows, release)
    return rows


def _index(out: Path, rows: list[dict], release: bool) -> None:
    items = []
    for row in rows:
        titles = "".join(f"<li>{html.escape(t)}</li>" for t, _ in row["outline"])
        lecture = ", ".join(html.escape(t) for t in LECTURE_SLIDES.get(row["id"], []))
        follows = f"; follows the lecture's slides: {lecture}" if lecture else ""
        items.append(
            f'<h2><a href="{row["page"].name}">{html.escape(row["id"])} {html.escape(row["title"])}</a></h2>'
            f"<p>{row['slides']} slides, {row['subslides']} subslides{follows}</p><ol>{titles}</ol>"
        )
    kind = "student release (stubs)" if release else "solutions, executed"
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Slides</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}</style></head><body>"
        f"<h1>From word embeddings to miniGPT: slides ({kind})</h1>" + "".join(items) + "</body></html>\n"
    )


def remote_references(page: str) -> list[str]:
    """Every script src / stylesheet href / import of a deck that is not local."""
    found = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']+)""", page)
    found += re.findall(r"""<link[^>]*\bhref\s*=\s*["']([^"']+)""", page)
    found += re.findall(r"""@import\s+(?:url\()?["']?([^"')\s;]+)""", page)
    found += re.findall(r"""\bimport\s[^;'"]*from\s*["']([^"']+)""", page)
    return [url for url in found if re.match(r"(https?:)?//", url.strip())]


def main_args(args) -> int:
    """The ``slides`` subcommand (see autograder/__main__.py)."""
    ids = [n if n == LECTURE_ID else n.zfill(2) for n in args.notebooks] or None
    unknown = [n for n in ids or [] if n not in available() and n != LECTURE_ID]
    if unknown:
        print(f"error: no such notebook: {', '.join(unknown)} (have {', '.join(available())})")
        return 2
    if args.annotate:
        changed = annotate_files(ids)
        for path in changed:
            print(f"annotated {path}")
        print(f"{len(changed)} solution notebook(s) changed" + ("; now run `python -m autograder release`" if changed else ""))
        return 0
    start = time.monotonic()
    rows = build(Path(args.out), ids, release=args.release, run=not args.no_execute)
    print(f"wrote {len(rows)} decks under {args.out}/ (open index.html) in {time.monotonic() - start:.0f} s")
    print(json.dumps({r["id"]: r["screens"] for r in rows}))
    return 0
