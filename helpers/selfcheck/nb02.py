"""Public tests of notebook 02 (sampling): run by check("name") and by the grader."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_U, SLIDE_V

suite = Suite("02")

THE = SLIDE_TABLE_ORDER.index("the")
DOG = SLIDE_TABLE_ORDER.index("dog")
ATE = SLIDE_TABLE_ORDER.index("ate")

# The functions a student's generate / next_token_probs may call from the notebook.
HELPERS_OF_GENERATE = ("dot_scores", "softmax", "next_token_probs", "sample_categorical")


# --------------------------------------------------------------------------- #
# Shared helpers (the hidden tests import them too)
# --------------------------------------------------------------------------- #


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def assert_float(got, what: str) -> None:
    """got is a float (Python float, numpy floating scalar or a 0-d float array)."""
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind == "f":
        return
    if not isinstance(got, (float, np.floating)):
        raise AssertionError(f"{what} must return one float, got {describe(got)}. Return float(...) of the result.")


def assert_distribution(p, what: str, axis: int = -1) -> None:
    """p is a float array of finite, non-negative entries that sum to 1 along ``axis``."""
    if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float numpy array, got {describe(p)}.")
    if not np.all(np.isfinite(p)):
        raise AssertionError(f"{what} contains nan or inf: {describe(p)} (did np.exp overflow? subtract the max first).")
    if np.any(p < 0):
        raise AssertionError(f"{what} has negative probabilities: {describe(p)}.")
    sums = p.sum(axis=axis)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-9):
        raise AssertionError(f"{what} must sum to 1 along axis {axis}; the sums are {describe(np.asarray(sums))}.")


def assert_id_list(got, what: str = "generate") -> None:
    """got is a list of Python ints (numpy integers are accepted)."""
    if not isinstance(got, list):
        raise AssertionError(f"{what} must return a list of ints, got {describe(got)}. Build it with list(start_ids) and append.")
    bad = [i for i, g in enumerate(got) if not is_int(g)]
    if bad:
        raise AssertionError(f"{what} must return a list of ints; item {bad[0]} is {describe(got[bad[0]])}. Append int(...) ids.")


def show_ids(ids) -> str:
    """A list of ids for a message, numpy integers shown as plain ints."""
    return describe([int(i) if is_int(i) else i for i in ids])


def draws_before(seed: int, next_u: float, most: int = 8) -> int | None:
    """How many rng.random() numbers were drawn from default_rng(seed) before ``next_u``; None if not found."""
    sequence = np.random.default_rng(seed).random(most + 1)
    hits = np.flatnonzero(sequence == next_u)
    return int(hits[0]) if hits.size else None


def assert_one_draw(got_u, ref_u, seed: int, what: str, expected_draws: int = 1) -> None:
    """After the call, the rng's next number is ``ref_u``: the call drew exactly ``expected_draws`` numbers."""
    if got_u == ref_u:
        return
    drawn = draws_before(seed, got_u, most=expected_draws + 8)
    how = (
        f"it drew {drawn} number{'s' if drawn != 1 else ''} with rng.random()"
        if drawn is not None
        else "the rng was used in another way than rng.random() calls"
    )
    raise AssertionError(
        f"{what} must draw exactly {expected_draws} random number{'s' if expected_draws != 1 else ''} from rng, but {how}: "
        f"the next rng.random() after the call gave {got_u:.6f}, expected {ref_u:.6f}."
    )


def softmax_reference(z: np.ndarray) -> np.ndarray:
    """softmax of a 1-D score vector, for checking (trusted side)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


def _as_float_array(p):
    try:
        return np.array(p, dtype=float)
    except Exception:  # noqa: BLE001 - whatever the student passed
        return None


@contextlib.contextmanager
def replaced(student, functions: dict):
    """Temporarily replace names in the student's namespace (restored afterwards)."""
    namespace = student._namespace
    missing = object()
    saved = {name: namespace.get(name, missing) for name in functions}
    namespace.update(functions)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def guards(student, caller: str, names=HELPERS_OF_GENERATE) -> dict:
    """Wrappers of the student's own functions that turn a stub's NotImplementedError into a clear message."""
    wrapped = {}
    for name in names:
        original = student._namespace.get(name)
        if original is None or not callable(original):
            continue

        def wrapper(*args, _original=original, _name=name, **kwargs):
            try:
                return _original(*args, **kwargs)
            except NotImplementedError:
                raise RuntimeError(f"{caller} calls your {_name}, which still raises NotImplementedError: write {_name} first.") from None

        wrapped[name] = wrapper
    return wrapped


# --------------------------------------------------------------------------- #
# dot_scores
# --------------------------------------------------------------------------- #


@suite.case(
    "dot_scores",
    points=1,
    hint="s = U @ v: one matrix-vector product gives s[j] = u_j . v for every row u_j of U, one score per token, shape (vocab_size,).",
)
def slide_scores_after_the(student):
    """Scores of every next token after 'the' with the slide's tables: s = U V['the']."""
    return student.dot_scores(SLIDE_U.copy(), SLIDE_V[THE].copy())


@slide_scores_after_the.verify
def _(got, ref):
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"dot_scores must return a numpy array of shape (vocab_size,) = {ref.shape}, got {describe(got)}.")
    assert_matches(got, ref, "s")


@suite.case("dot_scores", points=1, hint="use U @ v (not v @ U, not U * v): the result has one entry per row of U.")
def every_previous_token(student):
    """s = U v for v = each row of the slide's V."""
    return [student.dot_scores(SLIDE_U.copy(), SLIDE_V[i].copy()) for i in range(len(SLIDE_TABLE_ORDER))]


@every_previous_token.verify
def _(got, ref):
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# cosine_similarity
# --------------------------------------------------------------------------- #


@suite.case(
    "cosine_similarity",
    points=1,
    hint="cos(theta) = (a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)); return it as a Python float.",
)
def slide_the_against_every_u(student):
    """cos(theta) between V['the'] and every row of the slide's U."""
    v = SLIDE_V[THE].copy()
    return [student.cosine_similarity(SLIDE_U[j].copy(), v) for j in range(len(SLIDE_TABLE_ORDER))]


@slide_the_against_every_u.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} floats, got {describe(got)}.")
    for g in got:
        assert_float(g, "cosine_similarity")
    assert_matches(got, ref)


@suite.case(
    "cosine_similarity",
    points=1,
    hint="divide by the product of the two lengths (np.linalg.norm): the lengths must cancel, so "
    "parallel vectors give 1, perpendicular 0 and opposite -1.",
)
def known_angles(student):
    """Parallel (1), perpendicular (0), opposite (-1) and a 3-4-5 pair (0.96)."""
    a = np.array([3.0, 4.0])  # (2,)
    return {
        "parallel": student.cosine_similarity(np.array([1.0, 0.0]), np.array([2.5, 0.0])),
        "perpendicular": student.cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 3.0])),
        "opposite": student.cosine_similarity(np.array([1.0, 1.0]), np.array([-2.0, -2.0])),
        "3-4-5": student.cosine_similarity(a, np.array([4.0, 3.0])),
    }


@known_angles.verify
def _(got, ref):
    for key in ref:
        if key in got:
            assert_float(got[key], "cosine_similarity")
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# softmax
# --------------------------------------------------------------------------- #

SOFTMAX_HINT = (
    "subtract the max along `axis` first (np.max(s, axis=axis, keepdims=True)): softmax(s) = softmax(s - max(s)), "
    "so np.exp never overflows; then divide by np.sum(..., axis=axis, keepdims=True)."
)


@suite.case("softmax", points=1, hint=SOFTMAX_HINT)
def stable_at_large_scores(student):
    """softmax stays finite at s = 1000 and gives an -inf score probability 0."""
    return {
        "large": student.softmax(np.array([1000.0, 999.0, -np.inf])),
        "very negative": student.softmax(np.array([-1000.0, -1001.0, -1002.0])),
    }


@stable_at_large_scores.verify
def _(got, ref):
    for key in ("large", "very negative"):
        if key in got:
            assert_distribution(got[key], f"softmax of the {key} scores")
    assert_matches(got, ref)
    if got["large"][2] != 0.0:
        raise AssertionError(f"a score of -inf must get probability exactly 0, got {got['large'][2]!r}.")


@suite.case("softmax", points=1, hint=SOFTMAX_HINT + " Take the max of each row (keepdims=True), not of the whole array.")
def rows_sum_to_one(student):
    """Every row of softmax(s, axis=-1) is a distribution (a (4, 6) batch of scores, row 1 shifted by +800)."""
    s = np.random.default_rng(3).normal(size=(4, 6)) * 5  # (4, 6)
    s[1] += 800.0
    return student.softmax(s, axis=-1)


@rows_sum_to_one.verify
def _(got, ref):
    if isinstance(got, np.ndarray) and got.shape != ref.shape:
        raise AssertionError(f"softmax must keep the shape of s: expected {ref.shape}, got {got.shape}.")
    assert_distribution(got, "softmax(s, axis=-1)", axis=-1)
    assert_matches(got, ref)


@suite.case(
    "softmax",
    points=1,
    hint="use the `axis` argument everywhere (max and sum along axis, keepdims=True); do not hard-code the last axis.",
)
def along_axis_0(student):
    """softmax(s, axis=0) normalizes each column of a (3, 5) batch."""
    s = np.random.default_rng(4).normal(size=(3, 5)) * 3  # (3, 5)
    return student.softmax(s, axis=0)


@along_axis_0.verify
def _(got, ref):
    if isinstance(got, np.ndarray) and got.shape != ref.shape:
        raise AssertionError(f"softmax must keep the shape of s: expected {ref.shape}, got {got.shape}.")
    assert_distribution(got, "softmax(s, axis=0)", axis=0)
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# next_token_probs
# --------------------------------------------------------------------------- #

NTP_HINT = (
    "v = V[prev_id] is the previous token's row (shape (M,)); return softmax(dot_scores(U, v)). "
    "If the self-checks of dot_scores or softmax fail, fix those first."
)


@suite.case("next_token_probs", points=2, hint=NTP_HINT)
def slide_the_to_ate(student):
    """With the slide's tables, P(next | prev = 'the'), where P(next = 'ate') is about 0.571."""
    with replaced(student, guards(student, "next_token_probs", ("dot_scores", "softmax"))):
        return student.next_token_probs(SLIDE_V.copy(), SLIDE_U.copy(), THE)


@slide_the_to_ate.verify
def _(got, ref):
    if isinstance(got, np.ndarray) and got.shape != ref.shape:
        raise AssertionError(f"expected one probability per token, shape {ref.shape}, got shape {got.shape}.")
    assert_distribution(got, "next_token_probs")
    assert_matches(got, ref, "p")
    if abs(float(got[ATE]) - 0.571) > 5e-4:
        raise AssertionError(f"P(next = 'ate' | prev = 'the') should be about 0.571, got {float(got[ATE]):.4f}.")


@suite.case("next_token_probs", points=1, hint=NTP_HINT)
def every_previous_token_probs(student):
    """P(next | prev) for every previous token of the slide's vocabulary."""
    with replaced(student, guards(student, "next_token_probs", ("dot_scores", "softmax"))):
        return [student.next_token_probs(SLIDE_V.copy(), SLIDE_U.copy(), i) for i in range(len(SLIDE_TABLE_ORDER))]


@every_previous_token_probs.verify
def _(got, ref):
    if isinstance(got, list):
        for i, p in enumerate(got[: len(ref)]):
            assert_distribution(p, f"next_token_probs(V, U, {i}) (prev = {SLIDE_TABLE_ORDER[i]!r})")
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# sample_categorical
# --------------------------------------------------------------------------- #

SAMPLE_HINT = (
    "draw u = rng.random() exactly once, compute c = np.cumsum(p) and return the smallest index i with "
    "c[i] > u (strictly greater; np.searchsorted(c, u, side='right') finds it)."
)
SAMPLE_P = np.array([0.1, 0.05, 0.3, 0.15, 0.4])
SAMPLE_SEEDS = list(range(8))


@suite.case("sample_categorical", points=1, hint=SAMPLE_HINT)
def fixed_seeds(student):
    """p = [0.1, 0.05, 0.3, 0.15, 0.4] with rng = default_rng(seed), seeds 0..7: fixed seeds give fixed tokens."""
    student.note(f"for seed in {SAMPLE_SEEDS}: sample_categorical(p, np.random.default_rng(seed))")
    return [student.sample_categorical(SAMPLE_P.copy(), np.random.default_rng(seed)) for seed in SAMPLE_SEEDS]


@fixed_seeds.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected one int per seed, got {describe(got)}.")
    c = np.cumsum(SAMPLE_P)
    for seed, g, r in zip(SAMPLE_SEEDS, got, ref, strict=True):
        if not is_int(g):
            raise AssertionError(
                f"sample_categorical must return an int (a token id), got {describe(g)} ({type(g).__name__}) for seed {seed}."
            )
        if int(g) != int(r):
            u = np.random.default_rng(seed).random()
            raise AssertionError(
                f"with seed {seed} the first u = rng.random() is {u:.4f} and cumsum(p) = {describe(c)}; "
                f"the smallest i with cumsum(p)[i] > u is {int(r)}, you returned {int(g)}."
            )


@suite.case(
    "sample_categorical",
    points=1,
    hint="call rng.random() exactly once per call (no rng.choice, no second draw, no new generator).",
)
def draws_exactly_one_number(student):
    """sample_categorical draws exactly one number: the rng's next draw afterwards is the second one."""
    rng = np.random.default_rng(11)
    i = student.sample_categorical(SAMPLE_P.copy(), rng)
    student.note("then rng.random() again, to see how many numbers the call drew")
    return {"i": i, "next_u": rng.random()}


@draws_exactly_one_number.verify
def _(got, ref):
    assert_one_draw(got["next_u"], ref["next_u"], 11, "sample_categorical")
    assert_matches(got["i"], ref["i"], "returned token")


N_DRAWS = 4000
FREQ_P = np.array([0.1, 0.0, 0.25, 0.4, 0.25])


@suite.case("sample_categorical", points=1, hint=SAMPLE_HINT)
def frequencies_match_p(student):
    """4000 draws from p = [0.1, 0.0, 0.25, 0.4, 0.25]: each token comes up about p[i] of the time, token 1 never."""
    fn = student.get("sample_categorical")
    rng = np.random.default_rng(2024)
    student.note(f"{N_DRAWS} times: sample_categorical(p, rng) with p = {describe(FREQ_P)}, rng = np.random.default_rng(2024)")
    return [fn(FREQ_P.copy(), rng) for _ in range(N_DRAWS)]


@frequencies_match_p.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != N_DRAWS:
        raise AssertionError(f"expected {N_DRAWS} draws, got {describe(got)}.")
    bad = [g for g in got if not is_int(g) or not 0 <= int(g) < len(FREQ_P)]
    if bad:
        raise AssertionError(
            f"every draw must be an int token id in 0..{len(FREQ_P) - 1}, got {describe(bad[0])} ({type(bad[0]).__name__})."
        )
    counts = np.bincount(np.array([int(g) for g in got]), minlength=len(FREQ_P))  # (5,)
    for i, (count, p_i) in enumerate(zip(counts, FREQ_P, strict=True)):
        sd = math.sqrt(N_DRAWS * p_i * (1 - p_i))  # binomial standard deviation of the count
        if abs(count - N_DRAWS * p_i) > 4 * sd + 0.5:
            raise AssertionError(
                f"token {i} (p = {p_i:g}) came up {count} times in {N_DRAWS} draws ({count / N_DRAWS:.3f}); "
                f"expected about {N_DRAWS * p_i:.0f} +- {4 * sd:.0f}. All counts: {counts.tolist()}"
                + (" (a token with p = 0 must never be drawn: use cumsum(p)[i] > u, strictly)." if p_i == 0 else ".")
            )


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #

GENERATE_HINT = (
    "ids = list(start_ids); n_new times: v = V[ids[-1]], s = dot_scores(U, v), next = "
    "sample_categorical(softmax(s / temperature), rng) (or int(np.argmax(s)) when greedy); append next: "
    "it is the previous token of the next step."
)


@suite.case("generate", points=2, hint=GENERATE_HINT)
def follows_the_recipe(student):
    """From 'the dog' with the slide's tables: each new token is sample_categorical(softmax(U V[prev]), rng)."""
    V, U = SLIDE_V.copy(), SLIDE_U.copy()  # (8, 2), (8, 2)
    start, n_new = [THE, DOG], 8
    gen = np.random.default_rng(0)
    calls = []
    original = student._namespace.get("sample_categorical", lambda p, rng: None)

    def recording_sample_categorical(p, rng):
        # Calls the student's own sampler, but stands in for it (with argmax p) when it fails or
        # returns no valid id, so that this test of generate does not depend on it being right.
        p_array = _as_float_array(p)
        entry = {"p": p_array, "same_rng": rng is gen}
        calls.append(entry)
        try:
            out = original(p, rng)
        except Exception:  # noqa: BLE001 - a stub or a broken sampler
            out = None
        if not is_int(out) or not 0 <= int(out) < len(V):
            out = int(np.argmax(p_array)) if p_array is not None and p_array.shape == (len(V),) else 0
        entry["out"] = int(out)
        return out

    functions = guards(student, "generate")
    functions["sample_categorical"] = recording_sample_categorical
    with replaced(student, functions):
        ids = student.generate(V, U, list(start), n_new, gen)
    return {"V": V, "U": U, "start": start, "n_new": n_new, "ids": ids, "calls": calls, "next_u": gen.random()}


def check_recipe(got, ref, temperature: float = 1.0) -> None:
    """Verify a recorded generate run step by step (independent of the student's sample_categorical)."""
    ids, start, n_new, V, U = got["ids"], got["start"], got["n_new"], got["V"], got["U"]
    assert_id_list(ids)
    if len(ids) != len(start) + n_new:
        raise AssertionError(
            f"expected len(start_ids) + n_new = {len(start)} + {n_new} = {len(start) + n_new} ids, got {len(ids)}: {show_ids(ids)}."
        )
    if [int(i) for i in ids[: len(start)]] != list(start):
        raise AssertionError(f"the result must begin with start_ids {start}, got {show_ids(ids)}.")
    calls = got["calls"]
    if not calls:  # the student sampled without calling sample_categorical: compare with the solution
        if [int(i) for i in ids] != [int(i) for i in ref["ids"]]:
            raise AssertionError(
                "generate did not call sample_categorical, and its tokens differ from the solution's: "
                f"expected {describe(ref['ids'])}, got {show_ids(ids)}. Each new token is sample_categorical(softmax(s / temperature), rng)."
            )
        assert_one_draw(got["next_u"], ref["next_u"], 0, "generate", expected_draws=n_new)
        return
    if len(calls) != n_new:
        raise AssertionError(
            f"generate should call sample_categorical once per new token (n_new = {n_new} times); it called it {len(calls)} times."
        )
    for k, call in enumerate(calls):
        prev = int(ids[len(start) - 1 + k])
        expected = softmax_reference(U @ V[prev] / temperature)  # (vocab_size,)
        if not call["same_rng"]:
            raise AssertionError(f"step {k}: pass the rng you were given to sample_categorical (not a new generator).")
        p = call["p"]
        if not isinstance(p, np.ndarray) or p.shape != expected.shape or not np.allclose(p, expected, rtol=1e-6, atol=1e-9):
            raise AssertionError(
                f"step {k} (previous token id {prev}): generate passed p = {describe(p)} to sample_categorical, "
                f"expected softmax(U @ V[{prev}] / temperature) = {describe(expected)} with temperature = {temperature:g}."
            )
        if "out" in call and (not is_int(call["out"]) or int(call["out"]) != int(ids[len(start) + k])):
            raise AssertionError(
                f"step {k}: sample_categorical returned {describe(call['out'])} but generate appended "
                f"{describe(ids[len(start) + k])}; append the sampled id (it becomes the next previous token)."
            )


@follows_the_recipe.verify
def _(got, ref):
    check_recipe(got, ref)


@suite.case(
    "generate",
    points=1,
    hint="when greedy is True take next = int(np.argmax(s)) and do not touch rng (no sampling at all).",
)
def greedy_takes_the_argmax(student):
    """greedy=True from 'the dog': always the highest-scoring token, and no random number drawn."""
    gen = np.random.default_rng(0)
    with replaced(student, guards(student, "generate")):
        ids = student.generate(SLIDE_V.copy(), SLIDE_U.copy(), [THE, DOG], 6, gen, greedy=True)
    student.note("then rng.random(), to see whether generate drew random numbers")
    return {"ids": ids, "next_u": gen.random()}


@greedy_takes_the_argmax.verify
def _(got, ref):
    assert_id_list(got["ids"])
    assert_matches(got["ids"], ref["ids"], "ids")
    if got["next_u"] != ref["next_u"]:
        raise AssertionError("greedy=True must not draw random numbers, but generate used the rng.")
