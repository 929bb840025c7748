"""The worker: the only process that runs student code.

It starts once per grading slot (inside the sandbox when bubblewrap is available),
imports numpy, torch, matplotlib and the student package once, loads the PUBLIC suites'
probes (probe-only sources: no verify step, no reference), and then serves jobs. It
never holds a hidden probe or a hidden seed, so nothing a child is forked from knows
what the hidden tests are.

A student's run is two jobs, each in its own forked child:

* the visible phase: the child loads every notebook's definitions (extract.py) into
  fresh modules, reports each status, then runs every public probe with the public
  seeds of the job. Everything it sends may be shown to the student in full.
* the hidden phase: a fresh child loads the notebooks again, says it has loaded them
  (``Loaded``), and only then reads the hidden probes and seeds from a pipe whose
  write end the grader holds (the worker passes the read end on without reading it).
  Everything this child sends is treated as hidden by the grader.

For each job the grader sends, over the control socket, a small JSON header and file
descriptors: one memfd per notebook with its bytes, the write end of a fresh result
pipe, and in the hidden phase the read end of the payload pipe. Each block gets its own
wall-clock budget (the child pings the worker as it starts one) within one budget per
student; a child that hangs or dies costs the notebook it was in, and the grader resends
the others. The worker itself never reads a notebook or a result, so nothing of one
student stays in the memory the next student's child is forked from. When the child
ends (or runs out of time) the worker kills every process the child left behind, puts
the writable folders back as they were, empties IPC objects and keyrings, and reports
the end.

Everything sent back is plain data: the worker never sees an expected value.

Run as ``python -m autograder.sandbox.worker --control-fd N``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import linecache
import os
import resource
import select
import shutil
import signal
import socket
import sys
import time
import types

from autograder.sandbox.janitor import Janitor
from autograder.sandbox.keyring_filter import forbid_keyrings
from autograder.sandbox.protocol import (
    LOADED_LINE,
    Begin,
    CaseResult,
    Done,
    End,
    Hello,
    HiddenPayload,
    Job,
    Observation,
    ProbeModule,
    Ready,
    Status,
    encode,
)

PR_SET_DUMPABLE = 4
MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # the hidden probes and seeds (about 200 kB)
WRITABLE_IN_SANDBOX = ["/tmp", "/dev/shm", "/dev/mqueue", "/mplconfig"]  # everything else in the sandbox is read-only


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout("the function took too long (is there an infinite loop?)")


WALL_FACTOR = 3.0  # wall clock allowed per second of a case's CPU limit (code that sleeps uses no CPU)


def _arm(seconds: float) -> None:
    """Stop the running case after ``seconds`` of this process's CPU time, or ``WALL_FACTOR``
    times that of wall time. CPU time, not wall time: a loaded machine (other students,
    another job) slows a correct function without making it use more CPU, so the same
    submission gets the same marks on an idle and on a busy machine."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPROF, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)


def _warm_imports() -> None:
    """Import what every notebook needs once, before forking (shared copy-on-write)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    seed = os.environ.get("MPL_CACHE_SEED")  # the host's font cache: skips a slow font scan
    config = os.environ.get("MPLCONFIGDIR")
    if seed and config and os.path.isdir(seed):
        os.makedirs(config, exist_ok=True)
        for name in os.listdir(seed):
            if name.startswith("fontlist") and name.endswith(".json"):
                shutil.copy(os.path.join(seed, name), os.path.join(config, name))
    import matplotlib
    import numpy  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: None
    try:
        import torch

        torch.set_num_threads(1)
        # The first optimizer step and autograd call import a lot lazily (seconds): do it once here.
        model = torch.nn.Linear(2, 2)
        loss = torch.nn.functional.cross_entropy(model(torch.zeros(3, 2)), torch.zeros(3, dtype=torch.long))
        loss.backward()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        torch.optim.AdamW(model.parameters()).step()
    except ImportError:
        pass
    import importlib
    import pkgutil

    import autograder.sandbox.extract  # noqa: F401
    import helpers

    for module in pkgutil.walk_packages(helpers.__path__, "helpers."):  # what the notebooks import: once, not per student
        try:
            importlib.import_module(module.name)
        except Exception:  # noqa: BLE001 - a module that cannot load here costs only the notebooks that import it
            pass


def load_probes(probes: list[ProbeModule]) -> dict[str, list]:
    """Exec the probe-only suite sources as modules ``probes.*``; return cases by notebook.

    They never replace the real ``helpers.selfcheck`` modules (hidden probes import
    shared input builders from those).
    """
    by_notebook: dict[str, list] = {}
    for item in probes:
        module = types.ModuleType(item.module)
        module.__file__ = f"<{item.module}>"
        sys.modules[item.module] = module
        linecache.cache[module.__file__] = (len(item.source), None, item.source.splitlines(True), module.__file__)
        exec(compile(item.source, module.__file__, "exec"), module.__dict__)
        by_notebook.setdefault(item.notebook, []).extend(module.suite.cases)
    return by_notebook


def _emit(fd: int, message) -> None:
    from helpers.checking import dumps

    data = dict(vars(message))  # shallow: asdict would deep-copy the whole result value
    if isinstance(message, CaseResult):
        data["obs"] = message.obs.as_dict()
    view = memoryview((dumps({"kind": type(message).__name__, **data}) + "\n").encode())
    while view:
        view = view[os.write(fd, view) :]


def load_definitions(notebook: str, raw: bytes, load_timeout: float) -> tuple[dict, Status]:
    """Exec the notebook's kept definitions in a fresh module; return (namespace, status)."""
    from autograder.sandbox.extract import extract

    status = Status(notebook)
    try:
        extraction = extract(raw)
    except ValueError as exc:
        status.problems.append(str(exc))
        status.invalid = True
        return {}, status
    status.problems.extend(extraction.problems)
    module = types.ModuleType(f"submission_{notebook}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    for cell, text in extraction.cells.items():
        name = f"<notebook {notebook}, cell {cell}>"
        linecache.cache[name] = (len(text), None, [line + "\n" for line in text.splitlines()], name)
    previous = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)
    for chunk in extraction.chunks:
        name = f"<notebook {notebook}, cell {chunk.cell}>"
        padded = "\n" * chunk.line_offset + chunk.source
        _arm(load_timeout)
        try:
            exec(compile(padded, name, "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - the student's top level may raise anything
            first_line = chunk.source.strip().splitlines()[0][:80] if chunk.source.strip() else ""
            if isinstance(exc, CaseTimeout):  # the grader's words, not the student's
                why = f"stopped at the time limit for loading a cell ({load_timeout:g} s of CPU time): is there an infinite loop at its top level?"
            else:
                why = f"{type(exc).__name__}: {str(exc)[:300]}"
            status.load_errors.append(f"the cell starting `{first_line}`: {why}")
        finally:
            _disarm()
    signal.signal(signal.SIGALRM, previous[0])
    signal.signal(signal.SIGPROF, previous[1])
    status.definitions = sorted(k for k in namespace if not k.startswith("__"))[:200]
    return namespace, status


def run_cases(cases: list, namespace: dict, seeds: dict[str, int], fd: int) -> None:
    """In the child: run ``cases`` on one notebook's definitions and stream their observations to ``fd``."""
    from helpers.checking import run_case

    for case in cases:
        _arm(case.timeout)
        try:
            observation = run_case(case, namespace, seeds.get(case.id), restore_generators=False)  # each case seeds them anew
        except CaseTimeout:  # raised outside the probe's own try (rare)
            observation = {"value": None, "calls": [], "error": {"type": "CaseTimeout", "message": "", "where": ""}, "seconds": case.timeout}
        finally:
            _disarm()
        if observation["error"] and observation["error"]["type"] == "CaseTimeout":
            observation["error"]["message"] = f"stopped after {case.timeout:g} s of CPU time: the function took too long (is there an infinite loop?)"
        _emit(fd, CaseResult(case.id, Observation(**observation)))


def _read_all(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _child(job: Job, fds: list[int], result_fd: int, progress_fd: int, public_cases: dict, control: socket.socket, workdir: str) -> int:
    """The forked child: limits first, then the student's notebooks, then one phase's tests.

    Visible phase: the public cases, with the job's (public) seeds. Hidden phase: only once
    every notebook is loaded, the hidden probes and seeds are read from the payload pipe
    (the last fd), which the grader fills after it has read ``Loaded``.
    """
    control.close()
    forbid_keyrings()  # before any student code: kernel keys are a channel the janitor cannot close (keyring_filter.py)
    os.setpgid(0, 0)
    limits = job.limits
    for name, value in (("RLIMIT_AS", limits.memory_bytes), ("RLIMIT_CPU", limits.cpu_seconds), ("RLIMIT_FSIZE", limits.file_bytes)):
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))
    if os.getuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits.processes), int(limits.processes)))
    os.chdir(workdir)
    payload_fd = fds.pop() if job.phase == "hidden" else None
    # Every notebook's definitions load, and every status is sent, before any test runs (the
    # grader refuses a status that comes after the tests began).
    loaded = []
    for notebook, fd in zip(job.notebooks, fds):
        os.write(progress_fd, b"n")  # the worker restarts this notebook's clock
        raw = _read_all(fd, MAX_NOTEBOOK_BYTES)
        os.close(fd)
        namespace, status = load_definitions(notebook, raw, job.load_timeout)
        _emit(result_fd, status)
        if status.invalid:
            _emit(result_fd, Done(notebook))  # nothing to test: the grader says why for every case
        else:
            loaded.append((notebook, namespace))
    if payload_fd is None:
        runs = [(public_cases, job.seeds, "public")]
    else:
        os.write(result_fd, LOADED_LINE + b"\n")
        os.write(progress_fd, b"n")
        payload = HiddenPayload.from_dict(json.loads(_read_all(payload_fd, MAX_PAYLOAD_BYTES)))
        os.close(payload_fd)
        hidden_cases = load_probes(payload.probes)
        runs = [(public_cases if v == "public" else hidden_cases, payload.seeds, v) for v in payload.run]
    for cases, seeds, visibility in runs:
        for notebook, namespace in loaded:
            os.write(progress_fd, b"n")
            _emit(result_fd, Begin(notebook))
            run_cases([c for c in cases.get(notebook, []) if c.visibility == visibility], namespace, seeds, result_fd)
    for notebook, _ in loaded:
        _emit(result_fd, Done(notebook))
    return 0


def _wait(pid: int, progress_fd: int, per_notebook: float, count: int, budget: float = 0.0) -> tuple[bool, int | None]:
    """Wait for the child; each notebook it starts gets ``per_notebook`` seconds.

    Returns (timed_out, wait status). The whole job never gets more than
    ``count * per_notebook`` seconds (nor ``budget``, when given: what is left of the
    student's time after earlier jobs), whatever the child writes to the progress pipe.
    """
    start = time.monotonic()
    total = min(count * per_notebook, budget) if budget > 0 else count * per_notebook
    deadline, final = start + per_notebook, start + total + 1
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return False, status
        now = time.monotonic()
        if now >= min(deadline, final):
            return True, None
        ready, _, _ = select.select([progress_fd], [], [], min(0.005 if now - start < 1 else 0.05, min(deadline, final) - now))
        if ready:
            if os.read(progress_fd, 64):
                deadline = time.monotonic() + per_notebook
            else:  # the child closed it: ending
                time.sleep(0.001)


def _inherited_state() -> tuple:
    """What a forked child inherits from this worker and another process of its uid can change from outside."""
    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource)) if name.startswith("RLIMIT_"))
    try:
        affinity = tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        affinity = ()
    try:
        policy = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    except (AttributeError, OSError):
        policy = ()
    return os.getpriority(os.PRIO_PROCESS, 0), policy, affinity, limits


def serve(control: socket.socket, sandboxed: bool) -> None:
    hello = Hello.from_dict(json.loads(_recv_message(control)[0]))
    _warm_imports()
    # Public probes only: a hidden one here would be in the memory of every child forked from this process.
    public_cases = load_probes([item for item in hello.probes if item.module.startswith("probes.public.")])
    del hello
    scratch = "/tmp" if sandboxed else os.getcwd()  # plain mode: the runner starts this worker in its own folder
    workdir = os.path.join(scratch, "work")  # the child's working directory, made anew for every job
    janitor = Janitor(WRITABLE_IN_SANDBOX if sandboxed else [scratch], workdir, sandboxed)
    inherited = _inherited_state()
    control.sendall(encode(Ready()))
    while True:
        try:
            message, fds = _recv_message(control, with_fds=True)
        except EOFError:
            return
        job = Job.from_dict(json.loads(message))
        if job.phase == "hidden":  # the payload pipe stays last: the child takes it
            *notebook_fds, result_fd, payload_fd = fds
            notebook_fds.append(payload_fd)
        else:
            *notebook_fds, result_fd = fds
        progress_read, progress_write = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                os.close(progress_read)
                code = _child(job, notebook_fds, result_fd, progress_write, public_cases, control, workdir)
            except BaseException:  # noqa: BLE001
                pass
            finally:
                for stream in (sys.stdout, sys.stderr):  # the student's prints are part of the report
                    try:
                        stream.flush()
                    except BaseException:  # noqa: BLE001
                        pass
                os._exit(code)
        for fd in (*notebook_fds, result_fd, progress_write):
            os.close(fd)
        timed_out, status = _wait(pid, progress_read, job.timeout, len(job.notebooks) + (job.phase == "hidden"), job.budget)
        os.close(progress_read)
        janitor.clean_up(pid)
        if _inherited_state() != inherited:
            # A child changed what every later child inherits from this worker (same uid: setpriority,
            # sched_setscheduler, sched_setaffinity, prlimit; an unprivileged process cannot undo
            # most of it). Leave without an End: the grader charges this job and starts a fresh worker.
            os._exit(4)
        if status is None:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = None
        end = End(job.job, timed_out, round(time.monotonic() - start, 3))
        if status is not None and os.WIFSIGNALED(status):
            end.signal = os.WTERMSIG(status)
        elif status is not None and os.WIFEXITED(status):
            end.exit_code = os.WEXITSTATUS(status)
        control.sendall(encode(end))


def _recv_message(control: socket.socket, with_fds: bool = False):
    """One message: 8 ASCII digits of length, then the JSON text; fds ride on the first part."""
    if with_fds:
        data, fds, _, _ = socket.recv_fds(control, 8, 64)
    else:
        data, fds = control.recv(8, socket.MSG_WAITALL), []
    if len(data) < 8:
        raise EOFError
    size = int(data)
    body = b""
    while len(body) < size:
        chunk = control.recv(size - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return body.decode(), fds


def _safe_sys_path() -> None:
    """No writable folder (the working directory, /tmp) may be on sys.path.

    Kept even where this user could write them: the interpreter's own folders (standard
    library, site-packages) and the grader's PYTHONPATH (the staged package). In the
    sandbox and under uid 65534 they are read-only anyway; a plain worker run by their
    owner (root whose Python uid 65534 cannot read, a laptop's own venv) needs them to
    import anything, and its isolation is partial (the grader says so).
    """
    cwd = os.getcwd()
    trusted = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    trusted |= {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}

    def installed(path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == top or real.startswith(top.rstrip(os.sep) + os.sep) for top in trusted)

    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd) and (installed(p) or not (os.path.isdir(p) and os.access(p, os.W_OK)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--sandboxed", action="store_true", help="inside bubblewrap: clean the namespace between jobs")
    args = parser.parse_args()
    _safe_sys_path()
    try:  # no ptrace of, or /proc/PID/mem access to, this process from the students' children
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    control = socket.socket(fileno=args.control_fd)
    serve(control, args.sandboxed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
