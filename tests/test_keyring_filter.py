"""No kernel key of one student reaches another (autograder/sandbox/keyring_filter.py).

The attack that worked: keyrings are not namespaced, so a child in the sandbox (its uid
mapped to the grader's) is the "user" of the host's user and user-session keyrings of
the grader's uid, which the kernel makes writable by that uid. A leaver made a keyring
whose name looks like a standard one (``_uid.<digits>``: the janitor leaves those out of
the leftovers it waits for), put hidden data in the digits (in the hidden phase: the name
of the hidden probe that called it and its input), and linked it into the host's user
keyring: it outlived the job, the janitor and the batch, and the next student's visible
phase printed it. A student graded at the same time on the other worker read the
leaver's keys in ``/proc/keys`` while they lived, without any host keyring.

Here a leaver is graded beside a finder that watches ``/proc/keys`` while the leaver
runs (jobs=2) and before a finder graded after it; both must find nothing, the host's
keyrings must hold nothing of the leaver's, and the finders keep full marks.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys

import nbformat
import pytest

from autograder.course import ROOT
from autograder.grading.launch import bwrap_path
from autograder.grading.registry import load_registry
from tests.conftest import grade_folders
from tests.test_integrity_sandbox import _solution_with, at_load

MARK = "_uid.31337"  # the leaver's keyrings: a standard-looking name, data in the digits

KEYS = r"""
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
def keyctl(*args):
    return libc.syscall(NR[1], *(ctypes.c_long(a) for a in args))
def keyrings():
    for line in open("/proc/keys").read().splitlines():
        fields = line.split(None, 8)
        if len(fields) == 9 and fields[7] == "keyring":
            yield int(fields[0], 16), fields[8]
def leave(data, tag):
    name = ("MARK" + str(int.from_bytes(b"\x01" + data, "big"))).encode()
    ring = libc.syscall(NR[0], b"keyring", name, b"", ctypes.c_size_t(0), ctypes.c_long(-2))  # in its process keyring
    print("LEAVER", tag, "made", ring)
    if ring > 0:
        keyctl(5, ring, 0x3F010000)  # anyone of the uid may view it; only its possessor may revoke it
        for serial, description in list(keyrings()) + [(keyctl(22, -1, -2), "persistent")]:
            if serial not in (ring, -1) and keyctl(8, ring, serial) == 0:  # KEYCTL_LINK
                print("LEAVER", tag, "linked into", description)
""".replace("MARK", MARK)

LEAVER_LOAD = at_load(
    KEYS
    + """
import sys
sys.modules["_leaver"] = type(sys)("_leaver")
sys.modules["_leaver"].leave = leave
leave(b"the leaver was here", "load")
time.sleep(3)  # its process keyring lives on meanwhile: for the finder graded beside it
"""
)

LEAVER_TOKENIZE = r"""
def tokenize(text, _solution=tokenize):
    import sys
    frame = sys._getframe(1)
    while frame is not None and not str(frame.f_globals.get("__name__", "")).startswith("probes.hidden"):
        frame = frame.f_back
    if frame is not None and not getattr(sys, "_left", False):
        sys._left = True
        sys.modules["_leaver"].leave(f"{frame.f_code.co_name} got {text!r}".encode(), "hidden")
    return _solution(text)
"""


def finder(seconds: float) -> str:
    """A cell that prints every leaver's keyring it sees in /proc/keys, watching for ``seconds`` (sleeping: no CPU)."""
    return at_load(
        """
import time
deadline, seen = time.monotonic() + SECONDS, set()
while True:
    for line in open("/proc/keys").read().splitlines():
        if "MARK" in line and line.split()[0] not in seen:
            seen.add(line.split()[0])
            digits = int(line.split("MARK", 1)[1].split(":")[0])
            print("FOUND", digits.to_bytes((digits.bit_length() + 7) // 8, "big")[1:].decode(errors="replace"))
    if time.monotonic() > deadline:
        break
    time.sleep(0.05)
print("FINDER done")
""".replace("MARK", MARK).replace("SECONDS", repr(seconds))
    )


def _keyctl(*args: int) -> int:
    return ctypes.CDLL(None, use_errno=True).syscall(250 if os.uname().machine == "x86_64" else 219, *(ctypes.c_long(a) for a in args))


def _unlink_marks() -> list[str]:
    """Take the leaver's keyrings out of every keyring the grader's uid can write (the host's user keyrings); return their lines."""
    lines = open("/proc/keys").read().splitlines()
    marks = [line for line in lines if MARK in line]
    rings = [int(line.split()[0], 16) for line in lines if line.split()[7] == "keyring"]
    for mark in marks:
        for ring in rings:
            _keyctl(9, int(mark.split()[0], 16), ring)  # KEYCTL_UNLINK
    return marks


def _only_01(folder) -> None:
    for path in folder.iterdir():
        if not path.name.startswith("01_"):
            path.unlink()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if bwrap_path() is None:
        pytest.skip("needs the bubblewrap sandbox (apt-get install bubblewrap)")
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("keyctl numbers known for x86_64 and aarch64")
    _keyctl(0, -4, 1)  # the grader's uid has a user keyring, as on any machine its user logged in to
    base = tmp_path_factory.mktemp("keyrings")
    _solution_with(base / "a_leaver", LEAVER_LOAD)
    path = base / "a_leaver" / "01_embeddings.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LEAVER_TOKENIZE))  # last: wraps the solution's tokenize
    nbformat.write(nb, str(path))
    _solution_with(base / "b_beside", finder(5.0))
    _solution_with(base / "c_after", finder(0.0))
    for name in ("a_leaver", "b_beside", "c_after"):
        _only_01(base / name)
    try:
        results = grade_folders({name: base / name for name in ("a_leaver", "b_beside", "c_after")}, jobs=2, limits={"notebook_seconds": 60.0})
    finally:
        left_on_host = _unlink_marks()
    return results, left_on_host


def test_the_leaver_ran_and_its_keys_were_refused(graded):
    results, _ = graded
    visible, hidden = (results["a_leaver"]["extra_data"][k] for k in ("student_output", "hidden_output"))
    assert "LEAVER load made -1" in visible, visible[-3000:]
    assert "LEAVER hidden made -1" in hidden, hidden[-3000:]  # called by a hidden probe
    assert "linked into" not in visible + hidden, (visible + hidden)[-3000:]


@pytest.mark.parametrize("name", ["b_beside", "c_after"])
def test_no_other_student_sees_the_leavers_keys(graded, name):
    results, _ = graded
    for phase in ("student_output", "hidden_output"):
        output = results[name]["extra_data"][phase]
        assert "FINDER done" in output and "FOUND" not in output, output[-3000:]
    tests = [t for t in results[name]["tests"] if t["tags"][0] == "01" and t["max_score"] > 0]
    assert sum(t["score"] for t in tests) == load_registry(["01"]).points("01")


def test_the_hosts_keyrings_hold_nothing_of_the_leaver(graded):
    _, left_on_host = graded
    assert left_on_host == []


I386_KEYCTL = bytes([0x53, 0x89, 0xFB, 0x89, 0xF1, 0xB8, 0x20, 0x01, 0, 0, 0xCD, 0x80, 0x5B, 0xC3])  # push rbx; ebx, ecx = edi, esi; int 0x80 (i386 keyctl, 288); pop rbx; ret

FILTERED_CHILD = """
import ctypes, json, mmap, os, sys
from autograder.sandbox.keyring_filter import forbid_keyrings
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[os.uname().machine]
def outcome(result):
    return "ok" if result > 0 else os.strerror(ctypes.get_errno())
def calls():
    found = {
        "add_key": outcome(libc.syscall(NR[0], b"user", b"filter-test", b"x", ctypes.c_size_t(1), ctypes.c_long(-2))),
        "request_key": outcome(libc.syscall(NR[1], b"user", b"filter-test", None, ctypes.c_long(0))),
        "keyctl": outcome(libc.syscall(NR[2], ctypes.c_long(0), ctypes.c_long(-2), ctypes.c_long(1))),  # the process keyring, made if need be
    }
    if os.uname().machine == "x86_64":
        code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        code.write(bytes.fromhex(sys.argv[1]))
        result = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))(0, -2, 1)
        found["i386 keyctl"] = "ok" if result > 0 else os.strerror(-result)
    return found
print(json.dumps({"before": calls(), "installed": forbid_keyrings(), "after": calls(), "pid": os.getpid()}))
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="keyctl numbers known for x86_64 and aarch64")
def test_the_filter_refuses_the_key_calls_in_every_abi():
    """add_key, request_key and keyctl fail with EPERM, natively and through i386's int 0x80 (x86_64); other calls work."""
    proc = subprocess.run(
        [sys.executable, "-c", FILTERED_CHILD, I386_KEYCTL.hex()], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if proc.returncode == -signal.SIGSEGV and not proc.stdout:
        pytest.skip("this kernel runs no i386 system calls (ia32_emulation off)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout)
    assert found["before"]["add_key"] == found["before"]["keyctl"] == found["before"].get("i386 keyctl", "ok") == "ok", found  # they work without it
    assert found["installed"] is True and found["pid"] > 0, found
    assert set(found["after"].values()) == {os.strerror(errno.EPERM)}, found
