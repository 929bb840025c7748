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

**The decks are offline.** nbconvert's reveal template loads reveal.js, jQuery, require.js,
mermaid and MathJax from CDNs. Here the template is overridden: reveal.js 4 comes from the
copy bundled in the jupyterlab-rise package (its webpack chunk, wrapped so that it defines
``window.Reveal``), its CSS is taken out of the package's CSS modules, and both are copied
next to the decks (``reveal/``). Formulas are typeset offline by matplotlib's mathtext (as
inline SVG), and left as TeX where mathtext cannot parse them. Widgets do not render in a
static deck: their outputs are dropped (every widget has a static figure before it).
"""

from __future__ import annotations

import ast
import base64
import copy
import functools
import html
import json
import re
import time
from pathlib import Path

import nbformat

from autograder.course import RELEASE, SOLUTIONS, available

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


# --------------------------------------------------------------------------- math without MathJax

_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.DOTALL)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)


@functools.lru_cache(maxsize=4096)
def _mathtext_svg(tex: str, display: bool) -> str | None:
    """``tex`` as an inline SVG <img> drawn by matplotlib's mathtext, or None when it cannot parse it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import TextPath

    tex = " ".join(tex.split())
    for old, new in ((r"\operatorname", r"\mathrm"), (r"\tfrac", r"\frac"), (r"\dfrac", r"\frac"), (r"\lvert", "|"), (r"\rvert", "|"), (r"\,", r"\ ")):
        tex = tex.replace(old, new)
    tex = tex.replace("\\boldsymbol", "\\mathbf").replace("\\texttt", "\\mathtt").replace("\\lVert", "\\Vert").replace("\\rVert", "\\Vert")
    tex = re.sub(r"\\(mathbf|mathrm|mathcal|mathbb|mathit|hat|bar|vec|tilde|dot)(?![A-Za-z])\s*([A-Za-z0-9]|\\[A-Za-z]+)", r"\\\1{\2}", tex)  # \mathbf v
    tex = re.sub(r"\\frac\s*([A-Za-z0-9])\s*([A-Za-z0-9])", r"\\frac{\1}{\2}", tex)  # \frac1N
    tex = re.sub(r"\\(le|ge|ne)(?![A-Za-z])", r"\\\1q", tex)
    tex = re.sub(r"\\[Bb]ig[lr]?(?![A-Za-z])", "", tex).replace("\\top", "T")
    tex = re.sub(r"\\dots(?![A-Za-z])", r"\\ldots", tex)
    size = 22 if display else 20  # px at 72 dpi; the <img> is sized in em, so it follows the text (headings too)
    prop = FontProperties(size=size)
    try:
        box = MathTextParser("path").parse(f"${tex}$", dpi=72, prop=prop)
        path = TextPath((0, 0), f"${tex}$", prop=prop)
    except Exception:  # mathtext covers a subset of TeX: the rest stays as its source
        return None
    width, height, depth = box.width + 2, box.height + 2, box.depth + 1
    ops = {MplPath.MOVETO: "M", MplPath.LINETO: "L", MplPath.CURVE3: "Q", MplPath.CURVE4: "C"}
    d = []
    for vertices, code in path.iter_segments(curves=True, simplify=False):
        if code == MplPath.CLOSEPOLY:
            d.append("Z")
            continue
        points = vertices.reshape(-1, 2)
        d.append(ops[code] + " ".join(f"{x + 1:.2f} {height - depth - y:.2f}" for x, y in points))  # y down, baseline at height - depth
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}" height="{height:.1f}" viewBox="0 0 {width:.1f} {height:.1f}"><path d="{"".join(d)}"/></svg>'
    data = base64.b64encode(svg.encode()).decode()
    em = 20.0 * (1.1 if display else 1.0)
    style = f"height:{height / em:.2f}em;" + ("display:block;margin:0.4em auto" if display else f"vertical-align:-{depth / em:.2f}em;margin:0")
    return f'<img class="math" alt="{html.escape(tex)}" style="{style}" src="data:image/svg+xml;base64,{data}">'


def typeset(markdown: str) -> str:
    """Replace $...$ and $$...$$ outside code spans by mathtext images (where it can)."""
    parts = _CODE.split(markdown)
    for i in range(0, len(parts), 2):  # the even parts are outside code
        def repl(m):
            display = m.group(1) is not None
            img = _mathtext_svg(m.group(1) if display else m.group(2), display)
            return img if img else m.group(0)

        parts[i] = _MATH.sub(repl, parts[i])
    return "".join(parts)


# --------------------------------------------------------------------------- decks

_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}
<style>.reveal h1,.reveal h2,.reveal h3{text-transform:none!important}img.math{background:transparent!important;max-width:none!important;box-shadow:none!important;border:0!important}</style>
{%- endblock html_head_js_mathjax -%}
{%- block footer_js -%}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script>
Reveal.initialize({
  controls: true, progress: true, history: true, center: false,
  transition: "{{ resources.reveal.transition }}",
  slideNumber: "{{ resources.reveal.number }}",
  width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }},
});
function courseScrollingSlides() {
  var h = document.querySelector('.reveal').clientHeight * 0.95;
  document.querySelectorAll('section.present section, section.present').forEach(function (s) {
    if (s.scrollHeight > h) { s.style.height = '95vh'; s.style.overflowY = 'auto'; }
  });
}
Reveal.on('ready', courseScrollingSlides);
Reveal.on('slidechanged', courseScrollingSlides);
</script>
{%- endblock footer_js -%}
"""


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    return SlidesExporter(
        extra_loaders=[DictLoader({"course_slides.html.j2": _TEMPLATE})],
        template_file="course_slides.html.j2",
        reveal_url_prefix="reveal",
        reveal_theme="white",
        reveal_transition="none",
        reveal_scroll=True,
        reveal_number="c/t",
        reveal_width="1280",
        reveal_height="800",
    )


def _prepare(nb):
    """Annotate (in memory), drop widget outputs and state, typeset the markdown's math."""
    annotate(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]
            cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() not in _MARKERS)
        elif cell.cell_type == "markdown":
            cell.source = typeset(cell.source)
    return nb


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("#").strip()
    return ""


def deck_html(nb, name: str, prefix: str = "reveal") -> str:
    """The deck of an (executed) notebook as one HTML page referring to ``prefix/dist``."""
    exporter = _exporter()
    exporter.reveal_url_prefix = prefix
    body, _ = exporter.from_notebook_node(_prepare(copy.deepcopy(nb)), resources={"metadata": {"name": name}})
    return body


def execute(nb, path: Path = SOLUTIONS, timeout: int = 600):
    import nbclient

    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path)}}).execute()
    return nb


def build(out: Path, ids: list[str] | None = None, release: bool = False, run: bool = True, log=print) -> list[dict]:
    """Write one deck per notebook (and reveal/, index.html) under ``out``; return a row per deck."""
    out.mkdir(parents=True, exist_ok=True)
    write_reveal(out / "reveal")
    source, rows = (RELEASE if release else SOLUTIONS), []
    for nb_id, stem in available().items():
        if ids and nb_id not in ids:
            continue
        nb = annotate(nbformat.read(str(source / f"{stem}.ipynb"), as_version=4))
        start = time.monotonic()
        if run and not release:  # the release's stubs raise: its deck shows the code to write live, without outputs
            execute(nb)
        page = out / f"{stem}.slides.html"
        page.write_text(deck_html(nb, f"{stem}" + (" (student)" if release else "")))
        slides = outline(nb)
        row = {"id": nb_id, "stem": stem, "page": page, "title": _title(nb), "slides": len(slides),
               "subslides": sum(s for _, s in slides), "outline": slides, "seconds": time.monotonic() - start}  # fmt: skip
        rows.append(row)
        log(f"{stem:24} {row['slides']:3} slides + {row['subslides']:3} subslides  -> {page}")
    _index(out, rows, release)
    return rows


def _index(out: Path, rows: list[dict], release: bool) -> None:
    items = []
    for row in rows:
        titles = "".join(f"<li>{html.escape(t)}</li>" for t, _ in row["outline"])
        lecture = ", ".join(html.escape(t) for t in LECTURE_SLIDES.get(row["id"], []))
        items.append(
            f'<h2><a href="{row["page"].name}">{row["id"]} {html.escape(row["title"])}</a></h2>'
            f"<p>{row['slides']} slides, {row['subslides']} subslides; follows the lecture's slides: {lecture}</p><ol>{titles}</ol>"
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
    ids = [n.zfill(2) for n in args.notebooks] or None
    unknown = [n for n in ids or [] if n not in available()]
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
    print(json.dumps({r["id"]: r["slides"] for r in rows}))
    return 0
