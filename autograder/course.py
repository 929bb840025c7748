"""The course's fixed facts: the notebook series and where its parts live."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "notebooks"
HELPERS = ROOT / "helpers"
PUBLIC_SUITES = HELPERS / "selfcheck"  # public tests: shipped with the release, run by check()
HIDDEN_SUITES = ROOT / "autograder" / "hidden"  # hidden tests: grader only

# Series number -> notebook stem, in teaching order.
SERIES = {
    "01": "01_embeddings",
    "02": "02_sampling",
    "03": "03_training",
    "04": "04_context_averaging",
    "05": "05_rope",
    "06": "06_attention",
    "07": "07_minigpt",
}


def available() -> dict[str, str]:
    """The part of the series whose solution notebook exists."""
    return {nb: stem for nb, stem in SERIES.items() if (SOLUTIONS / f"{stem}.ipynb").exists()}
