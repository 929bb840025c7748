"""Watching or replacing a graded function's callee while the caller runs: the one mechanism, for every notebook.

One mistake should cost once, and a stub should earn nothing: when ``generate`` calls the
student's ``softmax``, or ``scaled_dot_product_attention`` their ``causal_mask``, the caller
is judged on its own step. So a probe runs the caller twice (:class:`Doubled`):

* **with doubles**: each graded callee replaced, for the duration of the call only, by a
  *test double*: a seeded, non-degenerate function with the callee's signature and shapes
  that is deliberately NOT the graded function (a made-up distribution, a random mask, a
  made-up turn of the plane, seeded gradients). The solution's run of the same probe meets
  the same doubles, so the verify compares the caller's results with the solution's: a right
  caller passes and a wrong one fails, whatever the student's callee does (right, wrong or a
  stub): the student's own callee never decides which checks the caller faces;
* **watched**: the student's own callees, every call recorded (arguments, result, or the
  exception raised); the recorded calls are made again outside the caller, so a callee that
  behaves differently under its caller than alone is charged in its own case.

Class callees (07's attention and blocks) are replaced with :func:`standing_in`. Nothing
here computes a graded function; the doubles only have the callee's shapes.
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
    if isinstance(value, np.random.Generator):
        import copy

        return copy.deepcopy(value)  # the same state, drawn from independently (a doubled run leaves the real rng alone)
    return value


def _plain(value: Any) -> Any:
    """A record made plain data: a generator becomes the text "<rng>"."""
    import numpy as np

    if isinstance(value, np.random.Generator):
        return "<rng>"
    if type(value) in (list, tuple):
        return [_plain(v) for v in value]
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


def _globals_of(obj: Any) -> dict | None:
    """The namespace in which ``obj``'s code looks up global names (a function's, or a class's forward's)."""
    if isinstance(obj, type):
        obj = obj.__dict__.get("forward") or obj.__dict__.get("__init__")
    space = getattr(obj, "__globals__", None)
    return space if type(space) is dict else None


@contextmanager
def replacing(student, caller: str, callees: dict):
    """While the block runs, each global name of ``callees`` seen by ``caller``'s code goes through a recorder.

    ``callees``: ``{name: double or None}``; a double (a seeded function with the callee's
    signature and shapes, deliberately not the graded function) is called instead of the
    student's callee, None calls the student's own. Yields ``{name: records}``, each record
    ``{"args": [...], "kwargs": {...}, "result": ...}`` (or ``"raised": "Type: message"``).
    Every name is restored when the block ends, whatever happens. The one place the suites
    watch or replace a callee (04-07 and 02-03 alike).
    """
    records: dict = {name: [] for name in callees}
    try:
        space = _globals_of(student.get(caller))
    except Exception:  # noqa: BLE001 - a missing caller: nothing to watch
        space = None
    saved: dict = {}
    if space is not None:
        for name, double in callees.items():
            if name not in space:
                continue
            original = space[name]
            saved[name] = original
            space[name] = _recorder(records[name], double if double is not None else original, getattr(original, "__name__", name))
    try:
        yield records
    finally:
        for name, original in saved.items():
            space[name] = original


def _recorder(log: list, target: Callable, name: str) -> Callable:
    def recorder(*args, **kwargs):
        entry = {"args": list(_snapshot(args)), "kwargs": {k: _snapshot(v) for k, v in kwargs.items()}}
        log.append(entry)
        try:
            result = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - recorded, then raised on
            entry["raised"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise
        entry["result"] = _snapshot(result)
        return result

    recorder.__name__ = name
    return recorder


@contextmanager
def watching(student, caller: str, callee: str, stand_in: Callable | None = None):
    """:func:`replacing` for one callee: yields its list of records."""
    with replacing(student, caller, {callee: stand_in}) as records:
        yield records[callee]


@contextmanager
def standing_in(student, name: str, replacement):
    """For the length of the block, the notebook's global ``name`` is ``replacement`` (a class double, 07); restored after."""
    namespace = student._namespace  # the globals the student's classes look their callees up in
    missing = object()
    old = namespace.get(name, missing)
    namespace[name] = replacement
    try:
        yield
    finally:
        if old is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = old


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


def callee_wrong_too(callee: str) -> str:
    """Said where a caller failed beside a double of ``callee``: its own mistake (the double decided), not the callee's."""
    return f"\n  (your {callee} gives other results than the solution's too: its own checks say where)"


class Doubled:
    """Calls the student's ``caller`` twice per use; ``facts()`` is the plain data the verify needs.

    1. **doubled**, on copies of the arguments: every callee named in ``doubles`` replaced by
       its seeded double. The caller is judged on this run wherever it called a double: the
       solution's run of the same probe meets the same doubles, so a caller that does its own
       step right passes whatever the student's callees do, and a wrong one fails beside a
       correct, a stubbed or a wrong callee alike.
    2. **real**: the student's own callees, watched; the result is returned (and shown when
       the caller calls no callee, or a different set of them than the solution does). The
       first ``keep_calls`` calls of each callee are then made again outside the caller, on
       the same recorded arguments: a callee that answers differently under its caller than
       alone is caught by :func:`check_same_alone` in the callee's own case.
    """

    def __init__(self, student, caller: str, doubles: dict, keep_calls: int = 4):
        self.student, self.caller, self.doubles, self.keep = student, caller, dict(doubles), keep_calls
        self.stand: dict = {}
        self.used: dict = {}  # key -> sorted names of the doubles the caller called in its doubled run
        self.stand_errors: dict = {}
        self.stand_calls: dict = {}  # key -> {name: the arguments of its first calls} in the doubled run (for messages)
        self.calls: list = []  # {"callee", "args", "kwargs", "result" | "raised"} of the real runs
        self.errors: dict = {}

    def __call__(self, key: str, *args, after: Callable | None = None, **kwargs):
        """The caller's result on ``args`` (its real run). ``after(copies, kwargs)``: a fact read from the doubled
        run's own copies of the arguments once it returned (a generator's next draw); kept beside its result."""
        fn = self.student.get(self.caller)
        copies, kw = _snapshot(args), {k: _snapshot(v) for k, v in kwargs.items()}
        with replacing(self.student, self.caller, self.doubles) as records:
            try:
                result = fn(*copies, **kw)
                self.stand[key] = result if after is None else {"result": result, "after": after(copies, kw)}
            except Exception as exc:  # noqa: BLE001 - judged by the verify when a double was called
                self.stand[key] = None
                self.stand_errors[key] = f"{type(exc).__name__}: {str(exc)[:300]}"
        self.used[key] = sorted(name for name, calls in records.items() if calls)
        self.stand_calls[key] = {name: [_plain(c["args"]) for c in calls[:24]] for name, calls in records.items() if calls}
        log = getattr(self.student, "_log", None)  # the call, for the 'called:' lines of a failure message
        if isinstance(log, list):
            log.append((self.caller, args, kwargs))
        with replacing(self.student, self.caller, dict.fromkeys(self.doubles)) as records:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not any(records.values()):
                    raise  # before any callee ran (a stub): the caller's own error
                raised = next((f"your {n} raised {r['raised']}" for n, calls in records.items() for r in calls if "raised" in r), None)
                self.errors[key] = raised or f"{type(exc).__name__}: {str(exc)[:300]} (after calling {', '.join(n for n in records if records[n])})"
                result = None
        for name, calls in records.items():
            kept = sum(c["callee"] == name for c in self.calls)
            self.calls.extend({"callee": name, **c} for c in calls[: max(0, self.keep - kept)])
        return result

    def alone(self) -> list:
        """The recorded real calls, each made again outside the caller: ``[{"callee", "under", "alone"}]`` (a result or "raised ...")."""
        out = []
        for call in self.calls:
            under = f"raised {call['raised']}" if "raised" in call else call.get("result")
            try:
                alone = self.student.get(call["callee"])(*_snapshot(call["args"]), **_snapshot(call["kwargs"]))
            except Exception as exc:  # noqa: BLE001 - compared as text
                alone = f"raised {type(exc).__name__}: {str(exc)[:200]}"
            out.append({"callee": call["callee"], "under": under, "alone": _snapshot(alone)})
        return out

    def facts(self) -> dict:
        return {
            "stand-in": self.stand, "stand-in used": self.used, "stand-in errors": self.stand_errors, "stand-in calls": self.stand_calls,
            "callee calls": [_plain({k: c.get(k) for k in ("callee", "args", "result", "raised")}) for c in self.calls],
            "errors": self.errors,
        }  # fmt: skip


class Twin(Doubled):
    """:class:`Doubled` with one callee and its double."""

    def __init__(self, student, caller: str, callee: str, stand_in: Callable, keep_calls: int = 4):
        super().__init__(student, caller, {callee: stand_in}, keep_calls)


def doubled_keys(got: dict, ref: dict) -> list:
    """The keys of the probe's runs in which the student's caller called a double."""
    used = got.get("stand-in used")
    return [k for k in (ref.get("stand-in") or {}) if isinstance(used, dict) and used.get(k)]


def check_doubled(got: dict, ref: dict, callees: str, rtol: float = 1e-6, atol: float = 1e-9, compare: Callable | None = None) -> bool:
    """Judge the caller on its doubled runs. True when it was judged there (it called the same doubles as the
    solution's caller in every run, or its doubled results equal the solution's); False when it must be judged
    on its real run (it called no double, or another set of them: a decomposition of its own)."""
    from helpers.checking import assert_matches

    keys = doubled_keys(got, ref)
    stand, theirs = got.get("stand-in"), ref.get("stand-in") or {}
    if not keys or len(keys) != len(theirs) or not isinstance(stand, dict):
        return False
    errors = got.get("stand-in errors") or {}
    same_set = all(got["stand-in used"].get(k) == (ref.get("stand-in used") or {}).get(k) for k in keys)
    note = (f"\n  (these results come from a run of your function with made-up stand-ins for {callees}: seeded functions "
            f"with their shapes, so that it is judged on its own steps, whatever your {callees} do)")  # fmt: skip
    try:
        for key in keys:
            if isinstance(errors, dict) and errors.get(key):
                raise AssertionError(f"{key}: {errors[key]}")
            if compare is not None:
                compare(stand.get(key), theirs[key], key)
            else:
                assert_matches(stand.get(key), theirs[key], key, rtol=rtol, atol=atol)
    except AssertionError as exc:
        if same_set:
            raise AssertionError(f"{str(exc).strip()}{note}") from None
        return False
    return True


SAME_ALONE_HINT = (
    "a graded function depends on its arguments only: the same inputs give the same result wherever it is called from, "
    "alone or inside your other graded functions."
)


def under_and_alone(student, caller: str, callee: str, call: Callable[[], Any], keep: int = 4) -> list:
    """Run ``call()`` (which calls the student's ``caller``) with their ``callee`` watched, then make the first ``keep``
    recorded calls again outside the caller, on the same arguments: ``[{"callee", "under", "alone"}]`` for
    :func:`check_same_alone`. Whatever the caller does (raises, loops on) is not judged here."""
    with watching(student, caller, callee) as records:
        try:
            call()
        except Exception:  # noqa: BLE001 - the caller is judged in its own cases
            pass
    out = []
    for record in records[:keep]:
        under = f"raised {record['raised']}" if "raised" in record else record.get("result")
        try:
            alone = student.get(callee)(*_snapshot(record["args"]), **_snapshot(record["kwargs"]))
        except Exception as exc:  # noqa: BLE001 - compared as text
            alone = f"raised {type(exc).__name__}: {str(exc)[:200]}"
        out.append(_plain({"callee": callee, "caller": caller, "under": under, "alone": _snapshot(alone)}))
    return out


def modules_under_and_alone(call: Callable[[], Any], modules: list, callee: str, caller: str, keep: int = 4) -> list:
    """:func:`under_and_alone` for class callees: run ``call()`` (the student's ``caller`` module) with forward hooks on
    ``modules`` (its graded sub-modules, e.g. a block's attention), then run each recorded forward again alone on the
    same inputs. ``[{"callee", "caller", "under", "alone"}]`` for :func:`check_same_alone`."""
    import torch

    records: list = []
    hooks = []
    for module in modules:
        if isinstance(module, torch.nn.Module):
            hooks.append(module.register_forward_hook(
                lambda m, args, kwargs, out: records.append((m, _snapshot(tuple(args)), _snapshot(dict(kwargs)), _snapshot(out))),
                with_kwargs=True))  # fmt: skip
    try:
        with torch.no_grad():
            call()
    except Exception:  # noqa: BLE001 - the caller is judged in its own cases
        pass
    finally:
        for hook in hooks:
            hook.remove()
    out = []
    for module, args, kwargs, under in records[:keep]:
        try:
            with torch.no_grad():
                alone = module(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - compared as text
            alone = f"raised {type(exc).__name__}: {str(exc)[:200]}"
        out.append(_plain({"callee": callee, "caller": caller, "under": under, "alone": _snapshot(alone)}))
    return out


def check_same_alone(got: dict, callee: str, caller: str = "") -> None:
    """The callee gave the same results under the student's caller as alone on the same arguments (the probe's
    :meth:`Doubled.alone`); a callee that behaves otherwise under its caller is charged here, in its own case."""
    for call in got.get("alone") or []:
        if not isinstance(call, dict) or call.get("callee") != callee:
            continue
        under, alone = call.get("under"), call.get("alone")
        if isinstance(under, str) and under.startswith("raised ") and isinstance(alone, str) and alone.startswith("raised "):
            continue
        if not same_values(under, alone):
            by = call.get("caller") or caller
            raise AssertionError(
                f"your {callee} gave another result when your {by} called it than when it was called alone on the same "
                f"arguments ({describe_short(under)} under {by}, {describe_short(alone)} alone): a graded function "
                "must depend on its arguments only."
            )


def describe_short(value: Any) -> str:
    from helpers.checking import describe

    return describe(value, 80)


def given_callee(check: Callable[[], None], got: dict, ref: dict, callee: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Judge a caller: on its doubled runs where it called the doubles (:func:`check_doubled`), so the student's own
    ``callee`` never decides; otherwise (it calls no graded callee, or others than the solution's) by ``check()``
    on its real run, naming the callee when the callee's results differ from the solution's on the same arguments."""
    if check_doubled(got, ref, callee, rtol, atol):
        return
    try:
        if got.get("errors"):
            key, message = next(iter(got["errors"].items()))
            raise AssertionError(f"{key}: {message}")
        check()
    except AssertionError as first:
        wrong = callee_results_differ(got.get("callee calls"), ref.get("callee calls"), same_values)
        raise AssertionError(str(first) + (fix_callee_first(callee) if wrong else "")) from None
