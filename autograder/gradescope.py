"""Build the Gradescope autograder zip from the course.

    python -m autograder gradescope --out autograder.zip

Gradescope unzips it into /autograder/source. It holds ``setup.sh`` (run once when
Gradescope builds the image), ``run_autograder`` (run per submission), helpers/,
autograder/ with the hidden tests, and ``references.json``: the solution's results for
every case, computed now. The solutions
themselves are not shipped. In the container, setup.sh makes the hidden tests and the
references readable by root only; student code runs in the bubblewrap sandbox, which
does not see them, or (where the container cannot run bubblewrap) as uid 65534, which
cannot read them.
"""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from pathlib import Path

from autograder.course import ROOT
from autograder.references import freeze

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image build: system packages, the kit and its pinned dependencies.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap >/dev/null
python3 -m venv /opt/course-kit
/opt/course-kit/bin/pip install -q "torch==2.13.0"
/opt/course-kit/bin/pip install -q /autograder/source
# The hidden tests and the references are for the grader (root) only.
chmod -R go-rwx /autograder/source/autograder/hidden /autograder/source/references.json
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission; it always writes results/results.json.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${COURSE_KIT_PYTHON:-/opt/course-kit/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
export COURSE_KIT_REFERENCES="$ROOT/source/references.json"
export PYTHONPATH="$ROOT/source"
if ! "$PYTHON" -m autograder grade "$ROOT/submission" --results "$ROOT/results/results.json"; then
  # The grader itself failed: still leave a results file that says so.
  printf '{"score": 0, "output": "The autograder failed; please contact the course staff.", "tests": []}\\n' > "$ROOT/results/results.json"
fi
"""

SHIPPED = ["helpers", "autograder", "pyproject.toml", "README.md"]


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_zip(out: Path) -> Path:
    """Write the autograder zip to ``out``; return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        references = Path(tmp) / "references.json"
        freeze(references)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
            _add(zf, "references.json", references.read_bytes())
            for name in SHIPPED:
                path = ROOT / name
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
                for file in files:
                    _add(zf, str(file.relative_to(ROOT)), file.read_bytes())
        out.write_bytes(buffer.getvalue())
    return out
