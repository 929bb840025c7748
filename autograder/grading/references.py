"""The solution's observations for every case: the references students are compared to.

They are computed by running the solution notebooks through the same worker code as a
student's work (so the two go through identical code; on workers that never run student
code), with the student's own grading seeds (autograder.grading.secret), and cached on disk
under a key that changes whenever the solutions, the suites, the worker or the seeds
(the course secret, the student) change. One decision for every platform: references
are computed where grading runs (on Gradescope, in the container, from the solutions
and the secret in its root-only part); nothing is frozen, so no two students share
hidden inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from autograder.course import SERIES, SOLUTIONS
from autograder.grading.registry import Registry, code_fingerprint
from autograder.grading.runner import Limits, WorkerPool
from autograder.grading.secret import course_secret, student_seeds


class ReferenceError(RuntimeError):
    """The solutions do not produce a clean observation for every case."""


def cache_dir() -> Path:
    base = os.environ.get("COURSE_KIT_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "llm-course-kit")
    return Path(base)


def _key(registry: Registry, notebooks: dict[str, Path], seeds: dict[str, int]) -> str:
    digest = hashlib.sha256(registry.fingerprint.encode() + code_fingerprint().encode())
    digest.update(json.dumps(sorted(seeds.items())).encode())
    for nb, path in sorted(notebooks.items()):
        digest.update(nb.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:24]


def solution_notebooks(notebooks: list[str] | None = None) -> dict[str, Path]:
    wanted = notebooks or list(SERIES)
    return {nb: SOLUTIONS / f"{SERIES[nb]}.ipynb" for nb in wanted if (SOLUTIONS / f"{SERIES[nb]}.ipynb").exists()}


def grading_seeds(registry: Registry, student: str = "") -> dict[str, int]:
    """Case id -> grading seed for one student, from the course secret."""
    return student_seeds([c.id for c in registry.cases], student, course_secret())


def check_references(registry: Registry, notebooks: dict[str, Path], run) -> dict[str, dict]:
    """The observations of a reference run, or ReferenceError when the solutions did not pass cleanly."""
    missing = [c.id for c in registry.cases if c.notebook in notebooks and c.id not in run.observations]
    broken = {cid: obs["error"] for cid, obs in run.observations.items() if obs.get("error")}
    problems = {nb: info["status"].load_errors for nb, info in run.notebooks.items() if info.get("status") and info["status"].load_errors}
    problems.update({nb: info["stream"] for nb, info in run.notebooks.items() if info.get("stream")})
    if missing or broken or problems:
        raise ReferenceError(
            f"the solutions do not pass through their own tests: missing={missing[:10]} errors={dict(list(broken.items())[:5])} "
            f"load errors={problems} worker={run.worker_problems} output={run.output[-2000:]}"
        )
    return run.observations


def compute_references(registry: Registry, notebooks: dict[str, Path], seeds: dict[str, int], pool: WorkerPool | None = None) -> dict[str, dict]:
    """Run the solutions with ``seeds`` (on ``pool``'s reference workers, else a fresh pool)."""
    raw = {nb: path.read_bytes() for nb, path in notebooks.items()}
    for attempt in (1, 2):  # once more: a probe of the solutions that timed out on a loaded machine
        try:
            if pool is not None:
                return check_references(registry, notebooks, pool.run_reference(raw, seeds))
            with WorkerPool(registry, Limits(), 1) as fresh:
                return check_references(registry, notebooks, fresh.run_reference(raw, seeds))
        except ReferenceError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def graded_notebooks() -> list[str]:
    """The series numbers this installation grades: those in solutions/."""
    return sorted(solution_notebooks())


def load_references(
    registry: Registry, seeds: dict[str, int], notebooks: dict[str, Path] | None = None, use_cache: bool = True, pool: WorkerPool | None = None,
) -> dict[str, dict]:  # fmt: skip
    """Reference observations by case id for these grading seeds: cached, or computed (on ``pool`` when given)."""
    notebooks = notebooks if notebooks is not None else solution_notebooks(sorted({c.notebook for c in registry.cases}))
    path = cache_dir() / f"references-{_key(registry, notebooks, seeds)}.json"
    if use_cache and path.exists():
        try:
            private_folder(path.parent)  # a cache made before it was private becomes so
        except OSError:
            pass  # not ours to change (a read-only cache): read it as it is
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    references = compute_references(registry, notebooks, seeds, pool)
    try:
        write_private(path, json.dumps(references))
    except OSError:
        pass  # a read-only home: fine, just not cached
    return references


def private_folder(folder: Path) -> None:
    """Make ``folder`` (and its missing parents) and give it mode 0700."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as the course secret is kept: the file 0600 in a 0700 folder (made so if it was not).

    The references are the solutions' answers to the hidden tests: no other user of the
    machine (the sandbox's uid 65534 among them) may read them. The file is written
    under a temporary name (created 0600, never wider) and renamed into place.
    """
    private_folder(path.parent)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # an older file of that name keeps its mode through O_TRUNC
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
