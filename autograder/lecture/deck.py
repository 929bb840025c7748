"""Screens to reveal.js HTML: what a deck shows of a notebook's cells, and how it fits a screen.

A deck is a list of *stacks* (reveal.js's horizontal slides), each a list of `Screen`s (its
vertical subslides). Two decks are made of them (autograder/lecture/slides.py): one per
notebook, from the cells' slideshow metadata, and the lecture deck, from the manifest
autograder/lecture/lecture_deck.py.

What a deck never shows, whatever the metadata says:

- the answer to a written question (a Markdown cell that nbgrader marks as a solution):
  the question is shown, the answer cell is dropped;
- student instructions: a paragraph starting "**How to work**", and sentences about
  stubs, `check(...)` cells, solution markers or the grader;
- nbgrader's solution markers, widget outputs (a static deck cannot run them; every widget
  has a static figure before it) and stderr (warnings).

How a cell is laid out: a figure comes first; code under a figure is shown when short
(`FIGURE_CODE_LINES`), otherwise folded into a <details>; code without a figure is folded
beyond `CODE_LINES`, printed output beyond `OUTPUT_LINES`. In the browser every screen is
scaled down (to `MIN_SCALE` at most) until it fits the 1280x800 canvas; formulas are typeset
by KaTeX, shipped with the kit (autograder/lecture/katex/, MIT licence), so the decks work
offline.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

FIGURE_CODE_LINES = 8  # code under a figure: shown up to this many lines, folded beyond
CODE_LINES = 22  # code without a figure: shown up to this many lines, folded beyond
OUTPUT_LINES = 14  # printed output: shown up to this many lines, folded beyond
MIN_SCALE = 0.55  # a screen is never drawn smaller than this (text would be unreadable): split it instead
WIDTH, HEIGHT = 1280, 800
FIGURE_GROW = 2.5  # a figure may be drawn up to this much larger than its PNG when the screen has room
KATEX = Path(__file__).parent / "katex"

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)
_HOW_TO_WORK = re.compile(r"^\s*\*\*How to work", re.IGNORECASE)
# A sentence that tells a student what to do in the notebook, not what the idea is.
_INSTRUCTION = re.compile(
    r"NotImplementedError|\bcheck\(|solution markers|[Gg]raded (functions|parts)|the grader|\bhidden tests?\b|"
    r"Cells that need a part|keep (the )?name,? (and )?signature|say so and skip|\bKeep the [\w ,]+ (in|as) (an? )?`",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*`(])")
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.DOTALL)
_WIDGET = "application/vnd.jupyter.widget-view+json"
_IMAGES = ("image/png", "image/jpeg", "image/svg+xml")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Screen:
    """One screen of a deck: a title and HTML blocks, in order (a block may be a reveal.js fragment)."""

    title: str
    blocks: list[str] = field(default_factory=list)
    subtitle: str = ""


# --------------------------------------------------------------------------- what a deck may show


def is_written_answer(cell) -> bool:
    """True for the answer cell of a written (manually graded) question: never shown."""
    nbgrader = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "markdown" and bool(nbgrader.get("solution"))


def written_answers(nb) -> dict[str, str]:
    """{question id: answer text} of a notebook's written questions (nbgrader manual cells)."""
    return {c.metadata["nbgrader"].get("grade_id", c.get("id", "")): c.source for c in nb.cells if is_written_answer(c)}


def strip_instructions(markdown: str) -> str:
    """``markdown`` without its "how to work" paragraphs and sentences about stubs, checks and grading."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        if _HOW_TO_WORK.match(paragraph):
            continue
        if _INSTRUCTION.search(paragraph) and not paragraph.lstrip().startswith(("```", "    ", "$$")):
            sentences = [s for s in _SENTENCE_END.split(paragraph) if not _INSTRUCTION.search(s)]
            paragraph = " ".join(sentences)
        if paragraph.strip():
            kept.append(paragraph)
    return "\n\n".join(kept)


def sections(markdown: str) -> list[tuple[int, str, str]]:
    """``markdown`` cut at its headings: [(level, heading, body)]; level 0 / heading "" for text before the first."""
    out, last, level, title = [], 0, 0, ""
    for match in _HEADING.finditer(markdown):
        if _inside_fence(markdown, match.start()):
            continue
        out.append((level, title, markdown[last : match.start()].strip("\n")))
        level, title, last = len(match.group(1)), match.group(2).strip(), match.end()
    out.append((level, title, markdown[last:].strip("\n")))
    return [s for s in out if s[1] or s[2].strip()]


def _inside_fence(text: str, at: int) -> bool:
    return text[:at].count("```") % 2 == 1


def display_math(markdown: str) -> list[str]:
    """The display formulas ($$...$$) of ``markdown``."""
    return _DISPLAY_MATH.findall(markdown)


# --------------------------------------------------------------------------- cells to HTML


def markdown_html(markdown: str) -> str:
    """Markdown (the instructor's, from solutions/) to HTML; $...$ stays for KaTeX, in the browser."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return f'<div class="md">{markdown2html_mistune(markdown)}</div>'


def _highlight(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source, PythonLexer(), HtmlFormatter(nowrap=True))


def clean_source(source: str) -> str:
    """A code cell's source without nbgrader's solution markers."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in _MARKERS).strip("\n")


def code_html(source: str, limit: int = CODE_LINES, label: str = "the code") -> str:
    """Highlighted code; folded into a <details> when longer than ``limit`` lines."""
    lines = source.count("\n") + 1
    block = f'<pre class="code highlight">{_highlight(source)}</pre>'
    if lines > limit:
        return f'<details class="fold"><summary>{label} ({lines} lines)</summary>{block}</details>'
    return block


def _text_html(text: str, css: str = "output") -> str:
    text = _ANSI.sub("", text).rstrip("\n")
    lines = text.count("\n") + 1
    block = f'<pre class="{css}">{html.escape(text)}</pre>'
    if lines > OUTPUT_LINES:
        return f'<details class="fold"><summary>the output ({lines} lines)</summary>{block}</details>'
    return block


def figures(cell) -> list[str]:
    """The <img> of every image a code cell displayed, in order."""
    out = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if _WIDGET in data:
            continue
        for mime in _IMAGES:
            if mime in data:
                payload = data[mime]
                if mime == "image/svg+xml":
                    import base64

                    payload = base64.b64encode((payload if isinstance(payload, str) else "".join(payload)).encode()).decode()
                out.append(f'<img class="figure" alt="figure" src="data:{mime};base64,{"".join(payload.split())}">')
                break
    return out


def text_outputs(cell) -> list[str]:
    """The printed outputs of a code cell (stdout, results, errors) as <pre> blocks; stderr and widgets are left out."""
    out, stream = [], []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") == "stdout":
                stream.append(output.get("text", ""))
            continue
        if kind == "error":
            stream.append(f"{output.get('ename', '')}: {output.get('evalue', '')}\n")
            continue
        data = output.get("data", {})
        if _WIDGET in data or any(m in data for m in _IMAGES):
            continue
        if "text/html" in data:
            out.append(f'<div class="output-html">{data["text/html"]}</div>')
        elif "text/plain" in data:
            stream.append(data["text/plain"] + "\n")
    text = "".join(stream)
    return ([_text_html(text)] if text.strip() else []) + out


def figure_row(images: list[str]) -> str:
    return f'<div class="figures n{len(images)}">{"".join(images)}</div>' if images else ""


def code_cell_blocks(cell) -> list[str]:
    """A code cell as blocks: its figures first, then short code (or long code folded), then its printed output."""
    source = clean_source(cell.source)
    images = figures(cell)
    blocks = [figure_row(images)] if images else []
    if source:
        blocks.append(code_html(source, FIGURE_CODE_LINES if images else CODE_LINES))
    blocks += text_outputs(cell)
    return blocks


SCREEN_BUDGET = 1150  # px at scale 1 a screen may need (the canvas is 800: scaled to 0.7); beyond, it is split
_PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.DOTALL)
_FOLDED = re.compile(r"<details\b.*?</details>", re.DOTALL)


def estimated_height(block: str) -> float:
    """A rough height in px (at scale 1) of an HTML block: code and output lines, text lines, figure rows."""
    block = _FOLDED.sub("<p>folded</p>", block)
    height = 0.0
    for pre in _PRE.findall(block):
        height += 24 * (pre.count("\n") + 1) + 16
    rest = _PRE.sub("", block)
    height += 300 * rest.count('class="figures')  # a figure row is drawn at 300 px or more (it grows into free room)
    text = re.sub(r"<[^>]+>", "", rest)
    height += sum(36 * (len(line) // 95 + 1) + 8 for line in text.splitlines() if line.strip())
    height += 60 * rest.count('class="katex-display') + 50 * rest.count("$$") // 2
    return height


def fragment(blocks: list[str]) -> str:
    return f'<div class="fragment">{"".join(blocks)}</div>'


# --------------------------------------------------------------------------- the page

_CSS = """
.reveal { font-size: 27px; }
.reveal .anchor-link { display: none; }
.reveal .slides { text-align: left; }
.reveal .slides section { padding: 0; }
.reveal .screen { box-sizing: border-box; width: 1280px; padding: 18px 40px 10px; transform-origin: top left; }
.reveal h1, .reveal h2, .reveal h3, .reveal h4 { text-transform: none; text-align: left; margin: 0 0 0.35em; }
.reveal h1 { font-size: 1.9em; } .reveal h2 { font-size: 1.45em; } .reveal h3, .reveal h4 { font-size: 1.1em; }
.reveal .subtitle { font-size: 0.75em; color: #666; font-weight: normal; margin-left: 0.5em; }
.reveal p, .reveal li { line-height: 1.35; margin: 0.3em 0; }
.reveal ul, .reveal ol { display: block; margin-left: 1.2em; }
.reveal .md h1, .reveal .md h2, .reveal .md h3 { font-size: 1.05em; margin-top: 0.4em; }
.reveal .md table { font-size: 0.8em; margin: 0.3em 0; }
.reveal pre { width: auto; margin: 0.35em 0; box-shadow: none; font-size: 0.7em; line-height: 1.28; overflow: visible; white-space: pre; }
.reveal pre.code { background: #f6f8fa; border-left: 4px solid #c8d1dc; padding: 0.35em 0.6em; }
.reveal pre.output { white-space: pre-wrap; overflow-wrap: anywhere; background: #fffdf4; border-left: 4px solid #e6d9a8; padding: 0.3em 0.6em; }
.reveal pre code, .reveal code { font-size: 0.92em; max-height: none; overflow: visible; text-transform: none; }
.reveal .md code { background: #f2f2f2; padding: 0 0.15em; border-radius: 3px; }
.reveal details.fold { margin: 0.3em 0; font-size: 0.75em; }
.reveal details.fold summary { cursor: pointer; color: #2a6ebb; }
.reveal details.fold pre { font-size: 0.83em; }
.reveal .figures { display: flex; gap: 12px; justify-content: center; align-items: flex-start; margin: 0.2em 0; }
.reveal .figures img.figure { margin: 0; border: 0; box-shadow: none; max-height: 540px; object-fit: contain; min-width: 0; }
.reveal .figures.n1 img.figure { max-width: 100%; }
.reveal .figures.n2 img.figure { max-width: 49%; }
.reveal .figures.n3 img.figure, .reveal .figures.n4 img.figure { max-width: 32%; max-height: 420px; }
.reveal .katex-display { margin: 0.45em 0; }
.reveal .title-screen h1 { margin-top: 2.2em; }
"""

_SCRIPT = """
(function () {
  var W = %(width)d, H = %(height)d, MIN = %(min_scale)s, GROW = %(grow)s;
  renderMathInElement(document.querySelector('.reveal .slides'), {
    delimiters: [{left: '$$', right: '$$', display: true}, {left: '\\\\[', right: '\\\\]', display: true},
                 {left: '$', right: '$', display: false}, {left: '\\\\(', right: '\\\\)', display: false}],
    throwOnError: false,
  });
  // Fit a screen to the canvas. Figures first grow into the free height (at most GROW times their
  // drawn size, never wider than their column); then a screen still too big is widened by 1/scale,
  // so that text rewraps, and scaled down by scale (never below MIN).
  window.courseFit = function (section) {
    var box = section && section.querySelector(':scope > .screen');
    if (!box) return 1;
    box.style.transform = ''; box.style.width = W + 'px';
    var images = box.querySelectorAll('.figures img');
    images.forEach(function (img) { img.style.height = ''; img.style.maxHeight = ''; });
    var rows = box.querySelectorAll('.figures');
    var free = H - box.scrollHeight - 8;
    if (free > 16 && rows.length) {
      rows.forEach(function (row) {
        var imgs = row.querySelectorAll('img'), column = row.clientWidth / imgs.length - 12;
        imgs.forEach(function (img) {
          if (!img.naturalWidth) return;
          var now = img.offsetHeight, ratio = img.naturalHeight / img.naturalWidth;
          var height = Math.min(now + free / rows.length, now * GROW, column * ratio);
          if (height > now) { img.style.maxHeight = 'none'; img.style.height = height.toFixed(0) + 'px'; }
        });
      });
    }
    var pad = 40;  // the screen's right padding: content may reach it, not pass it
    var scale = 1;
    function fit() {
      for (var i = 0; i < 8; i++) {  // a wider screen rewraps (shorter) but widens its figures (taller): iterate
        var extra = box.scrollWidth - box.clientWidth;  // what sticks out on the right (a long code line)
        box.querySelectorAll('pre').forEach(function (pre) { extra = Math.max(extra, pre.scrollWidth - pre.clientWidth); });
        var need = Math.min(scale, H / box.scrollHeight, W / (box.clientWidth + (extra > 0 ? extra + pad : 0)));
        if (need >= scale - 1e-3 || scale <= MIN) break;
        scale = Math.max(need * 0.995, MIN);
        box.style.width = (W / scale) + 'px';
        box.style.transform = 'scale(' + scale + ')';
      }
    }
    fit();
    var clipped = [];  // at the smallest scale a long code line still sticks out: wrap it rather than clip it
    box.querySelectorAll('pre').forEach(function (pre) { if (pre.scrollWidth > pre.clientWidth + 2) clipped.push(pre); });
    if (clipped.length) {
      clipped.forEach(function (pre) { pre.style.whiteSpace = 'pre-wrap'; pre.style.overflowWrap = 'anywhere'; });
      fit();
    }
    box.dataset.scale = scale.toFixed(3);
    return scale;
  };
  function fitCurrent() { courseFit(Reveal.getCurrentSlide()); }
  document.querySelectorAll('.reveal details').forEach(function (d) {
    d.addEventListener('toggle', function () { courseFit(d.closest('section')); });
  });
  window.addEventListener('load', function () {
    Reveal.initialize({
      controls: true, progress: true, hash: true, center: false, transition: 'none',
      slideNumber: 'c/t', width: W, height: H, margin: 0.02, viewDistance: 2,
    });
    Reveal.on('ready', fitCurrent);
    Reveal.on('slidechanged', fitCurrent);
  });
})();
"""


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def section_html(stacks: list[list[Screen]]) -> str:
    """The reveal.js <section>s: one per stack, a nested one per screen."""
    out = []
    for stack in stacks:
        inner = []
        for screen in stack:
            sub = f' <span class="subtitle">{html.escape(screen.subtitle)}</span>' if screen.subtitle else ""
            title = f"<h2>{html.escape(screen.title)}{sub}</h2>" if screen.title else ""
            inner.append(f'<section><div class="screen">{title}{"".join(screen.blocks)}</div></section>')
        out.append("<section>" + "".join(inner) + "</section>")
    return "\n".join(out)


def page(title: str, stacks: list[list[Screen]], assets: str = "assets") -> str:
    """A whole deck as one HTML page; reveal.js and KaTeX come from ``assets/`` beside it (see write_assets)."""
    script = _SCRIPT % {"width": WIDTH, "height": HEIGHT, "min_scale": MIN_SCALE, "grow": FIGURE_GROW}
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{assets}/reveal/dist/reveal.css">\n'
        f'<link rel="stylesheet" href="{assets}/reveal/dist/theme/white.css">\n'
        f'<link rel="stylesheet" href="{assets}/katex/katex.min.css">\n'
        f"<style>{_CSS}\n{_pygments_css()}</style></head>\n"
        f'<body><div class="reveal"><div class="slides">\n{section_html(stacks)}\n</div></div>\n'
        f'<script src="{assets}/katex/katex.min.js"></script>\n'
        f'<script src="{assets}/katex/auto-render.min.js"></script>\n'
        f'<script src="{assets}/reveal/dist/reveal.js"></script>\n'
        f"<script>{script}</script>\n</body></html>\n"
    )


def write_assets(dest: Path) -> Path:
    """Copy KaTeX (vendored) and reveal.js (from jupyterlab-rise) into ``dest``; return ``dest``."""
    from autograder.lecture.slides import write_reveal

    write_reveal(dest / "reveal")
    if (dest / "katex").exists():
        shutil.rmtree(dest / "katex")
    shutil.copytree(KATEX, dest / "katex")
    return dest


def screen_count(stacks: list[list[Screen]]) -> tuple[int, int]:
    """(slides, subslides): the stacks, and the screens under their first."""
    return len(stacks), sum(len(s) - 1 for s in stacks)


# --------------------------------------------------------------------------- what the tests look for

_INLINE_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.DOTALL)


def plain_words(text: str) -> list[str]:
    """The words of Markdown or HTML text: tags, math, markup and punctuation dropped, lowercased."""
    text = re.sub(r"<[^>]+>", " ", html.unescape(re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.DOTALL)))
    text = _INLINE_MATH.sub(" ", text)
    return re.findall(r"[a-z0-9']+", text.lower())


def answer_phrases(answer: str, length: int = 7) -> list[str]:
    """Runs of ``length`` words of a written answer (its "Model answer." label and math left out)."""
    words = plain_words(re.sub(r"^\s*\*?Model answer\.?\*?", "", answer))
    return [" ".join(words[i : i + length]) for i in range(0, max(len(words) - length + 1, 0), 3)]
