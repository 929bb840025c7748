"""Record what a student's own callees receive and return while one of their functions runs.

Used by probes so that a caller (``generate``, ``next_token_probs``, ``sgd_epoch``) is
judged on its own step: the verify checks that the caller passed the right inputs to
the student's callee and used what that callee returned, whether or not the callee
itself is right. A mistake in the callee is then charged to the callee only.

The wrappers call the student's own function; nothing here computes a graded answer.
When a callee raises (a stub, a crash) or returns something the caller cannot use, the
wrapper records that and returns a neutral stand-in given by the probe (never the right
answer), so the caller can still be observed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np


def snapshot(value: Any) -> Any:
    """A copy of an argument or a result as it was at the time of the call (arrays copied)."""
    torch = sys.modules.get("torch")
    if type(value) is np.ndarray:
        return value.copy()
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [snapshot(v) for v in value]
    if isinstance(value, (bool, int, float, str, np.generic)) or value is None:
        return value
    return {"$object": type(value).__name__}


class Callees:
    """Context manager: while active, the names in ``stand_ins`` of the student's namespace
    are wrappers that call the student's function and record each call.

    ``stand_ins[name](*args)`` gives the value to return when the student's function
    raises or when ``valid[name](out, *args)`` is False. ``keep[name](*args)`` may turn
    arguments that are not plain data (an rng) into something to record.
    """

    def __init__(
        self,
        student,
        stand_ins: dict[str, Callable[..., Any]],
        valid: dict[str, Callable[..., bool]] | None = None,
        keep: dict[str, Callable[..., Any]] | None = None,
        after: dict[str, Callable[[dict], None]] | None = None,
    ):
        self.namespace = student._namespace
        self.stand_ins = stand_ins
        self.valid = valid or {}
        self.keep = keep or {}
        self.after = after or {}
        self.calls: dict[str, list] = {name: [] for name in stand_ins}
        self._saved: dict = {}

    def _wrap(self, name: str, original: Callable) -> Callable:
        log = self.calls[name]

        def wrapper(*args, **kwargs):
            entry = {"args": self.keep[name](*args, **kwargs) if name in self.keep else [snapshot(a) for a in args],
                     "kwargs": {k: snapshot(v) for k, v in kwargs.items()}, "error": None, "stand_in": False}
            try:
                out = original(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a stub or a broken callee: record it, go on
                entry["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
                out = None
            ok = entry["error"] is None
            if ok and name in self.valid:
                try:
                    ok = bool(self.valid[name](out, *args, **kwargs))
                except Exception:  # noqa: BLE001 - a hostile result
                    ok = False
            entry["out"] = snapshot(out)
            if not ok:
                out = self.stand_ins[name](*args, **kwargs)
                entry["stand_in"] = True
            entry["used"] = snapshot(out)  # what the caller got back
            if name in self.after:
                self.after[name](entry)
            log.append(entry)
            return out

        return wrapper

    def __enter__(self) -> "Callees":
        missing = object()
        for name in self.stand_ins:
            original = self.namespace.get(name, missing)
            self._saved[name] = original
            if original is not missing and callable(original):
                self.namespace[name] = self._wrap(name, original)
        return self

    def __exit__(self, *exc) -> None:
        for name, value in self._saved.items():
            self.namespace[name] = value

    def plain(self) -> dict:
        """The recorded calls, per name (plain data once the probe returns)."""
        return {name: list(log) for name, log in self.calls.items()}


# --------------------------------------------------------------------------- #
# Verify-side helpers (read only the recorded calls)
# --------------------------------------------------------------------------- #


def close(a: Any, b: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Two arrays of the same shape and close values (nan equal to nan)."""
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except Exception:  # noqa: BLE001
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def results_of(calls: list, out: Any) -> list[dict]:
    """The recorded calls whose returned value (or stand-in) is ``out``."""
    return [call for call in calls if close(call.get("used"), out, rtol=0, atol=0)]


def fix_first(caller: str, callee: str) -> str:
    return f"{caller} uses your {callee}, which fails its own checks; fix {callee} first."
