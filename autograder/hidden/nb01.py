"""Hidden tests of notebook 01 (embeddings): grader only."""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_SENTENCES, SLIDE_TABLE_ORDER
from helpers.selfcheck.nb01 import (
    SLIDE_TOKENS,
    assert_int64_ids,
    assert_one_hot,
    assert_rows_of,
    assert_str_list,
    str_items,
)

suite = Suite("01", visibility="hidden")

WORDS = ["the", "dog", "cat", "ran", "ate", "zoo", "a", "bird", "sang", ".", "!", ",", "?"]


# --------------------------------------------------------------------------- #
# tokenize
# --------------------------------------------------------------------------- #


@suite.case(
    "tokenize",
    points=1,
    hint="each punctuation mark is a token of its own, even when several stand together: "
    "'...' is three '.' tokens and '?!' is '?' then '!'.",
)
def runs_of_punctuation(student):
    """Runs of punctuation split mark by mark: "Wait... what?! The cat, the dog; the ZOO:" """
    return str_items(student.tokenize("Wait... what?! The cat, the dog; the ZOO:"))


@runs_of_punctuation.verify
def _(got, ref):
    assert_str_list(got, "tokenize")
    assert_matches(got, ref)


@suite.case(
    "tokenize",
    points=1,
    hint="spaces, tabs and newlines only separate tokens (split on any whitespace); an empty text gives [].",
)
def whitespace_and_empty(student):
    """Tabs, newlines, leading/trailing spaces, an empty text and a punctuation-only text."""
    return {
        "messy": str_items(student.tokenize("\n  The dog\tran .\n\nThe  CAT!\t")),
        "empty": str_items(student.tokenize("")),
        "marks": str_items(student.tokenize("!!")),
    }


@whitespace_and_empty.verify
def _(got, ref):
    for key in ("messy", "empty", "marks"):
        assert_str_list(got[key], f"tokenize ({key})")
    assert_matches(got, ref)


@suite.case("tokenize", points=1, hint="newlines and spaces are the same to the tokenizer: both only separate tokens.")
def sentences_joined_by_spaces(student):
    """The slide's sentences joined by spaces (not newlines) still give the slide's 26 tokens."""
    return str_items(student.tokenize(" ".join(SLIDE_SENTENCES)))


@sentences_joined_by_spaces.verify
def _(got, ref):
    assert_str_list(got, "tokenize")
    assert_matches(got, ref)
    assert got == SLIDE_TOKENS, f"expected the slide's 26 tokens, got {got}."


# --------------------------------------------------------------------------- #
# build_vocab
# --------------------------------------------------------------------------- #


@suite.case(
    "build_vocab", points=1, hint="work on a copy: sorted(set(tokens)) does not touch the list it is given; an empty list gives []."
)
def input_untouched_and_edges(student):
    """The token list is not modified; [] gives [] and repeated tokens give one entry."""
    tokens = ["the", "dog", "the", "!", "dog"]
    vocab = student.build_vocab(tokens)
    return {
        "vocab": str_items(vocab),
        "tokens_after": tokens,
        "empty": str_items(student.build_vocab([])),
        "repeated": str_items(student.build_vocab(["dog"] * 5)),
    }


@input_untouched_and_edges.verify
def _(got, ref):
    if got["tokens_after"] != ["the", "dog", "the", "!", "dog"]:
        raise AssertionError(f"build_vocab modified its input list: it became {got['tokens_after']}; build a new list instead.")
    for key in ("vocab", "empty", "repeated"):
        assert_str_list(got[key], f"build_vocab ({key})")
    assert_matches(got, ref)


@suite.case("build_vocab", points=1, hint="the vocabulary is every distinct token exactly once, sorted: sorted(set(tokens)).")
def seeded_stream(student):
    """A seeded stream of 200 tokens: sorted, unique, and every token is in the vocabulary."""
    rng = np.random.default_rng(5)
    tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), size=200)]
    return {"tokens": tokens, "vocab": str_items(student.build_vocab(list(tokens)))}


@seeded_stream.verify
def _(got, ref):
    vocab = got["vocab"]
    assert_str_list(vocab, "build_vocab")
    if vocab != sorted(vocab):
        raise AssertionError(f"the vocabulary must be sorted, got {vocab}.")
    if len(set(vocab)) != len(vocab):
        raise AssertionError(f"every token must appear once in the vocabulary, got {vocab}.")
    missing = sorted(set(ref["tokens"]) - set(vocab))
    if missing:
        raise AssertionError(f"tokens {missing} of the stream are missing from the vocabulary {vocab}.")
    assert_matches(vocab, ref["vocab"], "vocab")


# --------------------------------------------------------------------------- #
# encode
# --------------------------------------------------------------------------- #


@suite.case(
    "encode",
    points=1,
    hint="the id is the token's position in the vocab you are GIVEN (vocab.index order), "
    "even when that vocab is not sorted; do not sort inside encode.",
)
def unsorted_vocab(student):
    """With an unsorted vocab ['zoo', 'the', 'cat', '.'], ids are positions in that list."""
    return student.encode(["the", "cat", ".", "zoo", "the"], ["zoo", "the", "cat", "."])


@suite.case(
    "encode",
    points=1,
    hint="np.array([]) is float64: pass dtype=np.int64 so that no tokens still give int64 ids of shape (0,).",
)
def empty_tokens(student):
    """encode([], vocab) gives an empty int64 array of shape (0,)."""
    return student.encode([], list(SLIDE_TABLE_ORDER))


@empty_tokens.verify
def _(got, ref):
    assert_int64_ids(got, "encode([], vocab)")
    assert_matches(got, ref)


@suite.case(
    "encode",
    points=1,
    hint='raise KeyError with a message that contains the token itself, e.g. KeyError(f"token {token!r} is not in the vocabulary").',
)
def unknown_token_in_middle(student):
    """An unknown token in the middle ('unicorn') raises a KeyError that names it."""
    encode = student.encode  # outside the try: a missing definition is reported as such
    try:
        out = encode(["the", "cat", "unicorn", "."], ["!", ".", "cat", "the"])
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - report which exception came back
        return {"raised": type(exc).__name__, "is_key_error": isinstance(exc, KeyError), "message": str(exc)}
    return {"raised": None, "is_key_error": False, "message": "", "returned": out}


@unknown_token_in_middle.verify
def _(got, ref):
    if got["raised"] is None:
        raise AssertionError(f"expected a KeyError for the unknown token 'unicorn', but encode returned {describe(got.get('returned'))}.")
    if not got["is_key_error"]:
        raise AssertionError(f"expected a KeyError for the unknown token 'unicorn', got {got['raised']}: {got['message']}")
    if "unicorn" not in got["message"]:
        raise AssertionError(f"the KeyError must name the unknown token 'unicorn'; its message was {got['message']!r}.")


# --------------------------------------------------------------------------- #
# decode
# --------------------------------------------------------------------------- #


@suite.case(
    "decode", points=1, hint="the token of id i is vocab[i] in the vocab you are given; a list of ids works like an array; no ids give []."
)
def list_ids_unsorted_vocab_and_empty(student):
    """decode accepts a Python list of ids, uses the given (unsorted) vocab, and [] gives []."""
    vocab = ["zoo", "the", "cat", "."]
    return {
        "tokens": str_items(student.decode([1, 2, 3, 0, 1], vocab)),
        "empty": str_items(student.decode(np.array([], dtype=np.int64), vocab)),
    }


@list_ids_unsorted_vocab_and_empty.verify
def _(got, ref):
    assert_str_list(got["tokens"], "decode")
    assert_str_list(got["empty"], "decode (no ids)")
    assert_matches(got, ref)


@suite.case("decode", points=1, hint="decode(encode(tokens, vocab), vocab) must give back exactly the tokens, in order.")
def seeded_round_trip(student):
    """Round trip on a seeded stream of 60 tokens with a 13-token vocabulary."""
    rng = np.random.default_rng(9)
    tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), size=60)]
    vocab = list(WORDS)  # deliberately not sorted
    return {"tokens": tokens, "back": str_items(student.decode(student.encode(list(tokens), vocab), vocab))}


@seeded_round_trip.verify
def _(got, ref):
    assert_str_list(got["back"], "decode")
    if got["back"] != ref["tokens"]:
        assert_matches(got["back"], ref["tokens"], "decode(encode(tokens))")


# --------------------------------------------------------------------------- #
# one_hot
# --------------------------------------------------------------------------- #


@suite.case(
    "one_hot",
    points=1,
    hint="the width is vocab_size (tokens that do not occur still get a column), and no ids give an empty (0, vocab_size) float array.",
)
def width_is_vocab_size(student):
    """ids [0, 2, 2] with vocab_size 6 give 6 columns; no ids give shape (0, 5)."""
    return {
        "X": student.one_hot(np.array([0, 2, 2], dtype=np.int64), 6),
        "empty": student.one_hot(np.array([], dtype=np.int64), 5),
    }


@width_is_vocab_size.verify
def _(got, ref):
    assert_one_hot(got["X"], [0, 2, 2], 6)
    assert_one_hot(got["empty"], np.zeros(0, dtype=np.int64), 5)
    assert_matches(got, ref)


@suite.case("one_hot", points=1, hint="accept any 1-D sequence of ids (a Python list too): np.asarray(ids) first.")
def list_ids(student):
    """one_hot([3, 1, 3, 0], 4) from a Python list of ids."""
    return student.one_hot([3, 1, 3, 0], 4)


@list_ids.verify
def _(got, ref):
    assert_one_hot(got, [3, 1, 3, 0], 4)
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# embed
# --------------------------------------------------------------------------- #


@suite.case(
    "embed",
    points=1,
    hint="E[ids] works for ids of any shape and returns ids.shape + (M,); do not write into E.",
)
def three_d_ids_and_E_untouched(student):
    """ids of shape (2, 3, 4) with E (7, 5) give (2, 3, 4, 5), and E is not modified."""
    rng = np.random.default_rng(21)
    E = rng.normal(size=(7, 5))  # (vocab_size, M)
    E_given = E.copy()
    ids = rng.integers(0, 7, size=(2, 3, 4))  # (2, 3, 4)
    out = student.embed(E_given, ids)
    return {"E": E, "E_after": E_given, "ids": ids, "out": out}


@three_d_ids_and_E_untouched.verify
def _(got, ref):
    if not np.array_equal(got["E_after"], ref["E"]):
        raise AssertionError("embed modified the table E it was given; only read rows from it.")
    assert_rows_of(got["out"], ref["E"], ref["ids"])
    assert_matches(got["out"], ref["out"], "out")


@suite.case("embed", points=1, hint="with B = 1 and T = 1 the output still keeps every axis: shape (1, 1, M), from E[ids].")
def size_one_axes(student):
    """ids of shape (1, 1) and (1,) keep their axes: (1, 1, M) and (1, M)."""
    E = np.arange(12, dtype=float).reshape(4, 3)  # (vocab_size, M)
    return {
        "E": E,
        "out_2d": student.embed(E.copy(), np.array([[2]], dtype=np.int64)),
        "out_1d": student.embed(E.copy(), np.array([3], dtype=np.int64)),
    }


@size_one_axes.verify
def _(got, ref):
    assert_rows_of(got["out_2d"], ref["E"], np.array([[2]]))
    assert_rows_of(got["out_1d"], ref["E"], np.array([3]))
    assert_matches(got, ref)
