"""Hidden tests of notebook 06 (attention): grader only.

Other seeds and shapes, edge cases and invariants: attention is permutation-equivariant
without positions and mask, cross-attention shapes (T_q != T_k, d_v != d_k), huge scores,
heads with d_head != d_model, detached last_weights, gradients against autograd of an
independent computation, and the pico sizes (d_model = 2, three heads of size 2).

Independent references (trusted side only, never in the sandbox): attention as an explicit
masked softmax and torch's F.scaled_dot_product_attention, a head and multi-head attention
recomputed from the parameters the probe set, the mask as torch.tril. Every verify reads its
inputs from ``ref`` (the solution's run of the same probe), never from the student's side.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.checking import Suite, assert_matches
from helpers.selfcheck.doubles import SAME_ALONE_HINT
from helpers.selfcheck.nb06 import (
    TOL,
    attention_probe,
    attention_under_head_probe,
    check_attention_run,
    check_attention_under_head,
    check_causal_structure,
    check_head_parameters,
    check_head_run,
    check_heads_under_multi_head,
    check_mask_under_attention,
    check_mha_names,
    check_mha_run,
    check_similarity,
    expect_tensor,
    head_probe,
    heads_under_multi_head_probe,
    mask_under_attention_probe,
    mha_probe,
    random_qkv,
    set_parameters_by_name,
)

suite = Suite("06", visibility="hidden")


# --------------------------------------------------------------------------- #
# Independent references (trusted side)
# --------------------------------------------------------------------------- #


def tril_mask(T: int):
    import torch

    return torch.tril(torch.ones(T, T, dtype=torch.bool))  # (T, T)


def reference_attention(Q, K, V, causal: bool, mask=None):
    """(out, weights) in float64 by an explicit masked softmax of Q K^T / sqrt(d_k); ``mask`` overrides the causal mask."""
    import torch
    import torch.nn.functional as F

    Q, K, V = Q.double(), K.double(), V.double()  # (..., T_q, d_k), (..., T_k, d_k), (..., T_k, d_v)
    S = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])  # (..., T_q, T_k)
    if causal:
        allowed = tril_mask(S.shape[-1]) if mask is None else mask
        S = S.masked_fill(~allowed, float("-inf"))  # (..., T, T)
    weights = torch.softmax(S, dim=-1)  # (..., T_q, T_k)
    out = weights @ V  # (..., T_q, d_v)
    if mask is None and not torch.isnan(out).any():
        assert torch.allclose(out, F.scaled_dot_product_attention(Q, K, V, is_causal=causal), rtol=1e-6, atol=1e-8)
    return out, weights


def diagnose_weights(weights, Q, K, V, causal: bool) -> str:
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
        (softmax(raw), "the scores were not scaled: the lecture divides them by the square root of d_k."),
        (softmax(raw / d_k), "the scores were divided by d_k itself; the scale is its square root."),
        (softmax(raw / math.sqrt(d_k), dim=-2), "the softmax ran over the queries: each ROW (over the keys) must sum to 1."),
    ]
    if d_v != d_k:
        candidates.append((softmax(raw / math.sqrt(d_v)), "the scale used d_v; it is the size of a query and a key, d_k."))
    if mask is not None:
        upper = torch.softmax((raw / math.sqrt(d_k)).masked_fill(~mask.T, float("-inf")), dim=-1)
        candidates.append((upper, "the mask is transposed: query t may attend to keys s <= t (lower triangle)."))
        after = softmax(raw / math.sqrt(d_k), masked=False) * mask
        candidates.append((after, "the weights were masked AFTER the softmax: mask the scores before it, so rows still sum to 1."))
        candidates.append((softmax(raw / math.sqrt(d_k), masked=False), "no causal mask was applied although causal=True."))
    for cand, message in candidates:
        if cand.shape == w.shape and torch.allclose(cand, w, rtol=1e-4, atol=1e-6):
            return message
    return ""


def student_mask(got: dict, key: str, T: int):
    """The (T, T) bool mask the student's own causal_mask returned in the watched run, or None."""
    import torch

    for call in got.get(f"masks {key}") or []:
        m = call.get("result")
        if isinstance(m, torch.Tensor) and m.dtype == torch.bool and tuple(m.shape) == (T, T):
            return m
    return None


def attention_mask_check(got: dict, ref: dict, key: str) -> bool:
    """True when the student's attention equals the reference computed with the mask the student's causal_mask gave."""
    Q, K, V = ref["Q"], ref["K"], ref["V"]
    mask = student_mask(got, key, K.shape[-2])
    if mask is None:
        return False
    out, weights = reference_attention(Q, K, V, True, mask)
    try:
        expect_tensor(got[f"out {key}"], "out", tuple(out.shape))
        expect_tensor(got[f"weights {key}"], "weights", tuple(weights.shape))
    except AssertionError:
        return False
    return bool(np.allclose(got[f"weights {key}"].double().numpy(), weights.numpy(), equal_nan=True, **TOL)
                and np.allclose(got[f"out {key}"].double().numpy(), out.numpy(), equal_nan=True, **TOL))


def check_attention_hidden(got: dict, ref: dict, causal: bool, what: str) -> None:
    """The public check (against the solution, or given the student's causal_mask), then the independent reference."""
    key = f"causal={causal}"
    Q, K, V = ref["Q"], ref["K"], ref["V"]
    try:
        check_attention_run(got, ref, causal, what, mask_check=attention_mask_check)
    except AssertionError as exc:
        weights = got.get(f"weights {key}")
        hint = diagnose_weights(weights, Q, K, V, causal) if hasattr(weights, "double") and "causal_mask" not in str(exc) else ""
        raise AssertionError(f"{exc}" + (f"\n  diagnosis: {hint}" if hint else "")) from None
    mine = got.get(f"weights {key}")
    if hasattr(mine, "double") and tuple(mine.shape) == tuple(ref[f"weights {key}"].shape) and np.allclose(
        mine.double().numpy(), ref[f"weights {key}"].double().numpy(), **TOL
    ):  # equal to the solution: then equal to the independent reference too
        out, weights = reference_attention(Q, K, V, causal)
        assert_matches(mine.double(), weights, f"weights ({what})", **TOL)
        assert_matches(got[f"out {key}"].double(), out, f"out ({what})", **TOL)


def reference_head(x, Wq, Wk, Wv, causal: bool):
    """One head computed from its weights (nn.Linear convention: x @ W.T)."""
    x = x.double()  # (B, T, d_model)
    return reference_attention(x @ Wq.double().T, x @ Wk.double().T, x @ Wv.double().T, causal)  # (B, T, d_head), (B, T, T)


# --------------------------------------------------------------------------- #
# self_similarity
# --------------------------------------------------------------------------- #


@suite.case("self_similarity", points=1, hint="nothing special for one token or one dimension; compute S without writing into X.")
def edge_shapes_input_unchanged(student):
    """One token (1, 5) gives [[|x|^2]]; one dimension (4, 1) gives the outer product; X is not modified."""
    rng = np.random.default_rng(student.seed(601))
    X1, X2 = rng.normal(size=(1, 5)), rng.normal(size=(4, 1))  # (1, 5), (4, 1)
    c1, c2 = X1.copy(), X2.copy()
    S1, S2 = student.self_similarity(c1), student.self_similarity(c2)
    return {"X1": X1, "X2": X2, "S1": S1, "S2": S2, "unchanged": bool(np.array_equal(c1, X1) and np.array_equal(c2, X2))}


@edge_shapes_input_unchanged.verify
def _(got, ref):
    if got["unchanged"] is not True:
        raise AssertionError("self_similarity changed the X it was given; compute S without modifying X.")
    for k in ("1", "2"):
        X = ref[f"X{k}"]
        check_similarity(got[f"S{k}"], X, X @ X.T, f"S for X of shape {X.shape}")
        check_similarity(got[f"S{k}"], X, ref[f"S{k}"], f"S for X of shape {X.shape}")


# --------------------------------------------------------------------------- #
# causal_mask
# --------------------------------------------------------------------------- #


@suite.case("causal_mask", points=1, hint="a token never attends to a later token, for any T: nothing above the diagonal, and the same rule for every row.")
def long_sequence(student):
    """causal_mask(33) never lets a query see a later key, with the same rule along every diagonal (tolerant: the diagonal itself is judged by the public cases)."""
    return student.causal_mask(33)


@long_sequence.verify
def _(got, ref):
    check_causal_structure(got, 33, "causal_mask(33)")
    check_causal_structure(ref, 33, "the reference (grader error if this fails)")


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
    Q, K, V = random_qkv(student.seed(602), (2, 7, 3), (2, 7, 3), (2, 7, 3))
    p = [int(i) for i in np.random.default_rng(student.seed(603)).permutation(7)]
    out, w = student.scaled_dot_product_attention(Q.clone(), K.clone(), V.clone(), causal=False)
    student.note(f"and again with the tokens permuted by {p}: Q[:, perm], K[:, perm], V[:, perm]")
    out_p, w_p = student.scaled_dot_product_attention(Q[:, p].clone(), K[:, p].clone(), V[:, p].clone(), causal=False)
    return {"Q": Q, "K": K, "V": V, "perm": p, "out causal=False": out, "weights causal=False": w, "out permuted": out_p, "weights permuted": w_p}


@permuting_tokens_permutes_outputs.verify
def _(got, ref):
    import torch

    check_attention_hidden(got, ref, False, "causal=False")
    p = ref["perm"]
    out, w = got["out causal=False"], got["weights causal=False"]
    out_p = expect_tensor(got["out permuted"], "`out` for the permuted tokens", tuple(ref["out permuted"].shape))
    w_p = expect_tensor(got["weights permuted"], "`weights` for the permuted tokens", tuple(ref["weights permuted"].shape))
    if not torch.allclose(out_p.double(), out.double()[:, p], rtol=1e-5, atol=1e-7):
        raise AssertionError(f"permuting the tokens by {p} should permute the output rows the same way.")
    if not torch.allclose(w_p.double(), w.double()[:, p][:, :, p], rtol=1e-5, atol=1e-7):
        raise AssertionError(f"permuting the tokens by {p} should permute the rows and the columns of the weights the same way.")


@suite.case(
    "scaled_dot_product_attention",
    points=1,
    hint="a softmax that subtracts each row's maximum stays finite at any score, and masked weights must come out exactly 0.",
)
def huge_scores_stay_finite(student):
    """Scores near +-1e5 ((1, 5, 2) inputs): weights finite, exact 0 in the masked part, equal to the reference."""
    Q, K, V = random_qkv(student.seed(605), (1, 5, 2), (1, 5, 2), (1, 5, 2))
    return attention_probe(student, Q * 9e4, K, V, student.seed(625))


@huge_scores_stay_finite.verify
def _(got, ref):
    for causal in (True, False):
        check_attention_hidden(got, ref, causal, f"causal={causal}")


# --------------------------------------------------------------------------- #
# AttentionHead
# --------------------------------------------------------------------------- #


def check_head_hidden(got: dict, ref: dict, key: str, causal: bool) -> None:
    """The public check, then the independent reference when the student's attention function is right."""
    check_head_run(got, ref, key, causal)
    names = ("query.weight", "key.weight", "value.weight")
    params = ref["parameters"]
    out, weights = reference_head(ref["x"], *(params[n] for n in names), causal)
    mine = got.get(f"out {key}")
    if hasattr(mine, "double") and tuple(mine.shape) == tuple(out.shape) and np.allclose(got[f"out {key}"].double().numpy(), ref[f"out {key}"].double().numpy(), **TOL):
        assert_matches(got[f"out {key}"].double(), out, f"out ({key})", **TOL)
        assert_matches(got[f"last_weights {key}"].double(), weights, f"last_weights ({key})", **TOL)


@suite.case("AttentionHead", points=1, hint="d_head need not equal d_model: the three layers map d_model to d_head, and the scale follows d_head.")
def wider_head_than_model(student):
    """AttentionHead(2, 5) (d_head > d_model) with seeded weights on x of shape (3, 6, 2), causal by default."""
    return head_probe(student, 2, 5, (3, 6, 2), student.seed(606), student.seed(607), student.seed(626), flags=(("causal (default)", None),))


@wider_head_than_model.verify
def _(got, ref):
    check_head_parameters(got, ref)
    check_head_hidden(got, ref, "causal (default)", True)


@suite.case("AttentionHead", points=1, hint="store the weights of every forward call in last_weights, detached (no autograd graph is kept for plotting).")
def last_weights_detached_and_latest(student):
    """With autograd on: after head(x) on T = 4 then T = 6, last_weights is the latest (B, 6, 6) and detached."""
    import torch

    from helpers.selfcheck.doubles import run_watched
    from helpers.selfcheck.nb06 import attention_stand_in

    head = student.AttentionHead(3, 2)
    set_parameters_by_name(head, student.seed(608))
    rng = np.random.default_rng(student.seed(609))
    x4 = torch.tensor(rng.normal(size=(2, 4, 3)), dtype=torch.float32)  # (2, 4, 3)
    x6 = torch.tensor(rng.normal(size=(2, 6, 3)), dtype=torch.float32)  # (2, 6, 3)
    student.note("head = AttentionHead(3, 2); head(x) with x: (2, 4, 3), then with x: (2, 6, 3) (autograd on)")
    out = {}
    for mode, stand_in in (("", None), ("stand-in ", attention_stand_in(student.seed(628)))):
        head.last_weights = None
        try:
            run = run_watched(student, "AttentionHead", "scaled_dot_product_attention", lambda: (head(x4), head(x6)), stand_in)
        except Exception:
            if stand_in is None:
                raise
            continue
        lw = getattr(head, "last_weights", None) if not run["error"] else None
        out[f"{mode}last_weights"] = lw
        out[f"{mode}requires_grad"] = bool(getattr(lw, "requires_grad", False))
        out[f"{mode}has grad_fn"] = getattr(lw, "grad_fn", None) is not None
    return out


@last_weights_detached_and_latest.verify
def _(got, ref):
    def facts(prefix: str) -> None:
        if got.get(f"{prefix}last_weights") is None:
            raise AssertionError("head.last_weights is None after a forward call: keep the weights of the last call there, detached.")
        expect_tensor(got[f"{prefix}last_weights"], "head.last_weights after the second call", tuple(ref[f"{prefix}last_weights"].shape))
        if got.get(f"{prefix}requires_grad") is not False or got.get(f"{prefix}has grad_fn") is not False:
            raise AssertionError("head.last_weights is still attached to the autograd graph: detach the weights before keeping them.")

    try:
        facts("")
    except AssertionError:
        if "stand-in last_weights" not in ref:
            raise
        facts("stand-in ")  # right given its attention function: the mistake is scaled_dot_product_attention's


def gradient_probe(student, build, x_shape, c_shape, seed_params, seed_x, watch, stand_in):
    """Backpropagate sum(c * model(x)) twice: with the student's own callee watched, and with a differentiable stand-in.

    watch(model) / stand_in(model): context managers yielding a list that fills when the callee is called.
    """
    out = {}
    for mode, manager in (("", watch), ("stand-in ", stand_in)):
        import torch

        model = build()
        params = set_parameters_by_name(model, seed_params)
        rng = np.random.default_rng(seed_x)
        x = torch.tensor(rng.normal(size=x_shape), dtype=torch.float32)
        c = torch.tensor(rng.normal(size=c_shape), dtype=torch.float32)
        with manager(model) as calls:
            try:
                (c * model(x)).sum().backward()
            except Exception as exc:
                if not mode and not calls:
                    raise
                out[f"{mode}grads"] = None
                out[f"{mode}error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
        out[f"{mode}grads"] = {name: (None if p.grad is None else p.grad.clone()) for name, p in model.named_parameters()}
        out[f"{mode}calls"] = len(calls)  # how often the (watched or replaced) callee was called
        out.update({"x": x, "c": c, "parameters": params, "parameter names": sorted(params)})
    return out


def check_gradients(got: dict, ref: dict, expected: dict, callee: str) -> None:
    """Gradients: where the student's module called the double (the stand-in run), the solution's gradients beside the
    same double, so the student's own callee never decides; otherwise autograd of the reference."""
    mine, theirs = got.get("stand-in grads"), ref.get("stand-in grads")
    if isinstance(mine, dict) and isinstance(theirs, dict) and got.get("stand-in calls") and ref.get("stand-in calls"):
        for name, want in sorted(theirs.items()):
            if want is None:
                continue
            g = mine.get(name)
            if g is None:
                raise AssertionError(f"no gradient reached `{name}`: forward must stay differentiable (no detach or numpy before the output).")
            assert_matches(g.double(), want.double(), f"gradient of {name} (beside a made-up {callee})", **TOL)
        return
    try:
        if got.get("error"):
            raise AssertionError(f"backward raised {got['error']}")
        for name, want in sorted(expected.items()):
            g = (got.get("grads") or {}).get(name)
            if g is None:
                raise AssertionError(f"no gradient reached `{name}`: forward must stay differentiable (no detach or numpy before the output).")
            assert_matches(g.double(), want, f"gradient of {name}", **TOL)
    except AssertionError as first:
        mine, theirs = got.get("stand-in grads"), ref.get("stand-in grads")
        if isinstance(mine, dict) and isinstance(theirs, dict):
            try:
                for name, want in theirs.items():
                    if want is None:
                        continue
                    g = mine.get(name)
                    if g is None:
                        raise AssertionError(name)
                    assert_matches(g.double(), want.double(), name, **TOL)
                return
            except AssertionError:
                pass
        raise AssertionError(f"{first}\n  (with {callee} replaced by a stand-in the gradients differ too, so the mistake is here)") from None


@suite.case("AttentionHead", points=1, hint="keep forward in torch (no detach or numpy on the queries, keys, values or the output) so gradients reach all three layers.")
def gradients_reach_all_three_weights(student):
    """Backpropagating sum(c * head(x)) gives query/key/value weight gradients equal to autograd of an independent computation."""
    from helpers.selfcheck.doubles import watching
    from helpers.selfcheck.nb06 import attention_stand_in

    stand = attention_stand_in(student.seed(630))
    return gradient_probe(student, lambda: student.AttentionHead(4, 2), (2, 5, 4), (2, 5, 2), student.seed(610), student.seed(611),
                          lambda model: watching(student, "AttentionHead", "scaled_dot_product_attention"),
                          lambda model: watching(student, "AttentionHead", "scaled_dot_product_attention", stand))


@gradients_reach_all_three_weights.verify
def _(got, ref):
    import torch

    check_head_parameters(got, ref)
    Ws = [ref["parameters"][k].double().requires_grad_() for k in ("query.weight", "key.weight", "value.weight")]
    out, _ = reference_head(ref["x"], *Ws, causal=True)  # (2, 5, 2)
    (ref["c"].double() * out).sum().backward()
    expected = {k: W.grad for k, W in zip(("query.weight", "key.weight", "value.weight"), Ws)}
    del torch
    check_gradients(got, ref, expected, "scaled_dot_product_attention")


# --------------------------------------------------------------------------- #
# MultiHeadAttention
# --------------------------------------------------------------------------- #


def check_mha_hidden(got: dict, ref: dict, key: str, causal: bool) -> None:
    check_mha_run(got, ref, key)  # its heads are class doubles (head_double_class): no independent attention reference here


@suite.case("MultiHeadAttention", points=1, hint="d_head is independent of d_model: proj maps n_heads * d_head back to d_model.")
def pico_sizes(student):
    """The pico sizes: MultiHeadAttention(2, 3, 2) with parameters set by name; x of shape (2, 7, 2), causal by default."""
    return mha_probe(student, 2, 3, 2, (2, 7, 2), student.seed(612), student.seed(613), student.seed(632), flags=(("causal (default)", None),))


@pico_sizes.verify
def _(got, ref):
    check_mha_hidden(got, ref, "causal (default)", True)


class _heads_watched:
    """Notes every call of a head's forward while the block runs (the list it yields fills)."""

    def __init__(self, model):
        self.heads, self.calls, self.hooks = list(getattr(model, "heads", []) or []), [], []

    def __enter__(self):
        self.hooks = [h.register_forward_pre_hook(lambda m, a: self.calls.append(1)) for h in self.heads]
        return self.calls

    def __exit__(self, *exc):
        for hook in self.hooks:
            hook.remove()
        return False


class _heads_replaced:
    """Every head's forward replaced by a seeded differentiable stand-in while the block runs."""

    def __init__(self, model, seed: int, d_head: int):
        self.heads, self.seed, self.d_head, self.calls = list(getattr(model, "heads", []) or []), seed, d_head, []

    def __enter__(self):
        from helpers.selfcheck.nb06 import head_stand_in

        for i, h in enumerate(self.heads):
            object.__setattr__(h, "forward", head_stand_in(self.seed, i, self.d_head, self.calls))
        return self.calls

    def __exit__(self, *exc):
        for h in self.heads:
            h.__dict__.pop("forward", None)
        return False


@suite.case("MultiHeadAttention", points=1, hint="call every head on the same x and keep them in nn.ModuleList so all parameters train.")
def every_head_used_and_trained(student):
    """MultiHeadAttention(4, 3, 2): every parameter gets the autograd gradient of sum(c * mha(x))."""
    from helpers.selfcheck.doubles import standing_in
    from helpers.selfcheck.nb06 import head_double_class

    seed = student.seed(634)

    def build():
        with standing_in(student, "AttentionHead", head_double_class(seed + 1)):  # its heads: class doubles
            return student.MultiHeadAttention(4, 3, 2)

    return gradient_probe(student, build, (2, 5, 4), (2, 5, 4), student.seed(614), student.seed(615),
                          lambda model: _heads_watched(model), lambda model: _heads_replaced(model, seed, 2))


@every_head_used_and_trained.verify
def _(got, ref):
    check_mha_names(got["parameter names"], ref["parameter names"])
    if ref.get("grads") is None:
        raise AssertionError("grader error: the solution's gradients are missing")
    check_gradients(got, ref, {k: v.double() for k, v in ref["grads"].items() if v is not None}, "AttentionHead")


# --------------------------------------------------------------------------- #
# The same under its callers: a causal_mask (or an attention) that answers otherwise inside its caller than
# alone is charged here (the callers are judged beside doubles)
# --------------------------------------------------------------------------- #


@suite.case("causal_mask", points=1, hint=SAME_ALONE_HINT)
def same_under_attention(student):
    """Inside your scaled_dot_product_attention, causal_mask gives what it gives alone for the same T (and is right alone)."""
    return mask_under_attention_probe(student, k=170, T=5, T_alone=3)


same_under_attention.verify(check_mask_under_attention)


@suite.case("scaled_dot_product_attention", points=1, hint=SAME_ALONE_HINT)
def same_under_attention_head(student):
    """Inside your AttentionHead, scaled_dot_product_attention gives what it gives alone on the same Q, K, V (and is right alone, not causal)."""
    return attention_under_head_probe(student, k=171)


same_under_attention_head.verify(check_attention_under_head)


@suite.case("AttentionHead", points=1, hint=SAME_ALONE_HINT)
def same_under_multi_head(student):
    """Inside your MultiHeadAttention, each AttentionHead gives what it gives alone on the same x (and a head alone, beside an attention double, gives (B, T, d_head))."""
    return heads_under_multi_head_probe(student, k=174)


same_under_multi_head.verify(check_heads_under_multi_head)
