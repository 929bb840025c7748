"""Take the graded definitions out of a notebook without running its demo cells.

From every code cell we keep only top-level imports, function and class definitions,
and assignments of literal constants; everything else (demos, training loops, plots,
self-check calls, IPython magics and shell escapes) is dropped. A cell that does not
parse is split into its top-level blocks so that one broken definition does not cost
the others. This module is standard library only: it runs inside the worker.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

_MAGIC = re.compile(r"^\s*(%|!|\?)")
_HELP = re.compile(r"^\s*[\w.]+\?\??\s*$")


@dataclass
class Chunk:
    cell: int  # 1-based index among the notebook's code cells
    source: str  # python source of the kept statements
    line_offset: int = 0  # line of the chunk within its cell, for tracebacks


@dataclass
class Extraction:
    chunks: list[Chunk] = field(default_factory=list)
    cells: dict[int, str] = field(default_factory=dict)  # cleaned source per code cell, for tracebacks
    problems: list[str] = field(default_factory=list)  # messages for the student


def read_code_cells(raw: bytes | str) -> tuple[list[str], list[str]]:
    """The code cells' sources of a notebook file (nbformat 4, or 3); raises ValueError."""
    try:
        nb = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the file is not valid notebook JSON ({exc}); re-save it from Jupyter") from None
    if not isinstance(nb, dict):
        raise ValueError("the file is JSON but not a notebook (no 'cells')")
    problems = []
    if isinstance(nb.get("cells"), list):
        cells = nb["cells"]
        key = "source"
    elif isinstance(nb.get("worksheets"), list):  # nbformat 3
        cells = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in ws.get("cells", [])]
        key = "input"
        problems.append("this notebook is in the old nbformat 3; it was read, but please re-save it with a current Jupyter")
    else:
        raise ValueError("the file is JSON but not a notebook (no 'cells')")
    sources = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get(key, "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        sources.append(src if isinstance(src, str) else "")
    return sources, problems


def strip_magics(source: str) -> str:
    """Blank out IPython-only lines (%magic, !shell, help?) and whole %%cell-magic cells."""
    if source.lstrip().startswith("%%"):
        return ""
    lines = []
    for line in source.splitlines():
        lines.append("" if _MAGIC.match(line) or _HELP.match(line) else line)
    return "\n".join(lines)


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _keep(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Name) for t in node.targets) and _is_literal(node.value)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.value is not None and _is_literal(node.value)
    if isinstance(node, ast.Try):  # try: import x / except ImportError: ...
        body = node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or _keep(s) for s in body)
    return False


def _top_level_blocks(source: str) -> list[tuple[int, str]]:
    """Split source into blocks that start at column 0 (decorators stay with their def)."""
    blocks, start, lines = [], 0, source.splitlines()
    for i, line in enumerate(lines):
        starts_block = line[:1].strip() and not line.startswith("#") and not line.startswith((")", "]", "}"))
        if i > start and starts_block and not lines[i - 1].startswith("@"):
            if not re.match(r"(else|elif|except|finally)\b", line):
                blocks.append((start, "\n".join(lines[start:i])))
                start = i
    blocks.append((start, "\n".join(lines[start:])))
    return blocks


def _parse_lenient(source: str, cell: int, problems: list[str]) -> list[tuple[int, ast.stmt]]:
    try:
        return [(0, node) for node in ast.parse(source).body]
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        problems.append(
            f"code cell {cell} has a syntax error{f' at line {line}' if line else ''}: "
            f"{getattr(exc, 'msg', str(exc))}; the definitions in that part of the cell were not graded"
        )
    kept = []
    for offset, block in _top_level_blocks(source):
        try:
            kept.extend((offset, node) for node in ast.parse(block).body)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
    return kept


def extract(raw: bytes | str) -> Extraction:
    """The graded definitions of a notebook, cell by cell, with problems to report."""
    out = Extraction()
    sources, out.problems = read_code_cells(raw)
    for number, source in enumerate(sources, start=1):
        cleaned = strip_magics(source)
        if not cleaned.strip():
            continue
        out.cells[number] = cleaned
        nodes = _parse_lenient(cleaned, number, out.problems)
        lines = cleaned.splitlines()
        for offset, node in nodes:
            if not _keep(node):
                continue
            first = offset + (node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno)
            last = offset + (node.end_lineno or node.lineno)
            text = "\n".join(lines[first - 1 : last])
            out.chunks.append(Chunk(number, text, first - 1))
    return out
