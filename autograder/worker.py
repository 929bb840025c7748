"""The worker: the only process that runs student code.

It reads one request (JSON on stdin): the test suites' sources and the student's
notebooks. For each notebook it forks a child that loads the notebook's definitions
(see extract.py), runs every case's probe and streams one JSON line per result to
the result channel (the file descriptor named by ``--result-fd``). Everything it sends
is plain data; it never sees an expected value. The trusted grader reads the stream,
so a child that crashes, hangs or kills its parent costs only its own results.

Run as ``python -m autograder.worker --result-fd N``.
"""

from __future__ import annotations

import argparse
import json
import linecache
import os
import select
import signal
import sys
import time
import types

MAX_STREAM_BYTES = 96 * 1024 * 1024  # per notebook, forwarded to the grader


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout("the function took too long (is there an infinite loop?)")


def _warm_imports() -> None:
    """Import what every notebook needs once, before forking (shared copy-on-write)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import numpy  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: None
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    import helpers  # noqa: F401


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

    data = (dumps(event) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
    status["definitions"] = sorted(k for k in namespace if not k.startswith("__"))[:200]
    return namespace, status


def run_notebook(notebook: str, path: str | None, cases: list, fd: int, load_timeout: float) -> None:
    """In the child: load one notebook and stream its cases' observations to ``fd``."""
    from helpers.checking import run_case

    signal.signal(signal.SIGALRM, _on_alarm)
    raw = b""
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            _emit(fd, {"event": "status", "notebook": notebook, "problems": [f"could not read the file: {exc}"], "invalid": True})
            return
    namespace, status = load_definitions(notebook, raw, load_timeout) if path is not None else ({}, {"notebook": notebook, "missing": True})
    _emit(fd, {"event": "status", **status})
    for case in cases:
        signal.setitimer(signal.ITIMER_REAL, case.timeout)
        try:
            observation = run_case(case, namespace)
        except CaseTimeout as exc:  # raised outside the probe's own try (rare)
            observation = {"value": None, "calls": [], "error": {"type": "Timeout", "message": str(exc), "where": ""}, "seconds": case.timeout}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if observation["error"] and observation["error"]["type"] == "CaseTimeout":
            observation["error"]["message"] = f"stopped after {case.timeout:g} s: the function took too long (is there an infinite loop?)"
        _emit(fd, {"event": "case", "id": case.id, "obs": observation})


def _relay(read_fd: int, out_fd: int, pid: int, deadline: float) -> tuple[bool, int]:
    """Forward the child's stream until EOF or the deadline; return (timed_out, bytes)."""
    total, timed_out = 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break
        total += len(chunk)
        if total <= MAX_STREAM_BYTES:
            os.write(out_fd, chunk)
    return timed_out, total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args()
    out_fd = args.result_fd
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    _warm_imports()
    cases_by_notebook = load_suites(request["suites"])
    load_timeout = float(request.get("load_timeout", 20))
    for item in request["notebooks"]:
        notebook, path = item["notebook"], item.get("path")
        cases = cases_by_notebook.get(notebook, [])
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: student code runs from here on
            code = 0
            try:
                os.setpgid(0, 0)  # its own process group, so the worker can kill all it starts
                os.close(read_fd)
                run_notebook(notebook, path, cases, write_fd, load_timeout)
            except BaseException:  # noqa: BLE001
                code = 3
            finally:
                os._exit(code)
        os.close(write_fd)
        timeout = float(item.get("timeout", 120))
        timed_out, size = _relay(read_fd, out_fd, pid, time.monotonic() + timeout)
        for target in (-pid, pid):  # the child's process group, then the child itself
            try:
                os.kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _, wait_status = os.waitpid(pid, 0)
        os.close(read_fd)
        end = {"event": "end", "notebook": notebook, "timed_out": timed_out, "truncated": size > MAX_STREAM_BYTES}
        if os.WIFSIGNALED(wait_status):
            end["signal"] = os.WTERMSIG(wait_status)
        elif os.WIFEXITED(wait_status):
            end["exit_code"] = os.WEXITSTATUS(wait_status)
        _emit(out_fd, end)
    _emit(out_fd, {"event": "finished"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
