"""Public tests of notebook 07 (miniGPT): run by ``check("name")`` and by the grader.

Every probe is tiny (a few hundred parameters, a handful of tokens) so it runs in
milliseconds. Models are built from a plain config object (``test_config``: the fields
of GPTConfig in a SimpleNamespace), so the tests of TransformerBlock, MiniGPT and
generate do not depend on your GPTConfig. Weights are set BY NAME from seeded
generators (``fill_by_name``), so your model and the solution's compute with the same
numbers whatever order you create the layers in.
"""

from __future__ import annotations

import dataclasses
import types
import zlib

import numpy as np

from helpers.checking import Suite, assert_matches, describe

suite = Suite("07")

CONFIG_FIELDS = ["vocab_size", "block_size", "d_model", "n_layers", "n_heads", "d_head", "d_ff", "pos", "norm"]
GRADED_FIELDS = CONFIG_FIELDS[:8]  # the fields COURSE.md fixes; `norm` is this notebook's addition


# --------------------------------------------------------------------------- #
# Shared helpers (the hidden tests import them too)
# --------------------------------------------------------------------------- #


def test_config(**overrides) -> types.SimpleNamespace:
    """A config with GPTConfig's fields (a SimpleNamespace, independent of the student's GPTConfig)."""
    values = dict(vocab_size=7, block_size=6, d_model=4, n_layers=2, n_heads=2, d_head=2, d_ff=8, pos="rope", norm="layer")
    values.update(overrides)
    return types.SimpleNamespace(**values)


def config_text(cfg) -> str:
    return "config(" + ", ".join(f"{k}={getattr(cfg, k)!r}" for k in CONFIG_FIELDS) + ")"


def config_dict(cfg) -> dict:
    return {k: getattr(cfg, k) for k in CONFIG_FIELDS}


NORM_WEIGHT_NAMES = ("ln_1.weight", "ln_2.weight", "ln_f.weight")


def fill_by_name(module, seed: int) -> dict:
    """Set every parameter from its own seeded generator (seeded by ``seed`` and the parameter's
    name), so the values do not depend on the order the layers were created in.

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
    """{name: tensor copy} of every parameter (for recomputations in the verify)."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def norm_params(prefix: str, cfg) -> dict:
    d = cfg.d_model
    if cfg.norm == "layer":
        return {f"{prefix}.weight": [d], f"{prefix}.bias": [d]}
    return {}


def expected_block_params(cfg, prefix: str = "") -> dict:
    """{name: shape} of a TransformerBlock's parameters for ``cfg``."""
    d, inner, ff = cfg.d_model, cfg.n_heads * cfg.d_head, cfg.d_ff
    names = {}
    names.update(norm_params(f"{prefix}ln_1", cfg))
    names.update({f"{prefix}attn.query.weight": [inner, d], f"{prefix}attn.key.weight": [inner, d],
                  f"{prefix}attn.value.weight": [inner, d], f"{prefix}attn.proj.weight": [d, inner], f"{prefix}attn.proj.bias": [d]})
    names.update(norm_params(f"{prefix}ln_2", cfg))
    names.update({f"{prefix}mlp.0.weight": [ff, d], f"{prefix}mlp.0.bias": [ff], f"{prefix}mlp.2.weight": [d, ff], f"{prefix}mlp.2.bias": [d]})
    return names


def expected_gpt_params(cfg) -> dict:
    """{name: shape} of a MiniGPT's parameters for ``cfg``."""
    names = {"tok_emb.weight": [cfg.vocab_size, cfg.d_model]}
    if cfg.pos == "learned":
        names["pos_emb.weight"] = [cfg.block_size, cfg.d_model]
    for i in range(cfg.n_layers):
        names.update(expected_block_params(cfg, f"blocks.{i}."))
    names.update(norm_params("ln_f", cfg))
    names["head.weight"] = [cfg.vocab_size, cfg.d_model]
    return names


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
    for key, want in expected.items():
        have = got.get(key, "missing")
        if want == "ok" and have != "ok":
            raise AssertionError(f"{key} should be accepted, but it raised {have}.")
        if want != "ok" and not str(have).startswith(want + ":"):
            shown = "no error" if have == "ok" else f"{have}"
            raise AssertionError(f"{key} should raise {want}, got {shown}.")


def as_tensor_or_fail(value, what: str):
    import torch

    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} should be a torch tensor, got {describe(value)}.")
    return value


# --------------------------------------------------------------------------- #
# GPTConfig
# --------------------------------------------------------------------------- #


@suite.case("GPTConfig", points=1, hint="keep the given @dataclass and its fields (names, order, defaults); __post_init__ must not change valid values.")
def fields_and_values(student):
    """GPTConfig is a dataclass with the fields vocab_size, block_size, d_model, n_layers, n_heads, d_head, d_ff, pos (and norm), and keeps the values it is given."""
    cls = student.get("GPTConfig")
    is_dc = dataclasses.is_dataclass(cls)
    names = [f.name for f in dataclasses.fields(cls)] if is_dc else []
    cfg = student.GPTConfig(vocab_size=13, block_size=8, d_model=4, n_layers=2, n_heads=3, d_head=2, d_ff=16, pos="learned", norm="none")
    return {"is a dataclass": bool(is_dc), "fields": names, "values": {k: getattr(cfg, k, "missing") for k in CONFIG_FIELDS}}


@fields_and_values.verify
def _(got, ref):
    if not got["is a dataclass"]:
        raise AssertionError("GPTConfig must be a @dataclass (keep the decorator).")
    if got["fields"][: len(GRADED_FIELDS)] != GRADED_FIELDS or "norm" not in got["fields"]:
        raise AssertionError(f"GPTConfig's fields should be {CONFIG_FIELDS} in this order, got {got['fields']}.")
    assert_matches(got["values"], ref["values"], "values")


@suite.case(
    "GPTConfig",
    points=1,
    hint="in __post_init__: if self.pos not in ('rope', 'learned'): raise ValueError(...); the same for self.norm and ('layer', 'none').",
)
def rejects_unknown_pos_and_norm(student):
    """pos='sinusoidal' and norm='batch' raise ValueError; pos 'rope'/'learned' and norm 'layer'/'none' are accepted."""
    base = dict(vocab_size=13, block_size=8, d_model=4, n_layers=1, n_heads=2, d_head=2, d_ff=8)
    cases = {
        "GPTConfig(..., pos='rope')": dict(pos="rope"),
        "GPTConfig(..., pos='learned')": dict(pos="learned"),
        "GPTConfig(..., pos='sinusoidal')": dict(pos="sinusoidal"),
        "GPTConfig(..., norm='layer')": dict(norm="layer"),
        "GPTConfig(..., norm='none')": dict(norm="none"),
        "GPTConfig(..., norm='batch')": dict(norm="batch"),
    }
    cls = student.get("GPTConfig")
    return {key: outcome(lambda kw=kw: cls(**base, **kw)) for key, kw in cases.items()}


@rejects_unknown_pos_and_norm.verify
def _(got, ref):
    expect_outcomes(got, {"GPTConfig(..., pos='rope')": "ok", "GPTConfig(..., pos='learned')": "ok",
                          "GPTConfig(..., pos='sinusoidal')": "ValueError", "GPTConfig(..., norm='layer')": "ok",
                          "GPTConfig(..., norm='none')": "ok", "GPTConfig(..., norm='batch')": "ValueError"})


@suite.case(
    "GPTConfig",
    points=1,
    hint="RoPE rotates pairs (2j, 2j+1) of each head's dimensions: if self.pos == 'rope' and self.d_head % 2 != 0, raise ValueError.",
)
def rejects_odd_d_head_with_rope(student):
    """d_head = 3 with pos='rope' raises ValueError; d_head = 3 with pos='learned' and d_head = 2 with rope are fine."""
    base = dict(vocab_size=13, block_size=8, d_model=2, n_layers=1, n_heads=1, d_ff=8)
    cls = student.get("GPTConfig")
    return {
        "GPTConfig(..., d_head=3, pos='rope')": outcome(lambda: cls(**base, d_head=3, pos="rope")),
        "GPTConfig(..., d_head=3, pos='learned')": outcome(lambda: cls(**base, d_head=3, pos="learned")),
        "GPTConfig(..., d_head=2, pos='rope')": outcome(lambda: cls(**base, d_head=2, pos="rope")),
    }


@rejects_odd_d_head_with_rope.verify
def _(got, ref):
    expect_outcomes(got, {"GPTConfig(..., d_head=3, pos='rope')": "ValueError", "GPTConfig(..., d_head=3, pos='learned')": "ok",
                          "GPTConfig(..., d_head=2, pos='rope')": "ok"})


# --------------------------------------------------------------------------- #
# TransformerBlock
# --------------------------------------------------------------------------- #


def block_facts(block, cfg) -> dict:
    import torch.nn as nn

    def kind(name):
        obj = getattr(block, name, None)
        return "missing" if obj is None else type(obj).__name__

    mlp = getattr(block, "mlp", None)
    layers = [type(m).__name__ for m in mlp] if isinstance(mlp, nn.Sequential) else None
    gelu = mlp[1] if isinstance(mlp, nn.Sequential) and len(mlp) > 1 else None
    return {
        "is an nn.Module": isinstance(block, nn.Module),
        "ln_1": kind("ln_1"), "attn": kind("attn"), "ln_2": kind("ln_2"), "mlp": kind("mlp"),
        "mlp layers": layers,
        "gelu approximate": getattr(gelu, "approximate", None),
        "params": {n: list(p.shape) for n, p in block.named_parameters()},
        "config": config_dict(cfg),
    }


NORM_CLASS = {"layer": "LayerNorm", "none": "Identity"}


def check_block_facts(got: dict) -> None:
    cfg = types.SimpleNamespace(**got["config"])
    if not got["is an nn.Module"]:
        raise AssertionError("TransformerBlock must subclass nn.Module (and call super().__init__()).")
    for name, want in (("ln_1", NORM_CLASS[cfg.norm]), ("attn", "CausalSelfAttention"), ("ln_2", NORM_CLASS[cfg.norm]), ("mlp", "Sequential")):
        if got[name] != want:
            raise AssertionError(f"`{name}` should be a {want} (with config.norm = {cfg.norm!r}: use make_norm(config)), got {got[name]}."
                                 if name.startswith("ln") else f"`{name}` should be a {want}, got {got[name]}.")
    if got["mlp layers"] != ["Linear", "GELU", "Linear"]:
        raise AssertionError(f"`mlp` should be nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model)), got layers {got['mlp layers']}.")
    if got["gelu approximate"] not in (None, "none"):
        raise AssertionError(f"use the exact nn.GELU() (approximate='none'), got approximate={got['gelu approximate']!r}.")
    check_param_names(got["params"], expected_block_params(cfg), "the block")


@suite.case(
    "TransformerBlock",
    points=1,
    hint="in __init__: self.ln_1 = make_norm(config); self.attn = CausalSelfAttention(config); self.ln_2 = make_norm(config); "
    "self.mlp = nn.Sequential(nn.Linear(config.d_model, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, config.d_model)).",
)
def attributes_and_parameters(student):
    """TransformerBlock(config) has ln_1, attn, ln_2, mlp with the documented parameter names and shapes (d_model 4, 2 heads of 2, d_ff 8)."""
    cfg = test_config()
    student.note(f"block = TransformerBlock({config_text(cfg)})")
    return block_facts(student.get("TransformerBlock")(cfg), cfg)


@attributes_and_parameters.verify
def _(got, ref):
    check_block_facts(got)


def run_block(student, cfg, seed: int, B: int = 2, T: int = 5) -> dict:
    """A block with weights set by name, applied to a seeded x (B, T, d_model)."""
    import torch

    block = student.get("TransformerBlock")(cfg)
    shapes = fill_by_name(block, seed)
    x = torch.randn(B, T, cfg.d_model, generator=torch.Generator().manual_seed(seed))  # (B, T, d_model)
    student.note(f"block = TransformerBlock({config_text(cfg)}) with weights set by name (seed {seed}); block(x) with x of shape {tuple(x.shape)}")
    with torch.no_grad():
        out = block(x)
    return {"out": out, "params": shapes, "x": x, "state": state_of(block), "config": config_dict(cfg)}


def check_block_output(got: dict, ref: dict) -> None:
    cfg = types.SimpleNamespace(**got["config"])
    check_param_names(got["params"], expected_block_params(cfg), "the block")
    out = as_tensor_or_fail(got["out"], "block(x)")
    if tuple(out.shape) != tuple(got["x"].shape):
        raise AssertionError(f"block(x) should keep the shape of x {tuple(got['x'].shape)} (B, T, d_model), got {tuple(out.shape)}.")
    assert_matches(out, ref["out"], "block(x)")


@suite.case(
    "TransformerBlock",
    points=2,
    hint="forward, pre-norm with residuals: x = x + self.attn(self.ln_1(x)); x = x + self.mlp(self.ln_2(x)); return x.",
)
def forward_matches(student):
    """block(x) with LayerNorm, RoPE, weights set by name (seed 1), x of shape (2, 5, 4): same as the solution."""
    return run_block(student, test_config(), seed=1)


@forward_matches.verify
def _(got, ref):
    check_block_output(got, ref)


# --------------------------------------------------------------------------- #
# MiniGPT
# --------------------------------------------------------------------------- #


def gpt_facts(model, cfg) -> dict:
    import torch.nn as nn

    def kind(name):
        obj = getattr(model, name, None)
        return "missing" if obj is None else type(obj).__name__

    blocks = getattr(model, "blocks", None)
    head = getattr(model, "head", None)
    return {
        "is an nn.Module": isinstance(model, nn.Module),
        "tok_emb": kind("tok_emb"), "pos_emb": kind("pos_emb"), "blocks": kind("blocks"), "ln_f": kind("ln_f"), "head": kind("head"),
        "block types": [type(b).__name__ for b in blocks] if isinstance(blocks, nn.ModuleList) else None,
        "head has a bias": getattr(head, "bias", None) is not None,
        "keeps config": getattr(model, "config", None) is cfg,
        "params": {n: list(p.shape) for n, p in model.named_parameters()},
        "config": config_dict(cfg),
    }


def check_gpt_facts(got: dict) -> None:
    cfg = types.SimpleNamespace(**got["config"])
    if not got["is an nn.Module"]:
        raise AssertionError("MiniGPT must subclass nn.Module (and call super().__init__()).")
    if not got["keeps config"]:
        raise AssertionError("MiniGPT must keep its config as self.config (generate reads model.config.block_size).")
    wants = {"tok_emb": "Embedding", "blocks": "ModuleList", "ln_f": NORM_CLASS[cfg.norm], "head": "Linear"}
    for name, want in wants.items():
        if got[name] != want:
            raise AssertionError(f"`{name}` should be an nn.{want}, got {got[name]}.")
    if cfg.pos == "learned" and got["pos_emb"] != "Embedding":
        raise AssertionError(f"`pos_emb` should be nn.Embedding(block_size, d_model), got {got['pos_emb']}.")
    if cfg.pos == "rope" and got["pos_emb"] != "missing":
        raise AssertionError(f"there is no position table with RoPE (it rotates q and k inside attention): "
                             f"do not create `pos_emb`, got an nn.{got['pos_emb']}.")
    if got["block types"] != ["TransformerBlock"] * cfg.n_layers:
        raise AssertionError(f"`blocks` should hold n_layers = {cfg.n_layers} TransformerBlocks, got {got['block types']}.")
    if got["head has a bias"]:
        raise AssertionError("`head` (the table U) has a bias; use nn.Linear(d_model, vocab_size, bias=False).")
    check_param_names(got["params"], expected_gpt_params(cfg), "the model")


@suite.case(
    "MiniGPT",
    points=1,
    hint="self.tok_emb = nn.Embedding(vocab_size, d_model); only if config.pos == 'learned': self.pos_emb = nn.Embedding(block_size, d_model); "
    "self.blocks = nn.ModuleList([TransformerBlock(config) for _ in range(config.n_layers)]); self.ln_f = make_norm(config); "
    "self.head = nn.Linear(d_model, vocab_size, bias=False).",
)
def attributes_rope_and_learned(student):
    """MiniGPT(config) has tok_emb, blocks, ln_f, head, and pos_emb only when pos = 'learned' (2 layers, d_model 4)."""
    out = {}
    for pos in ("rope", "learned"):
        cfg = test_config(pos=pos)
        student.note(f"MiniGPT({config_text(cfg)})")
        out[pos] = gpt_facts(student.get("MiniGPT")(cfg), cfg)
    return out


@attributes_rope_and_learned.verify
def _(got, ref):
    for pos in ("rope", "learned"):
        try:
            check_gpt_facts(got[pos])
        except AssertionError as exc:
            raise AssertionError(f"with pos = {pos!r}: {exc}") from None


def build_gpt(student, cfg, seed: int):
    model = student.get("MiniGPT")(cfg)
    shapes = fill_by_name(model, seed)
    student.note(f"model = MiniGPT({config_text(cfg)}) with weights set by name (seed {seed})")
    return model, shapes


def seeded_ids(shape, vocab_size: int, seed: int):
    import torch

    return torch.randint(vocab_size, tuple(shape), generator=torch.Generator().manual_seed(seed))


def check_logits_and_loss(got: dict, ref: dict) -> None:
    import torch
    import torch.nn.functional as F

    cfg = types.SimpleNamespace(**got["config"])
    check_param_names(got["params"], expected_gpt_params(cfg), "the model")
    ids, targets = got["ids"], got["targets"]
    B, T = ids.shape
    logits = as_tensor_or_fail(got["logits"], "the logits (first item of what model(ids) returns)")
    if tuple(logits.shape) != (B, T, cfg.vocab_size):
        raise AssertionError(f"logits should have shape (B, T, vocab_size) = {(B, T, cfg.vocab_size)}, got {tuple(logits.shape)}.")
    if got["loss without targets"] is not None:
        raise AssertionError(f"model(ids) without targets should return (logits, None), got loss = {describe(got['loss without targets'])}.")
    loss = as_tensor_or_fail(got["loss"], "the loss of model(ids, targets)")
    if loss.dim() != 0:
        raise AssertionError(f"the loss should be a scalar tensor (the mean over all B*T positions), got shape {tuple(loss.shape)}.")
    expected = F.cross_entropy(got["logits with targets"].double().reshape(B * T, -1), targets.reshape(B * T))
    if not torch.isclose(loss.double(), expected, rtol=1e-4, atol=1e-6):
        raise AssertionError(
            f"the loss should be F.cross_entropy of your logits over all B*T = {B * T} positions = {expected.item():.6f}, got {loss.item():.6f}."
        )
    assert_matches(logits, ref["logits"], "logits")
    assert_matches(loss, ref["loss"], "loss")


def run_logits_and_loss(student, cfg, seed: int, B: int, T: int) -> dict:
    import torch

    model, shapes = build_gpt(student, cfg, seed)
    ids = seeded_ids((B, T), cfg.vocab_size, seed + 100)
    targets = seeded_ids((B, T), cfg.vocab_size, seed + 200)
    student.note(f"logits, loss = model(ids) and model(ids, targets) with ids, targets of shape {(B, T)}")
    with torch.no_grad():
        logits, loss_none = model(ids)
        logits2, loss = model(ids, targets)
    return {"logits": logits, "loss without targets": loss_none, "logits with targets": logits2, "loss": loss,
            "ids": ids, "targets": targets, "params": shapes, "state": state_of(model), "config": config_dict(cfg)}


@suite.case(
    "MiniGPT",
    points=2,
    hint="x = tok_emb(ids) (+ pos_emb(torch.arange(T)) if learned); x = block(x) for each block; logits = head(ln_f(x)); "
    "loss = None, or F.cross_entropy(logits.view(B * T, -1), targets.view(B * T)); return logits, loss. "
    "(MiniGPT uses your TransformerBlock: make its checks pass first.)",
)
def logits_and_loss(student):
    """logits (B, T, vocab) and loss: None without targets, F.cross_entropy over all positions with them (RoPE, LayerNorm, ids (2, 6))."""
    return run_logits_and_loss(student, test_config(), seed=2, B=2, T=6)


@logits_and_loss.verify
def _(got, ref):
    check_logits_and_loss(got, ref)


def run_causality(student, cfg, seed: int, prefix: int) -> dict:
    import torch

    model, shapes = build_gpt(student, cfg, seed)
    a = seeded_ids((1, cfg.block_size), cfg.vocab_size, seed + 300)  # (1, T)
    b = a.clone()
    b[0, prefix:] = (a[0, prefix:] + 1 + seeded_ids((cfg.block_size - prefix,), cfg.vocab_size - 1, seed + 400)) % cfg.vocab_size
    student.note(f"model(a) and model(b) for a = {a[0].tolist()}, b = {b[0].tolist()} (the same first {prefix} tokens)")
    with torch.no_grad():
        logits_a, _ = model(a)
        logits_b, _ = model(b)
    return {"logits a": logits_a, "logits b": logits_b, "prefix": prefix, "a": a, "b": b, "params": shapes, "config": config_dict(cfg)}


def check_causal(got: dict, ref: dict) -> None:
    import torch

    la = as_tensor_or_fail(got["logits a"], "model(a)[0]")
    lb = as_tensor_or_fail(got["logits b"], "model(b)[0]")
    k = got["prefix"]
    diff = (la[:, :k] - lb[:, :k]).abs().max().item() if la.shape == lb.shape and la.dim() == 3 else float("inf")
    if not diff <= 1e-5:
        pos = int(torch.nonzero((la[:, :k] - lb[:, :k]).abs().amax(-1) > 1e-5)[0, 1]) if la.shape == lb.shape and la.dim() == 3 else 0
        raise AssertionError(
            f"the model looks into the future: inputs a and b share their first {k} tokens, but the logits at position {pos} differ "
            f"(max difference {diff:.3g}). Every position may only depend on itself and earlier tokens (the causal mask)."
        )
    if tuple(la.shape) != tuple(ref["logits a"].shape):
        raise AssertionError(f"model(a) should give logits of shape {tuple(ref['logits a'].shape)}, got {tuple(la.shape)}.")


@suite.case(
    "MiniGPT",
    points=1,
    hint="the given CausalSelfAttention masks the future; do not mix positions anywhere else (no mean over T, no pos_emb of the wrong length).",
)
def causal(student):
    """Changing tokens 3..5 leaves the logits at positions 0..2 unchanged (RoPE, block_size 6)."""
    return run_causality(student, test_config(), seed=3, prefix=3)


@causal.verify
def _(got, ref):
    check_causal(got, ref)


@suite.case(
    "MiniGPT",
    points=1,
    hint="at the top of forward: B, T = ids.shape; if T > self.config.block_size: raise ValueError(...).",
)
def too_long_raises(student):
    """ids longer than block_size (7 > 6) raise ValueError; exactly block_size tokens are fine."""
    import torch

    cfg = test_config()
    model, _ = build_gpt(student, cfg, seed=4)
    with torch.no_grad():
        return {
            "model(ids) with T = block_size + 1 = 7": outcome(lambda: model(seeded_ids((1, 7), cfg.vocab_size, 5))),
            "model(ids) with T = block_size = 6": outcome(lambda: model(seeded_ids((1, 6), cfg.vocab_size, 6))),
        }


@too_long_raises.verify
def _(got, ref):
    expect_outcomes(got, {"model(ids) with T = block_size + 1 = 7": "ValueError", "model(ids) with T = block_size = 6": "ok"})


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #


def _recording_lm_class():
    import torch

    class RecordingLM(torch.nn.Module):
        """The tests' own language model for generate (it does not use your MiniGPT).

        logits at position t = 2 * mean of table[ids[s]] over s <= t, so every position depends on
        its whole context (cropping changes the result). It records every input it is fed.
        """

        def __init__(self, vocab_size: int = 7, block_size: int = 4, seed: int = 0):
            super().__init__()
            self.config = types.SimpleNamespace(vocab_size=vocab_size, block_size=block_size)
            g = torch.Generator().manual_seed(seed)
            self.table = torch.nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g))  # (vocab, vocab)
            self.fed: list = []  # the contexts, as lists of ids
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


def recording_lm(vocab_size: int = 7, block_size: int = 4, seed: int = 0):
    return _recording_lm_class()(vocab_size, block_size, seed)


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def assert_id_list(ids, start, n_new) -> None:
    if not isinstance(ids, list):
        raise AssertionError(f"generate must return a list of ints, got {describe(ids)}. Build it with list(start_ids) and append int(next).")
    bad = [i for i, g in enumerate(ids) if not is_int(g)]
    if bad:
        raise AssertionError(f"generate must return a list of Python ints; item {bad[0]} is {describe(ids[bad[0]])}. Append int(next_id).")
    if len(ids) != len(start) + n_new:
        raise AssertionError(f"expected len(start_ids) + n_new = {len(start)} + {n_new} = {len(start) + n_new} ids, got {len(ids)}: {describe(ids)}.")
    if [int(i) for i in ids[: len(start)]] != [int(i) for i in start]:
        raise AssertionError(f"the result must begin with start_ids {list(start)}, got {describe(ids)}.")


def check_contexts(got: dict) -> None:
    """Each model call got exactly the last block_size ids of the sequence so far."""
    ids, start, n_new, block = got["ids"], got["start"], got["n_new"], got["block_size"]
    fed = got["fed"]
    if len(fed) != n_new:
        raise AssertionError(f"generate should call the model once per new token (n_new = {n_new} times), it called it {len(fed)} times.")
    longest = max((len(c) for c in fed), default=0)
    if longest > block:
        raise AssertionError(
            f"generate fed the model {longest} tokens, more than block_size = {block}: crop the context to its last block_size ids "
            "(ids[-block_size:]) before each call."
        )
    for k, context in enumerate(fed):
        expected = [int(i) for i in ids[: len(start) + k]][-block:]
        if context != expected:
            raise AssertionError(
                f"call {k} fed the model {context}, expected the last block_size = {block} ids of the sequence so far: {expected}."
            )


def run_generate(student, start, n_new, seed, **kwargs) -> dict:
    import torch

    model = recording_lm()
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    if generator is not None:
        kwargs["generator"] = generator
    student.note("model = the tests' RecordingLM (vocab 7, block_size 4: logits = 2 * running mean of a seeded table's rows)"
                 + (f"; generator = torch.Generator().manual_seed({seed})" if seed is not None else ""))
    ids = student.generate(model, list(start), n_new, **kwargs)
    out = {"ids": ids, "start": list(start), "n_new": n_new, "block_size": model.config.block_size, "fed": model.fed,
           "grad enabled": model.grad_enabled, "training": model.training_flags}
    if generator is not None:
        out["next random number"] = float(torch.rand(1, generator=generator))
    return out


def check_sampled(got: dict, ref: dict, how: str) -> None:
    assert_id_list(got["ids"], got["start"], got["n_new"])
    if [int(i) for i in got["ids"]] != [int(i) for i in ref["ids"]]:
        first = next(i for i, (g, r) in enumerate(zip(got["ids"], ref["ids"])) if int(g) != int(r))
        raise AssertionError(
            f"the sampled ids differ from the solution's from position {first} on: expected {describe(ref['ids'])}, got {describe(got['ids'])}. "
            f"{how}"
        )
    if "next random number" in ref and got.get("next random number") != ref["next random number"]:
        raise AssertionError(
            "the tokens are right but the generator was used differently (the next random number after generate differs): "
            "draw exactly one torch.multinomial(probs, 1, generator=generator) per new token and nothing else."
        )


SAMPLE_HOW = ("Each step: logits, _ = model(context) with context the last block_size ids as a (1, T) tensor; "
              "probs = F.softmax(logits[0, -1] / temperature, dim=-1); next = torch.multinomial(probs, 1, generator=generator).")


@suite.case(
    "generate",
    points=2,
    hint="when greedy: next = int(torch.argmax(logits[0, -1])) (no random number drawn); append it, so it is part of the next context.",
)
def greedy_matches(student):
    """Greedy decoding from [1, 2], 7 new tokens, with the tests' own model (block_size 4): the argmax at every step."""
    return run_generate(student, [1, 2], 7, seed=None, greedy=True)


@greedy_matches.verify
def _(got, ref):
    assert_id_list(got["ids"], got["start"], got["n_new"])
    check_contexts(got)
    assert_matches(got["ids"], ref["ids"], "ids")


@suite.case(
    "generate",
    points=1,
    hint="before each model call crop: context = ids[-block_size:] with block_size = model.config.block_size; "
    "return the whole sequence (start_ids followed by the n_new ids).",
)
def crops_to_block_size(student):
    """From 6 start ids (more than block_size 4), 5 new tokens: the model never sees more than 4 tokens; 11 ids come back."""
    return run_generate(student, [3, 1, 4, 1, 5, 2], 5, seed=7)


@crops_to_block_size.verify
def _(got, ref):
    assert_id_list(got["ids"], got["start"], got["n_new"])
    check_contexts(got)


@suite.case("generate", points=2, hint=SAMPLE_HOW)
def sampled_matches(student):
    """Sampling (temperature 1) from [0], 9 new tokens, generator seeded with 3: the same tokens as the solution."""
    return run_generate(student, [0], 9, seed=3)


@sampled_matches.verify
def _(got, ref):
    assert_id_list(got["ids"], got["start"], got["n_new"])
    check_contexts(got)
    check_sampled(got, ref, SAMPLE_HOW)


# --------------------------------------------------------------------------- #
# femto_config and pico_config
# --------------------------------------------------------------------------- #


def preset_facts(student, name: str, vocab_size: int, block_size: int) -> dict:
    cfg = getattr(student, name)(vocab_size, block_size)
    cls = student.get("GPTConfig")
    return {"is a GPTConfig": isinstance(cfg, cls), "type": type(cfg).__name__,
            "values": {k: getattr(cfg, k, "missing") for k in CONFIG_FIELDS}}


def check_preset(got: dict, ref: dict, name: str) -> None:
    if not got["is a GPTConfig"]:
        raise AssertionError(f"{name} should return a GPTConfig, got a {got['type']}.")
    for key, value in ref["values"].items():
        if got["values"].get(key) != value:
            raise AssertionError(f"{name}: `{key}` should be {value!r}, got {got['values'].get(key)!r}. Expected {ref['values']}.")


@suite.case(
    "femto_config",
    points=2,
    hint="return GPTConfig(vocab_size, block_size, d_model=2, n_layers=1, n_heads=1, d_head=2, d_ff=8, pos='rope', norm='none').",
)
def femto_values(student):
    """femto_config(13, 8): the slide's Femto, a 2-D embedded space, 1 layer, 1 head of size 2 (d_ff 8, RoPE, no norm)."""
    return preset_facts(student, "femto_config", 13, 8)


@femto_values.verify
def _(got, ref):
    check_preset(got, ref, "femto_config(13, 8)")


@suite.case(
    "pico_config",
    points=2,
    hint="return GPTConfig(vocab_size, block_size, d_model=2, n_layers=3, n_heads=3, d_head=2, d_ff=8, pos='rope', norm='none').",
)
def pico_values(student):
    """pico_config(13, 8): the slide's Pico, a 2-D embedded space, 3 layers of 3 heads of size 2 (d_ff 8, RoPE, no norm)."""
    return preset_facts(student, "pico_config", 13, 8)


@pico_values.verify
def _(got, ref):
    check_preset(got, ref, "pico_config(13, 8)")
