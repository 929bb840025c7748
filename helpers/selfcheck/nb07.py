"""Public tests of notebook 07 (miniGPT): run by ``check("name")`` and by the grader.

Every probe is tiny (a few hundred parameters, a handful of tokens) and draws every random
input through ``student.seed(k)``. Models are built from a plain config object
(``test_config``: GPTConfig's fields in a SimpleNamespace), and weights are set BY NAME from
seeded generators (``fill_by_name``), so your model and the solution's compute with the same
numbers whatever order you create the layers in.

One mistake costs once. The tests of a class that calls another graded class replace the
callee with a *stand-in* for the length of the probe: ``TransformerBlock`` is tested with a
stand-in attention (a fixed, seeded function that records what it is given), ``MiniGPT``
with stand-in blocks. So a block is judged on its own arithmetic around whatever attention
it calls, and a wrong attention costs points in ``CausalSelfAttention`` only. The stand-ins
are not attention or blocks: they compute ``tanh(x M + c)`` with seeded M and c.

Verify steps compare with the solution's run of the same probe (``ref``) and check
invariants; they read inputs only from ``ref``.
"""

from __future__ import annotations

import types
import zlib

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.selfcheck.doubles import SAME_ALONE_HINT, check_same_alone, modules_under_and_alone, standing_in

suite = Suite("07")

CONFIG_FIELDS = ["vocab_size", "block_size", "d_model", "n_layers", "n_heads", "d_head", "d_ff", "pos", "norm"]


# --------------------------------------------------------------------------- #
# Shared helpers (the hidden tests import them too)
# --------------------------------------------------------------------------- #


def test_config(**overrides) -> types.SimpleNamespace:
    """A config with GPTConfig's fields (a SimpleNamespace, independent of the notebook's GPTConfig)."""
    values = dict(vocab_size=7, block_size=6, d_model=4, n_layers=2, n_heads=2, d_head=2, d_ff=8, pos="rope", norm="layer")
    values.update(overrides)
    return types.SimpleNamespace(**values)


def config_text(cfg) -> str:
    return "config(" + ", ".join(f"{k}={getattr(cfg, k)!r}" for k in CONFIG_FIELDS) + ")"


def config_dict(cfg) -> dict:
    return {k: getattr(cfg, k) for k in CONFIG_FIELDS}


NORM_WEIGHT_NAMES = ("ln_1.weight", "ln_2.weight", "ln_f.weight")


def fill_by_name(module, seed: int) -> dict:
    """Set every parameter from its own generator, seeded by ``seed`` and the parameter's name,
    so the values do not depend on the order the layers were created in.

    Norm weights (ln_1.weight, ln_2.weight, ln_f.weight) get 1 + 0.3 N(0, 1); everything else
    0.5 N(0, 1). Returns {name: shape} of the parameters.
    """
    import torch

    shapes = {}
    with torch.no_grad():
        for name, param in module.named_parameters():
            g = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
            noise = torch.randn(tuple(param.shape), generator=g, dtype=torch.float32)
            value = 1.0 + 0.3 * noise if name.endswith(NORM_WEIGHT_NAMES) else 0.5 * noise
            param.copy_(value.to(param.dtype))
            shapes[name] = list(param.shape)
    return shapes


def state_of(module) -> dict:
    """{name: tensor copy} of every parameter."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def seeded_randn(shape, seed: int):
    import torch

    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


def seeded_ids(shape, vocab_size: int, seed: int):
    import torch

    return torch.randint(vocab_size, tuple(shape), generator=torch.Generator().manual_seed(seed))


def check_param_names(got: dict, expected: dict, what: str) -> None:
    """The parameters (names and shapes) are exactly the expected ones; say which differ."""
    if not isinstance(got, dict):
        raise AssertionError(f"could not list the parameters of {what}: {describe(got)}")
    missing = [n for n in expected if n not in got]
    extra = [n for n in got if n not in expected]
    if missing:
        raise AssertionError(
            f"{what} has no parameter `{missing[0]}`" + (f" (nor {', '.join(missing[1:4])})" if len(missing) > 1 else "")
            + f". Its parameters are: {', '.join(got) or 'none'}. The tests set weights by name: use the attribute names of the docstring."
        )
    if extra:
        listed = ", ".join(list(expected)[:8]) + (", ..." if len(expected) > 8 else "")
        raise AssertionError(f"{what} has unexpected parameter(s) {', '.join(extra[:4])}; expected exactly the documented ones: {listed}.")
    for name, shape in expected.items():
        if list(got[name]) != list(shape):
            raise AssertionError(f"`{name}` has shape {tuple(got[name])}, expected {tuple(shape)}.")


def outcome(fn) -> str:
    """Run fn(): 'ok', or the exception's type name and message. A stub's NotImplementedError propagates."""
    try:
        fn()
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - we report whatever it raised
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return "ok"


def expect_outcomes(got: dict, expected: dict) -> None:
    """got[k] is 'ok' or 'ValueError: ...' as expected[k] ('ok' or 'ValueError') says."""
    if not isinstance(got, dict):
        raise AssertionError(f"expected a dict of outcomes, got {describe(got)}.")
    for key, want in expected.items():
        have = got.get(key, "missing")
        if want == "ok" and have != "ok":
            raise AssertionError(f"{key} should be accepted, but it raised {have}.")
        if want != "ok" and not str(have).startswith(want + ":"):
            shown = "no error" if have == "ok" else f"{have}"
            raise AssertionError(f"{key} should raise {want}, got {shown}.")


def as_tensor_or_fail(value, what: str, shape: tuple | None = None):
    import torch

    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} should be a torch tensor, got {describe(value)}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}.")
    return value


def norm_params(prefix: str, cfg) -> dict:
    return {f"{prefix}.weight": [cfg.d_model], f"{prefix}.bias": [cfg.d_model]} if cfg.norm == "layer" else {}


NORM_CLASS = {"layer": "LayerNorm", "none": "Identity"}


# --------------------------------------------------------------------------- #
# Stand-ins for a callee (one mistake costs once)
# --------------------------------------------------------------------------- #


def stand_in_class(kind: str, seed: int):
    """A stand-in for CausalSelfAttention (kind "attention": returns tanh(x M + c)) or for
    TransformerBlock (kind "block": returns x + tanh(x M + c)); M and c are seeded per instance
    (in creation order), there are no parameters, and every call's input and output is recorded.
    """
    import torch

    class StandIn(torch.nn.Module):
        made: list = []

        def __init__(self, config):
            super().__init__()
            self.config = config
            self.index = len(StandIn.made)
            g = torch.Generator().manual_seed(seed + 7919 * self.index)
            d = config.d_model
            self.register_buffer("M", torch.randn(d, d, generator=g) / d**0.5, persistent=False)  # (d, d)
            self.register_buffer("c", 0.3 * torch.randn(d, generator=g), persistent=False)  # (d,)
            self.inputs: list = []
            self.outputs: list = []
            StandIn.made.append(self)

        def forward(self, x):
            if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.config.d_model:
                raise ValueError(f"the {kind} was called with {describe(x)}; it takes x of shape (B, T, d_model = {self.config.d_model})")
            out = torch.tanh(x @ self.M + self.c)  # (B, T, d)
            out = out if kind == "attention" else x + out
            self.inputs.append(x.detach().clone())
            self.outputs.append(out.detach().clone())
            return out

    StandIn.__name__ = StandIn.__qualname__ = "CausalSelfAttention" if kind == "attention" else "TransformerBlock"
    StandIn.made = []
    return StandIn


# --------------------------------------------------------------------------- #
# CausalSelfAttention
# --------------------------------------------------------------------------- #


def attention_params(cfg) -> dict:
    inner = cfg.n_heads * cfg.d_head
    return {"qkv.weight": [3 * inner, cfg.d_model], "proj.weight": [cfg.d_model, inner], "proj.bias": [cfg.d_model]}


def attention_parameters_probe(student, **sizes) -> dict:
    """The parameter names and shapes of the student's CausalSelfAttention(test_config(**sizes))."""
    cfg = test_config(**sizes)
    student.note(f"attn = CausalSelfAttention({config_text(cfg)})")
    attn = student.get("CausalSelfAttention")(cfg)
    return {"params": {n: list(p.shape) for n, p in attn.named_parameters()}, "config": config_dict(cfg)}


def run_attention(student, cfg, k: int, B: int, T: int) -> dict:
    """The student's attention with weights set by name, on a seeded x (B, T, d_model)."""
    import torch

    attn = student.get("CausalSelfAttention")(cfg)
    shapes = fill_by_name(attn, student.seed(k))
    x = seeded_randn((B, T, cfg.d_model), student.seed(k + 1))  # (B, T, d_model)
    student.note(f"attn = CausalSelfAttention({config_text(cfg)}) with weights set by name; attn(x) with x of shape {(B, T, cfg.d_model)}")
    with torch.no_grad():
        out = attn(x)
    return {"out": out, "weights": getattr(attn, "last_weights", "missing"), "params": shapes, "x": x, "state": state_of(attn),
            "config": config_dict(cfg)}


def check_attention_shapes(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**ref["config"])
    check_param_names(got["params"], attention_params(cfg), "the attention")
    B, T, _ = ref["x"].shape
    as_tensor_or_fail(got["out"], "attn(x)", (B, T, cfg.d_model))
    as_tensor_or_fail(got["weights"], "attn.last_weights after the call", (B, cfg.n_heads, T, T))


def check_attention_matches(got: dict, ref: dict) -> None:
    check_attention_shapes(got, ref)
    assert_matches(got["weights"], ref["weights"], "attn.last_weights", rtol=1e-4, atol=1e-6)
    assert_matches(got["out"], ref["out"], "attn(x)", rtol=1e-4, atol=1e-6)


def check_weight_invariants(weights, what: str = "attn.last_weights") -> None:
    import torch

    w = weights.double()
    T = w.shape[-1]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # (T, T)
    if bool((w[..., future].abs() > 1e-6).any()):
        raise AssertionError(f"{what}: position t gives weight to positions after t (above the diagonal); the causal mask must hide the future.")
    sums = w.sum(-1)
    if not bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-5)):
        raise AssertionError(f"{what}: every row (one position's weights over the positions it may see) should sum to 1; "
                             f"row sums range from {float(sums.min()):.4g} to {float(sums.max()):.4g}.")
    if bool((w < -1e-7).any()):
        raise AssertionError(f"{what}: attention weights are never negative.")


def check_causal_weights(got: dict, ref: dict) -> None:
    """Tolerant: the shapes, and last_weights are causal distributions (whatever the weights' values)."""
    check_attention_shapes(got, ref)
    check_weight_invariants(got["weights"])


@suite.case(
    "CausalSelfAttention",
    points=1,
    hint="the attention learns two linear maps: one that makes the queries, keys and values of every head at once (no bias), "
    "and the output projection W_O from the merged heads back to d_model (with a bias). Name and size them as the docstring says.",
)
def parameters(student):
    """CausalSelfAttention(config) has exactly qkv.weight (3*H*D, d_model), proj.weight (d_model, H*D) and proj.bias (d_model,) (d_model 4, 3 heads of 2)."""
    return attention_parameters_probe(student, n_heads=3)


def verify_attention_parameters(got, ref):
    """The attention's parameter names and shapes are those its config (from ``ref``) asks for."""
    check_param_names(got["params"], attention_params(types.SimpleNamespace(**ref["config"])), "the attention")


parameters.verify(verify_attention_parameters)


ONE_HEAD_HINT = (
    "one head, no RoPE: the scores are the dot products of queries with keys scaled by 1/sqrt(d_k); the future gets -inf "
    "before the softmax, which runs over the keys; the head's output is the weighted average of the values, then W_O."
)


@suite.case("CausalSelfAttention", points=1, hint=ONE_HEAD_HINT)
def one_head_without_rope(student):
    """One head of size 4 (d_model 4, pos 'learned': no rotation), x (2, 5, 4): output and last_weights as the solution's."""
    return run_attention(student, test_config(n_heads=1, d_head=4, pos="learned"), k=0, B=2, T=5)


one_head_without_rope.verify(check_attention_matches)


@suite.case(
    "CausalSelfAttention",
    points=1,
    hint="last_weights keeps the attention weights A of the call for every head, (B, n_heads, T, T): row t is a distribution "
    "(non-negative, summing to 1) over the positions 0..t, and zero on the future.",
)
def weights_are_causal_distributions(student):
    """2 heads (pos 'learned'), x (3, 6, 4): last_weights has shape (3, 2, 6, 6), rows sum to 1, nothing above the diagonal."""
    return run_attention(student, test_config(pos="learned"), k=10, B=3, T=6)


weights_are_causal_distributions.verify(check_causal_weights)


@suite.case(
    "CausalSelfAttention",
    points=2,
    hint="the output of qkv is [queries | keys | values], each n_heads * d_head wide, and head h owns the h-th block of d_head "
    "columns of each: split the last axis into (heads, d_head), then bring the heads axis before the positions; "
    "to merge, bring the positions back before the heads, then flatten to n_heads * d_head.",
)
def heads_split_and_merged(student):
    """3 heads of size 2 (d_model 4, pos 'learned'), x (2, 5, 4): output and last_weights as the solution's."""
    return run_attention(student, test_config(n_heads=3, d_head=2, pos="learned"), k=20, B=2, T=5)


heads_split_and_merged.verify(check_attention_matches)


@suite.case(
    "CausalSelfAttention",
    points=2,
    hint="with pos == 'rope' rotate the queries and the keys (never the values) by their positions after the split into heads, "
    "with the given apply_rope and the first T rows of the table (T may be shorter than block_size).",
)
def rope_on_queries_and_keys(student):
    """RoPE, 2 heads of size 4 (d_model 4, block_size 6), x (2, 5, 4) (T < block_size): output and last_weights as the solution's."""
    return run_attention(student, test_config(n_heads=2, d_head=4, pos="rope"), k=30, B=2, T=5)


rope_on_queries_and_keys.verify(check_attention_matches)


# --------------------------------------------------------------------------- #
# TransformerBlock (with a stand-in attention)
# --------------------------------------------------------------------------- #


def block_params(cfg) -> dict:
    """{name: shape} of a TransformerBlock's own parameters (the stand-in attention has none)."""
    d, ff = cfg.d_model, cfg.d_ff
    names = {}
    names.update(norm_params("ln_1", cfg))
    names.update(norm_params("ln_2", cfg))
    names.update({"mlp.0.weight": [ff, d], "mlp.0.bias": [ff], "mlp.2.weight": [d, ff], "mlp.2.bias": [d]})
    return names


def run_block(student, cfg, k: int, B: int = 2, T: int = 5) -> dict:
    """The student's block, its attention a stand-in, weights set by name, on a seeded x."""
    import torch
    import torch.nn as nn

    StandIn = stand_in_class("attention", student.seed(k + 2))
    with standing_in(student, "CausalSelfAttention", StandIn):
        block = student.get("TransformerBlock")(cfg)
        shapes = fill_by_name(block, student.seed(k))
        x = seeded_randn((B, T, cfg.d_model), student.seed(k + 1))  # (B, T, d_model)
        student.note(f"block = TransformerBlock({config_text(cfg)}) with weights set by name and a stand-in attention "
                     f"(it records its input); block(x) with x of shape {(B, T, cfg.d_model)}")
        with torch.no_grad():
            out = block(x)
    attn = getattr(block, "attn", None)
    mlp = getattr(block, "mlp", None)
    facts = {
        "is an nn.Module": isinstance(block, nn.Module),
        "ln_1": type(getattr(block, "ln_1", None)).__name__, "ln_2": type(getattr(block, "ln_2", None)).__name__,
        "attn is CausalSelfAttention(config)": isinstance(attn, StandIn) and attn.config is cfg,
        "mlp layers": [type(m).__name__ for m in mlp] if isinstance(mlp, nn.Sequential) else type(mlp).__name__,
        "gelu approximate": getattr(mlp[1], "approximate", None) if isinstance(mlp, nn.Sequential) and len(mlp) > 1 else None,
    }
    calls = [m for m in StandIn.made if m.inputs]
    return {"out": out, "x": x, "params": shapes, "state": state_of(block), "config": config_dict(cfg), "facts": facts,
            "attention calls": sum(len(m.inputs) for m in StandIn.made),
            "attention input": calls[0].inputs[0] if calls else None, "attention output": calls[0].outputs[0] if calls else None}


def check_block_facts(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**ref["config"])
    facts = got["facts"]
    if not facts["is an nn.Module"]:
        raise AssertionError("TransformerBlock must subclass nn.Module (and call super().__init__()).")
    for name in ("ln_1", "ln_2"):
        if facts[name] != NORM_CLASS[cfg.norm]:
            raise AssertionError(f"`{name}` should be an nn.{NORM_CLASS[cfg.norm]} for config.norm = {cfg.norm!r} (the given make_norm builds it), "
                                 f"got {facts[name]}.")
    if not facts["attn is CausalSelfAttention(config)"]:
        raise AssertionError("`attn` should be the block's CausalSelfAttention, built from the block's own config.")
    if facts["mlp layers"] != ["Linear", "GELU", "Linear"]:
        raise AssertionError(f"`mlp` should be an nn.Sequential of Linear (W_1), GELU, Linear (W_2); got {facts['mlp layers']}.")
    if facts["gelu approximate"] not in (None, "none"):
        raise AssertionError(f"use the exact GELU (approximate='none'), got approximate={facts['gelu approximate']!r}.")
    check_param_names(got["params"], block_params(cfg), "the block (without its attention)")


def check_block_attention_input(got: dict, ref: dict) -> None:
    if got["attention calls"] != 1:
        raise AssertionError(f"block(x) should call its attention exactly once, it called it {got['attention calls']} times.")
    assert_matches(got["attention input"], ref["attention input"], "the input the block gave its attention", rtol=1e-4, atol=1e-6)


def check_block_output(got: dict, ref: dict) -> None:
    as_tensor_or_fail(got["out"], "block(x)", tuple(ref["x"].shape))
    assert_matches(got["out"], ref["out"], "block(x)", rtol=1e-4, atol=1e-6)


def check_block_forward(got: dict, ref: dict) -> None:
    """The block called its attention once on ln_1(x), and block(x) is the solution's."""
    check_block_attention_input(got, ref)
    check_block_output(got, ref)


BLOCK_PARTS_HINT = (
    "the block holds four parts: two normalizations made by the given make_norm, the attention built from the block's config, "
    "and the MLP W_1, GELU, W_2 (d_model -> d_ff -> d_model), under the docstring's names."
)


@suite.case("TransformerBlock", points=1, hint=BLOCK_PARTS_HINT)
def attributes_and_parameters(student):
    """TransformerBlock(config) has ln_1, attn, ln_2, mlp (LayerNorm, and norm 'none'), with the documented parameter names and shapes."""
    return {norm: run_block(student, test_config(norm=norm), k=40 + i) for i, norm in enumerate(("layer", "none"))}


def verify_block_facts_both_norms(got, ref):
    """A block's attributes and parameters, with LayerNorm and without."""
    for norm in ("layer", "none"):
        try:
            check_block_facts(got[norm], ref[norm])
        except AssertionError as exc:
            raise AssertionError(f"with norm = {norm!r}: {exc}") from None


attributes_and_parameters.verify(verify_block_facts_both_norms)


PRE_NORM_HINT = "pre-norm: the attention reads a normalized copy of the stream (ln_1 of x), never x itself, and is called once."


@suite.case("TransformerBlock", points=1, hint=PRE_NORM_HINT)
def attention_reads_ln_1(student):
    """With LayerNorm, x (2, 5, 4): the block calls its attention once, on ln_1(x) (the attention is a recording stand-in)."""
    return run_block(student, test_config(), k=50)


attention_reads_ln_1.verify(check_block_attention_input)


RESIDUAL_HINT = (
    "each sublayer adds its result to the stream (a residual connection): first the attention of ln_1(x), then the MLP of "
    "ln_2 of the UPDATED stream."
)


@suite.case("TransformerBlock", points=2, hint=RESIDUAL_HINT)
def forward_with_layer_norm(student):
    """With LayerNorm, x (2, 5, 4), weights set by name, a stand-in attention: block(x) as the solution's."""
    return run_block(student, test_config(), k=60)


forward_with_layer_norm.verify(check_block_forward)


BLOCK_SIZES_HINT = "read every size from config (d_model, d_ff) and build the norms with make_norm(config): with norm 'none' they are identities."


@suite.case("TransformerBlock", points=1, hint=BLOCK_SIZES_HINT)
def forward_pico_sized_no_norm(student):
    """Pico-sized (d_model 2, d_ff 8, norm 'none'), x (2, 7, 2), a stand-in attention: block(x) as the solution's."""
    return run_block(student, test_config(d_model=2, n_heads=3, d_head=2, d_ff=8, norm="none", block_size=8), k=70, B=2, T=7)


forward_pico_sized_no_norm.verify(check_block_forward)


# --------------------------------------------------------------------------- #
# MiniGPT (with stand-in blocks)
# --------------------------------------------------------------------------- #


def gpt_params(cfg) -> dict:
    """{name: shape} of a MiniGPT's own parameters (the stand-in blocks have none)."""
    names = {"tok_emb.weight": [cfg.vocab_size, cfg.d_model]}
    if cfg.pos == "learned":
        names["pos_emb.weight"] = [cfg.block_size, cfg.d_model]
    names.update(norm_params("ln_f", cfg))
    names["head.weight"] = [cfg.vocab_size, cfg.d_model]
    return names


def build_gpt(student, cfg, k: int):
    """(model, StandIn class, shapes): the student's MiniGPT with stand-in blocks, weights set by name.
    Call the model inside ``standing_in`` only if it builds blocks lazily; the stand-ins are made in __init__."""
    StandIn = stand_in_class("block", student.seed(k + 2))
    with standing_in(student, "TransformerBlock", StandIn):
        model = student.get("MiniGPT")(cfg)
    shapes = fill_by_name(model, student.seed(k))
    student.note(f"model = MiniGPT({config_text(cfg)}) with weights set by name and stand-in blocks (each records its input)")
    return model, StandIn, shapes


def gpt_facts(model, cfg, StandIn) -> dict:
    import torch.nn as nn

    def kind(name):
        obj = getattr(model, name, None)
        return "missing" if obj is None else type(obj).__name__

    blocks = getattr(model, "blocks", None)
    head = getattr(model, "head", None)
    return {
        "is an nn.Module": isinstance(model, nn.Module),
        "tok_emb": kind("tok_emb"), "pos_emb": kind("pos_emb"), "blocks": kind("blocks"), "ln_f": kind("ln_f"), "head": kind("head"),
        "blocks are TransformerBlock(config)": [isinstance(b, StandIn) and b.config is cfg for b in blocks] if isinstance(blocks, nn.ModuleList) else None,
        "block order": [getattr(b, "index", None) for b in blocks] if isinstance(blocks, nn.ModuleList) else None,
        "head has a bias": getattr(head, "bias", None) is not None,
        "keeps config": getattr(model, "config", None) is cfg,
        "params": {n: list(p.shape) for n, p in model.named_parameters()},
    }


def check_gpt_facts(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**ref["config"])
    facts = got["facts"]
    if not facts["is an nn.Module"]:
        raise AssertionError("MiniGPT must subclass nn.Module (and call super().__init__()).")
    if not facts["keeps config"]:
        raise AssertionError("MiniGPT must keep its config as self.config (generate reads model.config.block_size).")
    wants = {"tok_emb": "Embedding", "blocks": "ModuleList", "ln_f": NORM_CLASS[cfg.norm], "head": "Linear"}
    for name, want in wants.items():
        if facts[name] != want:
            raise AssertionError(f"`{name}` should be an nn.{want}, got {facts[name]}.")
    if cfg.pos == "learned" and facts["pos_emb"] != "Embedding":
        raise AssertionError(f"with pos = 'learned' the model needs a table of one vector per position, `pos_emb`, got {facts['pos_emb']}.")
    if cfg.pos == "rope" and facts["pos_emb"] != "missing":
        raise AssertionError("with RoPE the positions act inside attention (rotated queries and keys): there is no `pos_emb` table.")
    if facts["blocks are TransformerBlock(config)"] != [True] * cfg.n_layers:
        raise AssertionError(f"`blocks` should hold n_layers = {cfg.n_layers} TransformerBlocks built from the model's config, "
                             f"got {facts['blocks are TransformerBlock(config)']} (True where a block is one).")
    if facts["head has a bias"]:
        raise AssertionError("`head` (the table U) has no bias: the scores are s = U v'.")
    check_param_names(facts["params"], gpt_params(cfg), "the model (without its blocks)")


def gpt_facts_by_position_probe(student, k: int, **sizes) -> dict:
    """gpt_facts of MiniGPT(test_config(**sizes)) with stand-in blocks, with RoPE (weights from student.seed(k))
    and with learned positions (student.seed(k + 10))."""
    out = {}
    for i, pos in enumerate(("rope", "learned")):
        cfg = test_config(**sizes, pos=pos)
        model, StandIn, _ = build_gpt(student, cfg, k + 10 * i)
        out[pos] = {"facts": gpt_facts(model, cfg, StandIn), "config": config_dict(cfg)}
    return out


def check_gpt_facts_by_position(got: dict, ref: dict) -> None:
    for pos in ("rope", "learned"):
        try:
            check_gpt_facts(got[pos], ref[pos])
        except AssertionError as exc:
            raise AssertionError(f"with pos = {pos!r}: {exc}") from None


def run_gpt(student, cfg, k: int, B: int, T: int, backward: bool = False, sliced: bool = False) -> dict:
    """model(ids) and model(ids, targets) with stand-in blocks; with ``sliced`` the targets are a non-contiguous slice
    (only the cases about that: one slip costs the cases that test it, not every case that computes a loss)."""
    import torch

    model, StandIn, shapes = build_gpt(student, cfg, k)
    ids = seeded_ids((B, T), cfg.vocab_size, student.seed(k + 1))  # (B, T)
    targets = seeded_ids((B, T + 1), cfg.vocab_size, student.seed(k + 3))[:, 1:]  # (B, T), a slice: not contiguous
    if not sliced:
        targets = targets.contiguous()  # (B, T)
    student.note(f"logits, loss = model(ids) and model(ids, targets) with ids of shape {(B, T)} and targets = "
                 + (f"a slice [:, 1:] of a {(B, T + 1)} tensor (not contiguous in memory)" if sliced else f"a {(B, T)} tensor"))
    with torch.no_grad():
        logits_only, loss_none = model(ids)
    for block in StandIn.made:
        block.inputs.clear()
        block.outputs.clear()
    model.zero_grad()
    logits, loss = model(ids, targets)
    out = {"logits": logits_only, "loss without targets": loss_none, "logits with targets": logits, "loss": loss,
           "ids": ids, "targets": targets.contiguous(), "params": shapes, "state": state_of(model), "config": config_dict(cfg),
           "block inputs": [b.inputs[0] if b.inputs else None for b in sorted(StandIn.made, key=lambda b: b.index)],
           "block outputs": [b.outputs[0] if b.outputs else None for b in sorted(StandIn.made, key=lambda b: b.index)],
           "block calls": [len(b.inputs) for b in sorted(StandIn.made, key=lambda b: b.index)]}
    if backward:
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()
        out["grads"] = {n: (None if p.grad is None else p.grad.detach().clone()) for n, p in model.named_parameters()}
    return out


def check_gpt_outputs(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**ref["config"])
    B, T = ref["ids"].shape
    check_param_names(got["params"], gpt_params(cfg), "the model (without its blocks)")
    logits = as_tensor_or_fail(got["logits"], "the logits of model(ids)", (B, T, cfg.vocab_size))
    if got["loss without targets"] is not None:
        raise AssertionError(f"model(ids) without targets should return (logits, None), got loss = {describe(got['loss without targets'])}.")
    loss = as_tensor_or_fail(got["loss"], "the loss of model(ids, targets)")
    if loss.dim() != 0:
        raise AssertionError(f"the loss should be one number (a scalar tensor): the mean over all B*T positions; got shape {tuple(loss.shape)}.")
    assert_matches(logits, ref["logits"], "logits", rtol=1e-4, atol=1e-6)
    assert_matches(loss, ref["loss"], "loss", rtol=1e-4, atol=1e-6)


def check_gpt_block_inputs(got: dict, ref: dict) -> None:
    n = len(ref["block calls"])
    if got["block calls"] != [1] * n:
        raise AssertionError(f"each of the {n} blocks should be called once per forward, in order; calls per block: {got['block calls']}.")
    for i in range(n):
        what = "the token vectors (plus the position vectors with pos 'learned')" if i == 0 else f"the output of block {i}"
        assert_matches(got["block inputs"][i], ref["block inputs"][i], f"the input of block {i + 1} (should be {what})", rtol=1e-4, atol=1e-6)


GPT_PARTS_HINT = (
    "the model holds the table V (tok_emb), a position table only when pos is 'learned', n_layers blocks in an nn.ModuleList, "
    "the final norm from make_norm, and the table U (head, no bias), under the docstring's names."
)


@suite.case("MiniGPT", points=1, hint=GPT_PARTS_HINT)
def attributes_rope_and_learned(student):
    """MiniGPT(config) has tok_emb, blocks, ln_f, head, and pos_emb only when pos = 'learned' (2 layers, d_model 4)."""
    return gpt_facts_by_position_probe(student, k=80)


attributes_rope_and_learned.verify(check_gpt_facts_by_position)


@suite.case(
    "MiniGPT",
    points=1,
    hint="the first block reads the token vectors V[ids] (plus the position vectors P[0..T-1] with learned positions); "
    "every later block reads the output of the block before it; each block runs once.",
)
def blocks_read_the_stream(student):
    """Learned positions, 2 stand-in blocks, ids (2, 5): block 1 reads tok_emb(ids) + pos_emb(0..4), block 2 reads block 1's output."""
    return run_gpt(student, test_config(pos="learned"), k=100, B=2, T=5)


blocks_read_the_stream.verify(check_gpt_block_inputs)


@suite.case(
    "MiniGPT",
    points=2,
    hint="after the blocks: the final norm, then the table U gives the scores at every position; the loss is the cross-entropy "
    "averaged over all B*T positions (flatten batch and positions together), and None without targets.",
)
def logits_and_loss(student):
    """RoPE, LayerNorm, 2 stand-in blocks, ids (2, 6): logits (B, T, vocab), loss None without targets, the mean cross-entropy with them."""
    return run_gpt(student, test_config(), k=110, B=2, T=6)


logits_and_loss.verify(check_gpt_outputs)


@suite.case(
    "MiniGPT",
    points=1,
    hint="the targets may be a slice of a bigger tensor, not contiguous in memory (the training loop passes such a slice): "
    "flatten them with an operation that copies when it must, not one that only re-views memory.",
)
def non_contiguous_targets(student):
    """No normalization, 1 stand-in block, targets = a [:, 1:] slice of a (3, 5) tensor (not contiguous): the loss as the solution's."""
    return run_gpt(student, test_config(norm="none", n_layers=1), k=120, B=3, T=4, sliced=True)


non_contiguous_targets.verify(check_gpt_outputs)


GRADIENTS_HINT = "keep forward differentiable from the loss back to every table: no detaching, no .item() or numpy in between."


@suite.case("MiniGPT", points=1, hint=GRADIENTS_HINT)
def gradients_reach_every_table(student):
    """loss.backward() gives tok_emb, ln_f and head the solution's gradients (RoPE, LayerNorm, 2 stand-in blocks, ids (2, 5))."""
    return run_gpt(student, test_config(), k=130, B=2, T=5, backward=True)


@gradients_reach_every_table.verify
def _(got, ref):
    check_gpt_outputs(got, ref)
    for name, grad in ref["grads"].items():
        mine = got["grads"].get(name)
        if mine is None:
            raise AssertionError(f"no gradient reached `{name}` after loss.backward(): something in forward is detached or unused.")
        assert_matches(mine, grad, f"gradient of {name}", rtol=1e-3, atol=1e-6)


TOO_LONG_HINT = "the model has tables for at most block_size positions: check the length of ids first and raise ValueError when it is longer."


@suite.case("MiniGPT", points=1, hint=TOO_LONG_HINT)
def too_long_raises(student):
    """ids longer than block_size (7 > 6) raise ValueError; exactly block_size tokens are fine."""
    import torch

    cfg = test_config()
    model, StandIn, _ = build_gpt(student, cfg, 140)
    with torch.no_grad():
        return {
            "model(ids) with T = block_size + 1 = 7": outcome(lambda: model(seeded_ids((1, 7), cfg.vocab_size, student.seed(141)))),
            "model(ids) with T = block_size = 6": outcome(lambda: model(seeded_ids((1, 6), cfg.vocab_size, student.seed(142)))),
        }


@too_long_raises.verify
def _(got, ref):
    expect_outcomes(got, {"model(ids) with T = block_size + 1 = 7": "ValueError", "model(ids) with T = block_size = 6": "ok"})


# --------------------------------------------------------------------------- #
# generate (with the tests' own language model)
# --------------------------------------------------------------------------- #


def _recording_lm_class():
    import torch

    class RecordingLM(torch.nn.Module):
        """The tests' own language model for generate (not your MiniGPT): the logits at position t
        are 2 * the mean of table[ids[s]] over s <= t, so every position depends on its whole context
        (cropping changes the result). It records every input it is fed."""

        def __init__(self, seed: int, vocab_size: int = 7, block_size: int = 4):
            super().__init__()
            self.config = types.SimpleNamespace(vocab_size=vocab_size, block_size=block_size)
            g = torch.Generator().manual_seed(seed)
            self.table = torch.nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g))  # (vocab, vocab)
            self.fed: list = []
            self.grad_enabled: list = []
            self.training_flags: list = []

        def forward(self, ids, targets=None):
            if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[0] != 1:
                raise ValueError(f"model(ids) needs an int64 tensor of shape (1, T), got {describe(ids)}")
            self.fed.append([int(i) for i in ids[0]])
            self.grad_enabled.append(torch.is_grad_enabled())
            self.training_flags.append(self.training)
            x = self.table[ids]  # (1, T, vocab)
            counts = torch.arange(1, ids.shape[1] + 1, dtype=x.dtype)[None, :, None]  # (1, T, 1)
            return 2.0 * torch.cumsum(x, dim=1) / counts, None  # (1, T, vocab)

    return RecordingLM


def recording_lm(seed: int, vocab_size: int = 7, block_size: int = 4):
    return _recording_lm_class()(seed, vocab_size, block_size)


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def assert_id_list(ids, start, n_new) -> None:
    if not isinstance(ids, list):
        raise AssertionError(f"generate must return a list of ints, got {describe(ids)}.")
    bad = [i for i, g in enumerate(ids) if not is_int(g)]
    if bad:
        raise AssertionError(f"generate must return a list of Python ints; item {bad[0]} is {describe(ids[bad[0]])}.")
    if len(ids) != len(start) + n_new:
        raise AssertionError(f"expected len(start_ids) + n_new = {len(start)} + {n_new} = {len(start) + n_new} ids, got {len(ids)}: {describe(ids)}.")
    if [int(i) for i in ids[: len(start)]] != [int(i) for i in start]:
        raise AssertionError(f"the result must begin with start_ids {list(start)}, got {describe(ids)}.")


def check_contexts(got: dict, ref: dict) -> None:
    """Each model call got exactly the last block_size ids of the sequence so far."""
    ids, start, n_new, block = got["ids"], ref["start"], ref["n_new"], ref["block_size"]
    fed = got["fed"]
    if len(fed) != n_new:
        raise AssertionError(f"generate should call the model once per new token (n_new = {n_new} times), it called it {len(fed)} times.")
    longest = max((len(c) for c in fed), default=0)
    if longest > block:
        raise AssertionError(f"generate fed the model {longest} tokens, more than block_size = {block}: the model only ever sees the "
                             "last block_size tokens of the sequence so far.")
    for k, context in enumerate(fed):
        expected = [int(i) for i in ids[: len(start) + k]][-block:]
        if context != expected:
            raise AssertionError(f"call {k + 1} fed the model {context}, expected the last (at most) block_size = {block} ids of the sequence so far: {expected}.")


def run_generate(student, start, n_new, k: int | None, lm_k: int, **kwargs) -> dict:
    """generate on the tests' RecordingLM (seeded by student.seed(lm_k)); a generator seeded by student.seed(k) unless k is None."""
    import torch

    model = recording_lm(student.seed(lm_k))
    model.train()
    generator = torch.Generator().manual_seed(student.seed(k)) if k is not None else None
    if generator is not None:
        kwargs["generator"] = generator
    student.note("model = the tests' RecordingLM (vocab 7, block_size 4: logits = 2 * running mean of a seeded table's rows)"
                 + ("; generator = a seeded torch.Generator" if generator is not None else ""))
    ids = student.generate(model, start, n_new, **kwargs)
    out = {"ids": ids, "start": [int(i) for i in start], "n_new": n_new, "block_size": model.config.block_size, "fed": model.fed,
           "grad enabled": model.grad_enabled, "training": model.training_flags}
    if generator is not None:
        out["next random number"] = float(torch.rand(1, generator=generator))
    return out


def check_sampled(got: dict, ref: dict) -> None:
    assert_id_list(got["ids"], ref["start"], ref["n_new"])
    check_contexts(got, ref)
    if [int(i) for i in got["ids"]] != [int(i) for i in ref["ids"]]:
        first = next(i for i, (g, r) in enumerate(zip(got["ids"], ref["ids"])) if int(g) != int(r))
        raise AssertionError(f"the ids differ from the solution's from position {first} on: expected {describe(ref['ids'])}, got {describe(got['ids'])}.")
    if "next random number" in ref and got.get("next random number") != ref["next random number"]:
        raise AssertionError("the tokens are right but the generator was used differently (the next random number after generate "
                             "differs): draw exactly one multinomial sample per new token from the generator, and nothing else.")


def check_eval_mode_and_no_grad(got: dict, ref: dict) -> None:
    """The solution's tokens, and the model was called in eval mode with gradients off."""
    check_sampled(got, ref)
    if any(got["grad enabled"]):
        raise AssertionError("the model was called with gradients enabled: generating needs no autograd graph.")
    if any(got["training"]):
        raise AssertionError("the model was still in training mode when called: switch it to evaluation mode first.")


SAMPLE_HINT = ("each step: the scores at the LAST position of the cropped context, divided by the temperature, through the softmax, "
               "then one multinomial draw from the given generator; the new id becomes part of the context.")


@suite.case("generate", points=2, hint="greedy decoding takes the most likely next token (the argmax of the scores at the last "
            "position) and draws no random number; the new id becomes part of the next context.")
def greedy_matches(student):
    """Greedy decoding from [1, 2], 7 new tokens, with the tests' own model (block_size 4): the argmax at every step."""
    return run_generate(student, [1, 2], 7, k=None, lm_k=200, greedy=True)


greedy_matches.verify(check_sampled)


@suite.case("generate", points=1, hint="the model never sees more than its block_size last tokens: crop the context before EVERY "
            "call, and return the whole sequence (start_ids, then the new ids).")
def crops_to_block_size(student):
    """From 6 start ids (more than block_size 4), 5 new tokens: every call sees the last 4 ids; 11 ids come back."""
    return run_generate(student, [3, 1, 4, 1, 5, 2], 5, k=210, lm_k=211)


@crops_to_block_size.verify
def _(got, ref):
    assert_id_list(got["ids"], ref["start"], ref["n_new"])
    check_contexts(got, ref)


@suite.case("generate", points=2, hint=SAMPLE_HINT)
def sampled_matches(student):
    """Sampling (temperature 1) from [0], 9 new tokens, a seeded generator: the same tokens as the solution."""
    return run_generate(student, [0], 9, k=220, lm_k=221)


sampled_matches.verify(check_sampled)


TEMPERATURE_HINT = (
    "the temperature tau divides the scores before the softmax (tau < 1 sharpens, tau > 1 flattens); "
    "it does not multiply them."
)


@suite.case("generate", points=1, hint=TEMPERATURE_HINT)
def temperature_divides_the_scores(student):
    """Sampling with temperature 0.4 from [2], 8 new tokens, a seeded generator: the same tokens as the solution."""
    return run_generate(student, [2], 8, k=230, lm_k=231, temperature=0.4)


temperature_divides_the_scores.verify(check_sampled)


EVAL_MODE_HINT = (
    "generating is not training: put the model in evaluation mode and build no autograd graph "
    "while calling it."
)


@suite.case("generate", points=1, hint=EVAL_MODE_HINT)
def eval_mode_and_no_grad(student):
    """generate puts the model (handed over in training mode) in eval mode and calls it with gradients off."""
    return run_generate(student, [4], 3, k=240, lm_k=241)


eval_mode_and_no_grad.verify(check_eval_mode_and_no_grad)


@suite.case("generate", points=1, hint="start_ids may be a list or a 1-D tensor: start from a list of Python ints made from it.")
def tensor_start_ids(student):
    """start_ids given as a 1-D tensor [3, 0] (greedy, 8 new tokens): a list of 10 Python ints, as the solution's.

    8 tokens, not 3: with few new tokens the greedy path under other seeds would often be the same, and a
    table of the release's answers would pass it by chance."""
    import torch

    return run_generate(student, torch.tensor([3, 0]), 8, k=None, lm_k=250, greedy=True)


tensor_start_ids.verify(check_sampled)


# --------------------------------------------------------------------------- #
# The same under its callers: a CausalSelfAttention (or a TransformerBlock) that answers otherwise inside its
# caller than alone loses a point in its own case (the hidden tests have these on other seeds)
# --------------------------------------------------------------------------- #


def same_under(student, build_caller, children, callee: str, caller: str, x_or_ids) -> list:
    """Build the student's ``caller`` module, hook its graded sub-modules ``children(parent)``, run it on ``x_or_ids``
    and run each recorded forward again alone (helpers/selfcheck/doubles.py). The hidden tests import it too."""
    try:
        parent = build_caller()
        modules = children(parent)
    except Exception:  # noqa: BLE001 - the caller is judged in its own cases
        return []
    return modules_under_and_alone(lambda: parent(x_or_ids), modules, callee, caller)


def check_tolerant_output(out, shape: tuple, what: str) -> None:
    """Tolerant: a finite tensor of ``shape`` (not a stub)."""
    import torch

    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape or not bool(torch.isfinite(out).all()):
        raise AssertionError(f"{what} should return a finite tensor of shape {shape}, got {out!r:.200}.")


def attention_under_block_probe(student, k: int, B: int, T: int) -> dict:
    """The attention's same-under-its-block cases: TransformerBlock(config)(x) on a seeded x (B, T, d_model)
    (student.seed(k)) watching block.attn, each recorded call made again alone, then CausalSelfAttention(config)(x)."""
    import torch

    cfg = test_config()
    x = seeded_randn((B, T, cfg.d_model), student.seed(k))  # (B, T, d_model)
    student.note(f"TransformerBlock({config_text(cfg)})(x) watching block.attn, then block.attn alone on the same input")
    calls = same_under(student, lambda: student.TransformerBlock(cfg), lambda block: [getattr(block, "attn", None)],
                       "CausalSelfAttention", "TransformerBlock", x.clone())
    with torch.no_grad():
        out = student.CausalSelfAttention(cfg)(x.clone())
    return {"alone": calls, "out": out}


def check_attention_under_block(got, ref):
    """Tolerant: the attention alone gives a finite (B, T, d_model); under the block it gives what it gives alone."""
    check_tolerant_output(got["out"], tuple(ref["out"].shape), "CausalSelfAttention(config)(x)")
    check_same_alone(got, "CausalSelfAttention")


def block_under_minigpt_probe(student, k: int, B: int, T: int) -> dict:
    """The block's same-under-MiniGPT cases: MiniGPT(config)(ids) on seeded ids (B, T) (student.seed(k)) watching its
    blocks, each recorded call made again alone, then one block beside an attention double (student.seed(k + 2))
    on a seeded x (B, T, d_model) (student.seed(k + 1))."""
    import torch

    cfg = test_config()
    ids = seeded_ids((B, T), cfg.vocab_size, student.seed(k))  # (B, T)
    x = seeded_randn((B, T, cfg.d_model), student.seed(k + 1))  # (B, T, d_model)
    student.note(f"MiniGPT({config_text(cfg)})(ids) watching its blocks, then each block alone on the same input")
    calls = same_under(student, lambda: student.MiniGPT(cfg), lambda model: list(getattr(model, "blocks", []) or []),
                       "TransformerBlock", "MiniGPT", ids)
    with standing_in(student, "CausalSelfAttention", stand_in_class("attention", student.seed(k + 2))):
        block = student.TransformerBlock(cfg)  # beside an attention double: the block's own step only
    with torch.no_grad():
        out = block(x.clone())
    return {"alone": calls, "out": out}


def check_block_under_minigpt(got, ref):
    """Tolerant: the block alone gives a finite (B, T, d_model); under MiniGPT it gives what it gives alone."""
    check_tolerant_output(got["out"], tuple(ref["out"].shape), "TransformerBlock(config)(x)")
    check_same_alone(got, "TransformerBlock")


@suite.case("CausalSelfAttention", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_block(student):
    """Inside your TransformerBlock, its CausalSelfAttention gives what it gives alone on the same input (and alone gives (B, T, d_model))."""
    return attention_under_block_probe(student, k=590, B=2, T=4)


same_alone_as_under_block.verify(check_attention_under_block)


@suite.case("TransformerBlock", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_minigpt(student):
    """Inside your MiniGPT, each TransformerBlock gives what it gives alone on the same input (and alone, beside an attention double, gives (B, T, d_model))."""
    return block_under_minigpt_probe(student, k=591, B=2, T=4)


same_alone_as_under_minigpt.verify(check_block_under_minigpt)
