"""Install paths agree: pyproject.toml, environment.yml and .ci/run."""

from __future__ import annotations

import re

import tomllib

from tests.conftest import ROOT


def _pyproject_deps() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = {}
    for spec in data["project"]["dependencies"]:
        name, rest = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
        deps[name.lower()] = rest.replace(" ", "")
    return deps


def _environment_deps() -> dict[str, str]:
    deps = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"\s*-\s+([A-Za-z0-9_.-]+)\s*([<>=!~][^#\s]*)?\s*(#.*)?$", line)
        if match and match.group(1) not in ("conda-forge",):
            deps[match.group(1).lower()] = (match.group(2) or "").replace("=", "==", 1) if match.group(2) and match.group(2).startswith("=") and not match.group(2).startswith("==") else (match.group(2) or "")
    return deps


def test_environment_yml_agrees_with_pyproject():
    py, env = _pyproject_deps(), _environment_deps()
    for name, pin in py.items():
        assert name in env, f"{name} is in pyproject.toml but not in environment.yml"
        assert env[name] == pin, f"{name}: pyproject says {pin!r}, environment.yml says {env[name]!r}"
    assert "python" in env


def test_torch_is_pinned_exactly_everywhere():
    assert _pyproject_deps()["torch"] == "==2.13.0"
    assert _environment_deps()["torch"] == "==2.13.0"
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "python -m autograder demo" in readme
    assert "python -m pytest" in readme
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()
