"""Hidden tests of notebook 03 (training): grader only.

Other seeds and shapes, edge cases, and independent references (trusted side only):
torch autograd, finite differences of the student's own loss, logits recomputed from
the tables, and a full-batch gradient-descent trajectory recomputed with torch.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import FLOAT32_TOL, Suite, assert_matches, describe, rel_error
from helpers.selfcheck.doubles import SAME_ALONE_HINT
from helpers.selfcheck.nb03 import (
    CE_HINT,
    EPSILON_HINT,
    FORWARD_HINT,
    GRAD_HINT,
    PAIRS_HINT,
    SGD_HINT,
    TRAIN_HINT,
    check_grads,
    check_grads_under_sgd_epoch,
    check_logit_shapes,
    check_sgd,
    grads_under_sgd_epoch_probe,
    logit_table,
    observe_grads,
    observe_sgd,
    set_tables,
    shape_error,
    slide_pairs,
)

suite = Suite("03", visibility="hidden")


def autograd_loss_and_grads(V, U, prev_id: int, next_id: int):
    """The trusted reference: J = -log softmax(U v)[next] and its gradients by torch autograd (float64)."""
    import torch

    Vt = torch.tensor(np.asarray(V, dtype=float), requires_grad=True)  # (vocab, M)
    Ut = torch.tensor(np.asarray(U, dtype=float), requires_grad=True)  # (vocab, M)
    loss = torch.nn.functional.cross_entropy((Ut @ Vt[int(prev_id)])[None], torch.tensor([int(next_id)]))
    loss.backward()
    return float(loss.detach()), Vt.grad.numpy(), Ut.grad.numpy()


def check_grads_against_autograd(got: dict, ref: dict) -> None:
    """Compare the student's (loss, dV, dU) with autograd at the inputs of the solution's run."""
    loss, dV, dU = autograd_loss_and_grads(ref["V"], ref["U"], ref["prev_id"], ref["next_id"])
    for name, mine, expected in (("dV", got["dV"], dV), ("dU", got["dU"], dU)):
        shape_error(name, mine, expected.shape)
        err = rel_error(mine, expected)
        if err > 1e-6:
            i, j = np.unravel_index(np.argmax(np.abs(mine - expected)), expected.shape)
            raise AssertionError(
                f"`{name}` disagrees with torch autograd (rel_error {err:.2g}, expected about 1e-8 or less); "
                f"largest difference at [{i}, {j}]: autograd gives {expected[i, j]:.6g}, you gave {mine[i, j]:.6g}."
            )
    assert_matches(got["loss"], loss, "loss")


# --------------------------------------------------------------------------- #
# make_pairs
# --------------------------------------------------------------------------- #


@suite.case("make_pairs", points=1, hint=PAIRS_HINT + " A plain Python list of ids works too.")
def list_input_random_stream(student):
    """A plain Python list of 40 seeded random ids gives 39 pairs as numpy int arrays."""
    ids = [int(x) for x in np.random.default_rng(student.seed(11)).integers(0, 9, size=40)]
    prev_ids, next_ids = student.make_pairs(ids)
    return {"prev_ids": prev_ids, "next_ids": next_ids}


@suite.case("make_pairs", points=1, hint=PAIRS_HINT + " A stream of one token has no pairs: two empty int arrays.")
def single_token_no_pairs(student):
    """A stream of one token has no pairs: two empty int arrays; two tokens give exactly one pair."""
    one = student.make_pairs(np.array([5], dtype=np.int64))
    two = student.make_pairs(np.array([2, 7], dtype=np.int64))
    return {"one token": one, "two tokens": two}


# --------------------------------------------------------------------------- #
# cross_entropy
# --------------------------------------------------------------------------- #


@suite.case("cross_entropy", points=1, hint=CE_HINT)
def random_distributions(student):
    """-log p[target] on seeded random distributions over 10 tokens, several targets."""
    rng = np.random.default_rng(student.seed(21))
    return [student.cross_entropy(rng.dirichlet(np.ones(10)), target) for target in (0, 4, 9)]


@suite.case("cross_entropy", points=1, hint=EPSILON_HINT)
def certain_and_unlikely(student):
    """A certain prediction costs 0; a probability of 1e-12 costs about 27.6."""
    certain = student.cross_entropy(np.array([0.0, 1.0, 0.0]), 1)
    unlikely = student.cross_entropy(np.array([1.0 - 1e-12, 1e-12]), 1)
    return {"p[target] = 1": certain, "p[target] = 1e-12": unlikely}


# --------------------------------------------------------------------------- #
# loss_and_grads
# --------------------------------------------------------------------------- #


@suite.case("loss_and_grads", points=1, hint=GRAD_HINT)
def random_tables_vs_autograd(student):
    """Seeded random V (7, 4) and U (7, 4): loss and gradients vs the solution and torch autograd."""
    rng = np.random.default_rng(student.seed(5))
    return observe_grads(student, rng.normal(size=(7, 4)), rng.normal(size=(7, 4)), 6, 2)


@random_tables_vs_autograd.verify
def _(got, ref):
    check_grads_against_autograd(got, ref)
    check_grads(got, ref)


@suite.case(
    "loss_and_grads",
    points=1,
    hint=GRAD_HINT + " When prev_id == next_id the same token is both the input and the target: V and U are still separate "
    "tables, so nothing changes in the derivation; and loss_and_grads must not modify V or U.",
)
def same_token_prev_and_next(student):
    """The pair ('the', 'the') (prev_id == next_id) on seeded tables; V and U stay unchanged."""
    rng = np.random.default_rng(student.seed(6))
    V, U = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    V_given, U_given = V.copy(), U.copy()
    loss, dV, dU = student.loss_and_grads(V_given, U_given, 6, 6)
    return {"loss": loss, "dV": dV, "dU": dU, "V": V, "U": U, "prev_id": 6, "next_id": 6,
            "inputs unchanged": bool(np.array_equal(V, V_given) and np.array_equal(U, U_given))}  # fmt: skip


@same_token_prev_and_next.verify
def _(got, ref):
    if not got["inputs unchanged"]:
        raise AssertionError("loss_and_grads changed the V or U it was given; it should only compute, not update.")
    check_grads_against_autograd(got, ref)


H = 1e-5


@suite.case(
    "loss_and_grads",
    points=1,
    hint="your gradients must be the slopes of your own loss: nudge one entry of a table, and the loss must change by "
    "the gradient's entry times the nudge. Check the order of the two vectors in the outer product and which table's "
    "transpose multiplies the score gradient.",
    timeout=20.0,
)
def finite_differences(student):
    """Gradient check: every entry of dV and dU matches a centered finite difference of your own loss (V, U of shape (4, 3))."""
    rng = np.random.default_rng(student.seed(8))
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
            "V+": bumped["V"][0], "V-": bumped["V"][1], "U+": bumped["U"][0], "U-": bumped["U"][1]}  # fmt: skip


@finite_differences.verify
def _(got, ref):
    for name in ("V", "U"):
        numeric = (got[f"{name}+"] - got[f"{name}-"]) / (2 * H)  # (4, 3) slopes of the student's own loss
        mine = got[f"d{name}"]
        shape_error(f"d{name}", mine, numeric.shape)
        diff = np.abs(mine - numeric)
        if np.max(diff) > 1e-6 * max(1.0, float(np.max(np.abs(numeric)))):
            i, j = np.unravel_index(np.argmax(diff), diff.shape)
            raise AssertionError(
                f"`d{name}[{i}, {j}]` = {mine[i, j]:.6g}, but the finite difference of your loss "
                f"(J({name}[{i},{j}] + h) - J({name}[{i},{j}] - h)) / 2h with h = 1e-5 gives {numeric[i, j]:.6g}."
            )
    loss, _, _ = autograd_loss_and_grads(ref["V"], ref["U"], ref["prev_id"], ref["next_id"])
    assert_matches(got["loss"], loss, "loss")


# --------------------------------------------------------------------------- #
# sgd_epoch
# --------------------------------------------------------------------------- #


@suite.case("sgd_epoch", points=1, hint=SGD_HINT)
def random_data_one_epoch(student):
    """One epoch on 12 seeded random pairs over 5 tokens (V, U of shape (5, 3), lr = 0.3)."""
    rng = np.random.default_rng(student.seed(13))
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    prev_ids, next_ids = rng.integers(0, 5, size=12), rng.integers(0, 5, size=12)
    return observe_sgd(student, V, U, prev_ids, next_ids, 0.3)


@random_data_one_epoch.verify
def _(got, ref):
    check_sgd(got, ref)


@suite.case("sgd_epoch", points=1, hint=SGD_HINT + " With lr = 0 the tables do not move.")
def zero_learning_rate(student):
    """With lr = 0 nothing moves: V, U come back equal, and mean_loss is the average loss at V, U."""
    rng = np.random.default_rng(student.seed(14))
    prev_ids, next_ids = slide_pairs()
    return observe_sgd(student, rng.normal(size=(8, 2)), rng.normal(size=(8, 2)), prev_ids, next_ids, 0.0)


@zero_learning_rate.verify
def _(got, ref):
    check_sgd(got, ref)
    chain = "stand-in runs" if any(r.get("calls") for r in got.get("stand-in runs") or [] if isinstance(r, dict)) else "runs"
    run = got[chain][0] if isinstance(got.get(chain), list) and got[chain] else {}
    assert_matches(run.get("V"), ref["V in"], "V")
    assert_matches(run.get("U"), ref["U in"], "U")


@suite.case("sgd_epoch", points=1, hint=SGD_HINT)
def single_pair_is_one_step(student):
    """One pair, one step: V and U move by exactly -lr times the gradient."""
    rng = np.random.default_rng(student.seed(17))
    V, U = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    return observe_sgd(student, V, U, np.array([3]), np.array([5]), 0.25)


@single_pair_is_one_step.verify
def _(got, ref):
    check_sgd(got, ref)
    # the solution's run against autograd: a grader error if this fails
    _, dV, dU = autograd_loss_and_grads(ref["V in"], ref["U in"], 3, 5)
    assert_matches(ref["runs"][0]["V"], ref["V in"] - 0.25 * dV, "the reference V")


# --------------------------------------------------------------------------- #
# WordEmbedLM
# --------------------------------------------------------------------------- #


# The model computes in float32 and these checks recompute in float64: float32's tolerance, or an
# honest logit near 0 misses by its last digits under some seeds (-0.0152988 for -0.0152991).
def check_logits(got: dict, ref: dict, keys: list[str]) -> None:
    """logits == U[V[ids]] recomputed here from the weights and ids of the solution's run."""
    check_logit_shapes(got, ref, keys)
    V, U = ref["V"].double(), ref["U"].double()
    for key in keys:
        expected = V[ref[f"ids {key}"]] @ U.T  # (*ids.shape, vocab) an independent reference
        assert_matches(got[f"logits {key}"].detach().double(), expected, f"logits {key}", **FLOAT32_TOL)


@suite.case("WordEmbedLM", points=1, hint=FORWARD_HINT)
def other_sizes_3d_ids(student):
    """WordEmbedLM(11, 5) with seeded weights: 0-D, 1-D and 3-D (2, 3, 4) ids give logits U[V[ids]]."""
    import torch

    rng = np.random.default_rng(student.seed(23))
    V, U = rng.normal(size=(11, 5)), rng.normal(size=(11, 5))
    model = student.WordEmbedLM(11, 5)
    set_tables(model, V, U)
    student.note("model = WordEmbedLM(11, 5) with seeded random encode.weight and decode.weight")
    ids0 = torch.tensor(7)
    ids1 = torch.tensor([0, 10, 3])
    ids3 = torch.from_numpy(rng.integers(0, 11, size=(2, 3, 4)))
    with torch.no_grad():
        return {"V": torch.from_numpy(V).float(), "U": torch.from_numpy(U).float(),
                "ids 0-D": ids0, "logits 0-D": model(ids0), "ids 1-D": ids1, "logits 1-D": model(ids1),
                "ids 3-D": ids3, "logits 3-D": model(ids3)}  # fmt: skip


@other_sizes_3d_ids.verify
def _(got, ref):
    check_logits(got, ref, ["0-D", "1-D", "3-D"])


@suite.case(
    "WordEmbedLM",
    points=1,
    hint="keep forward differentiable (no detaching, no numpy, no no_grad) so that gradients reach both tables.",
)
def gradients_reach_both_tables(student):
    """Backpropagating F.cross_entropy(model(prev), next) fills encode.weight.grad and decode.weight.grad correctly."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(student.seed(29))
    V, U = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    model = student.WordEmbedLM(6, 3)
    set_tables(model, V, U)
    prev_ids = torch.from_numpy(rng.integers(0, 6, size=10))
    next_ids = torch.from_numpy(rng.integers(0, 6, size=10))
    student.note("loss = F.cross_entropy(model(prev_ids), next_ids); loss.backward() with model = WordEmbedLM(6, 3)")
    loss = F.cross_entropy(model(prev_ids), next_ids)
    loss.backward()
    g_enc, g_dec = model.encode.weight.grad, model.decode.weight.grad
    return {"V": torch.from_numpy(V).float(), "U": torch.from_numpy(U).float(), "prev_ids": prev_ids, "next_ids": next_ids,
            "encode grad": None if g_enc is None else g_enc.clone(), "decode grad": None if g_dec is None else g_dec.clone()}  # fmt: skip


@gradients_reach_both_tables.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    V = ref["V"].double().requires_grad_()
    U = ref["U"].double().requires_grad_()
    F.cross_entropy(V[ref["prev_ids"]] @ U.T, ref["next_ids"]).backward()
    for key, table, expected in (("encode grad", "V", V.grad), ("decode grad", "U", U.grad)):
        if got[key] is None or not isinstance(got[key], torch.Tensor):
            raise AssertionError(f"no gradient reached the {key.split()[0]} weights ({table}): forward must stay differentiable.")
        assert_matches(got[key].double(), expected, key, **FLOAT32_TOL)


# --------------------------------------------------------------------------- #
# train_word_embed_lm
# --------------------------------------------------------------------------- #


@suite.case("train_word_embed_lm", points=1, timeout=30.0, hint=TRAIN_HINT)
def matches_gradient_descent(student):
    """Four epochs (vocab 6, 30 seeded pairs, lr = 0.7): losses and weights match plain gradient descent done independently."""
    import torch

    rng = np.random.default_rng(student.seed(31))
    W = rng.normal(size=(6, 6))
    prev_ids, next_ids = rng.integers(0, 6, size=30), rng.integers(0, 6, size=30)
    model = logit_table(W)
    student.note("model = nn.Embedding(6, 6) (a table of logits per previous token) with seeded weights")
    losses = student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 4, 0.7)
    return {"losses": losses, "weights after training": model.weight.detach().clone(),
            "W0": torch.from_numpy(W).float(), "prev_ids": prev_ids, "next_ids": next_ids}  # fmt: skip


@matches_gradient_descent.verify
def _(got, ref):
    import torch
    import torch.nn.functional as F

    W = ref["W0"].double()
    prev_ids, next_ids = torch.from_numpy(ref["prev_ids"]), torch.from_numpy(ref["next_ids"])
    expected = []
    for _ in range(4):  # plain full-batch gradient descent, done here
        W.requires_grad_(True)
        loss = F.cross_entropy(W[prev_ids], next_ids)
        (gW,) = torch.autograd.grad(loss, (W,))
        expected.append(loss.item())
        W = (W - 0.7 * gW).detach()
    if not isinstance(got["losses"], list):
        raise AssertionError(f"train_word_embed_lm should return a list of floats, got {type(got['losses']).__name__}.")
    assert_matches(got["losses"], expected, "losses", rtol=1e-4)
    assert_matches(got["weights after training"].double(), W, "weights after training", rtol=1e-4)


@suite.case("train_word_embed_lm", points=1, timeout=30.0, hint=TRAIN_HINT + " epochs = 0 returns [] and changes nothing.")
def epoch_count_and_types(student):
    """epochs = 0 gives [] and leaves the model unchanged; epochs = 3 gives three Python floats."""
    import torch

    rng = np.random.default_rng(student.seed(37))
    W = rng.normal(size=(5, 5))
    prev_ids, next_ids = torch.from_numpy(rng.integers(0, 5, size=9)), torch.from_numpy(rng.integers(0, 5, size=9))
    model = logit_table(W)
    none = student.train_word_embed_lm(model, prev_ids, next_ids, 0, 0.5)
    unchanged = bool(np.allclose(model.weight.detach().numpy(), W, atol=1e-6))
    three = student.train_word_embed_lm(model, prev_ids, next_ids, 3, 0.5)
    return {"epochs = 0": none, "model unchanged after 0 epochs": unchanged, "epochs = 3": three}


@epoch_count_and_types.verify
def _(got, ref):
    if got["epochs = 0"] != []:
        raise AssertionError(f"epochs = 0 should return an empty list, got {describe(got['epochs = 0'])}.")
    if not got["model unchanged after 0 epochs"]:
        raise AssertionError("epochs = 0 changed the model's weights; no step should happen.")
    three = got["epochs = 3"]
    if not isinstance(three, list) or len(three) != 3 or not all(isinstance(x, (float, np.floating)) for x in three):
        raise AssertionError(f"epochs = 3 should return a list of three Python floats (the item of each loss), got {describe(three)}.")
    assert_matches(three, ref["epochs = 3"], "epochs = 3")


# --------------------------------------------------------------------------- #
# The same under sgd_epoch: a loss_and_grads that answers otherwise inside sgd_epoch than alone is charged
# here (sgd_epoch is judged beside a double)
# --------------------------------------------------------------------------- #


@suite.case("loss_and_grads", points=1, hint=SAME_ALONE_HINT)
def same_under_sgd_epoch(student):
    """Inside your sgd_epoch, loss_and_grads gives what it gives alone on the same tables and pair (and is right alone)."""
    return grads_under_sgd_epoch_probe(student, k=18, prev_id=2, next_id=4)


@same_under_sgd_epoch.verify
def _(got, ref):
    check_grads_under_sgd_epoch(got, ref, prev_id=2, next_id=4)
