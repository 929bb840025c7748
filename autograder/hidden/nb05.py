"""Hidden tests of notebook 05 (RoPE): grader only.

Other seeds, shapes and angles; the algebra of rotations (lengths, R(b)R(a) = R(a+b),
inverses) checked on 50 seeded random draws; the relative-position property of RoPE
(scores depend only on j - i, and shifting both sequences changes nothing); and an
independent reference for the d-dimensional model, with named diagnoses of the usual
mistakes (half-split pairs, angles not scaled by theta1, positions reversed).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from helpers.checking import Suite, assert_matches, draw_examples
from helpers.selfcheck.nb05 import (
    MODEL_TOL,
    average_logits,
    check_rope,
    check_rope_2d,
    check_rotate,
    logits_array,
    matrix_rotate,
    model_probe,
    require_array,
    set_tables,
)

suite = Suite("05", visibility="hidden")


# --------------------------------------------------------------------------- #
# Independent references (trusted side only)
# --------------------------------------------------------------------------- #


def rope_variant(X: np.ndarray, freqs: np.ndarray, pairing: str = "adjacent", sign: float = 1.0) -> np.ndarray:
    """Rotate pairs of the last axis of X (..., T, d) by i * freqs[j] at position i, with the slide's matrices.

    pairing "adjacent": pair j = coordinates (2j, 2j+1); "half": pair j = (j, j + d/2).
    """
    X = np.asarray(X, dtype=float)
    T, d = X.shape[-2:]
    h = d // 2
    first = np.arange(0, d, 2) if pairing == "adjacent" else np.arange(h)
    second = first + 1 if pairing == "adjacent" else np.arange(h) + h
    pairs = np.stack([X[..., first], X[..., second]], axis=-1)  # (..., T, d/2, 2)
    angles = sign * np.arange(T)[:, None] * np.asarray(freqs)[None, :]  # (T, d/2)
    turned = matrix_rotate(pairs, angles)  # (..., T, d/2, 2)
    out = np.empty_like(X)
    out[..., first], out[..., second] = turned[..., 0], turned[..., 1]
    return out


def rope_freqs(d: int, base: float = 10000.0) -> np.ndarray:
    return base ** (-2.0 * np.arange(d // 2) / d)


def model_logits(V: np.ndarray, U: np.ndarray, contexts: np.ndarray, freqs: np.ndarray, pairing: str = "adjacent") -> np.ndarray:
    """logits = U v', v' = mean over positions of the rotated V[x_i] (float64, independent of the student's code)."""
    rotated = rope_variant(V[contexts], freqs, pairing)  # (N, T, d)
    return rotated.mean(axis=-2) @ U.T  # (N, vocab)


def check_model_logits(got: dict, ref: dict | None) -> None:
    """The d-dimensional model against the independent reference, naming the usual mistakes."""
    V, U = got["V"].double().numpy(), got["U"].double().numpy()
    contexts, theta1 = got["contexts"], got["theta1"]
    d = V.shape[1]
    what = f"ContextRoPELM(dim = {d}, context_size = {contexts.shape[1]}, theta1 = {theta1:g}): model(contexts)"
    logits = logits_array(got["logits"], (contexts.shape[0], U.shape[0]), what)
    freqs = theta1 * rope_freqs(d)
    expected = model_logits(V, U, contexts, freqs)
    if not np.allclose(logits, expected, **MODEL_TOL):
        diagnoses = [
            (average_logits(V, U, contexts), "your logits are those of the plain average: nothing was rotated."),
            (model_logits(V, U, contexts, freqs, "half"), "you paired coordinates (j, j + dim/2) (the half-split convention); pair j is the adjacent coordinates (2j, 2j+1)."),
            (model_logits(V, U, contexts, rope_freqs(d)), "your angles are not scaled by theta1: pair j at position i turns by i * theta1 * 10000^(-2j/dim)."),
            (model_logits(V, U, contexts, np.full(d // 2, theta1)), "every pair turns by i * theta1; pair j should turn by i * theta1 * 10000^(-2j/dim) (slower for larger j)."),
            (model_logits(V, U, contexts[:, ::-1], freqs), "you rotated the positions in reverse order; column i of contexts is position i (column 0 is not rotated)."),
            (model_logits(V, U, contexts, -freqs), "you rotated clockwise; turn counter-clockwise (x'_2j = cos x_2j - sin x_2j+1, x'_2j+1 = sin x_2j + cos x_2j+1)."),
            (expected * contexts.shape[1], "your logits are T times too large: average the rotated vectors (mean over the T axis), do not sum them."),
        ]
        for alternative, message in diagnoses:
            if np.allclose(logits, alternative, **MODEL_TOL):
                raise AssertionError(f"{what}: {message}")
        assert_matches(logits, expected, "logits = U v', v' = mean_i R_i V[x_i]", **MODEL_TOL)
    if ref is not None:
        assert_matches(logits, ref["logits"].double().numpy(), "logits", **MODEL_TOL)


# --------------------------------------------------------------------------- #
# rotate_2d
# --------------------------------------------------------------------------- #


@suite.case(
    "rotate_2d",
    points=1,
    hint="a correct rotation keeps lengths, turning by a then by b equals turning by a + b, and turning back by -a undoes it; "
    "use cos and sin of the angle in radians, with the signs of the matrix [[cos, -sin], [sin, cos]].",
)
def rotation_algebra(student):
    """On 50 seeded random vectors and angles: lengths kept, R(b) R(a) x = R(a + b) x, and R(-a) R(a) x = x."""
    rng = np.random.default_rng(60)
    x = rng.normal(size=(50, 2)) * rng.uniform(0.1, 10, size=(50, 1))
    a, b = rng.uniform(-7, 7, size=50), rng.uniform(-7, 7, size=50)
    Ra = student.rotate_2d(x.copy(), a.copy())
    student.note("then rotate_2d(R(a) x, b), rotate_2d(x, a + b) and rotate_2d(R(a) x, -a)")
    raw = student.get("rotate_2d")
    return {"x": x, "a": a, "b": b, "R(a) x": Ra, "R(b) R(a) x": raw(np.array(Ra, dtype=float), b.copy()),
            "R(a + b) x": raw(x.copy(), a + b), "R(-a) R(a) x": raw(np.array(Ra, dtype=float), -a)}


@rotation_algebra.verify
def _(got, ref):
    x = got["x"]
    for key in ("R(a) x", "R(b) R(a) x", "R(a + b) x", "R(-a) R(a) x"):
        require_array(got[key], (50, 2), f"`{key}`")
    lengths_in, lengths_out = np.linalg.norm(x, axis=1), np.linalg.norm(got["R(a) x"], axis=1)
    bad = np.flatnonzero(~np.isclose(lengths_out, lengths_in, rtol=1e-9, atol=1e-12))
    if bad.size:
        k = int(bad[0])
        raise AssertionError(f"lengths: ||R(a) x|| should equal ||x||; for x = {x[k]}, a = {got['a'][k]:.4g}: {lengths_in[k]:.6g} became {lengths_out[k]:.6g}.")
    diff = np.abs(got["R(b) R(a) x"] - got["R(a + b) x"]).max()
    if diff > 1e-9:
        raise AssertionError(f"turning by a then by b should equal turning by a + b, but R(b) R(a) x and R(a + b) x differ by up to {diff:.3g}.")
    back = np.abs(got["R(-a) R(a) x"] - x).max()
    if back > 1e-9:
        raise AssertionError(f"turning back by -a should undo a turn by a, but R(-a) R(a) x differs from x by up to {back:.3g}.")
    check_rotate({"x": x, "theta": got["a"], "x'": got["R(a) x"]}, {"x'": ref["R(a) x"]}, "rotate_2d(x of shape (50, 2), a of shape (50,))")


@suite.case(
    "rotate_2d",
    points=1,
    hint="do not assume x is (N, 2) or theta a scalar: index x[..., 0] and x[..., 1], let numpy broadcast them against theta, "
    "and convert inputs first (x = np.asarray(x, dtype=float)) so lists work and x is never changed in place.",
)
def broadcasting_and_plain_inputs(student):
    """One vector with 5 angles gives (5, 2); x (3, 1, 2) with theta (4,) gives (3, 4, 2); a Python list works; x is not modified."""
    rng = np.random.default_rng(61)
    v, angles = rng.normal(size=2), rng.uniform(-3, 3, size=5)
    x3, t3 = rng.normal(size=(3, 1, 2)), rng.uniform(-3, 3, size=4)
    x_keep = rng.normal(size=(4, 2))
    x_copy = x_keep.copy()
    out = {
        "one vector, 5 angles": {"x": v, "theta": angles, "x'": student.rotate_2d(v.copy(), angles.copy())},
        "x (3, 1, 2), theta (4,)": {"x": x3, "theta": t3, "x'": student.rotate_2d(x3.copy(), t3.copy())},
        "a list, an int angle": {"x": np.array([1.0, 2.0]), "theta": 1.0, "x'": student.rotate_2d([1.0, 2.0], 1)},
    }
    student.rotate_2d(x_keep, 0.5)
    out["x unchanged"] = bool(np.array_equal(x_keep, x_copy))
    return out


@broadcasting_and_plain_inputs.verify
def _(got, ref):
    if not got["x unchanged"]:
        raise AssertionError("rotate_2d changed the array x it was given; compute new arrays, never write into x.")
    for key in ("one vector, 5 angles", "x (3, 1, 2), theta (4,)", "a list, an int angle"):
        check_rotate(got[key], ref[key], f"rotate_2d ({key})")


# --------------------------------------------------------------------------- #
# rope_2d
# --------------------------------------------------------------------------- #


@suite.case(
    "rope_2d",
    points=1,
    hint="angles = np.arange(T) * theta1 works for any theta1 (0, negative, 2 pi); return a new array and leave X as it was.",
)
def zero_negative_and_full_turns(student):
    """theta1 = 0 changes nothing, theta1 = 2 pi brings every row back, theta1 = -0.4 turns clockwise; X is not modified."""
    X = np.random.default_rng(62).normal(size=(5, 2))
    X_in = X.copy()
    out = {}
    for name, theta1 in (("theta1 = 0", 0.0), ("theta1 = 2 pi", 2 * np.pi), ("theta1 = -0.4", -0.4)):
        out[name] = {"X": X_in, "theta1": float(theta1), "out": student.rope_2d(X, float(theta1))}
    out["X unchanged"] = bool(np.array_equal(X, X_in))
    return out


@zero_negative_and_full_turns.verify
def _(got, ref):
    if not got["X unchanged"]:
        raise AssertionError("rope_2d changed the array X it was given; return a new array.")
    for name in ("theta1 = 0", "theta1 = 2 pi", "theta1 = -0.4"):
        check_rope_2d(got[name], ref[name])
    for name in ("theta1 = 0", "theta1 = 2 pi"):
        assert_matches(got[name]["out"], got[name]["X"], f"rope_2d(X, {name}) should give X back", rtol=1e-9, atol=1e-12)


@suite.case(
    "rope_2d",
    points=1,
    hint="rotate every row i by i * theta1 (the same rule for Q and K); then q'_i . k'_j = q . Rotate(k, (j - i) theta1) for every i, j.",
)
def scores_depend_on_distance(student):
    """The same q at positions 0..6 and the same k at 0..6 (theta1 = 0.9): q'_i . k'_j depends only on j - i."""
    rng = np.random.default_rng(63)
    q, k = rng.normal(size=2), rng.normal(size=2)
    Q, K = np.tile(q, (7, 1)), np.tile(k, (7, 1))
    return {"q": q, "k": k, "theta1": 0.9, "Q'": student.rope_2d(Q.copy(), 0.9), "K'": student.rope_2d(K.copy(), 0.9),
            "Q": Q, "K": K}


@scores_depend_on_distance.verify
def _(got, ref):
    check_rope_2d({"X": got["Q"], "theta1": 0.9, "out": got["Q'"]}, {"out": ref["Q'"]})
    check_rope_2d({"X": got["K"], "theta1": 0.9, "out": got["K'"]}, {"out": ref["K'"]})
    S = got["Q'"] @ got["K'"].T  # (7, 7)
    for i in range(7):
        for j in range(7):
            expected = float(got["q"] @ matrix_rotate(got["k"], (j - i) * 0.9))
            if not np.isclose(S[i, j], expected, rtol=1e-7, atol=1e-9):
                raise AssertionError(f"q'_{i} . k'_{j} = {S[i, j]:.6g}, but it should be q . Rotate(k, ({j} - {i}) * 0.9) = {expected:.6g}.")


# --------------------------------------------------------------------------- #
# rope
# --------------------------------------------------------------------------- #


@suite.case(
    "rope",
    points=1,
    hint="use only the last two axes: T = X.shape[-2], d = X.shape[-1]; reshape to X.shape[:-1] + (d // 2, 2) so any leading "
    "(batch, head) axes ride along; the angle table (T, d/2) broadcasts over them. Do not modify X.",
)
def batch_heads_and_base(student):
    """X of shape (B, H, T, d) = (2, 3, 4, 8) with base = 100: every adjacent pair turned by i * 100^(-2j/8); X unchanged."""
    X = np.random.default_rng(64).normal(size=(2, 3, 4, 8))
    X_in = X.copy()
    out = student.rope(X, base=100.0)
    return {"X": X_in, "base": 100.0, "out": out, "X unchanged": bool(np.array_equal(X, X_in))}


@batch_heads_and_base.verify
def _(got, ref):
    if not got["X unchanged"]:
        raise AssertionError("rope changed the array X it was given; return a new array.")
    out, X = got["out"], got["X"]
    require_array(out, X.shape, "rope(X of shape (2, 3, 4, 8), base = 100)")
    if np.allclose(out, rope_variant(X, rope_freqs(8, 100.0), "half"), rtol=1e-7, atol=1e-9):
        raise AssertionError("rope(X of shape (2, 3, 4, 8), base = 100): you paired coordinates (j, j + d/2) (the half-split convention); "
                             "this notebook pairs adjacent coordinates (2j, 2j+1), as in the RoFormer paper.")
    assert_matches(out, rope_variant(X, rope_freqs(8, 100.0)), "rope(X of shape (2, 3, 4, 8), base = 100)", rtol=1e-7, atol=1e-9)
    check_rope(got, ref)


@suite.case(
    "rope",
    points=2,
    hint="every pair at position i must turn by exactly i * theta_j, the same rule for queries and keys; then the score of "
    "positions i and j depends on j - i only, and moving both sequences by the same offset changes no score.",
)
def relative_positions(student):
    """d = 8, T = 9: the same q and k at every position give scores q'_i . k'_j that depend only on j - i; random Q, K shifted by 3 positions give the same scores."""
    rng = np.random.default_rng(65)
    q, k = rng.normal(size=8), rng.normal(size=8)
    Q, K = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    pad = np.zeros((3, 8))
    student.note("rope(np.tile(q, (9, 1))), rope(np.tile(k, (9, 1))), rope(Q), rope(K), and rope of Q, K after 3 rows of zeros")
    raw = student.get("rope")
    return {
        "q": q, "k": k, "Q": Q, "K": K,
        "tiled q'": raw(np.tile(q, (9, 1))), "tiled k'": raw(np.tile(k, (9, 1))),
        "Q'": raw(Q.copy()), "K'": raw(K.copy()),
        "shifted Q'": raw(np.vstack([pad, Q])), "shifted K'": raw(np.vstack([pad, K])),
    }


@relative_positions.verify
def _(got, ref):
    for key, shape in (("tiled q'", (9, 8)), ("tiled k'", (9, 8)), ("Q'", (6, 8)), ("K'", (6, 8)), ("shifted Q'", (9, 8)), ("shifted K'", (9, 8))):
        require_array(got[key], shape, f"`{key}`")
    S = got["tiled q'"] @ got["tiled k'"].T  # (9, 9)
    for delta in range(-8, 9):
        values = np.diagonal(S, offset=delta)
        if np.ptp(values) > 1e-9 * max(1.0, float(np.abs(values).max())):
            i = int(np.argmax(np.abs(values - values[0])))
            r0, c0 = max(0, -delta), max(0, delta)
            raise AssertionError(
                f"with the same q at every position and the same k at every position, q'_i . k'_j should depend only on j - i; "
                f"for j - i = {delta}: q'_{r0} . k'_{c0} = {values[0]:.6g} but q'_{r0 + i} . k'_{c0 + i} = {values[i]:.6g}."
            )
    S0 = got["Q'"] @ got["K'"].T  # (6, 6)
    S3 = got["shifted Q'"][3:] @ got["shifted K'"][3:].T  # (6, 6)
    if not np.allclose(S0, S3, rtol=1e-7, atol=1e-9):
        i, j = np.unravel_index(int(np.argmax(np.abs(S0 - S3))), S0.shape)
        raise AssertionError(
            f"moving both sequences 3 positions later should not change any score, but q'_{i} . k'_{j} = {S0[i, j]:.6g} "
            f"became {S3[i, j]:.6g} at positions ({i + 3}, {j + 3})."
        )
    for key in ("tiled q'", "Q'", "shifted K'"):
        assert_matches(got[key], ref[key], key)


# --------------------------------------------------------------------------- #
# ContextRoPELM
# --------------------------------------------------------------------------- #


@suite.case(
    "ContextRoPELM",
    points=2,
    hint="for dim > 2 the coordinate pair (2j, 2j+1) at position i turns by i * theta1 * 10000 ** (-2j / dim): rope's "
    "frequencies times theta1; take the pairs as x[..., 0::2] and x[..., 1::2] and stack them back with dim=-1, then flatten.",
)
def forward_dim8_context5(student):
    """dim = 8, T = 5, theta1 = 1.3, seeded V (11, 8) and U (11, 8): logits match an independent computation."""
    return model_probe(student, 11, 8, 5, 1.3, 6, seed=66)


@forward_dim8_context5.verify
def _(got, ref):
    check_model_logits(got, ref)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="theta1 = 1 must give exactly rope's angles i * 10000 ** (-2j / dim); build the angle table from theta1, dim and "
    "context_size in __init__ (no fixed sizes).",
)
def theta1_one_is_rope(student):
    """dim = 6, T = 4, theta1 = 1: the context vectors are rotated exactly as rope(X) rotates them."""
    return model_probe(student, 9, 6, 4, 1.0, 7, seed=67)


@theta1_one_is_rope.verify
def _(got, ref):
    check_model_logits(got, ref)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="with theta1 = 0 every angle is 0, cos = 1 and sin = 0: v' is the plain average of the context vectors "
    "(notebook 04), and the order of the context no longer matters.",
)
def theta1_zero_is_average(student):
    """theta1 = 0 (dim = 6, T = 4): logits = U (mean of the V rows), the same for a permuted context."""
    import torch

    got = model_probe(student, 9, 6, 4, 0.0, 5, seed=68)
    model = student.ContextRoPELM(9, 6, 4, 0.0)
    set_tables(model, got["V"], got["U"])
    permuted = got["contexts"][:, [2, 0, 3, 1]].copy()
    with torch.no_grad():
        got["permuted logits"] = model(torch.from_numpy(permuted))
    return got


@theta1_zero_is_average.verify
def _(got, ref):
    V, U = got["V"].double().numpy(), got["U"].double().numpy()
    logits = logits_array(got["logits"], (5, 9), "ContextRoPELM(9, 6, 4, theta1 = 0): model(contexts)")
    permuted = logits_array(got["permuted logits"], (5, 9), "model(permuted contexts)")
    assert_matches(logits, average_logits(V, U, got["contexts"]), "theta1 = 0: logits vs U (mean of V[x_i])", **MODEL_TOL)
    assert_matches(permuted, logits, "theta1 = 0: logits of the permuted contexts vs the original", **MODEL_TOL)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="keep forward in torch (no .numpy(), .detach() or torch.no_grad()); build cos/sin of the angles from plain "
    "tensors so that gradients reach encode.weight and decode.weight.",
)
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) (dim = 4, T = 3, theta1 = 0.7) gives the right gradients of V and U."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(69)
    model = student.ContextRoPELM(8, 4, 3, 0.7)
    set_tables(model, rng.normal(size=(8, 4)), rng.normal(size=(8, 4)))
    contexts = torch.from_numpy(rng.integers(0, 8, size=(10, 3)))
    targets = torch.from_numpy(rng.integers(0, 8, size=10))
    student.note("loss = F.cross_entropy(model(contexts), targets); loss.backward() with model = ContextRoPELM(8, 4, 3, 0.7)")
    loss = F.cross_entropy(model(contexts), targets)
    loss.backward()
    g_enc, g_dec = model.encode.weight.grad, model.decode.weight.grad
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "contexts": contexts, "targets": targets, "loss": loss.detach().clone(),
            "encode grad": None if g_enc is None else g_enc.clone(), "decode grad": None if g_dec is None else g_dec.clone()}


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    V = got["V"].double().requires_grad_()  # (8, 4)
    U = got["U"].double().requires_grad_()  # (8, 4)
    contexts = got["contexts"]
    angles = torch.arange(3, dtype=torch.float64)[:, None] * 0.7 * torch.from_numpy(rope_freqs(4))[None, :]  # (3, 2)
    x = V[contexts]  # (10, 3, 4)
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()], dim=-1).flatten(-2)
    loss = F.cross_entropy(rotated.mean(dim=-2) @ U.T, got["targets"])
    loss.backward()
    for key, table in (("encode grad", "V"), ("decode grad", "U")):
        if got[key] is None or not isinstance(got[key], torch.Tensor):
            raise AssertionError(f"no gradient reached the {key.split()[0]} weights ({table}): forward must stay differentiable.")
    if not np.isclose(float(got["loss"]), float(loss.detach()), rtol=1e-4, atol=1e-5):
        raise AssertionError(
            f"the loss of your model is {float(got['loss']):.6g}, expected {float(loss.detach()):.6g}: its forward pass is wrong, so its "
            "gradients are too (the forward tests say what differs)."
        )
    for key, expected in (("encode grad", V.grad), ("decode grad", U.grad)):
        assert_matches(got[key].double(), expected, key, **MODEL_TOL)


# --------------------------------------------------------------------------- #
# Property tests: hypothesis draws the inputs (derandomized: the same for every run).
# They are drawn when the suite loads, once per grading worker, not once per student.
# --------------------------------------------------------------------------- #

_angle = st.floats(-10, 10)
_vector = st.tuples(st.floats(-5, 5), st.floats(-5, 5)).map(np.array)
ROTATION_EXAMPLES = draw_examples(st.tuples(_vector, _angle, _angle), 25, "rotation_group")  # [(x (2,), a, b)]
ROPE_EXAMPLES = draw_examples(st.tuples(st.integers(1, 4), st.integers(2, 6), st.integers(0, 2**31)), 15, "rope_relative")  # [(d/2, T, seed)]


@suite.case("rotate_2d", points=1, hint="x' = [[cos t, -sin t], [sin t, cos t]] x: a rotation keeps lengths and R(a) R(b) = R(a + b).")
def rotation_group_property(student):
    """Property (25 hypothesis examples): rotations keep lengths and R(b) R(a) x = R(a + b) x."""
    out = []
    for x, a, b in ROTATION_EXAMPLES:
        once = student.rotate_2d(x.copy(), a)
        out.append({"x": x, "a": a, "b": b, "R(a)x": once, "R(b)R(a)x": student.rotate_2d(np.asarray(once, dtype=float).copy(), b), "R(a+b)x": student.rotate_2d(x.copy(), a + b)})
    return out


@rotation_group_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {got!r:.80}")
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_matches(g["R(a)x"], r["R(a)x"], path=f"example {i}, rotate_2d(x, a)")
        where = f"example {i} (x = {g['x'].tolist()}, a = {g['a']:.4g}, b = {g['b']:.4g})"
        if not np.isclose(np.linalg.norm(g["R(a)x"]), np.linalg.norm(g["x"]), rtol=1e-9, atol=1e-9):
            raise AssertionError(f"{where}: the length changed from {np.linalg.norm(g['x']):.6g} to {np.linalg.norm(g['R(a)x']):.6g}.")
        if not np.allclose(g["R(b)R(a)x"], g["R(a+b)x"], rtol=1e-7, atol=1e-9):
            raise AssertionError(f"{where}: R(b) R(a) x = {g['R(b)R(a)x']} but R(a + b) x = {g['R(a+b)x']}.")


@suite.case("rope", points=1, hint="pair (2j, 2j+1) at position i turns by i * base**(-2j/d): rotations keep each pair's length, and q_i . k_j then depends on j - i only.")
def relative_position_property(student):
    """Property (15 hypothesis examples): RoPE keeps lengths, and rope(q)_i . rope(k)_j depends only on j - i."""
    out = []
    for d_half, T, seed in ROPE_EXAMPLES:
        rng = np.random.default_rng(seed)
        q, k = rng.normal(size=(2 * d_half)), rng.normal(size=(2 * d_half))  # (d,) each
        Q, K = np.tile(q, (T, 1)), np.tile(k, (T, 1))  # (T, d): the same vectors at every position
        out.append({"Q": Q, "K": K, "rope(Q)": student.rope(Q.copy()), "rope(K)": student.rope(K.copy())})
    return out


@relative_position_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {got!r:.80}")
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_matches(g["rope(Q)"], r["rope(Q)"], path=f"example {i}, rope(Q)")
        RQ, RK = g["rope(Q)"], g["rope(K)"]
        if not np.allclose(np.linalg.norm(RQ, axis=-1), np.linalg.norm(g["Q"], axis=-1), rtol=1e-9):
            raise AssertionError(f"example {i}: rope changed the vectors' lengths (shape {g['Q'].shape}).")
        scores = RQ @ RK.T  # (T, T): q_i . k_j
        T = scores.shape[0]
        for offset in range(-T + 1, T):
            diagonal = np.diagonal(scores, offset)
            if not np.allclose(diagonal, diagonal[0], rtol=1e-7, atol=1e-9):
                raise AssertionError(f"example {i}: q_i . k_j is not the same along j - i = {offset}: {np.round(diagonal, 4).tolist()}.")
