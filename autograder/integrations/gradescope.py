"""Build the Gradescope autograder zip from the course.

    python -m autograder gradescope --out autograder.zip

Gradescope unzips it into /autograder/source. It holds ``setup.sh`` (run once when
Gradescope builds the image), ``run_autograder`` (run per submission),
``requirements.txt`` (what grading imports, ``GRADING_PACKAGES``, pinned as in
pyproject.toml: not the authoring stack), helpers/, autograder/ with the hidden tests,
solutions/ and ``course-secret``: each submission's references are computed in the
container for that student's seeds (HMAC of the secret, the case and the Gradescope user
id from submission_metadata.json), so no two students share hidden inputs and no frozen
table serves the class.

setup.sh uses the image's python3 where it is 3.10 to 3.13 (else a 3.12 from uv), takes
torch's CPU-only build from PyTorch's own index, and installs only the dependencies into
the venv /opt/course-kit, never the course itself: the sandbox mounts that venv's site-packages read-only, so whatever is installed
there (hidden tests included) would be readable by student code. The course runs from
/autograder/source with PYTHONPATH, which the sandbox does not mount (it binds helpers/
and the worker's own modules only). setup.sh also makes /autograder/source readable by
root only, except helpers/ and the grader's top-level modules, which the worker (uid
65534 where the container cannot run bubblewrap) imports: the hidden tests, the
solutions, the secret and the references cache stay root-only. A submission's symbolic links and special files are never
followed or read (autograder/grading/files.py): such a notebook scores 0 with a message.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from pathlib import Path

from autograder.course import ROOT
from autograder.grading.secret import SECRET_FILE, course_secret

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image build: Python, bubblewrap and what grading imports (requirements.txt),
# nothing of the course's authoring stack (JupyterLab, nbgrader, RISE, widgets).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SOURCE=/autograder/source
VENV=/opt/course-kit
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap ca-certificates >/dev/null
# The kit runs on Python 3.10 to 3.13 (Ubuntu 22.04 has 3.10, 24.04 has 3.12). An image whose
# python3 is outside that range gets a 3.12 from uv (a standalone build), not a source build.
if python3 -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))'; then
  python3 -m venv "$VENV"
else
  python3 -m pip install -q uv || python3 -m pip install -q --break-system-packages uv
  python3 -m uv venv --python 3.12 --seed "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch's CPU-only build, from PyTorch's own index: PyPI's torch wheel brings the CUDA stack
# (cuDNN, cuBLAS, NCCL, triton: several GB) into a container that has no GPU.
"$VENV/bin/python" -m pip install -q "torch==TORCH_VERSION+cpu" --index-url https://download.pytorch.org/whl/cpu
# Only the dependencies: the course itself (grader, hidden tests) is NOT installed into the
# venv, whose site-packages the sandbox mounts; it runs from $SOURCE with PYTHONPATH.
# (requirements.txt pins torch==TORCH_VERSION, which the +cpu build above satisfies.)
"$VENV/bin/python" -m pip install -q -r "$SOURCE/requirements.txt"
# The course source is for the grader (root) only; the worker (uid 65534 when the container
# cannot run bubblewrap) may read helpers/ and autograder/sandbox/ (what runs in the sandbox),
# nothing else: not autograder/grading/, not autograder/hidden/, not solutions/ or course-secret.
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
export PYTHONPATH="$ROOT/source"
# The references for this student's seeds are computed here (solutions/ and course-secret
# are root-only); their cache is root-only too.
export COURSE_KIT_CACHE="$ROOT/course-kit-cache"
mkdir -p -m 700 "$COURSE_KIT_CACHE"
# Symbolic links and special files in the submission are never followed or read: such a
# notebook scores 0 and results.json says why. The hidden inputs are drawn for the
# Gradescope user (submission_metadata.json's users[0].id).
if ! "$PYTHON" -m autograder grade "$ROOT/submission" --metadata "$ROOT/submission_metadata.json" --results "$ROOT/results/results.json"; then
  # The grader itself failed: still leave a results file that says so.
  printf '{"score": 0, "output": "The autograder failed; please contact the course staff.", "tests": []}\\n' > "$ROOT/results/results.json"
fi
# A resubmission policy, when the zip was built with one: hidden-test feedback at most N times per window.
if [ -f "$ROOT/source/resubmission_policy.json" ]; then
  "$PYTHON" -m autograder.integrations.resubmission "$ROOT/results/results.json" "$ROOT/submission_metadata.json" "$ROOT/source/resubmission_policy.json"
fi
"""


# What the grader and the worker import, and what a student's definitions may import from
# the release (torch, numpy, matplotlib, tqdm): tests/test_containers.py grades in a root
# whose site-packages hold these and their dependencies only. (hypothesis is the project's
# tests' own: the property cases draw their examples with numpy.)
GRADING_PACKAGES = ("torch", "numpy", "matplotlib", "pytest", "tqdm")


def requirements() -> list[str]:
    """The grading dependencies, as pyproject.toml's ``dependencies`` pins them, torch first."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S).group(1)
    deps = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower(): d for d in re.findall(r'"([^"]+)"', block)}
    return [deps[name] for name in GRADING_PACKAGES]


def setup_sh() -> str:
    """setup.sh, with torch's version from pyproject.toml."""
    torch = requirements()[0]
    assert torch.startswith("torch=="), "torch must stay pinned exactly (an unpinned torch pulls a CUDA build)"
    return SETUP_SH.replace("TORCH_VERSION", torch.removeprefix("torch=="))


SHIPPED = ["helpers", "autograder", "solutions", "pyproject.toml", "README.md"]


def submission_identity(metadata: Path) -> str | None:
    """Who a Gradescope submission's hidden inputs are drawn for: users[0].id, else the submission's id (None: unknown)."""
    try:
        data = json.loads(metadata.read_bytes()[: 1 << 20])
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    users = data.get("users")
    if isinstance(users, list) and users and isinstance(users[0], dict) and users[0].get("id") not in (None, ""):
        return f"gradescope-user:{users[0]['id']}"
    if data.get("id") not in (None, ""):
        return f"gradescope-submission:{data['id']}"
    return None


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
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _add(zf, "setup.sh", setup_sh().encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(zf, SECRET_FILE.name, (course_secret().hex() + "\n").encode())  # root-only in the container (setup.sh)
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
