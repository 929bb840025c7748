"""The test machinery shared by the notebooks' self-checks and the autograder.

A test of student work is a :class:`Case`: a *probe* and a *verify* step.

* The probe runs wherever the student's code runs (the notebook's kernel for a
  self-check, a sandboxed worker process for grading). It gets a :class:`Student`
  proxy over the student's definitions, builds seeded inputs, calls the student's
  functions and returns what came back. Probes hold inputs, never expected values.
* What the probe returns is turned into *plain data* by :func:`to_plain` (JSON-able
  numbers, strings, lists, dicts and tagged arrays): no pickles, no live objects, so
  an object that lies in ``__eq__`` never reaches the code that decides the score.
* The verify step runs on the trusted side. It compares the student's plain result
  (``got``) with the solution's plain result for the same probe (``ref``), and may
  check invariants or independent references (autograd, torch built-ins). It raises
  ``AssertionError`` with a message a student can act on; by default it is
  :func:`assert_matches`.

The same :class:`Case` objects serve :func:`check` (in the notebook) and the grader,
so a self-check and the autograder's public test are the same code.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

# --------------------------------------------------------------------------- #
# Plain-data codec
# --------------------------------------------------------------------------- #

MAX_PLAIN_BYTES = 32 * 1024 * 1024  # a probe's result larger than this is refused
MAX_DEPTH = 16
_ARRAY_KINDS = "biuf"  # bool, int, uint, float


class Opaque:
    """Stands for a value that is not plain data (a model, a generator, a lying object)."""

    def __init__(self, type_name: str, text: str = ""):
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.type_name}{': ' + self.text if self.text else ''}>"


def _type_name(obj: Any) -> str:
    cls = type(obj)
    module = getattr(cls, "__module__", "") or ""
    qual = getattr(cls, "__qualname__", cls.__name__)
    return qual if module in ("builtins", "__main__") or module.startswith("submission") else f"{module}.{qual}"


def _safe_repr(obj: Any, limit: int = 120) -> str:
    try:
        text = object.__repr__(obj)
    except BaseException:  # noqa: BLE001 - a hostile object may raise anything
        text = "?"
    return text[:limit]


def to_plain(obj: Any, _depth: int = 0, _budget: list | None = None) -> Any:
    """Encode ``obj`` as JSON-able plain data; only exact, known types keep their value.

    ndarray (numeric dtypes), torch.Tensor, numpy scalars, float, int, bool, str, None,
    list, tuple and dict are encoded with their value. Anything else, including
    subclasses of those types, becomes ``{"$object": type name}``: its value is not
    trusted because its methods are the student's.
    """
    budget = _budget if _budget is not None else [MAX_PLAIN_BYTES]
    if _depth > MAX_DEPTH:
        return {"$object": "too deeply nested"}
    cls = type(obj)
    if obj is None or cls is bool or cls is str:
        if cls is str:
            budget[0] -= len(obj)
            obj = obj if len(obj) <= 100_000 else obj[:100_000]
        return obj
    if cls is int:
        return obj if abs(obj) < 2**63 else float(obj)
    if cls is float:
        return obj
    if cls is np.ndarray:
        if obj.dtype.kind not in _ARRAY_KINDS:
            return {"$object": f"numpy.ndarray of dtype {obj.dtype}"}
        budget[0] -= obj.nbytes
        if budget[0] < 0:
            return {"$object": f"numpy.ndarray too large ({obj.nbytes} bytes)"}
        data = np.ndarray.tobytes(np.ascontiguousarray(obj))
        return {"$nd": obj.dtype.str, "shape": list(obj.shape), "b64": base64.b64encode(data).decode()}
    if isinstance(obj, np.generic) and cls.__module__ == "numpy":
        if obj.dtype.kind not in _ARRAY_KINDS:
            return {"$object": f"numpy scalar {cls.__name__}"}
        return {"$np": obj.dtype.str, "value": obj.item()}
    if cls in (list, tuple):
        budget[0] -= 8 * len(obj)
        if budget[0] < 0:
            return {"$object": f"{cls.__name__} too large ({len(obj)} items)"}
        items = [to_plain(x, _depth + 1, budget) for x in obj]
        return items if cls is list else {"$tuple": items}
    if cls is dict:
        budget[0] -= 16 * len(obj)
        if budget[0] < 0:
            return {"$object": f"dict too large ({len(obj)} items)"}
        pairs = []
        for key, value in dict.items(obj):
            if type(key) not in (str, int, float, bool, tuple) and key is not None:
                return {"$object": f"dict with a {type(key).__name__} key"}
            pairs.append([to_plain(key, _depth + 1, budget), to_plain(value, _depth + 1, budget)])
        return {"$dict": pairs}
    torch = sys.modules.get("torch")
    if torch is not None and cls in (torch.Tensor, torch.nn.Parameter):
        t = torch.Tensor.detach(obj).cpu()
        dtype = str(t.dtype)
        if t.is_complex() or t.dtype in (torch.bfloat16,):
            t = t.to(torch.float32)
        array = t.contiguous().numpy()
        budget[0] -= array.nbytes
        if budget[0] < 0:
            return {"$object": f"torch.Tensor too large ({array.nbytes} bytes)"}
        return {
            "$tensor": dtype,
            "nd": array.dtype.str,
            "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode(),
            "requires_grad": bool(obj.requires_grad),
        }
    return {"$object": _type_name(obj), "repr": _safe_repr(obj)}


def from_plain(plain: Any) -> Any:
    """Decode plain data made by :func:`to_plain` into numpy arrays, tensors and builtins."""
    if isinstance(plain, list):
        return [from_plain(x) for x in plain]
    if not isinstance(plain, dict):
        return plain
    if "$nd" in plain:
        data = base64.b64decode(plain["b64"])
        return np.frombuffer(data, dtype=np.dtype(plain["$nd"])).reshape(plain["shape"]).copy()
    if "$tensor" in plain:
        import torch

        data = base64.b64decode(plain["b64"])
        array = np.frombuffer(data, dtype=np.dtype(plain["nd"])).reshape(plain["shape"]).copy()
        tensor = torch.from_numpy(array)
        dtype = getattr(torch, plain["$tensor"].removeprefix("torch."), None)
        if isinstance(dtype, torch.dtype) and dtype != tensor.dtype:
            tensor = tensor.to(dtype)
        return tensor
    if "$np" in plain:
        return np.dtype(plain["$np"]).type(plain["value"])
    if "$tuple" in plain:
        return tuple(from_plain(x) for x in plain["$tuple"])
    if "$dict" in plain:
        return {_hashable(from_plain(k)): from_plain(v) for k, v in plain["$dict"]}
    if "$object" in plain:
        return Opaque(str(plain["$object"]), str(plain.get("repr", "")))
    raise ValueError(f"not plain data: keys {sorted(plain)[:5]}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(plain: Any) -> str:
    return json.dumps(plain, separators=(",", ":"), allow_nan=True)


# --------------------------------------------------------------------------- #
# Describing values for messages
# --------------------------------------------------------------------------- #


def describe(value: Any, width: int = 160) -> str:
    """A one-line, size-limited description of a value for a failure message."""
    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        body = np.array2string(value, precision=4, threshold=24, edgeitems=3, max_line_width=10_000, separator=", ")
        body = " ".join(body.split())
        extra = f", dtype={value.dtype}" if value.dtype not in (np.float64, np.int64, np.bool_) else ""
        text = f"array({body}{extra})" if value.ndim <= 1 else f"array(shape={value.shape}{extra}: {body})"
    elif torch is not None and isinstance(value, torch.Tensor):
        arr = value.detach().cpu().float().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
        body = " ".join(np.array2string(arr, precision=4, threshold=24, edgeitems=3, separator=", ").split())
        text = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}: {body})"
    elif isinstance(value, np.random.Generator):
        text = "rng"
    elif torch is not None and isinstance(value, torch.Generator):
        text = "generator"
    elif torch is not None and isinstance(value, torch.nn.Module):
        text = f"{type(value).__name__}(...)"
    elif isinstance(value, (list, tuple)):
        inner = ", ".join(describe(x, 40) for x in list(value)[:12])
        more = f", ... ({len(value)} items)" if len(value) > 12 else ""
        text = ("[%s%s]" if isinstance(value, list) else "(%s%s)") % (inner, more)
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k!r}: {describe(v, 40)}" for k, v in list(value.items())[:8]) + "}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
        text = text if any(c in text for c in ".eninf") else text + ".0"
    elif isinstance(value, np.generic):
        text = repr(value.item())
    elif isinstance(value, (str, int, bool, type(None))):
        text = repr(value)
    elif isinstance(value, Opaque):
        text = repr(value)
    else:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 4] + " ..."


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
        for entry in self._log[-6:]:
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


def draw_examples(strategy, count: int = 25, name: str = "examples", seed: int | None = None) -> list:
    """``count`` examples of a hypothesis strategy, the same ones for the same seed.

    For property cases: a probe draws inputs with hypothesis (seeded, so the student's
    run and the solution's run see identical inputs), calls the student's function on
    each, and the verify checks the property on every example. Inside a probe pass
    ``seed=student.seed(k)``: graded runs then draw from the course secret.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    found: list = []

    def collect(example):
        found.append(example)

    collect.__name__ = collect.__qualname__ = f"draw_{name}"  # the derandomized seed comes from here
    test = given(strategy)(collect)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    settings(
        derandomize=seed is None, max_examples=count, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )(test)()
    return found[:count]


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
    timeout: float = 10.0  # seconds of wall time for the probe in the grader's worker
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


def run_case(case: Case, namespace: dict, case_seed: int | None = None) -> dict:
    """Run ``case``'s probe on the definitions in ``namespace``; return an observation.

    ``case_seed`` is None for the public seeds (self-check), else the grading seed of
    this case (see :meth:`Student.seed`). The observation is plain data:
    ``{"value", "calls", "error", "seconds"}``.
    """
    student = Student(namespace, case_seed)
    start = time.perf_counter()
    try:
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
    called = "".join(f"\n  called: {c}" for c in calls[-3:])
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


# --------------------------------------------------------------------------- #
# Comparisons
# --------------------------------------------------------------------------- #


def rel_error(x: Any, y: Any) -> float:
    """max |x - y| / max(1e-8, |x| + |y|), elementwise: the CS231n check; about 1e-7 or less is right."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))) if x.size else 0.0


def _kind(value: Any) -> str:
    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        return "a numpy array"
    if torch is not None and isinstance(value, torch.Tensor):
        return "a torch tensor"
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, np.integer)):
        return "an int"
    if isinstance(value, (float, np.floating)):
        return "a float"
    return f"a {type(value).__name__}"


def _label(path: str) -> str:
    return f"`{path}`: " if path else ""


def assert_matches(got: Any, ref: Any, path: str = "", rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that ``got`` has ``ref``'s type, shape, dtype kind and values (within tolerance)."""
    torch = sys.modules.get("torch")
    if isinstance(ref, Opaque):
        return  # the solution returns a non-plain object here: nothing to compare
    if isinstance(got, Opaque):
        raise AssertionError(f"{_label(path)}expected {_kind(ref)}, got {got!r}.")
    if isinstance(ref, np.ndarray):
        if not isinstance(got, np.ndarray):
            raise AssertionError(f"{_label(path)}expected {_kind(ref)} of shape {ref.shape}, got {_kind(got)}: {describe(got)}.")
        _compare_arrays(got, ref, path, rtol, atol)
    elif torch is not None and isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{_label(path)}expected {_kind(ref)} of shape {tuple(ref.shape)}, got {_kind(got)}: {describe(got)}.")
        _compare_arrays(got.detach().numpy(), ref.detach().numpy(), path, rtol, atol, tensor=True)
    elif isinstance(ref, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)) or bool(got) != bool(ref):
            raise AssertionError(f"{_label(path)}expected {ref!r}, got {describe(got)}.")
    elif isinstance(ref, (int, np.integer)):
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool) or int(got) != int(ref):
            raise AssertionError(f"{_label(path)}expected the int {int(ref)}, got {describe(got)} ({_kind(got)}).")
    elif isinstance(ref, (float, np.floating)):
        if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind == "f":
            got = got.item()
        if not isinstance(got, (float, int, np.floating, np.integer)) or isinstance(got, bool):
            raise AssertionError(f"{_label(path)}expected a float (about {float(ref):.6g}), got {_kind(got)}: {describe(got)}.")
        if not _close(float(got), float(ref), rtol, atol):
            raise AssertionError(f"{_label(path)}expected {float(ref):.6g}, got {float(got):.6g}.")
    elif isinstance(ref, str):
        if got != ref:
            raise AssertionError(f"{_label(path)}expected {ref!r}, got {describe(got)}.")
    elif isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            raise AssertionError(f"{_label(path)}expected a {type(ref).__name__} of {len(ref)} items, got {_kind(got)}: {describe(got)}.")
        if len(got) != len(ref):
            raise AssertionError(
                f"{_label(path)}expected {len(ref)} items, got {len(got)}.\n  expected: {describe(ref)}\n  got:      {describe(got)}"
            )
        if all(isinstance(r, str) for r in ref) and list(got) != list(ref):
            first = next(i for i, (g, r) in enumerate(zip(got, ref)) if g != r)
            raise AssertionError(
                f"{_label(path)}item {first} differs: expected {ref[first]!r}, got {describe(got[first])}."
                f"\n  expected: {describe(ref)}\n  got:      {describe(got)}"
            )
        for i, (g, r) in enumerate(zip(got, ref)):
            assert_matches(g, r, f"{path}[{i}]" if path else f"item {i}", rtol, atol)
    elif isinstance(ref, dict):
        if not isinstance(got, dict):
            raise AssertionError(f"{_label(path)}expected a dict, got {_kind(got)}.")
        for key, r in ref.items():
            if key not in got:
                raise AssertionError(f"{_label(path)}missing entry {key!r}.")
            assert_matches(got[key], r, f"{path}.{key}" if path else str(key), rtol, atol)
    elif ref is None:
        if got is not None:
            raise AssertionError(f"{_label(path)}expected None, got {describe(got)}.")
    else:
        raise AssertionError(f"{_label(path)}cannot compare values of type {type(ref).__name__}.")


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def _compare_arrays(got: np.ndarray, ref: np.ndarray, path: str, rtol: float, atol: float, tensor: bool = False) -> None:
    if got.shape != ref.shape:
        raise AssertionError(
            f"{_label(path)}expected shape {tuple(ref.shape)}, got shape {tuple(got.shape)}."
            f"\n  expected: {describe(ref)}\n  got:      {describe(got)}"
        )
    kinds = {"b": "bool", "i": "integer", "u": "integer", "f": "floating-point"}
    if kinds.get(got.dtype.kind) != kinds.get(ref.dtype.kind):
        raise AssertionError(f"{_label(path)}expected {'an' if ref.dtype.kind in 'iu' else 'a'} {kinds.get(ref.dtype.kind)} dtype like {ref.dtype}, got dtype {got.dtype}.")
    if ref.dtype.kind == "f":
        tol = max(rtol, 1e-4) if got.dtype.itemsize < 8 or ref.dtype.itemsize < 8 else rtol
        ok = np.isclose(got, ref, rtol=tol, atol=max(atol, tol * 1e-2), equal_nan=True)
    else:
        ok = got == ref
    if not np.all(ok):
        bad = np.argwhere(~ok)
        idx = tuple(int(i) for i in bad[0])
        where = f" at index {idx}" if idx else ""
        n_bad = int(bad.shape[0])
        err = ""
        if ref.dtype.kind == "f":
            finite = np.isfinite(got) & np.isfinite(ref)
            if np.any(finite):
                err = f"; max abs error {float(np.max(np.abs(got[finite] - ref[finite]))):.3g}"
            if not np.all(np.isfinite(got) == np.isfinite(ref)):
                err += "; some entries are nan or inf where they should not be (or the reverse)"
        raise AssertionError(
            f"{_label(path)}{n_bad} of {ref.size} values differ{err}; first{where}: expected "
            f"{ref[idx] if idx else ref.item() if ref.size == 1 else ref}, got {got[idx] if idx else got.item() if got.size == 1 else got}."
            f"\n  expected: {describe(ref)}\n  got:      {describe(got)}"
        )


# --------------------------------------------------------------------------- #
# Suites on disk and the self-check entry point
# --------------------------------------------------------------------------- #

SELFCHECK_DIR = Path(__file__).resolve().parent / "selfcheck"
PUBLIC_REFERENCES = SELFCHECK_DIR / "references.json"


def public_suites() -> list[Suite]:
    """The public suites, one per notebook, from helpers/selfcheck/nbNN.py."""
    import importlib

    suites = []
    for path in sorted(SELFCHECK_DIR.glob("nb[0-9][0-9].py")):
        module = importlib.import_module(f"helpers.selfcheck.{path.stem}")
        suites.append(module.suite)
    return suites


def _load_public_references() -> dict:
    if not PUBLIC_REFERENCES.exists():
        return {}
    return json.loads(PUBLIC_REFERENCES.read_text())


def check(function: str, namespace: dict | None = None) -> "CheckReport":
    """Run the public tests of one graded function on the notebook's definitions.

    Prints a short report (what passed, and for each failure the input, what was
    expected, what came back and a hint) and returns the verdicts. The grader runs
    these same tests and hidden ones besides.
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    suites = [s for s in public_suites() if any(c.function == function for c in s.cases)]
    if not suites:
        known = sorted({c.function for s in public_suites() for c in s.cases})
        raise KeyError(f"no self-check is named {function!r}; known: {', '.join(known)}")
    # A name graded in two notebooks (generate: 02 and 07): use the notebook whose other
    # graded names this namespace defines.
    suite = max(suites, key=lambda s: sum(c.function in namespace for c in s.cases))
    cases = [c for c in suite.cases if c.function == function]
    references = _load_public_references()
    verdicts = []
    for case in cases:
        observation = run_case(case, namespace)
        observation = json.loads(dumps(observation))  # the same plain-data round trip as grading
        verdicts.append(judge(case, observation, references.get(case.id)))
    _print_report(function, verdicts)
    if os.environ.get("NBGRADER_EXECUTION") and not all(v.passed for v in verdicts):
        raise AssertionError(f"{function}: {sum(not v.passed for v in verdicts)} self-check(s) failed")
    return CheckReport(verdicts)


class CheckReport(list):
    """The verdicts of one check() call; shows nothing more in a notebook (the report is printed)."""

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self)

    def _ipython_display_(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{sum(v.passed for v in self)} of {len(self)} self-checks passed>"


def _print_report(function: str, verdicts: list[Verdict]) -> None:
    passed = sum(v.passed for v in verdicts)
    mark = "\u2714" if passed == len(verdicts) else "\u2718"
    lines = [f"{mark} {function}: {passed} of {len(verdicts)} self-checks passed."]
    for v in verdicts:
        if not v.passed:
            lines.append(f"  \u2718 {v.case.title} ({v.case.name})")
            lines.extend("    " + line for line in v.message.splitlines())
    if passed == len(verdicts):
        lines[0] += " (The grader also runs hidden tests.)"
    print("\n".join(lines))
