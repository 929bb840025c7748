"""The janitor: between two students, put the worker's world back as it was.

A student's child can leave things for the next student's child on the same worker, by
every channel the two share: files in the writable folders, System V IPC objects, kernel
keyrings and processes. The worker makes one :class:`Janitor` before its first job and
calls :meth:`Janitor.clean_up` after every child:

* **Processes.** The worker is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so
  whatever the child starts stays below the worker even when it calls ``setsid`` or
  forks twice (orphans are re-parented to the worker, not to init). After a job every
  process below the worker is killed (in the sandbox, every process of its PID namespace
  but the worker and bubblewrap's init), again and again until none is left.
* **Writable folders** (:class:`WritableAreas`): their state before the first job is
  remembered; afterwards every new path is removed and every changed file restored. A
  folder or file the student made unreadable or unwritable is given its permissions back
  first (the student's uid is the worker's, so it owns them), then removed.
* **Keyrings.** A student's child may not use kernel keys at all (``keyring_filter.py``:
  keyrings are not namespaced, so the host's user keyring of the grader's uid and the
  keys of a student on another worker are in reach); what follows is for where that
  filter cannot be installed. The user, user-session and persistent keyrings belong to
  the uid, not to a process: a key added there outlives the child. In the sandbox (its own user
  namespace, so these keyrings are the sandbox's own) the janitor empties them and then
  locks the user and user-session keyrings view-and-read-only before the first job:
  without write, link, search or setattr permission a student can neither add a key, nor
  change the permissions back, nor invalidate the keyring to get a fresh writable one.
  The persistent keyring (which nobody may lock) is emptied after every job. The session
  keyring is the worker's own (not the grader's, which other workers share), locked too;
  it is made anew after a job that left anything (a child may hand its own session
  keyring to its parent with ``KEYCTL_SESSION_TO_PARENT``). Then every key that was not
  there before the first job is revoked and invalidated, and the janitor waits until the
  kernel has collected it: an unlinked key stays listed in ``/proc/keys``, description
  included, until then. An honest job leaves nothing, so it costs no wait.
* **System V IPC** (shared memory, message queues, semaphores) of the sandbox's IPC
  namespace is removed.

Outside the sandbox (plain mode) only processes, the session keyring and the worker's own
scratch folder are cleaned: the IPC objects and the user keyrings would be the machine's.
Imports only the standard library (it runs in the sandbox).
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import stat
import time

PR_SET_CHILD_SUBREAPER = 36

_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)  # the keyctl system call's number
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_REVOKE, KEYCTL_SETPERM, KEYCTL_CLEAR = 0, 1, 3, 5, 7
KEYCTL_READ, KEYCTL_INVALIDATE, KEYCTL_GET_PERSISTENT = 11, 21, 22
KEY_SPEC_PROCESS_KEYRING, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -2, -3, -4, -5
KEY_VIEW, KEY_READ = 0x01, 0x02
LOCKED = ((KEY_VIEW | KEY_READ) << 24) | ((KEY_VIEW | KEY_READ) << 16)  # possessor and owner may look; nobody may change


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def keyctl(operation: int, *args: int) -> int:
    """One ``keyctl(2)`` call (raw system call: no libkeyutils); -1 when it fails or is not available."""
    libc = _libc()
    if _KEYCTL is None or libc is None:
        return -1
    return libc.syscall(_KEYCTL, ctypes.c_long(operation), *(ctypes.c_long(a) for a in args))


def shared_keyrings() -> list[int]:
    """The serial numbers of this uid's keyrings that outlive a process: user, user-session, persistent."""
    serials = [keyctl(KEYCTL_GET_KEYRING_ID, spec, 1) for spec in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING)]
    serials.append(keyctl(KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_PROCESS_KEYRING))  # -1: this uid; linked into the worker's own process keyring
    return [s for s in serials if s > 0]


def lock_shared_keyrings() -> None:
    """Empty the uid's shared keyrings and make them read-only for good where the kernel lets us (see the module's docstring).

    The persistent keyring cannot be locked (nobody has setattr on it), but nobody can
    take write permission away from its possessor either: it is emptied after every job.
    """
    for serial in shared_keyrings():
        keyctl(KEYCTL_CLEAR, serial)
        keyctl(KEYCTL_SETPERM, serial, LOCKED)


def fresh_session_keyring() -> int:
    """Join a new, anonymous session keyring (the children inherit it), lock it as well; return its serial (or -1).

    Once locked, not even the worker may search it, so its serial is known only from here.
    """
    serial = keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
    if serial > 0:
        keyctl(KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, LOCKED)
    return serial


# Keyrings every process of the uid gets (or the kernel keeps), named by the kernel: another
# worker's are visible here too (same uid). Only this uid's names count, so a name carries
# nothing a child chose (a keyring called _uid.<digits of its choice> is a leftover like any other).
# (.user_reg, .persistent_register...: a name with a leading dot is the kernel's alone.)
def _standard_keyring(uid: int) -> re.Pattern:
    return re.compile(rf"_ses|_pid|_tid|_uid\.{uid}|_uid_ses\.{uid}|_persistent\.{uid}|\.[\w.]+")


def visible_keys() -> set[int]:
    """The serial numbers of every key this process may view (``/proc/keys``) but the standard keyrings.

    Every worker has its own session, user, user-session and persistent keyrings, all of the
    same uid, so each one sees the others' appear as they start or renew them; counting them
    as a child's leftovers made every job wait for keys that never go. The names are this
    uid's exactly, so a child cannot put data in them (and a student's child may not make
    keys at all where ``keyring_filter.py`` is installed). Whatever a standard keyring holds is listed as keys of its own (and is waited for), and a
    handed-up session keyring is caught by its serial, not by this listing.
    """
    try:
        with open("/proc/keys") as fh:
            return keys_in_listing(fh.read())
    except OSError:
        return set()


def keys_in_listing(listing: str, uid: int | None = None) -> set[int]:
    """The serials of a ``/proc/keys`` text's keys, the standard keyrings of ``uid`` (default: ours) left out (see :func:`visible_keys`)."""
    standard = _standard_keyring(os.getuid() if uid is None else uid)
    keys = set()
    for line in listing.splitlines():
        fields = line.split(None, 8)  # serial flags usage expiry perm uid gid type description: summary
        if len(fields) < 9:
            continue
        try:
            serial = int(fields[0], 16)
        except ValueError:
            continue
        if fields[7] == "keyring" and standard.fullmatch(fields[8].rsplit(":", 1)[0].strip()):
            continue
        keys.add(serial)
    return keys


def keyring_members(serial: int) -> set[int]:
    """The serial numbers of the keys linked in keyring ``serial`` (empty when it cannot be read)."""
    libc = _libc()
    if _KEYCTL is None or libc is None:
        return set()
    buffer = ctypes.create_string_buffer(4 * 4096)
    size = libc.syscall(_KEYCTL, ctypes.c_long(KEYCTL_READ), ctypes.c_long(serial), buffer, ctypes.c_size_t(len(buffer)))
    if size <= 0:
        return set()
    count = min(size, len(buffer)) // 4
    return set((ctypes.c_int32 * count).from_buffer_copy(buffer.raw[: 4 * count]))


def clear_keyrings(session: int, baseline: set[int] | None = None, wait: float = 2.0) -> int:
    """After a job: empty the session keyrings and the shared ones; drop the session keyring if a child handed one up.

    ``session`` is the serial of the session keyring the worker made last; the new one's
    is returned. Keys that are left are revoked and invalidated, and the janitor waits
    (at most ``wait`` seconds) until the kernel has collected them: an unlinked key stays
    listed in ``/proc/keys``, description included, until then. What is left: with
    ``baseline`` (in the sandbox: the keys there were before the first job) every other
    visible key; without it (outside the sandbox, where the visible keys are the
    machine's) a session keyring handed up and what it held. An honest job leaves
    nothing, and costs no wait.
    """
    handed_up = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)  # -1 for the worker's own, locked one
    suspects = {handed_up} | keyring_members(handed_up) if handed_up > 0 else set()
    keyctl(KEYCTL_CLEAR, KEY_SPEC_SESSION_KEYRING)
    shared = shared_keyrings()
    for serial in shared:
        keyctl(KEYCTL_CLEAR, serial)

    def left_over() -> set[int]:
        visible = visible_keys()
        return (visible - baseline - set(shared) - {session}) if baseline is not None else visible & suspects

    if handed_up > 0 or baseline is None or left_over():
        session = fresh_session_keyring()  # whatever the child left as the worker's session keyring is dropped
    deadline = time.monotonic() + wait
    while True:
        left = left_over()
        if not left or time.monotonic() > deadline:
            return session
        for serial in left:
            keyctl(KEYCTL_CLEAR, serial)
            keyctl(KEYCTL_REVOKE, serial)
            keyctl(KEYCTL_INVALIDATE, serial)
        time.sleep(0.002)


def remove_ipc_objects() -> None:
    """Remove every System V shared-memory segment, message queue and semaphore set of this IPC namespace.

    They live in the kernel, not in a file system WritableAreas restores, and outlive the
    processes that made them. Removing needs only to be their owner, whatever their mode.
    """
    libc = _libc()
    if libc is None:
        return
    removers = {
        "shm": lambda ident: libc.shmctl(ident, 0, None),  # IPC_RMID = 0
        "msg": lambda ident: libc.msgctl(ident, 0, None),
        "sem": lambda ident: libc.semctl(ident, 0, 0),
    }
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].isdigit():
                remove(int(fields[1]))


# --------------------------------------------------------------------------- #
# Processes
# --------------------------------------------------------------------------- #


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process this one can see."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                text = fh.read()
            parents[int(name)] = int(text[text.rindex(")") + 2 :].split()[1])  # the name in () may hold spaces
        except (OSError, ValueError, IndexError):
            continue
    return parents


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (its children, theirs, ...)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, pending = [], list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def others_in_namespace() -> list[int]:
    """Every process this worker can see except itself, its ancestors and the PID namespace's init."""
    parents = _parents()
    keep, pid = {1, os.getpid()}, os.getpid()
    while pid > 1 and pid in parents:
        pid = parents[pid]
        keep.add(pid)
    return [p for p in parents if p not in keep]


def _reap() -> None:
    """Collect every child of the worker that has ended (orphans come to it: it is a subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_left_processes(child: int, sandboxed: bool, rounds: int = 200) -> None:
    """Kill ``child``, its process group, and every process left below the worker (in the sandbox: every other process).

    Repeats until none is left (a process may fork while the others die), at most
    ``rounds`` times; zombies are reaped as they come.
    """
    _kill(-child)
    _kill(child)
    for _ in range(rounds):
        if sandboxed:  # the sandbox's PID namespace holds only this worker and what students start
            try:  # every process but this one and init, in one step a forking process cannot dodge
                os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap()
        left = others_in_namespace() if sandboxed else descendants(os.getpid())
        if not left:
            return
        for pid in left:
            _kill(pid)
        time.sleep(0.005)  # let the killed ones die and come to the worker as zombies


# --------------------------------------------------------------------------- #
# Writable folders
# --------------------------------------------------------------------------- #


def _take_back(path: str, st: os.stat_result) -> None:
    """Give a folder (or file) back the owner's permissions a student may have taken away (u+rwx / u+rw)."""
    wanted = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
    if st.st_mode & wanted != wanted:
        try:
            os.chmod(path, (st.st_mode & 0o7777) | wanted)
        except OSError:
            pass


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def force_remove(path: str, device: int) -> None:
    """Remove ``path`` (a whole tree), taking back the permissions of each folder first; never leaves ``device``.

    A folder the student made unreadable (mode 000) is made readable, listed and
    emptied; a mount point (another device, such as a read-only bind) is left alone.
    The tree is walked through directory descriptors, one open at a time, never by full
    paths: a chain of folders deeper than PATH_MAX (made with chdir and relative mkdirs)
    is removed too, and its depth costs neither descriptors nor recursion.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return
    if st.st_dev != device:
        return
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = os.open(parent, _DIR_FLAGS)
    except OSError:
        return
    try:
        _remove_below(parent_fd, name, device)
    finally:
        os.close(parent_fd)


def _remove_below(parent_fd: int, name: str, device: int) -> None:
    """Remove the folder ``name`` of ``parent_fd`` and everything in it (the students' processes are dead by now)."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError:
        return
    stack: list[tuple[str, set[str]]] = [(name, set())]  # (name in its parent, children that could not be removed)
    while True:
        try:
            st = os.fstat(fd)
            if st.st_mode & 0o700 != 0o700:
                os.fchmod(fd, (st.st_mode & 0o7777) | 0o700)
        except OSError:
            pass
        into = None
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        est = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if not stat.S_ISDIR(est.st_mode):
                        try:
                            os.unlink(entry.name, dir_fd=fd)
                        except OSError:
                            pass
                    elif into is None and est.st_dev == device and entry.name not in stack[-1][1]:
                        into = entry.name  # a mount point (another device) is left alone
        except OSError:
            pass
        if into is not None:
            try:
                child = os.open(into, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                stack[-1][1].add(into)
                continue
            os.close(fd)
            fd = child
            stack.append((into, set()))
            continue
        done, _ = stack.pop()
        if not stack:  # back at the top: remove it from the caller's folder
            os.close(fd)
            try:
                os.rmdir(name, dir_fd=parent_fd)
            except OSError:
                pass
            return
        try:
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            return
        os.close(fd)
        fd = up
        try:
            os.rmdir(done, dir_fd=fd)
        except OSError:
            stack[-1][1].add(done)


def _xattrs(path: str) -> dict[str, bytes]:
    """The extended attributes of ``path`` (not following a link): name -> value ({} where there are none or none can be read)."""
    found = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return found
    for name in names:
        try:
            found[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return found


class WritableAreas:
    """The directories a child can write to, put back as they were after every job.

    In the sandbox: /tmp, /dev/shm, /dev/mqueue and the matplotlib config (everything
    else is read-only). Outside it (plain mode): this worker's own scratch folder. The
    state at start is remembered (paths with their modes, and the bytes of small files
    such as matplotlib's font list); afterwards every new path is deleted and every
    changed file restored, without descending into mount points (a CI checkout under
    /tmp is bound read-only there). Every folder is given its owner's permissions back
    before it is listed, so nothing a student locks stays hidden from the walk.
    """

    def __init__(self, roots: list[str]):
        self.roots = [r for r in roots if os.path.isdir(r)]
        self.files: dict[str, tuple[int, bytes]] = {}
        self.dirs: dict[str, int] = {}
        self.xattrs: dict[str, dict[str, bytes]] = {}  # extended attributes (tmpfs keeps user.* ones): a note for the next student
        self.times: dict[str, tuple[int, int]] = {}  # (atime, mtime) in ns: 128 bits per path a student can set with os.utime
        for path, is_dir, _ in self._walk():
            self.xattrs[path] = _xattrs(path)
            st = os.lstat(path)
            self.times[path] = (st.st_atime_ns, st.st_mtime_ns)
            mode = st.st_mode & 0o7777
            if is_dir:
                self.dirs[path] = mode
            else:
                try:
                    with open(path, "rb") as fh:
                        self.files[path] = (mode, fh.read(1 << 22))
                except OSError:
                    pass

    def _walk(self):
        """(path, is_dir, the root's device) of everything under the roots, folders before what they hold; links and mount points not entered."""
        for root in self.roots:
            device = os.lstat(root).st_dev
            pending = [root]
            while pending:
                top = pending.pop()
                try:
                    st = os.lstat(top)
                except OSError:
                    continue
                _take_back(top, st)  # a child may have locked it: list it anyway
                yield top, True, device
                try:
                    entries = sorted(os.scandir(top), key=lambda e: e.name)
                except OSError:
                    continue
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if st.st_dev == device:  # else a mount point: not ours to clean
                            pending.append(entry.path)
                    else:
                        yield entry.path, False, device

    def restore(self) -> None:
        seen = list(self._walk())
        for path, is_dir, device in reversed(seen):  # new things, deepest first
            if (is_dir and path in self.dirs) or (not is_dir and path in self.files):
                continue
            force_remove(path, device)
        for path, mode in self.dirs.items():
            try:
                if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
                    os.unlink(path)
                os.makedirs(path, exist_ok=True)
                os.chmod(path, mode)
            except OSError:
                pass
        for path, (mode, data) in self.files.items():
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    force_remove(path, st.st_dev)
                elif st.st_mode & 0o7777 != mode:
                    os.chmod(path, mode)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            try:
                with open(path, "rb") as fh:
                    if fh.read(len(data) + 1) == data:
                        continue
            except OSError:
                pass
            try:
                with open(path, "wb") as fh:
                    fh.write(data)
                os.chmod(path, mode)
            except OSError:
                pass
        for path, kept in self.xattrs.items():
            now = _xattrs(path)
            for name in now.keys() - kept.keys():
                try:
                    os.removexattr(path, name, follow_symlinks=False)
                except OSError:
                    pass
            for name, value in kept.items():
                if now.get(name) != value:
                    try:
                        os.setxattr(path, name, value, follow_symlinks=False)
                    except OSError:
                        pass
        for path in sorted(self.times, key=lambda p: p.count(os.sep), reverse=True):  # a folder's own time after its contents'
            try:
                os.utime(path, ns=self.times[path], follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass


class Janitor:
    """What the worker needs between students: made once before the first job, then :meth:`clean_up` after each child."""

    def __init__(self, roots: list[str], workdir: str, sandboxed: bool):
        self.sandboxed, self.workdir = sandboxed, workdir
        libc = _libc()
        if libc is not None:  # orphans of a child come to the worker, so none escapes the kill
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.session = fresh_session_keyring()  # not the grader's session keyring, which other workers share
        self.keys = None  # outside the sandbox the keys this uid may view are the machine's: not ours to wait for
        if sandboxed:  # its own user namespace: these keyrings are the sandbox's, not the machine's
            lock_shared_keyrings()
            self.keys = visible_keys()
        self.areas = WritableAreas(roots)
        os.makedirs(workdir, exist_ok=True)

    def clean_up(self, child: int) -> None:
        """Kill what the child left running, then empty the kernel's shared objects and restore the folders."""
        kill_left_processes(child, self.sandboxed)
        self.session = clear_keyrings(self.session, self.keys)
        if self.sandboxed:  # the sandbox has its own IPC namespace (outside it, these would be the machine's)
            remove_ipc_objects()
        self.areas.restore()
        os.makedirs(self.workdir, exist_ok=True)
        _reap()
