"""Demo cells that need a student's function: run them only when it is written.

The student release must run top to bottom. A demo cell that uses graded functions
starts with ``if implemented("tokenize", "build_vocab"):``; while one of them is still
the release's stub (or not defined), the cell prints "implement tokenize (then run
check('tokenize')) to see this" and skips its body instead of failing, and so do the
cells after it that use its results.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from .guards import known_wrong

STUB_PREFIX = "implement "  # the release's stubs raise NotImplementedError("implement NAME, then run check('NAME')")


def stub_message(name: str) -> str:
    """The message of the release's stub for the graded function or class ``name``."""
    return f"{STUB_PREFIX}{name}, then run check('{name}')"


def is_stub(obj: Any) -> bool:
    """True when ``obj`` (a function or class) still holds a release stub."""
    if inspect.isclass(obj):
        return any(is_stub(member) for member in vars(obj).values() if inspect.isfunction(member))
    code = getattr(obj, "__code__", None)
    if code is None:
        return False
    return any(isinstance(c, str) and c.startswith(STUB_PREFIX) and "check('" in c for c in code.co_consts)


def implemented(*names: str, namespace: dict | None = None) -> bool:
    """True when every graded name is defined, written and has not returned a wrong value to a cell above
    (``helpers.guards.expect``); else print what to do first and return False.

    A name may also hold a function of an earlier notebook (``helpers.earlier``); when that one is not
    available, its reason is printed.
    """
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    for name in names:
        obj = namespace.get(name)
        reason = getattr(obj, "not_available", None)
        wrong = known_wrong(name, obj)
        if obj is None or is_stub(obj):
            print(f"\u2192 {stub_message(name)} to see this.")
        elif isinstance(reason, str):
            print(f"\u2192 {reason}")
        elif wrong:
            print(f"{wrong} (This cell needs it.)")
        else:
            continue
        return False
    return True
