"""The plain-data codec: what crosses from the student's process to the grader.

What a probe returns is turned into *plain data* by :func:`to_plain` (JSON-able numbers,
strings, lists, dicts and tagged arrays): no pickles, no live objects, so an object that
lies in ``__eq__`` never reaches the code that decides the score. :func:`from_plain`
decodes it on the trusted side.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any

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


_SCALARS = frozenset((int, float, str, bool, type(None)))  # decode to themselves: no call per list item


def from_plain(plain: Any) -> Any:
    """Decode plain data made by :func:`to_plain` into numpy arrays, tensors and builtins."""
    if isinstance(plain, list):
        return [x if type(x) in _SCALARS else from_plain(x) for x in plain]
    if not isinstance(plain, dict):
        return plain
    if "$nd" in plain:
        data = binascii.a2b_base64(plain["b64"])  # what base64.b64decode calls, without its wrapping
        return np.frombuffer(data, dtype=np.dtype(plain["$nd"])).reshape(plain["shape"]).copy()
    if "$tensor" in plain:
        import torch

        data = binascii.a2b_base64(plain["b64"])
        array = np.frombuffer(data, dtype=np.dtype(plain["nd"])).reshape(plain["shape"]).copy()
        tensor = torch.from_numpy(array)
        dtype = getattr(torch, plain["$tensor"].removeprefix("torch."), None)
        if isinstance(dtype, torch.dtype) and dtype != tensor.dtype:
            tensor = tensor.to(dtype)
        return tensor
    if "$np" in plain:
        return np.dtype(plain["$np"]).type(plain["value"])
    if "$tuple" in plain:
        return tuple(x if type(x) in _SCALARS else from_plain(x) for x in plain["$tuple"])
    if "$dict" in plain:
        return {
            (k if type(k) in _SCALARS else _hashable(from_plain(k))): (v if type(v) in _SCALARS else from_plain(v)) for k, v in plain["$dict"]
        }  # fmt: skip
    if "$object" in plain:
        return Opaque(str(plain["$object"]), str(plain.get("repr", "")))
    raise ValueError(f"not plain data: keys {sorted(plain)[:5]}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(plain: Any) -> str:
    return json.dumps(plain, separators=(",", ":"), allow_nan=True)
