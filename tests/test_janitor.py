"""Nothing one student leaves on a worker reaches the next student on it (autograder/sandbox/janitor.py).

A leaver, graded first, puts keys into every keyring it can reach (session, user,
user-session, persistent; it also hands a session keyring of its own to the worker with
KEYCTL_SESSION_TO_PARENT and tries to lock the user keyring against the cleaner), leaves
folders under /tmp (and its working folder) that it made unreadable or unwritable, and
leaves processes running (one that escaped with setsid and a double fork, one that keeps
re-forking). A finder, graded next on the same worker (jobs=1), looks for every one of
them. The leaver prints what it managed, so the test knows each payload ran; the finder
must find nothing and keep full marks. Run through the real grader with bubblewrap, and (its plain-mode part) directly.
Through the grader every key the leaver tries is refused at the system call (the child's
seccomp filter, autograder/sandbox/keyring_filter.py); the plain-mode part forks its own
children without that filter, so the janitor's cleaning of what they leave is tested there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from autograder.course import ROOT
from autograder.grading.launch import bwrap_path, unprivileged_python_works
from autograder.grading.registry import load_registry
from tests.conftest import grade_folders
from tests.test_integrity_sandbox import _release_with, _solution_with, at_load

KEYS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
def keyctl(*args):
    return libc.syscall(NR[1], *(ctypes.c_long(a) for a in args))
def add_key(description, ring):
    return libc.syscall(NR[0], b"user", description, b"left for the next student", ctypes.c_size_t(25), ctypes.c_long(ring))
"""

def leave(sandboxed: bool) -> str:
    """The leaver's cell. Outside the sandbox it spares the machine's own user keyrings, /tmp and /dev/shm."""
    return at_load(KEYS + LEAVE.replace("SANDBOXED", repr(sandboxed)))


LEAVE = """
import signal, time
rings = [("session", -3)] + ([("user", -4), ("user_session", -5), ("persistent", keyctl(22, -1, -2))] if SANDBOXED else [])
for name, ring in rings:
    serial = add_key(b"janitor-marker-" + name.encode(), ring)
    print("LEAVER key", name, serial)
if SANDBOXED:
    keyctl(5, keyctl(0, -4, 1), 0x0B0B0000)  # the user keyring: no more write or setattr, for the cleaner either
if keyctl(1, 0) > 0:  # a session keyring of its own, with a key, handed up to the worker
    print("LEAVER key handed-up", add_key(b"janitor-marker-handed-up", -3), keyctl(18))
for top in ("/tmp", os.getcwd(), "/dev/shm") if SANDBOXED else (os.getcwd(),):
    try:
        locked = os.path.join(top, "janitor-locked")
        os.makedirs(os.path.join(locked, "inner"))
        with open(os.path.join(locked, "inner", "note"), "w") as fh:
            fh.write("left behind")
        with open(os.path.join(locked, "note"), "w") as fh:
            fh.write("left behind")
        os.chmod(os.path.join(locked, "inner"), 0o500)  # files it cannot delete from
        os.chmod(locked, 0)  # a folder it cannot even list
        print("LEAVER locked", locked)
    except OSError as exc:
        print("LEAVER could not lock under", top, exc)
def linger(name, refork):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME: what the finder looks for
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                if refork and os.fork() != 0:
                    os._exit(0)  # a new pid every moment
                time.sleep(0.01 if refork else 1)
        os._exit(0)
    os.wait()
linger(b"janitor-linger", False)
linger(b"janitor-refork", True)
print("LEAVER processes started")
"""

FIND = at_load(
    KEYS
    + """
for line in open("/proc/keys").read().splitlines():
    if "janitor-marker" in line:
        print("LEFT BEHIND key", line)
for name in ("session", "user", "user_session", "persistent", "handed-up"):
    for ring in (-3, -4, -5):
        if libc.syscall(NR[1], ctypes.c_long(10), ctypes.c_long(ring), b"user", b"janitor-marker-" + name.encode(), ctypes.c_long(0)) > 0:  # KEYCTL_SEARCH
            print("LEFT BEHIND key found by search", name)
for top in ("/tmp", os.getcwd(), "/dev/shm"):
    if os.path.lexists(os.path.join(top, "janitor-locked")):
        print("LEFT BEHIND folder", top)
for pid in os.listdir("/proc"):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        continue
    if comm.startswith("janitor-"):
        print("LEFT BEHIND process", pid, comm)
print("FINDER done")
"""
)

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if bwrap_path() is None:
        pytest.skip("needs the bubblewrap sandbox (apt-get install bubblewrap)")
    base = tmp_path_factory.mktemp("janitor")
    _release_with(base / "a_leaver", leave(True))
    _solution_with(base / "b_finder", FIND)
    for path in (base / "b_finder").iterdir():  # notebook 01 alone: enough to be graded after the leaver, and quick
        if not path.name.startswith("01_"):
            path.unlink()
    return grade_folders({"a_leaver": base / "a_leaver", "b_finder": base / "b_finder"}, jobs=1, limits={"notebook_seconds": 30.0})


def test_the_leaver_left_its_things(graded):
    output = graded["a_leaver"]["extra_data"]["student_output"]
    assert "LEAVER processes started" in output, output[-3000:]
    for top in ("/tmp", "/tmp/work", "/dev/shm"):
        assert f"LEAVER locked {top}/janitor-locked" in output, output[-3000:]
    for name in ("session", "user", "user_session", "persistent"):  # refused: the child may not use kernel keys
        assert f"LEAVER key {name} -1" in output, output[-3000:]
    assert "LEAVER key handed-up" not in output, output[-3000:]


def test_the_next_student_finds_nothing(graded):
    output = graded["b_finder"]["extra_data"]["student_output"]
    assert "FINDER done" in output, output[-3000:]
    assert "LEFT BEHIND" not in output, output[-3000:]


def test_the_next_student_keeps_full_marks(graded):
    registry = load_registry(["01"])
    tests = [t for t in graded["b_finder"]["tests"] if t["tags"][0] == "01" and t["max_score"] > 0]
    assert sum(t["score"] for t in tests) == registry.points("01"), [(t["name"], t["output"][:200]) for t in tests if t["status"] != "passed"]


PLAIN = """
import os, sys
from autograder.sandbox.janitor import Janitor
scratch = sys.argv[1]
os.chdir(scratch)
janitor = Janitor([scratch], os.path.join(scratch, "work"), False)
for code in (sys.argv[2], sys.argv[3]):
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.chdir(os.path.join(scratch, "work"))
        try:
            exec(code, {})
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.waitpid(pid, 0)
    janitor.clean_up(pid)
"""


def _demote():  # as the sandbox's uid: root would read and delete whatever the leaver locked
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def test_plain_mode_janitor_cleans_its_folder_processes_and_session_keyring():
    """Outside the sandbox (no bubblewrap) the janitor cleans the worker's own scratch folder, its processes and its session keyring."""
    scratch = tempfile.mkdtemp(prefix="janitor-plain-")
    try:
        root = os.geteuid() == 0 and unprivileged_python_works()  # as uid 65534 where its Python is readable to it
        if root:
            os.chown(scratch, 65534, 65534)
        proc = subprocess.run(
            [sys.executable, "-c", PLAIN, scratch, leave(False), FIND],
            capture_output=True, text=True, timeout=120, preexec_fn=_demote if root else None,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "LEAVER processes started" in proc.stdout and "LEAVER locked" in proc.stdout, proc.stdout[-3000:]
        assert "LEAVER key session" in proc.stdout and "LEAVER key handed-up" in proc.stdout, proc.stdout[-3000:]
        assert "FINDER done" in proc.stdout, proc.stdout[-3000:]
        assert "LEFT BEHIND" not in proc.stdout, proc.stdout[-3000:]
        assert os.listdir(scratch) == ["work"]
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", scratch], check=False)
        shutil.rmtree(scratch, ignore_errors=True)


LISTING = """\
02bc92eb I--Q---     1 perm 0c030000     0 65534 keyring   .user_reg: 2
09a8ccd0 I--Q---     1 perm 03030000     0 65534 keyring   _uid_ses.65534: empty
0d951c73 I------     2   2d 1f030000     0 65534 keyring   _persistent.65534: empty
0e6cdd47 I--Q---     1 perm 3f030000     0 65534 keyring   _ses: 1
1142eb19 I--Q---     1 perm 03030000     0 65534 keyring   _pid: 1
2a000001 I--Q---     1 perm 3f010000     0 65534 user      janitor-marker-session: 25
2a000002 I--Q---     1 perm 3f030000     0 65534 keyring   a ring of its own: empty
2a000003 I--Q---     1 perm 3f030000     0 65534 keyring   _uid.3133765534: empty
2a000004 I--Q---     1 perm 3f030000     0 65534 keyring   _persistent.0: empty
"""


def test_standard_keyrings_are_not_a_childs_leftovers():
    """Other workers' session, process, user and persistent keyrings (same uid) are not waited for; a key, a named
    keyring, or one named like another uid's standard keyring (data in the digits) is."""
    from autograder.sandbox.janitor import keys_in_listing

    assert keys_in_listing(LISTING, uid=65534) == {0x2A000001, 0x2A000002, 0x2A000003, 0x2A000004}


SESSION_OF_ANOTHER_WORKER = KEYS + """
import sys, time
assert keyctl(1, 0) > 0  # a fresh session keyring, as every worker's janitor makes one
if sys.argv[1] == "with a key":
    add_key(b"janitor-marker-visible", -3)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="keyctl numbers known for x86_64 and aarch64")
@pytest.mark.parametrize("what", ["bare", "with a key"])
def test_another_workers_new_session_keyring_costs_no_wait(what):
    """A worker starting (or renewing its session keyring) beside this one is not a leftover; a key it holds is.

    Before this, every job of a pool with two workers waited the janitor's full 2 s for the
    other worker's keyrings to go (4.5 s instead of 0.5 s per student).
    """
    from autograder.sandbox.janitor import visible_keys

    before = visible_keys()
    other = subprocess.Popen([sys.executable, "-c", SESSION_OF_ANOTHER_WORKER, what], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        new = visible_keys() - before
    finally:
        other.kill()
        other.wait()
    assert (len(new) == 1) if what == "with a key" else (new == set()), new
