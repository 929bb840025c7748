"""Handouts: one HTML page per notebook (executed solutions, student release) and an index."""

from __future__ import annotations

import pytest

from autograder.course import available
from autograder.lecture.handouts import build

pytestmark = pytest.mark.slow


def test_handouts_render_every_notebook_with_an_index(tmp_path):
    pages = build(tmp_path, execute=False)  # executing is covered by test_notebooks
    index = (tmp_path / "index.html").read_text()
    assert len(pages) == 2 * len(available()) + 1
    for stem in available().values():
        assert f"solutions/{stem}.html" in index and f"student/{stem}.html" in index
        student = (tmp_path / "student" / f"{stem}.html").read_text()
        assert "BEGIN SOLUTION" not in student and "NotImplementedError" in student
        assert "<html" in (tmp_path / "solutions" / f"{stem}.html").read_text()
