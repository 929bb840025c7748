"""Public tests of notebook 05 (RoPE): run by ``check("name")`` and by the grader.

Probes build seeded inputs (through ``student.seed``) and call the student's code; verify
steps compare with the solution's run of the same probe (``ref``, which also holds every
input) and check what a rotation must do, measured from the outputs: lengths kept, and the
angle each vector turned by against the angle the solution's output turned by.

One mistake costs once: ``rope_2d`` and ``rope`` are also run with their ``rotate_2d``
replaced by a seeded stand-in (a made-up map of the plane, not a rotation), so a caller that
is right given its ``rotate_2d`` keeps its points (helpers/selfcheck/doubles.py).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.doubles import SAME_ALONE_HINT, Twin, check_same_alone, given_callee, under_and_alone
from helpers.selfcheck.lm_tables import check_table_gradients, check_table_lm_facts, gradients_probe, table_lm_facts

suite = Suite("05")

MODEL_TOL = {"rtol": 1e-4, "atol": 1e-5}  # float32 model outputs against float64 ones


# --------------------------------------------------------------------------- #
# Measurements (verify side): what turned, and by how much
# --------------------------------------------------------------------------- #


def signed_angles(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The angle (in (-pi, pi]) that turns each 2-D vector of ``before`` into the direction of ``after``."""
    cross = before[..., 0] * after[..., 1] - before[..., 1] * after[..., 0]
    dot = before[..., 0] * after[..., 0] + before[..., 1] * after[..., 1]
    return np.arctan2(cross, dot)


def wrap(a) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def require_array(value, shape: tuple, what: str) -> np.ndarray:
    """``value`` must be a float numpy array of ``shape``; returns it."""
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array of shape {tuple(shape)}, got {type(value).__name__}: {describe(value, 100)}.")
    if value.shape != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got shape {value.shape}.")
    if value.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float array, got dtype {value.dtype}.")
    return value


def check_turns(X: np.ndarray, out: np.ndarray, expected: np.ndarray, what: str, pairs: bool = False) -> None:
    """Each 2-D pair of ``out`` must be the pair of ``X`` turned as the pair of ``expected`` (the solution's) is.

    X, out, expected: (..., T, P, 2) pairs (a single vector, (1, 2), counts as position 0). Reports the first (position,
    pair) whose length changed or whose angle differs.
    """
    if X.ndim < 3:  # one vector: a position axis of length 1, so every index below has a position and a pair
        X, out, expected = X[None], out[None], expected[None]
    len_in, len_out = np.linalg.norm(X, axis=-1), np.linalg.norm(out, axis=-1)  # (..., T, P)
    bad = ~np.isclose(len_out, len_in, rtol=1e-5, atol=1e-8)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        *lead, t, p = idx
        where = f"position {t}" + (f", pair {p} (coordinates {2 * p}, {2 * p + 1})" if pairs else "") + (f", batch index {tuple(lead)}" if lead else "")
        raise AssertionError(
            f"{what}: a rotation keeps lengths, but at {where} the length changed from {len_in[idx]:.6g} to {len_out[idx]:.6g}."
            + (" Which coordinates form a pair? Here pair j is two ADJACENT coordinates." if pairs else "")
        )
    turned, want = signed_angles(X, out), signed_angles(X, expected)  # (..., T, P)
    wrong = np.abs(wrap(turned - want)) > 1e-5
    if np.any(wrong):
        idx = tuple(int(i) for i in np.argwhere(wrong)[0])
        *lead, t, p = idx
        where = f"position {t}" + (f", pair {p}" if pairs else "")
        extra = ""
        if np.isclose(turned[idx], -want[idx], atol=1e-6) and abs(want[idx]) > 1e-6:
            extra = " That is the right angle in the wrong direction: the slide's rotation turns counter-clockwise."
        elif t + 1 < want.shape[-2] and np.allclose(turned[..., :-1, :], want[..., 1:, :], atol=1e-6):
            extra = " Every position turned as the next one should: positions count from 0, and position 0 does not turn."
        raise AssertionError(f"{what}: at {where} the vector turned by {turned[idx]:.6g} rad, but it should turn by {want[idx]:.6g} rad.{extra}")


# --------------------------------------------------------------------------- #
# Test doubles (probe side)
# --------------------------------------------------------------------------- #


def rotate_stand_in(seed: int):
    """A stand-in for rotate_2d: a seeded made-up map of (x, theta) with rotate_2d's shapes and broadcasting, NOT a rotation."""
    a, b, c = np.random.default_rng(seed).uniform(0.5, 1.5, size=3)

    def stand_in(x, theta):
        x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
        return np.stack([x[..., 0] * a + theta, x[..., 1] * b - c * theta**2 + 0.1 * x[..., 0]], axis=-1)  # (broadcast, 2)

    return stand_in


# --------------------------------------------------------------------------- #
# rotate_2d
# --------------------------------------------------------------------------- #


def check_turned_by(out, x, theta, what: str) -> None:
    """Tolerant: out keeps every vector's length and turns it by the angle |theta| (x . x' = |x|^2 cos theta), in
    either direction: a clockwise turn passes (the direction is judged by the exact cases); a stub, a vector left as
    it was, or a stretch does not."""
    x = np.asarray(x, dtype=float)
    theta = np.asarray(theta, dtype=float)
    shape = np.broadcast_shapes(x.shape[:-1], theta.shape) + (2,)
    require_array(out, shape, what)
    X = np.broadcast_to(x, shape)
    lengths = np.linalg.norm(X, axis=-1)
    if not np.allclose(np.linalg.norm(out, axis=-1), lengths, rtol=1e-7, atol=1e-9):
        raise AssertionError(f"{what}: a rotation keeps every vector's length, but the lengths changed.")
    if not np.allclose(np.sum(X * out, axis=-1), lengths**2 * np.cos(theta), rtol=1e-7, atol=1e-9):
        raise AssertionError(f"{what}: each vector should turn by its angle theta (in radians), but the angle between x and x' is another.")


def check_rotate(got: dict, ref: dict, what: str) -> None:
    """The student's x' for the solution's inputs (x, theta) against the solution's x'."""
    x, expected, out = ref["x"], ref["x'"], got.get("x'")
    require_array(out, expected.shape, what)
    if not np.allclose(out, expected, rtol=1e-7, atol=1e-9):
        X = np.broadcast_to(x, expected.shape)[..., None, :]
        theta = np.broadcast_to(np.asarray(ref["theta"], dtype=float), expected.shape[:-1])
        turned = signed_angles(X[..., 0, :], out)
        if np.allclose(wrap(turned - wrap(np.deg2rad(theta))), 0, atol=1e-6) and not np.allclose(wrap(theta), 0):
            raise AssertionError(f"{what}: the vector turned by theta read as DEGREES; theta is in radians already.")
        check_turns(X, out[..., None, :], expected[..., None, :], what)
        assert_matches(out, expected, what, rtol=1e-7, atol=1e-9)


@suite.case(
    "rotate_2d",
    points=1,
    hint="the slide's Rotate(x, theta) turns x counter-clockwise by theta radians with the 2 x 2 rotation matrix; watch the sign "
    "of the sine in each of the two new coordinates.",
)
def quarter_turns(student):
    """Single vectors: [1, 0] turned by pi/2 is [0, 1]; [3, 4] by pi/2 is [-4, 3]; and a few more."""
    cases = [([1.0, 0.0], np.pi / 2), ([1.0, 0.0], np.pi), ([3.0, 4.0], np.pi / 2), ([3.0, 4.0], -np.pi / 2), ([0.6, -0.8], 0.0), ([2.0, 1.0], 1.0)]
    return [{"x": np.array(x), "theta": float(t), "x'": student.rotate_2d(np.array(x), float(t))} for x, t in cases]


@quarter_turns.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} results, got {describe(got)}")
    for g, r in zip(got, ref):
        check_rotate(g, r, f"rotate_2d(x = {r['x'].tolist()}, theta = {r['theta']:.4g})")


@suite.case(
    "rotate_2d",
    points=1,
    hint="work on the two coordinate columns (the last axis) with numpy broadcasting, so an array of angles turns each vector by "
    "its own angle; no loops, no reshaping to one vector.",
)
def many_vectors_many_angles(student):
    """A (6, 2) batch with one angle per row (theta of shape (6,)), and a (4, 3, 2) batch with one angle for all."""
    rng = np.random.default_rng(student.seed(50))
    x1, t1 = rng.normal(size=(6, 2)), rng.uniform(-4, 4, size=6)
    x2, t2 = rng.normal(size=(4, 3, 2)), float(rng.uniform(-4, 4))
    return [{"x": x1, "theta": t1, "x'": student.rotate_2d(x1.copy(), t1.copy())}, {"x": x2, "theta": t2, "x'": student.rotate_2d(x2.copy(), t2)}]


@many_vectors_many_angles.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} results, got {describe(got)}")
    for g, r in zip(got, ref):
        check_rotate(g, r, f"rotate_2d(x of shape {r['x'].shape}, theta of shape {np.shape(r['theta'])})")


@suite.case(
    "rotate_2d",
    points=1,
    hint="convert the inputs to float arrays first (a list, an int angle) and build a new array: never write into x.",
)
def plain_inputs_x_unchanged(student):
    """A Python list and an int angle work; the array x passed in is not modified."""
    x = np.random.default_rng(student.seed(57)).normal(size=(3, 2))
    x_in = x.copy()
    out = {"list": {"x": np.array([1.0, 2.0]), "theta": 1.0, "x'": student.rotate_2d([1.0, 2.0], 1)}}
    out["array"] = {"x": x.copy(), "theta": 0.5, "x'": student.rotate_2d(x_in, 0.5)}
    out["x unchanged"] = bool(np.array_equal(x_in, x))
    return out


@plain_inputs_x_unchanged.verify
def _(got, ref):
    if got.get("x unchanged") is not True:
        raise AssertionError("rotate_2d changed the array x it was given; compute a new array instead.")
    for key in ("list", "array"):  # tolerant: the direction of the turn is quarter_turns'
        check_turned_by(got[key].get("x'") if isinstance(got[key], dict) else None, ref[key]["x"], ref[key]["theta"], f"rotate_2d ({key})")


# --------------------------------------------------------------------------- #
# rope_2d
# --------------------------------------------------------------------------- #


def check_rope_2d(out, X: np.ndarray, theta1: float, expected: np.ndarray) -> None:
    """The student's rope_2d(X, theta1) against the solution's, measured row by row."""
    what = f"rope_2d(X of shape {X.shape}, theta1 = {theta1:.4g})"
    require_array(out, X.shape, what)
    if not np.allclose(out[0], X[0], rtol=1e-9, atol=1e-12):
        raise AssertionError(f"{what}: row 0 (position 0, turned by 0 times theta1) should come back unchanged, got {out[0]} for {X[0]}.")
    check_turns(X[:, None, :], out[:, None, :], expected[:, None, :], what)
    assert_matches(out, expected, what)


def rope_2d_twin(student, seed: int) -> Twin:
    return Twin(student, "rope_2d", "rotate_2d", rotate_stand_in(seed))


def check_rope_2d_given_rotate(got: dict, ref: dict) -> None:
    """rope_2d against the solution's, judged beside the rotate_2d double where it calls rotate_2d."""
    given_callee(lambda: check_rope_2d(got["out"], ref["X"], ref["theta1"], ref["out"]), got, ref, "rotate_2d")


@suite.case(
    "rope_2d",
    points=1,
    hint="the token at position i turns by i times theta1, positions counting from 0; your rotate_2d already turns many rows by their own angles.",
)
def unit_vectors_on_a_circle(student):
    """Four copies of [1, 0] with theta1 = pi/4 land at 0, 45, 90 and 135 degrees."""
    twin = rope_2d_twin(student, student.seed(150))
    X = np.tile([1.0, 0.0], (4, 1))
    return {"X": X.copy(), "theta1": float(np.pi / 4), "out": twin("out", X, float(np.pi / 4)), **twin.facts()}


unit_vectors_on_a_circle.verify(check_rope_2d_given_rotate)


@suite.case(
    "rope_2d",
    points=1,
    hint="position 0 is not turned and every row keeps its length; the angle grows by theta1 from one position to the next.",
)
def random_sequence(student):
    """A seeded random sequence X of shape (6, 2), theta1 = 0.3: row 0 unchanged, row i turned by 0.3 i, lengths kept."""
    twin = rope_2d_twin(student, student.seed(151))
    X = np.random.default_rng(student.seed(51)).normal(size=(6, 2))
    return {"X": X.copy(), "theta1": 0.3, "out": twin("out", X, 0.3), **twin.facts()}


random_sequence.verify(check_rope_2d_given_rotate)


ANY_THETA1_HINT = "any theta1 works the same way (0, negative, a full turn); return a new array and leave X as it was."


@suite.case("rope_2d", points=1, hint=ANY_THETA1_HINT)
def negative_angle_x_unchanged(student):
    """theta1 = -0.4 turns clockwise; the X passed in is not modified."""
    twin = rope_2d_twin(student, student.seed(152))
    X = np.random.default_rng(student.seed(52)).normal(size=(5, 2))
    X_in = X.copy()
    out = {"X": X.copy(), "theta1": -0.4, "out": twin("out", X_in, -0.4), **twin.facts()}
    out["X unchanged"] = bool(np.array_equal(X_in, X))
    return out


@negative_angle_x_unchanged.verify
def _(got, ref):
    if got.get("X unchanged") is not True:
        raise AssertionError("rope_2d changed the array X it was given; return a new array.")
    check_rope_2d_given_rotate(got, ref)


# --------------------------------------------------------------------------- #
# rope
# --------------------------------------------------------------------------- #


def check_rope(out, X: np.ndarray, base: float, expected: np.ndarray) -> None:
    """The student's rope(X, base) against the solution's, pair by pair."""
    T, d = X.shape[-2:]
    what = f"rope(X of shape {X.shape}, base = {base:g})"
    require_array(out, X.shape, what)
    split = (*X.shape[:-1], d // 2, 2)  # (..., T, d/2, 2)
    check_turns(X.reshape(split), out.reshape(split), expected.reshape(split), what, pairs=d > 2)
    assert_matches(out, expected, what)


def rope_angles_or(check, got: dict, ref: dict) -> None:
    """Tolerant rope cases: where the student's rope turns its pairs with rotate_2d (its run beside the double), it
    passes when it hands rotate_2d the solution's angles, i * theta_j for pair j at position i, whichever coordinates
    it pairs up (the pairing is the exact cases'); a rope that does not call rotate_2d is judged by ``check()``."""
    from helpers.selfcheck.doubles import doubled_keys, given_callee

    keys = doubled_keys(got, ref)
    if not keys or len(keys) != len(ref.get("stand-in") or {}):
        given_callee(check, got, ref, "rotate_2d")
        return
    for key in keys:
        mine = ((got.get("stand-in calls") or {}).get(key) or {}).get("rotate_2d") or []
        theirs = ((ref.get("stand-in calls") or {}).get(key) or {}).get("rotate_2d") or []
        try:
            angles = [np.broadcast_to(np.asarray(c[1], dtype=float), np.shape(t[1])) for c, t in zip(mine, theirs)]
        except (TypeError, ValueError, IndexError):
            angles = None
        if angles is None or len(mine) != len(theirs) or not all(np.allclose(a, t[1], rtol=1e-9, atol=1e-12) for a, t in zip(angles, theirs)):
            raise AssertionError(f"{key}: the angles rope hands rotate_2d should be i * theta_j for pair j at position i, "
                                 f"theta_j = base ** (-2j / d); got {describe(mine[0][1] if mine and len(mine[0]) > 1 else mine)}.")


def rope_twin(student, seed: int) -> Twin:
    return Twin(student, "rope", "rotate_2d", rotate_stand_in(seed))


def rope_probe(student, k: int, shape: tuple, base: float | None = None) -> dict:
    """rope of a seeded X of ``shape`` (student.seed(k)), beside a rotate_2d double (student.seed(k + 100)) and as is;
    ``base`` is passed only when given (else rope's default, 10000)."""
    twin = rope_twin(student, student.seed(k + 100))
    X = np.random.default_rng(student.seed(k)).normal(size=shape)
    kwargs = {} if base is None else {"base": base}
    return {"X": X.copy(), "base": 10000.0 if base is None else base, "out": twin("out", X, **kwargs), **twin.facts()}


def check_rope_given_rotate(got: dict, ref: dict) -> None:
    """rope against the solution's, judged beside the rotate_2d double where it calls rotate_2d."""
    given_callee(lambda: check_rope(got["out"], ref["X"], ref["base"], ref["out"]), got, ref, "rotate_2d")


@suite.case(
    "rope",
    points=2,
    hint="the coordinates pair up as neighbours (2j, 2j+1), and pair j at position i turns by i times its own frequency from the docstring "
    "(pair 0 fastest); your rotate_2d can turn all pairs at once if the angles come as a table over positions and pairs.",
)
def sequence_T5_d6(student):
    """A seeded X of shape (T, d) = (5, 6), base 10000: every adjacent pair turned by i * 10000^(-2j/6)."""
    return rope_probe(student, k=53, shape=(5, 6))


sequence_T5_d6.verify(check_rope_given_rotate)


@suite.case(
    "rope",
    points=1,
    hint="with d = 2 there is one pair and its frequency is 1, so rope is rope_2d with theta1 = 1: position i turns by i radians.",
)
def two_dims_is_rope_2d(student):
    """With d = 2, rope(X) is rope_2d(X, theta1 = 1): position i turns by i radians (base^0 = 1)."""
    return rope_probe(student, k=54, shape=(6, 2))


two_dims_is_rope_2d.verify(check_rope_given_rotate)


@suite.case(
    "rope",
    points=1,
    hint="only the last two axes are positions and coordinates: leading (batch, head) axes ride along, and the base argument is used.",
)
def batch_and_base(student):
    """X of shape (B, T, d) = (2, 3, 4) with base = 100: every adjacent pair turned by i * 100^(-2j/4)."""
    return rope_probe(student, k=55, shape=(2, 3, 4), base=100.0)


batch_and_base.verify(check_rope_given_rotate)


@suite.case(
    "rope",
    points=1,
    hint="check d yourself before any reshaping, and raise ValueError with a message that says d must be even.",
)
def odd_dimension_raises(student):
    """rope of X with d = 5 (odd) raises a ValueError whose message says that d must be even."""
    X = np.random.default_rng(student.seed(56)).normal(size=(4, 5))
    try:
        out = student.rope(X)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the type and the message are what we check
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "returned": out}


@odd_dimension_raises.verify
def _(got, ref):
    if got.get("raised") is None:
        raise AssertionError(f"rope(X of shape (4, 5)) should raise ValueError (d = 5 cannot be split into pairs), but it returned {describe(got.get('returned'), 100)}.")
    if got["raised"] != "ValueError":
        raise AssertionError(f"rope(X of shape (4, 5)) raised {got['raised']} ({str(got.get('message'))[:120]!r}); raise ValueError yourself, saying d must be even.")
    message = str(got.get("message"))
    if not any(word in message.lower() for word in ("even", "odd")):
        raise AssertionError(
            f"rope(X of shape (4, 5)) raised ValueError({message[:120]!r}), which does not say what is wrong (an error from deep "
            "inside numpy?). Check d yourself first and say that d must be even."
        )


# --------------------------------------------------------------------------- #
# ContextRoPELM
# --------------------------------------------------------------------------- #


def module_facts(model, vocab_size: int, dim: int) -> dict:
    return table_lm_facts(model, vocab_size, dim)


def check_module_facts(got: dict, ref: dict, name: str = "ContextRoPELM") -> None:
    check_table_lm_facts(
        got, ref["vocab_size"], ref["dim"], name, "s = U v'",
        "Keep the rotation angles out of the parameters: they are not learned.",
    )  # fmt: skip


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (the test's inputs, set explicitly)."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V))
        model.decode.weight.copy_(torch.as_tensor(U))


def logits_array(value, shape: tuple, what: str) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} should return a torch tensor of logits with shape {tuple(shape)}, got {type(value).__name__}: {describe(value, 100)}.")
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
        backwards = model(torch.from_numpy(contexts[:, ::-1].copy()))
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "contexts": contexts, "theta1": float(theta1), "logits": logits, "reversed logits": backwards}


def check_model_logits(got: dict, ref: dict, key: str = "logits") -> None:
    """The student's logits against the solution's for the same weights and contexts, naming what can be named."""
    contexts = ref["contexts"]
    what = f"ContextRoPELM(dim = {ref['V'].shape[1]}, context_size = {contexts.shape[1]}, theta1 = {ref['theta1']:g}): model(contexts)"
    logits = logits_array(got.get(key), tuple(ref[key].shape), what)
    expected = ref[key].double().numpy()
    if not np.allclose(logits, expected, **MODEL_TOL):
        other = "reversed logits" if key == "logits" else "logits"
        if other in ref and np.allclose(logits, ref[other].double().numpy(), **MODEL_TOL):
            raise AssertionError(f"{what}: the positions run in reverse order; column i of contexts is position i (column 0, the oldest token, is not turned).")
        if np.allclose(logits, expected * contexts.shape[1], **MODEL_TOL):
            raise AssertionError(f"{what}: the logits are T times too large: v' is the AVERAGE of the rotated vectors, not their sum.")
        assert_matches(logits, expected, "logits", **MODEL_TOL)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="V and U are the only learned tables; the rotation angles (or their cosines and sines) are fixed numbers: not nn.Parameter, "
    "and not saved with the weights (a buffer registered as non-persistent, or a plain tensor attribute).",
)
def attributes(student):
    """ContextRoPELM(13, 4, 3, 0.5) has encode = nn.Embedding(13, 4) (V), decode = nn.Linear(4, 13, bias=False) (U), nothing else
    learned, and its state_dict holds exactly encode.weight and decode.weight (a model with another theta1 loads it)."""
    import torch

    model = student.ContextRoPELM(13, 4, 3, 0.5)
    facts = module_facts(model, 13, 4)
    facts["state_dict keys"] = sorted(model.state_dict()) if isinstance(model, torch.nn.Module) else None
    try:
        student.ContextRoPELM(13, 4, 3, 0.2).load_state_dict(model.state_dict())
        facts["loads"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported
        facts["loads"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return facts


@attributes.verify
def _(got, ref):
    check_module_facts(got, ref)
    if got.get("state_dict keys") != ref["state_dict keys"]:
        raise AssertionError(
            f"state_dict() should hold exactly {ref['state_dict keys']} (the learned tables V and U), got {got.get('state_dict keys')}. "
            "A persistent buffer of angles is saved with the weights, and a model built with another theta1 then loads the old angles."
        )
    if got.get("loads") != "ok":
        raise AssertionError(f"a model with another theta1 could not load this model's state_dict: {got.get('loads')}")


@suite.case(
    "ContextRoPELM",
    points=2,
    hint="embed the context, turn the vector at position i counter-clockwise (as rotate_2d does) by i times theta1 (for dim = 2 one "
    "pair), average the turned vectors over the context positions, then decode; stay in torch so gradients flow.",
)
def forward_dim2(student):
    """dim = 2, T = 3, theta1 = 0.8, seeded V (7, 2) and U (7, 2): logits = U v' with v' = mean_i R(0.8 i) V[x_i]."""
    return model_probe(student, 7, 2, 3, 0.8, 5, seed=student.seed(55))


@forward_dim2.verify
def _(got, ref):
    check_model_logits(got, ref)


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="with theta1 != 0 the context vectors turn by different angles at different positions, so reading a context backwards must "
    "change v' (unless it reads the same both ways). With dim = 4 there are two pairs of ADJACENT coordinates, (0, 1) and (2, 3), "
    "and pair j turns by rope's frequency of pair j times theta1.",
)
def word_order_matters(student):
    """dim = 4, theta1 = 0.5: the same contexts read backwards give different logits (and both match)."""
    return model_probe(student, 6, 4, 3, 0.5, 4, seed=student.seed(56))


@word_order_matters.verify
def _(got, ref):
    check_model_logits(got, ref)
    check_model_logits(got, ref, "reversed logits")
    a, b = got["logits"].double().numpy(), got["reversed logits"].double().numpy()
    same = [i for i in range(a.shape[0]) if np.allclose(a[i], b[i], rtol=1e-6, atol=1e-6) and not np.array_equal(ref["contexts"][i], ref["contexts"][i, ::-1])]
    if same:
        c = ref["contexts"][same[0]]
        raise AssertionError(f"contexts {c.tolist()} and {c[::-1].tolist()} get the same logits: the model is still blind to word order.")


@suite.case(
    "ContextRoPELM",
    points=1,
    hint="when the logits checks fail too, fix forward first: the gradients follow from it. Otherwise keep forward in torch (no "
    "numpy, no detach, no torch.no_grad) so the loss's gradients reach both tables.",
)
def gradients_flow_to_both_tables(student):
    """Backpropagating F.cross_entropy(model(contexts), targets) (dim = 4, T = 3, theta1 = 0.6) fills encode.weight.grad and decode.weight.grad."""
    return gradients_probe(student, k=58, model="ContextRoPELM", sizes=(7, 4, 3, 0.6), N=8, set_tables=set_tables)


def check_gradients(got: dict, ref: dict) -> None:
    check_table_gradients(got, ref, **MODEL_TOL)


gradients_flow_to_both_tables.verify(check_gradients)


# --------------------------------------------------------------------------- #
# The same under rope_2d and rope: a rotate_2d that answers otherwise inside them than alone loses a point
# in its own case (the hidden tests have this on other seeds)
# --------------------------------------------------------------------------- #


def rotate_under_rope_probe(student, k: int, theta1: float, theta: list) -> dict:
    """rotate_2d's same-under-rope cases: rope_2d(X, theta1) and rope(X) on seeded inputs (student.seed(k)) watching
    rotate_2d, each recorded call made again alone, then rotate_2d(x, theta) on a seeded x (3, 2) and 3 angles."""
    rng = np.random.default_rng(student.seed(k))
    X2, X = rng.normal(size=(4, 2)), rng.normal(size=(3, 4))  # (T, 2), (T, d)
    x = rng.normal(size=(3, 2))  # (3, 2)
    theta = np.array(theta)  # (3,)
    student.note(f"rope_2d(X, {theta1}) and rope(X) watching rotate_2d, then rotate_2d alone on the same arguments")
    calls = under_and_alone(student, "rope_2d", "rotate_2d", lambda: student.get("rope_2d")(X2.copy(), theta1))
    calls += under_and_alone(student, "rope", "rotate_2d", lambda: student.get("rope")(X.copy()))
    return {"x": x, "theta": theta, "alone": calls, "x'": student.rotate_2d(x.copy(), theta.copy())}


def check_rotate_under_rope(got: dict, ref: dict) -> None:
    """Tolerant: rotate_2d alone turns each vector by its angle (not a stub); under rope_2d and rope it gives what it gives alone."""
    check_turned_by(got["x'"], ref["x"], ref["theta"], "rotate_2d(x, theta)")
    check_same_alone(got, "rotate_2d")


@suite.case("rotate_2d", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_rope(student):
    """Inside your rope_2d and rope, rotate_2d gives what it gives alone on the same vectors and angles (and is right alone)."""
    return rotate_under_rope_probe(student, k=156, theta1=0.7, theta=[0.5, -2.1, 1.3])


same_alone_as_under_rope.verify(check_rotate_under_rope)
