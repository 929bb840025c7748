"""The student package: ``helpers`` alone, installable on JupyterHub or Colab.

    python -m autograder student-package --out dist/

writes ``llm_course_helpers-VERSION-py3-none-any.whl`` (pip install it) and the matching
sdist (``.tar.gz``, with a generated ``pyproject.toml`` naming the one package). Both hold
``helpers/`` (the notebooks' imports, the self-check's public cases and public
references) and nothing else: no ``autograder``, no hidden test, no solution. The wheel
is written directly (it is a zip with a fixed layout), so building needs no network and
no build backend; the contents are every file under helpers/ except caches, checked
against :data:`FORBIDDEN` before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

from autograder.course import HELPERS, ROOT

DIST_NAME = "llm-course-helpers"
SUMMARY = "The student side of the word-embeddings-to-miniGPT course: helpers, plots and the public self-check."
# What helpers imports, with the course's versions. torch is not pinned here (the course pins it
# for instructors): on Colab a pin would replace the preinstalled torch with a multi-GB download.
REQUIRES = ["numpy", "matplotlib", "ipywidgets", "torch"]
UNPINNED = {"torch": "torch>=2.0"}
FORBIDDEN = re.compile(r"(^|/)(autograder|hidden|solutions)(/|$|\.)|references-.*\.json$|secret", re.I)
_DATE = (2026, 1, 1, 0, 0, 0)


def _project() -> tuple[str, str, list[str]]:
    """(version, requires-python, requirements) from the course's pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)
    python = re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.M).group(1)
    deps = re.findall(r'^\s*"([A-Za-z0-9_.-]+)([^"]*)",?\s*$', text[text.index("dependencies") :], re.M)
    pinned = {name.lower(): name + spec for name, spec in deps}
    requires = [UNPINNED.get(name) or pinned.get(name, name) for name in REQUIRES]
    return version, python, requires


def package_files() -> dict[str, bytes]:
    """Archive name -> bytes of every file of the student package (helpers/ without caches)."""
    files = {}
    for path in sorted(HELPERS.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if FORBIDDEN.search(rel):
            raise ValueError(f"{rel} must not reach the student package")
        files[rel] = path.read_bytes()
    if "helpers/__init__.py" not in files or "helpers/selfcheck/references.json" not in files:
        raise ValueError("helpers/ is incomplete: run `python -m autograder release` first")
    return files


def pyproject_text(version: str, python: str, requires: list[str], files: dict[str, bytes]) -> str:
    """A pyproject.toml that builds the same package (every package under helpers/ and its data files)."""
    deps = "".join(f'    "{r}",\n' for r in requires)
    packages = sorted(name[: -len("/__init__.py")].replace("/", ".") for name in files if name.endswith("/__init__.py"))
    data: dict[str, list[str]] = {}
    for name in files:
        folder, _, base = name.rpartition("/")
        if not base.endswith(".py") and folder.replace("/", ".") in packages:
            data.setdefault(folder.replace("/", "."), []).append(base)
    package_data = "".join(f'"{pkg}" = [{", ".join(chr(34) + b + chr(34) for b in sorted(names))}]\n' for pkg, names in sorted(data.items()))
    return (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{DIST_NAME}"\nversion = "{version}"\ndescription = "{SUMMARY}"\n'
        f'requires-python = "{python}"\ndependencies = [\n{deps}]\n\n'
        f"[tool.setuptools]\npackages = [{', '.join(chr(34) + p + chr(34) for p in packages)}]\n\n"
        f"[tool.setuptools.package-data]\n{package_data}"
    )


def _metadata(version: str, python: str, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {DIST_NAME}", f"Version: {version}", f"Summary: {SUMMARY}", f"Requires-Python: {python}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def _zip_add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_wheel(out: Path) -> Path:
    """Write the wheel into the folder ``out``; return its path."""
    version, python, requires = _project()
    stem = f"{DIST_NAME.replace('-', '_')}-{version}"
    dist_info = f"{stem}.dist-info"
    files = package_files()
    files[f"{dist_info}/METADATA"] = _metadata(version, python, requires).encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: llm-course-kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist_info}/top_level.txt"] = b"helpers\n"
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            _zip_add(zf, name, data)
    path.write_bytes(buffer.getvalue())
    return path


def build_sdist(out: Path) -> Path:
    """Write the sdist (pyproject.toml generated for helpers alone) into ``out``; return its path."""
    version, python, requires = _project()
    stem = f"{DIST_NAME.replace('-', '_')}-{version}"
    package = package_files()
    files = {f"{stem}/{name}": data for name, data in package.items()}
    files[f"{stem}/pyproject.toml"] = pyproject_text(version, python, requires, package).encode()
    files[f"{stem}/PKG-INFO"] = _metadata(version, python, requires).encode()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1767225600
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def build(out: Path) -> list[Path]:
    """Both archives of the student package, in ``out``."""
    return [build_wheel(Path(out)), build_sdist(Path(out))]
