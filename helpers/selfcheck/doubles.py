"""Watching a graded function's callee while the caller runs (probes of notebooks 04-06).

One mistake should cost once: when ``scaled_dot_product_attention`` calls the student's
``causal_mask`` and the mask is wrong, the attention is not at fault. So a probe runs the
caller twice:

* **watched**: the student's own callee, with every call recorded (arguments, result, or the
  exception it raised) as plain data for the verify step;
* **with a stand-in**: the callee replaced, for the duration of the call only, by a *test
  double*: a seeded function with the callee's signature and shapes that is deliberately NOT
  the graded function (a random mask, a made-up turn of the plane, seeded head outputs). The
  solution's run of the same probe sees the same double, so the verify compares the caller's
  results with the solution's: a caller that is right given its callee passes, whatever the
  callee does.

Nothing here computes a graded function; the doubles only have the callee's shapes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable


def _snapshot(value: Any) -> Any:
    """A copy of arrays and tensors (a caller may change them in place after the call)."""
    import sys

    import numpy as np

    torch = sys.modules.get("torch")
    if type(value) is np.ndarray:
        return value.copy()
    if torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter):
        return torch.Tensor.detach(value).clone()
    if type(value) in (list, tuple):
        return type(value)(_snapshot(v) for v in value)
    return value


def _globals_of(obj: Any) -> dict | None:
    """The namespace in which ``obj``'s code looks up global names (a function's, or a class's forward's)."""
    if isinstance(obj, type):
        obj = obj.__dict__.get("forward") or obj.__dict__.get("__init__")
    space = getattr(obj, "__globals__", None)
    return space if type(space) is dict else None


class CalleeRaised(Exception):
    """Marks an exception that the watched callee raised (the caller is not at fault)."""


@contextmanager
def watching(student, caller: str, callee: str, stand_in: Callable | None = None):
    """While the block runs, the global name ``callee`` seen by ``caller``'s code goes through a recorder.

    Yields a list of records ``{"args": [...], "kwargs": {...}, "result": ...}`` (or
    ``"raised": "Type: message"``). ``stand_in``: a test double called instead of the
    student's callee. The name is restored when the block ends, whatever happens.
    """
    records: list = []
    try:
        space = _globals_of(student.get(caller))
    except Exception:  # noqa: BLE001 - a missing caller: nothing to watch
        space = None
    if space is None or callee not in space:
        yield records
        return
    original = space[callee]
    target = stand_in if stand_in is not None else original

    def recorder(*args, **kwargs):
        entry = {"args": list(_snapshot(args)), "kwargs": {k: _snapshot(v) for k, v in kwargs.items()}}
        records.append(entry)
        try:
            result = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - recorded, then raised on
            entry["raised"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise
        entry["result"] = _snapshot(result)
        return result

    recorder.__name__ = getattr(original, "__name__", callee)
    space[callee] = recorder
    try:
        yield records
    finally:
        space[callee] = original


def run_watched(student, caller: str, callee: str, call: Callable[[], Any], stand_in: Callable | None = None) -> dict:
    """Run ``call()`` (which calls ``caller``) with ``callee`` watched; return plain facts.

    ``{"result": ..., "calls": [...], "error": str | None}``. An exception raised once the
    callee has been called (inside it, or in the caller on what it returned) is kept as
    ``"error"``: the verify then judges the caller by its stand-in run. An exception before
    any call of the callee (a stub's NotImplementedError) propagates as usual.
    """
    with watching(student, caller, callee, stand_in) as records:
        try:
            result = call()
        except Exception as exc:
            if not records or stand_in is not None:
                raise
            raised = next((r["raised"] for r in records if "raised" in r), None)
            where = f"your {callee} raised {raised}" if raised else f"{type(exc).__name__}: {str(exc)[:300]} (after calling {callee})"
            return {"result": None, "calls": records, "error": where}
    return {"result": result, "calls": records, "error": None}


def callee_results_differ(got_calls: list, ref_calls: list, same: Callable[[Any, Any], bool]) -> bool:
    """True when the callee, given the same arguments as in one of the solution's calls, gave another result (or raised)."""
    for g in got_calls or []:
        for r in ref_calls or []:
            try:
                if not same(g["args"], r["args"]):
                    continue  # the caller passed other arguments: that is the caller's doing, not the callee's
                if g.get("raised") and not r.get("raised"):
                    return True
                if not g.get("raised") and not same(g.get("result"), r.get("result")):
                    return True
            except Exception:  # noqa: BLE001 - malformed records say nothing
                continue
    return False


def same_values(a: Any, b: Any) -> bool:
    """Plain equality of decoded records (arrays and tensors elementwise, within 1e-6)."""
    import sys

    import numpy as np

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(torch.allclose(a.double(), b.double(), rtol=1e-6, atol=1e-9, equal_nan=True)) if a.is_floating_point() else bool(torch.equal(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def fix_callee_first(callee: str) -> str:
    return f"\n  this uses your {callee}, which fails its own checks; fix {callee} first."


class Twin:
    """Calls the student's ``caller`` twice per use: with ``callee`` replaced by a stand-in (on copies of the
    arguments), then as is with ``callee`` watched. ``facts()`` is the plain data the verify needs."""

    def __init__(self, student, caller: str, callee: str, stand_in: Callable, keep_calls: int = 4):
        self.student, self.caller, self.callee, self.stand_in, self.keep = student, caller, callee, stand_in, keep_calls
        self.stand: dict = {}
        self.used = False
        self.failed = False
        self.calls: list = []
        self.errors: dict = {}

    def __call__(self, key: str, *args, **kwargs):
        fn = self.student.get(self.caller)
        copies, kw = _snapshot(args), {k: _snapshot(v) for k, v in kwargs.items()}
        try:
            run = run_watched(self.student, self.caller, self.callee, lambda: fn(*copies, **kw), self.stand_in)
            self.stand[key] = run["result"]
            self.used = self.used or bool(run["calls"])
        except Exception:  # noqa: BLE001 - the watched run decides then
            self.failed = True
        log = getattr(self.student, "_log", None)  # the call, for the 'called:' lines of a failure message
        if isinstance(log, list):
            log.append((self.caller, args, kwargs))
        else:
            self.student.note(f"{self.caller}(...)")
        run = run_watched(self.student, self.caller, self.callee, lambda: fn(*args, **kwargs))
        self.calls.extend({"args": c["args"], "result": c.get("result"), "raised": c.get("raised")} for c in run["calls"][: self.keep])
        del self.calls[self.keep :]
        if run["error"]:
            self.errors[key] = run["error"]
        return run["result"]

    def facts(self) -> dict:
        return {"stand-in": self.stand, "stand-in used": self.used and not self.failed, "callee calls": self.calls, "errors": self.errors}


def given_callee(check: Callable[[], None], got: dict, ref: dict, callee: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Run ``check()``; when it fails, pass anyway if the caller's stand-in runs equal the solution's (the caller
    is right given its callee: the mistake is the callee's), else fail, naming the callee when its results differ."""
    from helpers.checking import assert_matches

    try:
        if got.get("errors"):
            key, message = next(iter(got["errors"].items()))
            raise AssertionError(f"{key}: {message}")
        check()
    except AssertionError as first:
        if got.get("stand-in used") is True and ref.get("stand-in used") is True:
            try:
                mine, theirs = got.get("stand-in"), ref.get("stand-in")
                if not isinstance(mine, dict) or sorted(mine) != sorted(theirs):
                    raise AssertionError("stand-in runs")
                for key in theirs:
                    assert_matches(mine[key], theirs[key], key, rtol=rtol, atol=atol)
                return
            except AssertionError:
                pass
        wrong = callee_results_differ(got.get("callee calls"), ref.get("callee calls"), same_values)
        raise AssertionError(str(first) + (fix_callee_first(callee) if wrong else "")) from None
