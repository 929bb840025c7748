"""Hidden tests of notebook 03 (training): grader only.

Other seeds and shapes, edge cases, and independent references: torch autograd,
finite differences of the student's own loss, one SGD step re-computed here, and a
full-batch gradient-descent trajectory re-computed with torch.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches
from helpers.selfcheck.nb03 import (
    autograd_loss_and_grads,
    check_grads_against_autograd,
    check_logits,
    set_tables,
    shape_error,
    slide_pairs,
    softmax_ref,
    tiny_lm,
)

suite = Suite("03", visibility="hidden")


# --------------------------------------------------------------------------- #
# make_pairs
# --------------------------------------------------------------------------- #


@suite.case("make_pairs", points=1, hint="convert with np.asarray(ids) first, then slice: ids[:-1] and ids[1:].")
def list_input_random_stream(student):
    """A plain Python list of 40 seeded random ids gives 39 pairs as numpy int arrays."""
    ids = [int(x) for x in np.random.default_rng(11).integers(0, 9, size=40)]
    prev_ids, next_ids = student.make_pairs(ids)
    return {"prev_ids": prev_ids, "next_ids": next_ids}


@suite.case("make_pairs", points=1, hint="slicing handles short streams: ids[:-1] and ids[1:] of a 1-token stream are empty int arrays.")
def single_token_no_pairs(student):
    """A stream of one token has no pairs: two empty int arrays; two tokens give exactly one pair."""
    one = student.make_pairs(np.array([5], dtype=np.int64))
    two = student.make_pairs(np.array([2, 7], dtype=np.int64))
    return {"one token": one, "two tokens": two}


# --------------------------------------------------------------------------- #
# cross_entropy
# --------------------------------------------------------------------------- #


@suite.case("cross_entropy", points=1, hint="J = -log p[target] with the natural log (np.log), not log2 or log10.")
def random_distributions(student):
    """-log p[target] on seeded random distributions over 10 tokens, several targets."""
    rng = np.random.default_rng(21)
    out = []
    for target in (0, 4, 9):
        p = softmax_ref(rng.normal(size=10) * 2)
        out.append(student.cross_entropy(p, target))
    return out


@suite.case("cross_entropy", points=1, hint="-log(1) = 0 and -log of a tiny probability is large but finite; return a float.")
def certain_and_unlikely(student):
    """A certain prediction costs 0; a probability of 1e-12 costs about 27.6."""
    certain = student.cross_entropy(np.array([0.0, 1.0, 0.0]), 1)
    unlikely = student.cross_entropy(np.array([1.0 - 1e-12, 1e-12]), 1)
    return {"p[target] = 1": certain, "p[target] = 1e-12": unlikely}


# --------------------------------------------------------------------------- #
# loss_and_grads
# --------------------------------------------------------------------------- #


@suite.case(
    "loss_and_grads",
    points=1,
    hint="use the shapes generally: v = V[prev_id] is (M,), s = U @ v is (vocab_size,), dU = np.outer(ds, v) is (vocab_size, M).",
)
def random_tables_vs_autograd(student):
    """Seeded random V (7, 4) and U (7, 4): loss and gradients vs the solution and torch autograd."""
    rng = np.random.default_rng(5)
    V, U = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    loss, dV, dU = student.loss_and_grads(V.copy(), U.copy(), 6, 2)
    return {"loss": loss, "dV": dV, "dU": dU, "V": V, "U": U, "prev_id": 6, "next_id": 2}


@random_tables_vs_autograd.verify
def _(got, ref):
    check_grads_against_autograd(got)
    assert_matches({k: got[k] for k in ("loss", "dV", "dU")}, {k: ref[k] for k in ("loss", "dV", "dU")})


@suite.case(
    "loss_and_grads",
    points=1,
    hint="when prev_id == next_id the same token is both v and a row of U: V and U are separate tables, "
    "so dV[prev_id] = U.T @ ds and dU = np.outer(ds, v) still hold; do not modify V or U.",
)
def same_token_prev_and_next(student):
    """The pair ('the', 'the') (prev_id == next_id) on the slide's tables; V and U stay unchanged."""
    from helpers.data import SLIDE_U, SLIDE_V

    V, U = SLIDE_V.copy(), SLIDE_U.copy()
    loss, dV, dU = student.loss_and_grads(V, U, 6, 6)
    return {"loss": loss, "dV": dV, "dU": dU, "V": SLIDE_V.copy(), "U": SLIDE_U.copy(), "prev_id": 6, "next_id": 6,
            "inputs unchanged": bool(np.array_equal(V, SLIDE_V) and np.array_equal(U, SLIDE_U))}


@same_token_prev_and_next.verify
def _(got, ref):
    if not got["inputs unchanged"]:
        raise AssertionError("loss_and_grads changed the V or U it was given; it should only compute, not update.")
    check_grads_against_autograd(got)


H = 1e-5


@suite.case(
    "loss_and_grads",
    points=2,
    hint="your gradients must be the slopes of your own loss: check ds = p - onehot(next_id), dU = outer(ds, v) (not outer(v, ds)), dV[prev_id] = U.T @ ds.",
    timeout=20.0,
)
def finite_differences(student):
    """Gradient check: every entry of dV and dU matches a centered finite difference of your own loss (V, U of shape (4, 3))."""
    rng = np.random.default_rng(8)
    V, U = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    prev_id, next_id = 2, 0
    loss, dV, dU = student.loss_and_grads(V.copy(), U.copy(), prev_id, next_id)
    raw = student.get("loss_and_grads")
    bumped = {}
    for name in ("V", "U"):
        plus, minus = np.zeros((4, 3)), np.zeros((4, 3))
        for i in range(4):
            for j in range(3):
                for sign, store in ((1.0, plus), (-1.0, minus)):
                    Vb, Ub = V.copy(), U.copy()
                    (Vb if name == "V" else Ub)[i, j] += sign * H
                    store[i, j] = float(raw(Vb, Ub, prev_id, next_id)[0])
        bumped[name] = (plus, minus)
    student.note("and loss_and_grads at V, U with one entry moved by +-1e-5, for every entry")
    return {"loss": loss, "dV": dV, "dU": dU, "V": V, "U": U, "prev_id": prev_id, "next_id": next_id,
            "V+": bumped["V"][0], "V-": bumped["V"][1], "U+": bumped["U"][0], "U-": bumped["U"][1]}


@finite_differences.verify
def _(got, ref):
    for name in ("V", "U"):
        numeric = (got[f"{name}+"] - got[f"{name}-"]) / (2 * H)  # (4, 3)
        mine = got[f"d{name}"]
        shape_error(f"d{name}", mine, numeric.shape)
        diff = np.abs(mine - numeric)
        if np.max(diff) > 1e-6 * max(1.0, float(np.max(np.abs(numeric)))):
            i, j = np.unravel_index(np.argmax(diff), diff.shape)
            raise AssertionError(
                f"`d{name}[{i}, {j}]` = {mine[i, j]:.6g}, but the finite difference of your loss "
                f"(J({name}[{i},{j}] + h) - J({name}[{i},{j}] - h)) / 2h with h = 1e-5 gives {numeric[i, j]:.6g}."
            )
    loss, _, _ = autograd_loss_and_grads(got["V"], got["U"], got["prev_id"], got["next_id"])
    assert_matches(got["loss"], loss, "loss")


# --------------------------------------------------------------------------- #
# sgd_epoch
# --------------------------------------------------------------------------- #


@suite.case(
    "sgd_epoch",
    points=1,
    hint="one step per pair, in the given order (not one step on the average gradient); compute dV and dU at the same V, U, then update both.",
)
def random_data_one_epoch(student):
    """One epoch on 12 seeded random pairs over 5 tokens (V, U of shape (5, 3), lr = 0.3)."""
    rng = np.random.default_rng(13)
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    prev_ids, next_ids = rng.integers(0, 5, size=12), rng.integers(0, 5, size=12)
    V1, U1, loss = student.sgd_epoch(V, U, prev_ids, next_ids, 0.3)
    return {"V": V1, "U": U1, "mean_loss": loss}


@suite.case(
    "sgd_epoch",
    points=1,
    hint="mean_loss = the mean of the per-pair losses, each computed BEFORE that pair's step (at the current V, U).",
)
def zero_learning_rate(student):
    """With lr = 0 nothing moves: V, U come back equal, and mean_loss is the average loss at V, U."""
    prev_ids, next_ids = slide_pairs()
    from helpers.data import SLIDE_U, SLIDE_V

    V1, U1, loss = student.sgd_epoch(SLIDE_V.copy(), SLIDE_U.copy(), prev_ids, next_ids, 0.0)
    return {"V": V1, "U": U1, "mean_loss": loss, "V in": SLIDE_V.copy(), "U in": SLIDE_U.copy(),
            "prev_ids": prev_ids, "next_ids": next_ids}


@zero_learning_rate.verify
def _(got, ref):
    assert_matches(got["V"], got["V in"], "V")
    assert_matches(got["U"], got["U in"], "U")
    p = softmax_ref(got["V in"][got["prev_ids"]] @ got["U in"].T)  # (N, vocab)
    expected = float(np.mean(-np.log(p[np.arange(len(got["next_ids"])), got["next_ids"]])))
    assert_matches(got["mean_loss"], expected, "mean_loss")


@suite.case(
    "sgd_epoch",
    points=1,
    hint="the step is V - lr * dV and U - lr * dU with the gradients of loss_and_grads at the current V and U.",
)
def single_pair_is_one_step(student):
    """One pair, one step: V and U move by exactly -lr times the gradient (checked against autograd)."""
    rng = np.random.default_rng(17)
    V, U = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    V1, U1, loss = student.sgd_epoch(V.copy(), U.copy(), np.array([3]), np.array([5]), 0.25)
    return {"V": V1, "U": U1, "mean_loss": loss, "V in": V, "U in": U}


@single_pair_is_one_step.verify
def _(got, ref):
    loss, dV, dU = autograd_loss_and_grads(got["V in"], got["U in"], 3, 5)
    assert_matches(got["V"], got["V in"] - 0.25 * dV, "V")
    assert_matches(got["U"], got["U in"] - 0.25 * dU, "U")
    assert_matches(got["mean_loss"], loss, "mean_loss")


# --------------------------------------------------------------------------- #
# WordEmbedLM
# --------------------------------------------------------------------------- #


@suite.case(
    "WordEmbedLM",
    points=1,
    hint="nn.Embedding and nn.Linear work on any leading shape: return self.decode(self.encode(prev_ids)) without reshaping.",
)
def other_sizes_3d_ids(student):
    """WordEmbedLM(11, 5) with seeded weights: 0-D, 1-D and 3-D (2, 3, 4) ids give logits U[V[ids]]."""
    import torch

    rng = np.random.default_rng(23)
    model = student.WordEmbedLM(11, 5)
    set_tables(model, rng.normal(size=(11, 5)), rng.normal(size=(11, 5)))
    student.note("model = WordEmbedLM(11, 5) with seeded random encode.weight and decode.weight")
    ids0 = torch.tensor(7)
    ids1 = torch.tensor([0, 10, 3])
    ids3 = torch.from_numpy(rng.integers(0, 11, size=(2, 3, 4)))
    with torch.no_grad():
        out = {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
               "ids 0-D": ids0, "logits 0-D": model(ids0), "ids 1-D": ids1, "logits 1-D": model(ids1),
               "ids 3-D": ids3, "logits 3-D": model(ids3)}
    return out


@other_sizes_3d_ids.verify
def _(got, ref):
    check_logits(got, ["0-D", "1-D", "3-D"])


@suite.case(
    "WordEmbedLM",
    points=1,
    hint="keep forward in torch (no .detach(), .numpy() or torch.no_grad()) so gradients reach encode.weight and decode.weight.",
)
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(prev), next) fills encode.weight.grad and decode.weight.grad correctly."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(29)
    model = student.WordEmbedLM(6, 3)
    set_tables(model, rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    prev_ids = torch.from_numpy(rng.integers(0, 6, size=10))
    next_ids = torch.from_numpy(rng.integers(0, 6, size=10))
    student.note("loss = F.cross_entropy(model(prev_ids), next_ids); loss.backward() with model = WordEmbedLM(6, 3)")
    loss = F.cross_entropy(model(prev_ids), next_ids)
    loss.backward()
    g_enc, g_dec = model.encode.weight.grad, model.decode.weight.grad
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "prev_ids": prev_ids, "next_ids": next_ids,
            "encode grad": None if g_enc is None else g_enc.clone(), "decode grad": None if g_dec is None else g_dec.clone()}


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    V = got["V"].double().requires_grad_()
    U = got["U"].double().requires_grad_()
    F.cross_entropy(V[got["prev_ids"]] @ U.T, got["next_ids"]).backward()
    for key, table, expected in (("encode grad", "V", V.grad), ("decode grad", "U", U.grad)):
        if got[key] is None or not isinstance(got[key], torch.Tensor):
            raise AssertionError(f"no gradient reached the {key.split()[0]} weights ({table}): forward must stay differentiable.")
        assert_matches(got[key].double(), expected, key)


# --------------------------------------------------------------------------- #
# train_word_embed_lm
# --------------------------------------------------------------------------- #


@suite.case(
    "train_word_embed_lm",
    points=1,
    timeout=30.0,
    hint="full batch: each epoch uses ALL pairs in one step; record the loss computed before optimizer.step(); "
    "plain torch.optim.SGD(model.parameters(), lr=lr) without momentum or weight decay.",
)
def matches_gradient_descent(student):
    """Four epochs (vocab 6, dim 3, 30 seeded pairs, lr = 0.7): losses and weights match plain gradient descent done independently."""
    import torch

    rng = np.random.default_rng(31)
    V, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    prev_ids, next_ids = rng.integers(0, 6, size=30), rng.integers(0, 6, size=30)
    model = tiny_lm(V, U)
    V0, U0 = model[0].weight.detach().clone(), model[1].weight.detach().clone()
    student.note("model = nn.Sequential(nn.Embedding(6, 3), nn.Linear(3, 6, bias=False)) with seeded weights")
    losses = student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 4, 0.7)
    return {"losses": losses, "V after training": model[0].weight.detach().clone(), "U after training": model[1].weight.detach().clone(),
            "V0": V0, "U0": U0, "prev_ids": prev_ids, "next_ids": next_ids}


@matches_gradient_descent.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    V, U = got["V0"].double(), got["U0"].double()
    prev_ids, next_ids = torch.from_numpy(got["prev_ids"]), torch.from_numpy(got["next_ids"])
    expected = []
    for _ in range(4):
        V.requires_grad_(True)
        U.requires_grad_(True)
        loss = F.cross_entropy(V[prev_ids] @ U.T, next_ids)
        gV, gU = torch.autograd.grad(loss, (V, U))
        expected.append(loss.item())
        V, U = (V - 0.7 * gV).detach(), (U - 0.7 * gU).detach()
    if not isinstance(got["losses"], list):
        raise AssertionError(f"train_word_embed_lm should return a list of floats, got {type(got['losses']).__name__}.")
    assert_matches(got["losses"], expected, "losses", rtol=1e-4)
    assert_matches(got["V after training"].double(), V, "V after training", rtol=1e-4)
    assert_matches(got["U after training"].double(), U, "U after training", rtol=1e-4)


@suite.case(
    "train_word_embed_lm",
    points=1,
    timeout=30.0,
    hint="loop exactly `epochs` times and return a list of that many floats (loss.item()); epochs = 0 returns [].",
)
def epoch_count_and_types(student):
    """epochs = 0 gives [] and leaves the model unchanged; epochs = 3 gives three Python floats."""
    import torch

    rng = np.random.default_rng(37)
    V, U = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    prev_ids, next_ids = torch.from_numpy(rng.integers(0, 5, size=9)), torch.from_numpy(rng.integers(0, 5, size=9))
    model = tiny_lm(V, U)
    none = student.train_word_embed_lm(model, prev_ids, next_ids, 0, 0.5)
    unchanged = bool(np.allclose(model[0].weight.detach().numpy(), V, atol=1e-6) and np.allclose(model[1].weight.detach().numpy(), U, atol=1e-6))
    three = student.train_word_embed_lm(model, prev_ids, next_ids, 3, 0.5)
    return {"epochs = 0": none, "model unchanged after 0 epochs": unchanged, "epochs = 3": three}


@epoch_count_and_types.verify
def _(got, ref):
    if got["epochs = 0"] != []:
        raise AssertionError(f"epochs = 0 should return an empty list, got {got['epochs = 0']!r:.80}.")
    if not got["model unchanged after 0 epochs"]:
        raise AssertionError("epochs = 0 changed the model's weights; no step should happen.")
    three = got["epochs = 3"]
    if not isinstance(three, list) or len(three) != 3 or not all(isinstance(x, (float, np.floating)) for x in three):
        raise AssertionError(f"epochs = 3 should return a list of three Python floats (loss.item()), got {three!r:.120}.")
    assert_matches(three, ref["epochs = 3"], "epochs = 3")
