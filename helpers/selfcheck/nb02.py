"""Public tests of notebook 02 (sampling): run by check("name") and by the grader."""

from __future__ import annotations

import math

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_U, SLIDE_V
from helpers.selfcheck.doubles import (
    SAME_ALONE_HINT,
    Doubled,
    callee_results_differ,
    check_doubled,
    check_same_alone,
    fix_callee_first,
    same_values,
    under_and_alone,
)

suite = Suite("02")

THE = SLIDE_TABLE_ORDER.index("the")
DOG = SLIDE_TABLE_ORDER.index("dog")
ATE = SLIDE_TABLE_ORDER.index("ate")


# --------------------------------------------------------------------------- #
# Shared helpers (the hidden tests import them too)
# --------------------------------------------------------------------------- #


def is_int(value) -> bool:
    return type(value) is int or (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)))


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
        raise AssertionError(f"{what} contains nan or inf: {describe(p)} (exp overflowed, or a whole distribution underflowed to 0 / 0: each distribution needs its own shift, so that its own largest score is 0).")
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
        raise AssertionError(f"{what} must return a list of ints; item {bad[0]} is {describe(got[bad[0]])}. Append plain int ids.")


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


# --------------------------------------------------------------------------- #
# Doubles: seeded stand-ins for the callees of next_token_probs and generate
# --------------------------------------------------------------------------- #


def sampling_doubles(seed: int) -> dict:
    """Seeded doubles of dot_scores, softmax, next_token_probs and sample_categorical: NOT the graded functions.

    Each keeps its callee's signature, shapes and contract (one score per row of U; a
    distribution along ``axis``; one rng.random() per draw) and depends on every argument, so
    a caller that passes the wrong table, forgets or misapplies the temperature, draws twice or
    appends something else gives other results than the solution's caller beside the same
    doubles. The next_token_probs double is the softmax double of the dot_scores double, so a
    generate built on next_token_probs meets what one built on dot_scores and softmax meets.
    """
    rng = np.random.default_rng(seed)
    a, c, phase, b, phase2 = rng.uniform(0.5, 1.5), rng.uniform(0.2, 0.6), rng.uniform(0, 6.3), rng.uniform(0.6, 1.4), rng.uniform(0, 6.3)

    def dot_scores(U, v):
        U, v = np.asarray(U, dtype=float), np.asarray(v, dtype=float)  # (vocab_size, M), (M,)
        return np.tanh(a * U) @ v + c * np.cos(np.arange(len(U)) + phase)  # (vocab_size,) made-up scores

    def softmax(s, axis=-1):
        s = np.asarray(s, dtype=float)
        w = np.exp(1.5 * np.sin(b * np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0) + phase2))  # positive weights
        w = np.where(np.isneginf(s), 0.0, w)
        return w / np.sum(w, axis=axis, keepdims=True)  # a made-up distribution along axis

    def next_token_probs(V, U, prev_id):
        return softmax(dot_scores(U, np.asarray(V)[int(prev_id)]))  # (vocab_size,)

    def sample_categorical(p, rng):
        p = np.asarray(p, dtype=float)  # (vocab_size,)
        order = np.random.default_rng([seed, p.size]).permutation(p.size)  # the pieces of [0, 1) in a made-up order
        u = rng.random()  # exactly one draw, like the graded sampler
        i = min(int(np.searchsorted(np.cumsum(p[order]), u, side="right")), p.size - 1)
        return int(order[i])

    return {"dot_scores": dot_scores, "softmax": softmax, "next_token_probs": next_token_probs, "sample_categorical": sample_categorical}


# --------------------------------------------------------------------------- #
# dot_scores
# --------------------------------------------------------------------------- #

DOT_HINT = (
    "each score is the dot product of one next-token vector u_j (a row of U) with the previous token's vector v: "
    "one number per row of U, so the result has vocab_size entries. Check which operand stands on which side of the product."
)


@suite.case("dot_scores", points=1, hint=DOT_HINT)
def slide_scores_after_the(student):
    """Scores of every next token after 'the' with the slide's tables: s = U V['the']."""
    return student.dot_scores(SLIDE_U.copy(), SLIDE_V[THE].copy())


@slide_scores_after_the.verify
def _(got, ref):
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"dot_scores must return a numpy array of shape (vocab_size,) = {ref.shape}, got {describe(got)}.")
    assert_matches(got, ref, "s")


@suite.case("dot_scores", points=1, hint=DOT_HINT)
def every_previous_token(student):
    """s = U v for v = each row of the slide's V."""
    return [student.dot_scores(SLIDE_U.copy(), SLIDE_V[i].copy()) for i in range(len(SLIDE_TABLE_ORDER))]


@every_previous_token.verify
def _(got, ref):
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# cosine_similarity
# --------------------------------------------------------------------------- #

COSINE_HINT = (
    "the cosine is the dot product normalized by the lengths of BOTH vectors, so that the lengths cancel: "
    "parallel vectors give 1, perpendicular 0, opposite -1, whatever their lengths. Return one Python float."
)


@suite.case("cosine_similarity", points=1, hint=COSINE_HINT)
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


@suite.case("cosine_similarity", points=1, hint=COSINE_HINT)
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
    "softmax does not change when the same constant is added to every score of one distribution: shift each "
    "distribution so that its largest score is 0 before exponentiating, and exp can no longer overflow "
    "(a score of -inf then still gets probability 0). Normalize along `axis` only."
)
AXIS_HINT = (
    "one distribution lies along `axis`: both the shift and the normalizing sum are taken per distribution along "
    "that axis (keeping that axis so the shapes broadcast), never over the whole array or a hard-coded axis."
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


@suite.case("softmax", points=1, hint=AXIS_HINT)
def rows_sum_to_one(student):
    """Every row of softmax(s, axis=-1) is a distribution (a (4, 6) batch of scores, row 1 shifted by +800)."""
    s = np.random.default_rng(student.seed(3)).normal(size=(4, 6)) * 5  # (4, 6)
    s[1] += 800.0
    return student.softmax(s, axis=-1)


@rows_sum_to_one.verify
def _(got, ref):
    if isinstance(got, np.ndarray) and got.shape != ref.shape:
        raise AssertionError(f"softmax must keep the shape of s: expected {ref.shape}, got {got.shape}.")
    assert_distribution(got, "softmax(s, axis=-1)", axis=-1)
    assert_matches(got, ref)


@suite.case("softmax", points=1, hint=AXIS_HINT)
def along_axis_0(student):
    """softmax(s, axis=0) normalizes each column of a (3, 5) batch."""
    s = np.random.default_rng(student.seed(4)).normal(size=(3, 5)) * 3  # (3, 5)
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
    "P(next | prev) is the softmax of the scores of the previous token's vector (its row of V, not of U) against "
    "every next-token vector; build it from your dot_scores and softmax. If their self-checks fail, fix those first."
)


def observe_next_token_probs(student, V, U, prev_ids, seed_k: int = 300) -> dict:
    """next_token_probs(V, U, prev) for each prev, run twice (helpers/selfcheck/doubles.py): beside seeded doubles
    of dot_scores and softmax (the run it is judged on when it calls them), and as is, its own callees watched."""
    doubles = sampling_doubles(student.seed(seed_k))
    doubled = Doubled(student, "next_token_probs", {k: doubles[k] for k in ("dot_scores", "softmax")})
    p = [doubled(f"prev={int(prev)}", V.copy(), U.copy(), prev) for prev in prev_ids]
    student.note(f"next_token_probs(V, U, prev_id) for prev_id in {[int(i) for i in prev_ids]}")
    return {"V": V, "U": U, "prev_ids": [int(i) for i in prev_ids], "p": p, **doubled.facts()}


def _compare_probs(mine, theirs, what: str) -> None:
    if isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray) and mine.shape != theirs.shape:
        raise AssertionError(f"{what}: expected one probability per token, shape {theirs.shape}, got shape {mine.shape}.")
    assert_matches(mine, theirs, what, rtol=1e-5, atol=1e-8)


def check_next_token_probs(got, ref) -> None:
    """next_token_probs is judged on its runs beside the doubles of dot_scores and softmax (so it keeps its points
    when only they are wrong, and a stub beside them earns nothing); one that calls neither (or only one) of them
    is compared with the solution as is."""
    if check_doubled(got, ref, "dot_scores and softmax", compare=lambda m, t, key: _compare_probs(m, t, f"next_token_probs(V, U, {key[5:]})")):
        return
    if not isinstance(got["p"], list) or len(got["p"]) != len(ref["p"]):
        raise AssertionError(f"expected {len(ref['p'])} results, got {describe(got['p'])}.")
    for k, prev in enumerate(ref["prev_ids"]):
        what = f"next_token_probs(V, U, {prev})"
        error = (got.get("errors") or {}).get(f"prev={prev}")
        if error:
            raise AssertionError(f"{what}: {error}")
        note = fix_callee_first("dot_scores or softmax") if callee_results_differ(got.get("callee calls"), ref.get("callee calls"), same_values) else ""
        try:
            _compare_probs(got["p"][k], ref["p"][k], what)
            assert_distribution(got["p"][k], what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}{note}") from None


@suite.case("next_token_probs", points=1, hint=NTP_HINT)
def slide_the_to_ate(student):
    """With the slide's tables, P(next | prev = 'the'), where P(next = 'ate') is about 0.571."""
    return observe_next_token_probs(student, SLIDE_V.copy(), SLIDE_U.copy(), [THE])


@slide_the_to_ate.verify
def _(got, ref):
    check_next_token_probs(got, ref)


@suite.case("next_token_probs", points=1, hint=NTP_HINT)
def every_previous_token_probs(student):
    """P(next | prev) for every previous token of the slide's vocabulary."""
    return observe_next_token_probs(student, SLIDE_V.copy(), SLIDE_U.copy(), list(range(len(SLIDE_TABLE_ORDER))))


@every_previous_token_probs.verify
def _(got, ref):
    check_next_token_probs(got, ref)


def extreme_tables(rng) -> tuple[np.ndarray, np.ndarray]:
    """Tables whose scores are in the hundreds, with a -inf score for one token (tests' inputs)."""
    V = np.abs(rng.normal(size=(6, 3))) * 10 + 5.0  # (6, 3) positive entries, each row sums to 15 or more
    U = rng.normal(size=(6, 3)) * 40  # (6, 3)
    U[0] = 60.0  # token 0 scores 900 or more after every prev: beyond 709, where exp overflows
    U[4] = [-np.inf, 0.0, 0.0]  # token 4 scores -inf after every prev
    return V, U


@suite.case("next_token_probs", points=1, hint=NTP_HINT)
def large_and_infinite_scores(student):
    """Scores in the thousands and a -inf score (6 tokens, 3 dimensions): finite probabilities, P = 0 for the -inf token."""
    V, U = extreme_tables(np.random.default_rng(student.seed(5)))
    return observe_next_token_probs(student, V, U, [0, 3])


@large_and_infinite_scores.verify
def _(got, ref):
    check_next_token_probs(got, ref)


# --------------------------------------------------------------------------- #
# sample_categorical
# --------------------------------------------------------------------------- #

SAMPLE_HINT = (
    "think of [0, 1) cut into consecutive pieces of lengths p[0], p[1], ...: one uniform number u, drawn once from "
    "the rng you are given, falls into exactly one piece; return that piece's index as an int. A u exactly on a "
    "boundary belongs to the next piece, so a piece of length 0 is never chosen."
)
SAMPLE_P = np.array([0.1, 0.05, 0.3, 0.15, 0.4])


class FixedU:
    """A stand-in rng whose random() returns a given number (the contract: one u = rng.random())."""

    def __init__(self, u: float):
        self.u = u

    def random(self, size=None):
        return self.u if size is None else np.full(size, self.u)

    def __getattr__(self, name):
        raise AttributeError(f"this test's rng only provides rng.random() (draw exactly one u = rng.random()); you used rng.{name}")

    def __repr__(self):
        return f"rng with rng.random() = {self.u}"


BOUNDARY_HINT = (
    "a u exactly on the boundary between two pieces of [0, 1) belongs to the NEXT piece (the comparison with the "
    "running total is strict), and a piece of length 0 is never chosen."
)
PUBLIC_BOUNDARIES = [([0.5, 0.5], 0.5), ([0.0, 1.0], 0.0), ([0.2, 0.0, 0.8], 0.2), ([0.2, 0.3, 0.5], 0.7)]


def check_boundaries(got, ref, cases) -> None:
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} ints, got {describe(got)}.")
    for (p, u), g, r in zip(cases, got, ref, strict=True):
        if not is_int(g):
            raise AssertionError(f"sample_categorical must return an int (a token id), got {describe(g)} ({type(g).__name__}).")
        if int(g) != int(r):
            raise AssertionError(f"p = {p}, u = {u} (exactly on a boundary or at 0): the piece that holds u is token {int(r)}; you returned {int(g)}.")


@suite.case("sample_categorical", points=1, hint=SAMPLE_HINT + " Token ids count from 0, like the pieces.")
def fixed_seeds(student):
    """Fixed seeds give fixed tokens (p = [0.1, 0.05, 0.3, 0.15, 0.4], 8 seeds); u exactly on a boundary goes to the next token."""
    seeds = [student.seed(k) for k in range(8)]
    fn = student.get("sample_categorical")
    student.note(f"for seed in {seeds}: sample_categorical(p, np.random.default_rng(seed))")
    draws = [fn(SAMPLE_P.copy(), np.random.default_rng(seed)) for seed in seeds]
    student.note(f"then sample_categorical(np.array(p), rng) for (p, u) in {PUBLIC_BOUNDARIES}, where rng.random() returns u")
    return {"seeds": seeds, "draws": draws, "boundaries": [fn(np.array(p), FixedU(u)) for p, u in PUBLIC_BOUNDARIES]}


@fixed_seeds.verify
def _(got, ref):
    check_boundaries(got["boundaries"], ref["boundaries"], PUBLIC_BOUNDARIES)
    draws = got["draws"]
    if not isinstance(draws, list) or len(draws) != len(ref["draws"]):
        raise AssertionError(f"expected one int per seed, got {describe(draws)}.")
    for seed, g, r in zip(ref["seeds"], draws, ref["draws"], strict=True):
        if not is_int(g):
            raise AssertionError(
                f"sample_categorical must return an int (a token id), got {describe(g)} ({type(g).__name__}) for seed {seed}."
            )
        if int(g) != int(r):
            u = np.random.default_rng(seed).random()
            raise AssertionError(
                f"with seed {seed} the first u = rng.random() is {u:.4f} and p = {describe(SAMPLE_P)}; "
                f"the token whose piece of [0, 1) holds u is {int(r)}, you returned {int(g)}."
            )


@suite.case("sample_categorical", points=1, hint="draw exactly one number per call with rng.random() from the rng you are given (no other draws, no new generator).")
def draws_exactly_one_number(student):
    """sample_categorical draws exactly one number: the rng's next draw afterwards is the second one."""
    seed = student.seed(11)
    rng = np.random.default_rng(seed)
    i = student.sample_categorical(SAMPLE_P.copy(), rng)
    student.note("then rng.random() again, to see how many numbers the call drew")
    return {"seed": seed, "i": i, "next_u": rng.random()}


@draws_exactly_one_number.verify
def _(got, ref):
    assert_one_draw(got["next_u"], ref["next_u"], ref["seed"], "sample_categorical")
    assert_matches(got["i"], ref["i"], "returned token")


N_DRAWS = 4000
FREQ_P = np.array([0.1, 0.0, 0.25, 0.4, 0.25])


@suite.case("sample_categorical", points=1, hint=SAMPLE_HINT)
def frequencies_match_p(student):
    """4000 draws from p = [0.1, 0.0, 0.25, 0.4, 0.25]: each token comes up about p[i] of the time, token 1 never."""
    fn = student.get("sample_categorical")
    rng = np.random.default_rng(student.seed(2024))
    student.note(f"{N_DRAWS} times: sample_categorical(p, rng) with p = {describe(FREQ_P)}, one seeded rng")
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
                + (" (a token with p = 0 must never be drawn: a u on a boundary belongs to the next piece)." if p_i == 0 else ".")
            )


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #

GENERATE_HINT = (
    "each step takes the LAST id as the previous token, scores every next token with your dot_scores, scales the "
    "scores by the temperature (it divides the scores; it does not multiply them or the probabilities), turns them "
    "into probabilities with your softmax and draws one id with your sample_categorical and the rng you were given; "
    "the drawn id is appended and becomes the previous token of the next step."
)
GREEDY_HINT = "with greedy=True each step takes the highest-scoring next token (the temperature does not matter) and draws no random number."


def observe_generate(student, V, U, start, n_new: int, seed_k: int, **kwargs) -> dict:
    """generate(V, U, start, n_new, rng, **kwargs) run twice (helpers/selfcheck/doubles.py): beside seeded doubles of
    dot_scores, softmax, next_token_probs and sample_categorical (the run it is judged on when it calls them), and
    as is, its own callees watched. Each run's rng is default_rng(seed); its next draw after the call is kept."""
    seed = student.seed(seed_k)
    doubled = Doubled(student, "generate", sampling_doubles(student.seed(seed_k + 400)), keep_calls=3)
    gen = np.random.default_rng(seed)
    student.note(f"generate(V, U, {describe(start)}, {n_new}, rng{''.join(f', {k}={v!r}' for k, v in kwargs.items())})")
    ids = doubled("ids", V.copy(), U.copy(), start, n_new, gen, after=lambda args, kw: float(args[4].random()), **kwargs)
    return {
        "V": V, "U": U, "start": [int(i) for i in start], "n_new": int(n_new), "seed": seed,
        "temperature": float(kwargs.get("temperature", 1.0)), "greedy": bool(kwargs.get("greedy", False)),
        "ids": ids, "next_u": float(gen.random()), **doubled.facts(),
    }  # fmt: skip


def check_id_list(ids, ref) -> list:
    """ids is a list of len(start) + n_new int token ids that begins with start; returns them as ints."""
    start, n_new, vocab_size = ref["start"], ref["n_new"], len(ref["V"])
    assert_id_list(ids)
    if len(ids) != len(start) + n_new:
        raise AssertionError(f"expected len(start_ids) + n_new = {len(start)} + {n_new} = {len(start) + n_new} ids, got {len(ids)}: {show_ids(ids)}.")
    if [int(i) for i in ids[: len(start)]] != start:
        raise AssertionError(f"the result must begin with start_ids {start}, got {show_ids(ids)}.")
    ids = [int(i) for i in ids]
    if any(not 0 <= i < vocab_size for i in ids):
        raise AssertionError(f"every id must be a token id in 0..{vocab_size - 1}, got {show_ids(ids)}.")
    return ids


def _compare_generate(mine, theirs, got, ref) -> None:
    """generate's run beside the doubles against the solution's: the ids, the softmax input of the first step that
    differs, and how many numbers were drawn (only the sampler draws, once per new token; none when greedy)."""
    if not isinstance(mine, dict) or "result" not in mine:
        raise AssertionError(f"generate returned {describe(mine)}.")
    ids, expected = check_id_list(mine["result"], ref), [int(i) for i in theirs["result"]]
    if ids != expected:
        k = next(j for j in range(len(expected)) if ids[j] != expected[j]) - len(ref["start"])
        detail = ""
        inputs = [((got.get("stand-in calls") or {}).get("ids") or {}).get("softmax"), ((ref.get("stand-in calls") or {}).get("ids") or {}).get("softmax")]
        if all(isinstance(x, list) and len(x) > k for x in inputs) and not same_values(inputs[0][k], inputs[1][k]):
            detail = f"\n  at that step generate gave softmax {describe(inputs[0][k][0])}, expected {describe(inputs[1][k][0])} (the scores divided by the temperature)."
        raise AssertionError(
            f"new token {k} (after token {ids[len(ref['start']) + k - 1]}) differs:\n  expected: {show_ids(expected)}\n  got:      {show_ids(ids)}{detail}"
        )
    assert_one_draw(mine.get("after"), theirs["after"], ref["seed"], "generate", expected_draws=0 if ref["greedy"] else ref["n_new"])


def check_generate(got, ref) -> None:
    """generate is judged on its run beside the doubles of its callees, so the student's own callees never decide
    (a wrong one costs generate nothing, a stub earns it nothing); one built without them is compared as is."""
    if check_doubled(got, ref, "dot_scores, softmax and sample_categorical", compare=lambda m, t, key: _compare_generate(m, t, got, ref)):
        return
    error = (got.get("errors") or {}).get("ids")
    note = fix_callee_first("dot_scores, softmax or sample_categorical") if callee_results_differ(got.get("callee calls"), ref.get("callee calls"), same_values) else ""
    try:
        if error:
            raise AssertionError(error)
        ids = check_id_list(got["ids"], ref)
        if ids != [int(i) for i in ref["ids"]]:
            raise AssertionError(f"the tokens differ from the solution's:\n  expected: {show_ids(ref['ids'])}\n  got:      {show_ids(ids)}")
        assert_one_draw(got["next_u"], ref["next_u"], ref["seed"], "generate", expected_draws=0 if ref["greedy"] else ref["n_new"])
    except AssertionError as exc:
        raise AssertionError(f"{exc}{note}") from None


@suite.case("generate", points=1, hint=GENERATE_HINT)
def follows_the_recipe(student):
    """From 'the dog' with the slide's tables: each new token is drawn from P(next | last token)."""
    return observe_generate(student, SLIDE_V.copy(), SLIDE_U.copy(), [THE, DOG], 8, 0)


@follows_the_recipe.verify
def _(got, ref):
    check_generate(got, ref)


@suite.case("generate", points=1, hint=GENERATE_HINT)
def temperature_scales_the_scores(student):
    """From 'the' (start_ids a numpy array) at temperature 0.5 and at 2.0 (slide's tables): the probabilities of the scaled scores."""
    return {
        f"T={t}": observe_generate(student, SLIDE_V.copy(), SLIDE_U.copy(), np.array([THE]), 6, k, temperature=t)
        for k, t in ((1, 0.5), (2, 2.0))
    }


def check_generate_temperatures(got, ref) -> None:
    """check_generate for each run of a {"T=<temperature>": observe_generate(...)} probe, naming the temperature."""
    for key in ref:
        try:
            check_generate(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"temperature {key[2:]}: {exc}") from None


temperature_scales_the_scores.verify(check_generate_temperatures)


@suite.case("generate", points=1, hint=GREEDY_HINT)
def greedy_takes_the_argmax(student):
    """greedy=True from 'the dog' (start_ids a tuple): always the highest-scoring token, and no random number drawn."""
    return observe_generate(student, SLIDE_V.copy(), SLIDE_U.copy(), (THE, DOG), 6, 0, greedy=True)


@greedy_takes_the_argmax.verify
def _(got, ref):
    check_generate(got, ref)


# --------------------------------------------------------------------------- #
# The same under its callers: a callee that answers otherwise inside generate or next_token_probs
# than alone on the same arguments loses a point in its own case (the hidden tests have these on other seeds)
# --------------------------------------------------------------------------- #


def under_callers(student, callee: str, seed: int) -> list:
    """The student's generate and next_token_probs on seeded (7, 3) tables, ``callee`` watched, its calls made again
    alone (helpers/selfcheck/doubles.py, under_and_alone)."""
    rng = np.random.default_rng(seed)
    V, U = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))  # (7, 3), (7, 3)
    student.note(f"generate(V, U, [2], 3, rng, temperature=0.7) and next_token_probs(V, U, 4), watching {callee}, then {callee} alone")
    calls = under_and_alone(student, "generate", callee, lambda: student.get("generate")(V.copy(), U.copy(), [2], 3, np.random.default_rng(seed), temperature=0.7))
    if callee != "sample_categorical":
        calls += under_and_alone(student, "next_token_probs", callee, lambda: student.get("next_token_probs")(V.copy(), U.copy(), 4))
    return calls


def softmax_under_callers_probe(student, k: int) -> dict:
    """softmax's same-under-its-callers cases: softmax watched inside generate and next_token_probs (tables from
    student.seed(k + 1)), and softmax alone on seeded scores (6,) (student.seed(k))."""
    s = np.random.default_rng(student.seed(k)).normal(size=6) * 2  # (6,)
    return {"alone": under_callers(student, "softmax", student.seed(k + 1)), "p": student.softmax(s)}


def check_softmax_under_callers(got, ref) -> None:
    assert_matches(got["p"], ref["p"], "softmax(s)")
    check_same_alone(got, "softmax")


def dot_scores_under_callers_probe(student, k: int) -> dict:
    """dot_scores' same-under-its-callers cases: dot_scores watched inside generate and next_token_probs (tables from
    student.seed(k + 1)), and dot_scores alone on seeded (5, 3) tables (student.seed(k))."""
    rng = np.random.default_rng(student.seed(k))
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))  # (5, 3), (5, 3)
    return {"alone": under_callers(student, "dot_scores", student.seed(k + 1)), "s": student.dot_scores(U, V[1])}


def check_dot_scores_under_callers(got, ref) -> None:
    assert_matches(got["s"], ref["s"], "dot_scores(U, v)")
    check_same_alone(got, "dot_scores")


def draw_under_generate_probe(student, k: int) -> dict:
    """sample_categorical's same-under-generate cases: one draw alone from SAMPLE_P (rng from student.seed(k)), then
    sample_categorical watched inside generate (tables from student.seed(k + 1))."""
    i = student.sample_categorical(SAMPLE_P.copy(), np.random.default_rng(student.seed(k)))
    return {"alone": under_callers(student, "sample_categorical", student.seed(k + 1)), "i": i}


def check_draw_under_generate(got, ref) -> None:
    if not is_int(got["i"]):
        raise AssertionError(f"sample_categorical must return an int (a token id), got {describe(got['i'])}.")
    assert_matches(got["i"], ref["i"], "sample_categorical(p, rng)")
    check_same_alone(got, "sample_categorical")


@suite.case("softmax", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_callers(student):
    """Inside your generate and next_token_probs, softmax gives what it gives alone on the same scores (and is right alone)."""
    return softmax_under_callers_probe(student, k=12)


same_alone_as_under_callers.verify(check_softmax_under_callers)


@suite.case("dot_scores", points=1, hint=SAME_ALONE_HINT)
def same_scores_alone_as_under_callers(student):
    """Inside your generate and next_token_probs, dot_scores gives what it gives alone on the same tables (and is right alone)."""
    return dot_scores_under_callers_probe(student, k=14)


same_scores_alone_as_under_callers.verify(check_dot_scores_under_callers)


@suite.case("sample_categorical", points=1, hint=SAME_ALONE_HINT)
def same_draw_alone_as_under_generate(student):
    """Inside your generate, sample_categorical draws what it draws alone from the same p and rng state (and is right alone)."""
    return draw_under_generate_probe(student, k=16)


same_draw_alone_as_under_generate.verify(check_draw_under_generate)
