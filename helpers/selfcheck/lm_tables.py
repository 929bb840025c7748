"""Checks shared by the suites of notebooks 03-05: a model made of the two tables
V (``encode = nn.Embedding(vocab_size, dim)``) and U (``decode = nn.Linear(dim,
vocab_size, bias=False)``) and nothing else.

``table_lm_facts`` runs in the probe (it turns a model into plain data);
``check_table_lm_facts`` runs in the verify and says which layer is wrong.
``gradients_probe`` and ``check_table_gradients`` are the gradient cases of the
context models of notebooks 04 and 05.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import assert_matches


def table_lm_facts(model, vocab_size: int | None = None, dim: int | None = None) -> dict:
    """What the grader needs to know about a model's layers (plain data)."""
    import torch

    encode, decode = getattr(model, "encode", None), getattr(model, "decode", None)
    return {
        "is an nn.Module": isinstance(model, torch.nn.Module),
        "encode type": type(encode).__name__ if encode is not None else "missing",
        "decode type": type(decode).__name__ if decode is not None else "missing",
        "encode is nn.Embedding": type(encode) is torch.nn.Embedding,
        "decode is nn.Linear": type(decode) is torch.nn.Linear,
        "encode weight shape": list(encode.weight.shape) if hasattr(encode, "weight") else None,
        "decode weight shape": list(decode.weight.shape) if hasattr(decode, "weight") else None,
        "decode has a bias": getattr(decode, "bias", None) is not None,
        "number of parameters": int(sum(p.numel() for p in model.parameters())) if isinstance(model, torch.nn.Module) else -1,
        "vocab_size": vocab_size,
        "dim": dim,
    }


def check_table_lm_facts(got: dict, n: int, m: int, name: str, formula: str = "s = U v", extra: str = "") -> None:
    """Raise AssertionError naming the first layer that is not V (n, m) or U (n, m) without bias.

    name: how the model was built, for messages; formula: the lecture's model; extra: a
    sentence added when the model has parameters besides V and U.
    """
    if not got["is an nn.Module"]:
        raise AssertionError(f"{name} must subclass torch.nn.Module (and call super().__init__()).")
    if not got["encode is nn.Embedding"]:
        raise AssertionError(f"`encode` should be nn.Embedding({n}, {m}) (the table V), got {got['encode type']}.")
    if not got["decode is nn.Linear"]:
        raise AssertionError(f"`decode` should be nn.Linear({m}, {n}, bias=False) (the table U), got {got['decode type']}.")
    if got["encode weight shape"] != [n, m]:
        raise AssertionError(f"`encode.weight` (the table V) should have shape ({n}, {m}), got {got['encode weight shape']}.")
    if got["decode weight shape"] != [n, m]:
        raise AssertionError(
            f"`decode.weight` (the table U) should have shape ({n}, {m}), i.e. nn.Linear({m}, {n}), got {got['decode weight shape']}."
        )
    if got["decode has a bias"]:
        raise AssertionError(f"`decode` has a bias; the lecture's model is {formula} only: nn.Linear(dim, vocab_size, bias=False).")
    if got["number of parameters"] != 2 * n * m:
        raise AssertionError(
            f"the model should have exactly V and U as parameters ({2 * n * m} numbers), got {got['number of parameters']}." + (f" {extra}" if extra else "")
        )


def gradients_probe(student, k: int, model: str, sizes: tuple, N: int, set_tables) -> dict:
    """The student's ``model(*sizes)`` (sizes: vocab_size, dim, context_size, then the model's own) with seeded
    tables V and U put in by ``set_tables``; F.cross_entropy(model(contexts), targets) on N seeded windows of
    context_size tokens (all from student.seed(k)), backpropagated: the tables, the windows and the gradients."""
    import torch
    import torch.nn.functional as F

    vocab_size, dim, T = sizes[:3]
    rng = np.random.default_rng(student.seed(k))
    lm = getattr(student, model)(*sizes)
    set_tables(lm, rng.normal(size=(vocab_size, dim)), rng.normal(size=(vocab_size, dim)))
    contexts = torch.from_numpy(rng.integers(0, vocab_size, size=(N, T)))  # (N, T)
    targets = torch.from_numpy(rng.integers(0, vocab_size, size=N))  # (N,)
    student.note(f"loss = F.cross_entropy(model(contexts), targets); loss.backward() with model = {model}({', '.join(map(str, sizes))})")
    F.cross_entropy(lm(contexts), targets).backward()
    g_enc, g_dec = lm.encode.weight.grad, lm.decode.weight.grad
    return {"V": lm.encode.weight.detach().clone(), "U": lm.decode.weight.detach().clone(), "contexts": contexts, "targets": targets,
            "encode grad": None if g_enc is None else g_enc.clone(), "decode grad": None if g_dec is None else g_dec.clone()}


def check_table_gradients(got: dict, ref: dict, rtol: float, atol: float) -> None:
    """Both tables got a gradient, and each is the solution's."""
    import torch

    for key, table in (("encode grad", "V"), ("decode grad", "U")):
        if not isinstance(got.get(key), torch.Tensor):
            raise AssertionError(f"no gradient reached the {key.split()[0]} weights ({table}): forward must stay differentiable.")
        assert_matches(got[key].double(), ref[key].double(), key, rtol=rtol, atol=atol)
