"""How a worker is started: inside bubblewrap when it can run here, else plainly.

The bubblewrap sandbox sees a read-only system (/usr and the Python installation), the
staged sandbox package at /course (autograder.grading.staging: the worker's modules and the
public helpers it imports, derived from their imports), and nothing else of this
machine: not solutions/, not the hidden suites' code (only their probes arrive, over
the control socket), not the references or the course secret, not other students'
work (notebooks arrive as file descriptors, one at a time), not the results. Its whole
file system is read-only except /tmp, /dev/shm and the matplotlib config, which the
worker puts back as they were after every student. It has no network, its own PID,
IPC and UTS namespaces, runs as uid 65534, and dies with its parent. Where the cgroup
filesystem is writable, each sandbox also gets a process-count and a memory limit,
which also lets the grader kill everything in it at the end.

Without bubblewrap (a laptop) the worker still runs in a separate process with
resource limits, and a warning says that isolation is partial.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

from autograder.course import ROOT

SANDBOX_COURSE = "/course"


class PartialIsolationWarning(UserWarning):
    pass


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bwrap binary if it exists and can actually create a sandbox here."""
    if os.environ.get("COURSE_KIT_SANDBOX", "").lower() in ("0", "off", "plain"):
        return None
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, *_system_binds(), "--unshare-all", "--die-with-parent", "--uid", "65534", "--gid", "65534", "/bin/true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def _python_binds() -> list[str]:
    """The interpreter, its standard library and the environment's site-packages, read-only."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    exe = os.path.realpath(sys.executable)
    paths.add(os.path.dirname(os.path.dirname(exe)))
    args = []
    for path in sorted(paths):
        if path.startswith("/usr/") or path == "/usr":
            continue
        args += ["--ro-bind", path, path]
    return args


def _matplotlib_cache() -> str | None:
    """The host's matplotlib cache with a font list (built here once if missing)."""
    try:
        import matplotlib
        import matplotlib.font_manager  # noqa: F401 - builds the font list cache if missing

        return matplotlib.get_cachedir()
    except Exception:  # noqa: BLE001 - no cache only costs time
        return None


def _course_binds(course_dir: Path) -> list[str]:
    args = ["--ro-bind", str(course_dir), SANDBOX_COURSE]
    cache = _matplotlib_cache()
    if cache and os.path.isdir(cache):
        args += ["--ro-bind", cache, "/mplcache-seed"]
    return args


def sandbox_env() -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": SANDBOX_COURSE,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/mplconfig",
        "MPL_CACHE_SEED": "/mplcache-seed",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def plain_env(course_dir: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
    env.update(
        PYTHONPATH=str(course_dir), MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0",
        PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1",
    )  # fmt: skip
    return env


UNPRIVILEGED = 65534  # nobody


def _become_unprivileged() -> None:
    os.setgroups([])
    os.setgid(UNPRIVILEGED)
    os.setuid(UNPRIVILEGED)


@functools.lru_cache(maxsize=1)
def unprivileged_python_works() -> bool:
    """Can uid 65534 run this Python and import the worker? (Not when it lives under /root.)"""
    if os.geteuid() != 0:
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import autograder.sandbox.worker, helpers.checking"],
            cwd="/", env=plain_env(), preexec_fn=_become_unprivileged, capture_output=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


TMPFS_BYTES = {"/tmp": 256 * 1024**2, "/dev/shm": 64 * 1024**2, "/mplconfig": 64 * 1024**2}


@functools.lru_cache(maxsize=None)
def _bwrap_supports(option: str) -> bool:
    """Whether this bwrap knows ``option`` (``--size`` came in 0.8; Ubuntu 22.04 has 0.6)."""
    path = bwrap_path()
    try:
        return path is not None and option in subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def _tmpfs(dest: str) -> list[str]:
    """A private tmpfs at ``dest``, size-limited where bwrap can: files written there are the machine's RAM."""
    return (["--size", str(TMPFS_BYTES[dest])] if _bwrap_supports("--size") else []) + ["--tmpfs", dest]


def worker_command(control_fd: int, course_dir: Path) -> tuple[list[str], dict[str, str], bool, object]:
    """(argv, env, sandboxed, demote) to start one worker that listens on ``control_fd``.

    ``course_dir`` is the staged sandbox package (autograder.grading.staging), the worker's only
    view of the course.

    ``demote`` is None or a function to call in the new process before exec (drop root).
    """
    bwrap = bwrap_path()
    worker = [sys.executable, "-m", "autograder.sandbox.worker", "--control-fd", str(control_fd)]
    if bwrap is None:
        demote = _become_unprivileged if unprivileged_python_works() else None
        warnings.warn(
            "bubblewrap (bwrap) is not available: student code runs in a separate process with resource "
            + ("limits as uid 65534 (files readable by everyone stay readable to it)" if demote else "limits, but it can read this machine's files")
            + ". Isolation is partial; install bubblewrap (apt-get install bubblewrap) to grade untrusted work.",
            PartialIsolationWarning,
            stacklevel=2,
        )
        return worker, plain_env(course_dir), False, demote
    argv = [
        bwrap,
        *_tmpfs("/tmp"),  # first: the binds below may live under /tmp (a CI checkout) and go on top
        *_system_binds(),
        *_python_binds(),
        *_course_binds(course_dir),
        "--proc", "/proc",
        "--dev", "/dev",
        *_tmpfs("/dev/shm"),
        *(["--mqueue", "/dev/mqueue"] if _bwrap_supports("--mqueue") else []),  # POSIX message queues, as files the worker empties
        *_tmpfs("/mplconfig"),
        "--remount-ro", "/",  # only the tmpfs mounts above stay writable (the worker restores them per student)
        "--remount-ro", "/dev",
        "--unshare-all",  # network, PID, IPC, UTS, cgroup and user namespaces
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--uid", "65534",
        "--gid", "65534",
        "--hostname", "sandbox",
        "--chdir", "/tmp",
        "--clearenv",
    ]
    for key, value in sandbox_env().items():
        argv += ["--setenv", key, value]
    return [*argv, *worker, "--sandboxed"], sandbox_env(), True, None


class Cgroup:
    """A v1/v2 cgroup for one worker: a process-count and memory limit, and a kill switch.

    Creating it needs a writable cgroup filesystem (root on most machines); when that
    is not there, ``Cgroup.create`` returns None and rlimits are the only limits.
    """

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    @classmethod
    def create(cls, max_processes: int, memory_bytes: int) -> "Cgroup | None":
        name = f"llm-course-kit-{uuid.uuid4().hex[:12]}"
        dirs = []
        try:
            for controller, settings in (("pids", {"pids.max": max_processes}), ("memory", {"memory.limit_in_bytes": memory_bytes})):
                base = Path("/sys/fs/cgroup") / controller
                if not (base / "cgroup.procs").exists():
                    continue
                own = _own_cgroup(controller)
                path = base / own.lstrip("/") / name
                path.mkdir()
                dirs.append(path)
                for key, value in settings.items():
                    (path / key).write_text(str(value))
        except OSError:
            for path in dirs:
                _rmdir(path)
            return None
        return cls(dirs) if dirs else None

    def attach_self(self) -> None:
        """Move the calling process into the cgroup (from preexec_fn, before exec)."""
        for path in self.dirs:
            (path / "cgroup.procs").write_text("0")

    def kill_all_and_remove(self) -> None:
        import signal

        for path in self.dirs:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                import time

                time.sleep(0.02)
            _rmdir(path)


def _own_cgroup(controller: str) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return path
    except OSError:
        pass
    return "/"


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
