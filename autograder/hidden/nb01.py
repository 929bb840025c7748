"""Hidden tests of notebook 01 (embeddings): grader only."""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_SENTENCES, SLIDE_TABLE_ORDER
from helpers.selfcheck.nb01 import (
    DECODE_HINT,
    EMBED_HINT,
    ONE_HOT_HINT,
    SLIDE_TOKENS,
    TOKENIZE_HINT,
    VOCAB_HINT,
    assert_int64_ids,
    assert_one_hot,
    assert_str_list,
    check_names_unknown_token,
    check_tokens,
    encode_unknown_probe,
    str_items,
)

suite = Suite("01", visibility="hidden")


def assert_rows_of(out, E, ids) -> None:
    """out must be E[ids] (shape ids.shape + (M,)), checked independently as one_hot(ids) @ E (trusted side only)."""
    ids = np.asarray(ids, dtype=np.int64)
    expected_shape = tuple(ids.shape) + (E.shape[1],)
    if not isinstance(out, np.ndarray):
        raise AssertionError(f"expected a numpy array of shape {expected_shape}, got {describe(out)}.")
    if out.shape != expected_shape:
        raise AssertionError(f"expected shape ids.shape + (M,) = {expected_shape}, got {out.shape}.")
    onehot = np.eye(E.shape[0])[ids.reshape(-1)]  # (N, vocab_size), an independent reference
    product = (onehot @ E).reshape(expected_shape)  # (..., M)
    assert_matches(out, product, "embed(E, ids) vs one_hot(ids) @ E")

WORDS = ["the", "dog", "cat", "ran", "ate", "zoo", "a", "bird", "sang", ".", "!", ",", "?"]


# --------------------------------------------------------------------------- #
# tokenize
# --------------------------------------------------------------------------- #


@suite.case(
    "tokenize",
    points=1,
    hint=TOKENIZE_HINT + " Several marks in a row are several tokens, one per mark.",
)
def runs_of_punctuation(student):
    """Runs of punctuation split mark by mark: "Wait... what?! The cat, the dog; the ZOO:" """
    return str_items(student.tokenize("Wait... what?! The cat, the dog; the ZOO:"))


runs_of_punctuation.verify(check_tokens)


@suite.case(
    "tokenize",
    points=1,
    hint=TOKENIZE_HINT + " Tabs count as whitespace too; an empty text has no tokens.",
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


@suite.case("tokenize", points=1, hint=TOKENIZE_HINT)
def sentences_joined_by_spaces(student):
    """The slide's sentences joined by spaces (not newlines) still give the slide's 26 tokens."""
    return str_items(student.tokenize(" ".join(SLIDE_SENTENCES)))


@sentences_joined_by_spaces.verify
def _(got, ref):
    check_tokens(got, ref)
    assert got == SLIDE_TOKENS, f"expected the slide's 26 tokens, got {got}."


# --------------------------------------------------------------------------- #
# build_vocab
# --------------------------------------------------------------------------- #


@suite.case(
    "build_vocab", points=1, hint=VOCAB_HINT + " Do not change the list you are given (sorting it in place does); no tokens give []."
)
def input_untouched_and_edges(student):
    """The token list is not modified; [] gives [] and repeated tokens give one entry."""
    tokens = ["the", "dog", "the", "!", "dog"]
    vocab = student.build_vocab(tokens)
    return {
        "vocab": str_items(vocab),
        "tokens unchanged": tokens == ["the", "dog", "the", "!", "dog"],
        "empty": str_items(student.build_vocab([])),
        "repeated": str_items(student.build_vocab(["dog"] * 5)),
    }


@input_untouched_and_edges.verify
def _(got, ref):
    if got["tokens unchanged"] is not True:
        raise AssertionError("build_vocab modified the list of tokens it was given; build a new list instead.")
    for key in ("vocab", "empty", "repeated"):
        assert_str_list(got[key], f"build_vocab ({key})")
        assert_matches(got[key], ref[key], key)


@suite.case("build_vocab", points=1, hint=VOCAB_HINT)
def seeded_stream(student):
    """A seeded stream of 200 tokens: sorted, unique, and every token is in the vocabulary."""
    rng = np.random.default_rng(student.seed(5))
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
    hint="the id is the token's position in the vocabulary you are GIVEN, even when that vocabulary is not sorted; "
    "do not sort or rebuild it inside encode.",
)
def unsorted_vocab(student):
    """With an unsorted vocab ['zoo', 'the', 'cat', '.'], ids are positions in that list."""
    return student.encode(["the", "cat", ".", "zoo", "the"], ["zoo", "the", "cat", "."])


@suite.case(
    "encode",
    points=1,
    hint="an array built from an empty list is float64 unless you ask for int64: no tokens must still give int64 ids of shape (0,).",
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
    hint="an unknown token anywhere in the list raises KeyError, and its message names that token.",
)
def unknown_token_in_middle(student):
    """An unknown token in the middle ('unicorn') raises a KeyError that names it."""
    return encode_unknown_probe(student, ["the", "cat", "unicorn", "."], ["!", ".", "cat", "the"])


@unknown_token_in_middle.verify
def _(got, ref):
    check_names_unknown_token(got, "unicorn")


# --------------------------------------------------------------------------- #
# decode
# --------------------------------------------------------------------------- #


@suite.case("decode", points=1, hint=DECODE_HINT + " Use the vocabulary you are given; a list of ids works like an array; no ids give [].")
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


@suite.case("decode", points=1, hint=DECODE_HINT)
def seeded_ids(student):
    """decode of 60 seeded ids with a 13-token (unsorted) vocabulary."""
    ids = np.random.default_rng(student.seed(9)).integers(0, len(WORDS), size=60)  # (60,)
    return {"ids": ids, "vocab": list(WORDS), "tokens": str_items(student.decode(ids.copy(), list(WORDS)))}


@seeded_ids.verify
def _(got, ref):
    assert_str_list(got["tokens"], "decode")
    expected = [ref["vocab"][int(i)] for i in ref["ids"]]  # the inverse of encode, recomputed here
    assert_matches(got["tokens"], expected, "decode(ids, vocab)")


# --------------------------------------------------------------------------- #
# one_hot
# --------------------------------------------------------------------------- #


@suite.case(
    "one_hot",
    points=1,
    hint=ONE_HOT_HINT + " No ids give an empty float array with vocab_size columns.",
)
def width_is_vocab_size(student):
    """ids [0, 2, 2] with vocab_size 6 give 6 columns; no ids give shape (0, 5)."""
    return {
        "X": student.one_hot(np.array([0, 2, 2], dtype=np.int64), 6),
        "empty": student.one_hot(np.array([], dtype=np.int64), 5),
    }


@width_is_vocab_size.verify
def _(got, ref):
    assert_one_hot(got["X"], [0, 2, 2], 6, need_float=False)  # the dtype is the public slide_sentence's
    assert_one_hot(got["empty"], np.zeros(0, dtype=np.int64), 5, need_float=False)
    assert_matches(got, ref)


@suite.case("one_hot", points=1, hint=ONE_HOT_HINT + " ids may be any 1-D sequence, a Python list too.")
def list_ids(student):
    """one_hot([3, 1, 3, 0], 4) from a Python list of ids."""
    return student.one_hot([3, 1, 3, 0], 4)


@list_ids.verify
def _(got, ref):
    assert_one_hot(got, [3, 1, 3, 0], 4, need_float=False)


# --------------------------------------------------------------------------- #
# embed
# --------------------------------------------------------------------------- #


@suite.case(
    "embed",
    points=1,
    hint=EMBED_HINT + " Only read from E; never write into it.",
)
def three_d_ids_and_E_untouched(student):
    """ids of shape (2, 3, 4) with E (7, 5) give (2, 3, 4, 5), and E is not modified."""
    rng = np.random.default_rng(student.seed(21))
    E = rng.normal(size=(7, 5))  # (vocab_size, M)
    E_given = E.copy()
    ids = rng.integers(0, 7, size=(2, 3, 4))  # (2, 3, 4)
    out = student.embed(E_given, ids.copy())
    return {"E": E, "E unchanged": bool(np.array_equal(E_given, E)), "ids": ids, "out": out}


@three_d_ids_and_E_untouched.verify
def _(got, ref):
    if got["E unchanged"] is not True:
        raise AssertionError("embed modified the table E it was given; only read rows from it.")
    assert_rows_of(got["out"], ref["E"], ref["ids"])
    assert_matches(got["out"], ref["out"], "out")


@suite.case("embed", points=1, hint=EMBED_HINT + " Axes of size 1 are kept too.")
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
    assert_matches(got["out_2d"], ref["out_2d"], "out_2d")
    assert_matches(got["out_1d"], ref["out_1d"], "out_1d")
