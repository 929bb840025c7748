"""Public tests of notebook 04 (context averaging): run by ``check("name")`` and by the grader.

Probes build seeded inputs and call the student's code; verify steps compare with the
solution and with independent references computed here from the inputs the probe
returns (windows read off the stream, ``V[contexts].mean(-2)``, ``U @ mean(V[ctx])``).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches
from helpers.data import SLIDE_V
from helpers.selfcheck.lm_tables import check_table_lm_facts, table_lm_facts

suite = Suite("04")

# The slide corpus as ids over the sorted vocabulary ['!', '.', 'ate', 'cat', 'dog', 'ran', 'the', 'zoo'].
SLIDE_IDS = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]


# --------------------------------------------------------------------------- #
# context_windows
# --------------------------------------------------------------------------- #


def windows_ref(ids: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """The trusted reference: row i is ids[i : i + T], target i is ids[i + T] (a plain loop)."""
    ids = np.asarray(ids, dtype=np.int64)
    N = max(len(ids) - T, 0)
    contexts = np.zeros((N, T), dtype=np.int64)  # (N, T)
    for i in range(N):
        contexts[i] = ids[i : i + T]
    return contexts, ids[T : T + N].copy()  # (N, T), (N,)


def check_windows(got: dict, T: int, ref: dict | None = None) -> None:
    """Types, int64 dtypes and shapes of (contexts, targets), then values vs the loop reference and the solution."""
    ids = got["ids"]
    N = max(len(ids) - T, 0)
    for key, shape in (("contexts", (N, T)), ("targets", (N,))):
        value = got[key]
        if not isinstance(value, np.ndarray):
            raise AssertionError(f"`{key}`: expected a numpy array of shape {shape}, got {type(value).__name__}: {value!r:.80}.")
        if value.shape != shape:
            raise AssertionError(
                f"`{key}`: with len(ids) = {len(ids)} and T = {T} there are N = len(ids) - T = {N} windows, "
                f"so the shape should be {shape}, got {value.shape}."
            )
        if value.dtype != np.int64:
            raise AssertionError(f"`{key}`: expected dtype int64 (token ids index tables and nn.Embedding), got dtype {value.dtype}.")
    contexts, targets = windows_ref(ids, T)
    assert_matches({"contexts": got["contexts"], "targets": got["targets"]}, {"contexts": contexts, "targets": targets})
    if ref is not None:
        assert_matches({"contexts": got["contexts"], "targets": got["targets"]}, {"contexts": ref["contexts"], "targets": ref["targets"]})


def windows_probe(student, ids, T: int) -> dict:
    contexts, targets = student.context_windows(ids, T)
    return {"ids": np.asarray(ids, dtype=np.int64), "T": T, "contexts": contexts, "targets": targets}


@suite.case(
    "context_windows",
    points=1,
    hint="window i is ids[i : i + T] and its target is ids[i + T], for i = 0 .. len(ids) - T - 1; "
    "stack the windows into an (N, T) int64 array.",
)
def slide_corpus_T3(student):
    """The slide corpus (26 ids) with T = 3 gives 23 windows of 3 tokens and 23 targets."""
    return windows_probe(student, np.array(SLIDE_IDS, dtype=np.int64), 3)


@slide_corpus_T3.verify
def _(got, ref):
    check_windows(got, 3, ref)


@suite.case(
    "context_windows",
    points=1,
    hint="convert first (ids = np.asarray(ids, dtype=np.int64)) so a Python list works too; "
    "the last window is ids[-T - 1 : -1] and its target is ids[-1].",
)
def short_list_stream(student):
    """A Python list [3, 1, 4, 1, 5, 9] with T = 2: contexts [[3, 1], [1, 4], [4, 1], [1, 5]], targets [4, 1, 5, 9]."""
    contexts, targets = student.context_windows([3, 1, 4, 1, 5, 9], 2)
    return {"ids": np.array([3, 1, 4, 1, 5, 9], dtype=np.int64), "T": 2, "contexts": contexts, "targets": targets}


@short_list_stream.verify
def _(got, ref):
    check_windows(got, 2, ref)


# --------------------------------------------------------------------------- #
# average_context
# --------------------------------------------------------------------------- #


def check_average(got: dict, ref: dict | None = None, key: str = "average") -> None:
    """The student's average vs V[contexts].mean(-2) computed here from the probe's V and contexts."""
    V, contexts = got["V"], got["contexts"]
    expected = V[contexts].mean(axis=-2)  # (N, M)
    value = got[key]
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"`{key}`: expected a numpy array of shape {expected.shape}, got {type(value).__name__}: {value!r:.80}.")
    if value.shape != expected.shape:
        raise AssertionError(
            f"`{key}`: contexts of shape {contexts.shape} (N, T) and V of shape {V.shape} (vocab_size, M) "
            f"should give shape {expected.shape} (N, M): one averaged vector per window; got {value.shape}."
        )
    if contexts.shape[-1] > 1 and not np.allclose(expected, 0) and np.allclose(value, expected * contexts.shape[-1]):
        raise AssertionError(f"`{key}` is the SUM of the T = {contexts.shape[-1]} vectors; the uniform average divides it by T.")
    assert_matches(value, expected, key)
    if ref is not None:
        assert_matches(value, ref[key], key)


@suite.case(
    "average_context",
    points=2,
    hint="V[contexts] has shape (N, T, M): the T vectors of every window; average over the T axis: V[contexts].mean(axis=1).",
)
def slide_tables_slide_windows(student):
    """The slide's V (8, 2) and the 23 windows (T = 3) of the slide corpus: averages of shape (23, 2)."""
    contexts, _ = windows_ref(np.array(SLIDE_IDS, dtype=np.int64), 3)  # (23, 3), built by the test
    V = SLIDE_V.copy()
    student.note("contexts = the 23 windows of 3 tokens of the slide corpus (built by the test)")
    return {"V": SLIDE_V.copy(), "contexts": contexts, "average": student.average_context(V, contexts)}


@slide_tables_slide_windows.verify
def _(got, ref):
    check_average(got, ref)


@suite.case(
    "average_context",
    points=1,
    hint="the uniform average is (1/T) * (v_1 + ... + v_T): sum the T rows of V, then divide by T (not by N or M).",
)
def small_hand_example(student):
    """V = [[0, 0], [3, 0], [0, 6], [1, 1]] and contexts [[0, 1, 2], [3, 3, 3], [1, 1, 2]] give [[1, 2], [1, 1], [2, 2]]."""
    V = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 6.0], [1.0, 1.0]])  # (4, 2)
    contexts = np.array([[0, 1, 2], [3, 3, 3], [1, 1, 2]], dtype=np.int64)  # (3, 3)
    return {"V": V.copy(), "contexts": contexts.copy(), "average": student.average_context(V, contexts)}


@small_hand_example.verify
def _(got, ref):
    check_average(got, ref)


# --------------------------------------------------------------------------- #
# ContextAverageLM
# --------------------------------------------------------------------------- #


def module_facts(model) -> dict:
    """What the grader needs to know about a model's layers (plain data)."""
    return table_lm_facts(model)


def check_facts(got: dict, n: int, m: int, T: int) -> None:
    check_table_lm_facts(got, n, m, f"ContextAverageLM({n}, {m}, {T})", "s = U v'", "The context size adds none.")


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (a test's inputs, set explicitly)."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V, dtype=model.encode.weight.dtype))
        model.decode.weight.copy_(torch.as_tensor(U, dtype=model.decode.weight.dtype))


def expected_logits(V, U, contexts):
    """U v' with v' = mean of the T rows V[contexts[..., t]]: (..., vocab), in float64."""
    return V.double()[contexts].mean(dim=-2) @ U.double().T


def check_logits(got: dict, keys: list[str], values: bool = True) -> None:
    """logits[key] == U @ mean(V[contexts[key]]) computed here from the weights the probe set
    (``values=False``: only the types and shapes)."""
    import torch

    V, U = got["V"], got["U"]
    for key in keys:
        contexts, logits = got[f"contexts {key}"], got[f"logits {key}"]
        shape = (*contexts.shape[:-1], U.shape[0])
        if not isinstance(logits, torch.Tensor):
            raise AssertionError(f"model(contexts) with contexts of shape {tuple(contexts.shape)} should return a torch tensor, got {logits!r:.80}.")
        if tuple(logits.shape) != shape:
            raise AssertionError(
                f"model(contexts) with contexts of shape {tuple(contexts.shape)} (..., T) should give logits of shape {shape} "
                f"(..., vocab_size): average over the LAST axis of contexts (the T tokens), got {tuple(logits.shape)}."
            )
        if not values:
            continue
        expected = expected_logits(V, U, contexts)  # (..., vocab)
        mine = logits.detach().double()
        if mine.numel() and bool(((mine >= 0) & (mine <= 1)).all()) and torch.allclose(mine.sum(-1), torch.ones(()).double(), atol=1e-4):
            raise AssertionError(f"`logits {key}` look like probabilities (each row sums to 1); forward should return the logits s = U v', without softmax.")
        summed = expected * contexts.shape[-1]
        if contexts.shape[-1] > 1 and torch.allclose(logits.detach().double(), summed, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"`logits {key}` are U times the SUM of the T vectors; average them: v' = (1/T) sum_t v_t (.mean(dim=-2)).")
        assert_matches(logits.detach().double(), expected, f"logits {key}")


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="in __init__: self.encode = nn.Embedding(vocab_size, dim) and self.decode = nn.Linear(dim, vocab_size, bias=False); "
    "the context size only describes the input, it adds no parameters.",
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
    hint="forward: vs = self.encode(contexts) is (..., T, dim); v_avg = vs.mean(dim=-2) is (..., dim); "
    "return self.decode(v_avg), the logits s = U v' (no softmax).",
)
def forward_logits(student):
    """With seeded V, U (13 tokens, dim 2, T = 3), contexts (5, 3) and (2, 4, 3) give logits U @ mean(V[context])."""
    import torch

    rng = np.random.default_rng(41)
    model = student.ContextAverageLM(13, 2, 3)
    set_tables(model, rng.normal(size=(13, 2)), rng.normal(size=(13, 2)))
    student.note("model = ContextAverageLM(13, 2, 3) with seeded random encode.weight (V) and decode.weight (U)")
    c2 = torch.from_numpy(rng.integers(0, 13, size=(5, 3)))
    c3 = torch.from_numpy(rng.integers(0, 13, size=(2, 4, 3)))
    with torch.no_grad():
        l2 = model(c2)
        l3 = model(c3)
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "contexts (N, T)": c2, "logits (N, T)": l2, "contexts (B, N, T)": c3, "logits (B, N, T)": l3}


@forward_logits.verify
def _(got, ref):
    check_logits(got, ["(N, T)", "(B, N, T)"])
