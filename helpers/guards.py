"""Given code checks what a student's function returned before it uses it.

A demo cell runs only when the graded functions it needs are written (``implemented``, in
``helpers.demo``). Written is not yet right: an ``encode`` that returns a list, windows and
targets of different lengths or attention weights that still require grad would make the
given code fail with an AttributeError or a ValueError deep inside matplotlib. So the cell
checks the value first::

    ids = encode(tokens, vocab)  # (26,)
    if expect("encode", ids, "array", shape=(len(tokens),), dtype="int"):
        ...

``expect`` returns True when the value is what the docstring promises. Otherwise it prints
one line, "your encode returned a list of 26 ints, expected a numpy array of shape (26,)
with an integer dtype; run check('encode')", returns False, and remembers the function:
until it is redefined, ``implemented("encode")`` in the cells below prints the same line
and skips them instead of failing on the wrong value.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

_WRONG: dict[str, tuple[Any, str]] = {}  # graded name -> (the function object that returned a wrong value, the message)

KINDS = {
    "array": "a numpy array",
    "tensor": "a torch tensor",
    "number": "a number",
    "list": "a list",
    "tuple": "a tuple",
}
DTYPES = {"int": "an integer dtype", "float": "a floating-point dtype", "bool": "dtype bool"}


def _torch():
    return sys.modules.get("torch")  # only a value that is a tensor needs torch, and then it is imported


def _is_tensor(value) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor)


def describe(value) -> str:
    """A short description of a value for the message: its type, shape and dtype, never its contents."""
    if _is_tensor(value):
        grad = " that still requires grad (not detached)" if value.requires_grad else ""
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).replace('torch.', '')}{grad}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {len(value)} item{'s' * (len(value) != 1)}" + (f" ({', '.join(kinds[:3])})" if kinds else "")
    if value is None:
        return "None"
    if isinstance(value, (int, float, np.number)):
        return f"the {type(value).__name__} {value!r}" if not isinstance(value, bool) else f"the bool {value}"
    return f"a {type(value).__name__}"


def _dtype_ok(value, dtype: str) -> bool:
    if _is_tensor(value):
        torch = _torch()
        return {"int": not value.dtype.is_floating_point and not value.dtype.is_complex and value.dtype != torch.bool,
                "float": value.dtype.is_floating_point, "bool": value.dtype == torch.bool}[dtype]
    kind = {"int": np.integer, "float": np.floating, "bool": np.bool_}[dtype]
    return np.issubdtype(np.asarray(value).dtype, kind)


def _shape_ok(shape, expected) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _finite(value) -> bool:
    if _is_tensor(value):
        return bool(_torch().isfinite(value.detach()).all())
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return math.isfinite(float(value))
    return bool(np.isfinite(np.asarray(value, dtype=float)).all())


def problem(value, kind: str | None = None, *, shape: tuple | None = None, dtype: str | None = None,
            finite: bool = False, detached: bool = False, below: int | None = None, items: type | None = None,
            rule: tuple | None = None) -> str | None:
    """What is wrong with ``value`` (a phrase starting "expected ..."), or None when it is right.

    kind: "array" (np.ndarray), "tensor" (torch.Tensor), "number" (a real number, not an array), "list" or "tuple".
    shape: the expected shape (a list's or tuple's is (len,)); None entries match any size, e.g. (None, 3)
        for N windows of 3 tokens.
    dtype: "int", "float" or "bool".   finite: no nan or inf.   detached: a tensor that does not require grad.
    below: token ids: every entry an integer in 0 .. below - 1.   items: the type of every item of a list, e.g. str.
    rule: (predicate, what it means), e.g. (lambda m: bool(m.any(-1).all()), "every query may attend to some key"):
        a property the given code needs beyond type and shape.
    """
    if kind in ("list", "tuple") and shape is not None:
        size = f"of {'N' if shape[0] is None else shape[0]} items"
    else:
        dims = ["N" if e is None else str(e) for e in shape or ()]
        size = f"of shape ({', '.join(dims)}{',' * (len(dims) == 1)})" if shape is not None else ""
    want = " ".join(filter(None, [KINDS.get(kind, "a value"), size, f"with {DTYPES[dtype]}" if dtype else ""]))
    if kind == "array" and not isinstance(value, np.ndarray):
        return f"expected {want}"
    if kind == "tensor" and not _is_tensor(value):
        return f"expected {want}"
    if kind in ("list", "tuple") and not isinstance(value, {"list": list, "tuple": tuple}[kind]):
        return f"expected {want}"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
        return f"expected {want}"
    try:  # a value of the right kind may still hold anything: a check that cannot be made has failed
        return _details(value, want, shape, dtype, finite, detached, below, items, rule)
    except Exception:  # noqa: BLE001 - e.g. a ragged list for a dtype, a predicate that raises
        return f"expected {want}"


def _details(value, want, shape, dtype, finite, detached, below, items, rule) -> str | None:
    if shape is not None and not _shape_ok(tuple(getattr(value, "shape", (len(value),) if isinstance(value, (list, tuple)) else ())), shape):
        return f"expected {want}"
    if dtype is not None and not _dtype_ok(value, dtype):
        return f"expected {want}"
    if finite and not _finite(value):
        return "expected finite values (it holds nan or inf)"
    if detached and getattr(value, "requires_grad", False):
        return "expected a detached tensor (.detach(): it is kept for plotting, not for gradients)"
    if below is not None:
        ids = list(np.asarray(value, dtype=object).ravel())
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < below for v in ids):
            return f"expected token ids, integers in 0 .. {below - 1}"
    if items is not None and not all(isinstance(v, items) for v in value):
        return f"expected every item to be a {items.__name__}"
    if rule is not None and not rule[0](value):
        return f"expected {rule[1]}"
    return None


def expect(name: str, value, kind: str | None = None, *, part: str | None = None, earlier: tuple[str, str] | None = None,
           namespace: dict | None = None, **checks) -> bool:
    """True when ``value`` (what the function ``name`` of this notebook returned) passes the checks of ``problem``.

    Otherwise print what came back and what was expected, remember the function (``implemented``
    skips the cells that need it until it is redefined) and return False.
    part: which part of the result ``value`` is (e.g. "targets", "last_weights"), for the message.
    earlier: (notebook, graded name) when ``name`` holds a function of an earlier notebook (``helpers.earlier``).
    """
    found = problem(value, kind, **checks)
    if found is None:
        return True
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    got = f"{part}: {describe(value)}" if part else describe(value)
    graded, where = (earlier[1], f" in notebook {earlier[0]}") if earlier else (name, "")
    whose = f"your {graded} (notebook {earlier[0]})" if earlier else f"your {graded}"
    message = f"\u2718 {whose} returned {got}; {found}. Run check('{graded}'){where} to see what to fix."
    print(message)
    _WRONG[name] = (namespace.get(name), message)
    return False


def known_wrong(name: str, obj) -> str | None:
    """The message of ``expect``'s last failure for this very function object (None when it was redefined since)."""
    wrong = _WRONG.get(name)
    if wrong is None or obj is None or wrong[0] is not obj:
        return None
    return wrong[1]


def expect_tuple(name: str, value, *parts: tuple[str, dict], earlier: tuple[str, str] | None = None, namespace: dict | None = None) -> bool:
    """True when ``value`` is a tuple of ``len(parts)`` results that each pass their checks.

    parts: one (label, checks) per result, e.g. ("targets", dict(kind="array", shape=(None,), dtype="int")),
    checks as for ``problem``. Like ``expect``, the first wrong part is printed and remembered.
    """
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    if not expect(name, value, "tuple", shape=(len(parts),), earlier=earlier, namespace=namespace):
        return False
    return all(expect(name, part, checks.pop("kind", None), part=label, earlier=earlier, namespace=namespace, **checks)
               for (label, checks), part in zip([(label, dict(checks)) for label, checks in parts], value))


def raised(name: str, error: BaseException, earlier: tuple[str, str] | None = None, namespace: dict | None = None) -> None:
    """Report that the function ``name`` raised ``error`` where given code called it (once, like ``expect``), and
    remember it so that ``implemented`` skips the cells that need it. Returns None, for ``return raised(...)``."""
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    graded, where = (earlier[1], f" in notebook {earlier[0]}") if earlier else (name, "")
    whose = f"your {graded} (notebook {earlier[0]})" if earlier else f"your {graded}"
    message = f"\u2718 {whose} raised {type(error).__name__}: {str(error)[:200]}. Run check('{graded}'){where} to see what to fix."
    print(message)
    _WRONG[name] = (namespace.get(name), message)
    return None
