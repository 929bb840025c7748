"""Public tests of notebook 06 (attention): run by ``check("name")`` and by the grader.

Probes build seeded inputs, call the student's code and return the inputs with the
results. Verify steps recompute everything here, independently of the solution: S = X X^T
in numpy, the mask with torch.tril, attention with torch.nn.functional.scaled_dot_product_attention
and an explicit softmax, and the modules from the very weights the probe set.

The modules' parameters are set BY NAME (``sorted(model.named_parameters())`` filled from a
seeded generator), so a student's model and the solution's start identical when their
parameter names follow the docstrings: ``query.weight``, ``key.weight``, ``value.weight`` for a
head; ``heads.{i}.query.weight`` ..., ``proj.weight``, ``proj.bias`` for multi-head attention.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_TABLE_ORDER, SLIDE_V

suite = Suite("06")

SENTENCE = ["the", "cat", "ate", "the", "dog", "!"]


def sentence_vectors() -> np.ndarray:
    """The slide's 2-D previous-token vectors of 'the cat ate the dog !': (6, 2)."""
    return SLIDE_V[[SLIDE_TABLE_ORDER.index(t) for t in SENTENCE]].copy()  # (6, 2)


# --------------------------------------------------------------------------- #
# Shared checks (trusted side)
# --------------------------------------------------------------------------- #


def expect_array(value, what: str, shape: tuple) -> np.ndarray:
    """``value`` must be a numpy float array of ``shape``; raise a readable AssertionError otherwise."""
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array of shape {shape}, got {describe(value)}.")
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


def check_similarity(X: np.ndarray, S, what: str = "S") -> None:
    """S must be X X^T over the last two axes, computed here with einsum."""
    expected = np.einsum("...tm,...sm->...ts", X.astype(float), X.astype(float))  # (..., T, T)
    if isinstance(S, np.ndarray) and S.shape != expected.shape and S.ndim == X.ndim and X.ndim > 2:
        raise AssertionError(
            f"{what}: for X of shape {X.shape} expected shape {expected.shape}, got shape {S.shape}. "
            "X.T reverses ALL axes; transpose only the last two: np.swapaxes(X, -1, -2)."
        )
    expect_array(S, what, expected.shape)
    if S.dtype.kind != "f":
        raise AssertionError(f"{what}: expected a float array, got dtype {S.dtype}.")
    if S.shape[-1] > 1 and not np.allclose(S, np.swapaxes(S, -1, -2), rtol=1e-6, atol=1e-9):
        raise AssertionError(f"{what}: X X^T is symmetric (S[i, j] = x_i . x_j = S[j, i]), yours is not.\n  got: {describe(S)}")
    assert_matches(S, expected, what)


def tril_mask(T: int):
    import torch

    return torch.tril(torch.ones(T, T, dtype=torch.bool))  # (T, T)


def check_mask(got, T: int, what: str) -> None:
    """causal_mask(T) must be a bool tensor equal to torch.tril(ones(T, T))."""
    import torch

    expect_tensor(got, what, (T, T))
    if got.dtype != torch.bool:
        raise AssertionError(f"{what}: expected dtype torch.bool (True = may attend), got {got.dtype}.")
    ref = tril_mask(T)  # (T, T)
    if torch.equal(got, ref):
        return
    if T > 1 and torch.equal(got, ref.T):
        raise AssertionError(
            f"{what}: you built the upper triangle. Row t is the query and column s the key; True where s <= t (torch.tril)."
        )
    if torch.equal(got, torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)):
        raise AssertionError(f"{what}: the diagonal must be True too: a token may attend to itself (s <= t, not s < t).")
    if torch.equal(got, ~ref):
        raise AssertionError(f"{what}: True and False are swapped: True means 'may attend' (the past and the token itself).")
    bad = (got != ref).nonzero()[0].tolist()
    raise AssertionError(
        f"{what}: entry {tuple(bad)} should be {bool(ref[tuple(bad)])}.\n  expected: {describe(ref)}\n  got:      {describe(got)}"
    )


def reference_attention(Q, K, V, causal: bool):
    """(out, weights) computed here in float64: out by torch's F.scaled_dot_product_attention,
    weights by an explicit masked softmax of Q K^T / sqrt(d_k)."""
    import torch
    import torch.nn.functional as F

    Q, K, V = Q.double(), K.double(), V.double()  # (..., T_q, d_k), (..., T_k, d_k), (..., T_k, d_v)
    out = F.scaled_dot_product_attention(Q, K, V, is_causal=causal)  # (..., T_q, d_v)
    S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])  # (..., T_q, T_k)
    if causal:
        S = S.masked_fill(~tril_mask(S.shape[-1]), float("-inf"))  # (..., T, T)
    return out, torch.softmax(S, dim=-1)  # (..., T_q, d_v), (..., T_q, T_k)


def _diagnose_weights(weights, Q, K, V, causal: bool) -> str:
    """Name a common mistake whose weights match the student's, or ''."""
    import torch

    Q, K, V, w = Q.double(), K.double(), V.double(), weights.double()
    d_k, d_v = Q.shape[-1], V.shape[-1]
    raw = Q @ K.transpose(-2, -1)  # (..., T_q, T_k)
    mask = tril_mask(raw.shape[-1]) if causal and raw.shape[-1] == raw.shape[-2] else None

    def softmax(S, dim=-1, masked=True):
        if mask is not None and masked:
            S = S.masked_fill(~mask, float("-inf"))
        return torch.softmax(S, dim=dim)

    candidates = [
        (softmax(raw), "the weights are softmax(Q K^T) without the scale: divide the scores by sqrt(d_k) first."),
        (softmax(raw / d_k), "the scores were divided by d_k; divide by sqrt(d_k) (math.sqrt(Q.shape[-1]))."),
        (softmax(raw / math.sqrt(d_k), dim=-2), "the softmax ran over the wrong axis: each ROW (dim=-1, over the keys) must sum to 1."),
    ]
    if d_v != d_k:
        candidates.append((softmax(raw / math.sqrt(d_v)), "the scores were divided by sqrt(d_v); use d_k = Q.shape[-1], the size of a query/key."))
    if mask is not None:
        upper = torch.softmax(raw.masked_fill(mask.T.logical_not(), float("-inf")) / math.sqrt(d_k), dim=-1)
        candidates.append((upper, "the mask is transposed: query t may attend to keys s <= t (lower triangle)."))
        after = softmax(raw / math.sqrt(d_k), masked=False) * mask
        candidates.append((after, "the weights were masked AFTER the softmax: set the masked scores to -inf BEFORE it, so rows still sum to 1."))
        candidates.append((softmax(raw / math.sqrt(d_k), masked=False), "no causal mask was applied although causal=True."))
    for cand, message in candidates:
        if cand.shape == w.shape and torch.allclose(cand, w, rtol=1e-4, atol=1e-6):
            return message
    return ""


def check_attention(out, weights, Q, K, V, causal: bool, label: str) -> None:
    """The student's (out, weights) for Q, K, V against the independent reference, with diagnoses."""
    import torch

    lead, T_q, T_k, d_v = tuple(Q.shape[:-2]), Q.shape[-2], K.shape[-2], V.shape[-1]
    expect_tensor(out, f"`out` ({label})", (*lead, T_q, d_v))
    expect_tensor(weights, f"`weights` ({label})", (*lead, T_q, T_k))
    ref_out, ref_w = reference_attention(Q, K, V, causal)
    w = weights.double()
    if not torch.isfinite(w).all() or not torch.isfinite(out.double()).all():
        raise AssertionError(
            f"`weights` ({label}) contain nan or inf. Use torch.softmax(S, dim=-1) (stable), and mask with -inf only "
            f"entries above the diagonal.\n  got: {describe(weights)}"
        )
    if causal and T_q == T_k and (torch.triu(w, diagonal=1) != 0).any():
        hint = _diagnose_weights(weights, Q, K, V, causal)
        raise AssertionError(
            f"`weights` ({label}): entries above the diagonal (future tokens) must be exactly 0, the largest is "
            f"{float(torch.triu(w, diagonal=1).abs().max()):.3g}." + (f" {hint}" if hint else "") + f"\n  got: {describe(weights)}"
        )
    sums = w.sum(dim=-1)  # (..., T_q)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
        hint = _diagnose_weights(weights, Q, K, V, causal)
        raise AssertionError(f"`weights` ({label}): every row must sum to 1, got row sums {describe(sums)}." + (f"\n  {hint}" if hint else ""))
    if not torch.allclose(w, ref_w, rtol=1e-4, atol=1e-6):
        hint = _diagnose_weights(weights, Q, K, V, causal)
        if hint:
            raise AssertionError(f"`weights` ({label}): {hint}\n  expected: {describe(ref_w)}\n  got:      {describe(weights)}")
        assert_matches(w, ref_w, f"weights ({label})", rtol=1e-4)
    if not torch.allclose(out.double(), ref_out, rtol=1e-4, atol=1e-6):
        message = f"`out` ({label}) differs from torch.nn.functional.scaled_dot_product_attention although your weights are right: out = weights @ V."
        raise AssertionError(f"{message}\n  expected: {describe(ref_out)}\n  got:      {describe(out)}")


def random_qkv(seed: int, q_shape: tuple, k_shape: tuple, v_shape: tuple, scale: float = 1.0, dtype=None):
    """Seeded Q, K, V tensors (float64 unless ``dtype``)."""
    import torch

    rng = np.random.default_rng(seed)
    tensors = [torch.tensor(rng.normal(size=s) * scale) for s in (q_shape, k_shape, v_shape)]
    return [t.to(dtype) for t in tensors] if dtype is not None else tensors


def set_parameters_by_name(model, seed: int, scale: float = 0.6) -> dict:
    """Fill every parameter, in sorted name order, from a seeded generator; return {name: value}."""
    import torch

    rng = np.random.default_rng(seed)
    values = {}
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            p.copy_(torch.as_tensor(rng.normal(size=tuple(p.shape)) * scale, dtype=p.dtype))
            values[name] = p.detach().clone()
    return values


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


def check_head_facts(got: dict) -> None:
    m, h = got["d_model"], got["d_head"]
    if not got["is an nn.Module"]:
        raise AssertionError("AttentionHead must subclass torch.nn.Module (and call super().__init__()).")
    for name, W in (("query", "W_Q"), ("key", "W_K"), ("value", "W_V")):
        if not got[f"{name} is nn.Linear"]:
            raise AssertionError(f"`{name}` ({W}) should be nn.Linear({m}, {h}, bias=False), got {got[f'{name} type']}.")
        if got[f"{name} has a bias"]:
            raise AssertionError(f"`{name}` has a bias; the lecture's maps are Q = X W_Q etc. without bias: nn.Linear({m}, {h}, bias=False).")
        if got[f"{name} weight shape"] != [h, m]:
            raise AssertionError(
                f"`{name}.weight` should have shape ({h}, {m}) (nn.Linear(d_model={m}, d_head={h}) stores (out, in)), "
                f"got {got[f'{name} weight shape']}."
            )
    expected = ["key.weight", "query.weight", "value.weight"]
    if got["parameter names"] != expected:
        raise AssertionError(f"the head's parameters should be exactly {expected}, got {got['parameter names']}.")


def reference_head(x, Wq, Wk, Wv, causal: bool):
    """One head computed here from its weights (nn.Linear convention: x @ W.T)."""
    x = x.double()  # (B, T, d_model)
    return reference_attention(x @ Wq.double().T, x @ Wk.double().T, x @ Wv.double().T, causal)  # (B, T, d_head), (B, T, T)


def check_head_output(got: dict, keys: list[tuple[str, bool]]) -> None:
    """got[f"out {key}"] and got[f"last_weights {key}"] against a head recomputed from got's weights."""
    x = got["x"]
    B, T = x.shape[0], x.shape[1]
    d_head = got["query.weight"].shape[0]
    for key, causal in keys:
        ref_out, ref_w = reference_head(x, got["query.weight"], got["key.weight"], got["value.weight"], causal)
        out = expect_tensor(got[f"out {key}"], f"head(x) ({key})", (B, T, d_head))
        lw = got[f"last_weights {key}"]
        if lw is None:
            raise AssertionError(f"head.last_weights is None after head(x) ({key}): store the weights, self.last_weights = weights.detach().")
        expect_tensor(lw, f"head.last_weights after head(x) ({key})", (B, T, T))
        if causal and (lw.double().triu(1) != 0).any():
            raise AssertionError(
                f"head.last_weights after head(x) ({key}): weights above the diagonal must be exactly 0 "
                "(pass causal on to scaled_dot_product_attention)."
            )
        assert_matches(lw.double(), ref_w, f"last_weights ({key})", rtol=1e-4)
        assert_matches(out.double(), ref_out, f"out ({key})", rtol=1e-4)


def mha_names(n_heads: int) -> list[str]:
    names = [f"heads.{i}.{p}.weight" for i in range(n_heads) for p in ("query", "key", "value")]
    return sorted(names + ["proj.weight", "proj.bias"])


def check_mha_names(got_names, n_heads: int) -> None:
    expected = mha_names(n_heads)
    got_names = list(got_names)
    if got_names != expected:
        missing = [n for n in expected if n not in got_names]
        extra = [n for n in got_names if n not in expected]
        why = ""
        if not any(n.startswith("heads.") for n in got_names):
            why = " PyTorch sees no head parameters: keep the heads in an nn.ModuleList named `heads` (a plain list hides them)."
        elif any(n.startswith("heads.0.") for n in got_names) and any(n.startswith("heads.") and not n.startswith("heads.0.") for n in missing):
            why = " Only head 0 has parameters: create a NEW AttentionHead(d_model, d_head) for each head ([head] * n_heads repeats one object)."
        elif "proj.bias" in missing:
            why = " `proj` needs its bias: nn.Linear(n_heads * d_head, d_model)."
        raise AssertionError(
            "the parameter names should follow the docstring (heads.{i}.query.weight, heads.{i}.key.weight, "
            f"heads.{{i}}.value.weight, proj.weight, proj.bias); missing: {missing or 'none'}; unexpected: {extra or 'none'}.{why}"
        )


def reference_mha(x, params: dict, n_heads: int, causal: bool):
    """Multi-head attention computed here from the parameters: concat heads in order, then proj."""
    import torch

    outs = []
    for i in range(n_heads):
        out, _ = reference_head(x, params[f"heads.{i}.query.weight"], params[f"heads.{i}.key.weight"], params[f"heads.{i}.value.weight"], causal)
        outs.append(out)  # (B, T, d_head)
    concat = torch.cat(outs, dim=-1)  # (B, T, n_heads * d_head)
    return concat @ params["proj.weight"].double().T + params["proj.bias"].double()  # (B, T, d_model)


def check_mha_output(got: dict, keys: list[tuple[str, bool]]) -> None:
    check_mha_names(sorted(got["parameters"]), got["n_heads"])
    x = got["x"]
    for key, causal in keys:
        ref = reference_mha(x, got["parameters"], got["n_heads"], causal)  # (B, T, d_model)
        out = expect_tensor(got[f"out {key}"], f"mha(x) ({key})", tuple(ref.shape))
        if not np.allclose(out.double().numpy(), ref.numpy(), rtol=1e-4, atol=1e-6):
            raise AssertionError(
                f"mha(x) ({key}) differs from proj(concat(head_0(x), ..., head_{got['n_heads'] - 1}(x))) computed from your "
                f"parameters (heads concatenated in order along the last axis, then proj with its bias).\n"
                f"  expected: {describe(ref)}\n  got:      {describe(out)}"
            )


# --------------------------------------------------------------------------- #
# self_similarity
# --------------------------------------------------------------------------- #


@suite.case("self_similarity", points=1, hint="S = X @ X.T for a (T, M) array: S[i, j] is the dot product of rows i and j.")
def slide_sentence(student):
    """'the cat ate the dog !' with the slide's 2-D vectors: S = X X^T is (6, 6) and symmetric."""
    X = sentence_vectors()  # (6, 2)
    student.note("X = the slide's V rows of 'the cat ate the dog !'")
    return {"X": X.copy(), "S": student.self_similarity(X)}


@slide_sentence.verify
def _(got, ref):
    check_similarity(got["X"], got["S"])


@suite.case("self_similarity", points=1, hint="transpose only the last two axes: X @ np.swapaxes(X, -1, -2) (X.T reverses all axes).")
def batch_dimensions(student):
    """Leading batch dimensions: X of shape (2, 3, 5, 4) gives S of shape (2, 3, 5, 5)."""
    X = np.random.default_rng(60).normal(size=(2, 3, 5, 4))  # (2, 3, T, M)
    return {"X": X.copy(), "S": student.self_similarity(X)}


@batch_dimensions.verify
def _(got, ref):
    check_similarity(got["X"], got["S"])


# --------------------------------------------------------------------------- #
# causal_mask
# --------------------------------------------------------------------------- #


@suite.case("causal_mask", points=1, hint="torch.tril(torch.ones(T, T, dtype=torch.bool)): True on and below the diagonal.")
def mask_of_four(student):
    """causal_mask(4) is the (4, 4) bool lower triangle, diagonal included."""
    return student.causal_mask(4)


@mask_of_four.verify
def _(got, ref):
    check_mask(got, 4, "causal_mask(4)")


@suite.case("causal_mask", points=1, hint="build the mask from T alone (torch.tril of a (T, T) tensor of ones) and return dtype torch.bool.")
def several_sizes(student):
    """causal_mask(T) for T = 1, 2 and 7."""
    return {T: student.causal_mask(T) for T in (1, 2, 7)}


@several_sizes.verify
def _(got, ref):
    for T in (1, 2, 7):
        check_mask(got[T], T, f"causal_mask({T})")


# --------------------------------------------------------------------------- #
# scaled_dot_product_attention
# --------------------------------------------------------------------------- #


@suite.case(
    "scaled_dot_product_attention",
    points=2,
    hint="S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1]); if causal: S = S.masked_fill(~causal_mask(T), float('-inf')); "
    "weights = torch.softmax(S, dim=-1); out = weights @ V.",
)
def matches_torch_sdpa(student):
    """Batch and head dims (2, 3, T=5, d=4), causal and not: equal to torch.nn.functional.scaled_dot_product_attention."""
    Q, K, V = random_qkv(61, (2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4))
    student.note("Q, K, V: seeded float64 tensors of shape (2, 3, 5, 4)")
    out_n, w_n = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=False)
    out_c, w_c = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=True)
    return {"Q": Q, "K": K, "V": V, "out causal=False": out_n, "weights causal=False": w_n,
            "out causal=True": out_c, "weights causal=True": w_c}


@matches_torch_sdpa.verify
def _(got, ref):
    for causal in (False, True):
        key = f"causal={causal}"
        check_attention(got[f"out {key}"], got[f"weights {key}"], got["Q"], got["K"], got["V"], causal, key)


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="mask BEFORE the softmax: S.masked_fill(~mask, float('-inf')) gives exp(-inf) = 0 exactly, and the softmax of each row still sums to 1.",
)
def masked_weights_exactly_zero(student):
    """causal=True on (4, 6, 3) float32 inputs with spread-out scores: future weights exactly 0, rows sum to 1."""
    Q, K, V = random_qkv(62, (4, 6, 3), (4, 6, 3), (4, 6, 3), scale=2.5, dtype=None)
    Q, K, V = Q.float(), K.float(), V.float()  # (4, 6, 3) each
    student.note("Q, K, V: seeded float32 tensors of shape (4, 6, 3)")
    out, weights = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=True)
    return {"Q": Q, "K": K, "V": V, "out": out, "weights": weights}


@masked_weights_exactly_zero.verify
def _(got, ref):
    check_attention(got["out"], got["weights"], got["Q"], got["K"], got["V"], True, "causal=True")


# --------------------------------------------------------------------------- #
# AttentionHead
# --------------------------------------------------------------------------- #


@suite.case(
    "AttentionHead",
    points=1,
    hint="in __init__: self.query = nn.Linear(d_model, d_head, bias=False), and the same for self.key and self.value.",
)
def attributes(student):
    """AttentionHead(4, 3) has query, key, value = nn.Linear(4, 3, bias=False) (weights (3, 4)) and no other parameters."""
    return head_facts(student.AttentionHead(4, 3), 4, 3)


@attributes.verify
def _(got, ref):
    check_head_facts(got)


@suite.case(
    "AttentionHead",
    points=2,
    hint="forward: Q, K, V = self.query(x), self.key(x), self.value(x); out, weights = scaled_dot_product_attention(Q, K, V, causal=causal); "
    "self.last_weights = weights.detach(); return out.",
)
def forward_matches_independent_computation(student):
    """AttentionHead(4, 3) with seeded weights on x of shape (2, 5, 4): head(x) (causal by default) and head(x, causal=False)."""
    import torch

    head = student.AttentionHead(4, 3)
    params = set_parameters_by_name(head, 63)
    x = torch.tensor(np.random.default_rng(64).normal(size=(2, 5, 4)), dtype=torch.float32)  # (B, T, d_model)
    student.note("head = AttentionHead(4, 3) with query/key/value weights set from a seeded generator; x: (2, 5, 4)")
    with torch.no_grad():
        out_c = head(x.clone())  # (2, 5, 3)
        lw_c = getattr(head, "last_weights", None)
        out_n = head(x.clone(), causal=False)  # (2, 5, 3)
        lw_n = getattr(head, "last_weights", None)
    return {"x": x, **{k: params.get(k) for k in ("query.weight", "key.weight", "value.weight")}, "parameter names": sorted(params),
            "out causal (default)": out_c, "last_weights causal (default)": lw_c,
            "out causal=False": out_n, "last_weights causal=False": lw_n}


def check_head_parameters(got: dict) -> None:
    expected = ["key.weight", "query.weight", "value.weight"]
    if got["parameter names"] != expected:
        raise AssertionError(
            f"the head's parameters should be exactly {expected} (three nn.Linear(d_model, d_head, bias=False) named query, key, value), "
            f"got {got['parameter names']}."
        )


@forward_matches_independent_computation.verify
def _(got, ref):
    check_head_parameters(got)
    check_head_output(got, [("causal (default)", True), ("causal=False", False)])


# --------------------------------------------------------------------------- #
# MultiHeadAttention
# --------------------------------------------------------------------------- #


@suite.case(
    "MultiHeadAttention",
    points=1,
    hint="self.heads = nn.ModuleList([AttentionHead(d_model, d_head) for _ in range(n_heads)]); self.proj = nn.Linear(n_heads * d_head, d_model).",
)
def structure(student):
    """MultiHeadAttention(8, 3, 4): heads is an nn.ModuleList of 3 AttentionHead(8, 4); proj = nn.Linear(12, 8) with bias."""
    import torch

    mha = student.MultiHeadAttention(8, 3, 4)
    head_cls = student.get("AttentionHead")
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
    if got["heads type"] != "ModuleList":
        raise AssertionError(
            f"`heads` should be an nn.ModuleList (a plain list hides the heads' parameters from PyTorch), got {got['heads type']}."
        )
    if got["number of heads"] != 3:
        raise AssertionError(f"`heads` should hold n_heads = 3 heads, got {got['number of heads']}.")
    if not got["heads are AttentionHead"]:
        raise AssertionError("every element of `heads` should be an AttentionHead(d_model, d_head) (your class from above).")
    if got["proj type"] != "Linear":
        raise AssertionError(f"`proj` should be nn.Linear(n_heads * d_head, d_model) = nn.Linear(12, 8), got {got['proj type']}.")
    if got["proj weight shape"] != [8, 12]:
        raise AssertionError(f"`proj.weight` should have shape (8, 12): nn.Linear(n_heads * d_head = 12, d_model = 8); got {got['proj weight shape']}.")
    if got["proj bias shape"] != [8]:
        raise AssertionError("`proj` should have a bias of shape (8,): nn.Linear(12, 8) (bias=True, the default).")
    check_mha_names(got["parameter names"], 3)


@suite.case(
    "MultiHeadAttention",
    points=2,
    hint="forward: outs = [head(x, causal=causal) for head in self.heads]; return self.proj(torch.cat(outs, dim=-1)).",
)
def forward_with_parameters_set_by_name(student):
    """MultiHeadAttention(6, 2, 3), every parameter set by name from a seeded generator; x of shape (2, 5, 6), causal and not."""
    import torch

    mha = student.MultiHeadAttention(6, 2, 3)
    params = set_parameters_by_name(mha, 65)
    x = torch.tensor(np.random.default_rng(66).normal(size=(2, 5, 6)), dtype=torch.float32)  # (B, T, d_model)
    student.note("mha = MultiHeadAttention(6, 2, 3), parameters set in sorted name order from a seeded generator; x: (2, 5, 6)")
    with torch.no_grad():
        out_c = mha(x.clone())  # (2, 5, 6)
        out_n = mha(x.clone(), causal=False)  # (2, 5, 6)
    return {"x": x, "n_heads": 2, "parameters": params, "out causal (default)": out_c, "out causal=False": out_n}


@forward_with_parameters_set_by_name.verify
def _(got, ref):
    check_mha_output(got, [("causal (default)", True), ("causal=False", False)])
    assert_matches({k: got[k] for k in ("out causal (default)", "out causal=False")},
                   {k: ref[k] for k in ("out causal (default)", "out causal=False")})
