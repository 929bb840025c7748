"""Hidden tests of notebook 06 (attention): grader only.

Other seeds and shapes, edge cases and invariants: attention is permutation-equivariant
without positions and mask, cross-attention shapes (T_q != T_k, d_v != d_k), huge scores,
heads with d_head != d_model, detached last_weights, gradients against autograd of an
independent computation, and the pico sizes (d_model = 2, three heads of size 2).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.nb06 import (
    check_attention,
    check_head_output,
    check_head_parameters,
    check_mask,
    check_mha_names,
    check_mha_output,
    check_similarity,
    expect_array,
    expect_tensor,
    random_qkv,
    reference_head,
    reference_mha,
    set_parameters_by_name,
)

suite = Suite("06", visibility="hidden")


# --------------------------------------------------------------------------- #
# self_similarity
# --------------------------------------------------------------------------- #


@suite.case(
    "self_similarity",
    points=1,
    hint="convert first with np.asarray(X, dtype=float); then X @ np.swapaxes(X, -1, -2).",
)
def list_input_invariants(student):
    """A plain list of 7 vectors of size 3: S is a numpy float (7, 7) array, symmetric, diagonal = squared lengths."""
    X = np.random.default_rng(600).normal(size=(7, 3))  # (7, 3)
    S = student.self_similarity([[float(v) for v in row] for row in X])
    return {"X": X, "S": S}


@list_input_invariants.verify
def _(got, ref):
    S = expect_array(got["S"], "S", (7, 7))
    lengths = (got["X"] ** 2).sum(axis=1)  # (7,)
    if not np.allclose(np.diag(S), lengths, rtol=1e-6):
        raise AssertionError(f"the diagonal of S should be the squared lengths |x_t|^2 = {describe(lengths)}, got {describe(np.diag(S))}.")
    check_similarity(got["X"], S)


@suite.case("self_similarity", points=1, hint="nothing special for one token or one dimension: S = X X^T still works; do not change X in place.")
def edge_shapes_input_unchanged(student):
    """One token (1, 5) gives [[|x|^2]]; one dimension (4, 1) gives the outer product; X is not modified."""
    rng = np.random.default_rng(601)
    X1, X2 = rng.normal(size=(1, 5)), rng.normal(size=(4, 1))  # (1, 5), (4, 1)
    c1, c2 = X1.copy(), X2.copy()
    S1, S2 = student.self_similarity(c1), student.self_similarity(c2)
    return {"X1": X1, "X2": X2, "S1": S1, "S2": S2, "unchanged": bool(np.array_equal(c1, X1) and np.array_equal(c2, X2))}


@edge_shapes_input_unchanged.verify
def _(got, ref):
    if not got["unchanged"]:
        raise AssertionError("self_similarity changed the X it was given; compute S without modifying X.")
    check_similarity(got["X1"], got["S1"], "S for X of shape (1, 5)")
    check_similarity(got["X2"], got["S2"], "S for X of shape (4, 1)")


# --------------------------------------------------------------------------- #
# causal_mask
# --------------------------------------------------------------------------- #


@suite.case("causal_mask", points=1, hint="row t of the mask has t + 1 True entries (keys 0 .. t): torch.tril(torch.ones(T, T, dtype=torch.bool)).")
def long_sequence(student):
    """causal_mask(33): row t has exactly t + 1 True entries, the first t + 1."""
    return student.causal_mask(33)


@long_sequence.verify
def _(got, ref):
    check_mask(got, 33, "causal_mask(33)")


# --------------------------------------------------------------------------- #
# scaled_dot_product_attention
# --------------------------------------------------------------------------- #


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="use only matrix products, the transpose of the last two axes and a softmax over the last axis: nothing that depends on where a token stands.",
)
def permuting_tokens_permutes_outputs(student):
    """Without a mask, shuffling the tokens (rows of Q, K, V; shape (2, 7, 3)) shuffles out's rows and weights' rows and columns alike."""
    Q, K, V = random_qkv(602, (2, 7, 3), (2, 7, 3), (2, 7, 3))
    perm = np.random.default_rng(603).permutation(7)
    p = list(int(i) for i in perm)
    out, w = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=False)
    student.note(f"and again with the tokens permuted by {p}: Q[:, perm], K[:, perm], V[:, perm]")
    out_p, w_p = student.scaled_dot_product_attention(Q[:, p].clone(), K[:, p].clone(), V[:, p].clone(), causal=False)
    return {"Q": Q, "K": K, "V": V, "perm": p, "out": out, "weights": w, "out permuted": out_p, "weights permuted": w_p}


@permuting_tokens_permutes_outputs.verify
def _(got, ref):
    import torch

    check_attention(got["out"], got["weights"], got["Q"], got["K"], got["V"], False, "causal=False")
    p = got["perm"]
    out_p = expect_tensor(got["out permuted"], "`out` for the permuted tokens", tuple(got["out"].shape))
    w_p = expect_tensor(got["weights permuted"], "`weights` for the permuted tokens", tuple(got["weights"].shape))
    if not torch.allclose(out_p.double(), got["out"].double()[:, p], rtol=1e-5, atol=1e-7):
        raise AssertionError(f"permuting the tokens by {p} should permute the output rows the same way: out_perm = out[:, perm].")
    if not torch.allclose(w_p.double(), got["weights"].double()[:, p][:, :, p], rtol=1e-5, atol=1e-7):
        raise AssertionError(f"permuting the tokens by {p} should permute the rows and columns of the weights: weights_perm = weights[:, perm][:, :, perm].")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="d_k = Q.shape[-1] (the size of a query and a key, not of a value); T_q and T_k may differ: S is (T_q, T_k); causal defaults to False.",
)
def cross_shapes_no_batch(student):
    """No batch dims, T_q = 3 queries, T_k = 5 keys, d_k = 4, d_v = 6, default causal: out (3, 6), weights (3, 5)."""
    Q, K, V = random_qkv(604, (3, 4), (5, 4), (5, 6))
    out, weights = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone())
    return {"Q": Q, "K": K, "V": V, "out": out, "weights": weights}


@cross_shapes_no_batch.verify
def _(got, ref):
    check_attention(got["out"], got["weights"], got["Q"], got["K"], got["V"], False, "Q (3, 4), K (5, 4), V (5, 6)")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="torch.softmax is stable at any score; a hand-written exp(S) overflows at large scores. Mask with float('-inf'), not a finite number like -1e4.",
)
def huge_scores_stay_finite(student):
    """Scores near +-1e5 ((1, 5, 2) inputs): weights finite, exact 0 in the masked part, equal to the reference."""
    Q, K, V = random_qkv(605, (1, 5, 2), (1, 5, 2), (1, 5, 2))
    Q = Q * 9e4  # (1, 5, 2): scores of size ~1e5
    out_c, w_c = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=True)
    out_n, w_n = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=False)
    return {"Q": Q, "K": K, "V": V, "out causal=True": out_c, "weights causal=True": w_c,
            "out causal=False": out_n, "weights causal=False": w_n}


@huge_scores_stay_finite.verify
def _(got, ref):
    for causal in (True, False):
        key = f"causal={causal}"
        check_attention(got[f"out {key}"], got[f"weights {key}"], got["Q"], got["K"], got["V"], causal, key)


# --------------------------------------------------------------------------- #
# AttentionHead
# --------------------------------------------------------------------------- #


@suite.case(
    "AttentionHead",
    points=1,
    hint="d_head need not equal d_model: the three layers map d_model -> d_head, and the scale is sqrt(d_head).",
)
def wider_head_than_model(student):
    """AttentionHead(2, 5) (d_head > d_model) with seeded weights on x of shape (3, 6, 2), causal by default."""
    import torch

    head = student.AttentionHead(2, 5)
    params = set_parameters_by_name(head, 606)
    x = torch.tensor(np.random.default_rng(607).normal(size=(3, 6, 2)), dtype=torch.float32)  # (B, T, d_model)
    student.note("head = AttentionHead(2, 5), weights set from a seeded generator; x: (3, 6, 2)")
    with torch.no_grad():
        out = head(x.clone())  # (3, 6, 5)
    return {"x": x, **{k: params.get(k) for k in ("query.weight", "key.weight", "value.weight")}, "parameter names": sorted(params),
            "out causal (default)": out, "last_weights causal (default)": getattr(head, "last_weights", None)}


@wider_head_than_model.verify
def _(got, ref):
    check_head_parameters(got)
    check_head_output(got, [("causal (default)", True)])


@suite.case(
    "AttentionHead",
    points=1,
    hint="self.last_weights = weights.detach() at every forward call (detach: no autograd graph is kept for plotting).",
)
def last_weights_detached_and_latest(student):
    """With autograd on: after head(x) on T = 4 then T = 6, last_weights is the latest (B, 6, 6), causal, detached."""
    import torch

    head = student.AttentionHead(3, 2)
    set_parameters_by_name(head, 608)
    rng = np.random.default_rng(609)
    x4 = torch.tensor(rng.normal(size=(2, 4, 3)), dtype=torch.float32)  # (2, 4, 3)
    x6 = torch.tensor(rng.normal(size=(2, 6, 3)), dtype=torch.float32)  # (2, 6, 3)
    student.note("head = AttentionHead(3, 2); head(x) with x: (2, 4, 3), then with x: (2, 6, 3) (autograd on)")
    head(x4)
    head(x6)
    lw = getattr(head, "last_weights", None)
    return {"last_weights": lw,
            "requires_grad": bool(getattr(lw, "requires_grad", False)), "has grad_fn": getattr(lw, "grad_fn", None) is not None}


@last_weights_detached_and_latest.verify
def _(got, ref):
    import torch

    if got["last_weights"] is None:
        raise AssertionError("head.last_weights is None after a forward call: store self.last_weights = weights.detach().")
    lw = expect_tensor(got["last_weights"], "head.last_weights after the second call", (2, 6, 6))
    if got["requires_grad"] or got["has grad_fn"]:
        raise AssertionError("head.last_weights is still attached to the autograd graph: store weights.detach().")
    if (lw.double().triu(1) != 0).any():
        raise AssertionError("head.last_weights: weights above the diagonal must be exactly 0 (causal=True is the default).")
    sums = lw.double().sum(-1)  # (2, 6)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
        raise AssertionError(f"head.last_weights: every row should sum to 1, got {describe(sums)}.")


@suite.case(
    "AttentionHead",
    points=1,
    hint="keep forward in torch (no .detach() or .numpy() on Q, K, V or the output) so gradients reach query, key and value.",
)
def gradients_reach_all_three_weights(student):
    """Backpropagating sum(c * head(x)) gives query/key/value weight gradients equal to autograd of an independent computation."""
    import torch

    head = student.AttentionHead(4, 2)
    params = set_parameters_by_name(head, 610)
    rng = np.random.default_rng(611)
    x = torch.tensor(rng.normal(size=(2, 5, 4)), dtype=torch.float32)  # (2, 5, 4)
    c = torch.tensor(rng.normal(size=(2, 5, 2)), dtype=torch.float32)  # (2, 5, 2)
    student.note("loss = (c * head(x)).sum(); loss.backward() with head = AttentionHead(4, 2), x: (2, 5, 4)")
    (c * head(x)).sum().backward()
    grads = {}
    for name in ("query", "key", "value"):
        w = getattr(getattr(head, name, None), "weight", None)
        grads[name] = None if w is None or w.grad is None else w.grad.clone()
    return {"x": x, "c": c, **{k: params.get(k) for k in ("query.weight", "key.weight", "value.weight")},
            "parameter names": sorted(params), "grads": grads}


@gradients_reach_all_three_weights.verify
def _(got, ref):
    check_head_parameters(got)
    Ws = [got[k].double().requires_grad_() for k in ("query.weight", "key.weight", "value.weight")]
    out, _ = reference_head(got["x"], *Ws, causal=True)  # (2, 5, 2)
    (got["c"].double() * out).sum().backward()
    for name, W in zip(("query", "key", "value"), Ws):
        g = got["grads"][name]
        if g is None:
            raise AssertionError(f"no gradient reached `{name}.weight`: forward must stay differentiable (no detach/numpy before the output).")
        assert_matches(g.double(), W.grad, f"{name}.weight.grad", rtol=1e-4)


# --------------------------------------------------------------------------- #
# MultiHeadAttention
# --------------------------------------------------------------------------- #


@suite.case(
    "MultiHeadAttention",
    points=1,
    hint="d_head is independent of d_model: proj maps n_heads * d_head = 6 back to d_model = 2.",
)
def pico_sizes(student):
    """The pico sizes: MultiHeadAttention(2, 3, 2) with parameters set by name; x of shape (2, 7, 2), causal by default."""
    import torch

    mha = student.MultiHeadAttention(2, 3, 2)
    params = set_parameters_by_name(mha, 612)
    x = torch.tensor(np.random.default_rng(613).normal(size=(2, 7, 2)), dtype=torch.float32)  # (2, 7, 2)
    student.note("mha = MultiHeadAttention(2, 3, 2), parameters set in sorted name order from a seeded generator; x: (2, 7, 2)")
    with torch.no_grad():
        out = mha(x.clone())  # (2, 7, 2)
    return {"x": x, "n_heads": 3, "parameters": params, "out causal (default)": out}


@pico_sizes.verify
def _(got, ref):
    params = got["parameters"]
    check_mha_names(sorted(params), 3)
    if list(params["proj.weight"].shape) != [2, 6]:
        raise AssertionError(f"`proj.weight` should have shape (2, 6) for d_model = 2, n_heads * d_head = 6; got {list(params['proj.weight'].shape)}.")
    check_mha_output(got, [("causal (default)", True)])
    assert_matches(got["out causal (default)"], ref["out causal (default)"], "out")


@suite.case(
    "MultiHeadAttention",
    points=1,
    hint="call every head on the same x (head(x, causal=causal)); keep them in nn.ModuleList so all parameters train.",
)
def every_head_used_and_trained(student):
    """MultiHeadAttention(4, 3, 2): every head keeps its (B, T, T) weights and every parameter gets the autograd gradient."""
    import torch

    mha = student.MultiHeadAttention(4, 3, 2)
    params = set_parameters_by_name(mha, 614)
    rng = np.random.default_rng(615)
    x = torch.tensor(rng.normal(size=(2, 5, 4)), dtype=torch.float32)  # (2, 5, 4)
    c = torch.tensor(rng.normal(size=(2, 5, 4)), dtype=torch.float32)  # (2, 5, 4)
    student.note("loss = (c * mha(x)).sum(); loss.backward() with mha = MultiHeadAttention(4, 3, 2), x: (2, 5, 4)")
    (c * mha(x)).sum().backward()
    grads = {name: (None if p.grad is None else p.grad.clone()) for name, p in mha.named_parameters()}
    shapes = [list(h.last_weights.shape) if getattr(h, "last_weights", None) is not None else None for h in getattr(mha, "heads", [])]
    return {"x": x, "c": c, "n_heads": 3, "parameters": params, "grads": grads, "last_weights shapes": shapes}


@every_head_used_and_trained.verify
def _(got, ref):
    check_mha_names(sorted(got["parameters"]), 3)
    shapes = got["last_weights shapes"]
    if shapes != [[2, 5, 5]] * 3:
        raise AssertionError(f"after mha(x) with x: (2, 5, 4), each of the 3 heads should keep last_weights of shape (2, 5, 5); got {shapes}.")
    leaves = {k: v.double().requires_grad_() for k, v in got["parameters"].items()}
    out = reference_mha(got["x"], leaves, 3, causal=True)  # (2, 5, 4)
    (got["c"].double() * out).sum().backward()
    for name, leaf in sorted(leaves.items()):
        g = got["grads"].get(name)
        if g is None:
            raise AssertionError(f"no gradient reached `{name}`: every head and proj must be used in forward (and stay differentiable).")
        assert_matches(g.double(), leaf.grad, f"gradient of {name}", rtol=1e-4)
