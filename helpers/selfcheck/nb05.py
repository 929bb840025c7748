"""Public tests of notebook 05 (RoPE): run by ``check("name")`` and by the grader.

Probes build seeded inputs and call the student's code; verify steps compare with the
solution and check what a rotation must do, measured from the inputs and outputs the
probe returns: lengths kept, the angle each vector turned by (against the formula in the
docstring), scores that depend only on the distance between positions, and the slide's
rotation matrix as an independent reference.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.lm_tables import check_table_lm_facts, table_lm_facts

suite = Suite("05")

MODEL_TOL = {"rtol": 1e-4, "atol": 1e-5}  # float32 model outputs against float64 references


# --------------------------------------------------------------------------- #
# Shared references and diagnostics (trusted side)
# --------------------------------------------------------------------------- #


def rotation_matrix(theta) -> np.ndarray:
    """The slide's matrix [[cos, -sin], [sin, cos]] for every angle: shape (*theta.shape, 2, 2)."""
    theta = np.asarray(theta, dtype=float)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], axis=-1), np.stack([s, c], axis=-1)], axis=-2)


def matrix_rotate(x, theta) -> np.ndarray:
    """R(theta) @ x with broadcasting of theta against x[..., 0]: the independent reference."""
    x = np.asarray(x, dtype=float)
    theta = np.asarray(theta, dtype=float)
    shape = np.broadcast_shapes(x.shape[:-1], theta.shape)
    R = np.broadcast_to(rotation_matrix(theta), shape + (2, 2))  # (..., 2, 2)
    return np.einsum("...ab,...b->...a", R, np.broadcast_to(x, shape + (2,)))  # (..., 2)


def _signed_angles(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The angle (in (-pi, pi]) that turns each 2-D vector of ``before`` into the direction of ``after``."""
    cross = before[..., 0] * after[..., 1] - before[..., 1] * after[..., 0]
    dot = before[..., 0] * after[..., 0] + before[..., 1] * after[..., 1]
    return np.arctan2(cross, dot)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def require_array(value, shape: tuple, what: str) -> np.ndarray:
    """``value`` must be a float numpy array of ``shape``; returns it."""
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array of shape {shape}, got {type(value).__name__}: {value!r:.100}.")
    if value.shape != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got shape {value.shape}.")
    if value.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float array, got dtype {value.dtype}.")
    return value


def check_rotated_pairs(X: np.ndarray, out: np.ndarray, angles: np.ndarray, what: str, formula: str) -> None:
    """Each 2-D pair of ``out`` must be the pair of ``X`` turned counter-clockwise by ``angles``.

    X, out: (..., T, P, 2) pairs; angles: (T, P) the angle the formula gives at (position, pair).
    Reports the first (position, pair) whose length changed or whose angle is wrong.
    """
    len_in = np.linalg.norm(X, axis=-1)  # (..., T, P)
    len_out = np.linalg.norm(out, axis=-1)
    bad = ~np.isclose(len_out, len_in, rtol=1e-5, atol=1e-8)  # float32 answers pass too
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        *lead, t, p = idx
        where = f"position {t}" + (f", pair {p} (coordinates {2 * p}, {2 * p + 1})" if X.shape[-2] > 1 else "") + (f", batch index {tuple(lead)}" if lead else "")
        raise AssertionError(
            f"{what}: a rotation keeps lengths, but at {where} the length changed from {len_in[idx]:.6g} to {len_out[idx]:.6g}."
            + (" Did you pair coordinates (j, j + d/2) (the half-split convention)? Here pair j is the adjacent coordinates (2j, 2j+1)."
               if X.shape[-2] > 1 else "")
        )
    turned = _signed_angles(X, out)  # (..., T, P)
    expected = np.broadcast_to(_wrap(angles), turned.shape)
    wrong = np.abs(_wrap(turned - expected)) > 1e-5
    if np.any(wrong):
        idx = tuple(int(i) for i in np.argwhere(wrong)[0])
        *lead, t, p = idx
        where = f"position {t}" + (f", pair {p}" if X.shape[-2] > 1 else "")
        extra = ""
        if np.isclose(turned[idx], -expected[idx], atol=1e-6) and abs(expected[idx]) > 1e-6:
            extra = " That is the right angle in the wrong direction: turn counter-clockwise, x'_1 = cos x_1 - sin x_2, x'_2 = sin x_1 + cos x_2."
        raise AssertionError(
            f"{what}: at {where} the vector turned by {turned[idx]:.6g} rad, but {formula} gives {float(angles[t, p]):.6g} rad "
            f"(mod 2 pi: {expected[idx]:.6g}).{extra}"
        )


# --------------------------------------------------------------------------- #
# rotate_2d
# --------------------------------------------------------------------------- #


def check_rotate(got: dict, ref: dict | None, what: str) -> None:
    """``got`` holds x, theta and the student's x'; compare with R(theta) x and with the solution."""
    x, theta, out = got["x"], got["theta"], got["x'"]
    expected = matrix_rotate(x, theta)
    require_array(out, expected.shape, what)
    if not np.allclose(out, expected, rtol=1e-7, atol=1e-9):
        if np.allclose(out, matrix_rotate(x, -np.asarray(theta)), rtol=1e-7, atol=1e-9):
            raise AssertionError(
                f"{what}: you rotated clockwise (by -theta). The slide's matrix is [[cos, -sin], [sin, cos]]: "
                f"x'_1 = cos(theta) x_1 - sin(theta) x_2 and x'_2 = sin(theta) x_1 + cos(theta) x_2."
            )
        if np.allclose(out, matrix_rotate(x, np.deg2rad(theta)), rtol=1e-7, atol=1e-9):
            raise AssertionError(f"{what}: you treated theta as degrees; it is in radians already (np.cos and np.sin take radians).")
        assert_matches(out, expected, f"{what}: R(theta) x", rtol=1e-7, atol=1e-9)
    if ref is not None:
        assert_matches(out, ref["x'"], what)


@suite.case(
    "rotate_2d",
    points=1,
    hint="x'_1 = cos(theta) * x[..., 0] - sin(theta) * x[..., 1] and x'_2 = sin(theta) * x[..., 0] + cos(theta) * x[..., 1] "
    "(counter-clockwise, theta in radians); return np.stack([x1_new, x2_new], axis=-1).",
)
def quarter_turns(student):
    """Single vectors: [1, 0] turned by pi/2 is [0, 1]; [3, 4] by pi/2 is [-4, 3]; and a few more."""
    cases = [([1.0, 0.0], np.pi / 2), ([1.0, 0.0], np.pi), ([3.0, 4.0], np.pi / 2), ([3.0, 4.0], -np.pi / 2), ([0.6, -0.8], 0.0), ([2.0, 1.0], 1.0)]
    return [{"x": np.array(x), "theta": float(t), "x'": student.rotate_2d(np.array(x), float(t))} for x, t in cases]


@quarter_turns.verify
def _(got, ref):
    for k, (g, r) in enumerate(zip(got, ref)):
        check_rotate(g, r, f"rotate_2d(x = {g['x'].tolist()}, theta = {g['theta']:.4g})")


@suite.case(
    "rotate_2d",
    points=2,
    hint="work on the columns x[..., 0] and x[..., 1] with numpy broadcasting: np.cos(theta) then has the shape of theta and "
    "multiplies each row by its own angle; no loops, no reshaping to (2,).",
)
def many_vectors_many_angles(student):
    """A (6, 2) batch with one angle per row (theta of shape (6,)), and a (4, 3, 2) batch with one angle for all."""
    rng = np.random.default_rng(50)
    x1, t1 = rng.normal(size=(6, 2)), rng.uniform(-4, 4, size=6)
    x2, t2 = rng.normal(size=(4, 3, 2)), 0.7
    return [
        {"x": x1, "theta": t1, "x'": student.rotate_2d(x1.copy(), t1.copy())},
        {"x": x2, "theta": t2, "x'": student.rotate_2d(x2.copy(), t2)},
    ]


@many_vectors_many_angles.verify
def _(got, ref):
    for g, r in zip(got, ref):
        check_rotate(g, r, f"rotate_2d(x of shape {g['x'].shape}, theta of shape {np.shape(g['theta'])})")


# --------------------------------------------------------------------------- #
# rope_2d
# --------------------------------------------------------------------------- #


def check_rope_2d(got: dict, ref: dict | None) -> None:
    X, out, theta1 = got["X"], got["out"], got["theta1"]
    what = f"rope_2d(X of shape {X.shape}, theta1 = {theta1:.4g})"
    require_array(out, X.shape, what)
    if not np.allclose(out[0], X[0], rtol=1e-9, atol=1e-12):
        raise AssertionError(
            f"{what}: row 0 should come back unchanged (positions count from 0, and 0 * theta1 = 0), "
            f"got {out[0]} for {X[0]}."
        )
    angles = (np.arange(X.shape[0]) * theta1)[:, None]  # (T, 1)
    check_rotated_pairs(X[:, None, :], out[:, None, :], angles, what, "i * theta1")
    if ref is not None:
        assert_matches(out, ref["out"], what)


@suite.case(
    "rope_2d",
    points=1,
    hint="row i turns by i * theta1 with i = 0, 1, ..., T-1: angles = np.arange(T) * theta1, then one call rotate_2d(X, angles).",
)
def unit_vectors_on_a_circle(student):
    """Four copies of [1, 0] with theta1 = pi/4 land at 0, 45, 90 and 135 degrees."""
    X = np.tile([1.0, 0.0], (4, 1))
    return {"X": X, "theta1": float(np.pi / 4), "out": student.rope_2d(X.copy(), float(np.pi / 4))}


@unit_vectors_on_a_circle.verify
def _(got, ref):
    check_rope_2d(got, ref)


@suite.case(
    "rope_2d",
    points=2,
    hint="positions start at 0: row 0 is not rotated, row i is rotate_2d(X[i], i * theta1); rotations keep every row's length.",
)
def random_sequence(student):
    """A seeded random sequence X of shape (6, 2), theta1 = 0.3: row 0 unchanged, row i turned by 0.3 i, lengths kept."""
    X = np.random.default_rng(51).normal(size=(6, 2))
    return {"X": X, "theta1": 0.3, "out": student.rope_2d(X.copy(), 0.3)}


@random_sequence.verify
def _(got, ref):
    check_rope_2d(got, ref)


# --------------------------------------------------------------------------- #
# rope
# --------------------------------------------------------------------------- #


def rope_angles(T: int, d: int, base: float) -> np.ndarray:
    """(T, d/2): the angle i * base^(-2j/d) the docstring gives for position i and pair j."""
    return np.arange(T)[:, None] * base ** (-2.0 * np.arange(d // 2) / d)[None, :]


def check_rope(got: dict, ref: dict | None) -> None:
    X, out, base = got["X"], got["out"], got["base"]
    T, d = X.shape[-2:]
    what = f"rope(X of shape {X.shape}, base = {base:g})"
    require_array(out, X.shape, what)
    pairs_in = X.reshape(*X.shape[:-1], d // 2, 2)  # (..., T, d/2, 2)
    pairs_out = out.reshape(*X.shape[:-1], d // 2, 2)
    check_rotated_pairs(pairs_in, pairs_out, rope_angles(T, d, base), what, f"i * base^(-2j/d) = i * {base:g}^(-2j/{d})")
    if ref is not None:
        assert_matches(out, ref["out"], what)


@suite.case(
    "rope",
    points=2,
    hint="pair j is the ADJACENT coordinates (2j, 2j+1) (not j and j + d/2), turned by i * base ** (-2j / d) at position i "
    "(i = 0, ..., T-1); reshape X to (..., T, d/2, 2), build a (T, d/2) table of angles, call rotate_2d, reshape back.",
)
def sequence_T5_d6(student):
    """A seeded X of shape (T, d) = (5, 6), base 10000: every adjacent pair turned by i * 10000^(-2j/6)."""
    X = np.random.default_rng(52).normal(size=(5, 6))
    return {"X": X, "base": 10000.0, "out": student.rope(X.copy())}


@sequence_T5_d6.verify
def _(got, ref):
    check_rope(got, ref)


@suite.case(
    "rope",
    points=1,
    hint="with d = 2 there is one pair (j = 0) and base ** 0 = 1, so position i turns by exactly i radians: rope(X) = rope_2d(X, 1.0).",
)
def two_dims_is_rope_2d(student):
    """With d = 2, rope(X) is rope_2d(X, theta1 = 1): position i turns by i radians (base^0 = 1)."""
    X = np.random.default_rng(53).normal(size=(6, 2))
    return {"X": X, "base": 10000.0, "out": student.rope(X.copy())}


@two_dims_is_rope_2d.verify
def _(got, ref):
    check_rope(got, ref)


@suite.case(
    "rope",
    points=1,
    hint="check d = X.shape[-1] first: if d % 2 != 0, raise ValueError(f'rope needs an even d, got d = {d}') before any reshaping.",
)
def odd_dimension_raises(student):
    """rope of X with d = 5 (odd) raises a ValueError whose message says that d must be even."""
    X = np.random.default_rng(54).normal(size=(4, 5))
    try:
        out = student.rope(X)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the type and the message are what we check
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "returned": out}


@odd_dimension_raises.verify
def _(got, ref):
    if got["raised"] is None:
        raise AssertionError(f"rope(X of shape (4, 5)) should raise ValueError (d = 5 cannot be split into pairs), but it returned {describe(got.get('returned'), 100)}.")
    if got["raised"] != "ValueError":
        raise AssertionError(
            f"rope(X of shape (4, 5)) raised {got['raised']} ({got['message'][:120]!r}); raise ValueError yourself, with a message that says d must be even."
        )
    message = got["message"]
    if not any(word in message.lower() for word in ("even", "odd")):
        raise AssertionError(
            f"rope(X of shape (4, 5)) raised ValueError({message[:120]!r}), which does not say what is wrong (an error from deep "
            "inside numpy?). Check d yourself first and say that d must be even, e.g. 'rope needs an even d, got d = 5'."
        )


# --------------------------------------------------------------------------- #
# ContextRoPELM
# --------------------------------------------------------------------------- #


def module_facts(model, vocab_size: int, dim: int) -> dict:
    return table_lm_facts(model, vocab_size, dim)


def check_module_facts(got: dict, name: str = "ContextRoPELM") -> None:
    check_table_lm_facts(
        got, got["vocab_size"], got["dim"], name, "s = U v'",
        "Keep the rotation angles out of the parameters (plain tensors or self.register_buffer): they are not learned.",
    )  # fmt: skip


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (the test's inputs, set explicitly)."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V))
        model.decode.weight.copy_(torch.as_tensor(U))


def average_logits(V: np.ndarray, U: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    """U v' with the plain average v' = mean_t V[x_t] (no rotation): notebook 04's model."""
    return V[contexts].mean(axis=-2) @ U.T  # (N, vocab)


def rope2_logits(V: np.ndarray, U: np.ndarray, contexts: np.ndarray, theta1: float) -> np.ndarray:
    """dim = 2 reference with the slide's matrices: v' = mean_i R(i theta1) V[x_i], logits = U v'."""
    T = contexts.shape[-1]
    rotated = matrix_rotate(V[contexts], np.arange(T) * theta1)  # (N, T, 2)
    return rotated.mean(axis=-2) @ U.T  # (N, vocab)


def logits_array(value, shape: tuple, what: str) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} should return a torch tensor of logits with shape {shape}, got {type(value).__name__}: {value!r:.100}.")
    if tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what} should return logits of shape {tuple(shape)} (N, vocab_size), got {tuple(value.shape)}.")
    return value.detach().double().numpy()


def model_probe(student, vocab_size: int, dim: int, T: int, theta1: float, N: int, seed: int) -> dict:
    """Build ContextRoPELM with seeded V, U, run it on seeded contexts; return weights, contexts and logits."""
    import torch

    rng = np.random.default_rng(seed)
    model = student.ContextRoPELM(vocab_size, dim, T, theta1)
    set_tables(model, rng.normal(size=(vocab_size, dim)), rng.normal(size=(vocab_size, dim)))
    contexts = rng.integers(0, vocab_size, size=(N, T))
    student.note(f"model = ContextRoPELM({vocab_size}, {dim}, {T}, {theta1:g}) with seeded encode.weight (V) and decode.weight (U)")
    with torch.no_grad():
        logits = model(torch.from_numpy(contexts))
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "contexts": contexts, "theta1": float(theta1), "logits": logits}


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="in __init__: self.encode = nn.Embedding(vocab_size, dim), self.decode = nn.Linear(dim, vocab_size, bias=False); "
    "keep the angles (or their cos and sin) as plain tensors or buffers (self.register_buffer), not nn.Parameter.",
)
def attributes(student):
    """ContextRoPELM(13, 4, 3, 0.5) has encode = nn.Embedding(13, 4) (V), decode = nn.Linear(4, 13, bias=False) (U), nothing else learned."""
    return module_facts(student.ContextRoPELM(13, 4, 3, 0.5), 13, 4)


@attributes.verify
def _(got, ref):
    check_module_facts(got)


def check_dim2_logits(got: dict, ref: dict | None) -> None:
    V, U = got["V"].double().numpy(), got["U"].double().numpy()
    contexts, theta1 = got["contexts"], got["theta1"]
    what = f"model(contexts) with contexts of shape {contexts.shape}"
    logits = logits_array(got["logits"], (contexts.shape[0], U.shape[0]), what)
    expected = rope2_logits(V, U, contexts, theta1)
    if not np.allclose(logits, expected, **MODEL_TOL):
        if np.allclose(logits, average_logits(V, U, contexts), **MODEL_TOL):
            raise AssertionError(f"{what}: your logits are those of the plain average (no rotation); rotate the vector at position i by i * theta1 before averaging.")
        if np.allclose(logits, rope2_logits(V, U, contexts[:, ::-1], theta1), **MODEL_TOL):
            raise AssertionError(f"{what}: you rotated the positions in reverse order; column i of contexts is position i (the oldest token, column 0, is not rotated).")
        if np.allclose(logits, rope2_logits(V, U, contexts, -theta1), **MODEL_TOL):
            raise AssertionError(f"{what}: you rotated clockwise; turn counter-clockwise: x'_1 = cos x_1 - sin x_2, x'_2 = sin x_1 + cos x_2.")
        if np.allclose(logits, rope2_logits(V, U, contexts, theta1) * contexts.shape[1], **MODEL_TOL):
            raise AssertionError(f"{what}: your logits are T times too large: average the rotated vectors (mean over the T axis), do not sum them.")
        assert_matches(logits, expected, "logits = U v', v' = mean_i R(i theta1) V[x_i]", **MODEL_TOL)
    if ref is not None:
        assert_matches(logits, ref["logits"].double().numpy(), "logits", **MODEL_TOL)


@suite.case(
    "ContextRoPELM",
    points=2,
    hint="forward: x = self.encode(contexts) is (N, T, dim); rotate x[:, i] by i * theta1 (for dim = 2: x'_1 = cos x_1 - sin x_2, "
    "x'_2 = sin x_1 + cos x_2, with torch.cos/torch.sin), average over the T axis (dim=-2), then self.decode(v).",
)
def forward_dim2(student):
    """dim = 2, T = 3, theta1 = 0.8, seeded V (7, 2) and U (7, 2): logits = U v' with v' = mean_i R(0.8 i) V[x_i]."""
    return model_probe(student, 7, 2, 3, 0.8, 5, seed=55)


@forward_dim2.verify
def _(got, ref):
    check_dim2_logits(got, ref)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="with theta1 != 0 the context vectors are rotated by different angles at different positions, so reversing a "
    "context must change v' (unless it reads the same both ways); check that forward really uses the position i.",
)
def word_order_matters(student):
    """dim = 2, theta1 = 0.5: the same contexts read backwards give different logits (and both match the formula)."""
    import torch

    rng = np.random.default_rng(56)
    model = student.ContextRoPELM(6, 2, 3, 0.5)
    set_tables(model, rng.normal(size=(6, 2)), rng.normal(size=(6, 2)))
    contexts = np.array([[0, 1, 2], [3, 4, 5], [1, 1, 4], [5, 0, 0]])
    student.note("model = ContextRoPELM(6, 2, 3, 0.5) with seeded V and U; model(contexts) and model(contexts[:, ::-1])")
    with torch.no_grad():
        forward = model(torch.from_numpy(contexts))
        backward = model(torch.from_numpy(contexts[:, ::-1].copy()))
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(), "theta1": 0.5,
            "contexts": contexts, "logits": forward, "reversed logits": backward}


@word_order_matters.verify
def _(got, ref):
    check_dim2_logits(got, ref)
    back = {**got, "contexts": got["contexts"][:, ::-1].copy(), "logits": got["reversed logits"]}
    check_dim2_logits(back, {"logits": ref["reversed logits"]})
    a = logits_array(got["logits"], (4, 6), "model(contexts)")
    b = logits_array(got["reversed logits"], (4, 6), "model(reversed contexts)")
    same = [i for i in range(4) if np.allclose(a[i], b[i], rtol=1e-6, atol=1e-6)]
    if same:
        raise AssertionError(f"contexts {got['contexts'][same[0]].tolist()} and {got['contexts'][same[0], ::-1].tolist()} get the same logits: the model is still blind to word order.")
