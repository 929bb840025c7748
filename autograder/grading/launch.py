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
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

from autograder.course import ROOT

SANDBOX_COURSE = "/course"


class PartialIsolationWarning(UserWarning):
    pass


_said: set[str] = set()
_said_lock = threading.Lock()


def _say_once(message: str) -> None:
    """The partial-isolation warning, once per grader process (the log; results.json has sandbox_report).

    Workers start in threads of their own (a student's and a reference's at once): the lock
    makes it once, where an lru_cache let two threads that missed it together both print."""
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    print(f"course-kit: {message}", file=sys.stderr, flush=True)
    warnings.warn(message, PartialIsolationWarning, stacklevel=3)


def _bwrap_binary() -> str | None:
    """The bwrap on PATH, unless ``COURSE_KIT_SANDBOX=plain`` asks for the plain worker."""
    if os.environ.get("COURSE_KIT_SANDBOX", "").lower() in ("0", "off", "plain"):
        return None
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def sandbox_check() -> tuple[str | None, str]:
    """(the bwrap binary, or None; why not), decided once per grader process.

    Installed is not enough: in an unprivileged container (Docker's default, as
    Gradescope's can be) bwrap exists but cannot create user namespaces or mount a fresh
    /proc ("bwrap: Can't mount proc on /newroot/proc"). So the probe starts this Python
    under the exact arguments a worker gets (namespaces, --proc /proc, --dev /dev, the
    tmpfs mounts and binds); if that fails, the grader says so once and uses the plain
    worker instead of failing every notebook.
    """
    path = _bwrap_binary()
    if path is None:
        why = "COURSE_KIT_SANDBOX asks for the plain worker" if shutil.which("bwrap") else "bubblewrap (bwrap) is not installed"
        return None, why
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as course_dir:
        argv = _bwrap_argv(path, Path(course_dir))
        try:
            probe = subprocess.run(
                [*argv, sys.executable, "-c", "import os; os.listdir('/proc/self/fd')"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"bubblewrap is installed but could not start a sandbox here ({type(exc).__name__}: {exc})"
    if probe.returncode != 0:
        said = (probe.stderr or probe.stdout).decode("utf-8", "replace").strip().splitlines()
        return None, f"bubblewrap is installed but cannot start a sandbox here ({said[-1] if said else f'exit status {probe.returncode}'})"
    return path, ""


def bwrap_path() -> str | None:
    """The bwrap binary if it exists and can actually create a sandbox here."""
    return sandbox_check()[0]


def sandbox_report() -> dict[str, str]:
    """How this grader isolates student code, for the instructor's part of results.json."""
    path, why = sandbox_check()
    if path is not None:
        return {"isolation": "bubblewrap", "bwrap": path}
    return {"isolation": "plain worker (uid 65534)" if unprivileged_python_works() else "plain worker", "reason": why}


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
    path = _bwrap_binary()
    try:
        return path is not None and option in subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def _tmpfs(dest: str) -> list[str]:
    """A private tmpfs at ``dest``, size-limited where bwrap can: files written there are the machine's RAM."""
    return (["--size", str(TMPFS_BYTES[dest])] if _bwrap_supports("--size") else []) + ["--tmpfs", dest]


def _bwrap_argv(path: str, course_dir: Path) -> list[str]:
    """bwrap's arguments for a sandbox that sees ``course_dir`` at /course (the command follows)."""
    argv = [
        path,
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
    return argv


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
        _say_once(
            f"{sandbox_check()[1]}: student code runs in a separate process with resource "
            + ("limits as uid 65534 (files readable by everyone stay readable to it)" if demote else "limits, but it can read this machine's files")
            + ". Isolation is partial; install bubblewrap (apt-get install bubblewrap) where it can run to grade untrusted work."
        )
        return worker, plain_env(course_dir), False, demote
    return [*_bwrap_argv(bwrap, course_dir), *worker, "--sandboxed"], sandbox_env(), True, None


CPU_PERIOD_US = 100_000  # the scheduler period a cgroup's CPU quota is counted in


class Cgroup:
    """The cgroups of one worker: a CPU, process-count and memory limit, and a kill switch.

    A worker serves one student at a time, so its limits are that student's: with a CPU
    quota of ``cpus`` cores, a student who starts 40 CPU burners shares those cores among
    them and the students in the other workers keep theirs (``cpus`` 0: no CPU limit). cgroup v2 (cpu.max, pids.max,
    memory.max, in a child of the grader's own cgroup whose controllers it may enable)
    or v1 (cpu.cfs_quota_us, pids.max, memory.limit_in_bytes, one hierarchy each).
    Creating them needs a writable cgroup filesystem (root on most machines, not an
    unprivileged container); where a controller is not there, ``Cgroup.create`` leaves its
    limit out, ``limits`` says which apply, and rlimits remain (RLIMIT_CPU per process,
    RLIMIT_NPROC under uid 65534, the wall clock per notebook).
    """

    def __init__(self, dirs: list[Path], limits: dict[str, str]):
        self.dirs = dirs
        self.limits = limits  # controller -> the limit written (what is really enforced)

    @classmethod
    def create(cls, max_processes: int, memory_bytes: int, cpus: float = 1.0) -> "Cgroup | None":
        name = f"llm-course-kit-{uuid.uuid4().hex[:12]}"
        quota = str(max(1000, int(cpus * CPU_PERIOD_US)))
        wanted = {
            "cpu": ({"cpu.max": f"{quota} {CPU_PERIOD_US}"}, {"cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": quota}),
            "pids": ({"pids.max": str(max_processes)}, {"pids.max": str(max_processes)}),
            "memory": ({"memory.max": str(memory_bytes), "memory.swap.max": "0"}, {"memory.limit_in_bytes": str(memory_bytes)}),
        }
        if cpus <= 0:  # no CPU limit asked for
            del wanted["cpu"]
        dirs, limits = [], {}
        v2 = _cgroup2_parent(list(wanted))
        if v2 is not None:
            parent, controllers = v2
            path = _make(parent / name)
            if path is not None:
                dirs.append(path)
                for controller in controllers:
                    if _write_all(path, wanted[controller][0], optional={"memory.swap.max"}):
                        limits[controller] = " ".join(wanted[controller][0].values())
        for controller, (_, v1) in wanted.items():
            if controller in limits:
                continue
            base = Path("/sys/fs/cgroup") / controller
            if not (base / "cgroup.procs").exists() or (base / "cgroup.subtree_control").exists():
                continue  # not a v1 hierarchy of its own
            path = _make(base / _own_cgroup(controller).lstrip("/") / name)
            if path is None:
                continue
            dirs.append(path)
            if _write_all(path, v1):
                limits[controller] = " ".join(v1.values())
        if not limits:
            for path in dirs:
                _rmdir(path)
            return None
        return cls(dirs, limits)

    def attach_self(self) -> None:
        """Move the calling process into the cgroups (from preexec_fn, before exec)."""
        for path in self.dirs:
            (path / "cgroup.procs").write_text("0")

    def kill_all_and_remove(self) -> None:
        import signal
        import time

        for path in self.dirs:
            if (path / "cgroup.kill").exists():  # v2 (Linux 5.14): the kernel kills every member at once
                try:
                    (path / "cgroup.kill").write_text("1")
                except OSError:
                    pass
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
                time.sleep(0.02)
            _rmdir(path)


def _cgroup2_parent(controllers: list[str]) -> tuple[Path, list[str]] | None:
    """(the grader's own v2 cgroup, the wanted controllers its children can have), or None.

    A controller reaches a child only when the parent's cgroup.subtree_control lists it;
    the grader enables the ones its cgroup offers. The kernel refuses that in a cgroup that
    holds processes itself (other than the root), so in many containers only what is
    already enabled is used.
    """
    mount = None
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split(" - ", 1)
            if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
                mount = Path(fields[0].split()[4])
                break
    except OSError:
        return None
    if mount is None:
        return None
    parent = mount / _own_cgroup("").lstrip("/")
    try:
        offered = (parent / "cgroup.controllers").read_text().split()
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
    except OSError:
        return None
    usable = []
    for controller in controllers:
        if controller in offered and controller not in enabled:
            try:
                (parent / "cgroup.subtree_control").write_text(f"+{controller}")
                enabled.add(controller)
            except OSError:
                pass
        if controller in enabled:
            usable.append(controller)
    return (parent, usable) if usable else None


def _make(path: Path) -> Path | None:
    try:
        path.mkdir()
    except OSError:
        return None
    return path


def _write_all(path: Path, settings: dict[str, str], optional: set[str] = frozenset()) -> bool:
    """Write every setting; False (and nothing claimed) if a required one is refused."""
    for key, value in settings.items():
        try:
            (path / key).write_text(value)
        except OSError:
            if key not in optional:
                return False
    return True


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for a v1 ``controller`` ("" for the v2 hierarchy)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (controller in controllers.split(",")) if controller else (controllers == ""):
                return path
    except OSError:
        pass
    return "/"


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
