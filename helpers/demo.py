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
    """True when every graded name is defined and written; else print what to do first and return False."""
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    for name in names:
        obj = namespace.get(name)
        if obj is None or is_stub(obj):
            print(f"\u2192 {stub_message(name)} to see this.")
            return False
    return True
