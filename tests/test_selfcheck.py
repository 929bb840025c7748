"""check("name") in the notebook: the public tests, a short report, specific messages."""

from __future__ import annotations

import re

import pytest

from autograder.course import SOLUTIONS
from autograder.sandbox.worker import load_definitions
from helpers.checking import check


@pytest.fixture(scope="module")
def solution01():
    namespace, status = load_definitions("01", (SOLUTIONS / "01_embeddings.ipynb").read_bytes(), 30)
    assert not status.load_errors
    return namespace


def test_solution_passes_its_self_checks(solution01, capsys):
    verdicts = check("tokenize", namespace=solution01)
    out = capsys.readouterr().out
    assert all(v.passed for v in verdicts)
    assert re.match(r"\u2714 tokenize: (\d+) of \1 self-checks passed", out)


def test_wrong_answer_gets_input_expected_got_and_hint(solution01, capsys):
    wrong = dict(solution01, tokenize=lambda text: text.split())  # no lowercasing, punctuation glued on
    verdicts = check("tokenize", namespace=wrong)
    out = capsys.readouterr().out
    assert not all(v.passed for v in verdicts)
    assert out.startswith("\u2718 tokenize:")
    assert "called: tokenize(" in out and "expected" in out and "got" in out and "hint:" in out


def test_stub_says_not_implemented(solution01, capsys):
    def stub(E, ids):
        raise NotImplementedError()

    check("embed", namespace=dict(solution01, embed=stub))
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "\u2718 embed: 0 of" in out


def test_unknown_name_is_a_clear_error(solution01):
    with pytest.raises(KeyError, match="no self-check is named 'tokenise'"):
        check("tokenise", namespace=solution01)


def test_self_check_is_fast(solution01, capsys):
    import time

    start = time.process_time()  # CPU time: the same on a loaded machine
    for name in ["tokenize", "build_vocab", "encode", "decode", "one_hot", "embed"]:
        check(name, namespace=solution01)
    assert time.process_time() - start < 5.0
