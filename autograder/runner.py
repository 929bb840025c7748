"""Run students' notebooks in workers and collect plain-data observations.

The grader never imports student code. A :class:`Worker` is one long-lived worker
process (autograder/worker.py, sandboxed when bubblewrap can run) that has imported
torch and the suites once; it serves one job (one notebook of one student) at a time,
forking a fresh child for each. A :class:`WorkerPool` holds ``jobs`` workers for a
batch. If a worker dies (a student's code killed it, or it ran out of memory), the
job it was running gets no results and the next job starts a fresh worker.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.registry import Registry
from autograder.sandbox import Cgroup, worker_command

OUTPUT_CAP = 64 * 1024  # bytes of a student's stdout/stderr kept per submission
RESULT_CAP = 256 * 1024 * 1024  # bytes of one notebook's result stream read at most
MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024  # a larger file is not read at all


@dataclass
class Limits:
    """Resource limits for student code."""

    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS of each child (torch alone maps about 1 GiB)
    cpu_seconds: int = 120  # RLIMIT_CPU of each child
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: largest file a child may write
    processes: int = 64  # processes per worker (cgroup pids.max; RLIMIT_NPROC when not root)
    worker_memory_bytes: int = 4 * 1024**3  # cgroup memory limit of a whole worker
    notebook_seconds: float = 60.0  # wall clock per notebook
    load_seconds: float = 20.0  # wall clock for loading one chunk of definitions
    start_seconds: float = 120.0  # wall clock for a worker to start and import torch

    def for_child(self) -> dict:
        return {"memory_bytes": self.memory_bytes, "cpu_seconds": self.cpu_seconds, "file_bytes": self.file_bytes, "processes": self.processes}


@dataclass
class RunResult:
    observations: dict[str, dict] = field(default_factory=dict)  # case id -> observation
    notebooks: dict[str, dict] = field(default_factory=dict)  # notebook -> {"status": ..., "end": ...}
    output: str = ""  # the student's captured stdout/stderr (capped)
    worker_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class WorkerDied(RuntimeError):
    pass


class Worker:
    """One worker process serving jobs one at a time over a control socket."""

    def __init__(self, registry: Registry, limits: Limits):
        self.limits = limits
        self.output = bytearray()
        self._job = 0
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv, env, self.sandboxed, demote = worker_command(theirs.fileno())
        self.cgroup = Cgroup.create(limits.processes, limits.worker_memory_bytes)

        def prepare() -> None:  # runs in the new process before exec
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if self.cgroup is not None:
                self.cgroup.attach_self()
            if demote is not None:
                demote()

        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(theirs.fileno(),), env=env, start_new_session=True, preexec_fn=prepare, cwd="/tmp" if not self.sandboxed else None,
        )  # fmt: skip
        theirs.close()
        self.control = ours
        self._buffer = b""
        threading.Thread(target=self._read_output, daemon=True).start()
        try:
            self._send({"suites": registry.sources})
            ready = self._read_event(time.monotonic() + limits.start_seconds)
        except OSError:  # it died at once (a broken sandbox or interpreter)
            ready = None
            time.sleep(0.2)  # let its last words reach self.output
        if ready is None or ready.get("event") != "ready":
            self.close()
            raise WorkerDied(f"the worker did not start: {self.output[-2000:].decode('utf-8', 'replace')}")

    def _read_output(self) -> None:
        while True:
            chunk = self.proc.stdout.read1(65536) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(65536)
            if not chunk:
                return
            if len(self.output) < 16 * OUTPUT_CAP:
                self.output.extend(chunk)

    def _send(self, message: dict, fds: list[int] | None = None) -> None:
        body = json.dumps(message).encode()
        head = b"%08d" % len(body)
        if fds:
            socket.send_fds(self.control, [head], fds)
        else:
            self.control.sendall(head)
        self.control.sendall(body)

    def _read_event(self, deadline: float) -> dict | None:
        """The next JSON line on the control socket, or None on EOF / deadline."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.control], [], [], remaining)
            if not ready:
                return None
            chunk = self.control.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, notebooks: list[tuple[str, bytes]]) -> tuple[list[dict], dict, str]:
        """Run one student's notebooks in one child; return (result events, end event, output)."""
        self._job += 1
        output_start = len(self.output)
        memfds = []
        for notebook, raw in notebooks:
            memfd = os.memfd_create(f"notebook-{notebook}")
            os.write(memfd, raw)
            os.lseek(memfd, 0, os.SEEK_SET)
            memfds.append(memfd)
        read_end, write_end = os.pipe()
        job = {
            "job": self._job, "notebooks": [nb for nb, _ in notebooks], "timeout": self.limits.notebook_seconds,
            "load_timeout": self.limits.load_seconds, "limits": self.limits.for_child(),
        }  # fmt: skip
        try:
            self._send(job, [*memfds, write_end])
        except OSError as exc:
            raise WorkerDied(f"the worker is gone ({exc})") from None
        finally:
            for fd in (*memfds, write_end):
                os.close(fd)
        deadline = time.monotonic() + self.limits.notebook_seconds * len(notebooks) + 15
        stream, end, eof = bytearray(), None, False
        while True:
            waiting = [read_end] if not eof else []
            if end is None:
                waiting.append(self.control)
            if not waiting or time.monotonic() > deadline:
                break
            ready, _, _ = select.select(waiting, [], [], max(0.0, min(1.0, deadline - time.monotonic())))
            if read_end in ready:
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    eof = True
                elif len(stream) < RESULT_CAP:
                    stream.extend(chunk)
            if self.control in ready:
                end = self._read_event(time.monotonic() + 5)
                if end is None:  # the worker died
                    break
                deadline = min(deadline, time.monotonic() + 2)  # stragglers are dead; drain the pipe
        os.close(read_end)
        output = bytes(self.output[output_start:])[:OUTPUT_CAP].decode("utf-8", "replace")
        events = []
        for line in bytes(stream).splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn or forged line: its case counts as not run
            if isinstance(event, dict):
                events.append(event)
        if end is None:
            self.close()
            end = {"event": "end", "worker_died": True}
        return events, end, output

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all_and_remove()
            self.cgroup = None
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _record(result: RunResult, notebooks: list[str], events: list[dict], end: dict) -> list[str]:
    """File a job's events under its notebooks; return the notebooks that never started.

    The notebook that was running when the child stopped (no "done" event) gets the
    job's end (time-out, signal, death); the ones after it are to be sent again.
    """
    done, current = set(), None
    for event in events:
        kind, notebook = event.get("event"), event.get("notebook")
        if kind == "case" and isinstance(event.get("id"), str) and isinstance(event.get("obs"), dict):
            owner = event["id"].split("/", 1)[0]
            if owner in notebooks and owner not in done:  # a notebook reports only its own cases
                result.observations.setdefault(event["id"], event["obs"])
        elif kind == "status" and notebook in notebooks and notebook not in done:
            current = notebook
            info = result.notebooks.setdefault(notebook, {})
            info.setdefault("status", {k: event.get(k) for k in ("problems", "load_errors", "definitions", "invalid") if k in event})
        elif kind == "done" and notebook in notebooks:
            done.add(notebook)
            result.notebooks.setdefault(notebook, {})["end"] = {"done": True}
    unfinished = [nb for nb in notebooks if nb not in done]
    if not unfinished:
        return []
    culprit = current if current in unfinished else unfinished[0]
    result.notebooks.setdefault(culprit, {})["end"] = end
    return unfinished[unfinished.index(culprit) + 1 :]


class WorkerPool:
    """``size`` workers shared by the submissions of a batch (thread-safe)."""

    def __init__(self, registry: Registry, limits: Limits | None = None, size: int = 1):
        self.registry = registry
        self.limits = limits or Limits()
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max(1, size))

    def _take(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.close()
        return Worker(self.registry, self.limits)

    def run_submission(self, notebooks: dict[str, Path]) -> RunResult:
        """Observations for every case of the given notebooks (series number -> file)."""
        result = RunResult()
        start = time.monotonic()
        pending: list[tuple[str, bytes]] = []
        for notebook, path in notebooks.items():
            try:
                size = path.stat().st_size
                if size > MAX_NOTEBOOK_BYTES:
                    raise OSError(f"the file is {size / 1e6:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB the grader reads")
                pending.append((notebook, path.read_bytes()))
            except OSError as exc:
                result.notebooks[notebook] = {"status": {"problems": [f"could not read the file: {exc}"], "invalid": True}, "end": {}}
        with self._slots:
            worker = None
            while pending:
                try:
                    worker = worker if worker is not None and worker.alive else self._take()
                    events, end, output = worker.run(pending)
                except WorkerDied as exc:
                    events, end, output = [], {"event": "end", "worker_died": True}, ""
                    result.worker_problems.append(str(exc)[:500])
                if end.get("worker_died"):
                    worker = None
                rest = _record(result, [nb for nb, _ in pending], events, end)
                pending = [(nb, raw) for nb, raw in pending if nb in rest]
                result.output += output[: max(0, OUTPUT_CAP - len(result.output))]
            if worker is not None:
                with self._lock:
                    self._idle.append(worker)
        result.seconds = time.monotonic() - start
        return result

    def close(self) -> None:
        with self._lock:
            for worker in self._idle:
                worker.close()
            self._idle.clear()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_submission(notebooks: dict[str, Path], registry: Registry, limits: Limits | None = None) -> RunResult:
    """Run one submission in a fresh single-worker pool."""
    with WorkerPool(registry, limits, 1) as pool:
        return pool.run_submission(notebooks)
