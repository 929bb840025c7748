"""Shared code the course notebooks import: data, plots, seeding and the self-check.

Nothing here contains a graded answer; helpers never import solutions/ or autograder/.
"""

from .checking import check, rel_error
from .data import SLIDE_SENTENCES, SLIDE_TABLE_ORDER, SLIDE_TEXT, SLIDE_TOKENS, SLIDE_U, SLIDE_V, slide_tables
from .plots import plot_heatmap, plot_loss, plot_probs, plot_tables, plot_vectors
from .seeding import make_generator, make_rng, seed_everything

__all__ = [
    "check",
    "rel_error",
    "SLIDE_SENTENCES",
    "SLIDE_TABLE_ORDER",
    "SLIDE_TEXT",
    "SLIDE_TOKENS",
    "SLIDE_U",
    "SLIDE_V",
    "slide_tables",
    "plot_heatmap",
    "plot_loss",
    "plot_probs",
    "plot_tables",
    "plot_vectors",
    "make_generator",
    "make_rng",
    "seed_everything",
]
