"""helpers.guards (given code checks what a student's function returned) and helpers.earlier
(a later notebook uses the student's own function of an earlier one)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers.demo import implemented, stub_message
from helpers.earlier import earlier
from helpers.guards import expect, expect_tuple, problem


def test_problem_names_what_was_expected():
    assert problem(np.arange(3), "array", shape=(3,), dtype="int") is None
    assert problem([0, 1, 2], "array", shape=(3,)) == "expected a numpy array of shape (3,)"
    assert problem(np.zeros((4, 3)), "array", shape=(None, 3)) is None
    assert "of shape (N, 3)" in problem(np.zeros((4, 2)), "array", shape=(None, 3))
    assert "integer dtype" in problem(np.zeros(3), "array", dtype="int")
    assert "nan or inf" in problem(np.array([1.0, np.nan]), "array", finite=True)
    assert "nan or inf" in problem(float("inf"), "number", finite=True)
    assert problem(np.float64(0.5), "number") is None and problem(np.array([0.5]), "number") is not None
    assert "detached" in problem(torch.ones(2, requires_grad=True), "tensor", detached=True)
    assert problem(torch.ones(2, requires_grad=True).detach(), "tensor", detached=True, finite=True) is None
    assert "0 .. 7" in problem([1, 8], "list", below=8) and "0 .. 7" in problem([1.5], "list", below=8)
    assert problem((1, 2), "tuple", shape=(2,)) is None and problem([1, 2], "tuple", shape=(2,)) == "expected a tuple of 2 items"
    assert "str" in problem(["a", 3], "list", items=str)
    assert "some key" in problem(torch.zeros(2, 2, dtype=torch.bool), "tensor", rule=(lambda m: bool(m.any(-1).all()), "some key"))


def test_expect_prints_one_line_and_implemented_skips_until_redefined(capsys):
    def encode(tokens, vocab):
        return [0, 1]

    namespace = {"encode": encode}
    assert not expect("encode", encode([], []), "array", shape=(2,), dtype="int", namespace=namespace)
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "your encode returned a list of 2 items (int)" in said and "check('encode')" in said
    assert not implemented("encode", namespace=namespace)
    assert "your encode returned" in capsys.readouterr().out

    def encode(tokens, vocab):  # noqa: F811 - the student fixes it and runs the cell again
        return np.array([0, 1])

    namespace["encode"] = encode
    assert implemented("encode", namespace=namespace)
    assert expect("encode", encode([], []), "array", shape=(2,), dtype="int", namespace=namespace)
    assert capsys.readouterr().out == ""


def test_expect_tuple_checks_every_part(capsys):
    ids = dict(kind="array", shape=(3,), dtype="int")
    namespace = {"make_pairs": lambda ids: None}
    assert expect_tuple("make_pairs", (np.arange(3), np.arange(3)), ("prev_ids", ids), ("next_ids", ids), namespace=namespace)
    assert not expect_tuple("make_pairs", (np.arange(3), np.arange(2)), ("prev_ids", ids), ("next_ids", ids), namespace=namespace)
    assert "your make_pairs returned next_ids: a numpy array of shape (2,)" in capsys.readouterr().out
    assert not expect_tuple("make_pairs", np.arange(3), ("prev_ids", ids), ("next_ids", ids), namespace=namespace)
    assert "expected a tuple of 2 items" in capsys.readouterr().out
    assert not expect("g", [1.5], "list", below=3, earlier=("02", "generate"), namespace={})
    assert "your generate (notebook 02) returned" in (out := capsys.readouterr().out) and "check('generate') in notebook 02" in out


def _notebook(folder, name, *sources):
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None} for s in sources]
    cells.insert(1, {"cell_type": "markdown", "source": "# text", "metadata": {}})
    (folder / name).write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_earlier_loads_the_students_own_definitions(tmp_path, capsys):
    _notebook(tmp_path, "02_sampling.ipynb",
              "%load_ext autoreload\nimport numpy as np\nfrom dataclasses import dataclass",
              "def double(x):\n    return 2 * np.asarray(x)\n\nprint('never run')\nraise SystemExit",
              "@dataclass\nclass Config:\n    n: int = 3",
              "def stub(x):\n    raise NotImplementedError(\"" + stub_message("stub") + "\")",
              "def broken(:\n    pass")
    double, config, stub, missing = earlier("02", "double", "Config", "stub", "missing", folder=tmp_path)
    assert list(double([1, 2])) == [2, 4] and config().n == 3
    namespace = {"stub_02": stub, "missing_02": missing, "double_02": double}
    assert implemented("double_02", namespace=namespace)
    assert not implemented("stub_02", namespace=namespace)
    assert "implement stub in notebook 02 (02_sampling.ipynb) and run check('stub') there" in capsys.readouterr().out
    assert not implemented("missing_02", namespace=namespace)
    assert "has no missing" in capsys.readouterr().out
    with pytest.raises(NotImplementedError, match="implement stub in notebook 02"):
        stub(1)
    gone = earlier("05", "rope", folder=tmp_path)
    assert "notebook 05 is not in this folder" in gone.not_available


def test_earlier_reports_a_notebook_that_does_not_load(tmp_path):
    _notebook(tmp_path, "hw04-windows.ipynb", "import a_module_that_does_not_exist", "def context_windows(ids, T):\n    return ids")
    placeholder = earlier("04", "context_windows", folder=tmp_path)
    assert "notebook 04 (hw04-windows.ipynb) does not load: ModuleNotFoundError" in placeholder.not_available
