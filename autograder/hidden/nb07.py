"""Hidden tests of notebook 07 (miniGPT): grader only.

Other sizes and settings (learned positions, no normalization, pico-sized blocks), edge
cases, and independent references: the block and the whole model recomputed here in
float64 from the weights the probe set (LayerNorm, RoPE, attention and GELU written with
torch.nn.functional), and the gradients of every parameter checked against autograd on
that recomputation.
"""

from __future__ import annotations

import math
import types

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.nb07 import (
    CONFIG_FIELDS,
    SAMPLE_HOW,
    as_tensor_or_fail,
    assert_id_list,
    build_gpt,
    check_block_output,
    check_causal,
    check_contexts,
    check_logits_and_loss,
    check_param_names,
    check_preset,
    check_sampled,
    config_dict,
    config_text,
    expect_outcomes,
    expected_block_params,
    expected_gpt_params,
    fill_by_name,
    outcome,
    preset_facts,
    recording_lm,
    run_block,
    run_causality,
    run_generate,
    run_logits_and_loss,
    seeded_ids,
    state_of,
    test_config,
)

suite = Suite("07", visibility="hidden")


# --------------------------------------------------------------------------- #
# Independent float64 references (trusted side only)
# --------------------------------------------------------------------------- #


def ref_norm(x, state: dict, name: str, norm: str):
    import torch.nn.functional as F

    if norm == "layer":
        return F.layer_norm(x, (x.shape[-1],), state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)
    return x


def ref_rope(x):
    """Adjacent-pair RoPE: pair (2j, 2j+1) at position i rotated by i * 10000^(-2j/d); x (..., T, d)."""
    import torch

    T, d = x.shape[-2], x.shape[-1]
    out = torch.empty_like(x)
    pos = torch.arange(T, dtype=x.dtype)  # (T,)
    for j in range(d // 2):
        theta = pos * 10000.0 ** (-2.0 * j / d)  # (T,)
        a, b = x[..., 2 * j], x[..., 2 * j + 1]  # (..., T)
        out[..., 2 * j] = a * torch.cos(theta) - b * torch.sin(theta)
        out[..., 2 * j + 1] = a * torch.sin(theta) + b * torch.cos(theta)
    return out


def ref_attention(x, state: dict, prefix: str, cfg):
    import torch

    B, T, _ = x.shape
    D = cfg.d_head
    q = x @ state[f"{prefix}query.weight"].T  # (B, T, H*D)
    k = x @ state[f"{prefix}key.weight"].T  # (B, T, H*D)
    v = x @ state[f"{prefix}value.weight"].T  # (B, T, H*D)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # (T, T)
    heads = []
    for h in range(cfg.n_heads):
        cols = slice(h * D, (h + 1) * D)
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]  # (B, T, D) each
        if cfg.pos == "rope":
            qh, kh = ref_rope(qh), ref_rope(kh)
        scores = (qh @ kh.transpose(-1, -2) / math.sqrt(D)).masked_fill(future, float("-inf"))  # (B, T, T)
        heads.append(torch.softmax(scores, dim=-1) @ vh)  # (B, T, D)
    return torch.cat(heads, dim=-1) @ state[f"{prefix}proj.weight"].T + state[f"{prefix}proj.bias"]  # (B, T, d_model)


def ref_block(x, state: dict, prefix: str, cfg):
    import torch.nn.functional as F

    x = x + ref_attention(ref_norm(x, state, f"{prefix}ln_1", cfg.norm), state, f"{prefix}attn.", cfg)
    h = ref_norm(x, state, f"{prefix}ln_2", cfg.norm)
    h = F.gelu(h @ state[f"{prefix}mlp.0.weight"].T + state[f"{prefix}mlp.0.bias"])  # (B, T, d_ff)
    return x + h @ state[f"{prefix}mlp.2.weight"].T + state[f"{prefix}mlp.2.bias"]


def ref_gpt(ids, state: dict, cfg):
    x = state["tok_emb.weight"][ids]  # (B, T, d_model)
    if cfg.pos == "learned":
        x = x + state["pos_emb.weight"][: ids.shape[1]]
    for i in range(cfg.n_layers):
        x = ref_block(x, state, f"blocks.{i}.", cfg)
    return ref_norm(x, state, "ln_f", cfg.norm) @ state["head.weight"].T  # (B, T, vocab)


def double_state(state: dict, requires_grad: bool = False) -> dict:
    return {k: v.double().clone().requires_grad_(requires_grad) for k, v in state.items()}


# --------------------------------------------------------------------------- #
# GPTConfig
# --------------------------------------------------------------------------- #


@suite.case("GPTConfig", points=1, hint="put the bad value in the message, e.g. raise ValueError(f\"pos must be 'rope' or 'learned', got {self.pos!r}\").")
def messages_name_the_bad_value(student):
    """The ValueError messages name the bad value (pos='alibi', norm='rmsnorm', d_head=5 with rope)."""
    base = dict(vocab_size=13, block_size=8, d_model=4, n_layers=1, n_heads=2, d_ff=8)
    cls = student.get("GPTConfig")
    return {
        "alibi": outcome(lambda: cls(**base, d_head=2, pos="alibi")),
        "rmsnorm": outcome(lambda: cls(**base, d_head=2, norm="rmsnorm")),
        "5": outcome(lambda: cls(**base, d_head=5, pos="rope")),
    }


@messages_name_the_bad_value.verify
def _(got, ref):
    for value, what in (("alibi", "pos='alibi'"), ("rmsnorm", "norm='rmsnorm'"), ("5", "d_head=5 with pos='rope'")):
        have = got[value]
        if not str(have).startswith("ValueError:"):
            raise AssertionError(f"GPTConfig(..., {what}) should raise ValueError, got {'no error' if have == 'ok' else have}.")
        if value not in str(have).split(":", 1)[1]:
            raise AssertionError(f"the ValueError for {what} should name the bad value {value!r}; its message was {have!r}.")


@suite.case("GPTConfig", points=1, hint="compare exactly: pos in ('rope', 'learned'), norm in ('layer', 'none') (no lower-casing); keep the given defaults.")
def exact_values_and_defaults(student):
    """pos='RoPE' (wrong case) raises ValueError; GPTConfig() keeps the given defaults; an odd d_head is fine without RoPE."""
    cls = student.get("GPTConfig")
    default = cls()
    return {
        "outcomes": {
            "GPTConfig(pos='RoPE')": outcome(lambda: cls(pos="RoPE")),
            "GPTConfig(norm='Layer')": outcome(lambda: cls(norm="Layer")),
            "GPTConfig(d_head=7, pos='learned', norm='none')": outcome(lambda: cls(d_head=7, pos="learned", norm="none")),
        },
        "defaults": {k: getattr(default, k, "missing") for k in CONFIG_FIELDS},
    }


@exact_values_and_defaults.verify
def _(got, ref):
    expect_outcomes(got["outcomes"], {"GPTConfig(pos='RoPE')": "ValueError", "GPTConfig(norm='Layer')": "ValueError",
                                      "GPTConfig(d_head=7, pos='learned', norm='none')": "ok"})
    assert_matches(got["defaults"], ref["defaults"], "GPTConfig() defaults")


# --------------------------------------------------------------------------- #
# TransformerBlock
# --------------------------------------------------------------------------- #


def check_block_independent(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**got["config"])
    check_param_names(got["params"], expected_block_params(cfg), "the block")
    out = as_tensor_or_fail(got["out"], "block(x)")
    expected = ref_block(got["x"].double(), double_state(got["state"]), "", cfg)  # (B, T, d_model)
    if tuple(out.shape) != tuple(expected.shape):
        raise AssertionError(f"block(x) should have the shape of x {tuple(expected.shape)}, got {tuple(out.shape)}.")
    assert_matches(out.double(), expected.detach(), "block(x) vs x + MHA(LN_1(x)), then + MLP(LN_2(x)) recomputed independently", rtol=1e-4)


@suite.case(
    "TransformerBlock",
    points=2,
    hint="pre-norm: x = x + self.attn(self.ln_1(x)); then x = x + self.mlp(self.ln_2(x)) (the second sublayer reads the updated x).",
)
def independent_recomputation(student):
    """block(x) (LayerNorm, RoPE, 3 heads of 2, d_model 4, d_ff 6, x (3, 6, 4)) equals an independent float64 recomputation."""
    return run_block(student, test_config(n_heads=3, d_ff=6), seed=11, B=3, T=6)


@independent_recomputation.verify
def _(got, ref):
    check_block_independent(got, ref)
    check_block_output(got, ref)


@suite.case(
    "TransformerBlock",
    points=1,
    hint="build ln_1 and ln_2 with make_norm(config) (nn.Identity for norm = 'none') and read every size from config, not from constants.",
)
def pico_sized_no_norm_learned(student):
    """A Pico-sized block (d_model 2, 3 heads of 2, d_ff 8, norm 'none', pos 'learned'): vs the solution and an independent recomputation."""
    return run_block(student, test_config(d_model=2, n_heads=3, d_head=2, d_ff=8, norm="none", pos="learned", block_size=8), seed=12, B=2, T=7)


@pico_sized_no_norm_learned.verify
def _(got, ref):
    check_block_independent(got, ref)
    check_block_output(got, ref)


@suite.case(
    "TransformerBlock",
    points=1,
    hint="both sublayers add to x (residual connections): with their last layers zeroed the block must return x unchanged; "
    "normalize only the sublayers' inputs (pre-norm), never the stream itself.",
)
def residual_paths(student):
    """With attn.proj and mlp.2 zeroed, block(x) == x; with only mlp.2 zeroed, block(x) == x + attn(ln_1(x))."""
    import torch

    cfg = test_config()
    block = student.get("TransformerBlock")(cfg)
    fill_by_name(block, 13)
    x = torch.randn(2, 5, cfg.d_model, generator=torch.Generator().manual_seed(13))  # (2, 5, 4)
    student.note(f"block = TransformerBlock({config_text(cfg)}) with weights set by name, then some zeroed")
    with torch.no_grad():
        block.mlp[2].weight.zero_()
        block.mlp[2].bias.zero_()
        attn_only = block(x)
        attn_part = block.attn(block.ln_1(x))
        block.attn.proj.weight.zero_()
        block.attn.proj.bias.zero_()
        nothing = block(x)
    return {"x": x, "block(x), attn.proj and mlp.2 zeroed": nothing, "block(x), mlp.2 zeroed": attn_only, "attn(ln_1(x))": attn_part}


@residual_paths.verify
def _(got, ref):
    x = got["x"]
    nothing = as_tensor_or_fail(got["block(x), attn.proj and mlp.2 zeroed"], "block(x)")
    if tuple(nothing.shape) != tuple(x.shape) or not bool((nothing - x).abs().max() <= 1e-5):
        raise AssertionError(
            "with the last layers of attn (proj) and mlp (mlp.2) set to zero both sublayers add nothing, so block(x) must be x itself; "
            f"got {describe(nothing)} for x = {describe(x)}. Add each sublayer's output to x (x = x + ...), and do not normalize x itself."
        )
    attn_only = as_tensor_or_fail(got["block(x), mlp.2 zeroed"], "block(x)")
    assert_matches(attn_only, x + got["attn(ln_1(x))"], "block(x) with mlp.2 zeroed (should be x + attn(ln_1(x)))", rtol=1e-4)


# --------------------------------------------------------------------------- #
# MiniGPT
# --------------------------------------------------------------------------- #


def check_gpt_independent(got: dict) -> None:
    cfg = types.SimpleNamespace(**got["config"])
    check_param_names(got["params"], expected_gpt_params(cfg), "the model")
    logits = as_tensor_or_fail(got["logits"], "the logits")
    expected = ref_gpt(got["ids"], double_state(got["state"]), cfg)  # (B, T, vocab)
    if tuple(logits.shape) != tuple(expected.shape):
        raise AssertionError(f"logits should have shape (B, T, vocab_size) = {tuple(expected.shape)}, got {tuple(logits.shape)}.")
    assert_matches(logits.double(), expected.detach(), "logits vs the skeleton recomputed independently", rtol=1e-4)


@suite.case(
    "MiniGPT",
    points=2,
    hint="with pos = 'learned': x = self.tok_emb(ids) + self.pos_emb(torch.arange(T)) (positions 0..T-1); then the blocks in order, ln_f, head. "
    "(MiniGPT uses your TransformerBlock: make its checks pass first.)",
)
def independent_forward_learned(student):
    """Learned positions, LayerNorm, 2 layers, ids (3, 5) with block_size 6: logits and loss vs an independent float64 recomputation."""
    return run_logits_and_loss(student, test_config(pos="learned"), seed=21, B=3, T=5)


@independent_forward_learned.verify
def _(got, ref):
    check_gpt_independent(got)
    check_logits_and_loss(got, ref)


@suite.case(
    "MiniGPT",
    points=1,
    hint="add pos_emb for positions 0..T-1 only (self.pos_emb(torch.arange(T))): the same position vector whatever comes later.",
)
def causal_learned_no_norm(student):
    """Learned positions, no normalization, 3 layers, block_size 5: changing tokens 2..4 leaves the logits at positions 0..1 unchanged."""
    cfg = test_config(pos="learned", norm="none", n_layers=3, block_size=5, d_model=2, n_heads=3, d_head=2)
    return run_causality(student, cfg, seed=22, prefix=2)


@causal_learned_no_norm.verify
def _(got, ref):
    check_causal(got, ref)


@suite.case(
    "MiniGPT",
    points=1,
    hint="keep forward differentiable (no .detach(), .item() or torch.no_grad() inside) and compute the loss with F.cross_entropy on the logits.",
)
def gradients_of_every_parameter(student):
    """loss.backward() gives every parameter the gradient autograd computes on an independent recomputation (RoPE, LayerNorm)."""

    cfg = test_config(n_layers=1, n_heads=2)
    model, shapes = build_gpt(student, cfg, seed=23)
    ids, targets = seeded_ids((2, 6), cfg.vocab_size, 123), seeded_ids((2, 6), cfg.vocab_size, 223)
    student.note("logits, loss = model(ids, targets) with ids, targets of shape (2, 6); loss.backward()")
    model.zero_grad()
    _, loss = model(ids, targets)
    loss.backward()
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in model.named_parameters()}
    return {"loss": loss, "grads": grads, "state": state_of(model), "ids": ids, "targets": targets, "params": shapes, "config": config_dict(cfg)}


@gradients_of_every_parameter.verify
def _(got, ref):
    import torch.nn.functional as F

    cfg = types.SimpleNamespace(**got["config"])
    check_param_names(got["params"], expected_gpt_params(cfg), "the model")
    state = double_state(got["state"], requires_grad=True)
    logits = ref_gpt(got["ids"], state, cfg)  # (B, T, vocab)
    loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), got["targets"].reshape(-1))
    loss.backward()
    assert_matches(as_tensor_or_fail(got["loss"], "the loss").double(), loss.detach(), "loss", rtol=1e-4)
    for name, param in state.items():
        grad = got["grads"].get(name)
        if grad is None:
            raise AssertionError(f"no gradient reached `{name}` after loss.backward(): something in forward is detached or unused.")
        assert_matches(grad.double(), param.grad, f"gradient of {name}", rtol=1e-3)


@suite.case(
    "MiniGPT",
    points=1,
    hint="read B, T from ids.shape (do not assume T = block_size); loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T)).",
)
def one_token_and_full_block(student):
    """ids of shape (1, 1) and (4, 6) (T = block_size): logits (B, T, vocab), loss = cross-entropy over all positions."""
    out = {}
    for B, T in ((1, 1), (4, 6)):
        out[f"{B}x{T}"] = run_logits_and_loss(student, test_config(), seed=24 + T, B=B, T=T)
    return out


@one_token_and_full_block.verify
def _(got, ref):
    for key in got:
        try:
            check_logits_and_loss(got[key], ref[key])
        except AssertionError as exc:
            raise AssertionError(f"ids of shape ({key.replace('x', ', ')}): {exc}") from None


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #


@suite.case("generate", points=1, hint="divide the last position's logits by temperature before the softmax: F.softmax(logits[0, -1] / temperature, dim=-1).")
def temperatures(student):
    """Sampling with temperature 0.5 (seed 4) and 2.5 (seed 5) from [2, 3]: the same tokens as the solution."""
    return {"temperature 0.5": run_generate(student, [2, 3], 8, seed=4, temperature=0.5),
            "temperature 2.5": run_generate(student, [2, 3], 8, seed=5, temperature=2.5)}


@temperatures.verify
def _(got, ref):
    for key in got:
        try:
            assert_id_list(got[key]["ids"], got[key]["start"], got[key]["n_new"])
            check_contexts(got[key])
            check_sampled(got[key], ref[key], SAMPLE_HOW)
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


@suite.case("generate", points=1, hint="call model.eval() first and run the loop inside `with torch.no_grad():` (no graph is built while generating).")
def eval_mode_and_no_grad(student):
    """generate puts the model in eval mode and calls it under torch.no_grad() (the model starts in training mode)."""
    return run_generate(student, [1], 4, seed=6)


@eval_mode_and_no_grad.verify
def _(got, ref):
    assert_id_list(got["ids"], got["start"], got["n_new"])
    if any(got["grad enabled"]):
        raise AssertionError("the model was called with gradients enabled; wrap the generation loop in `with torch.no_grad():`.")
    if any(got["training"]):
        raise AssertionError("the model was still in training mode when called; call model.eval() before generating.")
    check_sampled(got, ref, SAMPLE_HOW)


@suite.case(
    "generate",
    points=1,
    hint="start from ids = [int(i) for i in start_ids] (a list of Python ints, also for a tensor), and return it even when n_new = 0.",
)
def tensor_start_and_no_new_tokens(student):
    """start_ids as a 1-D tensor [2, 5, 1] (greedy, 4 new tokens) works; n_new = 0 returns the start ids as a list of ints."""
    import torch

    model = recording_lm()
    student.note("model = the tests' RecordingLM (vocab 7, block_size 4)")
    greedy = student.generate(model, torch.tensor([2, 5, 1]), 4, greedy=True)
    none = student.generate(recording_lm(), [4, 4, 0, 6, 1], 0)
    return {"tensor start": greedy, "fed": model.fed, "n_new = 0": none}


@tensor_start_and_no_new_tokens.verify
def _(got, ref):
    assert_id_list(got["tensor start"], [2, 5, 1], 4)
    assert_matches(got["tensor start"], ref["tensor start"], "generate(model, torch.tensor([2, 5, 1]), 4, greedy=True)")
    assert_id_list(got["n_new = 0"], [4, 4, 0, 6, 1], 0)


@suite.case(
    "generate",
    points=1,
    hint="crop at every step, not once: context = ids[-block_size:] inside the loop, after appending the previous new token.",
)
def long_run_crops_every_step(student):
    """From one token, 12 sampled tokens (seed 8, block_size 4): every call sees the last (at most) 4 ids; same tokens as the solution."""
    return run_generate(student, [5], 12, seed=8)


@long_run_crops_every_step.verify
def _(got, ref):
    assert_id_list(got["ids"], got["start"], got["n_new"])
    check_contexts(got)
    check_sampled(got, ref, SAMPLE_HOW)


# --------------------------------------------------------------------------- #
# femto_config and pico_config
# --------------------------------------------------------------------------- #


@suite.case("femto_config", points=1, hint="pass vocab_size and block_size through: GPTConfig(vocab_size=vocab_size, block_size=block_size, ...).")
def femto_other_sizes(student):
    """femto_config(20, 5): vocab_size and block_size come from the arguments; the rest is Femto's."""
    return preset_facts(student, "femto_config", 20, 5)


@femto_other_sizes.verify
def _(got, ref):
    check_preset(got, ref, "femto_config(20, 5)")


@suite.case("pico_config", points=1, hint="pass vocab_size and block_size through: GPTConfig(vocab_size=vocab_size, block_size=block_size, ...).")
def pico_other_sizes(student):
    """pico_config(9, 12): vocab_size and block_size come from the arguments; the rest is Pico's."""
    return preset_facts(student, "pico_config", 9, 12)


@pico_other_sizes.verify
def _(got, ref):
    check_preset(got, ref, "pico_config(9, 12)")
