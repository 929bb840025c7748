"""The lecture deck: which screens, in which order, showing which cells of the seven notebooks.

Edit ``PARTS`` to change the lecture deck, then ``python -m autograder slides lecture``.
A part is a horizontal slide of reveal.js (a section of the lecture, arrow right), its
screens are stacked under it (arrow down). A screen has the title of the lecture's slide
it follows (``shared/lecture/``; tests/test_slides.py checks each title is one), an
optional subtitle, optional text of its own (Markdown, $TeX$ allowed), and what it shows of
one notebook, in order, as ``"<cell id>:<part>"``:

==========  ===================================================================
``all``     the whole cell (a code cell: its figures, its code, its output)
``text``    a Markdown cell's first section, without its heading line
``after``   a Markdown cell's text after its last heading (the next section's start)
``math``    only the display formulas ($$...$$) of a Markdown cell
``figure``  every figure a code cell drew, side by side; ``figure2``: only the second
``code``    a code cell's source (folded when long); ``code:forward``: only the function
            or method ``forward`` in it, without its docstring
``output``  what a code cell printed
==========  ===================================================================

Cell ids are the notebooks' own (``c22``); a written question's answer cell cannot be
shown (its question can). Student instructions are taken out of any text shown.
``side_by_side=True`` draws all the figures of a screen in one row. The screens follow the
lecture's order (as the slides do, the GPT's results come before the details of attention);
a ``recap=True`` screen may look back out of that order (tests/test_slides.py checks it).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from autograder.lecture import deck

TITLE = "LLMs: Word Embeddings & Attention (the lecture, with the course notebooks)"


@dataclass(frozen=True)
class Slide:
    """One screen of the lecture deck."""

    title: str  # a slide title of the lecture (shared/lecture/)
    notebook: str | None = None  # "01".."07": where the cells of ``show`` are
    show: tuple[str, ...] = ()  # "<cell id>:<part>", in order (see the module docstring)
    text: str = ""  # the lecturer's own Markdown, shown before the cells
    subtitle: str = ""
    side_by_side: bool = False  # the figures of ``show`` in one row (else each part's figures are a row of their own)
    recap: bool = False  # a screen that looks back (the closing series table): outside the slides' order


TRANSFORMERS = """* **Increasing context size**: the uniform average of the context vectors (04), position encoding (05)
* **Attention**: a weighted average of the context vectors; queries, keys, values; the expressive
  power of linear transforms (06)
* **Transformer blocks**: the GPT skeleton, MinGPT Femto and Pico (07)

Every model is trained on a toy grammar in the slide's style whose best possible loss (the *floor*) is
known exactly: each step of the lecture lowers the floor."""

PARTS: list[tuple[str, list[Slide]]] = [
    ("Building up to Large Language Models", [
        Slide("Building up to Large Language Models", "01", ("c00-roadmap:text",)),
    ]),
    ("Word Embedding LMs", [
        Slide("Word (Token) Embeddings", "07", ("c35:after", "c36:figure"), subtitle="the beginning and the end of LLM networks"),
        Slide("Simple Word Embedding LM", "01", ("c03:output", "c04:code", "c06:output", "c10:output"), subtitle="Setup: corpus, tokenizer, vocabulary"),
        Slide("Simple Word Embedding LM", "01", ("c21:text", "c22:figure"), subtitle="V: previous, U: next"),
        Slide("Simple Word Embedding LM", "01", ("c00:math", "c23:math", "c20:figure", "c26:figure"), subtitle="an embedding lookup is a matrix product",
              side_by_side=True),
        Slide("Simple Word Embedding LM", "03", ("c26:figure1", "c26:figure2"), subtitle="after training: more organized vectors"),
        Slide("Simple Word Embedding LM", "03", ("c29:figure", "c29:output"), subtitle="random and trained vectors generate text"),
    ]),
    ("Sampling from Word Embeddings", [
        Slide("Sampling from Word Embeddings", "02", ("c00:text", "c02:figure")),
        Slide("(Unnormalized) Cosine Similarity Metric", "02", ("c07:math", "c10:figure")),
        Slide("Sampling from Word Embeddings", "02", ("c13:math", "c20:figure"), subtitle="2. convert to probabilities"),
        Slide("Sampling from Word Embeddings", "02", ("c22:after", "c25:figure"), subtitle="3. sample from the categorical distribution"),
        Slide("Sampling from Word Embeddings", "02", ("c27:text", "c28:code:generate", "c30:output", "c31:text"), subtitle="4. LOOP: next token becomes prev"),
    ]),
    ("Learning Better Vectors", [
        Slide("PyTorch for Word Embedding LM", "03", ("c37:figure", "c31:code:forward", "c35:code:train_word_embed_lm")),
        Slide("Learning Better Vectors", "03", ("c00:text", "c08:math", "c15:text", "c16-q:all"), subtitle="the classic ML recipe; cross-entropy; gradients by hand"),
        Slide("Learning Better Vectors", "03", ("c21:text", "c24:figure"), subtitle="SGD: looping through pairs of tokens"),
    ]),
    ("Transformer Language Models", [
        Slide("Transformer Language Models", text=TRANSFORMERS),
        Slide("Increasing Context Size", "04", ("c00:math", "c14:figure")),
        Slide("Increasing Context Size", "04", ("c21:figure", "c22:text"), subtitle="does a longer context help?"),
        Slide("Increasing Context Size", "04", ("c24:figure", "c27-q:all"), subtitle="the average is blind to word order"),
    ]),
    ("Position Encoding", [
        Slide("Position Encoding", "05", ("c03:math", "c06:figure")),
        Slide("Position Encoding", "05", ("c10:text", "c11:figure"), subtitle="the slide's demo: two sentences, three angles"),
        Slide("Position Encoding", "05", ("c14:math", "c15:figure", "c16-q:all"), subtitle="only the distance counts"),
        Slide("Position Encoding", "05", ("c28:figure", "c29:text"), subtitle="RoPE on the toy grammar"),
        Slide("Position Encoding", "05", ("c30:figure",), subtitle="word order now changes the prediction"),
    ]),
    ("Learn to pay attention!", [
        Slide("Learn to pay attention!", "06", ("c03:math", "c04:figure")),
    ]),
    ("GPT Skeleton", [
        Slide("GPT Skeleton", "07", ("c05:text", "c15:math", "c21:output")),
        Slide("GPT Skeleton", "07", ("c11:math", "c12:code:forward"), subtitle="causal multi-head self-attention"),
        Slide("GPT Skeleton", "07", ("c22:text", "c23:code:generate"), subtitle="generating: take the argmax (greedy), or sample",
              text="$$\\hat{\\mathbf y} = g_{\\text{softmax}}(U\\mathbf v'), \\qquad \\text{next\\_idx} = \\operatorname*{argmax}_j \\hat y_j$$"),
        Slide("MinGPT Femto", "07", ("c30:figure", "c32:figure", "c43:output", "c43-rate:output"), subtitle="trained: greedy (argmax) beside sampling",
              side_by_side=True),
        Slide("MinGPT Femto", "07", ("c40:figure1", "c38:figure1"), subtitle="too small to learn good attention weights", side_by_side=True),
        Slide("MinGPT Pico: Output embedded space - 3 heads", "07", ("c38:figure2",)),
        Slide("MinGPT Pico: Attention Weights \u2013 3 layers, 3 heads", "07", ("c40:figure2",)),
    ]),
    ("Learn to pay attention!", [
        Slide("Learn to pay attention!", "06", ("c09:figure",), text="$$S = VV^T$$", subtitle="but there is an issue with just doing VV^T"),
        Slide("Learn to pay attention!", "06", ("c10:after", "c11:figure"), subtitle="instead learn a query vector: S = QV^T"),
        Slide("Learn to pay attention!", "06", ("c12:math", "c13:figure"), subtitle="queries and keys: the expressive power of linear transforms"),
        Slide("Learn to pay attention!", "06", ("c15:figure", "c16-q:all"), subtitle="why divide by the square root of d_k"),
        Slide("Learn to pay attention!", "06", ("c21:math", "c20:figure"), subtitle="causal mask, softmax rows"),
        Slide("Learn to pay attention!", "06", ("c32:text", "c35:figure"), subtitle="several heads: a head is a channel"),
        Slide("Learn to pay attention!", "06", ("c41:figure", "c43:figure"), subtitle="learning to pay attention on the toy grammar"),
    ]),
    ("The series", [
        Slide("GPT Skeleton", "07", ("c48:figure", "c49:text"), subtitle="the series: losses fall with the floors", recap=True),
    ]),
]  # fmt: skip

_SPEC = re.compile(r"^(?P<cell>[\w.-]+):(?P<part>all|text|after|math|figure(?P<index>\d*)|code|output)(?::(?P<name>\w+))?$")


def select(cells: dict, spec: str) -> list[str]:
    """The HTML blocks that ``spec`` ("<cell id>:<part>") shows of ``cells`` ({cell id: cell}).

    Raises KeyError for a cell that is not there, ValueError for a part the cell does not
    have (or a written answer): the lecture deck's manifest is checked, not guessed.
    """
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"not '<cell id>:<part>' with a part of all/text/after/math/figure/code/output: {spec!r}")
    cell_id, part = match.group("cell"), match.group("part")
    if cell_id not in cells:
        raise KeyError(f"no cell {cell_id!r}")
    cell = cells[cell_id]
    if deck.is_written_answer(cell):
        raise ValueError("a written question's answer is never shown")
    if cell.cell_type == "markdown":
        text = deck.strip_instructions(cell.source)
        pieces = deck.sections(text)
        if part == "all":
            chosen = text
        elif part == "text":
            chosen = pieces[0][2] if pieces else ""
        elif part == "after":
            chosen = pieces[-1][2] if pieces else ""
        elif part == "math":
            chosen = "\n\n".join(deck.display_math(text))
        else:
            raise ValueError(f"a Markdown cell has no {part}")
        if not chosen.strip():
            raise ValueError(f"the cell has no {part}")
        return [deck.markdown_html(chosen)]
    if match.group("name") and part != "code":
        raise ValueError(f"only code takes a name: {spec!r}")
    if part == "all":
        return deck.code_cell_blocks(cell)
    if part.startswith("figure"):
        images = deck.figures(cell)
        index = match.group("index")
        if index:
            images = images[int(index) - 1 : int(index)]
        if not images:
            raise ValueError(f"the cell drew no {part} (is the notebook executed?)")
        return [deck.figure_row(images)]
    if part == "code":
        source = deck.clean_source(cell.source)
        return [deck.code_html(_definition(source, match.group("name")) if match.group("name") else source)]
    if part == "output":
        blocks = deck.text_outputs(cell)
        if not blocks:
            raise ValueError("the cell printed nothing (is the notebook executed?)")
        return blocks
    raise ValueError(f"a code cell has no {part}")


def _definition(source: str, name: str) -> str:
    """The source of the function (or method, or class) ``name`` in ``source``, without its docstring."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            keep = list(range(start, node.end_lineno))
            body = node.body[0] if node.body else None
            if isinstance(body, ast.Expr) and isinstance(getattr(body, "value", None), ast.Constant) and isinstance(body.value.value, str):
                keep = [i for i in keep if not body.lineno - 1 <= i < body.end_lineno]
            return textwrap.dedent("\n".join(lines[i] for i in keep))
    raise ValueError(f"no def or class {name!r} in the cell")


def side_by_side(blocks: list[str]) -> list[str]:
    """``blocks`` with every figure row merged into one, where the first one was."""
    rows = [b for b in blocks if b.startswith('<div class="figures')]
    if len(rows) < 2:
        return blocks
    merged = deck.figure_row(re.findall(r'<img class="figure"[^>]*>', "".join(rows)))
    first = blocks.index(rows[0])
    return [merged if i == first else b for i, b in enumerate(blocks) if i == first or b not in rows]
