"""Public tests of notebook 06 (attention): run by ``check("name")`` and by the grader.

Probes build seeded inputs (through ``student.seed``), call the student's code and return
its results; verify steps compare them with the solution's run of the same probe (``ref``,
which also holds every input) and check invariants: S is symmetric, the weights' rows sum
to 1, nothing attends to the future.

One mistake costs once: ``scaled_dot_product_attention`` is also run with its
``causal_mask`` replaced by a seeded stand-in mask, ``AttentionHead`` with its
``scaled_dot_product_attention`` watched (and replaced by seeded stand-in results), and
``MultiHeadAttention`` with its heads watched (and replaced by seeded stand-in outputs), so a
caller that is right given its callee keeps its points (helpers/selfcheck/doubles.py).

The modules' parameters are set BY NAME (``sorted(model.named_parameters())`` filled from a
seeded generator), so a student's model and the solution's start identical when their
parameter names follow the docstrings: ``query.weight``, ``key.weight``, ``value.weight`` for a
head; ``heads.{i}.query.weight`` ..., ``proj.weight``, ``proj.bias`` for multi-head attention.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import FLOAT32_TOL, Suite, assert_matches, describe
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_V
from helpers.selfcheck.doubles import (
    SAME_ALONE_HINT,
    callee_results_differ,
    callee_wrong_too,
    check_same_alone,
    fix_callee_first,
    modules_under_and_alone,
    replacing,
    run_watched,
    same_values,
    standing_in,
    under_and_alone,
)

suite = Suite("06")

SENTENCE = ["the", "cat", "ate", "the", "dog", "!"]
TOL = FLOAT32_TOL


def sentence_vectors() -> np.ndarray:
    """The slide's 2-D previous-token vectors of 'the cat ate the dog !': (6, 2)."""
    return SLIDE_V[[SLIDE_TABLE_ORDER.index(t) for t in SENTENCE]].copy()  # (6, 2)


# --------------------------------------------------------------------------- #
# Shared checks (verify side): comparisons with the solution's run and invariants
# --------------------------------------------------------------------------- #


def expect_array(value, what: str, shape: tuple) -> np.ndarray:
    """``value`` must be a numpy array of ``shape``; raise a readable AssertionError otherwise."""
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array of shape {tuple(shape)}, got {describe(value)}.")
    if value.shape != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got shape {value.shape}.\n  got: {describe(value)}")
    return value


def expect_tensor(value, what: str, shape: tuple | None = None):
    """``value`` must be a torch tensor (of ``shape`` when given)."""
    import torch

    if not isinstance(value, torch.Tensor):
        extra = f" of shape {tuple(shape)}" if shape is not None else ""
        raise AssertionError(f"{what}: expected a torch tensor{extra}, got {describe(value)}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got shape {tuple(value.shape)}.")
    return value


def check_similarity(S, X: np.ndarray, expected: np.ndarray, what: str = "S") -> None:
    """S (the student's) against the solution's ``expected`` for the input X; shape and symmetry first."""
    if isinstance(S, np.ndarray) and S.shape != expected.shape and S.ndim == X.ndim and X.ndim > 2:
        raise AssertionError(
            f"{what}: for X of shape {X.shape} expected shape {expected.shape}, got shape {S.shape}. "
            "Transposing reversed ALL the axes; only the last two (tokens and coordinates) should swap."
        )
    expect_array(S, what, expected.shape)
    if S.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float array, got dtype {S.dtype}.")
    if S.shape[-1] > 1 and not np.allclose(S, np.swapaxes(S, -1, -2), rtol=1e-6, atol=1e-9):
        raise AssertionError(f"{what}: S[i, j] = x_i . x_j = S[j, i], so S must be symmetric; yours is not.\n  got: {describe(S)}")
    assert_matches(S, expected, what)


def check_mask(got, expected, what: str) -> None:
    """The student's mask against the solution's (a bool (T, T) tensor), naming the usual slips."""
    import torch

    T = expected.shape[-1]
    expect_tensor(got, what, (T, T))
    if got.dtype != torch.bool:
        raise AssertionError(f"{what}: expected dtype torch.bool (True = may attend), got {got.dtype}.")
    if torch.equal(got, expected):
        return
    if T > 1 and torch.equal(got, expected.T):
        raise AssertionError(f"{what}: this is the upper triangle. Row t is the query and column s the key: query t may see keys s <= t.")
    if torch.equal(got, expected & ~torch.eye(T, dtype=torch.bool)):
        raise AssertionError(f"{what}: the diagonal must be True too: a token may attend to itself (s <= t, not s < t).")
    if torch.equal(got, ~expected):
        raise AssertionError(f"{what}: True and False are swapped: True means 'may attend' (the past and the token itself).")
    bad = (got != expected).nonzero()[0].tolist()
    raise AssertionError(f"{what}: entry {tuple(bad)} should be {bool(expected[tuple(bad)])}.\n  expected: {describe(expected)}\n  got:      {describe(got)}")


def check_causal_structure(got, T: int, what: str) -> None:
    """Tolerant: a bool (T, T) tensor that never lets a query see a later key (nothing above the diagonal), with the
    same pattern along every diagonal and at least one key allowed. A wrong diagonal passes; a stub, an upper
    triangle or a mask of all True or all False does not."""
    import torch

    expect_tensor(got, what, (T, T))
    if got.dtype != torch.bool:
        raise AssertionError(f"{what}: expected dtype torch.bool (True = may attend), got {got.dtype}.")
    if got.triu(1).any():
        raise AssertionError(f"{what}: a query may never see a later key (s > t): everything above the diagonal must be False.")
    offsets = torch.arange(T)[:, None] - torch.arange(T)[None, :]  # (T, T): t - s
    for k in range(T):
        values = got[offsets == k]
        if values.numel() and not (values.all() or (~values).all()):
            raise AssertionError(f"{what}: whether query t may see key s depends only on how far back s is (t - s); the diagonal t - s = {k} is mixed.")
    if not got.any():
        raise AssertionError(f"{what}: no query may attend to anything; query t may see the keys s <= t.")


def check_weights_invariants(weights, what: str, causal: bool) -> None:
    """Rows sum to 1, finite, and (causal) nothing above the diagonal."""
    import torch

    w = weights.double()
    if not torch.isfinite(w).all():
        raise AssertionError(
            f"`weights` ({what}) contain nan or inf: a softmax of finite scores is finite; is the exponential overflowing, "
            f"or is a whole row masked?\n  got: {describe(weights)}"
        )
    if causal and w.shape[-1] == w.shape[-2] and (torch.triu(w, diagonal=1) != 0).any():
        raise AssertionError(
            f"`weights` ({what}): entries above the diagonal (future tokens) must be exactly 0, the largest is "
            f"{float(torch.triu(w, diagonal=1).abs().max()):.3g}. Mask the scores before the softmax, not the weights after it."
            f"\n  got: {describe(weights)}"
        )
    sums = w.sum(dim=-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
        raise AssertionError(f"`weights` ({what}): every row is a softmax over the keys, so it must sum to 1; got row sums {describe(sums)}.")


def check_attention_pair(out, weights, ref_out, ref_weights, what: str, causal: bool, invariants: bool = True) -> None:
    """The student's (out, weights) against the solution's for the same inputs."""
    expect_tensor(out, f"`out` ({what})", tuple(ref_out.shape))
    expect_tensor(weights, f"`weights` ({what})", tuple(ref_weights.shape))
    if invariants:
        check_weights_invariants(weights, what, causal)
    if not np.allclose(weights.double().numpy(), ref_weights.double().numpy(), equal_nan=True, **TOL):
        if weights.shape[-1] > 1 and np.allclose(weights.double().sum(-2).numpy(), 1.0, atol=1e-5):
            raise AssertionError(f"`weights` ({what}): the COLUMNS sum to 1; the softmax runs over the keys, so each ROW must.")
        assert_matches(weights.double(), ref_weights.double(), f"weights ({what})", **TOL)
    if not np.allclose(out.double().numpy(), ref_out.double().numpy(), equal_nan=True, **TOL):
        raise AssertionError(
            f"`out` ({what}) differs from the expected output although the weights are right: row t of out is the average of the "
            f"value vectors weighted by row t of the weights.\n  expected: {describe(ref_out)}\n  got:      {describe(out)}"
        )


def random_qkv(seed: int, q_shape: tuple, k_shape: tuple, v_shape: tuple, scale: float = 1.0, dtype=None):
    """Seeded Q, K, V tensors (float64 unless ``dtype``)."""
    import torch

    rng = np.random.default_rng(seed)
    tensors = [torch.tensor(rng.normal(size=s) * scale) for s in (q_shape, k_shape, v_shape)]
    return [t.to(dtype) for t in tensors] if dtype is not None else tensors


def set_parameters_by_name(model, seed: int, scale: float = 0.6, skip: str | None = None) -> dict:
    """Fill every parameter (but those whose name starts with ``skip``), in sorted name order, from a seeded
    generator; return {name: value}."""
    import torch

    rng = np.random.default_rng(seed)
    values = {}
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if skip and name.startswith(skip):
                continue
            p.copy_(torch.as_tensor(rng.normal(size=tuple(p.shape)) * scale, dtype=p.dtype))
            values[name] = p.detach().clone()
    return values


# --------------------------------------------------------------------------- #
# Test doubles (probe side): seeded stand-ins with the callee's shapes, never its answer
# --------------------------------------------------------------------------- #


def mask_stand_in(seed: int):
    """A stand-in for causal_mask: a seeded random (T, T) bool pattern with a True diagonal (NOT a causal mask)."""
    import torch

    def stand_in(T):
        g = torch.Generator().manual_seed(seed + 7919 * int(T))
        return (torch.rand(int(T), int(T), generator=g) < 0.5) | torch.eye(int(T), dtype=torch.bool)  # (T, T)

    return stand_in


def attention_stand_in(seed: int):
    """A stand-in for scaled_dot_product_attention: a seeded, differentiable made-up function of Q, K, V with the
    right shapes, (out (..., T_q, d_v), weights (..., T_q, T_k)); not attention."""
    import torch

    def stand_in(Q, K, V, causal=False):
        g = torch.Generator().manual_seed(seed)
        r = torch.randn(*Q.shape[:-1], V.shape[-1], generator=g, dtype=torch.float64).to(V.dtype)  # (..., T_q, d_v)
        weights = torch.rand(*Q.shape[:-1], K.shape[-2], generator=g, dtype=torch.float64).to(Q.dtype)  # (..., T_q, T_k)
        out = torch.tanh(Q.sum(-1, keepdim=True)) * V.mean(-2, keepdim=True) + r * K.mean(dim=(-2, -1))[..., None, None]
        weights = weights + (1.0 if causal else 0.0) + 0.0 * Q.sum(-1, keepdim=True)  # depends on Q, as attention weights do
        return out, weights  # (..., T_q, d_v), (..., T_q, T_k)

    return stand_in


def head_double_class(seed: int):
    """A class double of AttentionHead for building a MultiHeadAttention: NOT attention, but its interface.

    ``AttentionHead(d_model, d_head)`` with bias-free ``query``, ``key``, ``value`` layers (so the
    parameter names and counts are the real head's) and a differentiable, made-up, seeded
    ``forward(x, causal=True)`` of all three that depends on the causal flag: a running mean of
    the keys when causal, their full mean when not. MultiHeadAttention is built and judged with
    it, so the student's own AttentionHead (right, wrong or a stub) never decides its points.
    """
    import torch

    class AttentionHead(torch.nn.Module):
        made: list = []

        def __init__(self, d_model, d_head):
            super().__init__()
            self.query = torch.nn.Linear(d_model, d_head, bias=False)
            self.key = torch.nn.Linear(d_model, d_head, bias=False)
            self.value = torch.nn.Linear(d_model, d_head, bias=False)
            g = np.random.default_rng([seed, len(AttentionHead.made)])
            self.shift, self.scale = float(g.normal()), float(g.uniform(0.5, 1.5))
            with torch.no_grad():  # seeded weights: a head's output does not depend on how its MultiHeadAttention holds it
                for layer in (self.query, self.key, self.value):
                    layer.weight.copy_(torch.as_tensor(g.normal(size=tuple(layer.weight.shape)) * 0.6, dtype=layer.weight.dtype))
            self.last_weights = None
            AttentionHead.made.append(self)

        def forward(self, x, causal=True):
            q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, d_head) each
            T = x.shape[-2]
            if causal:
                mix = torch.cumsum(k, dim=-2) / torch.arange(1, T + 1, dtype=k.dtype)[:, None]  # (B, T, d_head): running mean
            else:
                mix = k.mean(dim=-2, keepdim=True).expand_as(k)  # (B, T, d_head): the full mean
            return torch.tanh(q) * torch.sigmoid(mix + self.shift) + self.scale * v  # (B, T, d_head)

    AttentionHead.made = []
    return AttentionHead


def head_stand_in(seed: int, index: int, d_head: int, records: list):
    """A stand-in for one head's forward: records its input and returns a seeded, differentiable tanh(x R) (B, T, d_head)."""
    import torch

    def forward(x, *args, **kwargs):
        records.append({"head": index, "x": torch.Tensor.detach(x).clone(), "args": list(args), "kwargs": dict(kwargs)})
        g = torch.Generator().manual_seed(seed + 104729 * index)
        R = torch.randn(x.shape[-1], d_head, generator=g, dtype=torch.float64).to(x.dtype)  # (d_model, d_head)
        return torch.tanh(x @ R)  # (B, T, d_head)

    return forward


# --------------------------------------------------------------------------- #
# self_similarity
# --------------------------------------------------------------------------- #


@suite.case(
    "self_similarity",
    points=1,
    hint="S[i, j] is the dot product of the vectors of tokens i and j: the slide's V V^T, with the vectors as the rows of X.",
)
def slide_sentence(student):
    """'the cat ate the dog !' with the slide's 2-D vectors: S = X X^T is (6, 6) and symmetric."""
    X = sentence_vectors()  # (6, 2)
    student.note("X = the slide's V rows of 'the cat ate the dog !'")
    return {"X": X.copy(), "S": student.self_similarity(X)}


@slide_sentence.verify
def _(got, ref):
    check_similarity(got["S"], ref["X"], ref["S"])


@suite.case(
    "self_similarity",
    points=1,
    hint="with leading batch axes only the last two axes (tokens, coordinates) swap in the transpose; a plain transpose reverses them all. "
    "Do not write into X.",
)
def batch_dimensions(student):
    """Leading batch dimensions: X of shape (2, 3, 5, 4) gives S of shape (2, 3, 5, 5)."""
    X = np.random.default_rng(student.seed(60)).normal(size=(2, 3, 5, 4))  # (2, 3, T, M)
    X_in = X.copy()
    return {"X": X, "S": student.self_similarity(X_in), "X unchanged": bool(np.array_equal(X_in, X))}


@batch_dimensions.verify
def _(got, ref):
    if got.get("X unchanged") is not True:
        raise AssertionError("self_similarity changed the X it was given; compute S without modifying X.")
    check_similarity(got["S"], ref["X"], ref["S"])


@suite.case(
    "self_similarity",
    points=1,
    hint="convert the input to a float array first, so a plain list of vectors works too; the diagonal holds each vector's squared length.",
)
def list_input(student):
    """A plain Python list of 4 vectors of size 3: S is a numpy float (4, 4) array with the squared lengths on its diagonal."""
    X = np.random.default_rng(student.seed(61)).normal(size=(4, 3))  # (4, 3)
    return {"X": X, "S": student.self_similarity([[float(v) for v in row] for row in X])}


@list_input.verify
def _(got, ref):
    check_similarity(got["S"], ref["X"], ref["S"])


# --------------------------------------------------------------------------- #
# causal_mask
# --------------------------------------------------------------------------- #


@suite.case(
    "causal_mask",
    points=1,
    hint="row t is the query, column s the key; a token may look at itself and the past (s <= t): the lower triangle, diagonal included.",
)
def mask_of_four(student):
    """causal_mask(4) is the (4, 4) bool lower triangle, diagonal included."""
    return student.causal_mask(4)


@mask_of_four.verify
def _(got, ref):
    check_mask(got, ref, "causal_mask(4)")


@suite.case("causal_mask", points=1, hint="build the mask from T alone, for any T (also T = 1), and return a tensor of dtype torch.bool.")
def several_sizes(student):
    """causal_mask(T) for T = 1, 2 and 7."""
    return {T: student.causal_mask(T) for T in (1, 2, 7)}


@several_sizes.verify
def _(got, ref):
    for T in (1, 2, 7):
        check_mask(got.get(T), ref[T], f"causal_mask({T})")


# --------------------------------------------------------------------------- #
# scaled_dot_product_attention
# --------------------------------------------------------------------------- #


def attention_probe(student, Q, K, V, seed: int, flags=(False, True), default: bool = False) -> dict:
    """The student's attention on Q, K, V for each causal flag; the causal runs twice: with the
    student's causal_mask watched, and with causal_mask replaced by a seeded stand-in mask."""
    out: dict = {"Q": Q, "K": K, "V": V}
    for causal in flags:
        key = f"causal={causal}"

        def call(causal=causal):
            if default:
                return student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone())
            return student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=causal)

        run = run_watched(student, "scaled_dot_product_attention", "causal_mask", call)
        result = run["result"] if isinstance(run["result"], tuple) and len(run["result"]) == 2 else (run["result"], None)
        out[f"out {key}"], out[f"weights {key}"] = result
        out[f"masks {key}"] = [{"args": c["args"], "result": c.get("result"), "raised": c.get("raised")} for c in run["calls"]]
        out[f"error {key}"] = run["error"]
        if causal:
            try:
                stand = run_watched(student, "scaled_dot_product_attention", "causal_mask", call, mask_stand_in(seed))
                pair = stand["result"] if isinstance(stand["result"], tuple) and len(stand["result"]) == 2 else (stand["result"], None)
                out[f"stand-in used {key}"] = bool(stand["calls"])
                out[f"stand-in out {key}"], out[f"stand-in weights {key}"] = pair
            except Exception:  # noqa: BLE001 - the watched run decides then
                out[f"stand-in used {key}"] = False
    return out


def check_attention_run(got: dict, ref: dict, causal: bool, what: str, mask_check=None) -> None:
    """One causal flag of an attention probe: right against the solution, or right given the student's own causal_mask.

    ``mask_check(got, ref, key)`` (hidden suites): an extra check against a reference computed with the student's mask.
    """
    key = f"causal={causal}"
    if causal and got.get(f"stand-in used {key}") and ref.get(f"stand-in used {key}"):
        # judged beside the mask double only (helpers/selfcheck/doubles.py): the student's causal_mask never decides
        mine, theirs = got[f"stand-in weights {key}"], ref[f"stand-in weights {key}"]
        note = ("\n  (this run of your attention met a made-up causal_mask: a seeded random pattern, so that it is judged on its "
                "own steps whatever your causal_mask does)")  # fmt: skip
        try:
            check_attention_pair(got[f"stand-in out {key}"], mine, ref[f"stand-in out {key}"], theirs, what, causal, invariants=False)
            if hasattr(mine, "shape") and tuple(mine.shape) == tuple(theirs.shape) and bool(((theirs == 0) & (mine != 0)).any()):
                raise AssertionError(f"`weights` ({what}): a masked-out key must get weight exactly 0 (mask the scores with -inf before the softmax).")
        except AssertionError as exc:
            if callee_results_differ(got.get(f"masks {key}"), ref.get(f"masks {key}"), same_values):
                note += callee_wrong_too("causal_mask")
            raise AssertionError(f"{str(exc).strip()}{note}") from None
        return
    try:
        if got.get(f"error {key}"):
            raise AssertionError(f"`weights` ({what}): {got[f'error {key}']}")
        check_attention_pair(got[f"out {key}"], got[f"weights {key}"], ref[f"out {key}"], ref[f"weights {key}"], what, causal)
    except AssertionError as first:
        if not causal:
            raise
        if mask_check is not None and mask_check(got, ref, key):
            return
        wrong_mask = callee_results_differ(got.get(f"masks {key}"), ref.get(f"masks {key}"), same_values)
        raise AssertionError(str(first) + (fix_callee_first("causal_mask") if wrong_mask else "")) from None


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="the scores are the queries' dot products with the keys, scaled by one over the square root of the key size d_k; "
    "with causal, the future keys are masked out of the scores BEFORE the softmax over the keys; out averages the values with those weights.",
)
def matches_torch_sdpa(student):
    """Batch and head dims (2, 3, T=5, d=4), causal and not: equal to torch.nn.functional.scaled_dot_product_attention."""
    Q, K, V = random_qkv(student.seed(61), (2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4))
    student.note("Q, K, V: seeded float64 tensors of shape (2, 3, 5, 4)")
    return attention_probe(student, Q, K, V, student.seed(161))


@matches_torch_sdpa.verify
def _(got, ref):
    for causal in (False, True):
        check_attention_run(got, ref, causal, f"causal={causal}")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="mask the scores with minus infinity before the softmax, so a masked weight is exactly 0 and every row still sums to 1; "
    "a softmax that subtracts each row's maximum (as torch.softmax does) stays finite for large scores.",
)
def masked_weights_exactly_zero(student):
    """causal=True on (4, 6, 3) float32 inputs with large scores (hundreds): weights finite, future weights exactly 0, rows sum to 1."""
    Q, K, V = random_qkv(student.seed(62), (4, 6, 3), (4, 6, 3), (4, 6, 3), scale=2.5)
    Q, K, V = (Q * 40).float(), K.float(), V.float()  # (4, 6, 3) each
    student.note("Q, K, V: seeded float32 tensors of shape (4, 6, 3), scores in the hundreds")
    return attention_probe(student, Q, K, V, student.seed(162), flags=(True,))


@masked_weights_exactly_zero.verify
def _(got, ref):
    check_attention_run(got, ref, True, "causal=True")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="the scale uses d_k, the size of a query and a key (not of a value); queries and keys may differ in number: "
    "the weights are (T_q, T_k); causal is False unless asked.",
)
def cross_attention_shapes(student):
    """No batch dims, T_q = 2 queries, T_k = 4 keys, d_k = 3, d_v = 5, default causal: out (2, 5), weights (2, 4)."""
    Q, K, V = random_qkv(student.seed(63), (2, 3), (4, 3), (4, 5))
    return attention_probe(student, Q, K, V, student.seed(163), flags=(False,), default=True)


@cross_attention_shapes.verify
def _(got, ref):
    check_attention_run(got, ref, False, "Q (2, 3), K (4, 3), V (4, 5)")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="each row of weights is a softmax over the keys: non-negative, summing to 1, and with causal exactly 0 for every future key.",
)
def weights_are_distributions(student):
    """Tolerant: causal=True on seeded (3, 6, 4) inputs: weights of shape (3, 6, 6), rows sum to 1, exactly 0 above the diagonal."""
    Q, K, V = random_qkv(student.seed(64), (3, 6, 4), (3, 6, 4), (3, 6, 4))
    return attention_probe(student, Q, K, V, student.seed(164), flags=(True,))


@weights_are_distributions.verify
def _(got, ref):
    key = "causal=True"
    try:
        if got.get(f"error {key}"):
            raise AssertionError(f"`weights` ({key}): {got[f'error {key}']}")
        w = expect_tensor(got.get(f"weights {key}"), f"`weights` ({key})", tuple(ref[f"weights {key}"].shape))
        check_weights_invariants(w, key, True)
    except AssertionError as first:
        mine, theirs = got.get(f"stand-in weights {key}"), ref.get(f"stand-in weights {key}")
        if got.get(f"stand-in used {key}") and hasattr(mine, "double") and tuple(mine.shape) == tuple(theirs.shape):
            sums = mine.double().sum(-1)
            if bool((mine.double()[theirs == 0] == 0).all()) and np.allclose(sums.numpy(), 1.0, atol=1e-5):
                return  # right given the mask its causal_mask gave: the mistake is causal_mask's
        raise first


# --------------------------------------------------------------------------- #
# AttentionHead
# --------------------------------------------------------------------------- #


def head_facts(head, d_model: int, d_head: int) -> dict:
    """What a test needs to know about an AttentionHead's structure (plain data)."""
    import torch

    facts = {"is an nn.Module": isinstance(head, torch.nn.Module), "d_model": d_model, "d_head": d_head}
    for name in ("query", "key", "value"):
        layer = getattr(head, name, None)
        facts[f"{name} type"] = "missing" if layer is None else type(layer).__name__
        facts[f"{name} is nn.Linear"] = type(layer) is torch.nn.Linear
        facts[f"{name} has a bias"] = getattr(layer, "bias", None) is not None
        w = getattr(layer, "weight", None)
        facts[f"{name} weight shape"] = list(w.shape) if isinstance(w, torch.Tensor) else None
    facts["parameter names"] = sorted(n for n, _ in head.named_parameters()) if facts["is an nn.Module"] else []
    return facts


def check_head_facts(got: dict, ref: dict) -> None:
    m, h = ref["d_model"], ref["d_head"]
    if not got["is an nn.Module"]:
        raise AssertionError("AttentionHead must subclass torch.nn.Module (and call super().__init__()).")
    for name, W in (("query", "W_Q"), ("key", "W_K"), ("value", "W_V")):
        if not got[f"{name} is nn.Linear"]:
            raise AssertionError(f"`{name}` ({W}) should be a linear map from d_model = {m} to d_head = {h} without bias (nn.Linear), got {got[f'{name} type']}.")
        if got[f"{name} has a bias"]:
            raise AssertionError(f"`{name}` has a bias; the lecture's maps are Q = X W_Q etc., without a bias.")
        if got[f"{name} weight shape"] != ref[f"{name} weight shape"]:
            raise AssertionError(
                f"`{name}.weight` should have shape {tuple(ref[f'{name} weight shape'])}: nn.Linear(d_model={m}, d_head={h}) stores (out, in); "
                f"got {got[f'{name} weight shape']}."
            )
    if got["parameter names"] != ref["parameter names"]:
        raise AssertionError(f"the head's parameters should be exactly {ref['parameter names']}, got {got['parameter names']}.")


def check_head_parameters(got: dict, ref: dict) -> None:
    if got["parameter names"] != ref["parameter names"]:
        raise AssertionError(
            f"the head's parameters should be exactly {ref['parameter names']} (three bias-free linear maps named query, key, value), "
            f"got {got['parameter names']}."
        )


def head_probe(student, d_model: int, d_head: int, shape: tuple, seed_params: int, seed_x: int, seed_stand_in: int,
               flags=(("causal (default)", None), ("causal=False", False))) -> dict:
    """AttentionHead(d_model, d_head) with parameters set by name, run on a seeded x for each flag: watched (its
    scaled_dot_product_attention's calls recorded), then with the attention replaced by a seeded stand-in."""
    import torch

    head = student.AttentionHead(d_model, d_head)
    params = set_parameters_by_name(head, seed_params)
    x = torch.tensor(np.random.default_rng(seed_x).normal(size=shape), dtype=torch.float32)  # (B, T, d_model)
    student.note(f"head = AttentionHead({d_model}, {d_head}) with query/key/value weights set from a seeded generator; x: {shape}")
    out = {"x": x, "parameters": params, "parameter names": sorted(params)}
    for key, causal in flags:
        kwargs = {} if causal is None else {"causal": causal}
        for mode, stand_in in (("", None), ("stand-in ", attention_stand_in(seed_stand_in))):
            try:  # autograd on: the output must carry a graph, last_weights must not
                run = run_watched(student, "AttentionHead", "scaled_dot_product_attention", lambda kwargs=kwargs: head(x.clone(), **kwargs), stand_in)
            except Exception:
                if stand_in is None:
                    raise
                out[f"stand-in used {key}"] = False
                continue
            out[f"{mode}out {key}"] = run["result"]
            out[f"{mode}last_weights {key}"] = getattr(head, "last_weights", None)
            out[f"{mode}out requires grad {key}"] = bool(getattr(run["result"], "requires_grad", False))
            out[f"{mode}last_weights detached {key}"] = getattr(out[f"{mode}last_weights {key}"], "grad_fn", None) is None
            out[f"{mode}calls {key}"] = [
                {"args": c["args"], "kwargs": c["kwargs"], "result": c.get("result"), "raised": c.get("raised")} for c in run["calls"]
            ]
            if stand_in is None:
                out[f"error {key}"] = run["error"]
            else:
                out[f"stand-in used {key}"] = bool(run["calls"])
    return out


def _call_inputs(call: dict) -> tuple:
    """(Q, K, V, causal) of a recorded call of scaled_dot_product_attention."""
    args, kwargs = list(call.get("args") or []), dict(call.get("kwargs") or {})
    names = ["Q", "K", "V", "causal"]
    values = {n: a for n, a in zip(names, args)}
    values.update({k: v for k, v in kwargs.items() if k in names})
    return tuple(values.get(n, False if n == "causal" else None) for n in names)


def check_head_run(got: dict, ref: dict, key: str, causal: bool) -> None:
    """One flag of a head probe: right against the solution, or right given the student's own attention function."""
    def compare(prefix: str, invariants: bool) -> None:
        B, T = ref["x"].shape[0], ref["x"].shape[1]
        out = expect_tensor(got.get(f"{prefix}out {key}"), f"head(x) ({key})", tuple(ref[f"{prefix}out {key}"].shape))
        lw = got.get(f"{prefix}last_weights {key}")
        if lw is None:
            raise AssertionError(f"head.last_weights is None after head(x) ({key}): keep the weights of the last call there, detached.")
        expect_tensor(lw, f"head.last_weights after head(x) ({key})", (B, T, T))
        if got.get(f"{prefix}out requires grad {key}") is not True:
            raise AssertionError(f"head(x) ({key}) carries no autograd graph: forward must stay in torch (no detach or numpy) so the layers can learn.")
        if got.get(f"{prefix}last_weights detached {key}") is not True:
            raise AssertionError(f"head.last_weights after head(x) ({key}) is still attached to the autograd graph: keep a detached copy.")
        if invariants and causal and (lw.double().triu(1) != 0).any():
            raise AssertionError(f"head.last_weights after head(x) ({key}): weights above the diagonal must be exactly 0 (pass causal on to the attention).")
        assert_matches(lw.double(), ref[f"{prefix}last_weights {key}"].double(), f"last_weights ({key})", **TOL)
        assert_matches(out.double(), ref[f"{prefix}out {key}"].double(), f"out ({key})", **TOL)

    def compare_inputs(prefix: str) -> None:
        mine, theirs = got.get(f"{prefix}calls {key}") or [], ref.get(f"{prefix}calls {key}") or []
        if len(mine) != len(theirs):
            raise AssertionError(f"head(x) ({key}) should call scaled_dot_product_attention once, it called it {len(mine)} times.")
        for g, r in zip(mine, theirs):
            for name, a, b in zip(("Q", "K", "V", "causal"), _call_inputs(g), _call_inputs(r)):
                if name == "causal":
                    if bool(a) != bool(b):
                        raise AssertionError(f"head(x) ({key}) called scaled_dot_product_attention with causal={a}; pass the head's own causal flag on.")
                else:
                    assert_matches(a.double() if hasattr(a, "double") else a, b.double(), f"the {name} that head(x) ({key}) passed to scaled_dot_product_attention", **TOL)

    if got.get(f"stand-in used {key}") and ref.get(f"stand-in used {key}"):
        # judged beside the attention double only: the student's scaled_dot_product_attention never decides
        try:
            compare_inputs("stand-in ")
            compare("stand-in ", False)
        except AssertionError as exc:
            wrong = callee_results_differ(got.get(f"calls {key}"), ref.get(f"calls {key}"), same_values)
            raise AssertionError(str(exc) + (fix_callee_first("scaled_dot_product_attention") if wrong else "")) from None
        return
    try:
        if got.get(f"error {key}"):
            raise AssertionError(f"head(x) ({key}): {got[f'error {key}']}")
        compare("", True)
    except AssertionError as first:
        wrong = callee_results_differ(got.get(f"calls {key}"), ref.get(f"calls {key}"), same_values)
        raise AssertionError(str(first) + (fix_callee_first("scaled_dot_product_attention") if wrong else "")) from None


@suite.case(
    "AttentionHead",
    points=1,
    hint="the head owns three bias-free linear maps named query, key and value, each from d_model to d_head; nothing else is learned.",
)
def attributes(student):
    """AttentionHead(4, 3) has query, key, value = nn.Linear(4, 3, bias=False) (weights (3, 4)) and no other parameters."""
    return head_facts(student.AttentionHead(4, 3), 4, 3)


@attributes.verify
def _(got, ref):
    check_head_facts(got, ref)


@suite.case(
    "AttentionHead",
    points=2,
    hint="forward maps x to queries, keys and values with the three layers, hands them to your scaled_dot_product_attention with the "
    "head's causal flag, keeps the weights (detached) in last_weights and returns the attention output.",
)
def forward_matches_independent_computation(student):
    """AttentionHead(4, 3) with seeded weights on x of shape (2, 5, 4): head(x) (causal by default) and head(x, causal=False)."""
    return head_probe(student, 4, 3, (2, 5, 4), student.seed(63), student.seed(64), student.seed(164))


@forward_matches_independent_computation.verify
def _(got, ref):
    check_head_parameters(got, ref)
    check_head_run(got, ref, "causal (default)", True)
    check_head_run(got, ref, "causal=False", False)


# --------------------------------------------------------------------------- #
# MultiHeadAttention
# --------------------------------------------------------------------------- #


def mha_probe(student, d_model: int, n_heads: int, d_head: int, shape: tuple, seed_params: int, seed_x: int, seed_stand_in: int,
              flags=(("causal (default)", None), ("causal=False", False))) -> dict:
    """MultiHeadAttention with parameters set by name on a seeded x, for each flag: with its heads watched, then with every
    head's forward replaced by a seeded stand-in (so a wrong AttentionHead costs nothing here)."""
    import torch

    with standing_in(student, "AttentionHead", head_double_class(seed_stand_in + 1)):
        mha = student.MultiHeadAttention(d_model, n_heads, d_head)  # its heads: class doubles (head_double_class)
    params = set_parameters_by_name(mha, seed_params, skip="heads.")  # the heads keep their seeded weights
    x = torch.tensor(np.random.default_rng(seed_x).normal(size=shape), dtype=torch.float32)  # (B, T, d_model)
    student.note(f"mha = MultiHeadAttention({d_model}, {n_heads}, {d_head}), parameters set in sorted name order from a seeded generator; x: {shape}")
    out = {"x": x, "n_heads": n_heads, "parameters": params, "parameter names": sorted(params)}
    heads = list(getattr(mha, "heads", []) or []) if isinstance(getattr(mha, "heads", None), torch.nn.Module) else []
    for key, causal in flags:
        kwargs = {} if causal is None else {"causal": causal}
        seen: list = []
        called: list = []
        hooks = [h.register_forward_hook(lambda m, a, o, i=i, seen=seen: seen.append({"head": i, "out": o.detach().clone() if isinstance(o, torch.Tensor) else None}))
                 for i, h in enumerate(heads)]
        hooks += [h.register_forward_pre_hook(lambda m, a, i=i, called=called: called.append(i)) for i, h in enumerate(heads)]
        try:  # autograd on: the output must carry a graph
            out[f"out {key}"] = mha(x.clone(), **kwargs)
            out[f"out requires grad {key}"] = bool(getattr(out[f"out {key}"], "requires_grad", False))
        except Exception as exc:
            if not called:
                raise
            out[f"out {key}"] = None  # raised once a head had been called: judged by the stand-in run
            out[f"error {key}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            out[f"a head raised {key}"] = len(called) > len(seen)
        finally:
            for hook in hooks:
                hook.remove()
        out[f"heads {key}"] = seen
        records: list = []
        try:
            for i, h in enumerate(heads):
                object.__setattr__(h, "forward", head_stand_in(seed_stand_in, i, d_head, records))
            with torch.no_grad():
                out[f"stand-in out {key}"] = mha(x.clone(), **kwargs)
            out[f"stand-in calls {key}"] = records
        except Exception:  # noqa: BLE001 - the watched run decides then
            out[f"stand-in calls {key}"] = []
        finally:
            for h in heads:
                h.__dict__.pop("forward", None)
    return out


def mha_names(n_heads: int) -> list[str]:
    names = [f"heads.{i}.{p}.weight" for i in range(n_heads) for p in ("query", "key", "value")]
    return sorted(names + ["proj.weight", "proj.bias"])


def check_mha_names(got_names, expected) -> None:
    got_names = list(got_names)
    if got_names != list(expected):
        missing = [n for n in expected if n not in got_names]
        extra = [n for n in got_names if n not in expected]
        why = ""
        if not any(n.startswith("heads.") for n in got_names):
            why = " PyTorch sees no head parameters: a plain Python list hides the modules it holds (the lecture's nn.ModuleList does not)."
        elif any(n.startswith("heads.0.") for n in got_names) and any(n.startswith("heads.") and not n.startswith("heads.0.") for n in missing):
            why = " Only head 0 has parameters: every head must be a new AttentionHead (repeating one object shares it)."
        elif "proj.bias" in missing:
            why = " `proj` needs its bias."
        raise AssertionError(
            "the parameter names should follow the docstring (heads.{i}.query.weight, heads.{i}.key.weight, "
            f"heads.{{i}}.value.weight, proj.weight, proj.bias); missing: {missing or 'none'}; unexpected: {extra or 'none'}.{why}"
        )


def check_mha_run(got: dict, ref: dict, key: str) -> None:
    """One flag of a multi-head probe (its heads are class doubles): right against the solution. The parameter names
    (how the heads are held) are the structure case's and the gradient case's, not this one's."""
    try:
        if got.get(f"error {key}"):
            raise AssertionError(f"mha(x) ({key}): {got[f'error {key}']}")
        out = expect_tensor(got.get(f"out {key}"), f"mha(x) ({key})", tuple(ref[f"out {key}"].shape))
        assert_matches(out.double(), ref[f"out {key}"].double(), f"mha(x) ({key})", **TOL)
        if got.get(f"out requires grad {key}") is not True:
            raise AssertionError(f"mha(x) ({key}) carries no autograd graph: forward must stay in torch so every head and proj can learn.")
    except AssertionError as first:
        calls, ref_calls = got.get(f"stand-in calls {key}") or [], ref.get(f"stand-in calls {key}") or []
        if calls and ref_calls:
            try:  # the heads replaced by seeded stand-ins: right given its heads, the mistake is AttentionHead's
                if sorted(c["head"] for c in calls) != sorted(c["head"] for c in ref_calls):
                    raise AssertionError("not every head was called once")
                for c in calls:
                    assert_matches(c["x"].double(), ref["x"].double(), "x", **TOL)
                    flag = c["kwargs"].get("causal", c["args"][0] if c["args"] else True)
                    want = next(r for r in ref_calls if r["head"] == c["head"])
                    if bool(flag) != bool(want["kwargs"].get("causal", want["args"][0] if want["args"] else True)):
                        raise AssertionError("causal flag")
                stand = expect_tensor(got.get(f"stand-in out {key}"), "out", tuple(ref[f"stand-in out {key}"].shape))
                assert_matches(stand.double(), ref[f"stand-in out {key}"].double(), "out", **TOL)
                return
            except (AssertionError, KeyError, IndexError, TypeError, AttributeError, StopIteration):
                pass
        heads, ref_heads = got.get(f"heads {key}") or [], ref.get(f"heads {key}") or []
        wrong_heads = got.get(f"a head raised {key}") is True or any(not same_values(h.get("out"), r.get("out")) for h, r in zip(heads, ref_heads))
        raise AssertionError(
            f"{first}\n  mha(x) should be proj applied to the heads' outputs concatenated in order along the last axis "
            "(every head on the same x, with the same causal flag)." + (fix_callee_first("AttentionHead") if wrong_heads else "")
        ) from None


@suite.case(
    "MultiHeadAttention",
    points=1,
    hint="keep the heads in the container the lecture uses (nn.ModuleList), one new AttentionHead(d_model, d_head) each, and a "
    "projection with a bias from n_heads * d_head back to d_model.",
)
def structure(student):
    """MultiHeadAttention(8, 3, 4): heads is an nn.ModuleList of 3 AttentionHead(8, 4); proj = nn.Linear(12, 8) with bias."""
    import torch

    head_cls = head_double_class(student.seed(167))
    with standing_in(student, "AttentionHead", head_cls):  # the student's AttentionHead never decides these points
        mha = student.MultiHeadAttention(8, 3, 4)
    heads, proj = getattr(mha, "heads", None), getattr(mha, "proj", None)
    return {
        "is an nn.Module": isinstance(mha, torch.nn.Module),
        "heads type": "missing" if heads is None else type(heads).__name__,
        "number of heads": len(heads) if isinstance(heads, torch.nn.ModuleList) else -1,
        "heads are AttentionHead": bool(isinstance(heads, torch.nn.ModuleList) and all(isinstance(h, head_cls) for h in heads)),
        "proj type": "missing" if proj is None else type(proj).__name__,
        "proj weight shape": list(proj.weight.shape) if type(proj) is torch.nn.Linear else None,
        "proj bias shape": list(proj.bias.shape) if type(proj) is torch.nn.Linear and proj.bias is not None else None,
        "parameter names": sorted(n for n, _ in mha.named_parameters()) if isinstance(mha, torch.nn.Module) else [],
    }


@structure.verify
def _(got, ref):
    if not got["is an nn.Module"]:
        raise AssertionError("MultiHeadAttention must subclass torch.nn.Module (and call super().__init__()).")
    if got["heads type"] != ref["heads type"]:
        raise AssertionError(f"`heads` should be an nn.ModuleList (a plain list hides the heads' parameters from PyTorch), got {got['heads type']}.")
    if got["number of heads"] != ref["number of heads"]:
        raise AssertionError(f"`heads` should hold n_heads = {ref['number of heads']} heads, got {got['number of heads']}.")
    if not got["heads are AttentionHead"]:
        raise AssertionError("every element of `heads` should be an AttentionHead(d_model, d_head) (your class from above).")
    if got["proj type"] != ref["proj type"]:
        raise AssertionError(f"`proj` should be a linear layer (nn.Linear) from n_heads * d_head = 12 to d_model = 8, got {got['proj type']}.")
    if got["proj weight shape"] != ref["proj weight shape"]:
        raise AssertionError(f"`proj.weight` should have shape {tuple(ref['proj weight shape'])} (nn.Linear stores (out, in)); got {got['proj weight shape']}.")
    if got["proj bias shape"] != ref["proj bias shape"]:
        raise AssertionError(f"`proj` should have a bias of shape {tuple(ref['proj bias shape'])}.")
    check_mha_names(got["parameter names"], ref["parameter names"])


@suite.case(
    "MultiHeadAttention",
    points=2,
    hint="run every head on the same x with the same causal flag, join their outputs in head order along the last axis "
    "(the feature axis, not the tokens), then apply proj.",
)
def forward_with_parameters_set_by_name(student):
    """MultiHeadAttention(6, 2, 3), every parameter set by name from a seeded generator; x of shape (2, 5, 6), causal and not."""
    return mha_probe(student, 6, 2, 3, (2, 5, 6), student.seed(65), student.seed(66), student.seed(165))


@forward_with_parameters_set_by_name.verify
def _(got, ref):
    check_mha_run(got, ref, "causal (default)")
    check_mha_run(got, ref, "causal=False")


# --------------------------------------------------------------------------- #
# The same under its callers: a causal_mask, an attention or a head that answers otherwise inside its caller
# than alone loses a point in its own case (the hidden tests have these on other seeds)
# --------------------------------------------------------------------------- #


def mask_under_attention_probe(student, k: int, T: int, T_alone: int) -> dict:
    """The mask's same-under-attention cases: scaled_dot_product_attention(Q, K, V, causal=True) on seeded (2, T, 3)
    inputs (student.seed(k)) watching causal_mask, each recorded call made again alone, then causal_mask(T_alone)."""
    Q, K, V = random_qkv(student.seed(k), (2, T, 3), (2, T, 3), (2, T, 3))
    student.note("scaled_dot_product_attention(Q, K, V, causal=True) watching causal_mask, then causal_mask alone")
    calls = under_and_alone(student, "scaled_dot_product_attention", "causal_mask", lambda: student.get("scaled_dot_product_attention")(Q, K, V, causal=True))
    return {"alone": calls, "mask": student.causal_mask(T_alone)}


def check_mask_under_attention(got: dict, ref: dict) -> None:
    """Tolerant: causal_mask(T) alone is not a stub and never shows the future; under the attention it gives what it gives alone."""
    T = int(ref["mask"].shape[-1])
    check_causal_structure(got["mask"], T, f"causal_mask({T})")
    check_same_alone(got, "causal_mask")


def check_attention_under_head(got: dict, ref: dict) -> None:
    """scaled_dot_product_attention(Q, K, V) alone is the solution's; under the head it gives what it gives alone."""
    assert_matches(got["result"], ref["result"], "scaled_dot_product_attention(Q, K, V)", **TOL)
    check_same_alone(got, "scaled_dot_product_attention")


def heads_under_multi_head_probe(student, k: int) -> dict:
    """The head's same-under-MultiHeadAttention cases: MultiHeadAttention(6, 2, 3)(x) on a seeded x (2, 5, 6)
    (student.seed(k)) watching its heads, each recorded call made again alone, then AttentionHead(6, 3)(x) beside
    an attention double (student.seed(k + 1))."""
    import torch

    x = torch.tensor(np.random.default_rng(student.seed(k)).normal(size=(2, 5, 6)), dtype=torch.float32)  # (B, T, d_model)
    student.note("MultiHeadAttention(6, 2, 3)(x) watching its heads, then each head alone on the same input")
    try:
        mha = student.MultiHeadAttention(6, 2, 3)
        heads = list(getattr(mha, "heads", []) or [])
    except Exception:  # noqa: BLE001 - MultiHeadAttention is judged in its own cases
        mha, heads = None, []
    calls = modules_under_and_alone(lambda: mha(x.clone()), heads, "AttentionHead", "MultiHeadAttention") if mha is not None else []
    head = student.AttentionHead(6, 3)
    with torch.no_grad(), replacing(student, "AttentionHead", {"scaled_dot_product_attention": attention_stand_in(student.seed(k + 1))}):
        alone = head(x.clone())  # beside the attention double: the head's own step only
    return {"alone": calls, "out": alone}


def check_heads_under_multi_head(got: dict, ref: dict) -> None:
    """Tolerant: a head alone gives a finite (B, T, d_head); under MultiHeadAttention each head gives what it gives alone."""
    import torch

    out = expect_tensor(got["out"], "AttentionHead(6, 3)(x)", tuple(ref["out"].shape))  # tolerant: not a stub
    if not bool(torch.isfinite(out).all()):
        raise AssertionError("AttentionHead(6, 3)(x) holds nan or inf.")
    check_same_alone(got, "AttentionHead")


@suite.case("causal_mask", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_attention(student):
    """Inside your scaled_dot_product_attention, causal_mask gives what it gives alone for the same T (and is right alone)."""
    return mask_under_attention_probe(student, k=186, T=4, T_alone=4)


same_alone_as_under_attention.verify(check_mask_under_attention)


def attention_under_head_probe(student, k: int) -> dict:
    """scaled_dot_product_attention inside an AttentionHead(4, 3) (parameters from seed k, x from k + 1), then
    alone on its recorded arguments, and alone on random Q, K, V (seed k + 2), not causal."""
    import torch

    x = torch.tensor(np.random.default_rng(student.seed(k + 1)).normal(size=(2, 5, 4)), dtype=torch.float32)  # (B, T, d_model)
    Q, K, V = random_qkv(student.seed(k + 2), (2, 4, 3), (2, 4, 3), (2, 4, 3))
    student.note("AttentionHead(4, 3)(x) watching scaled_dot_product_attention, then it alone on the same arguments")

    def run_head():  # inside the watched call: in the notebook this check runs before AttentionHead is written
        head = student.AttentionHead(4, 3)
        set_parameters_by_name(head, student.seed(k))
        return head(x)

    calls = under_and_alone(student, "AttentionHead", "scaled_dot_product_attention", run_head)
    return {"alone": calls, "result": student.scaled_dot_product_attention(Q, K, V)}  # not causal: its causal_mask is not judged here


@suite.case("scaled_dot_product_attention", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_attention_head(student):
    """Inside your AttentionHead, scaled_dot_product_attention gives what it gives alone on the same Q, K, V (and is right alone, not causal)."""
    return attention_under_head_probe(student, k=187)


same_alone_as_under_attention_head.verify(check_attention_under_head)


@suite.case("AttentionHead", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_multi_head(student):
    """Inside your MultiHeadAttention, each AttentionHead gives what it gives alone on the same x (and a head alone, beside an attention double, gives (B, T, d_head))."""
    return heads_under_multi_head_probe(student, k=190)


same_alone_as_under_multi_head.verify(check_heads_under_multi_head)
