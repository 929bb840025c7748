"""Hidden tests of notebook 04 (context averaging): grader only.

Other seeds, shapes and edge cases than the self-checks, invariants (order-blindness,
T = 1 is make_pairs) and independent references (a loop over the stream,
``V[contexts].mean(-2)``, ``U @ mean(V[ctx])`` and torch autograd).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from helpers.checking import Suite, assert_matches, draw_examples
from helpers.selfcheck.nb04 import check_average, check_facts, check_logits, check_windows, expected_logits, module_facts, set_tables

suite = Suite("04", visibility="hidden")


# --------------------------------------------------------------------------- #
# context_windows
# --------------------------------------------------------------------------- #


@suite.case(
    "context_windows",
    points=1,
    hint="use len(ids) and T only (no fixed sizes): N = len(ids) - T windows, window i = ids[i : i + T], target i = ids[i + T].",
)
def seeded_stream_T4(student):
    """A seeded stream of 50 ids over 13 tokens with T = 4: 46 windows, each read off the stream."""
    ids = np.random.default_rng(43).integers(0, 13, size=50)
    contexts, targets = student.context_windows(ids.copy(), 4)
    return {"ids": ids, "contexts": contexts, "targets": targets}


@seeded_stream_T4.verify
def _(got, ref):
    check_windows(got, 4, ref)


@suite.case(
    "context_windows",
    points=1,
    hint="with T = 1 every window is one token: contexts has shape (N, 1) (keep the second axis) and equals "
    "ids[:-1, None]; targets = ids[1:], exactly notebook 03's make_pairs.",
)
def T1_is_make_pairs(student):
    """T = 1 gives notebook 03's pairs: contexts (N, 1) = ids[:-1] as a column, targets = ids[1:]."""
    ids = np.random.default_rng(47).integers(0, 13, size=20)
    contexts, targets = student.context_windows(ids.copy(), 1)
    return {"ids": ids, "contexts": contexts, "targets": targets}


@T1_is_make_pairs.verify
def _(got, ref):
    check_windows(got, 1, ref)
    assert_matches(got["contexts"][:, 0], got["ids"][:-1], "contexts[:, 0] (the previous tokens)")
    assert_matches(got["targets"], got["ids"][1:], "targets (the next tokens)")


@suite.case(
    "context_windows",
    points=1,
    hint="a stream of exactly T tokens has no target, so N = 0: return np.zeros((0, T), dtype=np.int64) and an empty "
    "int64 array of shape (0,) (fancy indexing with an (N, T) index array does this on its own); one more token gives N = 1.",
)
def no_full_window(student):
    """Edge cases: len(ids) == T = 3 gives contexts (0, 3) and targets (0,); len(ids) = T + 1 = 5 gives exactly one window."""
    short = np.array([7, 2, 9], dtype=np.int64)
    one = np.array([4, 0, 12, 5, 8], dtype=np.int64)
    c0, t0 = student.context_windows(short.copy(), 3)
    c1, t1 = student.context_windows(one.copy(), 4)
    return {"len(ids) == T": {"ids": short, "contexts": c0, "targets": t0},
            "len(ids) == T + 1": {"ids": one, "contexts": c1, "targets": t1}}


@no_full_window.verify
def _(got, ref):
    for key, T in (("len(ids) == T", 3), ("len(ids) == T + 1", 4)):
        try:
            check_windows(got[key], T, ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key} (T = {T}): {exc}") from None


# --------------------------------------------------------------------------- #
# average_context
# --------------------------------------------------------------------------- #


@suite.case(
    "average_context",
    points=1,
    hint="the uniform average weighs every position by the same 1/T, so permuting the T tokens of a window cannot change it; "
    "average over the T axis (axis=1), not over the N windows (axis=0).",
)
def permutation_invariance(student):
    """Seeded V (10, 5) and 20 windows of T = 4: every permutation of the T tokens gives the same averages."""
    rng = np.random.default_rng(53)
    V = rng.normal(size=(10, 5))
    contexts = rng.integers(0, 10, size=(20, 4))
    out = {"V": V.copy(), "contexts": contexts.copy(), "average": student.average_context(V.copy(), contexts.copy())}
    for k in range(3):
        perm = rng.permutation(4)
        out[f"perm {k}"] = perm
        out[f"average with columns {[int(i) for i in perm]}"] = student.average_context(V.copy(), contexts[:, perm].copy())
    shuffled = rng.permuted(contexts, axis=1)  # every row shuffled on its own
    out["average with every row shuffled"] = student.average_context(V.copy(), shuffled)
    student.note("and average_context(V, contexts with its T columns permuted), for 3 permutations and a row-by-row shuffle")
    return out


@permutation_invariance.verify
def _(got, ref):
    average = got["average"]
    expected_shape = (got["contexts"].shape[0], got["V"].shape[1])
    if not isinstance(average, np.ndarray) or average.shape != expected_shape:
        check_average(got, ref)  # explains the type or shape
    for key in [k for k in got if k.startswith("average with")]:
        value = got[key]
        if not isinstance(value, np.ndarray) or value.shape != got["average"].shape:
            raise AssertionError(f"`{key}`: expected an array of shape {got['average'].shape}, got {value!r:.80}.")
        if not np.allclose(value, got["average"], rtol=1e-10, atol=1e-12):
            raise AssertionError(
                f"`{key}` differs from the average of the unpermuted windows (max difference "
                f"{float(np.max(np.abs(value - got['average']))):.3g}); a uniform average must not depend on the order of the T tokens."
            )
    check_average(got, ref)


@suite.case(
    "average_context",
    points=1,
    hint="write it for any sizes: V[contexts] is (N, T, M) for any N, T, M (also N = 0); average over axis 1 "
    "(or axis=-2), and leave V and contexts unchanged.",
)
def other_shapes(student):
    """T = 1 returns the rows V[ids] themselves; T = 6 with M = 3; N = 0 windows give shape (0, M); inputs unchanged."""
    rng = np.random.default_rng(59)
    V = rng.normal(size=(9, 3))
    c1 = rng.integers(0, 9, size=(7, 1))
    c6 = rng.integers(0, 9, size=(4, 6))
    c0 = np.zeros((0, 3), dtype=np.int64)
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
    if not got["inputs unchanged"]:
        raise AssertionError("average_context changed the V or contexts it was given; it should only compute.")
    for key in ("T = 1", "T = 6", "N = 0"):
        try:
            check_average(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


# --------------------------------------------------------------------------- #
# ContextAverageLM
# --------------------------------------------------------------------------- #


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="the average treats the T positions alike, so permuting a window's tokens must not change its logits: "
    "average with .mean(dim=-2) over the T axis, with no position-dependent weights.",
)
def order_blind(student):
    """ContextAverageLM(13, 4, 3) with seeded weights: windows with their 3 tokens permuted get identical logits."""
    import torch

    rng = np.random.default_rng(61)
    model = student.ContextAverageLM(13, 4, 3)
    set_tables(model, rng.normal(size=(13, 4)), rng.normal(size=(13, 4)))
    student.note("model = ContextAverageLM(13, 4, 3) with seeded random encode.weight and decode.weight")
    contexts = torch.from_numpy(rng.integers(0, 13, size=(8, 3)))
    out = {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone()}
    with torch.no_grad():
        out["contexts original"] = contexts
        out["logits original"] = model(contexts)
        for name, perm in (("reversed", [2, 1, 0]), ("rotated", [1, 2, 0]), ("swapped", [1, 0, 2])):
            permuted = contexts[:, perm].contiguous()
            out[f"contexts {name}"] = permuted
            out[f"logits {name}"] = model(permuted)
    student.note("and model(contexts[:, perm]) for perm = [2, 1, 0], [1, 2, 0], [1, 0, 2]")
    return out


@order_blind.verify
def _(got, ref):
    import torch

    names = ["original", "reversed", "rotated", "swapped"]
    check_logits(got, names, values=False)  # types and shapes first
    base = got["logits original"].detach().double()
    for name in names[1:]:
        other = got[f"logits {name}"].detach().double()
        if not torch.allclose(other, base, rtol=1e-5, atol=1e-6):
            raise AssertionError(
                f"the {name} windows get different logits than the original windows (max difference "
                f"{float((other - base).abs().max()):.3g}); the uniform average is blind to the order of the tokens."
            )
    check_logits(got, names)


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="do not reshape or assume 2-D input: nn.Embedding works on any shape, so average over dim=-2 (the T axis) "
    "and a single window (T,) gives logits (vocab_size,).",
)
def other_sizes_any_leading_dims(student):
    """ContextAverageLM(7, 5, 4): its layers, and one window (4,), windows (6, 4) and (2, 3, 4) give U @ mean(V[window])."""
    import torch

    rng = np.random.default_rng(67)
    model = student.ContextAverageLM(7, 5, 4)
    facts = module_facts(model)
    set_tables(model, rng.normal(size=(7, 5)), rng.normal(size=(7, 5)))
    student.note("model = ContextAverageLM(7, 5, 4) with seeded random encode.weight and decode.weight")
    out = {"facts": facts, "V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone()}
    with torch.no_grad():
        for key, shape in (("(T,)", (4,)), ("(N, T)", (6, 4)), ("(B, N, T)", (2, 3, 4))):
            contexts = torch.from_numpy(rng.integers(0, 7, size=shape))
            out[f"contexts {key}"] = contexts
            out[f"logits {key}"] = model(contexts)
    return out


@other_sizes_any_leading_dims.verify
def _(got, ref):
    check_facts(got["facts"], 7, 5, 4)
    check_logits(got, ["(T,)", "(N, T)", "(B, N, T)"])


@suite.case(
    "ContextAverageLM",
    points=1,
    hint="keep forward in torch (no .detach(), .numpy() or torch.no_grad()) so gradients reach encode.weight and decode.weight; "
    "each of the T vectors gets 1/T of the gradient of the average.",
)
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) fills encode.weight.grad and decode.weight.grad as autograd does."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(71)
    model = student.ContextAverageLM(6, 3, 3)
    set_tables(model, rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    contexts = torch.from_numpy(rng.integers(0, 6, size=(10, 3)))
    targets = torch.from_numpy(rng.integers(0, 6, size=10))
    student.note("loss = F.cross_entropy(model(contexts), targets); loss.backward() with model = ContextAverageLM(6, 3, 3)")
    loss = F.cross_entropy(model(contexts), targets)
    loss.backward()
    g_enc, g_dec = model.encode.weight.grad, model.decode.weight.grad
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "contexts": contexts, "targets": targets,
            "encode grad": None if g_enc is None else g_enc.clone(), "decode grad": None if g_dec is None else g_dec.clone()}


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    V = got["V"].double().requires_grad_()
    U = got["U"].double().requires_grad_()
    F.cross_entropy(expected_logits(V, U, got["contexts"]), got["targets"]).backward()
    for key, table, expected in (("encode grad", "V", V.grad), ("decode grad", "U", U.grad)):
        if got[key] is None or not isinstance(got[key], torch.Tensor):
            raise AssertionError(f"no gradient reached the {key.split()[0]} weights ({table}): forward must stay differentiable.")
        assert_matches(got[key].double(), expected, key)


def _windows(T):
    rows = st.lists(st.lists(st.integers(0, 9), min_size=T, max_size=T), min_size=1, max_size=6)
    return st.tuples(st.just(T), rows, st.permutations(list(range(T))))


# Drawn by hypothesis (derandomized) when the suite loads: once per grading worker.
ORDER_EXAMPLES = draw_examples(st.integers(1, 5).flatmap(_windows), 20, "order_blind")  # [(T, rows, perm)]


@suite.case("average_context", points=1, hint="average the T context vectors with equal weights 1/T: the result cannot depend on their order.")
def order_blind_property(student):
    """Property (20 hypothesis examples): permuting the T tokens of every window leaves the averages unchanged."""
    V = np.random.default_rng(71).normal(size=(10, 3))  # (vocab, M)
    out = []
    for T, rows, perm in ORDER_EXAMPLES:
        contexts = np.array(rows, dtype=np.int64)  # (N, T)
        out.append(
            {
                "contexts": contexts,
                "perm": np.array(perm),
                "average": student.average_context(V.copy(), contexts.copy()),
                "permuted": student.average_context(V.copy(), contexts[:, list(perm)].copy()),
            }
        )
    return out


@order_blind_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {got!r:.80}")
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_matches(g["average"], r["average"], path=f"example {i}, average_context(V, contexts)")
        if not np.allclose(g["permuted"], g["average"], rtol=1e-10, atol=1e-12):
            raise AssertionError(
                f"example {i}: with the window columns permuted by {g['perm'].tolist()} the averages change "
                f"(contexts = {g['contexts'].tolist()}); a uniform average is order-blind."
            )
