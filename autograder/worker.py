"""The worker: the only process that runs student code.

It starts once per grading slot (inside the sandbox when bubblewrap is available),
imports numpy, torch and matplotlib once, loads the test suites' probes, and then
serves jobs. A job is one student's notebooks. For each job the grader sends, over the
control socket, a small JSON header and file descriptors: one memfd per notebook with
its bytes, and the write end of a fresh result pipe. The worker forks one child; the
child loads each notebook's definitions (extract.py) into a fresh module, runs every
probe and writes one JSON line per result to the result pipe, notebook after notebook.
Each notebook gets its own wall-clock budget (the child pings the worker as it starts
one); a child that hangs or dies costs the notebook it was in, and the grader resends
the notebooks after it. The worker itself never reads a
notebook or a result, so nothing of one student stays in the memory the next
student's child is forked from. When the child ends (or runs out of time) the worker
kills every process the child left behind, empties /tmp and reports the end.

Everything sent back is plain data: the worker never sees an expected value.

Run as ``python -m autograder.worker --control-fd N``.
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

PR_SET_DUMPABLE = 4


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout("the function took too long (is there an infinite loop?)")


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
    import helpers  # noqa: F401
    import helpers.checking  # noqa: F401

    try:  # property cases draw their examples with hypothesis when the suites load
        import hypothesis  # noqa: F401
    except ImportError:
        pass


def load_suites(sources: list[dict]) -> dict[str, list]:
    """Exec the suites' sources as modules; return cases by notebook."""
    by_notebook: dict[str, list] = {}
    for item in sources:
        module = types.ModuleType(item["module"])
        module.__file__ = f"<{item['module']}>"
        sys.modules[item["module"]] = module
        exec(compile(item["source"], module.__file__, "exec"), module.__dict__)
        suite = module.suite
        by_notebook.setdefault(suite.notebook, []).extend(suite.cases)
    return by_notebook


def _emit(fd: int, event: dict) -> None:
    from helpers.checking import dumps

    view = memoryview((dumps(event) + "\n").encode())
    while view:
        view = view[os.write(fd, view) :]


def load_definitions(notebook: str, raw: bytes, load_timeout: float) -> tuple[dict, dict]:
    """Exec the notebook's kept definitions in a fresh module; return (namespace, status)."""
    from autograder.extract import extract

    status = {"notebook": notebook, "problems": [], "load_errors": [], "definitions": []}
    try:
        extraction = extract(raw)
    except ValueError as exc:
        status["problems"].append(str(exc))
        status["invalid"] = True
        return {}, status
    status["problems"].extend(extraction.problems)
    module = types.ModuleType(f"submission_{notebook}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    for cell, text in extraction.cells.items():
        name = f"<notebook {notebook}, cell {cell}>"
        linecache.cache[name] = (len(text), None, [line + "\n" for line in text.splitlines()], name)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    for chunk in extraction.chunks:
        name = f"<notebook {notebook}, cell {chunk.cell}>"
        padded = "\n" * chunk.line_offset + chunk.source
        signal.setitimer(signal.ITIMER_REAL, load_timeout)
        try:
            exec(compile(padded, name, "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - the student's top level may raise anything
            status["load_errors"].append(f"code cell {chunk.cell}: {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
    status["definitions"] = sorted(k for k in namespace if not k.startswith("__"))[:200]
    return namespace, status


def run_notebook(notebook: str, raw: bytes, cases: list, fd: int, load_timeout: float) -> None:
    """In the child: load one notebook and stream its cases' observations to ``fd``."""
    from helpers.checking import run_case

    namespace, status = load_definitions(notebook, raw, load_timeout)
    _emit(fd, {"event": "status", **status})
    if status.get("invalid"):
        return  # nothing to test: the grader reports why for every case
    signal.signal(signal.SIGALRM, _on_alarm)
    for case in cases:
        signal.setitimer(signal.ITIMER_REAL, case.timeout)
        try:
            observation = run_case(case, namespace)
        except CaseTimeout:  # raised outside the probe's own try (rare)
            observation = {"value": None, "calls": [], "error": {"type": "CaseTimeout", "message": "", "where": ""}, "seconds": case.timeout}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if observation["error"] and observation["error"]["type"] == "CaseTimeout":
            observation["error"]["message"] = f"stopped after {case.timeout:g} s: the function took too long (is there an infinite loop?)"
        _emit(fd, {"event": "case", "id": case.id, "obs": observation})
    _emit(fd, {"event": "done", "notebook": notebook})


def _read_all(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _child(job: dict, notebook_fds: list[int], result_fd: int, progress_fd: int, cases_by_notebook: dict, control: socket.socket) -> int:
    """The forked child: limits first, then the student's notebooks one after another."""
    control.close()
    os.setpgid(0, 0)
    limits = job.get("limits", {})
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_CPU", "cpu_seconds"), ("RLIMIT_FSIZE", "file_bytes")):
        if key in limits:
            value = int(limits[key])
            resource.setrlimit(getattr(resource, name), (value, value))
    if "processes" in limits and os.getuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["processes"]), int(limits["processes"])))
    os.chdir(job.get("workdir", "/tmp"))
    for notebook, fd in zip(job["notebooks"], notebook_fds):
        os.write(progress_fd, b"n")  # the worker restarts this notebook's clock
        raw = _read_all(fd, int(job.get("max_notebook_bytes", 512 * 1024 * 1024)))
        os.close(fd)
        run_notebook(notebook, raw, cases_by_notebook.get(notebook, []), result_fd, float(job.get("load_timeout", 20)))
    return 0


def _others_in_namespace() -> list[int]:
    """Every process this worker can see except itself and its ancestors."""
    keep, pid = {os.getpid()}, os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
            keep.add(pid)
        except (OSError, ValueError, IndexError):
            break
    keep.add(1)
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]


def _clean_up(child: int, sandboxed: bool) -> None:
    """Kill the child's process group and, in the sandbox, every stray process; empty /tmp."""
    for target in (-child, child):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if sandboxed:  # the sandbox's PID namespace holds only this worker and what students start
        for pid in _others_in_namespace():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for entry in set(os.listdir("/tmp")) - _TMP_AT_START:  # not the sandbox's own mount points
            path = os.path.join("/tmp", entry)
            try:
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
            except OSError:
                pass
    while True:  # reap every child that has ended
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def _wait(pid: int, progress_fd: int, per_notebook: float, count: int) -> tuple[bool, int | None]:
    """Wait for the child; each notebook it starts gets ``per_notebook`` seconds.

    Returns (timed_out, wait status). The whole job never gets more than
    ``count * per_notebook`` seconds, whatever the child writes to the progress pipe.
    """
    start = time.monotonic()
    deadline, final = start + per_notebook, start + count * per_notebook + 1
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


_TMP_AT_START: set[str] = set()


def serve(control: socket.socket, sandboxed: bool) -> None:
    _TMP_AT_START.update(os.listdir("/tmp"))
    header = json.loads(_recv_message(control)[0])
    _warm_imports()
    cases_by_notebook = load_suites(header["suites"])
    control.sendall(b'{"event": "ready"}\n')
    while True:
        try:
            message, fds = _recv_message(control, with_fds=True)
        except EOFError:
            return
        job = json.loads(message)
        *notebook_fds, result_fd = fds
        progress_read, progress_write = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                os.close(progress_read)
                code = _child(job, notebook_fds, result_fd, progress_write, cases_by_notebook, control)
            except BaseException:  # noqa: BLE001
                pass
            finally:
                os._exit(code)
        for fd in (*notebook_fds, result_fd, progress_write):
            os.close(fd)
        timed_out, status = _wait(pid, progress_read, float(job.get("timeout", 60)), len(notebook_fds))
        os.close(progress_read)
        _clean_up(pid, sandboxed)
        if status is None:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = None
        end = {"event": "end", "job": job["job"], "timed_out": timed_out, "seconds": round(time.monotonic() - start, 3)}
        if status is not None and os.WIFSIGNALED(status):
            end["signal"] = os.WTERMSIG(status)
        elif status is not None and os.WIFEXITED(status):
            end["exit_code"] = os.WEXITSTATUS(status)
        control.sendall((json.dumps(end) + "\n").encode())


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--sandboxed", action="store_true", help="inside bubblewrap: clean the namespace between jobs")
    args = parser.parse_args()
    try:  # no ptrace of, or /proc/PID/mem access to, this process from the students' children
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    control = socket.socket(fileno=args.control_fd)
    serve(control, args.sandboxed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
