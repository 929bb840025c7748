"""Hidden tests of notebook 05 (RoPE): grader only.

Other seeds, shapes and angles; the algebra of rotations (lengths, R(b)R(a) = R(a+b),
inverses) on seeded random draws; the relative-position property of RoPE (scores depend
only on j - i, and shifting both sequences changes nothing); and independent references
(trusted side only, never in the sandbox): the slide's rotation matrix, RoPE with either
pairing convention, and the d-dimensional model, with named diagnoses of the usual mistakes
(half-split pairs, angles not scaled by theta1, positions reversed).

Every verify reads its inputs from ``ref`` (the solution's run of the same probe); rope_2d
and rope are judged given their rotate_2d (a stand-in run, helpers/selfcheck/doubles.py).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, edge_floats
from helpers.selfcheck.doubles import SAME_ALONE_HINT, given_callee
from helpers.selfcheck.lm_tables import gradients_probe
from helpers.selfcheck.nb05 import (
    ANY_THETA1_HINT,
    MODEL_TOL,
    check_gradients,
    check_model_logits,
    check_rope,
    check_rope_2d,
    check_rotate,
    check_rotate_under_rope,
    check_turned_by,
    logits_array,
    model_probe,
    require_array,
    rope_2d_twin,
    rope_angles_or,
    rope_twin,
    rotate_under_rope_probe,
    set_tables,
)

suite = Suite("05", visibility="hidden")


# --------------------------------------------------------------------------- #
# Independent references (trusted side only)
# --------------------------------------------------------------------------- #


def rotation_matrix(theta) -> np.ndarray:
    """The slide's matrix [[cos, -sin], [sin, cos]] for every angle: shape (*theta.shape, 2, 2)."""
    theta = np.asarray(theta, dtype=float)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], axis=-1), np.stack([s, c], axis=-1)], axis=-2)


def matrix_rotate(x, theta) -> np.ndarray:
    """R(theta) @ x with broadcasting of theta against x[..., 0]."""
    x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
    shape = np.broadcast_shapes(x.shape[:-1], theta.shape)
    R = np.broadcast_to(rotation_matrix(theta), shape + (2, 2))  # (..., 2, 2)
    return np.einsum("...ab,...b->...a", R, np.broadcast_to(x, shape + (2,)))  # (..., 2)


def rope_variant(X: np.ndarray, freqs: np.ndarray, pairing: str = "adjacent", sign: float = 1.0) -> np.ndarray:
    """Rotate pairs of the last axis of X (..., T, d) by i * freqs[j] at position i. pairing "adjacent": (2j, 2j+1); "half": (j, j + d/2)."""
    X = np.asarray(X, dtype=float)
    T, d = X.shape[-2:]
    h = d // 2
    first = np.arange(0, d, 2) if pairing == "adjacent" else np.arange(h)
    second = first + 1 if pairing == "adjacent" else np.arange(h) + h
    pairs = np.stack([X[..., first], X[..., second]], axis=-1)  # (..., T, d/2, 2)
    turned = matrix_rotate(pairs, sign * np.arange(T)[:, None] * np.asarray(freqs)[None, :])  # (..., T, d/2, 2)
    out = np.empty_like(X)
    out[..., first], out[..., second] = turned[..., 0], turned[..., 1]
    return out


def rope_freqs(d: int, base: float = 10000.0) -> np.ndarray:
    return base ** (-2.0 * np.arange(d // 2) / d)


def model_logits(V, U, contexts, freqs, pairing: str = "adjacent") -> np.ndarray:
    """logits = U v', v' = mean over positions of the rotated V[x_i] (float64)."""
    return rope_variant(V[contexts], freqs, pairing).mean(axis=-2) @ U.T  # (N, vocab)


def average_logits(V, U, contexts) -> np.ndarray:
    return V[contexts].mean(axis=-2) @ U.T  # (N, vocab)


def check_model_hidden(got: dict, ref: dict) -> None:
    """Against the solution, then the independent reference, naming the usual mistakes."""
    V, U = ref["V"].double().numpy(), ref["U"].double().numpy()
    contexts, theta1 = ref["contexts"], ref["theta1"]
    d = V.shape[1]
    what = f"ContextRoPELM(dim = {d}, context_size = {contexts.shape[1]}, theta1 = {theta1:g}): model(contexts)"
    logits = logits_array(got.get("logits"), (contexts.shape[0], U.shape[0]), what)
    freqs = theta1 * rope_freqs(d)
    expected = model_logits(V, U, contexts, freqs)
    if not np.allclose(logits, expected, **MODEL_TOL):
        diagnoses = [
            (average_logits(V, U, contexts), "these are the logits of the plain average: nothing was rotated."),
            (model_logits(V, U, contexts, freqs, "half"), "coordinates were paired as (j, j + dim/2); pair j is two ADJACENT coordinates."),
            (model_logits(V, U, contexts, rope_freqs(d)), "the angles are not scaled by theta1."),
            (model_logits(V, U, contexts, np.full(d // 2, theta1)), "every pair turns at the same speed; pair j should turn more slowly for larger j."),
            (model_logits(V, U, contexts[:, ::-1], freqs), "the positions run in reverse order; column i of contexts is position i."),
            (model_logits(V, U, contexts, -freqs), "the vectors turn clockwise; the slide's rotation turns counter-clockwise."),
            (expected * contexts.shape[1], "the logits are T times too large: average the rotated vectors, do not sum them."),
        ]
        for alternative, message in diagnoses:
            if np.allclose(logits, alternative, **MODEL_TOL):
                raise AssertionError(f"{what}: {message}")
        assert_matches(logits, expected, "logits", **MODEL_TOL)
    check_model_logits(got, ref)


# --------------------------------------------------------------------------- #
# rotate_2d
# --------------------------------------------------------------------------- #


@suite.case("rotate_2d", points=1, hint="a rotation keeps lengths, a turn by a then b is a turn by a + b, and a turn by -a undoes a turn by a.")
def rotation_algebra(student):
    """On 50 seeded random vectors and angles: lengths kept, R(b) R(a) x = R(a + b) x, and R(-a) R(a) x = x."""
    rng = np.random.default_rng(student.seed(60))
    x = rng.normal(size=(50, 2)) * rng.uniform(0.1, 10, size=(50, 1))
    a, b = rng.uniform(-7, 7, size=50), rng.uniform(-7, 7, size=50)
    Ra = student.rotate_2d(x.copy(), a.copy())
    student.note("then rotate_2d(R(a) x, b), rotate_2d(x, a + b) and rotate_2d(R(a) x, -a)")
    raw = student.get("rotate_2d")
    return {"x": x, "a": a, "b": b, "R(a) x": Ra, "R(b) R(a) x": raw(np.array(Ra, dtype=float), b.copy()),
            "R(a + b) x": raw(x.copy(), a + b), "R(-a) R(a) x": raw(np.array(Ra, dtype=float), -a)}


@rotation_algebra.verify
def _(got, ref):
    x, a = ref["x"], ref["a"]
    for key in ("R(a) x", "R(b) R(a) x", "R(a + b) x", "R(-a) R(a) x"):
        require_array(got.get(key), (50, 2), f"`{key}`")
    lengths_in, lengths_out = np.linalg.norm(x, axis=1), np.linalg.norm(got["R(a) x"], axis=1)
    bad = np.flatnonzero(~np.isclose(lengths_out, lengths_in, rtol=1e-9, atol=1e-12))
    if bad.size:
        k = int(bad[0])
        raise AssertionError(f"lengths: ||R(a) x|| should equal ||x||; for x = {x[k]}, a = {a[k]:.4g}: {lengths_in[k]:.6g} became {lengths_out[k]:.6g}.")
    if np.abs(got["R(b) R(a) x"] - got["R(a + b) x"]).max() > 1e-9:
        raise AssertionError("turning by a then by b should equal turning by a + b, but R(b) R(a) x and R(a + b) x differ.")
    if np.abs(got["R(-a) R(a) x"] - x).max() > 1e-9:
        raise AssertionError("turning back by -a should undo a turn by a, but R(-a) R(a) x differs from x.")
    # tolerant (the direction of the turn is judged by the exact cases): each vector turned by |a|
    check_turned_by(got["R(a) x"], x, a, "rotate_2d(x of shape (50, 2), a of shape (50,))")
    check_turned_by(ref["R(a) x"], x, a, "the reference (grader error if this fails)")
    assert_matches(ref["R(a) x"], matrix_rotate(x, a), "the reference (grader error if this fails)", rtol=1e-7, atol=1e-9)


@suite.case("rotate_2d", points=1, hint="index the coordinates on the last axis and let numpy broadcast the angles against them; convert inputs first and never write into x.")
def broadcasting_and_plain_inputs(student):
    """One vector with 5 angles gives (5, 2); x (3, 1, 2) with theta (4,) gives (3, 4, 2); a Python list works; x is not modified."""
    rng = np.random.default_rng(student.seed(61))
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
    if got.get("x unchanged") is not True:
        raise AssertionError("rotate_2d changed the array x it was given; compute new arrays, never write into x.")
    for key in ("one vector, 5 angles", "x (3, 1, 2), theta (4,)", "a list, an int angle"):
        r = ref[key]
        check_rotate(got[key], {**r, "x'": matrix_rotate(r["x"], r["theta"])}, f"rotate_2d ({key})")
        check_rotate(got[key], r, f"rotate_2d ({key})")


@suite.case("rotate_2d", points=1, hint="the slide's rotation matrix: lengths are kept, and R(a) R(b) = R(a + b).")
def rotation_group_property(student):
    """Property (25 random examples, the simplest first: x = 0, a = b = 0): rotations keep lengths and R(b) R(a) x = R(a + b) x."""
    rng = np.random.default_rng(student.seed(62))
    drawn = [(edge_floats(rng, -5, 5, 2), edge_floats(rng, -10, 10), edge_floats(rng, -10, 10)) for _ in range(24)]
    examples = [(np.zeros(2), 0.0, 0.0), *drawn]  # [(x (2,), a, b)]: x = 0 is among 24 draws under only 1 seed in 4
    out = []
    for x, a, b in examples:
        once = student.rotate_2d(x.copy(), a)
        out.append({"x": x, "a": a, "b": b, "R(a)x": once, "R(b)R(a)x": student.rotate_2d(np.asarray(once, dtype=float).copy(), b),
                    "R(a+b)x": student.rotate_2d(x.copy(), a + b)})
    return out


@rotation_group_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {type(got).__name__}")
    for i, (g, r) in enumerate(zip(got, ref)):
        where = f"example {i} (x = {r['x'].tolist()}, a = {r['a']:.4g}, b = {r['b']:.4g})"
        for key in ("R(a)x", "R(b)R(a)x", "R(a+b)x"):
            require_array(g.get(key), (2,), f"{where}: {key}")
        check_turned_by(g["R(a)x"], r["x"], r["a"], f"{where}, rotate_2d(x, a)")  # tolerant: the direction is the exact cases'
        assert_matches(r["R(a)x"], matrix_rotate(r["x"], r["a"]), path="the reference (grader error if this fails)", rtol=1e-7, atol=1e-9)
        if not np.allclose(g["R(b)R(a)x"], g["R(a+b)x"], rtol=1e-7, atol=1e-9):
            raise AssertionError(f"{where}: R(b) R(a) x = {g['R(b)R(a)x']} but R(a + b) x = {g['R(a+b)x']}.")


# --------------------------------------------------------------------------- #
# rope_2d
# --------------------------------------------------------------------------- #


@suite.case("rope_2d", points=1, hint=ANY_THETA1_HINT)
def zero_negative_and_full_turns(student):
    """theta1 = 0 changes nothing, theta1 = 2 pi brings every row back, theta1 = -0.4 turns clockwise; X is not modified."""
    twin = rope_2d_twin(student, student.seed(162))
    X = np.random.default_rng(student.seed(62)).normal(size=(5, 2))
    X_in = X.copy()
    out = {"X": X.copy()}
    for name, theta1 in (("theta1 = 0", 0.0), ("theta1 = 2 pi", 2 * np.pi), ("theta1 = -0.4", -0.4)):
        out[name] = {"theta1": float(theta1), "out": twin(name, X_in, float(theta1))}
    out["X unchanged"] = bool(np.array_equal(X, X_in))
    out.update(twin.facts())
    return out


@zero_negative_and_full_turns.verify
def _(got, ref):
    if got.get("X unchanged") is not True:
        raise AssertionError("rope_2d changed the array X it was given; return a new array.")
    X = ref["X"]

    def check():
        for name in ("theta1 = 0", "theta1 = 2 pi", "theta1 = -0.4"):
            theta1 = ref[name]["theta1"]
            independent = matrix_rotate(X, np.arange(X.shape[0]) * theta1)
            check_rope_2d(got[name]["out"], X, theta1, independent)
            check_rope_2d(got[name]["out"], X, theta1, ref[name]["out"])

    given_callee(check, got, ref, "rotate_2d")


@suite.case("rope_2d", points=1, hint="every row turns by its position times theta1, the same rule for queries and keys; then q'_i . k'_j depends on j - i only.")
def scores_depend_on_distance(student):
    """The same q at positions 0..6 and the same k at 0..6 (theta1 = 0.9): q'_i . k'_j depends only on j - i."""
    twin = rope_2d_twin(student, student.seed(163))
    rng = np.random.default_rng(student.seed(63))
    q, k = rng.normal(size=2), rng.normal(size=2)
    Q, K = np.tile(q, (7, 1)), np.tile(k, (7, 1))
    return {"q": q, "k": k, "Q": Q, "K": K, "Q'": twin("Q'", Q.copy(), 0.9), "K'": twin("K'", K.copy(), 0.9), **twin.facts()}


@scores_depend_on_distance.verify
def _(got, ref):
    def check():
        require_array(got.get("Q'"), (7, 2), "rope_2d(Q)")
        require_array(got.get("K'"), (7, 2), "rope_2d(K)")
        S = got["Q'"] @ got["K'"].T  # (7, 7)
        for i in range(7):
            for j in range(7):
                expected = float(ref["q"] @ matrix_rotate(ref["k"], (j - i) * 0.9))
                if not np.isclose(S[i, j], expected, rtol=1e-7, atol=1e-9):
                    raise AssertionError(f"q'_{i} . k'_{j} = {S[i, j]:.6g}, but it should be q . Rotate(k, ({j} - {i}) * 0.9) = {expected:.6g}.")
        check_rope_2d(got["Q'"], ref["Q"], 0.9, ref["Q'"])

    given_callee(check, got, ref, "rotate_2d")


# --------------------------------------------------------------------------- #
# rope
# --------------------------------------------------------------------------- #


@suite.case("rope", points=1, hint="only the last two axes are positions and coordinates: leading (batch, head) axes ride along; do not modify X.")
def batch_heads_and_base(student):
    """X of shape (B, H, T, d) = (2, 3, 4, 8) with base = 100: every adjacent pair turned by i * 100^(-2j/8); X unchanged."""
    twin = rope_twin(student, student.seed(164))
    X = np.random.default_rng(student.seed(64)).normal(size=(2, 3, 4, 8))
    X_in = X.copy()
    out = twin("out", X_in, base=100.0)
    return {"X": X, "base": 100.0, "out": out, "X unchanged": bool(np.array_equal(X, X_in)), **twin.facts()}


@batch_heads_and_base.verify
def _(got, ref):
    if got.get("X unchanged") is not True:
        raise AssertionError("rope changed the array X it was given; return a new array.")
    X = ref["X"]

    def check():
        out = require_array(got.get("out"), X.shape, "rope(X of shape (2, 3, 4, 8), base = 100)")
        if np.allclose(out, rope_variant(X, rope_freqs(8, 100.0), "half"), rtol=1e-7, atol=1e-9):
            raise AssertionError("rope(X of shape (2, 3, 4, 8), base = 100): coordinates were paired as (j, j + d/2); this notebook pairs ADJACENT "
                                 "coordinates (2j, 2j+1), as in the RoFormer paper.")
        check_rope(out, X, 100.0, rope_variant(X, rope_freqs(8, 100.0)))
        check_rope(out, X, 100.0, ref["out"])

    given_callee(check, got, ref, "rotate_2d")


@suite.case("rope", points=1, hint="every pair at position i turns by i times its frequency, the same rule for queries and keys; then scores depend on j - i only.")
def relative_positions(student):
    """Tolerant, d = 8, T = 9: the angles rope turns each pair by (checked where it calls rotate_2d), or the scores: the same q and k at every
    position give scores depending only on j - i; Q, K shifted by 3 positions give the same scores."""
    twin = rope_twin(student, student.seed(165))
    rng = np.random.default_rng(student.seed(65))
    q, k = rng.normal(size=8), rng.normal(size=8)
    Q, K = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    pad = np.zeros((3, 8))
    student.note("rope(np.tile(q, (9, 1))), rope(np.tile(k, (9, 1))), rope(Q), rope(K), and rope of Q, K after 3 rows of zeros")
    return {
        "q": q, "k": k, "Q": Q, "K": K,
        "tiled q'": twin("tiled q'", np.tile(q, (9, 1))), "tiled k'": twin("tiled k'", np.tile(k, (9, 1))),
        "Q'": twin("Q'", Q.copy()), "K'": twin("K'", K.copy()),
        "shifted Q'": twin("shifted Q'", np.vstack([pad, Q])), "shifted K'": twin("shifted K'", np.vstack([pad, K])),
        **twin.facts(),
    }


@relative_positions.verify
def _(got, ref):
    def check():
        for key, shape in (("tiled q'", (9, 8)), ("tiled k'", (9, 8)), ("Q'", (6, 8)), ("K'", (6, 8)), ("shifted Q'", (9, 8)), ("shifted K'", (9, 8))):
            require_array(got.get(key), shape, f"`{key}`")
        S = got["tiled q'"] @ got["tiled k'"].T  # (9, 9)
        for delta in range(-8, 9):
            values = np.diagonal(S, offset=delta)
            if np.ptp(values) > 1e-9 * max(1.0, float(np.abs(values).max())):
                raise AssertionError(f"with the same q and the same k at every position, q'_i . k'_j should depend only on j - i; it varies along j - i = {delta}.")
        S0 = got["Q'"] @ got["K'"].T  # (6, 6)
        S3 = got["shifted Q'"][3:] @ got["shifted K'"][3:].T  # (6, 6)
        if not np.allclose(S0, S3, rtol=1e-7, atol=1e-9):
            raise AssertionError("moving both sequences 3 positions later should not change any score, but some changed.")
        check_rope(got["Q'"], ref["Q"], 10000.0, rope_variant(ref["Q"], rope_freqs(8)))
        for key in ("tiled q'", "Q'", "shifted K'"):
            assert_matches(got[key], ref[key], key)

    rope_angles_or(check, got, ref)  # tolerant: the angles; the pairing is the exact cases'


@suite.case("rope", points=1, hint="pair (2j, 2j+1) at position i turns by i times its frequency: lengths are kept, and q_i . k_j depends on j - i only.")
def relative_position_property(student):
    """Tolerant, 15 random examples (the smallest first: d = 2, T = 2): the angles rope turns each pair by (where it calls
    rotate_2d), or: lengths kept and q_i . k_j depends on j - i only."""
    twin = rope_twin(student, student.seed(166))
    rng = np.random.default_rng(student.seed(66))
    drawn = [(int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(0, 2**31))) for _ in range(14)]
    examples = [(1, 2, int(rng.integers(0, 2**31))), *drawn]  # [(d/2, T, seed)]: d = 2 is left out of 14 draws under about 1 seed in 60
    out = []
    for n, (d_half, T, seed) in enumerate(examples):
        rng = np.random.default_rng(seed)
        q, k = rng.normal(size=(2 * d_half)), rng.normal(size=(2 * d_half))  # (d,) each
        Q, K = np.tile(q, (T, 1)), np.tile(k, (T, 1))  # (T, d): the same vectors at every position
        out.append({"Q": Q, "K": K, "rope(Q)": twin(f"{n} rope(Q)", Q.copy()), "rope(K)": twin(f"{n} rope(K)", K.copy())})
    return {"examples": out, **twin.facts()}


@relative_position_property.verify
def _(got, ref):
    def check():
        mine, theirs = got.get("examples"), ref["examples"]
        if not isinstance(mine, list) or len(mine) != len(theirs):
            raise AssertionError(f"expected {len(theirs)} examples")
        for i, (g, r) in enumerate(zip(mine, theirs)):
            RQ = require_array(g.get("rope(Q)"), r["Q"].shape, f"example {i}, rope(Q)")
            RK = require_array(g.get("rope(K)"), r["K"].shape, f"example {i}, rope(K)")
            assert_matches(RQ, rope_variant(r["Q"], rope_freqs(r["Q"].shape[1])), path=f"example {i}, rope(Q)")
            scores = RQ @ RK.T  # (T, T): q_i . k_j
            T = scores.shape[0]
            for offset in range(-T + 1, T):
                diagonal = np.diagonal(scores, offset)
                if not np.allclose(diagonal, diagonal[0], rtol=1e-7, atol=1e-9):
                    raise AssertionError(f"example {i}: q_i . k_j is not the same along j - i = {offset}: {np.round(diagonal, 4).tolist()}.")

    rope_angles_or(check, got, ref)  # tolerant: the angles; the pairing is the exact cases'


# --------------------------------------------------------------------------- #
# ContextRoPELM
# --------------------------------------------------------------------------- #


@suite.case("ContextRoPELM", points=1, hint="for dim > 2 every adjacent pair turns, pair j at position i by i times theta1 times rope's frequency of pair j.")
def forward_dim8_context5(student):
    """dim = 8, T = 5, theta1 = 1.3, seeded V (11, 8) and U (11, 8): logits match an independent computation."""
    return model_probe(student, 11, 8, 5, 1.3, 6, seed=student.seed(66))


@forward_dim8_context5.verify
def _(got, ref):
    check_model_hidden(got, ref)


@suite.case("ContextRoPELM", points=1, hint="theta1 = 1 must give exactly rope's angles; build the angle table from theta1, dim and context_size (no fixed sizes).")
def theta1_one_is_rope(student):
    """dim = 6, T = 4, theta1 = 1: the context vectors are rotated exactly as rope(X) rotates them."""
    return model_probe(student, 9, 6, 4, 1.0, 7, seed=student.seed(67))


@theta1_one_is_rope.verify
def _(got, ref):
    check_model_hidden(got, ref)


@suite.case("ContextRoPELM", points=1, hint="with theta1 = 0 every angle is 0: v' is the plain average of notebook 04, and the order of the context no longer matters.")
def theta1_zero_is_average(student):
    """theta1 = 0 (dim = 6, T = 4): logits = U (mean of the V rows), the same for a permuted context."""
    import torch

    got = model_probe(student, 9, 6, 4, 0.0, 5, seed=student.seed(68))
    model = student.ContextRoPELM(9, 6, 4, 0.0)
    set_tables(model, got["V"], got["U"])
    with torch.no_grad():
        got["permuted logits"] = model(torch.from_numpy(got["contexts"][:, [2, 0, 3, 1]].copy()))
    return got


@theta1_zero_is_average.verify
def _(got, ref):
    V, U = ref["V"].double().numpy(), ref["U"].double().numpy()
    logits = logits_array(got.get("logits"), (5, 9), "ContextRoPELM(9, 6, 4, theta1 = 0): model(contexts)")
    permuted = logits_array(got.get("permuted logits"), (5, 9), "model(permuted contexts)")
    assert_matches(logits, average_logits(V, U, ref["contexts"]), "theta1 = 0: logits vs U (mean of V[x_i])", **MODEL_TOL)
    assert_matches(permuted, logits, "theta1 = 0: logits of the permuted contexts vs the original", **MODEL_TOL)


@suite.case("ContextRoPELM", points=1, hint="when the logits are wrong, fix forward first: the gradients follow from it; else keep forward in torch (no numpy, detach or torch.no_grad).")
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) (dim = 4, T = 3, theta1 = 0.7) gives the right gradients of V and U."""
    return gradients_probe(student, k=69, model="ContextRoPELM", sizes=(8, 4, 3, 0.7), N=10, set_tables=set_tables)


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    check_gradients(got, ref)
    V = ref["V"].double().requires_grad_()  # (8, 4)
    U = ref["U"].double().requires_grad_()  # (8, 4)
    angles = torch.arange(3, dtype=torch.float64)[:, None] * 0.7 * torch.from_numpy(rope_freqs(4))[None, :]  # (3, 2)
    x = V[ref["contexts"]]  # (10, 3, 4)
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()], dim=-1).flatten(-2)
    F.cross_entropy(rotated.mean(dim=-2) @ U.T, ref["targets"]).backward()
    for key, expected in (("encode grad", V.grad), ("decode grad", U.grad)):
        assert_matches(got[key].double(), expected, key, **MODEL_TOL)


# --------------------------------------------------------------------------- #
# The same under rope_2d and rope: a rotate_2d that answers otherwise inside them than alone is charged
# here (they are judged beside a double)
# --------------------------------------------------------------------------- #


@suite.case("rotate_2d", points=1, hint=SAME_ALONE_HINT)
def same_under_rope(student):
    """Inside your rope_2d and rope, rotate_2d gives what it gives alone on the same vectors and angles (and is right alone)."""
    return rotate_under_rope_probe(student, k=160, theta1=0.4, theta=[0.3, -1.2, 2.0])


same_under_rope.verify(check_rotate_under_rope)
