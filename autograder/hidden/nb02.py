"""Hidden tests of notebook 02 (sampling): grader only."""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe, edge_floats
from helpers.selfcheck.doubles import SAME_ALONE_HINT
from helpers.selfcheck.nb02 import (
    AXIS_HINT,
    BOUNDARY_HINT,
    DOT_HINT,
    GENERATE_HINT,
    GREEDY_HINT,
    NTP_HINT,
    SAMPLE_HINT,
    SOFTMAX_HINT,
    FixedU,
    assert_distribution,
    assert_float,
    assert_one_draw,
    check_boundaries,
    check_dot_scores_under_callers,
    check_draw_under_generate,
    check_generate,
    check_generate_temperatures,
    check_next_token_probs,
    check_softmax_under_callers,
    dot_scores_under_callers_probe,
    draw_under_generate_probe,
    extreme_tables,
    is_int,
    observe_generate,
    observe_next_token_probs,
    softmax_under_callers_probe,
)

suite = Suite("02", visibility="hidden")


def random_tables(seed: int, vocab_size: int, dim: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(vocab_size, dim)) * scale  # (vocab_size, dim)
    U = rng.normal(size=(vocab_size, dim)) * scale  # (vocab_size, dim)
    return V, U


# --------------------------------------------------------------------------- #
# dot_scores
# --------------------------------------------------------------------------- #


@suite.case("dot_scores", points=1, hint=DOT_HINT + " Nothing may depend on the sizes: any vocab_size, any dimension M (even M = 1).")
def other_sizes(student):
    """s = U v for an (11, 5) table and for a (3, 1) table."""
    rng = np.random.default_rng(student.seed(21))
    U1, v1 = rng.normal(size=(11, 5)), rng.normal(size=5)  # (11, 5), (5,)
    U2, v2 = rng.normal(size=(3, 1)), rng.normal(size=1)  # (3, 1), (1,)
    return {
        "U1": U1, "v1": v1, "s1": student.dot_scores(U1.copy(), v1.copy()),
        "U2": U2, "v2": v2, "s2": student.dot_scores(U2.copy(), v2.copy()),
    }  # fmt: skip


@other_sizes.verify
def _(got, ref):
    for k in ("1", "2"):
        expected = np.sum(ref["U" + k] * ref["v" + k], axis=1)  # (vocab_size,) independent of @
        assert_matches(got["s" + k], expected, f"dot_scores(U, v) with U of shape {ref['U' + k].shape}")
        assert_matches(got["s" + k], ref["s" + k], "s" + k)


# --------------------------------------------------------------------------- #
# cosine_similarity
# --------------------------------------------------------------------------- #


@suite.case(
    "cosine_similarity",
    points=1,
    hint="the cosine of two vectors depends only on the angle between them, not on their lengths: normalize by both lengths.",
)
def matches_angle_formula(student):
    """Vectors r (cos alpha, sin alpha): cosine_similarity equals cos(alpha - beta) for any lengths."""
    rng = np.random.default_rng(student.seed(31))
    alpha = rng.uniform(-np.pi, np.pi, size=6)  # (6,)
    beta = rng.uniform(-np.pi, np.pi, size=6)  # (6,)
    r1 = rng.uniform(0.1, 5.0, size=6)  # (6,)
    r2 = rng.uniform(0.1, 5.0, size=6)  # (6,)
    values = []
    for k in range(6):
        a = r1[k] * np.array([np.cos(alpha[k]), np.sin(alpha[k])])  # (2,)
        b = r2[k] * np.array([np.cos(beta[k]), np.sin(beta[k])])  # (2,)
        values.append(student.cosine_similarity(a, b))
    return {"alpha": alpha, "beta": beta, "cos": values}


@matches_angle_formula.verify
def _(got, ref):
    for g in got["cos"]:
        assert_float(g, "cosine_similarity")
    expected = np.cos(ref["alpha"] - ref["beta"])  # (6,) the angle formula
    values = np.array([float(g) for g in got["cos"]])  # (6,)
    if not np.allclose(values, expected, rtol=1e-6, atol=1e-9):
        k = int(np.argmax(np.abs(values - expected)))
        raise AssertionError(
            f"for vectors at angles {ref['alpha'][k]:.3f} and {ref['beta'][k]:.3f} rad, cos of the angle between them is "
            f"{expected[k]:.6f}, got {values[k]:.6f}. All: expected {describe(expected)}, got {describe(values)}."
        )
    assert_matches(got["cos"], ref["cos"])


@suite.case(
    "cosine_similarity",
    points=1,
    hint="normalize by the lengths of both vectors, in any dimension: scaling a or b then changes nothing.",
)
def scale_invariant_in_7d(student):
    """In 7 dimensions: cos(3a, 0.25b) = cos(a, b), cos(a, a) = 1, cos(a, -a) = -1."""
    rng = np.random.default_rng(student.seed(32))
    a, b = rng.normal(size=7), rng.normal(size=7)  # (7,), (7,)
    return {
        "cos(a, b)": student.cosine_similarity(a.copy(), b.copy()),
        "cos(3a, 0.25b)": student.cosine_similarity(3 * a, 0.25 * b),
        "cos(a, a)": student.cosine_similarity(a.copy(), a.copy()),
        "cos(a, -a)": student.cosine_similarity(a.copy(), -a),
    }


@scale_invariant_in_7d.verify
def _(got, ref):
    for key, value in got.items():
        assert_float(value, f"cosine_similarity ({key})")
    if abs(float(got["cos(3a, 0.25b)"]) - float(got["cos(a, b)"])) > 1e-9:
        raise AssertionError(
            f"scaling the vectors must not change the cosine: cos(a, b) = {float(got['cos(a, b)']):.6f} "
            f"but cos(3a, 0.25b) = {float(got['cos(3a, 0.25b)']):.6f}."
        )
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# softmax
# --------------------------------------------------------------------------- #


@suite.case("softmax", points=1, hint=SOFTMAX_HINT)
def shift_invariance(student):
    """softmax(s + c) = softmax(s) for c = 100 and c = -700 on a (3, 5) batch."""
    s = np.random.default_rng(student.seed(41)).normal(size=(3, 5)) * 3  # (3, 5)
    return {
        "softmax(s)": student.softmax(s.copy()),
        "softmax(s + 100)": student.softmax(s + 100.0),
        "softmax(s - 700)": student.softmax(s - 700.0),
    }


@shift_invariance.verify
def _(got, ref):
    for key, p in got.items():
        assert_distribution(p, key)
    for key in ("softmax(s + 100)", "softmax(s - 700)"):
        assert_matches(got[key], got["softmax(s)"], f"{key} vs softmax(s) (adding a constant to every score changes nothing)")
    assert_matches(got, ref)


@suite.case("softmax", points=1, hint=AXIS_HINT)
def shapes_in_3d(student):
    """A (2, 3, 4) batch with axis=0, axis=1 and axis=-1: same shape, sums of 1 along that axis."""
    s = np.random.default_rng(student.seed(42)).normal(size=(2, 3, 4)) * 4  # (2, 3, 4)
    return {
        "axis=0": student.softmax(s.copy(), axis=0),
        "axis=1": student.softmax(s.copy(), axis=1),
        "axis=-1": student.softmax(s.copy(), axis=-1),
    }


@shapes_in_3d.verify
def _(got, ref):
    for key, axis in (("axis=0", 0), ("axis=1", 1), ("axis=-1", -1)):
        p = got[key]
        if not isinstance(p, np.ndarray) or p.shape != (2, 3, 4):
            raise AssertionError(f"softmax(s, {key}) of an s of shape (2, 3, 4) must keep that shape, got {describe(p)}.")
        assert_distribution(p, f"softmax(s, {key})", axis=axis)
    assert_matches(got, ref)


@suite.case("softmax", points=1, hint=SOFTMAX_HINT + " " + AXIS_HINT)
def matches_torch_softmax(student):
    """Against torch.softmax on a (3, 4, 6) batch with rows near +1000 and -1000 and some -inf scores."""
    rng = np.random.default_rng(student.seed(43))
    s = rng.normal(size=(3, 4, 6)) * 3  # (3, 4, 6)
    s[0, 1] += 1000.0
    s[1, 2] -= 1000.0
    s[2, 0, [1, 4]] = -np.inf
    s[0, 3, 0] = -np.inf
    return {"s": s, "axis=-1": student.softmax(s.copy(), axis=-1), "axis=1": student.softmax(s.copy(), axis=1)}


@matches_torch_softmax.verify
def _(got, ref):
    import torch

    s = torch.from_numpy(ref["s"])  # (3, 4, 6)
    for key, dim in (("axis=-1", -1), ("axis=1", 1)):
        expected = torch.softmax(s, dim=dim).numpy()  # (3, 4, 6) an independent reference
        assert_matches(got[key], expected, f"softmax(s, {key}) vs torch.softmax(s, dim={dim})")
    assert_matches(got["axis=-1"], ref["axis=-1"], "axis=-1")
    assert_matches(got["axis=1"], ref["axis=1"], "axis=1")


# --------------------------------------------------------------------------- #
# next_token_probs
# --------------------------------------------------------------------------- #


@suite.case("next_token_probs", points=1, hint=NTP_HINT)
def large_and_infinite_scores_other_tables(student):
    """Tables of 9 tokens in 4 dimensions with scores in the hundreds (prev_id an int and an np.int64), and tables with
    scores beyond 709 and a -inf score."""
    V, U = random_tables(student.seed(51), 9, 4, scale=12.0)  # (9, 4), (9, 4)
    V2, U2 = extreme_tables(np.random.default_rng(student.seed(52)))  # (6, 3), (6, 3)
    return {"large": observe_next_token_probs(student, V, U, [3, np.int64(7)]), "infinite": observe_next_token_probs(student, V2, U2, [1, 2, 5])}


@large_and_infinite_scores_other_tables.verify
def _(got, ref):
    import torch

    for key in ("large", "infinite"):
        try:
            check_next_token_probs(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key} scores: {exc}") from None
        r = ref[key]
        for k, prev in enumerate(r["prev_ids"]):  # the solution's p against an independent softmax
            expected = torch.softmax(torch.from_numpy(r["U"] @ r["V"][prev]), dim=0).numpy()  # (vocab_size,)
            assert_matches(r["p"][k], expected, "the reference (grader error if this fails)")


# --------------------------------------------------------------------------- #
# sample_categorical
# --------------------------------------------------------------------------- #


TIE_CASES = [
    ([0.25, 0.25, 0.5], 0.0),
    ([0.25, 0.25, 0.5], 0.25),
    ([0.25, 0.25, 0.5], 0.5),
    ([0.25, 0.25, 0.5], 0.999),
    ([0.0, 0.5, 0.5], 0.0),
    ([0.5, 0.0, 0.5], 0.5),
]


@suite.case("sample_categorical", points=1, hint=BOUNDARY_HINT)
def ties_and_zero_probabilities(student):
    """u exactly on a boundary of cumsum(p) and tokens with p = 0 (an rng whose random() returns a fixed u)."""
    fn = student.get("sample_categorical")
    student.note(f"sample_categorical(np.array(p), rng) for (p, u) in {TIE_CASES}, where rng.random() returns u")
    return [fn(np.array(p), FixedU(u)) for p, u in TIE_CASES]


@ties_and_zero_probabilities.verify
def _(got, ref):
    check_boundaries(got, ref, TIE_CASES)


@suite.case("sample_categorical", points=1, hint=SAMPLE_HINT)
def other_seeds_and_sizes(student):
    """A 20-token p with zeros, seeds 100..129, and the rng's next draw after the last call."""
    rng = np.random.default_rng(student.seed(61))
    p = rng.dirichlet(np.ones(20) * 0.7)  # (20,)
    p[[3, 11]] = 0.0
    p = p / p.sum()  # (20,)
    fn = student.get("sample_categorical")
    seeds = [student.seed(k) for k in range(100, 131)]
    student.note("for 30 seeds: sample_categorical(p, np.random.default_rng(seed)) with a 20-token p")
    draws = [fn(p.copy(), np.random.default_rng(seed)) for seed in seeds[:-1]]
    last = np.random.default_rng(seeds[-1])
    draws.append(fn(p.copy(), last))
    return {"draws": draws, "next_u": last.random(), "last seed": seeds[-1]}


@other_seeds_and_sizes.verify
def _(got, ref):
    for g in got["draws"]:
        if not is_int(g):
            raise AssertionError(f"sample_categorical must return an int (a token id), got {describe(g)} ({type(g).__name__}).")
    assert_matches(got["draws"], ref["draws"], "draws")
    assert_one_draw(got["next_u"], ref["next_u"], ref["last seed"], "sample_categorical")


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #


@suite.case("generate", points=1, hint=GENERATE_HINT)
def temperature_changes_the_draws(student):
    """10 tokens in 3 dimensions, 15 new tokens at temperature 0.5 and at 2.5."""
    V, U = random_tables(student.seed(71), 10, 3, scale=1.5)  # (10, 3), (10, 3)
    return {f"T={t}": observe_generate(student, V, U, [4], 15, k, temperature=t) for k, t in ((72, 0.5), (73, 2.5))}


temperature_changes_the_draws.verify(check_generate_temperatures)


@suite.case("generate", points=1, hint=GREEDY_HINT)
def greedy_other_tables(student):
    """greedy=True on 12 tokens in 3 dimensions (temperature 0.3 given too): argmax every step, no draws."""
    V, U = random_tables(student.seed(81), 12, 3)  # (12, 3), (12, 3)
    return observe_generate(student, V, U, [1, 7], 12, 82, temperature=0.3, greedy=True)


@greedy_other_tables.verify
def _(got, ref):
    check_generate(got, ref)


@suite.case(
    "generate",
    points=1,
    hint="the result is a list: the start ids (given as a list, a tuple or a numpy array) followed by the n_new new ids; "
    "n_new = 0 gives back just the start.",
)
def length_and_start_preserved(student):
    """start_ids as a numpy array and as a tuple; n_new = 0 and n_new = 4: a list of len(start) + n_new ids."""
    V, U = random_tables(student.seed(91), 6, 2)  # (6, 2), (6, 2)
    return {
        "array start, n_new=0": observe_generate(student, V, U, np.array([2, 5, 1]), 0, 92),
        "array start, n_new=4": observe_generate(student, V, U, np.array([2, 5, 1]), 4, 93),
        "tuple start, n_new=3": observe_generate(student, V, U, (0, 3), 3, 94),
    }


@length_and_start_preserved.verify
def _(got, ref):
    for key in ref:
        try:
            check_generate(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


# --------------------------------------------------------------------------- #
# Property tests: many random examples from the case's seed, edges drawn often (edge_floats),
# after the simplest example, which a property-testing engine tries first: sizes drawn
# uniformly leave out the smallest one under some seeds (n = 1 under about 1 in 25).
# --------------------------------------------------------------------------- #

def shift_examples(seed: int) -> list:
    """25 examples [(s (n,), c)] from the case's seed: the simplest first (one score of 0, c = 0),
    then n from 1 to 8, s in [-50, 50], c in [-500, 500]."""
    rng = np.random.default_rng(seed)
    return [(np.zeros(1), 0.0)] + [(edge_floats(rng, -50, 50, int(rng.integers(1, 9))), edge_floats(rng, -500, 500)) for _ in range(24)]


@suite.case("softmax", points=1, hint=SOFTMAX_HINT)
def shift_invariance_property(student):
    """Property (25 random examples): softmax(s + c) equals softmax(s) and sums to 1."""
    examples = shift_examples(student.seed(7))
    return [{"s": s, "c": c, "p": student.softmax(s.copy()), "p_shifted": student.softmax(s + c)} for s, c in examples]


@shift_invariance_property.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != len(ref):
        raise AssertionError(f"expected {len(ref)} examples, got {describe(got)}")
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_matches(g["p"], r["p"], path=f"example {i}, softmax(s)")
        if not np.allclose(g["p_shifted"], g["p"], rtol=1e-6, atol=1e-9):
            raise AssertionError(
                f"example {i}: softmax(s + c) differs from softmax(s) for s = {describe(r['s'])}, c = {r['c']:.4g}:"
                f"\n  softmax(s):     {describe(g['p'])}\n  softmax(s + c): {describe(g['p_shifted'])}"
            )


# --------------------------------------------------------------------------- #
# The same under its callers: a callee that answers otherwise inside generate or next_token_probs
# than alone on the same arguments is charged here (its callers are judged beside doubles)
# --------------------------------------------------------------------------- #


@suite.case("softmax", points=1, hint=SAME_ALONE_HINT)
def same_under_callers(student):
    """Inside your generate and next_token_probs, softmax gives what it gives alone on the same scores (and is right alone)."""
    return softmax_under_callers_probe(student, k=95)


same_under_callers.verify(check_softmax_under_callers)


@suite.case("dot_scores", points=1, hint=SAME_ALONE_HINT)
def same_scores_under_callers(student):
    """Inside your generate and next_token_probs, dot_scores gives what it gives alone on the same tables (and is right alone)."""
    return dot_scores_under_callers_probe(student, k=97)


same_scores_under_callers.verify(check_dot_scores_under_callers)


@suite.case("sample_categorical", points=1, hint=SAME_ALONE_HINT)
def same_draw_under_generate(student):
    """Inside your generate, sample_categorical draws what it draws alone from the same p and rng state (and is right alone)."""
    return draw_under_generate_probe(student, k=99)


same_draw_under_generate.verify(check_draw_under_generate)
