"""Hidden tests of notebook 07 (miniGPT): grader only.

The same kinds of checks as the public suite on other data (seeds from the course secret,
other sizes, RoPE with several pairs, T = block_size and T = 1), plus independent
references. The references (attention by torch's F.scaled_dot_product_attention with RoPE
written out pair by pair, the block's arithmetic around its recorded attention, the model's
arithmetic around its recorded blocks) are defined INSIDE the verify functions, which run on
the grader's side only: no name a probe uses is a reference.
"""

from __future__ import annotations

import types

from helpers.checking import Suite, assert_matches
from helpers.selfcheck.doubles import SAME_ALONE_HINT
from helpers.selfcheck.nb07 import (
    BLOCK_PARTS_HINT,
    BLOCK_SIZES_HINT,
    EVAL_MODE_HINT,
    GPT_PARTS_HINT,
    GRADIENTS_HINT,
    ONE_HEAD_HINT,
    PRE_NORM_HINT,
    RESIDUAL_HINT,
    TEMPERATURE_HINT,
    TOO_LONG_HINT,
    as_tensor_or_fail,
    attention_parameters_probe,
    attention_under_block_probe,
    block_under_minigpt_probe,
    build_gpt,
    check_attention_matches,
    check_attention_shapes,
    check_attention_under_block,
    check_block_attention_input,
    check_block_facts,
    check_block_output,
    check_block_under_minigpt,
    check_causal_weights,
    check_eval_mode_and_no_grad,
    check_gpt_block_inputs,
    check_gpt_facts_by_position,
    check_gpt_outputs,
    check_sampled,
    check_weight_invariants,
    expect_outcomes,
    gpt_facts_by_position_probe,
    outcome,
    run_attention,
    run_block,
    run_generate,
    run_gpt,
    seeded_ids,
    test_config,
    verify_attention_parameters,
    verify_block_facts_both_norms,
)

suite = Suite("07", visibility="hidden")


# --------------------------------------------------------------------------- #
# CausalSelfAttention
# --------------------------------------------------------------------------- #


def verify_attention_independently(got, ref):
    """The student's output and weights against attention recomputed here in float64 from ref's weights and input."""
    import math

    import torch
    import torch.nn.functional as F

    def rotate_pairs(x):  # x (..., T, D): pair (2j, 2j+1) at position t rotated by t * 10000^(-2j/D)
        T, D = x.shape[-2], x.shape[-1]
        out = x.clone()
        t = torch.arange(T, dtype=x.dtype)  # (T,)
        for j in range(D // 2):
            phi = t * 10000.0 ** (-2.0 * j / D)  # (T,)
            a, b = x[..., 2 * j], x[..., 2 * j + 1]
            out[..., 2 * j] = a * torch.cos(phi) - b * torch.sin(phi)
            out[..., 2 * j + 1] = a * torch.sin(phi) + b * torch.cos(phi)
        return out

    check_attention_shapes(got, ref)
    cfg = types.SimpleNamespace(**ref["config"])
    x = ref["x"].double()  # (B, T, d_model)
    W = {k: v.double() for k, v in ref["state"].items()}
    H, D = cfg.n_heads, cfg.d_head
    q, k, v = (x @ W["qkv.weight"].T).split(H * D, dim=-1)  # (B, T, H*D) each
    heads, weights = [], []
    for h in range(H):
        cols = slice(h * D, (h + 1) * D)
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]  # (B, T, D)
        if cfg.pos == "rope":
            qh, kh = rotate_pairs(qh), rotate_pairs(kh)
        heads.append(F.scaled_dot_product_attention(qh, kh, vh, is_causal=True))  # (B, T, D)
        T = qh.shape[-2]
        scores = (qh @ kh.transpose(-1, -2) / math.sqrt(D)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        weights.append(torch.softmax(scores, dim=-1))  # (B, T, T)
    out = torch.cat(heads, dim=-1) @ W["proj.weight"].T + W["proj.bias"]  # (B, T, d_model)
    check_weight_invariants(got["weights"])
    assert_matches(got["weights"].double(), torch.stack(weights, dim=1), "attn.last_weights vs an independent recomputation", rtol=1e-4, atol=1e-6)
    assert_matches(got["out"].double(), out, "attn(x) vs an independent recomputation", rtol=1e-4, atol=1e-6)
    check_attention_matches(got, ref)


@suite.case(
    "CausalSelfAttention",
    points=1,
    hint="the attention learns two linear maps: one that makes the queries, keys and values of every head at once (no bias), "
    "and the output projection W_O from the merged heads back to d_model (with a bias).",
)
def parameters_pico_sized(student):
    """CausalSelfAttention(config) with d_model 2 and 3 heads of 2: exactly qkv.weight (18, 2), proj.weight (2, 6), proj.bias (2,)."""
    return attention_parameters_probe(student, d_model=2, n_heads=3, d_head=2, norm="none")


parameters_pico_sized.verify(verify_attention_parameters)


@suite.case("CausalSelfAttention", points=1, hint=ONE_HEAD_HINT)
def one_head_independent(student):
    """One head of size 2 (d_model 3, pos 'learned'), x (3, 4, 3): vs an independent recomputation."""
    return run_attention(student, test_config(d_model=3, n_heads=1, d_head=2, pos="learned"), k=300, B=3, T=4)


one_head_independent.verify(verify_attention_independently)


@suite.case(
    "CausalSelfAttention",
    points=1,
    hint="last_weights keeps the attention weights A of the call for every head, (B, n_heads, T, T): row t is a distribution "
    "over the positions 0..t, and zero on the future.",
)
def weights_with_rope_full_block(student):
    """RoPE, 3 heads of 2, T = block_size = 6, x (2, 6, 4): last_weights (2, 3, 6, 6) are causal distributions."""
    return run_attention(student, test_config(n_heads=3, d_head=2), k=310, B=2, T=6)


weights_with_rope_full_block.verify(check_causal_weights)


@suite.case(
    "CausalSelfAttention",
    points=2,
    hint="the output of qkv is [queries | keys | values], each n_heads * d_head wide, and head h owns the h-th block of d_head "
    "columns of each: split the last axis into (heads, d_head), then bring the heads axis before the positions; "
    "to merge, bring the positions back before the heads, then flatten.",
)
def four_heads_independent(student):
    """4 heads of size 2 (d_model 3, pos 'learned'), x (2, 5, 3): vs an independent recomputation."""
    return run_attention(student, test_config(d_model=3, n_heads=4, d_head=2, pos="learned"), k=320, B=2, T=5)


four_heads_independent.verify(verify_attention_independently)


@suite.case(
    "CausalSelfAttention",
    points=2,
    hint="with pos == 'rope' rotate the queries and the keys (never the values) by their positions after the split into heads, "
    "with the given apply_rope and the first T rows of the table.",
)
def rope_three_pairs_independent(student):
    """RoPE, 2 heads of size 6 (three pairs each, d_model 4, block_size 6), x (2, 3, 4) and T = 3: vs an independent recomputation."""
    return run_attention(student, test_config(n_heads=2, d_head=6), k=330, B=2, T=3)


rope_three_pairs_independent.verify(verify_attention_independently)


# --------------------------------------------------------------------------- #
# TransformerBlock
# --------------------------------------------------------------------------- #


def verify_block_independently(got, ref):
    """The block's arithmetic around its (stand-in) attention, recomputed here in float64 from ref's weights and input."""
    import torch.nn.functional as F

    cfg = types.SimpleNamespace(**ref["config"])
    W = {k: v.double() for k, v in ref["state"].items()}
    x = ref["x"].double()  # (B, T, d_model)

    def norm(h, name):
        if cfg.norm == "layer":
            return F.layer_norm(h, (cfg.d_model,), W[f"{name}.weight"], W[f"{name}.bias"], eps=1e-5)
        return h

    a = ref["attention output"].double()  # the stand-in attention's output, recorded in the solution's run
    h = x + a  # (B, T, d_model)
    expected = h + F.gelu(norm(h, "ln_2") @ W["mlp.0.weight"].T + W["mlp.0.bias"]) @ W["mlp.2.weight"].T + W["mlp.2.bias"]
    check_block_facts(got, ref)
    if got["attention calls"] != 1:
        raise AssertionError(f"block(x) should call its attention exactly once, it called it {got['attention calls']} times.")
    assert_matches(got["attention input"].double(), norm(x, "ln_1"), "the input the block gave its attention (should be ln_1(x))", rtol=1e-4, atol=1e-6)
    as_tensor_or_fail(got["out"], "block(x)", tuple(x.shape))
    assert_matches(got["out"].double(), expected, "block(x) vs its arithmetic recomputed independently", rtol=1e-4, atol=1e-6)
    check_block_attention_input(got, ref)
    check_block_output(got, ref)


@suite.case("TransformerBlock", points=1, hint=BLOCK_PARTS_HINT)
def attributes_other_sizes(student):
    """TransformerBlock(config) with d_model 3, d_ff 5 (LayerNorm, and norm 'none'): the documented parts, names and shapes."""
    return {norm: run_block(student, test_config(d_model=3, d_ff=5, norm=norm), k=400 + i) for i, norm in enumerate(("layer", "none"))}


attributes_other_sizes.verify(verify_block_facts_both_norms)


@suite.case("TransformerBlock", points=1, hint=PRE_NORM_HINT)
def attention_reads_ln_1_other_data(student):
    """With LayerNorm, d_model 3, x (3, 4, 3): the block calls its (stand-in) attention once, on ln_1(x)."""
    return run_block(student, test_config(d_model=3), k=410, B=3, T=4)


attention_reads_ln_1_other_data.verify(check_block_attention_input)


@suite.case("TransformerBlock", points=2, hint=RESIDUAL_HINT)
def forward_independent(student):
    """With LayerNorm, d_model 4, d_ff 6, x (3, 6, 4), a stand-in attention: block(x) vs its arithmetic recomputed independently."""
    return run_block(student, test_config(d_ff=6), k=420, B=3, T=6)


forward_independent.verify(verify_block_independently)


@suite.case("TransformerBlock", points=1, hint=BLOCK_SIZES_HINT)
def forward_no_norm_independent(student):
    """Pico-sized (d_model 2, d_ff 8, norm 'none'), x (1, 8, 2), a stand-in attention: vs its arithmetic recomputed independently."""
    return run_block(student, test_config(d_model=2, n_heads=3, d_head=2, d_ff=8, norm="none", block_size=8), k=430, B=1, T=8)


forward_no_norm_independent.verify(verify_block_independently)


# --------------------------------------------------------------------------- #
# MiniGPT
# --------------------------------------------------------------------------- #


def verify_gpt_independently(got, ref):
    """The model's arithmetic around its (stand-in) blocks, recomputed here in float64 from ref's weights and ids."""
    import torch.nn.functional as F

    cfg = types.SimpleNamespace(**ref["config"])
    W = {k: v.double() for k, v in ref["state"].items()}
    ids, targets = ref["ids"], ref["targets"]
    B, T = ids.shape
    first = W["tok_emb.weight"][ids]  # (B, T, d_model)
    if cfg.pos == "learned":
        first = first + W["pos_emb.weight"][:T]
    last = ref["block outputs"][-1].double()  # the last stand-in block's output in the solution's run
    if cfg.norm == "layer":
        last = F.layer_norm(last, (cfg.d_model,), W["ln_f.weight"], W["ln_f.bias"], eps=1e-5)
    logits = last @ W["head.weight"].T  # (B, T, vocab)
    loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
    check_gpt_block_inputs(got, ref)
    assert_matches(got["block inputs"][0].double(), first, "the input of block 1 vs the token vectors (+ positions) recomputed", rtol=1e-4, atol=1e-6)
    check_gpt_outputs(got, ref)
    assert_matches(got["logits"].double(), logits, "logits vs U ln_f(last block's output) recomputed independently", rtol=1e-4, atol=1e-6)
    assert_matches(got["loss"].double(), loss, "loss vs the cross-entropy recomputed independently", rtol=1e-4, atol=1e-6)


@suite.case("MiniGPT", points=1, hint=GPT_PARTS_HINT)
def attributes_three_layers_no_norm(student):
    """MiniGPT(config) with 3 layers, d_model 2, norm 'none' (RoPE, and learned positions): the documented parts."""
    return gpt_facts_by_position_probe(student, k=500, n_layers=3, d_model=2, n_heads=3, d_head=2, norm="none")


attributes_three_layers_no_norm.verify(check_gpt_facts_by_position)


@suite.case(
    "MiniGPT",
    points=2,
    hint="the first block reads the token vectors (plus the position vectors P[0..T-1] with learned positions), every later block "
    "the output of the one before; then the final norm and the table U give the scores, and the loss averages over all B*T positions.",
)
def forward_learned_independent(student):
    """Learned positions, LayerNorm, 3 stand-in blocks, ids (3, 5): block inputs, logits and loss vs an independent recomputation."""
    return run_gpt(student, test_config(pos="learned", n_layers=3), k=520, B=3, T=5)


forward_learned_independent.verify(verify_gpt_independently)


@suite.case(
    "MiniGPT",
    points=1,
    hint="the targets may be a slice of a bigger tensor, not contiguous in memory: flatten them with an operation that copies "
    "when it must, not one that only re-views memory.",
)
def non_contiguous_targets_rope(student):
    """RoPE, LayerNorm, 2 stand-in blocks, targets a [:, 1:] slice (not contiguous), ids (4, 3): vs an independent recomputation."""
    return run_gpt(student, test_config(), k=530, B=4, T=3, sliced=True)


non_contiguous_targets_rope.verify(verify_gpt_independently)


@suite.case("MiniGPT", points=1, hint=GRADIENTS_HINT)
def gradients_learned_positions(student):
    """loss.backward() gives tok_emb, pos_emb, ln_f and head the gradients of an independent recomputation (learned positions)."""
    return run_gpt(student, test_config(pos="learned", n_layers=1), k=540, B=2, T=4, backward=True)


@gradients_learned_positions.verify
def _(got, ref):
    import torch.nn.functional as F

    cfg = types.SimpleNamespace(**ref["config"])
    check_gpt_outputs(got, ref)
    W = {k: v.double().requires_grad_(True) for k, v in ref["state"].items()}
    B, T = ref["ids"].shape
    last = ref["block outputs"][-1].double()  # (B, T, d_model): the last stand-in block's output in the solution's run
    h = F.layer_norm(last, (cfg.d_model,), W["ln_f.weight"], W["ln_f.bias"], eps=1e-5)  # (B, T, d_model)
    loss = F.cross_entropy((h @ W["head.weight"].T).reshape(B * T, -1), ref["targets"].reshape(B * T))
    loss.backward()
    for name, grad in ref["grads"].items():
        mine = got["grads"].get(name)
        if mine is None:
            raise AssertionError(f"no gradient reached `{name}` after loss.backward(): something in forward is detached or unused.")
        if W[name].grad is not None:  # ln_f and head: recomputed independently here
            assert_matches(mine.double(), W[name].grad, f"gradient of {name} vs an independent recomputation", rtol=1e-3, atol=1e-6)
        assert_matches(mine, grad, f"gradient of {name}", rtol=1e-3, atol=1e-6)


@suite.case(
    "MiniGPT",
    points=1,
    hint="read B and T from the shape of ids (T may be anything from 1 to block_size) and flatten batch and positions together for the loss.",
)
def one_token_and_full_block(student):
    """ids of shape (1, 1) and (2, 6) (T = block_size): logits (B, T, vocab) and the loss, vs an independent recomputation."""
    return {"1x1": run_gpt(student, test_config(), k=550, B=1, T=1), "2x6": run_gpt(student, test_config(), k=560, B=2, T=6)}


@one_token_and_full_block.verify
def _(got, ref):
    for key in ("1x1", "2x6"):
        try:
            verify_gpt_independently(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"ids of shape ({key.replace('x', ', ')}): {exc}") from None


@suite.case("MiniGPT", points=1, hint=TOO_LONG_HINT)
def too_long_raises_learned(student):
    """Learned positions, block_size 4: ids of length 5 raise ValueError; length 4 is fine."""
    import torch

    cfg = test_config(pos="learned", block_size=4)
    model, _, _ = build_gpt(student, cfg, 570)
    with torch.no_grad():
        return {
            "model(ids) with T = 5 > block_size = 4": outcome(lambda: model(seeded_ids((2, 5), cfg.vocab_size, student.seed(571)))),
            "model(ids) with T = block_size = 4": outcome(lambda: model(seeded_ids((2, 4), cfg.vocab_size, student.seed(572)))),
        }


@too_long_raises_learned.verify
def _(got, ref):
    expect_outcomes(got, {"model(ids) with T = 5 > block_size = 4": "ValueError", "model(ids) with T = block_size = 4": "ok"})


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #


@suite.case("generate", points=1, hint=TEMPERATURE_HINT)
def temperatures(student):
    """Sampling with temperature 0.5 and 2.5 from [2, 3], 8 new tokens each, seeded generators: the same tokens as the solution."""
    return {"temperature 0.5": run_generate(student, [2, 3], 8, k=600, lm_k=601, temperature=0.5),
            "temperature 2.5": run_generate(student, [2, 3], 8, k=602, lm_k=603, temperature=2.5)}


@temperatures.verify
def _(got, ref):
    for key in ("temperature 0.5", "temperature 2.5"):
        try:
            check_sampled(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


@suite.case("generate", points=1, hint=EVAL_MODE_HINT)
def eval_mode_and_no_grad_other(student):
    """generate puts the model (handed over in training mode) in eval mode and calls it with gradients off (6 new tokens)."""
    return run_generate(student, [1, 6], 6, k=610, lm_k=611)


eval_mode_and_no_grad_other.verify(check_eval_mode_and_no_grad)


@suite.case("generate", points=1, hint="start_ids may be a list or a 1-D tensor: start from a list of Python ints made from it; "
            "with n_new = 0 the start ids come back unchanged.")
def tensor_start_and_no_new_tokens(student):
    """start_ids as a 1-D tensor [2, 5, 1] (greedy, 4 new tokens), and n_new = 0 from 5 ids: as the solution's."""
    import torch

    return {"tensor start": run_generate(student, torch.tensor([2, 5, 1]), 4, k=None, lm_k=620, greedy=True),
            "n_new = 0": run_generate(student, [4, 4, 0, 6, 1], 0, k=None, lm_k=621)}


@tensor_start_and_no_new_tokens.verify
def _(got, ref):
    for key in ("tensor start", "n_new = 0"):
        try:
            check_sampled(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


@suite.case("generate", points=1, hint="the model never sees more than its block_size last tokens: crop the context before EVERY "
            "call, after the previous new token was appended.")
def long_run_crops_every_step(student):
    """From one token, 12 sampled tokens (block_size 4): every call sees the last (at most) 4 ids; the same tokens as the solution."""
    return run_generate(student, [5], 12, k=630, lm_k=631)


long_run_crops_every_step.verify(check_sampled)


# --------------------------------------------------------------------------- #
# The same under its callers: a CausalSelfAttention (or a TransformerBlock) that answers otherwise inside its
# caller than alone is charged here (the callers are judged beside class doubles)
# --------------------------------------------------------------------------- #


@suite.case("CausalSelfAttention", points=1, hint=SAME_ALONE_HINT)
def same_under_block(student):
    """Inside your TransformerBlock, its CausalSelfAttention gives what it gives alone on the same input (and alone gives (B, T, d_model))."""
    return attention_under_block_probe(student, k=580, B=2, T=5)


same_under_block.verify(check_attention_under_block)


@suite.case("TransformerBlock", points=1, hint=SAME_ALONE_HINT)
def same_under_minigpt(student):
    """Inside your MiniGPT, each TransformerBlock gives what it gives alone on the same input (and alone, beside an attention double, gives (B, T, d_model))."""
    return block_under_minigpt_probe(student, k=581, B=2, T=5)


same_under_minigpt.verify(check_block_under_minigpt)
