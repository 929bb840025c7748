"""Cases and suites: a probe, a verify step and its points.

* The probe runs wherever the student's code runs (the notebook's kernel for a
  self-check, a sandboxed worker process for grading). It gets a :class:`Student`
  proxy over the student's definitions, builds seeded inputs (``student.seed(k)``),
  calls the student's functions and returns what came back. Probes hold inputs, never
  expected values.
* The verify step runs on the trusted side. It compares the student's plain result
  (``got``) with the solution's plain result for the same probe (``ref``), reads
  inputs only from ``ref``, and may check invariants or independent references. It
  raises ``AssertionError`` with a message a student can act on; by default it is
  :func:`helpers.compare.assert_matches`.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .codec import from_plain, to_plain
from .compare import assert_matches, describe

# --------------------------------------------------------------------------- #
# The student proxy used by probes
# --------------------------------------------------------------------------- #


class MissingDefinition(Exception):
    """The notebook does not define a name the test needs: ``MissingDefinition(name, close_name)``.

    ``close_name`` is the notebook's definition whose name is closest to ``name`` (a rename
    or a misspelling, found with difflib), or "".
    """


def close_name(name: str, namespace: dict) -> str:
    """The function or class of ``namespace`` whose name is closest to ``name`` (difflib), or ""."""
    import difflib
    import types

    try:
        defined = [k for k, v in dict.items(namespace) if type(k) is str and not k.startswith("_") and callable(v) and not isinstance(v, types.ModuleType)]
        by_lower = {k.lower(): k for k in defined}
        found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    except Exception:  # noqa: BLE001 - a hostile namespace
        return ""
    return by_lower[found[0]] if found else ""


CALLS_SHOWN = 3  # the last calls (and notes) a failure message shows: only these are described


class Student:
    """Gives a probe the student's definitions and records each call for messages.

    ``student.softmax(s)`` calls the student's ``softmax`` and notes
    ``softmax(array([...]))``; ``student.get("WordEmbedLM")`` returns the raw object.
    """

    def __init__(self, namespace: dict, case_seed: int | None = None):
        self._namespace = namespace
        self._case_seed = case_seed  # None: the public seeds (self-check); else drawn from the course secret
        self._log: list = []  # notes (str) and calls (name, args, kwargs), described lazily

    def seed(self, k: int) -> int:
        """The seed a probe uses for its k-th random input.

        In the self-check it is ``k`` itself (the public, fixed seeds). When grading it is
        derived from the course secret (``case_seed``), so graded inputs cannot be known
        in advance. Probes draw every random input through it::

            rng = np.random.default_rng(student.seed(21))
            torch.manual_seed(student.seed(0))
        """
        if self._case_seed is None:
            return int(k)
        return int(np.random.SeedSequence([self._case_seed, int(k)]).generate_state(1)[0]) & 0x7FFFFFFF

    @property
    def calls(self) -> list[str]:
        """The last few calls and notes, described for a failure message."""
        out = []
        for entry in self._log[-CALLS_SHOWN:]:
            if isinstance(entry, str):
                out.append(entry)
            else:
                name, args, kwargs = entry
                shown = [describe(a, 90) for a in args] + [f"{k}={describe(v, 60)}" for k, v in kwargs.items()]
                out.append(f"{name}({', '.join(shown)})")
        return out

    def get(self, name: str) -> Any:
        if name not in self._namespace:
            raise MissingDefinition(name, close_name(name, self._namespace))
        return self._namespace[name]

    def note(self, text: str) -> None:
        """Add a line to the 'called' part of a failure message."""
        self._log.append(text)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        obj = self.get(name)
        if not callable(obj):
            return obj

        def recorded(*args, **kwargs):
            # Describing arguments costs more than many calls: keep them, describe the last few at the end.
            self._log.append((name, args, kwargs))
            del self._log[:-12]
            return obj(*args, **kwargs)

        return recorded


def edge_floats(rng: np.random.Generator, low: float, high: float, size: int | tuple | None = None, edge: float = 0.25) -> Any:
    """Floats in [low, high] for property cases, with the values where code breaks drawn often.

    Each value is uniform in [low, high], except that about ``edge`` of them are an edge:
    ``low``, ``high``, 0 (when inside), or a value repeated from earlier in the same draw
    (ties). What a property-testing library's engine would try first, at numpy's cost: a
    probe draws with ``np.random.default_rng(student.seed(k))``, so the student's run and the
    solution's draw identical inputs. ``size`` None: one float.
    """
    shape = () if size is None else size
    values = rng.uniform(low, high, size=shape).ravel()
    edges = [low, high] + ([0.0] if low < 0 < high else [])
    for i in np.flatnonzero(rng.random(values.size) < edge):
        choice = int(rng.integers(len(edges) + (i > 0)))
        values[i] = edges[choice] if choice < len(edges) else values[int(rng.integers(i))]
    return float(values[0]) if size is None else values.reshape(shape)


# --------------------------------------------------------------------------- #
# Cases and suites
# --------------------------------------------------------------------------- #


@dataclass
class Case:
    """One test of one graded function: a probe, a verify step and its points."""

    notebook: str  # series number, "01" .. "07"
    function: str  # the graded name the test is about, e.g. "softmax"
    name: str  # the probe's function name, e.g. "stable_at_large_scores"
    points: float
    visibility: str  # "public" (self-check + grader) or "hidden" (grader only)
    probe: Callable[[Student], Any]
    hint: str = ""
    timeout: float = 10.0  # seconds of CPU time for the probe in the grader's worker (3x that of wall time: sleeping code)
    verify_fn: Callable[[Any, Any], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.notebook}/{self.function}/{self.name}"

    @property
    def title(self) -> str:
        doc = (self.probe.__doc__ or self.name.replace("_", " ")).strip().splitlines()[0]
        return doc.rstrip(".")

    def verify(self, fn: Callable[[Any, Any], None]) -> "Case":
        """Decorator: replace the default comparison with the solution by ``fn(got, ref)``."""
        self.verify_fn = fn
        return self

    def judge(self, got: Any, ref: Any) -> None:
        """Raise AssertionError with a message when ``got`` is not acceptable."""
        if self.verify_fn is None:
            assert_matches(got, ref)
        else:
            self.verify_fn(got, ref)


@dataclass
class Suite:
    """The cases of one notebook at one visibility; a test module defines one as ``suite``."""

    notebook: str
    visibility: str = "public"
    cases: list[Case] = field(default_factory=list)

    def case(self, function: str, points: float = 1.0, hint: str = "", timeout: float = 10.0):
        def register(probe: Callable[[Student], Any]) -> Case:
            case = Case(self.notebook, function, probe.__name__, float(points), self.visibility, probe, hint, timeout)
            if any(c.id == case.id for c in self.cases):
                raise ValueError(f"duplicate case {case.id}")
            self.cases.append(case)
            return case

        return register


# --------------------------------------------------------------------------- #
# Running a probe (student side) and judging it (trusted side)
# --------------------------------------------------------------------------- #


_CELL_FILE = re.compile(r"^<notebook [^>]*>$|^<ipython-input-[^>]*>$|/ipykernel_\d+/\d+\.py$")


def _cell_start(filename: str) -> str:
    """The first non-blank line of a notebook cell (the grader's worker and IPython register cells in linecache)."""
    import linecache

    for number in range(1, 50):
        line = linecache.getline(filename, number)
        if not line:
            return ""
        if line.strip():
            text = line.strip()
            return text if len(text) <= 80 else text[:77] + "..."
    return ""


def _student_frames(exc: BaseException) -> str:
    """Where in the student's notebook ``exc`` was raised, by function name and the cell's first line.

    "in `encode` (the cell starting `def encode(tokens, vocab):`), line 3: return ids": a
    location Jupyter shows, never a count of cells. Methods are named with their class
    (`MiniGPT.forward`); code outside any function gives "in the cell starting ...".
    """
    tb, found = exc.__traceback__, None
    while tb is not None:
        if _CELL_FILE.search(tb.tb_frame.f_code.co_filename):
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    code, lineno = found.tb_frame.f_code, found.tb_lineno
    import linecache

    start = _cell_start(code.co_filename)
    cell = f"the cell starting `{start}`" if start else "its cell"
    name = getattr(code, "co_qualname", code.co_name)
    name = name.replace(".<locals>", "")
    where = f"in the cell starting `{start}`" if name == "<module>" and start else f"in `{name}` ({cell})"
    line = linecache.getline(code.co_filename, lineno).strip()
    return f"{where}, line {lineno}" + (f": {line[:160]}" if line else "")


_RAISED_IN = re.compile(r"in `(\w+)")


def describe_error(exc: BaseException) -> dict:
    name = type(exc).__name__
    where = _student_frames(exc)
    if isinstance(exc, MissingDefinition):
        missing = exc.args[0] if exc.args else "?"
        close = exc.args[1] if len(exc.args) > 1 else ""
        message = f"`{missing}` is not defined in your notebook" + (f"; did you mean `{close}`?" if close else ".") + (
            " Keep the graded names and signatures exactly as given (did you rename or delete it, or does its cell have a syntax error?)"
        )
    elif isinstance(exc, NotImplementedError):
        raised_in = _RAISED_IN.match(where)
        who = f"`{raised_in.group(1)}`" if raised_in else "the function"
        message = f"not implemented yet: {who} still raises NotImplementedError (replace the stub with your code)."
    elif isinstance(exc, RecursionError):
        message = "RecursionError: maximum recursion depth exceeded."
    else:
        text = str(exc)
        message = f"{name}: {text[:600]}" if text else name
    return {"type": name, "message": message, "where": where}


GLOBAL_GENERATORS_K = 999_983  # the k of Student.seed that seeds the global generators during a probe (no probe draws with it)


@contextlib.contextmanager
def seeded_global_generators(seed: int, restore: bool = True):
    """numpy's and torch's global generators seeded with ``seed`` inside, put back as they were after.

    A probe that builds a student's nn.Module (default initialisation) draws from torch's global
    generator: seeded per case, its observation depends neither on the cases run before it (the
    solution's reference and the student's run agree whatever the order) nor on the machine's
    state; and a check() in the notebook leaves the notebook's own random stream as it was.
    Only torch's CPU generator is seeded: ``torch.manual_seed`` would reseed a GPU's too (CUDA,
    Apple's MPS), which ``fork_rng(devices=[])`` does not put back. ``restore`` False (the
    grader's throwaway child, where nothing runs after the cases) skips putting them back,
    which costs more than the seeding.
    """
    torch = sys.modules.get("torch")
    with contextlib.ExitStack() as putting_back:
        if restore:
            putting_back.callback(np.random.set_state, np.random.get_state())
            if torch is not None:
                putting_back.enter_context(torch.random.fork_rng(devices=[]))
        np.random.seed(seed)
        if torch is not None:
            torch.default_generator.manual_seed(seed)
        yield


def run_case(case: Case, namespace: dict, case_seed: int | None = None, restore_generators: bool = True) -> dict:
    """Run ``case``'s probe on the definitions in ``namespace``; return an observation.

    ``case_seed`` is None for the public seeds (self-check), else the grading seed of
    this case (see :meth:`Student.seed`). The observation is plain data:
    ``{"value", "calls", "error", "seconds"}``. ``restore_generators`` False leaves the
    global generators as the case left them (see :func:`seeded_global_generators`).
    """
    student = Student(namespace, case_seed)
    start = time.perf_counter()
    try:
        with seeded_global_generators(student.seed(GLOBAL_GENERATORS_K), restore_generators):
            value = to_plain(case.probe(student))
        error = None
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit too
        value, error = None, describe_error(exc)
    try:
        calls = student.calls
    except Exception:  # noqa: BLE001 - describing a hostile argument may fail
        calls = []
    return {"value": value, "calls": calls, "error": error, "seconds": time.perf_counter() - start}


@dataclass
class Verdict:
    case: Case
    passed: bool
    message: str
    kind: str = ""  # why it failed: "error" (the student's code raised), "wrong", "unreadable", "not run", "grader"
    error_type: str = ""  # kind "error": the exception's type name (as the student's process reported it)
    where: str = ""  # kind "error": the student's code location (as the student's process reported it)


def judge(case: Case, got_obs: dict | None, ref_obs: dict | None) -> Verdict:
    """Compare a student's observation with the solution's; never raises."""
    if ref_obs is None or ref_obs.get("error"):
        detail = (ref_obs or {}).get("error") or {"message": "no reference"}
        return Verdict(case, False, f"grader error: the solution's result is missing ({detail['message']}).", kind="grader")
    if got_obs is None:
        return Verdict(case, False, "not run: no result came back for this test.", kind="not run")
    calls = got_obs.get("calls") or []
    called = "".join(f"\n  called: {c}" for c in calls[-CALLS_SHOWN:])
    if got_obs.get("error"):
        err = got_obs["error"]
        where = f"\n  {err['where']}" if err.get("where") else ""
        hint = f"\n  hint: {case.hint}" if case.hint and err.get("type") not in ("NotImplementedError",) else ""
        return Verdict(case, False, f"{err['message']}{called}{where}{hint}", "error", str(err.get("type", "")), str(err.get("where", "")))
    try:
        got, ref = from_plain(got_obs.get("value")), from_plain(ref_obs.get("value"))
        case.judge(got, ref)
    except AssertionError as exc:
        hint = f"\n  hint: {case.hint}" if case.hint else ""
        return Verdict(case, False, f"{str(exc).strip() or 'wrong result'}{called}{hint}", kind="wrong")
    except Exception as exc:  # noqa: BLE001 - malformed student output must not crash the grader
        return Verdict(case, False, f"could not check the result ({type(exc).__name__}: {exc}){called}", kind="unreadable")
    return Verdict(case, True, "passed")
