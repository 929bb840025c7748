"""Notebooks 04-06: no verify trusts an input echoed back by the student's side.

For every case, the student's observation is the solution's with every echoed input
(ids, windows, tables, X, Q, K, V, angles, parameters, seeds ...) replaced by forged
values; the verify must still pass, since it reads inputs from ``ref`` only.
"""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest

from helpers.checking import dumps, from_plain, judge, to_plain
from tests.planting import cases, load, observe

INPUT_KEY = re.compile(
    r"^(ids|T|V|U|X\d?|Q|K|q|k|x|c|a|b|theta|theta1|base|perm|perms|n_heads|d_model|d_head|dim|vocab_size|contexts.*|targets|parameters)$"
)


def _forge(value):
    import torch

    if isinstance(value, torch.Tensor):
        return (value + 1.5) if value.is_floating_point() else (value + 1) if value.dtype != torch.bool else ~value
    if isinstance(value, np.ndarray):
        return (value + 1.5) if value.dtype.kind == "f" else (value + 1) if value.dtype.kind in "iu" else ~value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return [_forge(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_forge(v) for v in value)
    if isinstance(value, dict):
        return {k: _forge(v) for k, v in value.items()}
    return value


def _forge_inputs(value, function: str):
    if isinstance(value, list):
        return [_forge_inputs(v, function) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            is_input = isinstance(key, str) and INPUT_KEY.match(key) and not (function == "context_windows" and key in ("contexts", "targets"))
            out[key] = _forge(v) if is_input else _forge_inputs(v, function)
        return out
    return value


@pytest.mark.parametrize("nb", ["04", "05", "06"])
def test_forged_inputs_change_no_verdict(nb):
    namespace, every = load(nb), cases(nb)
    forged_any = 0
    for case in every:
        ref = observe(case, namespace)
        value = from_plain(ref["value"])
        forged = _forge_inputs(copy.deepcopy(value), case.function)
        got = dict(ref, value=json.loads(dumps(to_plain(forged))))
        forged_any += got["value"] != ref["value"]
        verdict = judge(case, got, ref)
        assert verdict.passed, f"{case.id}: the verify read a forged input: {verdict.message}"
    assert forged_any >= len(every) // 2
