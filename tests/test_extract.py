"""Extraction of graded definitions from notebooks, including broken ones."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.sandbox.extract import extract, strip_magics


def notebook(*sources: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.writes(nb)


def kept(raw) -> str:
    return "\n".join(c.source for c in extract(raw).chunks)


def test_keeps_definitions_and_drops_demos():
    raw = notebook("import numpy as np\nX = 3\nprint('demo')\nmodel = train()", "def f(x):\n    return x + 1\n\nf(2)")
    text = kept(raw)
    assert "import numpy as np" in text and "X = 3" in text and "def f" in text
    assert "print" not in text and "train()" not in text and "f(2)" not in text


def test_magics_and_shell_escapes_are_removed():
    assert strip_magics("%matplotlib inline\n!pip install x\nx = 1") == "\n\nx = 1"
    assert strip_magics("%%time\nx = 1") == ""
    raw = notebook("%load_ext autoreload\n%autoreload 2\nimport math", "!ls\ndef g():\n    return 1")
    extraction = extract(raw)
    assert not extraction.problems
    assert "def g" in kept(raw) and "import math" in kept(raw)


def test_syntax_error_costs_only_its_block():
    raw = notebook("def good():\n    return 1\n\ndef bad(:\n    pass\n\ndef also_good():\n    return 2")
    extraction = extract(raw)
    text = kept(raw)
    assert "def good" in text and "def also_good" in text and "def bad" not in text
    assert any("syntax error" in p for p in extraction.problems)


def test_decorators_stay_with_their_class():
    raw = notebook("from dataclasses import dataclass\n@dataclass\nclass C:\n    a: int = 1\n")
    assert "@dataclass\nclass C" in kept(raw)


def test_invalid_json_raises_a_clear_error():
    with pytest.raises(ValueError, match="not valid notebook JSON"):
        extract(b"{not json")
    with pytest.raises(ValueError, match="not a notebook"):
        extract(json.dumps([1, 2]))


def test_nbformat3_is_read_with_a_note():
    raw = json.dumps({"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": ["def h():\n", "    return 3\n"]}]}]})
    extraction = extract(raw)
    assert "def h" in kept(raw)
    assert any("nbformat 3" in p for p in extraction.problems)


def test_source_as_list_of_lines():
    raw = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": ["def k():\n", "    return 4\n"], "metadata": {}, "outputs": []}]})
    assert "def k" in kept(raw)
