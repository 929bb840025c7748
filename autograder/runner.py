"""Run a submission's notebooks in a worker process and collect plain-data observations.

The grader never imports student code. It starts ``python -m autograder.worker``,
sends it the suites and the notebook paths, and reads one JSON line per result from
a dedicated pipe (student prints go to stdout/stderr, which are captured and capped).
If the worker dies (a crash, a killed parent), the notebooks it had not finished are
retried in a fresh worker, once.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import ROOT
from autograder.registry import Registry

OUTPUT_CAP = 64 * 1024  # bytes of student stdout/stderr kept
RESULT_CAP = 256 * 1024 * 1024  # bytes of result stream read at most
IMPORT_SLACK = 60.0  # seconds for the worker to start and import numpy/torch


@dataclass
class Limits:
    """Resource limits for one worker (all of its notebooks)."""

    cpu_seconds: int = 600  # RLIMIT_CPU of the worker
    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS: address space (torch alone maps about 1 GiB)
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: largest file the worker may write
    notebook_seconds: float = 120.0  # wall clock per notebook
    load_seconds: float = 20.0  # wall clock for loading one chunk of definitions


@dataclass
class RunResult:
    observations: dict[str, dict] = field(default_factory=dict)  # case id -> observation
    notebooks: dict[str, dict] = field(default_factory=dict)  # notebook -> status and end events
    output: str = ""  # the student's captured stdout/stderr (capped)
    worker_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _limit(limits: Limits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def kill_session(sid: int) -> None:
    """SIGKILL every process in session ``sid`` (the worker and all it started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def _read_capped(stream, sink: bytearray, cap: int) -> None:
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if len(sink) < cap:
            sink.extend(chunk[: cap - len(sink)])


def _worker_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
    env.update(PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def run_worker_once(notebooks: dict[str, Path | None], registry: Registry, limits: Limits) -> RunResult:
    result = RunResult()
    request = {
        "suites": registry.sources,
        "notebooks": [
            {"notebook": nb, "path": str(path) if path else None, "timeout": limits.notebook_seconds} for nb, path in notebooks.items()
        ],
        "load_timeout": limits.load_seconds,
    }
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.worker", "--result-fd", str(write_fd)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        cwd=ROOT,
        env=_worker_env(),
        start_new_session=True,
        preexec_fn=_limit(limits),
    )
    os.close(write_fd)
    output, stream = bytearray(), bytearray()
    readers = [
        threading.Thread(target=_read_capped, args=(proc.stdout, output, OUTPUT_CAP), daemon=True),
        threading.Thread(target=_read_capped, args=(os.fdopen(read_fd, "rb"), stream, RESULT_CAP), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        proc.stdin.write(json.dumps(request).encode())
        proc.stdin.close()
    except BrokenPipeError:
        result.worker_problems.append("the worker closed its input early")
    deadline = IMPORT_SLACK + limits.notebook_seconds * max(1, len(notebooks)) + 5
    try:
        proc.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        result.worker_problems.append(f"the worker was stopped after {deadline:.0f} s")
    finally:
        kill_session(proc.pid)
        proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    result.seconds = time.monotonic() - start
    result.output = output.decode("utf-8", "replace")
    _parse_stream(bytes(stream), result)
    if proc.returncode not in (0, None) and "finished" not in result.notebooks.get("_", {}):
        result.worker_problems.append(f"the worker ended with status {proc.returncode}")
    return result


def _parse_stream(data: bytes, result: RunResult) -> None:
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn or forged line: ignored, its case then counts as not run
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "case" and isinstance(event.get("id"), str) and isinstance(event.get("obs"), dict):
            result.observations.setdefault(event["id"], event["obs"])
        elif kind == "status" and isinstance(event.get("notebook"), str):
            result.notebooks.setdefault(event["notebook"], {}).update(status=event)
        elif kind == "end" and isinstance(event.get("notebook"), str):
            result.notebooks.setdefault(event["notebook"], {}).update(end=event)
        elif kind == "finished":
            result.notebooks.setdefault("_", {})["finished"] = True


def run_submission(notebooks: dict[str, Path | None], registry: Registry, limits: Limits | None = None) -> RunResult:
    """Observations for every case of ``notebooks`` (a missing notebook maps to None)."""
    limits = limits or Limits()
    total = RunResult()
    pending = dict(notebooks)
    for attempt in range(2):
        if not pending:
            break
        part = run_worker_once(pending, registry, limits)
        total.observations.update(part.observations)
        for nb, info in part.notebooks.items():
            total.notebooks.setdefault(nb, {}).update(info)
        total.output += part.output
        total.worker_problems += part.worker_problems
        total.seconds += part.seconds
        # A notebook whose child never reported its end was cut off by the worker's death.
        pending = {nb: p for nb, p in pending.items() if "end" not in total.notebooks.get(nb, {})}
        for nb in pending:
            if "status" in total.notebooks.get(nb, {}):  # it started, then took the worker down
                total.notebooks[nb]["end"] = {"event": "end", "notebook": nb, "worker_died": True}
        pending = {nb: p for nb, p in pending.items() if "end" not in total.notebooks.get(nb, {})}
    for nb in pending:
        total.notebooks.setdefault(nb, {})["end"] = {"event": "end", "notebook": nb, "worker_died": True}
    total.notebooks.pop("_", None)
    return total
