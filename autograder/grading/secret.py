"""The course secret: where graded inputs come from.

Every probe draws its random inputs through ``student.seed(k)``. In the self-check
that is ``k`` itself (public, fixed seeds). When grading, each case gets a seed derived
from this secret (HMAC of the case id), so the inputs of a graded case cannot be known
before grading, and a table of the public answers earns only the cases whose data the
lecture fixes (the slide corpus).

The secret is fixed per course so that regrading is reproducible. It is read from
``$COURSE_KIT_SECRET`` or from the file ``course-secret`` at the course root (made on
first use, mode 600, never committed: .gitignore lists it). It never enters the
release, the student package or the sandbox: the sandbox receives only the seeds of
the job it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from autograder.course import ROOT

SECRET_ENV = "COURSE_KIT_SECRET"
SECRET_FILE = ROOT / "course-secret"


def course_secret(path: Path = SECRET_FILE) -> bytes:
    """The secret's bytes; made (random, 32 bytes) and saved on first use."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env.encode()
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise RuntimeError(f"{path} does not hold a hex secret; delete it to make a new one (grades then change)") from exc
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value.hex() + "\n")
    return value


def case_seed(case_id: str, secret: bytes | None = None, student: str = "") -> int:
    """The grading seed of one case for one student: 63 bits of HMAC-SHA256(secret, case id, student).

    ``student`` is the student's identity (their folder's name in grade-all, the
    Gradescope user id); the two are joined with a NUL so no pair of them collides.
    """
    key = secret if secret is not None else course_secret()
    digest = hmac.new(key, case_id.encode() + b"\0" + student.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def student_seeds(case_ids, student: str, secret: bytes | None = None) -> dict[str, int]:
    """Case id -> grading seed for one student (the public ones too: only the self-check uses seed(k) == k)."""
    key = secret if secret is not None else course_secret()
    return {case_id: case_seed(case_id, key, student) for case_id in case_ids}


def secret_fingerprint(secret: bytes | None = None) -> str:
    """A one-way fingerprint of the secret, for cache keys (never the secret itself)."""
    key = secret if secret is not None else course_secret()
    return hashlib.sha256(b"course-kit fingerprint\0" + key).hexdigest()[:16]
