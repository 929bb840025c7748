"""Build the Gradescope autograder zip from the course.

    python -m autograder gradescope --out autograder.zip

Gradescope unzips it into /autograder/source. It holds ``setup.sh`` (run once when
Gradescope builds the image), ``run_autograder`` (run per submission),
``requirements.txt`` (the course's dependencies, from pyproject.toml), helpers/,
autograder/ with the hidden tests, and ``references.json``: the solution's results for
every case, computed now. The solutions themselves are not shipped.

setup.sh installs only the dependencies into the venv /opt/course-kit, never the course
itself: the sandbox mounts that venv's site-packages read-only, so whatever is installed
there (hidden tests included) would be readable by student code. The course runs from
/autograder/source with PYTHONPATH, which the sandbox does not mount (it binds helpers/
and the worker's own modules only). setup.sh also makes /autograder/source readable by
root only, except helpers/ and the grader's top-level modules, which the worker (uid
65534 where the container cannot run bubblewrap) imports: the hidden tests and the
references stay root-only. A submission's symbolic links and special files are never
followed or read (autograder/grading/files.py): such a notebook scores 0 with a message.
"""

from __future__ import annotations

import io
import json
import re
import stat
import tempfile
import zipfile
from pathlib import Path

from autograder.course import ROOT
from autograder.grading.references import freeze

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image build: system packages and the course's pinned dependencies.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SOURCE=/autograder/source
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap >/dev/null
python3 -m venv /opt/course-kit
/opt/course-kit/bin/pip install -q "torch==2.13.0"
# Only the dependencies: the course itself (grader, hidden tests) is NOT installed into the
# venv, whose site-packages the sandbox mounts; it runs from $SOURCE with PYTHONPATH.
/opt/course-kit/bin/pip install -q -r "$SOURCE/requirements.txt"
# The course source is for the grader (root) only; the worker (uid 65534 when the container
# cannot run bubblewrap) may read helpers/ and autograder/sandbox/ (what runs in the sandbox),
# nothing else: not autograder/grading/, not autograder/hidden/, not references.json.
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"
chmod go+rx "$SOURCE" "$SOURCE/autograder"
chmod -R go+rX "$SOURCE/helpers"
chmod go+r "$SOURCE/autograder/__init__.py"
chmod -R go+rX "$SOURCE/autograder/sandbox"
chmod +x "$SOURCE/run_autograder" "$SOURCE/setup.sh"
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
# Symbolic links and special files in the submission are never followed or read: such a
# notebook scores 0 and results.json says why.
if ! "$PYTHON" -m autograder grade "$ROOT/submission" --results "$ROOT/results/results.json"; then
  # The grader itself failed: still leave a results file that says so.
  printf '{"score": 0, "output": "The autograder failed; please contact the course staff.", "tests": []}\\n' > "$ROOT/results/results.json"
fi
# A resubmission policy, when the zip was built with one: hidden-test feedback at most N times per window.
if [ -f "$ROOT/source/resubmission_policy.json" ]; then
  "$PYTHON" -m autograder.integrations.resubmission "$ROOT/results/results.json" "$ROOT/submission_metadata.json" "$ROOT/source/resubmission_policy.json"
fi
"""


def requirements() -> list[str]:
    """The course's dependencies (pyproject.toml's ``dependencies``), torch first."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S).group(1)
    deps = re.findall(r'"([^"]+)"', block)
    return sorted(deps, key=lambda d: not d.startswith("torch"))


SHIPPED = ["helpers", "autograder", "pyproject.toml", "README.md"]


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_zip(out: Path, policy=None) -> Path:
    """Write the autograder zip to ``out``; return its path.

    ``policy`` (an :class:`autograder.integrations.resubmission.Policy`) is shipped as
    ``resubmission_policy.json``; run_autograder then applies it to every submission.
    """
    with tempfile.TemporaryDirectory() as tmp:
        references = Path(tmp) / "references.json"
        freeze(references)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
            _add(zf, "references.json", references.read_bytes())
            _add(zf, "requirements.txt", ("\n".join(requirements()) + "\n").encode())
            if policy is not None:
                from autograder.integrations.resubmission import POLICY_FILE

                _add(zf, POLICY_FILE, json.dumps(policy.to_json()).encode())
            for name in SHIPPED:
                path = ROOT / name
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
                for file in files:
                    _add(zf, str(file.relative_to(ROOT)), file.read_bytes())
        out.write_bytes(buffer.getvalue())
    return out
