"""Public tests of notebook 04 (context averaging): run by ``check("name")`` and by the grader.

Probes build seeded inputs (through ``student.seed``) and call the student's code; verify
steps compare with the solution's run of the same probe (``ref``, which also holds every
input) and check what must hold whatever the data: the shapes, the int64 dtypes, that every
window is a real stretch of the stream, that an average is not a sum, that logits are not
probabilities.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_V
from helpers.selfcheck.lm_tables import check_table_gradients, check_table_lm_facts, gradients_probe, table_lm_facts

suite = Suite("04")

# The slide corpus as ids over the sorted vocabulary ['!', '.', 'ate', 'cat', 'dog', 'ran', 'the', 'zoo'].
SLIDE_IDS = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]


# --------------------------------------------------------------------------- #
# context_windows
# --------------------------------------------------------------------------- #


def check_window_arrays(got: dict, ids: np.ndarray, T: int, shapes: tuple | None) -> None:
    """Types and int64 dtypes of (contexts, targets); their shapes when ``shapes`` is given."""
    L = len(ids)
    N = max(L - T, 0)  # the docstring's count of windows
    for key, shape in zip(("contexts", "targets"), shapes or ((None, T), (None,))):
        value = got.get(key)
        if not isinstance(value, np.ndarray):
            raise AssertionError(f"`{key}`: expected a numpy array, got {type(value).__name__}: {describe(value, 80)}.")
        if shapes is not None and value.shape != tuple(shape):
            raise AssertionError(
                f"`{key}`: with len(ids) = {len(ids)} and T = {T} there are N = {N} windows (one per token that has T tokens before it), "
                f"so the shape should be {tuple(shape)}, got {value.shape}."
            )
        if shapes is None and (value.ndim != len(shape) or (len(shape) == 2 and value.shape[1] != T)):
            raise AssertionError(f"`{key}`: expected {'(N, T) = (N, %d)' % T if len(shape) == 2 else '(N,)'}, got shape {value.shape}.")
        if value.dtype != np.int64:
            raise AssertionError(f"`{key}`: expected dtype int64 (token ids index tables and nn.Embedding), got dtype {value.dtype}.")


def check_windows(got: dict, ref: dict) -> None:
    """(contexts, targets) for the solution's ids and T against the solution's."""
    ids, T = ref["ids"], ref["T"]
    check_window_arrays(got, ids, T, (ref["contexts"].shape, ref["targets"].shape))
    assert_matches({"contexts": got["contexts"], "targets": got["targets"]}, {"contexts": ref["contexts"], "targets": ref["targets"]})


def windows_probe(student, ids, T: int) -> dict:
    contexts, targets = student.context_windows(ids, T)
    return {"ids": np.array(ids, dtype=np.int64), "T": T, "contexts": contexts, "targets": targets}


@suite.case(
    "context_windows",
    points=1,
    hint="slide a window of T tokens along the stream, one token at a time, starting at the first token; each window's target is "
    "the token right after it, so the last window ends just before the last token.",
)
def slide_corpus_T3(student):
    """The slide corpus (26 ids) with T = 3 gives 23 windows of 3 tokens and 23 targets."""
    return windows_probe(student, np.array(SLIDE_IDS, dtype=np.int64), 3)


@slide_corpus_T3.verify
def _(got, ref):
    check_windows(got, ref)


@suite.case(
    "context_windows",
    points=1,
    hint="accept a Python list too (make it an int64 array first); a stream of exactly T tokens has no token to predict, so no window at all.",
)
def short_list_stream(student):
    """A Python list [3, 1, 4, 1, 5, 9] with T = 2: contexts [[3, 1], [1, 4], [4, 1], [1, 5]], targets [4, 1, 5, 9]; and [2, 7] with T = 2: no window."""
    return {"list": windows_probe(student, [3, 1, 4, 1, 5, 9], 2), "len(ids) == T": windows_probe(student, [2, 7], 2)}


@short_list_stream.verify
def _(got, ref):
    for key in ("list", "len(ids) == T"):
        try:
            check_windows(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


@suite.case(
    "context_windows",
    points=2,
    hint="each row must be T consecutive tokens of the stream, oldest first, and its target the very next token.",
)
def every_window_is_real(student):
    """Tolerant: on a seeded stream of 30 distinct ids with T = 4, every row returned is 4 consecutive ids followed by its target."""
    ids = np.random.default_rng(student.seed(40)).permutation(60)[:30].astype(np.int64)
    return windows_probe(student, ids.copy(), 4)


@every_window_is_real.verify
def _(got, ref):
    ids, T = ref["ids"], ref["T"]
    check_window_arrays(got, ids, T, None)
    contexts, targets = got["contexts"], got["targets"]
    if len(contexts) != len(targets) or len(contexts) == 0:
        raise AssertionError(f"expected as many targets as windows (and at least one), got {len(contexts)} windows and {len(targets)} targets.")
    where = {int(token): p for p, token in enumerate(ids)}
    for i, (row, target) in enumerate(zip(contexts.tolist(), targets.tolist())):
        start = where.get(row[0])
        if start is None or start + T >= len(ids) or ids[start : start + T].tolist() != row:
            raise AssertionError(f"row {i} of contexts, {row}, is not {T} consecutive tokens of the stream.")
        if int(ids[start + T]) != target:
            raise AssertionError(f"the target of window {row} (row {i}) should be the token right after it, {int(ids[start + T])}; got {target}.")


# --------------------------------------------------------------------------- #
# average_context
# --------------------------------------------------------------------------- #


def check_average(value, ref: dict, what: str = "average") -> None:
    """The student's average for the solution's V and contexts against the solution's."""
    V, contexts, expected = ref["V"], ref["contexts"], ref["average"]
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"`{what}`: expected a numpy array of shape {expected.shape}, got {type(value).__name__}: {describe(value, 80)}.")
    if value.shape != expected.shape:
        raise AssertionError(
            f"`{what}`: contexts of shape {contexts.shape} (N, T) and V of shape {V.shape} (vocab_size, M) "
            f"should give shape {expected.shape} (N, M), one averaged vector per window; got {value.shape}. Which axis holds the T tokens?"
        )
    T = contexts.shape[-1]
    if T > 1 and not np.allclose(expected, 0) and np.allclose(value, expected * T):
        raise AssertionError(f"`{what}` is the SUM of the T = {T} vectors; the uniform average gives each of them the weight 1/T.")
    assert_matches(value, expected, what)


@suite.case(
    "average_context",
    points=1,
    hint="looking up V with the (N, T) ids gives the T vectors of every window; average over the axis that holds the T tokens.",
)
def slide_tables_seeded_windows(student):
    """The slide's V (8, 2) and 23 seeded windows of 3 tokens: averages of shape (23, 2)."""
    contexts = np.random.default_rng(student.seed(41)).integers(0, 8, size=(23, 3))  # (23, 3)
    student.note("contexts = 23 seeded windows of 3 token ids over the slide's 8 tokens")
    return {"V": SLIDE_V.copy(), "contexts": contexts.copy(), "average": student.average_context(SLIDE_V.copy(), contexts)}


@slide_tables_seeded_windows.verify
def _(got, ref):
    check_average(got.get("average"), ref)


@suite.case(
    "average_context",
    points=1,
    hint="the uniform average gives each of the T context vectors the weight 1/T (not 1/N, not 1/M); compute without writing into V or contexts.",
)
def small_hand_example(student):
    """V = [[0, 0], [3, 0], [0, 6], [1, 1]] and contexts [[0, 1, 2], [3, 3, 3], [1, 1, 2]] give [[1, 2], [1, 1], [2, 2]]."""
    V = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 6.0], [1.0, 1.0]])  # (4, 2)
    contexts = np.array([[0, 1, 2], [3, 3, 3], [1, 1, 2]], dtype=np.int64)  # (3, 3)
    V_in, contexts_in = V.copy(), contexts.copy()
    average = student.average_context(V_in, contexts_in)
    unchanged = bool(np.array_equal(V_in, V) and np.array_equal(contexts_in, contexts))
    return {"V": V, "contexts": contexts, "average": average, "inputs unchanged": unchanged}


@small_hand_example.verify
def _(got, ref):
    if got.get("inputs unchanged") is not True:
        raise AssertionError("average_context changed the V or contexts it was given; it should only compute.")
    check_average(got.get("average"), ref)


@suite.case("average_context", points=1, hint="one vector per window: the result has N rows (windows) and M columns (coordinates).")
def one_vector_per_window(student):
    """Tolerant: V (9, 4) and 6 seeded windows of T = 5 give a float array of shape (6, 4) (N windows, M coordinates)."""
    rng = np.random.default_rng(student.seed(42))
    V, contexts = rng.normal(size=(9, 4)), rng.integers(0, 9, size=(6, 5))
    return {"V": V.copy(), "contexts": contexts.copy(), "average": student.average_context(V, contexts)}


@one_vector_per_window.verify
def _(got, ref):
    value = got.get("average")
    if not isinstance(value, np.ndarray) or value.shape != ref["average"].shape or value.dtype.kind != "f":
        check_average(value, ref)  # explains what is wrong
        raise AssertionError(f"`average`: expected a float array of shape {ref['average'].shape}, got {describe(value, 80)}.")


# --------------------------------------------------------------------------- #
# ContextAverageLM
# --------------------------------------------------------------------------- #


def module_facts(model) -> dict:
    """What the grader needs to know about a model's layers (plain data)."""
    return table_lm_facts(model)


def check_facts(got: dict, n: int, m: int, T: int) -> None:
    check_table_lm_facts(got, n, m, f"ContextAverageLM({n}, {m}, {T})", "s = U v'", "The context size adds none.")


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (a test's inputs, set explicitly); a decode bias, if the
    model has one, is set to 0, so that a bias the model should not have costs the attributes case only."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V, dtype=model.encode.weight.dtype))
        model.decode.weight.copy_(torch.as_tensor(U, dtype=model.decode.weight.dtype))
        bias = getattr(model.decode, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()


def check_logits(got: dict, ref: dict, keys: list[str]) -> None:
    """The student's logits for the solution's weights and contexts against the solution's."""
    import torch

    for key in keys:
        contexts, expected, logits = ref[f"contexts {key}"], ref[f"logits {key}"], got.get(f"logits {key}")
        if not isinstance(logits, torch.Tensor):
            raise AssertionError(f"model(contexts) with contexts of shape {tuple(contexts.shape)} should return a torch tensor, got {describe(logits, 80)}.")
        if tuple(logits.shape) != tuple(expected.shape):
            raise AssertionError(
                f"model(contexts) with contexts of shape {tuple(contexts.shape)} (..., T) should give logits of shape {tuple(expected.shape)} "
                f"(..., vocab_size): the T tokens are on the LAST axis of contexts, got {tuple(logits.shape)}."
            )
        mine, want = logits.detach().double(), expected.double()
        if mine.numel() and bool(((mine >= 0) & (mine <= 1)).all()) and torch.allclose(mine.sum(-1), torch.ones(()).double(), atol=1e-4):
            raise AssertionError(f"`logits {key}` look like probabilities (each row sums to 1); forward returns the scores s = U v', before any softmax.")
        T = contexts.shape[-1]
        if T > 1 and torch.allclose(mine, want * T, rtol=1e-4, atol=1e-5) and not torch.allclose(want, torch.zeros(()).double()):
            raise AssertionError(f"`logits {key}` are U times the SUM of the T vectors; v' is their average.")
        assert_matches(mine, want, f"logits {key}", rtol=1e-4, atol=1e-6)


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="the model owns exactly the two tables of notebook 03: V (an embedding) and U (a bias-free linear map); the context size adds no parameters.",
)
def attributes(student):
    """ContextAverageLM(13, 2, 3) has encode = nn.Embedding(13, 2) (V) and decode = nn.Linear(2, 13, bias=False) (U)."""
    return module_facts(student.ContextAverageLM(13, 2, 3))


@attributes.verify
def _(got, ref):
    check_facts(got, 13, 2, 3)


@suite.case(
    "ContextAverageLM",
    points=2,
    hint="look up the T context vectors, average them over the context axis (the second to last once embedded), then decode; "
    "no softmax, and any leading axes (one window, a batch of windows) ride along.",
)
def forward_logits(student):
    """With seeded V, U (13 tokens, dim 2, T = 3), one window (3,) and windows (5, 3) and (2, 4, 3) give logits U @ mean(V[context])."""
    import torch

    rng = np.random.default_rng(student.seed(41))
    model = student.ContextAverageLM(13, 2, 3)
    set_tables(model, rng.normal(size=(13, 2)), rng.normal(size=(13, 2)))
    student.note("model = ContextAverageLM(13, 2, 3) with seeded random encode.weight (V) and decode.weight (U)")
    out = {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone()}
    with torch.no_grad():
        for key, shape in (("(T,)", (3,)), ("(N, T)", (5, 3)), ("(B, N, T)", (2, 4, 3))):
            contexts = torch.from_numpy(rng.integers(0, 13, size=shape))
            out[f"contexts {key}"] = contexts
            out[f"logits {key}"] = model(contexts)
    return out


@forward_logits.verify
def _(got, ref):
    check_logits(got, ref, ["(N, T)", "(B, N, T)", "(T,)"])


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="keep forward in torch (no numpy, no detach, no torch.no_grad) so the loss's gradients reach both tables.",
)
def gradients_flow_to_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) (6 tokens, dim 3, T = 3) fills encode.weight.grad and decode.weight.grad."""
    return gradients_probe(student, k=43, model="ContextAverageLM", sizes=(6, 3, 3), N=8, set_tables=set_tables)


def check_gradients(got: dict, ref: dict) -> None:
    check_table_gradients(got, ref, rtol=1e-4, atol=1e-6)


gradients_flow_to_both_tables.verify(check_gradients)
