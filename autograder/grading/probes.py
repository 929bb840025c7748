"""Probe-only source of a test suite: what of a suite may enter the sandbox.

An instructor writes a suite in one file: each case's probe (``@suite.case(...)``,
builds inputs and calls the student's functions) and its verify
(``@probe.verify``, compares on the trusted side, may hold independent references).
:func:`probe_source` keeps only the probes and the module-level names they use,
transitively (imports, constants, input builders); verify functions and everything only
they use are blanked out, line for line, so tracebacks keep their line numbers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass
class _Statement:
    node: ast.stmt
    defines: set[str]
    uses: set[str]
    kind: str  # "probe", "verify", "import", "future", "other"


def _decorator_attr(node: ast.stmt) -> str | None:
    """'case' for ``@suite.case(...)``, 'verify' for ``@probe.verify`` (else None)."""
    for decorator in getattr(node, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("case", "verify"):
            return target.attr
    return None


def _is_verify_call(node: ast.stmt) -> bool:
    """``probe.verify(check_fn)`` as a statement: a verify attached without a decorator."""
    call = node.value if isinstance(node, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "verify"


def _names_used(node: ast.AST) -> set[str]:
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    used |= {n.value.id for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    return used


def _names_defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _classify(node: ast.stmt) -> _Statement:
    attr = _decorator_attr(node)
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        kind = "future"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        kind = "import"
    elif attr == "case":
        kind = "probe"
    elif attr == "verify" or _is_verify_call(node):
        kind = "verify"
    else:
        kind = "other"
    uses = _names_used(node)
    if kind == "probe":  # the decorator's suite, hint constants and the body
        uses |= {d for dec in node.decorator_list for d in _names_used(dec)}
    return _Statement(node, _names_defined(node), uses, kind)


def probe_source(source: str, filename: str = "<suite>") -> str:
    """``source`` with everything but the probes and what they use blanked out."""
    tree = ast.parse(source, filename)
    statements = [_classify(node) for node in tree.body]
    keep = {i for i, s in enumerate(statements) if s.kind in ("probe", "future")}
    # Module docstring and plain expressions at the top (a registration loop would be an
    # error: a suite registers cases with decorators only).
    for i, s in enumerate(statements):
        if s.kind == "other" and not s.defines:
            if isinstance(s.node, ast.Expr) and isinstance(s.node.value, ast.Constant) and isinstance(s.node.value.value, str):
                keep.add(i)
            else:
                raise ValueError(f"{filename}:{s.node.lineno}: a suite may only define names and register cases with decorators")
    needed = set().union(*(statements[i].uses for i in keep)) if keep else set()
    changed = True
    while changed:
        changed = False
        for i, s in enumerate(statements):
            if i in keep or s.kind == "verify" or not (s.defines & needed):
                continue
            keep.add(i)
            needed |= s.uses
            changed = True
    lines = source.splitlines()
    kept = [""] * len(lines)
    for i in sorted(keep):
        node = statements[i].node
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        for line in range(first - 1, node.end_lineno):
            kept[line] = lines[line]
    return "\n".join(kept).rstrip() + "\n"


def verify_names(source: str) -> list[str]:
    """Names of the verify functions and module-level definitions the probe source leaves out (for tests)."""
    tree = ast.parse(source)
    kept = ast.parse(probe_source(source))
    kept_names = {n for node in kept.body for n in _names_defined(node)}
    return sorted({n for node in tree.body for n in _names_defined(node)} - kept_names)
