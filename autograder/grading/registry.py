"""The test suites, loaded on the trusted side, and their sources for the worker."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import HIDDEN_SUITES, PUBLIC_SUITES, ROOT, SERIES
from autograder.grading.probes import probe_source
from autograder.sandbox.protocol import ProbeModule
from helpers.checking import Case


@dataclass
class Registry:
    cases: list[Case] = field(default_factory=list)  # series order; public before hidden
    probes: list[ProbeModule] = field(default_factory=list)  # the probe-only sources: all of the suites that enters the sandbox
    fingerprint: str = ""  # changes whenever a suite changes

    def for_notebook(self, notebook: str) -> list[Case]:
        return [c for c in self.cases if c.notebook == notebook]

    def points(self, notebook: str | None = None, function: str | None = None) -> float:
        return sum(
            c.points for c in self.cases if (notebook is None or c.notebook == notebook) and (function is None or c.function == function)
        )


def suite_files() -> list[tuple[str, Path]]:
    """(module name, path) of every suite, public before hidden within each notebook."""
    files = []
    for notebook in SERIES:
        for folder, package in ((PUBLIC_SUITES, "helpers.selfcheck"), (HIDDEN_SUITES, "autograder.hidden")):
            path = folder / f"nb{notebook}.py"
            if path.exists():
                files.append((f"{package}.nb{notebook}", path))
    return files


def load_registry(notebooks: list[str] | None = None) -> Registry:
    registry = Registry()
    digest = hashlib.sha256()
    for module_name, path in suite_files():
        suite = importlib.import_module(module_name).suite
        if notebooks is not None and suite.notebook not in notebooks:
            continue
        source = path.read_text()
        digest.update(module_name.encode() + b"\0" + source.encode() + b"\0")
        registry.cases.extend(suite.cases)
        visibility = "public" if module_name.startswith("helpers.") else "hidden"
        registry.probes.append(ProbeModule(f"probes.{visibility}.nb{suite.notebook}", suite.notebook, probe_source(source, str(path))))
    ids = [c.id for c in registry.cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids across suites: {sorted(duplicates)}")
    registry.fingerprint = digest.hexdigest()
    return registry


def code_fingerprint() -> str:
    """A hash of the code that decides what a probe observes (worker, extraction, helpers)."""
    digest = hashlib.sha256()
    def sources(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)

    # helpers (probes import them), everything that runs in the sandbox, and the probe cutter
    for path in sources(ROOT / "helpers") + sources(ROOT / "autograder" / "sandbox") + [ROOT / "autograder" / "grading" / "probes.py"]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
