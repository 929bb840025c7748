"""Live-coding aids for the lecturer (instructor kit only: they read solutions/).

In a notebook (the student release, say, projected in class)::

    %load_ext autograder.lecture.live
    %load_answer softmax          # replaces this cell with the solution's softmax (run it to define it)
    %load_answer 07 generate      # a name that two notebooks grade needs the notebook
    catch_up("05", upto="rope")   # defines rotate_2d and rope_2d from the solutions
    catch_up("05")                # every graded definition of 05

``catch_up`` executes the solution cells of the graded functions and classes that come
before ``upto`` (all of them without it) in the caller's namespace, and keeps them: a stub
cell of the release (``raise NotImplementedError()``) run later, by Run All, does not
replace a caught-up definition, while a cell with real code does. Both refuse with a
clear message where the instructor kit (``autograder/`` with ``solutions/`` beside it) is
absent; the student package (``helpers``) has neither.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import nbformat

from autograder.course import SERIES, SOLUTIONS

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
_STUB = re.compile(r"raise\s+NotImplementedError\s*\(")
_caught_up: dict[str, str] = {}  # name -> solution source, restored after a stub cell runs
_hooked: set[int] = set()  # ids of the shells whose post_run_cell hook is installed


class InstructorKitMissing(RuntimeError):
    """The live-coding aids need solutions/ (the instructor kit), which is not here."""


def _solutions_dir() -> Path:
    if not SOLUTIONS.is_dir() or not any(SOLUTIONS.glob("*.ipynb")):
        raise InstructorKitMissing(
            f"the live-coding aids need the instructor kit: no solution notebooks in {SOLUTIONS}. "
            "They work from a checkout of the course kit (autograder/ and solutions/), not from the student package."
        )
    return SOLUTIONS


def graded_cells(nb_id: str) -> list[tuple[str, str]]:
    """(grade_id, source without nbgrader's markers) of every graded definition of notebook ``nb_id``, in order."""
    nb_id = str(nb_id).zfill(2)
    if nb_id not in SERIES:
        raise ValueError(f"no notebook {nb_id!r} in the series (have {', '.join(SERIES)})")
    path = _solutions_dir() / f"{SERIES[nb_id]}.ipynb"
    if not path.exists():
        raise InstructorKitMissing(f"the solution notebook {path} is missing")
    cells = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id"):
            source = "\n".join(line for line in cell.source.splitlines() if line.strip() not in _MARKERS)
            cells.append((meta["grade_id"], source))
    return cells


def _current_notebook() -> str | None:
    """The series number of the notebook this kernel serves, where Jupyter says (JPY_SESSION_NAME)."""
    name = Path(os.environ.get("JPY_SESSION_NAME", "")).name
    match = re.match(r"\D*(\d\d)", name)
    return match.group(1) if match and match.group(1) in SERIES else None


def answer_source(name: str, nb_id: str | None = None) -> str:
    """The solution's cell that defines the graded ``name`` (from notebook ``nb_id``, or the one that grades it)."""
    ids = [str(nb_id).zfill(2)] if nb_id else list(SERIES)
    found = {nb: src for nb in ids for grade_id, src in graded_cells(nb) if grade_id == name}
    if not found:
        where = f"notebook {ids[0]}" if nb_id else "any notebook"
        raise KeyError(f"{name!r} is not a graded function or class of {where}")
    if len(found) > 1:
        current = _current_notebook()
        if current in found:
            return found[current]
        raise KeyError(f"{name!r} is graded in notebooks {' and '.join(found)}: say which, e.g. %load_answer {list(found)[-1]} {name}")
    return next(iter(found.values()))


def _defines(source: str) -> set[str]:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return set()
    return {node.name for node in body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _restore_after_stubs(namespace: dict):
    """A post_run_cell hook: a stub cell that redefined a caught-up name gets the solution back."""

    def hook(result):
        raw = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        if not _STUB.search(raw):
            return
        for name in _defines(raw) & set(_caught_up):
            exec(compile(_caught_up[name], f"<solution of {name}>", "exec"), namespace)

    return hook


def catch_up(nb_id: str, upto: str | None = None, namespace: dict | None = None, quiet: bool = False) -> list[str]:
    """Define the graded functions/classes of notebook ``nb_id`` before ``upto`` (all without it) from the solutions.

    They are defined in ``namespace`` (default: the caller's globals, i.e. the notebook's).
    Returns the names defined.
    """
    cells = graded_cells(nb_id)
    names = [grade_id for grade_id, _ in cells]
    if upto is not None and upto not in names:
        raise KeyError(f"{upto!r} is not graded in notebook {str(nb_id).zfill(2)} (its graded names: {', '.join(names)})")
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    defined = []
    for grade_id, source in cells:
        if grade_id == upto:
            break
        exec(compile(source, f"<solution of {grade_id}>", "exec"), namespace)
        _caught_up[grade_id] = source
        defined.append(grade_id)
    _install_hook(namespace)
    if not quiet:
        print(f"caught up on notebook {str(nb_id).zfill(2)}: {', '.join(defined) or 'nothing before ' + repr(upto)} (from the solutions)")
    return defined


def _install_hook(namespace: dict) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or id(shell) in _hooked or namespace is not shell.user_ns:
        return
    shell.events.register("post_run_cell", _restore_after_stubs(namespace))
    _hooked.add(id(shell))


def load_answer(line: str, shell=None) -> str:
    """The ``%load_answer [NN] name`` magic: replace the current cell with the solution's definition."""
    words = line.split()
    if not words or len(words) > 2:
        raise ValueError("usage: %load_answer [NN] name   (e.g. %load_answer softmax, %load_answer 07 generate)")
    nb_id, name = (words[0], words[1]) if len(words) == 2 else (None, words[0])
    source = answer_source(name, nb_id)
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    shell.set_next_input(source, replace=True)
    return source


def load_ipython_extension(shell) -> None:
    """``%load_ext autograder.lecture.live``: the %load_answer and %catch_up magics, and catch_up in the namespace."""

    def _load_answer(line):
        try:
            load_answer(line, shell)
        except (InstructorKitMissing, KeyError, ValueError) as exc:
            print(f"load_answer: {exc.args[0] if exc.args else exc}", file=sys.stderr)

    def _catch_up(line):
        words = line.split()
        if not words or len(words) > 2:
            print("usage: %catch_up NN [name]   (defines the graded definitions of NN before name)", file=sys.stderr)
            return
        try:
            catch_up(words[0], words[1] if len(words) > 1 else None, namespace=shell.user_ns)
        except (InstructorKitMissing, KeyError, ValueError) as exc:
            print(f"catch_up: {exc.args[0] if exc.args else exc}", file=sys.stderr)

    shell.register_magic_function(_load_answer, "line", "load_answer")
    shell.register_magic_function(_catch_up, "line", "catch_up")
    shell.user_ns["catch_up"] = catch_up
