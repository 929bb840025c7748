"""Attacks on the grader that its other integrity tests did not try, each one that worked.

Every test here failed on the grader as it was when the attack was found; the ones whose
fix is not local are marked xfail(strict=True) with the fix they need.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from autograder.course import RELEASE, SOLUTIONS
from autograder.grading.launch import bwrap_path
from autograder.sandbox.protocol import ProtocolError, read_result_line
from tests.conftest import grade_folders
from tests.test_integrity_sandbox import at_load

slow = pytest.mark.slow
needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="needs the bubblewrap sandbox (apt-get install bubblewrap)")


def _notebook(folder, notebook: str, *cells: str, solution: bool = False) -> None:
    """``folder/notebook.ipynb``: the release (or the solution) with ``cells`` added at the end."""
    source = (SOLUTIONS if solution else RELEASE) / f"{notebook}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


# --------------------------------------------------------------------------- #
# 1. A process that hops from fork to fork outlives the worker's single kill pass,
#    then kills the worker while the next student is graded.
# --------------------------------------------------------------------------- #

HOPPER = r'''
import os, signal, sys, time
worker, child = int(sys.argv[1]), int(sys.argv[2])
end = time.time() + 25
def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None
hops = 0
while time.time() < end:
    try:
        if os.fork():
            os._exit(0)  # the parent dies: whatever pid a killer listed is gone
    except OSError:  # the process limit, for a moment
        continue
    hops += 1
    if hops % 20:
        continue
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) not in (worker, child, os.getpid()) and ppid(int(p)) == worker:
            os.kill(worker, signal.SIGKILL)  # the next student's child has started: take its worker down
            os._exit(0)
'''

FORK_HOPPER = at_load(
    f"""
    import os, subprocess, sys
    for _ in range(6):
        subprocess.Popen([sys.executable, "-c", {HOPPER!r}, str(os.getppid()), str(os.getpid())], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time
    time.sleep(2)  # until they are all hopping
    """
)


# --------------------------------------------------------------------------- #
# System V IPC objects, POSIX message queues and kernel keys live in the sandbox's namespaces, not in
# any file system the worker restores: one student's child leaves a shared-memory segment and a message queue, the next
# student's child reads them. Same seeds for every student: a correct submission could hand its
# hidden results to a blank one graded after it on the same worker.
# --------------------------------------------------------------------------- #

SYSV = """
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_CREAT = 0o1000
import os
ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(os.uname().machine, (None, None))
"""

SYSV_LEAVE = at_load(
    SYSV
    + """
shm = libc.shmget(0x5A51, 4096, IPC_CREAT | 0o600)
addr = libc.shmat(shm, None, 0)
ctypes.memmove(addr, b"ZQXSYSV left by the previous student", 36)
queue = libc.msgget(0x5A52, IPC_CREAT | 0o600)
message = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 16)
ctypes.memmove(ctypes.addressof(message), ctypes.byref(ctypes.c_long(1)), ctypes.sizeof(ctypes.c_long))
message[ctypes.sizeof(ctypes.c_long):ctypes.sizeof(ctypes.c_long) + 9] = b"ZQXQUEUE!"
libc.msgsnd(queue, message, 16, 0)
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
posix = libc.mq_open(b"/zqx-posix", 0o100 | 2, 0o600, None)  # O_CREAT | O_RDWR
libc.mq_send(posix, b"ZQXPOSIX", 8, 0)
if KEYCTL:  # kernel keys: the user keyring, the user session keyring and the (inherited) session keyring
    for name, keyring in ((b"zqx-u", -4), (b"zqx-us", -5), (b"zqx-s", -3)):
        libc.syscall(ADD_KEY, b"user", name, b"ZQXKEY", 6, ctypes.c_long(keyring))
"""
)

SYSV_FIND = at_load(
    SYSV
    + """
shm = libc.shmget(0x5A51, 0, 0)
if shm >= 0:
    print(ctypes.string_at(libc.shmat(shm, None, 0), 36).decode())
if libc.msgget(0x5A52, 0) >= 0:
    print("ZQXQUEUE found")
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
if libc.mq_open(b"/zqx-posix", 2) >= 0:
    print("ZQXPOSIX queue found")
if KEYCTL:
    for name, keyring in ((b"zqx-u", -4), (b"zqx-us", -5), (b"zqx-s", -3)):
        if libc.syscall(KEYCTL, 10, ctypes.c_long(keyring), b"user", name, 0) >= 0:  # KEYCTL_SEARCH
            print("ZQXKEY found", name)
for folder in ("/tmp", "/dev/shm", "/mplconfig"):
    st = os.statvfs(folder)
    print("TMPFS", folder, st.f_blocks * st.f_frsize)
print("SYSV SEARCH DONE")
"""
)


@pytest.fixture(scope="module")
def ipc_batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("ipc")
    _notebook(base / "a_leave", "01_embeddings", SYSV_LEAVE)
    _notebook(base / "b_find", "01_embeddings", SYSV_FIND)
    return grade_folders({p.name: p for p in sorted(base.iterdir())}, jobs=1, limits={"notebook_seconds": 30.0, "load_seconds": 10.0})


@slow
@needs_bwrap
def test_ipc_objects_and_kernel_keys_do_not_survive_into_the_next_student(ipc_batch):
    output = ipc_batch["b_find"]["extra_data"]["student_output"]
    assert "SYSV SEARCH DONE" in output, output[-1500:]
    assert "ZQX" not in output, output[-1500:]


@slow
@needs_bwrap
def test_writable_areas_cannot_fill_the_machines_memory(ipc_batch):
    """/tmp, /dev/shm and the matplotlib config are tmpfs (RAM); unlimited, one child could write half the RAM into each
    (RLIMIT_FSIZE limits one file, not how many), and the OOM killer would then pick the grader or another student's worker."""
    output = ipc_batch["b_find"]["extra_data"]["student_output"]
    sizes = {line.split()[1]: int(line.split()[2]) for line in output.splitlines() if line.startswith("TMPFS ")}
    assert set(sizes) == {"/tmp", "/dev/shm", "/mplconfig"}, output[-1500:]
    assert all(size <= 1024**3 for size in sizes.values()), sizes


# --------------------------------------------------------------------------- #
# 2. Hidden inputs carried out in text the student's process writes and the results show.
# --------------------------------------------------------------------------- #

# The graded function finds its hidden case and seed on the stack (the probe runs in the
# same process), and writes them where the results will show them to the student.
LEAK_HELPERS = textwrap.dedent(
    r'''
    import json as _json, os as _os, stat as _stat, sys as _sys

    def _hidden_case():
        frame = _sys._getframe(1)
        while frame is not None:
            case, seed = frame.f_locals.get("case"), frame.f_locals.get("case_seed")
            if getattr(case, "visibility", None) == "hidden" and seed is not None:
                return case, seed
            frame = frame.f_back
        return None, None

    def _write_stream(message):
        for fd in range(3, 64):
            try:
                if _stat.S_ISFIFO(_os.fstat(fd).st_mode) and _os.fstat(fd).st_mode & 0o200:
                    _os.write(fd, (_json.dumps(message) + "\n").encode())
            except OSError:
                pass
    '''
)

LEAK_BY_STREAM_ERROR = LEAK_HELPERS + textwrap.dedent(
    '''
    def tokenize(text):
        case, seed = _hidden_case()
        if case is not None:  # a line the grader rejects, quoting the student's "case id" in the results
            _write_stream({"kind": "CaseResult", "id": f"ZQXSTREAM {case.name} seed {seed} input {text[:40]}", "obs": None})
        raise NotImplementedError
    '''
)

LEAK_BY_WHERE = LEAK_HELPERS + textwrap.dedent(
    '''
    def tokenize(text):
        case, seed = _hidden_case()
        if case is not None:  # the location of an error is the student's to choose: a code object's file name
            exec(compile("raise ValueError", f"<notebook ZQXWHERE{seed}, cell 1>", "exec"))
        raise NotImplementedError
    '''
)

LEAK_BY_STATUS = LEAK_HELPERS + textwrap.dedent(
    '''
    def tokenize(text):
        case, seed = _hidden_case()
        if case is not None:  # the first Status of the next notebook is the student's: its problems are shown
            _write_stream({"kind": "Status", "notebook": "02", "problems": [f"ZQXSTATUS {case.name} seed {seed} input {text[:200]}"]})
        raise NotImplementedError
    '''
)


# Notebook 01's hidden cases remember their seeds; notebook 02's first public case (run later
# by the same child) raises them as its error message, which a public test shows in full.
LEAK_BY_PUBLIC_01 = LEAK_HELPERS + textwrap.dedent(
    """
    def tokenize(text):
        case, seed = _hidden_case()
        if case is not None:
            with open("/tmp/zqx-seeds", "a") as fh:
                fh.write(f"{case.name}={seed};")
        raise NotImplementedError
    """
)

LEAK_BY_PUBLIC_02 = textwrap.dedent(
    """
    def dot_scores(*args, **kwargs):
        raise ValueError("ZQXPUBLIC " + open("/tmp/zqx-seeds").read()[:500])
    """
)

# Terminal escapes in the student's messages: `grade` prints the results' output to the instructor's
# terminal, and feedback files and grades-tests.csv hold the tests' outputs as they are.
ANSI = textwrap.dedent(
    r"""
    def tokenize(text):
        raise ValueError("\x1b]52;c;WlFYQU5TSQ==\x07\x1b[2J\r01_embeddings: 31 / 31 \u202e")

    class _Load:
        raise ValueError("\x1b[8m hidden \x1b]0;title\x07 \r\x9b2J")
    """
)


def _shown_to_student(results: dict) -> str:
    """Everything a student sees of their results (before --reveal-hidden): the output and hidden tests' outputs."""
    hidden = [t["output"] for t in results["tests"] if t["visibility"] == "after_published"]
    return results["output"] + "\n".join(hidden)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    _notebook(base / "a_hopper", "01_embeddings", FORK_HOPPER)
    _notebook(base / "b_honest", "01_embeddings", solution=True)
    _notebook(base / "c_leak_stream", "01_embeddings", LEAK_BY_STREAM_ERROR)
    _notebook(base / "d_leak_where", "01_embeddings", LEAK_BY_WHERE)
    _notebook(base / "e_leak_status", "01_embeddings", LEAK_BY_STATUS)
    _notebook(base / "e_leak_status", "02_sampling")
    _notebook(base / "f_honest", "01_embeddings", solution=True)
    _notebook(base / "g_leak_public", "01_embeddings", LEAK_BY_PUBLIC_01)
    _notebook(base / "g_leak_public", "02_sampling", LEAK_BY_PUBLIC_02)
    _notebook(base / "h_ansi", "01_embeddings", ANSI)
    folders = {p.name: p for p in sorted(base.iterdir())}
    return grade_folders(folders, jobs=1, limits={"notebook_seconds": 30.0, "load_seconds": 10.0})


def _notebook_01(results: dict) -> list[dict]:
    return [t for t in results["tests"] if t["tags"][0] == "01"]


@slow
@needs_bwrap
def test_a_fork_hopper_does_not_outlive_its_student(batch):
    """No process of one student survives the clean-up into the next student's job (so it cannot kill that worker)."""
    for name in ("b_honest", "f_honest"):
        failed = [(t["name"], t["output"][:160]) for t in _notebook_01(batch[name]) if t["status"] != "passed"]
        assert not failed, (name, failed[:3])


@slow
@needs_bwrap
def test_rejected_stream_lines_do_not_quote_the_student(batch):
    shown = _shown_to_student(batch["c_leak_stream"])
    assert "ZQXSTREAM" not in shown, shown[:1500]


@slow
@needs_bwrap
def test_error_locations_of_hidden_tests_carry_no_student_text(batch):
    shown = _shown_to_student(batch["d_leak_where"])
    assert "ZQXWHERE" not in shown, [line for line in shown.splitlines() if "ZQXWHERE" in line][:3]
    hidden = [t["output"] for t in batch["d_leak_where"]["tests"] if t["visibility"] == "after_published" and t["tags"][1] == "tokenize"]
    # a verdict and a hint, or the cause its public tests show (here: tokenize is a stub there); never what it raised
    assert hidden and all(o.startswith(("failed (hidden test).", "not implemented yet: `tokenize`")) and "ValueError" not in o for o in hidden), hidden[:2]


@slow
@needs_bwrap
def test_status_of_a_later_notebook_carries_no_hidden_input(batch):
    shown = _shown_to_student(batch["e_leak_status"])
    assert "ZQXSTATUS" not in shown, [line for line in shown.splitlines() if "ZQXSTATUS" in line][:3]


@slow
@needs_bwrap
def test_public_tests_run_later_carry_no_hidden_seed(batch):
    results = batch["g_leak_public"]
    assert "ZQXPUBLIC" in json.dumps(results)  # the attack ran: its public error message is shown, as it should be
    leaked = [t["output"] for t in results["tests"] if "ZQXPUBLIC" in t["output"] and "=" in t["output"].split("ZQXPUBLIC", 1)[1][:80]]
    assert not leaked, leaked[0][:300]


@slow
@needs_bwrap
def test_results_carry_no_terminal_control_characters(batch):
    import re

    results = batch["h_ansi"]
    texts = [results["output"]] + [t["output"] for t in results["tests"]]
    assert any("WlFYQU5TSQ" in text for text in texts)  # the message is shown (escaped)
    bad = [text for text in texts if re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text)]
    assert not bad, repr(bad[0][:300])


# --------------------------------------------------------------------------- #
# 3. The grader's own memory: many tiny values in one line.
# --------------------------------------------------------------------------- #


def test_a_result_line_of_millions_of_numbers_is_refused():
    """48 MB of ``0,`` is 24 million list items: about 200 MB of Python objects, kept until the batch's verify."""
    value = "[" + ",".join(["0"] * 3_000_000) + "]"
    line = ('{"kind":"CaseResult","id":"01/embed/x","obs":{"value":' + value + ',"calls":[],"error":null,"seconds":0}}').encode()
    with pytest.raises(ProtocolError):
        read_result_line(line, {"01"}, {"01/embed/x"})


def test_the_honest_largest_result_still_passes_the_size_check():
    """The limit above leaves room for every reference value the solutions produce."""
    from autograder.sandbox.protocol import check_plain

    refs = json.loads((RELEASE.parent / "helpers" / "selfcheck" / "references.json").read_text())
    for obs in refs.values():
        check_plain(obs["value"])



def test_a_result_line_far_larger_than_any_solution_result_is_refused():
    """The solutions' largest result line is under 100 kB; a 10 MB string was accepted and kept until the batch's end.

    Every such line of every student stayed in the grader's memory until verification (RESULT_CAP
    allowed 256 MiB of them per student), although the verify step refuses anything more than
    4x the reference plus 1 MiB anyway.
    """
    from autograder.grading.runner import RESULT_CAP

    value = json.dumps("x" * 10_000_000)
    line = ('{"kind":"CaseResult","id":"01/embed/x","obs":{"value":' + value + ',"calls":[],"error":null,"seconds":0}}').encode()
    with pytest.raises(ProtocolError):
        read_result_line(line, {"01"}, {"01/embed/x"})
    assert RESULT_CAP <= 64 * 1024 * 1024


# --------------------------------------------------------------------------- #
# 4. The time limit on one notebook's verification, swallowed by the verdict's own error handling.
# --------------------------------------------------------------------------- #


def test_the_verify_time_limit_stops_the_whole_notebook(monkeypatch):
    """VerifyTimeout was an Exception: judge() caught it as "could not check" and went on, unlimited, to the next case."""
    import time

    from autograder.grading import grade as grading
    from helpers.checking import Case

    started = []

    def slow(got, ref):  # each verify takes 0.4 s: six of them would take 2.4 s, the deadline is 0.5 s
        started.append(1)
        time.sleep(0.4)

    cases = [Case("01", "embed", f"slow_{i}", 1.0, "hidden", lambda s: None, verify_fn=slow) for i in range(6)]
    obs = {"value": 1, "calls": [], "error": None, "seconds": 0.0}
    items = [grading.GradedItem("attacker", case, dict(obs), dict(obs)) for case in cases]
    monkeypatch.setattr(grading, "VERIFY_SECONDS", 0.5)
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception):  # the notebook's cases failed
        grading.NotebookItem("attacker", "01", items).verify()
    print(f"{len(started)} of 6 slow verifies started; stopped after {time.monotonic() - start:.2f} s")
    assert len(started) <= 2  # a count, not a time: after the deadline no verify starts, however loaded the machine
    assert sum("not checked" in item.verdict.message for item in items) >= 4


# --------------------------------------------------------------------------- #
# 5. Dtype names the grader looks up: object arrays, and torch's lazy submodules.
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "value",
    [
        {"$tensor": "torch._dynamo", "nd": "<f4", "shape": [0], "b64": ""},  # getattr(torch, "_dynamo") imports the compiler stack
        {"$tensor": "torch.onnx", "nd": "<f4", "shape": [0], "b64": ""},
        {"$nd": "O", "shape": [1], "b64": "AAAAAAAAAAA="},
        {"$nd": "<V8", "shape": [1], "b64": "AAAAAAAAAAA="},
        {"$nd": "f8,f8", "shape": [0], "b64": ""},
        {"$np": "M8[s]", "value": 5},
    ],
)
def test_dtype_names_are_those_the_codec_writes(value):
    line = json.dumps({"kind": "CaseResult", "id": "01/embed/x", "obs": {"value": value, "calls": [], "error": None, "seconds": 0}}).encode()
    with pytest.raises(ProtocolError):
        read_result_line(line, {"01"}, {"01/embed/x"})


def test_the_codec_dtypes_still_pass():
    import numpy as np
    import torch

    from autograder.sandbox.protocol import check_plain
    from helpers.checking import to_plain

    values = [np.zeros(2, dtype=d) for d in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "?")]
    values += [torch.zeros(2, dtype=d) for d in (torch.float32, torch.float64, torch.int64, torch.bool, torch.bfloat16, torch.float16, torch.uint8)]
    values += [np.float32(1.0), np.int64(3), np.bool_(True)]
    check_plain(to_plain(values))


# --------------------------------------------------------------------------- #
# 6. What a failed hidden test still shows is the student's to choose: a few bits per case.
# --------------------------------------------------------------------------- #


def test_a_failed_hidden_test_says_the_same_whatever_the_student_raised():
    """The hidden phase's child is the student's: its exception types, locations, time-outs and deaths all read the same."""
    from autograder.grading.grade import GradedItem, hidden_message
    from helpers.checking import Case, Verdict

    case = Case("01", "embed", "edge", 1.0, "hidden", lambda s: None, hint="")
    shown = set()
    for error_type in ("ValueError", "KeyError", "IndexError", "ZeroDivisionError", "NotImplementedError", "MissingDefinition", "CaseTimeout"):
        for where in ("01, cell 1, line 1: x", "in `embed` (the cell starting `def embed(`), line 7", "in `tokenize` (its cell), line 123"):
            item = GradedItem("s", case, {"value": None, "calls": [], "error": {"type": error_type, "message": "", "where": where}}, {})
            item.verdict = Verdict(case, False, "m", "error", error_type, where)
            shown.add(hidden_message(item))
    for kind in ("wrong", "unreadable"):
        item = GradedItem("s", case, {"value": 1, "calls": [], "error": None}, {})
        item.verdict = Verdict(case, False, "expected 3, got 1", kind)
        shown.add(hidden_message(item))
    item = GradedItem("s", case, None, {}, "not run: the hidden phase gave no result for this test.", reason_visible=False)
    item.verdict = Verdict(case, False, item.missing_reason, "not run")
    shown.add(hidden_message(item))
    assert len(shown) == 1, sorted(shown)[:4]


# --------------------------------------------------------------------------- #
# 7. The progress pipe: "a notebook starts" restarts its clock. A child that says it again and
#    again keeps one notebook running for the whole job's budget; the grader then resends the
#    notebooks after it, and each resend got a full budget again: 4 notebooks of 4 s took
#    4 * (4 + 3 + 2 + 1) = 40 s instead of 16 s (7 notebooks of 60 s: 28 minutes of a worker).
# --------------------------------------------------------------------------- #

PINGER = at_load(
    """
    import os, stat, time
    while True:  # until the grader kills this child
        for fd in range(3, 64):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode) and os.fstat(fd).st_mode & 0o200:
                    os.write(fd, b"n")
            except OSError:
                pass
        time.sleep(0.5)
    """
)


SLEEPER = at_load(
    """
    import time
    while True:
        time.sleep(0.5)
    """
)


@slow
@needs_bwrap
def test_a_student_gets_one_time_budget_however_often_notebooks_restart(tmp_path):
    notebooks = ("01_embeddings", "02_sampling", "03_training", "04_context_averaging")
    for notebook in notebooks:
        _notebook(tmp_path / "pinger", notebook, PINGER)
        _notebook(tmp_path / "sleeper", notebook, SLEEPER)
    # The sleeper (each notebook hangs until its own 4 s run out) is the yardstick, graded just
    # after the pinger (a batch's execution_time is the batch's): a ratio, not a number of seconds.
    limits = {"notebook_seconds": 4.0, "load_seconds": 60.0}
    pinger = grade_folders({"pinger": tmp_path / "pinger"}, jobs=1, limits=limits)["pinger"]
    sleeper = grade_folders({"sleeper": tmp_path / "sleeper"}, jobs=1, limits=limits)["sleeper"]
    assert pinger["score"] == 0 == sleeper["score"]
    print(f"pinger {pinger['execution_time']:.1f} s, sleeper {sleeper['execution_time']:.1f} s")
    assert pinger["execution_time"] < 1.5 * sleeper["execution_time"] + 4.0  # every restart got a fresh 4 s before: 2.5 times and more
