"""Read a student's submission folder without trusting its file system.

A submission folder is the student's: it may hold symbolic links (to solutions/, the
references, /etc/shadow), FIFOs, sockets or device nodes whose read blocks for ever (a
link to /proc/kmsg), huge files or deep trees. The grader reads only regular files
inside the folder, reached without following any link:

* the folder itself must not be a symbolic link (:func:`check_folder`);
* :func:`walk` lists the folder with ``os.scandir`` on directory descriptors opened with
  ``O_NOFOLLOW``: links and special files are reported, never entered or read;
* :func:`read_notebook` opens the file component by component from the folder's
  descriptor (``openat`` with ``O_NOFOLLOW``, so no link anywhere on the path is
  followed), refuses anything that is not a regular file before and after opening it
  (``lstat``, then ``fstat`` on the open descriptor), opens with ``O_NONBLOCK`` (so even
  a FIFO swapped in between cannot make the open or the read wait) and reads at most
  :data:`MAX_NOTEBOOK_BYTES`.

A regular file can still be someone else's: a *hard link* (made by ``ln``, or by an
instructor unpacking a student's archive with ``shutil.unpack_archive``, which recreates
the archive's hard links) is the very file it links to, be it ``solutions/``, a hidden
suite or ``/etc/shadow``. So a file with more than one name (``st_nlink > 1``), or whose
``(st_dev, st_ino)`` is that of a course file under another path (:func:`course_files`),
is refused like a symbolic link: :func:`walk` reports it as a "hard link" or a "course
file", and :func:`read_notebook` checks again on the open descriptor.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePath

from autograder.course import ROOT

MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024  # a larger notebook is not read at all
MAX_SUBMISSION_BYTES = 512 * 1024 * 1024  # all of a submission's notebooks together: seven sparse 500 MB files cost the grader 4 GB
MAX_ENTRIES = 20_000  # entries listed per submission; the rest are ignored (with a note)
MAX_DEPTH = 16  # folder levels below the submission folder
SKIPPED_DIRS = (".ipynb_checkpoints", "__MACOSX", "__pycache__")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A file (or folder) of a submission the grader will not read; ``str()`` says why."""


class TooLarge(UnsafeFile):
    """A file larger than the grader reads."""


@dataclass(frozen=True)
class Entry:
    """One thing found in a submission folder (never followed if it is a link)."""

    path: Path  # folder / relative
    relative: str  # the path inside the submission folder, "/"-separated
    kind: str  # "file" (a regular file), "symlink", or a special kind ("FIFO", "socket", "device", ...)
    size: int
    mtime: float

    @property
    def regular(self) -> bool:
        return self.kind == "file"


def kind_of(mode: int) -> str:
    """What a file mode is, in words ("file" for a regular file)."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


COURSE_FOLDERS = ("solutions", "autograder", "helpers", "notebooks", "tests", "benchmarks")  # what a course file is, below the course root


@functools.lru_cache(maxsize=1)
def course_files() -> dict[tuple[int, int], str]:
    """(st_dev, st_ino) -> path of every file of the course kit (solutions, suites, the secret, the references cache).

    Read once per process, with ``lstat`` (links are not files of the course).
    """
    from autograder.grading.references import cache_dir
    from autograder.grading.secret import SECRET_FILE

    found: dict[tuple[int, int], str] = {}
    tops = [ROOT / name for name in COURSE_FOLDERS] + [cache_dir()]
    for top in tops:
        for folder, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints")]
            for name in names:
                _add_course_file(found, os.path.join(folder, name))
    _add_course_file(found, str(SECRET_FILE))
    return found


def _add_course_file(found: dict, path: str) -> None:
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        found[(st.st_dev, st.st_ino)] = os.path.abspath(path)


def file_kind(st: os.stat_result, path: Path | str) -> str:
    """What a file is, in words, from its ``lstat`` (or ``fstat``) and its path.

    A regular file of its own is "file"; one that is a course file under another path (a
    hard link to it, a bind mount) is a "course file"; any other regular file with more
    than one name is a "hard link". A course file at its own path is a "file".
    """
    kind = kind_of(st.st_mode)
    if kind != "file":
        return kind
    own = course_files().get((st.st_dev, st.st_ino))
    if own is not None:  # the course's own file at its own path: grading solutions/ itself (the demo)
        return "file" if own == os.path.abspath(path) else "course file"
    return "hard link" if st.st_nlink > 1 else kind


def refusal(relative: str, kind: str) -> str:
    """The message for a submitted file the grader does not read."""
    what = {
        "symlink": "a symbolic link",
        "hard link": "a hard link (the same file as another name elsewhere, as a link is)",
        "course file": "a file of the course itself (the same file as one of the grader's)",
    }.get(kind, f"not a regular file (a {kind})")
    return f"{relative} is {what}: the grader reads only regular files inside the submission, so it was not graded. Submit the notebook file itself."


def check_folder(folder: Path) -> None:
    """Raise :class:`UnsafeFile` unless ``folder`` is a real folder (not a link to one)."""
    try:
        mode = os.lstat(folder).st_mode
    except OSError as exc:
        raise UnsafeFile(f"the submission folder {Path(folder).name} could not be read ({exc.strerror})") from None
    if stat.S_ISLNK(mode):
        raise UnsafeFile(
            f"the submission folder {Path(folder).name} is a symbolic link: refused (the grader reads only real folders and files)."
        )
    if not stat.S_ISDIR(mode):
        raise UnsafeFile(f"the submission {Path(folder).name} is not a folder (it is a {kind_of(mode)}).")


def _open_folder(folder: Path) -> int:
    check_folder(folder)
    try:
        return os.open(folder, _DIR_FLAGS)
    except OSError as exc:  # swapped for a link since check_folder: ELOOP / ENOTDIR
        raise UnsafeFile(f"the submission folder {Path(folder).name} could not be opened ({exc.strerror})") from None


def _open_below(root_fd: int, parts: tuple[str, ...]) -> int:
    """A new descriptor of the folder ``parts`` below ``root_fd``, following no link on the way."""
    fd = os.open(".", _DIR_FLAGS, dir_fd=root_fd)
    for part in parts:
        try:
            sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = sub
    return fd


def walk(folder: Path, skip_dirs: tuple[str, ...] = SKIPPED_DIRS) -> tuple[list[Entry], list[str]]:
    """Every file, link and special file under ``folder`` (sorted), and notes on what was cut.

    Links are listed as links (to a file or a folder alike) and never followed; folders
    named in ``skip_dirs`` are not entered. At most :data:`MAX_ENTRIES` entries (folders
    included) and :data:`MAX_DEPTH` levels are looked at. Raises :class:`UnsafeFile` when
    ``folder`` itself is a link or not a folder.
    """
    folder = Path(folder)
    entries: list[Entry] = []
    notes: list[str] = []
    seen = 0
    root_fd = _open_folder(folder)
    try:
        pending: list[tuple[str, ...]] = [()]
        while pending and seen <= MAX_ENTRIES:
            parts = pending.pop()
            try:
                fd = _open_below(root_fd, parts)
            except OSError:
                notes.append(f"{'/'.join(parts)} could not be opened and was ignored")
                continue
            try:
                with os.scandir(fd) as it:
                    children = sorted(it, key=lambda e: e.name)
                for child in children:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        notes.append(f"the submission holds more than {MAX_ENTRIES} files and folders; the rest were ignored")
                        break
                    rel_parts = (*parts, child.name)
                    try:
                        st = child.stat(follow_symlinks=False)
                    except OSError:
                        continue  # vanished
                    kind = file_kind(st, folder.joinpath(*rel_parts))
                    if kind != "folder":
                        entries.append(Entry(folder.joinpath(*rel_parts), "/".join(rel_parts), kind, st.st_size, st.st_mtime))
                    elif child.name in skip_dirs:
                        continue
                    elif len(rel_parts) > MAX_DEPTH:
                        notes.append(f"{'/'.join(rel_parts)} is more than {MAX_DEPTH} folders deep and was ignored")
                    else:
                        pending.append(rel_parts)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
    entries.sort(key=lambda e: e.relative)
    return entries, notes


def newest_time(folder: Path) -> float:
    """The latest modification time of ``folder`` and anything in it (links by their own time)."""
    times = [os.lstat(folder).st_mtime]
    try:
        entries, _ = walk(folder, skip_dirs=())
    except UnsafeFile:
        return times[0]
    return max(times + [e.mtime for e in entries])


def _relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        parts = PurePath(path).relative_to(root).parts
    except ValueError:
        raise UnsafeFile(f"{Path(path).name} is not inside the submission folder") from None
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise UnsafeFile(f"{Path(path).name} is not a file inside the submission folder")
    return parts


def read_notebook(path: Path, root: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of the regular file ``path`` inside the submission folder ``root``.

    Never follows a link (neither ``root`` itself nor any component below it), never
    opens or reads a FIFO, socket or device, and reads at most ``limit`` bytes. Raises
    :class:`UnsafeFile` (an OSError) with a message for the student otherwise.
    """
    parts = _relative_parts(path, root)
    relative = "/".join(parts)
    fd = _open_folder(Path(root))
    try:
        for depth, part in enumerate(parts[:-1], start=1):
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise UnsafeFile(refusal("/".join(parts[:depth]), kind_of(st.st_mode)) + f" ({relative} is inside it.)")
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except UnsafeFile:
                raise
            except OSError as exc:
                raise UnsafeFile(_os_message(relative, exc)) from None
            os.close(fd)
            fd = sub
        name = parts[-1]
        try:  # refuse before opening: opening a device can have effects of its own
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            raise UnsafeFile(_os_message(relative, exc)) from None
        if file_kind(st, path) != "file":
            raise UnsafeFile(refusal(relative, file_kind(st, path)))
        try:
            file_fd = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise UnsafeFile(_os_message(relative, exc)) from None
        try:
            st = os.fstat(file_fd)  # what was actually opened
            if file_kind(st, path) != "file":
                raise UnsafeFile(refusal(relative, file_kind(st, path)))
            if st.st_size > limit:
                raise TooLarge(_too_big(relative, st.st_size, limit))
            chunks, total = [], 0
            while True:
                try:
                    chunk = os.read(file_fd, min(1 << 22, limit + 1 - total))
                except BlockingIOError:  # cannot happen for a regular file; never wait
                    raise UnsafeFile(f"{relative} could not be read without waiting") from None
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:  # it grew while being read
                    raise TooLarge(_too_big(relative, total, limit))
            return b"".join(chunks)
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)


def _too_big(relative: str, size: int, limit: int) -> str:
    return f"{relative} is {size / 1e6:.0f} MB, more than the {limit / 1e6:.0f} MB the grader reads: not graded."


def _os_message(relative: str, exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link
        return refusal(relative, "symlink")
    if exc.errno == errno.ENOTDIR:
        return f"{relative}: a folder on its path is not a real folder (a symbolic link?): not graded."
    if exc.errno == errno.ENOENT:
        return f"{relative} is no longer there: not graded."
    return f"{relative} could not be read ({exc.strerror}): not graded."
