"""Planting a mistake in a solution notebook and grading it in-process, as the grader does.

The set-up the one-mistake, doubles and self-check tests share: a solution notebook's
definitions are loaded the way the grader loads them, a wrong definition is planted among
them (exec'd into the same namespace, so the callers see it), and every case of a function,
public and hidden, runs on the result (``run_case``) and is judged (``judge``) against the
solution's own observation of the same probe.
"""

from __future__ import annotations

import importlib
import inspect
import json
import textwrap
import types
from collections.abc import Iterator
from functools import cache

from autograder.course import SERIES, SOLUTIONS
from autograder.sandbox.extract import Extraction, extract
from autograder.sandbox.worker import load_definitions
from helpers.checking import Verdict, dumps, judge, run_case


def load(notebook: str, raw: bytes | None = None) -> dict:
    """A fresh module of the definitions of the notebook file ``raw`` (default: the solution's), loaded without errors."""
    if raw is None:
        raw = (SOLUTIONS / f"{SERIES[notebook]}.ipynb").read_bytes()
    namespace, status = load_definitions(notebook, raw, 60)
    assert not status.load_errors, status
    return namespace


@cache
def solution(notebook: str) -> dict:
    """The solution's definitions, loaded once: the references are observed on them and plant() copies them."""
    return load(notebook)


def cases(notebook: str, function: str | None = None, visibility: str | None = None) -> list:
    """The notebook's public cases, then its hidden ones; only ``function``'s, and only the ``visibility`` ones, when given."""
    every = [c for package in ("helpers.selfcheck", "autograder.hidden") for c in importlib.import_module(f"{package}.nb{notebook}").suite.cases]
    return [c for c in every if function in (None, c.function) and visibility in (None, c.visibility)]


# --------------------------------------------------------------------------- #
# Planting
# --------------------------------------------------------------------------- #


def define(namespace: dict, source: str, filename: str = "<planted>") -> dict:
    """``namespace`` with the definitions of ``source`` (dedented) exec'd into it, replacing those of the same names."""
    exec(compile(textwrap.dedent(source), filename, "exec"), namespace)
    return namespace


def plant(notebook: str, source: str) -> dict:
    """A fresh module of the solution's definitions with those of ``source`` replacing theirs.

    Every solution function is rebound to the new module, so a correct caller really calls the planted callee.
    """
    original = solution(notebook)
    namespace: dict = {}
    for name, value in original.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is original:
            value = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__)
        namespace[name] = value
    return define(namespace, source)


def planted(notebook: str, *sources: str) -> dict:
    """The solution's definitions with ``sources`` planted; the solution's graded classes are exec'd again first,
    so that they, like its functions, look their callees up in the planted module (plant() rebinds the solution's
    functions to the planted module, not its classes)."""
    graded = sorted({c.function for c in cases(notebook)})
    classes = [solution_source(notebook, name) for name in graded if isinstance(solution(notebook).get(name), type)]
    return plant(notebook, "\n".join([*classes, *(textwrap.dedent(s) for s in sources)]))


@cache
def _extraction(notebook: str) -> Extraction:
    return extract((SOLUTIONS / f"{SERIES[notebook]}.ipynb").read_bytes())


def solution_source(notebook: str, name: str) -> str:
    """The solution's definition of ``name``, as the grader extracts it from its cell."""
    for chunk in _extraction(notebook).chunks:
        if f"class {name}(" in chunk.source or f"def {name}(" in chunk.source:
            return chunk.source
    raise KeyError(name)


def edited(notebook: str, name: str, *changes: tuple[str, str]) -> str:
    """The solution's definition of ``name`` with each (old, new) text of ``changes`` replaced: a slip of a line or two."""
    source = solution_source(notebook, name)
    for old, new in changes:
        assert old in source, (notebook, name, old)
        source = source.replace(old, new)
    return source


def stub(notebook: str, name: str) -> str:
    """A release stub of the solution's ``name``: a function of the same signature, or an nn.Module, that raises NotImplementedError."""
    value = solution(notebook)[name]
    if isinstance(value, type):
        return f"class {name}(nn.Module):\n    def __init__(self, *args, **kwargs):\n        super().__init__()\n        raise NotImplementedError()\n\n    def forward(self, *args, **kwargs):\n        raise NotImplementedError()\n"
    return f"def {name}{inspect.signature(value)}:\n    raise NotImplementedError()\n"


# --------------------------------------------------------------------------- #
# Grading against the solution
# --------------------------------------------------------------------------- #

_REFERENCES: dict = {}  # (case id, seed) -> the solution's observation


def observe(case, namespace: dict, seed: int | None = None) -> dict:
    """What ``case``'s probe observes on ``namespace`` (``seed`` None: the public seeds), as the plain data the grader receives."""
    return json.loads(dumps(run_case(case, namespace, seed)))


def reference(case, seed: int | None = None) -> dict:
    """The solution's observation of ``case`` under ``seed``, observed once."""
    if (case.id, seed) not in _REFERENCES:
        _REFERENCES[case.id, seed] = observe(case, solution(case.notebook), seed)
    return _REFERENCES[case.id, seed]


def verdicts(notebook: str, function: str, namespace: dict, seed: int | None = None, visibility: str | None = None) -> Iterator[Verdict]:
    """The verdict of each case of ``function`` (public and hidden, or only ``visibility``'s) on ``namespace``, one at a time."""
    for case in cases(notebook, function, visibility):
        ref = reference(case, seed)
        yield judge(case, observe(case, namespace, seed), ref)


def run(notebook: str, function: str, namespace: dict) -> list[tuple[str, bool, str]]:
    """[(case id, passed, message)] of every case of ``function`` on ``namespace``."""
    return [(v.case.id, v.passed, v.message) for v in verdicts(notebook, function, namespace)]


def score(notebook: str, function: str, namespace: dict, seed: int | None = None) -> tuple[float, float, list]:
    """(points earned, points possible, failed case ids) of ``function`` on ``namespace``, every case."""
    earned, total, failed = 0.0, 0.0, []
    for verdict in verdicts(notebook, function, namespace, seed):
        total += verdict.case.points
        if verdict.passed:
            earned += verdict.case.points
        else:
            failed.append(verdict.case.id)
    return earned, total, failed
