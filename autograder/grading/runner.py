"""Run students' notebooks in workers and collect plain-data observations.

The grader never imports student code. A :class:`Worker` is one long-lived worker
process (autograder/sandbox/worker.py, sandboxed when bubblewrap can run) that has imported
torch and the public probes once; it serves one job at a time, forking a fresh child for
each. A student's run is two phases (:meth:`WorkerPool.run_submission`): the visible one
(public probes, public seeds: what it sends may be shown in full) and the hidden one (a
fresh child that gets the hidden probes and seeds on a pipe only after it has loaded the
notebooks; what it sends is treated as hidden). The solution's reference run for a
student's seeds (:meth:`WorkerPool.run_reference`) uses workers that never run student
code. A :class:`WorkerPool` holds ``jobs`` workers of each kind for a batch. If a worker
dies (a student's code killed it, or it ran out of memory), the job it was running gets
no results and the next job starts a fresh worker.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.grading.launch import Cgroup, worker_command
from autograder.grading.registry import Registry
from autograder.grading.staging import stage
from autograder.sandbox.protocol import (
    LOADED_LINE,
    Begin,
    CaseResult,
    ChildLimits,
    Done,
    End,
    Hello,
    HiddenPayload,
    Job,
    Loaded,
    ProtocolError,
    Ready,
    Status,
    decode_worker,
    read_result_line,
)

OUTPUT_CAP = 64 * 1024  # bytes of a student's stdout/stderr kept per submission
RESULT_CAP = 64 * 1024 * 1024  # bytes of one job's result stream read at most (all the solutions' results: under 1 MB)


@dataclass
class Limits:
    """Resource limits for student code."""

    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS of each child (torch alone maps about 1 GiB)
    cpu_seconds: int = 120  # RLIMIT_CPU of each child
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: largest file a child may write
    processes: int = 64  # processes per worker (cgroup pids.max; RLIMIT_NPROC when not root)
    worker_memory_bytes: int = 4 * 1024**3  # cgroup memory limit of a whole worker
    cpus: float = 1.0  # cgroup CPU quota of a whole worker, in cores (0: none): one student's burners slow no other student
    notebook_seconds: float = 60.0  # wall clock per notebook in each phase (visible, hidden)
    load_seconds: float = 20.0  # wall clock for loading one chunk of definitions
    start_seconds: float = 120.0  # wall clock for a worker to start and import torch

    def for_child(self) -> ChildLimits:
        return ChildLimits(self.memory_bytes, self.cpu_seconds, self.file_bytes, self.processes)


@dataclass
class RunResult:
    observations: dict[str, dict] = field(default_factory=dict)  # case id -> observation (checked by protocol.read_result_line)
    notebooks: dict[str, dict] = field(default_factory=dict)  # visible phase: notebook -> {"status": Status, "end": End, "stream": [problems]}
    hidden: dict[str, dict] = field(default_factory=dict)  # hidden phase, the same (never shown to the student)
    output: str = ""  # the student's captured stdout/stderr of the visible phase (capped)
    hidden_output: str = ""  # of the hidden phase (for the instructor only)
    worker_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    visible_seconds: float = 0.0  # the visible phase's time: the only one shown (the hidden phase's is the student's to choose)


class WorkerDied(RuntimeError):
    pass


def _write_and_close(fd: int, data: bytes) -> None:
    """Write ``data`` to a pipe and close it (in a thread: the child reads at its own pace, or dies)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass
    finally:
        os.close(fd)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a live process tree: each process's own time and that of the children it has waited for."""
    ticks, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class Worker:
    """One worker process serving jobs one at a time over a control socket."""

    cpu_spent = [0.0]  # CPU seconds of every worker closed so far in this process (benchmarks/grading_speed.py)

    def __init__(self, registry: Registry, limits: Limits, course_dir: Path):
        self.limits = limits
        self.output = bytearray()  # the current job's stdout/stderr (the worker's own start-up before the first)
        self._output_lock = threading.Lock()
        self._job = 0
        self._scratch = None if course_dir is None else Path(tempfile.mkdtemp(prefix="worker-", dir=course_dir.parent))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv, env, self.sandboxed, demote = worker_command(theirs.fileno(), course_dir)
        self.cgroup = Cgroup.create(limits.processes, limits.worker_memory_bytes, limits.cpus)
        if not self.sandboxed:
            os.chmod(self._scratch, 0o777)  # plain mode: the (demoted) worker's own scratch folder

        def prepare() -> None:  # runs in the new process before exec
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if self.cgroup is not None:
                self.cgroup.attach_self()
            if demote is not None:
                demote()

        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(theirs.fileno(),), env=env, start_new_session=True, preexec_fn=prepare,
            cwd=None if self.sandboxed else str(self._scratch),
        )  # fmt: skip
        theirs.close()
        self.control = ours
        self._buffer = b""
        threading.Thread(target=self._read_output, daemon=True).start()
        try:
            self._send(asdict(Hello([p for p in registry.probes if p.module.startswith("probes.public.")])))  # never a hidden probe
            ready = self._read_message(time.monotonic() + limits.start_seconds)
        except OSError:  # it died at once (a broken sandbox or interpreter)
            ready = None
            time.sleep(0.2)  # let its last words reach self.output
        if not isinstance(ready, Ready):
            self.close()
            raise WorkerDied(f"the worker did not start: {self.output[-2000:].decode('utf-8', 'replace')}")

    def _read_output(self) -> None:
        while True:
            chunk = self.proc.stdout.read1(65536) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(65536)
            if not chunk:
                return
            with self._output_lock:
                if len(self.output) < OUTPUT_CAP:
                    self.output.extend(chunk[: OUTPUT_CAP - len(self.output)])

    def _take_output(self) -> str:
        """The output since the last call (so each student's cap starts at zero)."""
        with self._output_lock:
            text = bytes(self.output).decode("utf-8", "replace")
            self.output.clear()
        return text

    def _send(self, message: dict, fds: list[int] | None = None) -> None:
        body = json.dumps(message).encode()
        head = b"%08d" % len(body)
        if fds:
            socket.send_fds(self.control, [head], fds)
        else:
            self.control.sendall(head)
        self.control.sendall(body)

    def _read_message(self, deadline: float) -> Ready | End | None:
        """The worker's next message on the control socket, or None on EOF / deadline / garbage."""
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
        return decode_worker(line)

    def run(self, notebooks: list[tuple[str, bytes]], seeds: dict[str, int], budget: float = 0.0, payload: bytes | None = None) -> tuple[list[bytes], End, str]:
        """Run one phase of one student's notebooks in one child; return (result lines, end, output).

        ``seeds``: the public seeds (visible phase). ``payload``: a hidden phase's
        HiddenPayload as JSON; it is written to the child's payload pipe only once the child
        has said ``Loaded`` (after loading every notebook), and never passes through the worker.
        ``budget``: seconds left of the student's time (0: ``notebook_seconds`` per notebook).
        """
        self._job += 1
        self._take_output()  # whatever came before this job (start-up, cleaning) is not the student's
        memfds = []
        for notebook, raw in notebooks:
            memfd = os.memfd_create(f"notebook-{notebook}")
            os.write(memfd, raw)
            os.lseek(memfd, 0, os.SEEK_SET)
            memfds.append(memfd)
        read_end, write_end = os.pipe()
        payload_read, payload_write = os.pipe() if payload is not None else (None, None)
        names = [nb for nb, _ in notebooks]
        job = Job(
            self._job, names, {cid: seed for cid, seed in seeds.items() if cid.split("/", 1)[0] in names} if payload is None else {},
            self.limits.notebook_seconds, self.limits.load_seconds, self.limits.for_child(), budget,
            "visible" if payload is None else "hidden",
        )  # fmt: skip
        passed = [*memfds, write_end] + ([payload_read] if payload is not None else [])
        try:
            self._send(asdict(job), passed)
        except OSError as exc:
            if payload_write is not None:
                os.close(payload_write)
            raise WorkerDied(f"the worker is gone ({exc})") from None
        finally:
            for fd in passed:
                os.close(fd)
        allowed = self.limits.notebook_seconds * (len(notebooks) + (payload is not None))
        deadline = time.monotonic() + (min(allowed, budget) if budget > 0 else allowed) + 15
        stream, end, eof = bytearray(), None, False
        writer = None
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
                    searched = max(0, len(stream) - len(LOADED_LINE) - 1)
                    stream.extend(chunk)
                    if writer is None and payload_write is not None and stream.find(LOADED_LINE + b"\n", searched) >= 0:
                        writer = threading.Thread(target=_write_and_close, args=(payload_write, payload), daemon=True)
                        writer.start()  # the child reads it while it starts its tests
            if self.control in ready:
                end = self._read_message(time.monotonic() + 5)
                if not isinstance(end, End):  # the worker died, or said something else
                    end = None
                    break
                deadline = min(deadline, time.monotonic() + 2)  # stragglers are dead; drain the pipe
        os.close(read_end)
        if payload_write is not None and writer is None:
            os.close(payload_write)
        elif writer is not None:
            writer.join(5)  # the child is gone: its pipe is broken and the writer ends
        time.sleep(0.01)  # the output thread's last chunk
        output = self._take_output()
        if end is None:
            self.close()
            end = End(self._job, worker_died=True)
        return bytes(stream).splitlines(), end, output

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        Worker.cpu_spent[0] += tree_cpu_seconds(self.proc.pid)  # before the kill: a killed tree is never waited for
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
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _record(
    result: RunResult, notebooks: list[str], case_ids: set[str], lines: list[bytes], end: End,
    phase: str = "visible", budgets: dict[str, int] | None = None,
) -> list[str]:  # fmt: skip
    """File a job's result lines under its notebooks; return the notebooks to send again.

    Every line is checked (protocol.read_result_line, with ``budgets``: a line far larger
    than its reference is refused before it is decoded): a malformed or foreign line, or a
    status after the tests began, is noted against the notebook that was running and
    ignored. A second result for a case in one job voids it; a result for a case that an
    earlier job of this student already reported is ignored (the first one counts). The
    notebook that was running when the child stopped (its last Begin, else its last
    status) gets the job's end (time-out, signal, death); the other unfinished ones are
    sent again. ``phase``: "visible" files the notebooks' statuses and ends under
    ``result.notebooks`` (they may be shown), "hidden" under ``result.hidden`` (never shown).
    """
    done, current, tests_began = set(), None, False
    loaded: set[str] = set()  # notebooks whose status came in this job
    open_notebooks = set(notebooks)
    open_ids = {cid for cid in case_ids if cid.split("/", 1)[0] in open_notebooks}
    this_job: set[str] = set()
    duplicates: set[str] = set()
    filed = result.notebooks if phase == "visible" else result.hidden

    def note(problem: str) -> None:
        if current is not None:
            stream = filed.setdefault(current, {}).setdefault("stream", [])
            if len(stream) < 5:  # the grader's words only: the line's own text is the student's (and could carry hidden inputs)
                stream.append(problem)

    for line in lines:
        try:
            message = read_result_line(line, open_notebooks, open_ids, budgets)
        except Exception as exc:  # noqa: BLE001 - ProtocolError, or a check this module forgot: the line is the student's
            note(str(exc) if isinstance(exc, ProtocolError) else "a result line the grader could not read")
            continue
        if isinstance(message, CaseResult):
            tests_began = True
            if message.id in this_job:
                duplicates.add(message.id)
            elif message.id not in result.observations:
                result.observations[message.id] = {**message.obs.as_dict(), "bytes": len(line)}  # measured here, not claimed
            this_job.add(message.id)
        elif isinstance(message, Status):
            if tests_began:
                note("a status line after the tests began (ignored)")
                continue
            current = message.notebook
            loaded.add(current)
            filed.setdefault(current, {}).setdefault("status", message)
        elif isinstance(message, Loaded):
            continue
        elif isinstance(message, Begin):
            tests_began = True
            current = message.notebook
        elif isinstance(message, Done):  # a notebook reports nothing after it is done
            done.add(message.notebook)
            open_notebooks.discard(message.notebook)
            open_ids = {cid for cid in open_ids if cid.split("/", 1)[0] != message.notebook}
            filed.setdefault(message.notebook, {})["end"] = End(end.job)
    for case_id in duplicates:  # a second result for a case voids it: both were claims
        result.observations[case_id] = {
            "value": None, "calls": [], "seconds": 0.0,
            "error": {"type": "ProtocolError", "message": "more than one result came back for this test", "where": ""},
        }  # fmt: skip
    unfinished = [nb for nb in notebooks if nb not in done]
    if not unfinished:
        return []
    if not tests_began:  # it stopped while loading definitions: the first notebook without a status
        culprit = next((nb for nb in unfinished if nb not in loaded), unfinished[0])
    else:
        culprit = current if current in unfinished else unfinished[0]
    filed.setdefault(culprit, {})["end"] = end
    return [nb for nb in unfinished if nb != culprit]


class WorkerPool:
    """``size`` workers for students and ``size`` for the solutions' references, shared by a batch (thread-safe).

    ``seeds`` maps case ids to grading seeds (autograder.grading.secret): the default when
    :meth:`run_submission` is given none. The pool stages the sandbox's package
    (autograder.grading.staging) once and removes it when closed. Workers that run
    student code never run a reference, so no student's leftovers can reach one.
    """

    def __init__(self, registry: Registry, limits: Limits | None = None, size: int = 1, seeds: dict[str, int] | None = None):
        self.registry = registry
        self.limits = limits or Limits()
        self.seeds = seeds or {}
        self.case_ids = {c.id for c in registry.cases}
        self.public_ids = {c.id for c in registry.cases if c.visibility == "public"}
        self.hidden_ids = self.case_ids - self.public_ids
        self._idle: dict[str, list[Worker]] = {"student": [], "reference": []}
        self._starting: list[threading.Event] = []  # set when a prestarted worker is up (or failed)
        self._closing = threading.Event()
        self._prestarted: set[str] = set()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max(1, size))
        self._reference_slots = threading.Semaphore(max(1, size))
        self._stage = Path(tempfile.mkdtemp(prefix="llm-course-kit-"))
        os.chmod(self._stage, 0o755)
        self.course_dir = self._stage / "course"
        self.course_dir.mkdir()
        stage(self.course_dir, [p.source for p in registry.probes])

    def prestart(self, count: int, kinds: tuple[str, ...] = ("student",)) -> None:
        """Start ``count`` workers of each of ``kinds`` in the background, while references load or compute.

        Reference workers start when a reference is not cached (a regrade needs none). Each
        starting thread lives until the pool closes: bubblewrap's --die-with-parent follows
        the thread that started it (PR_SET_PDEATHSIG), not the process.
        """

        def start(kind: str, ready: threading.Event) -> None:
            try:
                self._give_back(kind, Worker(self.registry, self.limits, self.course_dir))
            except WorkerDied:
                pass  # _take starts another and reports why
            finally:
                ready.set()
            self._closing.wait()

        for kind in kinds:
            for _ in range(count):
                ready = threading.Event()
                self._starting.append(ready)
                threading.Thread(target=start, args=(kind, ready), daemon=True).start()
        self._prestarted = set(kinds)

    def _take(self, kind: str) -> Worker:
        for ready in self._starting if kind in self._prestarted else []:
            ready.wait()
        with self._lock:
            while self._idle[kind]:
                worker = self._idle[kind].pop()
                if worker.alive:
                    return worker
                worker.close()
        return Worker(self.registry, self.limits, self.course_dir)

    def _give_back(self, kind: str, worker: Worker | None) -> None:
        if worker is not None:
            with self._lock:
                self._idle[kind].append(worker)

    def _payload(self, notebooks: list[str], seeds: dict[str, int], run: list[str]) -> bytes:
        """A hidden phase's HiddenPayload as JSON: the hidden probes and the seeds of ``run``'s cases of ``notebooks``."""
        wanted = self.case_ids if "public" in run else self.hidden_ids
        probes = [p for p in self.registry.probes if p.module.startswith("probes.hidden.") and p.notebook in notebooks]
        chosen = {cid: seed for cid, seed in seeds.items() if cid in wanted and cid.split("/", 1)[0] in notebooks}
        return json.dumps(asdict(HiddenPayload(probes, chosen, run))).encode()

    def _phase(
        self, kind: str, result: RunResult, notebooks: dict[str, bytes], seeds: dict[str, int], run: list[str] | None,
        case_ids: set[str], phase: str, budgets: dict[str, int] | None,
    ) -> tuple[str, float]:  # fmt: skip
        """Run one phase on workers of ``kind``, resending notebooks after a child that stopped.

        Returns (its output, the seconds its jobs took: a worker's start-up is not the student's time).

        One time budget for the phase, across the jobs that resend the notebooks: a child that
        keeps saying "a notebook starts" must not get it again per resend.
        """
        filed = result.notebooks if phase == "visible" else result.hidden
        pending: list[tuple[str, bytes]] = list(notebooks.items())
        left = self.limits.notebook_seconds * (len(pending) + (run is not None))
        output, worker, spent = "", None, 0.0
        while pending:
            if left <= 0:
                for nb, _ in pending:
                    filed.setdefault(nb, {})["end"] = End(timed_out=True)
                break
            payload = None if run is None else self._payload([nb for nb, _ in pending], seeds, run)
            try:
                worker = worker if worker is not None and worker.alive else self._take(kind)
                began = time.monotonic()
                lines, end, said = worker.run(pending, seeds if run is None else {}, left, payload)
                left -= time.monotonic() - began
                spent += time.monotonic() - began
            except WorkerDied as exc:
                lines, end, said = [], End(worker_died=True), ""
                result.worker_problems.append(str(exc)[:500])
            if end.worker_died:
                worker = None
            rest = _record(result, [nb for nb, _ in pending], case_ids, lines, end, phase, budgets)
            del lines
            pending = [(nb, raw) for nb, raw in pending if nb in rest]
            output += said[: max(0, OUTPUT_CAP - len(output))]
        self._give_back(kind, worker)
        return output, spent

    def run_submission(self, notebooks: dict[str, bytes], seeds: dict[str, int] | None = None, budgets: dict[str, int] | None = None) -> RunResult:
        """Observations for every case of the given notebooks (series number -> the file's bytes).

        Two phases, each in fresh children: the visible one gets the public probes and the
        public ``seeds`` only; the hidden one reloads the notebooks that loaded in the
        visible phase and only then gets the hidden probes and seeds. ``budgets``: case id
        -> the most bytes of a result line (see protocol.read_result_line).
        """
        seeds = self.seeds if seeds is None else seeds
        result = RunResult()
        start = time.monotonic()
        with self._slots:
            public_seeds = {cid: seed for cid, seed in seeds.items() if cid in self.public_ids}
            result.output, result.visible_seconds = self._phase("student", result, notebooks, public_seeds, None, self.public_ids, "visible", budgets)
            loaded = {
                nb: raw for nb, raw in notebooks.items()
                if (info := result.notebooks.get(nb, {})).get("status") is not None and not info["status"].invalid
                and not (info.get("end") or End()).timed_out
            }  # fmt: skip
            if loaded and any(cid.split("/", 1)[0] in loaded for cid in self.hidden_ids):
                result.hidden_output = self._phase("student", result, loaded, seeds, ["hidden"], self.hidden_ids, "hidden", budgets)[0]
        result.seconds = time.monotonic() - start
        return result

    def run_reference(self, notebooks: dict[str, bytes], seeds: dict[str, int]) -> RunResult:
        """The solutions' observations for every case with these seeds, on workers that never run student code.

        The same two phases as a student's run (public cases in one child, hidden ones in a
        fresh child), so that a reference is computed exactly as the student's result is: a
        probe run after others can differ in its last float bits. The statuses of both
        phases are filed under ``notebooks`` for the caller to check.
        """
        result = RunResult()
        start = time.monotonic()
        with self._reference_slots:
            public_seeds = {cid: seed for cid, seed in seeds.items() if cid in self.public_ids}
            result.output = self._phase("reference", result, notebooks, public_seeds, None, self.public_ids, "visible", None)[0]
            if any(cid.split("/", 1)[0] in notebooks for cid in self.hidden_ids):
                result.output += self._phase("reference", result, notebooks, seeds, ["hidden"], self.hidden_ids, "hidden", None)[0]
        for nb, info in result.hidden.items():  # a problem in either phase is the caller's to see
            filed = result.notebooks.setdefault(nb, {})
            if filed.get("status") is None and info.get("status") is not None:
                filed["status"] = info["status"]
            if info.get("stream"):
                filed.setdefault("stream", []).extend(info["stream"])
        result.hidden = {}
        result.seconds = time.monotonic() - start
        return result

    def close(self) -> None:
        for ready in self._starting:
            ready.wait()
        with self._lock:
            for workers in self._idle.values():
                for worker in workers:
                    worker.close()
                workers.clear()
        self._closing.set()
        shutil.rmtree(self._stage, ignore_errors=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_submission(notebooks: dict[str, bytes], registry: Registry, limits: Limits | None = None, seeds: dict[str, int] | None = None) -> RunResult:
    """Run one submission in a fresh single-worker pool."""
    with WorkerPool(registry, limits, 1, seeds) as pool:
        return pool.run_submission(notebooks)
