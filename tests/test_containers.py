"""The built Gradescope autograder in three container-like roots, made with bubblewrap itself.

Each root is what setup.sh leaves in an image: /autograder/source (the zip, with setup.sh's
permission steps applied), /opt/course-kit (a venv whose site-packages hold requirements.txt's
distributions and their dependencies, nothing else: no JupyterLab, no nbgrader, no course),
/sys read-only (no writable cgroups, as in Docker), and Gradescope's run_autograder. The local
pinned install stands in for pip (these machines cannot reach PyTorch's CPU index).

(a) /proc bound from outside: nested bubblewrap works, grading is sandboxed.
(b) a fresh /proc in a new PID namespace: the inner bwrap fails with "Can't mount proc on
    /newroot/proc" (what an unprivileged Docker container does): the grader says so once and
    grades in the plain worker as uid 65534.
(c) no bubblewrap at all.

In each, an honest submission (solutions/) gets full marks and the blank release 0.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from autograder.course import RELEASE, ROOT, SOLUTIONS
from autograder.grading.launch import sandbox_check
from autograder.integrations.gradescope import build_zip

pytestmark = pytest.mark.slow
needs_root_and_bwrap = [
    pytest.mark.skipif(os.geteuid() != 0, reason="builds container roots as root (as Gradescope runs the autograder)"),
    pytest.mark.skipif(sandbox_check()[0] is None, reason="needs a working bubblewrap to build the roots"),
]
VENV = "/opt/course-kit"


def _closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions that ``pip install -r`` of these would bring (markers evaluated)."""
    todo, seen = [Requirement(r).name for r in requirements], {}
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = dist = importlib.metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(the /autograder folder, bwrap binds for /opt/course-kit)."""
    base = tmp_path_factory.mktemp("image")
    os.chmod(base, 0o755)
    autograder = base / "autograder"
    with zipfile.ZipFile(build_zip(base / "autograder.zip")) as zf:
        zf.extractall(autograder / "source")
    shutil.copy(autograder / "source" / "run_autograder", autograder / "run_autograder")
    os.chmod(autograder / "run_autograder", 0o755)
    os.chmod(autograder, 0o755)
    setup = (autograder / "source" / "setup.sh").read_text()
    steps = setup[setup.index("chown -R") :]
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", f"SOURCE={autograder / 'source'}\n{steps}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return autograder, venv_binds((autograder / "source" / "requirements.txt").read_text().split())


def venv_binds(requirements: list[str]) -> list[str]:
    """bwrap arguments for /opt/course-kit: this venv's interpreter, and in its site-packages
    only the distributions ``pip install -r requirements.txt`` would bring."""
    site = Path(sysconfig.get_paths()["purelib"])
    packages = f"{VENV}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    venv = Path(sys.prefix)
    binds = [*_open_dirs(packages), "--perms", "0755", "--dir", packages]
    binds += ["--ro-bind", str(venv / "bin"), f"{VENV}/bin", "--ro-bind", str(venv / "pyvenv.cfg"), f"{VENV}/pyvenv.cfg"]
    tops = {f.parts[0] for dist in _closure(requirements) for f in dist.files or [] if ".." not in f.parts and f.parts[0] != "__pycache__"}
    for top in sorted(tops):
        if (site / top).exists():
            binds += ["--ro-bind", str(site / top), f"{packages}/{top}"]
    base_python = os.path.realpath(sys.base_prefix)  # where the venv's interpreter really is (an image's /usr)
    return [*binds, *_open_dirs(base_python), "--ro-bind", base_python, base_python]


def _open_dirs(path: str) -> list[str]:
    """bwrap arguments making every folder above ``path`` (e.g. /root for a pyenv Python) traversable by uid 65534."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


ROOTS = {
    "proc-bound": ["--bind", "/proc", "/proc"],
    "fresh-proc": ["--unshare-pid", "--proc", "/proc"],
    "no-bwrap": ["--unshare-pid", "--proc", "/proc", "--ro-bind", "/dev/null", shutil.which("bwrap") or "/usr/bin/bwrap"],
}


def run_in_root(image, kind: str, submission: Path) -> tuple[dict, str]:
    """Gradescope's run_autograder on ``submission`` inside a root of ``kind``; (results, stderr)."""
    autograder, venv = image
    shutil.rmtree(autograder / "submission", ignore_errors=True)
    shutil.rmtree(autograder / "results", ignore_errors=True)
    shutil.copytree(submission, autograder / "submission")
    argv = [
        "bwrap", *_system(), "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--ro-bind", "/sys", "/sys", *ROOTS[kind],
        *venv, "--bind", str(autograder), "/autograder",
        "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--clearenv",
        "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8",
        "--chdir", "/", "bash", "/autograder/run_autograder",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((autograder / "results" / "results.json").read_text()), proc.stderr


@pytest.mark.parametrize("kind", [pytest.param(kind, marks=needs_root_and_bwrap) for kind in ROOTS])
def test_gradescope_autograder_in_container_root(image, kind):
    honest, log = run_in_root(image, kind, SOLUTIONS)
    full = sum(t["max_score"] for t in honest["tests"])
    failed = [f"{t['name']}: {t['output'][:300]}" for t in honest["tests"] if t["status"] != "passed"]
    assert honest["score"] == full > 200, (failed[:5], honest["output"][:2000], log[-2000:])
    sandbox = honest["extra_data"]["sandbox"]
    print(kind, sandbox)
    if kind == "proc-bound":
        assert sandbox["isolation"] == "bubblewrap"
        assert "course-kit:" not in log
    else:
        assert sandbox["isolation"] == "plain worker (uid 65534)", sandbox
        why = "Can't mount proc" if kind == "fresh-proc" else "not installed"
        assert why in sandbox["reason"], sandbox
        assert log.count("course-kit:") == 1 and why in log, log[-2000:]  # said once, in the log
        assert all(why not in t["output"] for t in honest["tests"])  # the platform's limits are not the student's business
    blank, _ = run_in_root(image, kind, RELEASE)
    assert blank["score"] == 0 and sum(t["max_score"] for t in blank["tests"]) == full


def test_the_partial_isolation_warning_is_said_once_by_workers_starting_together(capsys, monkeypatch):
    """Workers start in threads (a student's and a reference's at once); the warning once came
    twice when two threads missed an lru_cache together (seen with both cores busy). Here the
    warning is slow to say, as a loaded machine makes it, so every thread arrives while the
    first is saying it."""
    import threading
    import time
    import types

    from autograder.grading import launch

    warned = []

    def slow_warn(message, category, stacklevel=1):
        time.sleep(0.2)
        warned.append(message)

    monkeypatch.setattr(launch, "warnings", types.SimpleNamespace(warn=slow_warn))
    message = f"a test message {os.getpid()}"
    barrier = threading.Barrier(8)

    def start():
        barrier.wait()
        launch._say_once(message)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert capsys.readouterr().err.count(message) == 1 and warned == [message]


def test_plain_worker_grades_whatever_user_it_runs_as(tmp_path):
    """COURSE_KIT_SANDBOX=plain (the laptop path): the worker runs as uid 65534 where that
    user can run this Python, else as the grader's own user, whose interpreter folders are
    writable to it; either way an honest notebook gets full marks (the worker once dropped
    every writable folder from sys.path, site-packages included, and scored it 0)."""
    submission = tmp_path / "sub"
    submission.mkdir()
    shutil.copy(SOLUTIONS / "01_embeddings.ipynb", submission)
    results = tmp_path / "results.json"
    env = {**os.environ, "COURSE_KIT_SANDBOX": "plain", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(results)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(results.read_text())
    ours = [t for t in data["tests"] if t["tags"][0] == "01"]
    assert ours and all(t["status"] == "passed" for t in ours), [t["output"][:200] for t in ours if t["status"] != "passed"][:3]
    assert data["extra_data"]["sandbox"]["isolation"].startswith("plain worker")
    assert proc.stderr.count("course-kit:") == 1
