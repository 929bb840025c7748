"""The lecture's own data: the slide corpus and the slide's random V and U tables.

These are *given* values (they are printed on the slides), not answers: the
notebooks compute the tokens and vocabulary from ``SLIDE_TEXT`` themselves.
"""

from __future__ import annotations

import numpy as np

# The five sentences of the "Simple Word Embedding LM: Setup" slide.
SLIDE_SENTENCES = [
    "The dog ran.",
    "The dog ate.",
    "The dog ran the zoo.",
    "The cat ate the dog!",
    "The cat ran the zoo.",
]
SLIDE_TEXT = "\n".join(SLIDE_SENTENCES)

# The slide's "(Simple) Tokenized Corpus" of SLIDE_TEXT, as printed on the slide: the data of
# notebooks 03-04, which start from tokens (notebook 01's tokenize makes the same list).
SLIDE_TOKENS = (
    "the dog ran . the dog ate . the dog ran the zoo . the cat ate the dog ! the cat ran the zoo ."
).split()

# The vocabulary order the V and U tables below are written in (the slide's order).
SLIDE_TABLE_ORDER = ["!", ".", "ate", "cat", "dog", "ran", "the", "zoo"]

# V: the *previous*-token vectors, one row per token in SLIDE_TABLE_ORDER, M = 2.
SLIDE_V = np.array(
    [
        [0.884, 0.196],  # !
        [0.358, -2.343],  # .
        [-1.085, 0.560],  # ate
        [0.939, -0.978],  # cat
        [0.503, 0.406],  # dog
        [0.323, -0.493],  # ran
        [-0.792, -0.842],  # the
        [-1.280, 0.246],  # zoo
    ]
)

# U: the *next*-token vectors, same row order.
SLIDE_U = np.array(
    [
        [-0.044, 1.568],  # !
        [1.051, 0.406],  # .
        [-0.169, -3.190],  # ate
        [1.120, 1.333],  # cat
        [-0.243, -0.130],  # dog
        [-0.109, 1.556],  # ran
        [0.129, -2.067],  # the
        [-0.885, -1.105],  # zoo
    ]
)

# What the slide's random and trained models generated, starting from "the dog".
SLIDE_GENERATED_RANDOM = "the dog cat ate ran zoo zoo zoo dog dog cat cat ate ran . ate . ate ate ! the ate"
SLIDE_GENERATED_TRAINED = "the dog ate . the dog ! the zoo . the dog ran the zoo . the dog ate the dog !"


def slide_tables() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fresh copies of (V, U, vocab) from the slides: V and U are (8, 2) float arrays."""
    return SLIDE_V.copy(), SLIDE_U.copy(), list(SLIDE_TABLE_ORDER)
