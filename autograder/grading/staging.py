"""The one package that enters the sandbox, derived from what the worker imports.

The sandbox sees the course only through a folder staged here and bound read-only at
/course: the student package (every module of ``helpers``, which the notebooks import
and students install: public by construction) and the modules the worker imports
(autograder.sandbox.worker and, transitively, every project module it or the probe-only suite
sources import, found by reading their ``import`` statements), and nothing else. No module is listed by hand, so the hidden
suites, the references, the solutions, the grader's own modules and the course secret
cannot be in it unless the worker or a probe imports them, and a test checks they are
not. The probe sources themselves are sent over the control socket, never staged.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

from autograder.course import ROOT

ENTRY = "autograder.sandbox.worker"
STUDENT_PACKAGE = "helpers"
PROJECT_PACKAGES = ("autograder", STUDENT_PACKAGE)


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(source: str, module: str) -> set[str]:
    """Absolute names of the modules ``source`` imports (anywhere in it, relative ones resolved)."""
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # "from pkg import module"
    return found


def sandbox_modules(probe_sources: list[str]) -> list[Path]:
    """The project files the worker can import: the closure of its imports and the probes'."""
    student = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / STUDENT_PACKAGE).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    pending = {ENTRY} | student | set().union(set(), *(_imports(s, "probes.suite") for s in probe_sources))
    files: dict[str, Path] = {}
    while pending:
        module = pending.pop()
        path = _module_file(module)
        if path is None or module in files:
            continue
        files[module] = path
        parts = module.split(".")
        pending |= {".".join(parts[:i]) for i in range(1, len(parts))}  # parent packages run their __init__
        name = module + (".__init__" if path.name == "__init__.py" else "")
        pending |= _imports(path.read_text(), name)
    return sorted(set(files.values()))


def stage(dest: Path, probe_sources: list[str]) -> list[str]:
    """Copy the sandbox's modules into ``dest`` (world-readable); return their relative paths."""
    staged = []
    for path in sandbox_modules(probe_sources):
        relative = path.relative_to(ROOT)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, 0o644)
        staged.append(str(relative))
    for folder in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    return staged
