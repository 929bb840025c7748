"""Public tests of notebook 01 (embeddings): run by check("name") and by the grader."""

from __future__ import annotations

import numpy as np

from helpers.checking import Opaque, Suite, assert_matches, describe
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_TEXT, SLIDE_V

suite = Suite("01")

# The tokenized slide corpus exactly as printed on the "Simple Word Embedding LM: Setup"
# slide (26 tokens). Used as an input for encode/decode and as an invariant in verify.
SLIDE_TOKENS = [
    "the", "dog", "ran", ".", "the",
    "dog", "ate", ".", "the", "dog",
    "ran", "the", "zoo", ".", "the",
    "cat", "ate", "the", "dog", "!",
    "the", "cat", "ran", "the",
    "zoo", ".",
]  # fmt: skip
# The same corpus as ids over the slide's sorted vocabulary (the slide's own table).
SLIDE_IDS = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]


# --------------------------------------------------------------------------- #
# Shared verify helpers (the hidden tests import them too)
# --------------------------------------------------------------------------- #


def str_items(value):
    """In a probe: a returned list's str items (numpy.str_ too) as plain str; anything else unchanged.

    str.__str__ copies the characters without calling a subclass's own __str__.
    """
    if type(value) is list:
        return [str.__str__(x) if isinstance(x, str) else x for x in value]
    return value


def assert_str_list(got, what: str) -> None:
    """got must be a list of str."""
    if isinstance(got, Opaque):
        raise AssertionError(f"{what} must return a list of str, got an object of type {got.type_name}; convert it with list(...).")
    if isinstance(got, np.ndarray):
        raise AssertionError(f"{what} must return a list of str, got a numpy array; convert it with .tolist().")
    if not isinstance(got, list):
        raise AssertionError(f"{what} must return a list of str, got a {type(got).__name__}: {describe(got)}.")
    bad = [i for i, g in enumerate(got) if not isinstance(g, str)]
    if bad:
        raise AssertionError(f"{what} must return a list of str; item {bad[0]} is {describe(got[bad[0]])}.")


def assert_int64_ids(got, what: str = "encode") -> None:
    """got must be a numpy int64 array."""
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"{what} must return a numpy array (np.ndarray) of int64 ids, got {describe(got)}.")
    if got.dtype != np.int64:
        raise AssertionError(
            f"{what} must return ids of dtype int64, got dtype {got.dtype}: {describe(got)}. "
            "Ask numpy for int64 explicitly when you build the array (an empty list would otherwise give float64)."
        )


def assert_one_hot(X, ids, vocab_size: int, need_float: bool = True) -> None:
    """X is the one-hot matrix of ids: float, (len(ids), vocab_size), one 1 per row at column ids[t].

    ``need_float=False`` (tolerant cases): any numeric dtype; the float dtype costs its own case only.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if not isinstance(X, np.ndarray):
        raise AssertionError(f"expected a numpy array of shape {(len(ids), vocab_size)}, got {describe(X)}.")
    if X.shape != (len(ids), vocab_size):
        raise AssertionError(f"expected shape (len(ids), vocab_size) = {(len(ids), vocab_size)}, got {X.shape}.")
    if X.dtype.kind != "f" and (need_float or X.dtype.kind not in "biu"):
        raise AssertionError(f"expected a float array (ready for X @ E), got dtype {X.dtype}.")
    if not np.all((X == 0) | (X == 1)):
        raise AssertionError(f"a one-hot matrix holds only 0.0 and 1.0, got {describe(X)}.")
    sums = X.sum(axis=1)
    if not np.all(sums == 1):
        row = int(np.argmax(sums != 1))
        raise AssertionError(f"every row must hold exactly one 1; row {row} sums to {sums[row]:g}: {X[row]}.")
    hot = X.argmax(axis=1)
    if not np.array_equal(hot, ids):
        t = int(np.argmax(hot != ids))
        raise AssertionError(f"row t must have its 1 in column ids[t]; row {t} has it in column {hot[t]}, expected {ids[t]}.")


def assert_embedded_shape(out, ref_out, ids) -> None:
    """out must be an array of shape ids.shape + (M,) (the solution's result has that shape)."""
    if not isinstance(out, np.ndarray):
        raise AssertionError(f"expected a numpy array of shape {ref_out.shape}, got {describe(out)}.")
    if out.shape != ref_out.shape:
        raise AssertionError(f"expected shape ids.shape + (M,) = {ref_out.shape} for ids of shape {np.shape(ids)}, got {out.shape}.")


# --------------------------------------------------------------------------- #
# tokenize
# --------------------------------------------------------------------------- #


TOKENIZE_HINT = (
    "as on the slide: case does not matter (lowercase everything), a word (a run of letters or digits, accented "
    "letters too) is one token, each "
    "punctuation mark is a token of its own even when it touches a word, and spaces and newlines only separate tokens "
    "(they never become tokens, and no token is empty)."
)


def check_tokens(got, ref) -> None:
    """tokenize returned a list of str, the solution's tokens."""
    assert_str_list(got, "tokenize")
    assert_matches(got, ref)


@suite.case(
    "tokenize",
    points=2,
    hint=TOKENIZE_HINT,
)
def slide_corpus_tokens(student):
    """tokenize(SLIDE_TEXT) gives the slide's 26 tokens."""
    return str_items(student.tokenize(SLIDE_TEXT))


@slide_corpus_tokens.verify
def _(got, ref):
    check_tokens(got, ref)
    assert got == SLIDE_TOKENS, f"expected the slide's 26 tokens {SLIDE_TOKENS}, got {got}."


@suite.case(
    "tokenize",
    points=1,
    hint="as the docstring says, a word is a run of letters OR digits, in any alphabet: '66' and 'zürich' are words like "
    "'dog' (a pattern for word characters covers them; one for a to z does not).",
)
def digits_and_accents(student):
    """Digits and non-ASCII letters are word characters: "Route 66 à Zürich: 3 cafés, 2 naïve dogs!"."""
    return str_items(student.tokenize("Route 66 à Zürich: 3 cafés, 2 naïve dogs!"))


digits_and_accents.verify(check_tokens)


@suite.case(
    "tokenize",
    points=1,
    hint=TOKENIZE_HINT,
)
def punctuation_and_case(student):
    """Punctuation (two marks in a row too), capitals, a tab and double spaces: "Hello, world!!\tThe  END..."; and an empty text."""
    return {"text": str_items(student.tokenize("Hello, world!!\tThe  END...")), "empty": str_items(student.tokenize(""))}


@punctuation_and_case.verify
def _(got, ref):
    for key in ("text", "empty"):
        assert_str_list(got[key], f"tokenize ({key})")
        assert_matches(got[key], ref[key], key)


# --------------------------------------------------------------------------- #
# build_vocab
# --------------------------------------------------------------------------- #


VOCAB_HINT = "the vocabulary lists every distinct token exactly once, in sorted order (not in first-seen order), as a list."


@suite.case("build_vocab", points=1, hint=VOCAB_HINT)
def slide_vocab(student):
    """build_vocab on the slide's 26 tokens gives the slide's 8-token vocabulary (and leaves the token list as it was)."""
    tokens = list(SLIDE_TOKENS)
    vocab = str_items(student.build_vocab(tokens))
    return {"vocab": vocab, "tokens unchanged": tokens == SLIDE_TOKENS}


@slide_vocab.verify
def _(got, ref):
    vocab = got["vocab"]
    assert_str_list(vocab, "build_vocab")
    assert_matches(vocab, ref["vocab"], "vocab")
    assert vocab == list(SLIDE_TABLE_ORDER), f"expected the slide's vocabulary {SLIDE_TABLE_ORDER}, got {vocab}."
    if got["tokens unchanged"] is not True:
        raise AssertionError("build_vocab changed the list of tokens it was given (sorting in place does); build a new list instead.")


@suite.case("build_vocab", points=1, hint=VOCAB_HINT)
def unique_and_sorted(student):
    """Duplicates are removed and the result is sorted (not in first-seen order)."""
    return str_items(student.build_vocab(["zoo", "the", "cat", "!", "the", "zoo", ",", "ate"]))


@unique_and_sorted.verify
def _(got, ref):
    assert_str_list(got, "build_vocab")
    assert_matches(got, ref)
    assert len(set(got)) == len(got), f"every token must appear once, got {got}."


# --------------------------------------------------------------------------- #
# encode
# --------------------------------------------------------------------------- #


def encode_unknown_probe(student, tokens: list, vocab: list) -> dict:
    """encode(tokens, vocab) with a token that is not in vocab: what it raised (or returned)."""
    encode = student.encode  # outside the try: a missing definition is reported as such
    try:
        out = encode(tokens, vocab)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - report which exception came back
        return {"raised": type(exc).__name__, "is_key_error": isinstance(exc, KeyError), "message": str(exc)}
    return {"raised": None, "is_key_error": False, "message": "", "returned": out}


def check_names_unknown_token(got: dict, token: str) -> None:
    """encode raised a KeyError whose message names ``token``, the unknown token."""
    if got["raised"] is None:
        raise AssertionError(f"expected a KeyError for the unknown token '{token}', but encode returned {describe(got.get('returned'))}.")
    if not got["is_key_error"]:
        raise AssertionError(f"expected a KeyError for the unknown token '{token}', got {got['raised']}: {got['message']}")
    if token not in got["message"]:
        raise AssertionError(f"the KeyError must name the unknown token '{token}'; its message was {got['message']!r}.")


@suite.case(
    "encode",
    points=2,
    hint="a token's id is its position in the vocabulary you are given; looking a position up by scanning the list for "
    "every token is slow, a mapping from token to position built once is fast.",
)
def slide_ids(student):
    """encode(slide tokens, slide vocab) gives each token's position in the vocabulary."""
    return student.encode(list(SLIDE_TOKENS), list(SLIDE_TABLE_ORDER))


@suite.case(
    "encode",
    points=1,
    hint="ids are the positions in the vocabulary exactly as you are given it (never sorted again: here it is not sorted), "
    "returned as a numpy array of dtype int64 (not floats, not a Python list): torch's nn.Embedding and cross-entropy "
    "want int64 indices.",
)
def ids_are_int64(student):
    """encode returns int64 ids, positions in the vocabulary as given (here not sorted), also for no tokens."""
    vocab = ["the", "cat", "ate", ".", "dog"]
    return {"ids": student.encode(["the", "cat", "ate", ".", "the"], list(vocab)), "no tokens": student.encode([], list(vocab))}


@ids_are_int64.verify
def _(got, ref):
    assert_int64_ids(got["ids"])
    assert_int64_ids(got["no tokens"], "encode([], vocab)")
    assert_matches(got["ids"], ref["ids"], "ids")
    assert_matches(got["no tokens"], ref["no tokens"], "encode([], vocab)")


@suite.case(
    "encode",
    points=1,
    hint="a token that is not in the vocabulary is a lookup error of a mapping: raise KeyError (not ValueError, which "
    "searching a list gives), with a message that names the token so the user sees which one.",
)
def unknown_token_raises(student):
    """encode(["the", "zebra"], slide vocab) raises a KeyError that names 'zebra'."""
    return encode_unknown_probe(student, ["the", "zebra"], list(SLIDE_TABLE_ORDER))


@unknown_token_raises.verify
def _(got, ref):
    check_names_unknown_token(got, "zebra")


# --------------------------------------------------------------------------- #
# decode
# --------------------------------------------------------------------------- #


DECODE_HINT = "decode is the inverse of encode: id i stands for the token at position i of the vocabulary; return a list of str, one per id."


@suite.case("decode", points=1, hint=DECODE_HINT)
def round_trip(student):
    """decode(the slide corpus' ids, slide vocab) gives the slide's 26 tokens back."""
    return str_items(student.decode(np.array(SLIDE_IDS, dtype=np.int64), list(SLIDE_TABLE_ORDER)))


@round_trip.verify
def _(got, ref):
    assert_str_list(got, "decode")
    assert_matches(got, ref)
    assert got == SLIDE_TOKENS, f"the round trip must give the tokens back: expected {SLIDE_TOKENS}, got {got}."


@suite.case("decode", points=1, hint=DECODE_HINT)
def ids_to_tokens(student):
    """decode(np.array([6, 4, 2, 6, 3, 0]), slide vocab) gives 'the dog ate the cat !'."""
    return str_items(student.decode(np.array([6, 4, 2, 6, 3, 0], dtype=np.int64), list(SLIDE_TABLE_ORDER)))


@ids_to_tokens.verify
def _(got, ref):
    assert_str_list(got, "decode")
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# one_hot
# --------------------------------------------------------------------------- #


ONE_HOT_HINT = (
    "row t is the one-hot vector of token ids[t]: all zeros except a single 1.0 in the column of that id; the matrix "
    "has one row per id and vocab_size columns (even for tokens that never occur), as floats."
)


@suite.case(
    "one_hot",
    points=1,
    hint=ONE_HOT_HINT,
)
def slide_sentence(student):
    """one_hot of 'the dog ran .' (ids [6, 4, 5, 1]) with vocab_size 8."""
    return student.one_hot(np.array([6, 4, 5, 1], dtype=np.int64), 8)


@suite.case(
    "one_hot",
    points=1,
    hint=ONE_HOT_HINT,
)
def rows_are_basis_vectors(student):
    """Every row sums to 1 and its argmax is the id (20 seeded ids, vocab_size 11)."""
    ids = np.random.default_rng(student.seed(1)).integers(0, 11, size=20)
    return {"ids": ids, "X": student.one_hot(ids.copy(), 11)}


@rows_are_basis_vectors.verify
def _(got, ref):
    assert_one_hot(got["X"], ref["ids"], 11, need_float=False)  # the dtype is slide_sentence's


# --------------------------------------------------------------------------- #
# embed
# --------------------------------------------------------------------------- #


EMBED_HINT = (
    "the vector of token id i is row i of E (the same as one_hot(ids) @ E, without building the one-hot matrix): "
    "pick rows, one per id, for ids of any shape; the result has shape ids.shape + (M,), no axis flattened or dropped."
)


@suite.case("embed", points=1, hint=EMBED_HINT)
def slide_vectors(student):
    """embed(SLIDE_V, ids of 'the dog ran .') gives the slide's v vectors of those tokens."""
    return student.embed(SLIDE_V.copy(), np.array([6, 4, 5, 1], dtype=np.int64))


@suite.case(
    "embed",
    points=2,
    hint=EMBED_HINT,
)
def equals_one_hot_product(student):
    """embed(E, ids) equals one_hot(ids) @ E (seeded E of shape (9, 3), 12 ids)."""
    rng = np.random.default_rng(student.seed(7))
    E = rng.normal(size=(9, 3))  # (vocab_size, M)
    ids = rng.integers(0, 9, size=12)  # (N,)
    return {"E": E, "ids": ids, "out": student.embed(E.copy(), ids.copy())}


@equals_one_hot_product.verify
def _(got, ref):
    assert_embedded_shape(got["out"], ref["out"], ref["ids"])
    assert_matches(got["out"], ref["out"], "out")


@suite.case(
    "embed",
    points=1,
    hint=EMBED_HINT,
)
def batch_of_sequences(student):
    """embed works on a 2-D (B, T) = (3, 4) array of ids and returns (B, T, M)."""
    rng = np.random.default_rng(student.seed(11))
    E = rng.normal(size=(8, 2))  # (vocab_size, M)
    ids = rng.integers(0, 8, size=(3, 4))  # (B, T)
    return {"E": E, "ids": ids, "out": student.embed(E.copy(), ids.copy())}


@batch_of_sequences.verify
def _(got, ref):
    assert_embedded_shape(got["out"], ref["out"], ref["ids"])
    assert_matches(got["out"], ref["out"], "out")
