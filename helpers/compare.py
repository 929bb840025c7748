"""Comparing a student's result with the solution's, and describing values in messages.

:func:`assert_matches` checks type, shape, dtype kind and values (within tolerance) and
raises ``AssertionError`` with a message a student can act on; :func:`describe` makes a
short, size-limited description of any value; :func:`rel_error` is the CS231n check.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from .codec import Opaque

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
# Comparisons
# --------------------------------------------------------------------------- #


# A float32 computation (a model's output, its gradients) against a float64 recomputation of it:
# float64's default tolerance would fail an honest result near 0 on its last float32 digits.
FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-6}


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
        # a scalar may come from float32 (a loss's .item()): its last bits depend on the kernel path
        # the process took, so allow float32's absolute noise as _compare_arrays does
        if not _close(float(got), float(ref), rtol, max(atol, 1e-6)):
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
