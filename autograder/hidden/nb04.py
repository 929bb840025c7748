"""Hidden tests of notebook 04 (context averaging): grader only.

Other seeds, shapes and edge cases than the self-checks, invariants (order-blindness,
T = 1 is make_pairs) and independent references (trusted side only, never in the sandbox):
a loop over the stream, ``V[contexts].mean(-2)``, ``U @ mean(V[ctx])`` and torch autograd.
Every verify reads its inputs from ``ref`` (the solution's run of the same probe).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.lm_tables import gradients_probe
from helpers.selfcheck.nb04 import check_average, check_gradients, check_logits, check_windows, set_tables

suite = Suite("04", visibility="hidden")


# --------------------------------------------------------------------------- #
# Independent references (trusted side only)
# --------------------------------------------------------------------------- #


def windows_ref(ids: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Row i is ids[i : i + T], target i is ids[i + T] (a plain loop)."""
    ids = np.asarray(ids, dtype=np.int64)
    N = max(len(ids) - T, 0)
    contexts = np.zeros((N, T), dtype=np.int64)  # (N, T)
    for i in range(N):
        contexts[i] = ids[i : i + T]
    return contexts, ids[T : T + N].copy()  # (N, T), (N,)


def check_windows_hidden(got: dict, ref: dict) -> None:
    check_windows(got, ref)
    contexts, targets = windows_ref(ref["ids"], ref["T"])
    assert_matches({"contexts": got["contexts"], "targets": got["targets"]}, {"contexts": contexts, "targets": targets})


def average_ref(V: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    return V[contexts].mean(axis=-2)  # (N, M)


def check_average_hidden(value, ref: dict) -> None:
    check_average(value, ref)
    assert_matches(value, average_ref(ref["V"], ref["contexts"]), "average")


def expected_logits(V, U, contexts):
    """U v' with v' = mean of the T rows V[contexts[..., t]]: (..., vocab), in float64."""
    return V.double()[contexts].mean(dim=-2) @ U.double().T


def check_logits_hidden(got: dict, ref: dict, keys: list[str]) -> None:
    check_logits(got, ref, keys)
    for key in keys:
        assert_matches(got[f"logits {key}"].detach().double(), expected_logits(ref["V"], ref["U"], ref[f"contexts {key}"]), f"logits {key}", rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- #
# context_windows
# --------------------------------------------------------------------------- #


@suite.case("context_windows", points=1, hint="each row must be T consecutive tokens of the stream, in order from the first token, and its target the very next token.")
def seeded_stream_T4(student):
    """Tolerant: a seeded stream of 50 ids over 13 tokens with T = 4: row i is ids[i : i + 4] and its target ids[i + 4] (the count is the other cases')."""
    ids = np.random.default_rng(student.seed(43)).integers(0, 13, size=50)
    contexts, targets = student.context_windows(ids.copy(), 4)
    return {"ids": ids, "T": 4, "contexts": contexts, "targets": targets}


@seeded_stream_T4.verify
def _(got, ref):
    ids, T = ref["ids"], ref["T"]
    contexts, targets = got["contexts"], got["targets"]
    for name, value, ndim in (("contexts", contexts, 2), ("targets", targets, 1)):
        if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype.kind not in "iu":
            raise AssertionError(f"`{name}` should be a {ndim}-D int array, got {describe(value)}.")
    if len(contexts) != len(targets) or not 1 <= len(contexts) <= len(ids) - T or contexts.shape[1] != T:
        raise AssertionError(f"expected up to {len(ids) - T} windows of {T} tokens and one target each, got contexts {contexts.shape} and targets {targets.shape}.")
    for i, (row, target) in enumerate(zip(contexts.tolist(), targets.tolist())):
        if row != ids[i : i + T].tolist() or target != int(ids[i + T]):
            raise AssertionError(f"row {i} should be ids[{i} : {i + T}] = {ids[i : i + T].tolist()} with target {int(ids[i + T])}, got {row} and {target}.")


@suite.case(
    "context_windows",
    points=1,
    hint="a stream of exactly T tokens has no target, so there is no window: empty int64 arrays of shapes (0, T) and (0,); one more token "
    "gives one window; with T = 1 every window is still a row of a 2-D (N, 1) array, exactly notebook 03's pairs.",
)
def no_full_window(student):
    """Edge cases: len(ids) == T = 3 gives contexts (0, 3) and targets (0,); len(ids) = T + 1 = 5 gives one window; T = 1 gives notebook 03's pairs."""
    rng = np.random.default_rng(student.seed(48))
    short, one, pairs = rng.integers(0, 13, size=3), rng.integers(0, 13, size=5), rng.integers(0, 13, size=20)
    c0, t0 = student.context_windows(short.copy(), 3)
    c1, t1 = student.context_windows(one.copy(), 4)
    cp, tp = student.context_windows(pairs.copy(), 1)
    return {"len(ids) == T": {"ids": short, "T": 3, "contexts": c0, "targets": t0},
            "len(ids) == T + 1": {"ids": one, "T": 4, "contexts": c1, "targets": t1},
            "T = 1": {"ids": pairs, "T": 1, "contexts": cp, "targets": tp}}


@no_full_window.verify
def _(got, ref):
    for key in ("len(ids) == T", "len(ids) == T + 1", "T = 1"):
        try:
            check_windows_hidden(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key} (T = {ref[key]['T']}): {exc}") from None


# --------------------------------------------------------------------------- #
# average_context
# --------------------------------------------------------------------------- #


@suite.case(
    "average_context",
    points=1,
    hint="the uniform average weighs every position by the same 1/T, so permuting the T tokens of a window cannot change it; "
    "average over the token axis of each window, not over the windows.",
)
def permutation_invariance(student):
    """Seeded V (10, 5) and 20 windows of T = 4: every permutation of the T tokens gives the same averages."""
    rng = np.random.default_rng(student.seed(53))
    V = rng.normal(size=(10, 5))
    contexts = rng.integers(0, 10, size=(20, 4))
    out = {"V": V.copy(), "contexts": contexts.copy(), "average": student.average_context(V.copy(), contexts.copy()), "perms": []}
    for k in range(3):
        perm = rng.permutation(4)
        out["perms"].append(perm)
        out[f"average with permutation {k}"] = student.average_context(V.copy(), contexts[:, perm].copy())
    student.note("and average_context(V, contexts with its T columns permuted), for 3 permutations")
    return out


@permutation_invariance.verify
def _(got, ref):
    check_average_hidden(got.get("average"), ref)
    for k, perm in enumerate(ref["perms"]):
        value = got.get(f"average with permutation {k}")
        if not isinstance(value, np.ndarray) or value.shape != ref["average"].shape:
            raise AssertionError(f"with the columns permuted by {perm.tolist()}: expected an array of shape {ref['average'].shape}.")
        if not np.allclose(value, got["average"], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"with the window columns permuted by {perm.tolist()} the averages change; a uniform average is blind to the order of the tokens.")


@suite.case(
    "average_context",
    points=1,
    hint="write it for any sizes (any N, T, M, also N = 0), average over the token axis, and leave V and contexts unchanged.",
)
def other_shapes(student):
    """T = 1 returns the rows V[ids] themselves; T = 6 with M = 3; N = 0 windows give shape (0, M); inputs unchanged."""
    rng = np.random.default_rng(student.seed(59))
    V = rng.normal(size=(9, 3))
    c1, c6, c0 = rng.integers(0, 9, size=(7, 1)), rng.integers(0, 9, size=(4, 6)), np.zeros((0, 3), dtype=np.int64)
    V_in, c6_in = V.copy(), c6.copy()
    out = {
        "T = 1": {"V": V.copy(), "contexts": c1.copy(), "average": student.average_context(V_in, c1.copy())},
        "T = 6": {"V": V.copy(), "contexts": c6.copy(), "average": student.average_context(V_in, c6_in)},
        "N = 0": {"V": V.copy(), "contexts": c0.copy(), "average": student.average_context(V_in, c0.copy())},
    }
    out["inputs unchanged"] = bool(np.array_equal(V_in, V) and np.array_equal(c6_in, c6))
    return out


@other_shapes.verify
def _(got, ref):
    if got.get("inputs unchanged") is not True:
        raise AssertionError("average_context changed the V or contexts it was given; it should only compute.")
    for key in ("T = 1", "T = 6", "N = 0"):
        try:
            check_average_hidden(got[key].get("average"), ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


def _windows(rng: np.random.Generator) -> tuple[int, list, list]:
    """One example (T, rows, perm): T from 1 to 5, 1 to 6 windows of T token ids in 0..9
    (a repeated id in a window about half the time), and a permutation of range(T)."""
    T = int(rng.integers(1, 6))
    rows = rng.integers(0, 10, size=(int(rng.integers(1, 7)), T))  # (N, T)
    if T > 1 and rng.random() < 0.5:
        rows[:, 1] = rows[:, 0]  # ties: the same token twice in a window
    return T, rows.tolist(), rng.permutation(T).tolist()


@suite.case("average_context", points=1, hint="average the T context vectors with equal weights 1/T: the result cannot depend on their order.")
def order_blind_property(student):
    """Property (20 random examples): permuting the T tokens of every window leaves the averages unchanged."""
    rng = np.random.default_rng(student.seed(70))
    examples = [_windows(rng) for _ in range(20)]  # [(T, rows, perm)]
    V = np.random.default_rng(student.seed(71)).normal(size=(10, 3))  # (vocab, M)
    out = []
    for T, rows, perm in examples:
        contexts = np.array(rows, dtype=np.int64)  # (N, T)
        out.append({"V": V, "contexts": contexts, "perm": np.array(perm),
                    "average": student.average_context(V.copy(), contexts.copy()),
                    "permuted": student.average_context(V.copy(), contexts[:, list(perm)].copy())})
    return out


@order_blind_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {type(got).__name__}")
    for i, (g, r) in enumerate(zip(got, ref)):
        try:
            check_average_hidden(g.get("average"), r)
        except AssertionError as exc:
            raise AssertionError(f"example {i} (contexts = {r['contexts'].tolist()}): {exc}") from None
        if not isinstance(g.get("permuted"), np.ndarray) or not np.allclose(g["permuted"], g["average"], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"example {i}: with the window columns permuted by {r['perm'].tolist()} the averages change "
                                 f"(contexts = {r['contexts'].tolist()}); a uniform average is order-blind.")


# --------------------------------------------------------------------------- #
# ContextAverageLM
# --------------------------------------------------------------------------- #


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="the average treats the T positions alike, so permuting a window's tokens must not change its logits: no position-dependent weights.",
)
def order_blind(student):
    """ContextAverageLM(13, 4, 3) with seeded weights: windows with their 3 tokens permuted get identical logits."""
    import torch

    rng = np.random.default_rng(student.seed(61))
    model = student.ContextAverageLM(13, 4, 3)
    set_tables(model, rng.normal(size=(13, 4)), rng.normal(size=(13, 4)))
    student.note("model = ContextAverageLM(13, 4, 3) with seeded random encode.weight and decode.weight")
    contexts = torch.from_numpy(rng.integers(0, 13, size=(8, 3)))
    out = {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone()}
    with torch.no_grad():
        for name, perm in (("original", [0, 1, 2]), ("reversed", [2, 1, 0]), ("rotated", [1, 2, 0]), ("swapped", [1, 0, 2])):
            permuted = contexts[:, perm].contiguous()
            out[f"contexts {name}"] = permuted
            out[f"logits {name}"] = model(permuted)
    student.note("and model(contexts[:, perm]) for perm = [2, 1, 0], [1, 2, 0], [1, 0, 2]")
    return out


@order_blind.verify
def _(got, ref):
    import torch

    names = ["original", "reversed", "rotated", "swapped"]
    check_logits(got, ref, names)
    base = got["logits original"].detach().double()
    for name in names[1:]:
        if not torch.allclose(got[f"logits {name}"].detach().double(), base, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"the {name} windows get different logits than the original windows; the uniform average is blind to the order of the tokens.")
    check_logits_hidden(got, ref, names)


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="keep forward in torch (no detach, numpy or torch.no_grad) so gradients reach both tables; each of the T vectors gets 1/T of the gradient of the average.",
)
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) fills encode.weight.grad and decode.weight.grad as autograd does."""
    return gradients_probe(student, k=71, model="ContextAverageLM", sizes=(6, 3, 3), N=10, set_tables=set_tables)


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch.nn.functional as F

    check_gradients(got, ref)
    V, U = ref["V"].double().requires_grad_(), ref["U"].double().requires_grad_()
    F.cross_entropy(expected_logits(V, U, ref["contexts"]), ref["targets"]).backward()
    assert_matches(got["encode grad"].double(), V.grad, "encode grad", rtol=1e-4, atol=1e-6)
    assert_matches(got["decode grad"].double(), U.grad, "decode grad", rtol=1e-4, atol=1e-6)
