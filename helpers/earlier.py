"""Your own functions from an earlier notebook, for the demo cells of a later one.

A later notebook never writes an earlier notebook's graded function out (that would hand over
its answer). Where a demo needs one, it loads *yours* from your copy of the earlier notebook in
the same folder::

    generate_02 = earlier("02", "generate")  # your notebook 02's generate
    if implemented("generate_02"):
        ...

``earlier`` reads the notebook file (as data: nothing of it runs but its imports, functions
and classes, as the grader takes them), and returns the functions in the order asked for.
A function that is missing, still a stub, or whose notebook is not found comes back as a
placeholder: ``implemented`` prints why it is not available and skips the cell, and calling it
raises NotImplementedError with the same text.
"""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

from .demo import is_stub

_CACHE: dict[tuple[str, float], dict] = {}  # (notebook path, its mtime) -> its definitions


def find_notebook(notebook: str, folder: Path) -> Path | None:
    """The notebook NN in ``folder``: "NN_*.ipynb" (the release's names), else one file whose name holds NN."""
    exact = sorted(folder.glob(f"{notebook}_*.ipynb"))
    if exact:
        return exact[0]
    loose = [p for p in sorted(folder.glob(f"*{notebook}*.ipynb")) if not p.name.startswith(".")]
    return loose[0] if len(loose) == 1 else None


def definitions(path: Path) -> ast.Module:
    """The imports, functions and classes (decorators included) of the notebook's code cells, as one module;
    magics, other statements and cells that do not parse are left out."""
    kept: list[ast.stmt] = []
    for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]  # keeps line numbers
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue  # a cell that does not parse defines nothing
        kept += [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return ast.Module(body=kept, type_ignores=[])


def _load(path: Path) -> dict:
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        module = types.ModuleType(f"earlier_{path.stem}")  # a real module: dataclasses and pickling look their module up
        sys.modules[module.__name__] = module
        exec(compile(definitions(path), str(path), "exec"), module.__dict__)  # the student's own code, in their own kernel
        _CACHE[key] = module.__dict__
    return _CACHE[key]


def _placeholder(name: str, reason: str):
    def unavailable(*args, **kwargs):
        raise NotImplementedError(reason)

    unavailable.__name__ = name
    unavailable.not_available = reason  # read by helpers.demo.implemented
    return unavailable


def earlier(notebook: str, *names: str, folder: str | Path | None = None):
    """Your functions ``names`` from notebook ``notebook`` ("02") in ``folder`` (default: the current folder).

    Returns one object for one name, else a tuple in the order of ``names``; each is your definition,
    or a placeholder saying why it is not available (see the module docstring).
    """
    folder = Path(folder) if folder is not None else Path.cwd()
    path = find_notebook(notebook, folder)
    found: list = []
    namespace: dict | None = None
    problem = None
    if path is None:
        problem = f"notebook {notebook} is not in this folder ({folder.name}/), so its functions cannot be used here"
    else:
        try:
            namespace = _load(path)
        except Exception as err:  # noqa: BLE001 - any error in the student's earlier notebook is reported, not raised
            problem = f"notebook {notebook} ({path.name}) does not load: {type(err).__name__}: {err}"
    for name in names:
        obj = namespace.get(name) if namespace is not None else None
        if problem:
            found.append(_placeholder(name, f"{problem}; this cell uses its {name}."))
        elif obj is None:
            found.append(_placeholder(name, f"notebook {notebook} ({path.name}) has no {name}; this cell uses it."))
        elif is_stub(obj):
            found.append(_placeholder(name, f"implement {name} in notebook {notebook} ({path.name}) and run check('{name}') there to see this."))
        else:
            found.append(obj)
    return found[0] if len(found) == 1 else tuple(found)
