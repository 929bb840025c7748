"""Public tests of notebook 03 (training): run by ``check("name")`` and by the grader.

Probes build seeded inputs and call the student's code; verify steps compare with the
solution and, where there is one, with an independent reference (torch autograd,
a trusted re-computation of one SGD step).
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe, rel_error
from helpers.data import SLIDE_U, SLIDE_V
from helpers.selfcheck.lm_tables import check_table_lm_facts, table_lm_facts

suite = Suite("03")

# The slide corpus as ids over the sorted vocabulary ['!', '.', 'ate', 'cat', 'dog', 'ran', 'the', 'zoo'].
SLIDE_IDS = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]
THE, DOG, ATE = 6, 4, 2


def slide_pairs() -> tuple[np.ndarray, np.ndarray]:
    """(prev_ids, next_ids) of the slide corpus: 25 consecutive pairs (test input, built here)."""
    ids = np.array(SLIDE_IDS, dtype=np.int64)
    return ids[:-1].copy(), ids[1:].copy()


def softmax_ref(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def autograd_loss_and_grads(V, U, prev_id: int, next_id: int):
    """The trusted reference: J = -log softmax(U v)[next] and its gradients by torch autograd (float64)."""
    import torch

    Vt = torch.tensor(np.asarray(V, dtype=float), requires_grad=True)  # (vocab, M)
    Ut = torch.tensor(np.asarray(U, dtype=float), requires_grad=True)  # (vocab, M)
    s = Ut @ Vt[int(prev_id)]  # (vocab,)
    loss = -torch.log_softmax(s, dim=0)[int(next_id)]
    loss.backward()
    return float(loss.detach()), Vt.grad.numpy(), Ut.grad.numpy()


def shape_error(name: str, got, shape: tuple) -> None:
    """Raise a readable message when a gradient is not a numpy array of the table's shape."""
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"`{name}`: expected a numpy array of shape {shape} (the shape of {name[1:]}), got {describe(got, 100)}.")
    if got.shape != shape:
        raise AssertionError(f"`{name}`: expected shape {shape} (the shape of {name[1:]}), got shape {got.shape}.")


def check_grads_against_autograd(got: dict) -> None:
    """Compare the student's (loss, dV, dU) with autograd computed from the same inputs."""
    loss, dV, dU = autograd_loss_and_grads(got["V"], got["U"], got["prev_id"], got["next_id"])
    for name, mine, ref in (("dV", got["dV"], dV), ("dU", got["dU"], dU)):
        shape_error(name, mine, ref.shape)
        err = rel_error(mine, ref)
        if err > 1e-6:
            i, j = np.unravel_index(np.argmax(np.abs(mine - ref)), ref.shape)
            raise AssertionError(
                f"`{name}` disagrees with torch autograd (rel_error {err:.2g}, expected about 1e-8 or less); "
                f"largest difference at [{i}, {j}]: autograd gives {ref[i, j]:.6g}, you gave {mine[i, j]:.6g}."
            )
    assert_matches(got["loss"], loss, "loss")


# --------------------------------------------------------------------------- #
# make_pairs
# --------------------------------------------------------------------------- #


@suite.case("make_pairs", points=1, hint="prev_ids = ids[:-1] and next_ids = ids[1:] (as numpy int arrays).")
def slide_corpus_pairs(student):
    """The slide corpus (26 ids) gives 25 (prev, next) pairs."""
    prev_ids, next_ids = student.make_pairs(np.array(SLIDE_IDS, dtype=np.int64))
    return {"prev_ids": prev_ids, "next_ids": next_ids}


@suite.case("make_pairs", points=1, hint="pair i is (ids[i], ids[i + 1]) for i = 0 .. N - 2; return a tuple of two numpy arrays.")
def short_stream(student):
    """A short stream [3, 1, 4, 1, 5] gives prev [3, 1, 4, 1] and next [1, 4, 1, 5]."""
    return student.make_pairs(np.array([3, 1, 4, 1, 5], dtype=np.int64))


# --------------------------------------------------------------------------- #
# cross_entropy
# --------------------------------------------------------------------------- #


@suite.case("cross_entropy", points=1, hint="return -np.log(p[target]) as a float (the natural log).")
def three_way_distribution(student):
    """-log p[target] for p = [0.1, 0.2, 0.7] and each target."""
    p = np.array([0.1, 0.2, 0.7])
    return [student.cross_entropy(p, t) for t in range(3)]


@suite.case("cross_entropy", points=1, hint="only the probability of the target counts: J = -log p[target].")
def slide_prediction(student):
    """The loss of 'ate' after 'the' with the slide's tables (p about 0.571)."""
    p = softmax_ref(SLIDE_U @ SLIDE_V[THE])
    student.note("p = softmax(U @ V['the']) with the slide's tables")
    return student.cross_entropy(p, ATE)


# --------------------------------------------------------------------------- #
# loss_and_grads
# --------------------------------------------------------------------------- #


@suite.case(
    "loss_and_grads",
    points=2,
    hint="v = V[prev_id]; s = U @ v; p = softmax(s); ds = p - onehot(next_id); dU = np.outer(ds, v); dV[prev_id] = U.T @ ds.",
)
def slide_pair_the_dog(student):
    """Loss and gradients for the pair ('the', 'dog') with the slide's tables, vs the solution and torch autograd."""
    V, U = SLIDE_V.copy(), SLIDE_U.copy()
    loss, dV, dU = student.loss_and_grads(V, U, THE, DOG)
    return {"loss": loss, "dV": dV, "dU": dU, "V": SLIDE_V.copy(), "U": SLIDE_U.copy(), "prev_id": THE, "next_id": DOG}


@slide_pair_the_dog.verify
def _(got, ref):
    check_grads_against_autograd(got)
    assert_matches({k: got[k] for k in ("loss", "dV", "dU")}, {k: ref[k] for k in ("loss", "dV", "dU")})


@suite.case(
    "loss_and_grads",
    points=1,
    hint="dV = np.zeros_like(V), then set only its row prev_id to U.T @ (p - onehot(next_id)): only the previous token's vector was used.",
)
def only_prev_row_of_dV(student):
    """dV and dU have the shapes of V (5, 3) and U (5, 3); only row prev_id of dV is nonzero."""
    rng = np.random.default_rng(3)
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    loss, dV, dU = student.loss_and_grads(V.copy(), U.copy(), 1, 3)
    return {"loss": loss, "dV": dV, "dU": dU, "V": V, "U": U, "prev_id": 1, "next_id": 3}


@only_prev_row_of_dV.verify
def _(got, ref):
    for name in ("dV", "dU"):
        shape_error(name, got[name], (5, 3))
    prev = got["prev_id"]
    rows = [r for r in range(got["dV"].shape[0]) if r != prev and np.any(got["dV"][r] != 0)]
    if rows:
        raise AssertionError(f"`dV`: only row prev_id = {prev} may be nonzero (only V[{prev}] was used), but rows {rows} are nonzero too.")
    check_grads_against_autograd(got)
    assert_matches({k: got[k] for k in ("loss", "dV", "dU")}, {k: ref[k] for k in ("loss", "dV", "dU")})


# --------------------------------------------------------------------------- #
# sgd_epoch
# --------------------------------------------------------------------------- #


@suite.case(
    "sgd_epoch",
    points=2,
    hint="for each pair in order: loss, dV, dU = loss_and_grads(V, U, prev, next) at the current V, U; keep the loss; "
    "then V = V - lr * dV and U = U - lr * dU. mean_loss is the mean of the kept losses.",
)
def slide_corpus_two_epochs(student):
    """Two epochs on the slide corpus from the slide's tables (lr = 0.1)."""
    prev_ids, next_ids = slide_pairs()
    V1, U1, loss1 = student.sgd_epoch(SLIDE_V.copy(), SLIDE_U.copy(), prev_ids, next_ids, 0.1)
    V2, U2, loss2 = student.sgd_epoch(np.array(V1, dtype=float), np.array(U1, dtype=float), prev_ids, next_ids, 0.1)
    return {"V after epoch 1": V1, "U after epoch 1": U1, "mean_loss of epoch 1": loss1,
            "V after epoch 2": V2, "U after epoch 2": U2, "mean_loss of epoch 2": loss2}


@suite.case(
    "sgd_epoch",
    points=1,
    hint="copy first (V = V.copy(); U = U.copy()) and update the copies; `V -= ...` on the argument changes the caller's array.",
)
def inputs_unchanged(student):
    """sgd_epoch returns new arrays and leaves the V and U it was given unchanged."""
    prev_ids, next_ids = slide_pairs()
    V, U = SLIDE_V.copy(), SLIDE_U.copy()
    V_new, U_new, _ = student.sgd_epoch(V, U, prev_ids, next_ids, 0.1)
    return {
        "V was changed": bool(not np.array_equal(V, SLIDE_V)),
        "U was changed": bool(not np.array_equal(U, SLIDE_U)),
        "returned V is the input V": V_new is V,
        "returned U is the input U": U_new is U,
    }


@inputs_unchanged.verify
def _(got, ref):
    if got["V was changed"] or got["U was changed"]:
        which = " and ".join(n for n in ("V", "U") if got[f"{n} was changed"])
        raise AssertionError(f"sgd_epoch changed the {which} it was given (the caller's arrays must stay as they were).")
    if got["returned V is the input V"] or got["returned U is the input U"]:
        raise AssertionError("sgd_epoch returned the very arrays it was given; return new, trained arrays.")


@suite.case(
    "sgd_epoch",
    points=1,
    hint="step against the gradient (V - lr * dV, not +), and feed each epoch the V and U returned by the previous one.",
)
def loss_decreases(student):
    """Three epochs on the slide corpus (lr = 0.1): mean_loss goes down every epoch."""
    prev_ids, next_ids = slide_pairs()
    V, U = SLIDE_V.copy(), SLIDE_U.copy()
    losses = []
    for _ in range(3):
        V, U, loss = student.sgd_epoch(V, U, prev_ids, next_ids, 0.1)
        losses.append(loss)
    return losses


@loss_decreases.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != 3 or not all(isinstance(x, (float, np.floating)) for x in got):
        raise AssertionError(f"expected three float losses (one mean_loss per epoch), got {got!r:.120}.")
    if not (got[0] > got[1] > got[2]):
        raise AssertionError(f"mean_loss should fall every epoch, got {[round(float(x), 4) for x in got]} (expected about {[round(float(x), 4) for x in ref]}).")
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# WordEmbedLM
# --------------------------------------------------------------------------- #


@suite.case(
    "WordEmbedLM",
    points=1,
    hint="in __init__: self.encode = nn.Embedding(vocab_size, dim) and self.decode = nn.Linear(dim, vocab_size, bias=False).",
)
def attributes(student):
    """WordEmbedLM(8, 2) has encode = nn.Embedding(8, 2) (V) and decode = nn.Linear(2, 8, bias=False) (U)."""
    return table_lm_facts(student.WordEmbedLM(8, 2), 8, 2)


@attributes.verify
def _(got, ref):
    check_table_lm_facts(got, got["vocab_size"], got["dim"], "WordEmbedLM")


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (a test's inputs, set explicitly)."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V))
        model.decode.weight.copy_(torch.as_tensor(U))


def check_logits(got: dict, keys: list[str]) -> None:
    """logits[...] == U[V[ids]] computed here from the weights the probe set."""
    import torch

    V, U = got["V"].double(), got["U"].double()
    for key in keys:
        ids, logits = got[f"ids {key}"], got[f"logits {key}"]
        expected_shape = (*ids.shape, U.shape[0])
        if not isinstance(logits, torch.Tensor):
            raise AssertionError(f"model(ids) with ids of shape {tuple(ids.shape)} should return a torch tensor, got {logits!r:.80}.")
        if tuple(logits.shape) != expected_shape:
            raise AssertionError(
                f"model(ids) with ids of shape {tuple(ids.shape)} should give logits of shape {expected_shape} "
                f"(*ids.shape, vocab_size), got {tuple(logits.shape)}."
            )
        expected = V[ids] @ U.T  # (*ids.shape, vocab)
        assert_matches(logits.detach().double(), expected, f"logits {key}")


@suite.case(
    "WordEmbedLM",
    points=2,
    hint="forward: v = self.encode(prev_ids) (rows of V), then return self.decode(v) (s = U v); no softmax: return logits.",
)
def forward_logits(student):
    """With V, U set to the slide's tables, model(ids) gives the scores s = U v for 1-D and 2-D ids."""
    import torch

    model = student.WordEmbedLM(8, 2)
    set_tables(model, SLIDE_V, SLIDE_U)
    student.note("model = WordEmbedLM(8, 2) with encode.weight = slide V, decode.weight = slide U")
    ids1 = torch.tensor([6, 4, 5, 1])
    ids2 = torch.tensor([[6, 4, 5], [6, 3, 2]])
    with torch.no_grad():
        logits1 = model(ids1)
        logits2 = model(ids2)
    return {"V": model.encode.weight.detach().clone(), "U": model.decode.weight.detach().clone(),
            "ids 1-D": ids1, "logits 1-D": logits1, "ids 2-D": ids2, "logits 2-D": logits2}


@forward_logits.verify
def _(got, ref):
    check_logits(got, ["1-D", "2-D"])


# --------------------------------------------------------------------------- #
# train_word_embed_lm
# --------------------------------------------------------------------------- #


def tiny_lm(V, U):
    """The test's own model: nn.Embedding -> nn.Linear(bias=False) with weights V, U (so these tests do not depend on your WordEmbedLM)."""
    import torch

    vocab_size, dim = np.shape(V)
    model = torch.nn.Sequential(torch.nn.Embedding(vocab_size, dim), torch.nn.Linear(dim, vocab_size, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.as_tensor(V))
        model[1].weight.copy_(torch.as_tensor(U))
    return model


@suite.case(
    "train_word_embed_lm",
    points=2,
    timeout=30.0,
    hint="optimizer = torch.optim.SGD(model.parameters(), lr=lr); each epoch: zero_grad(), logits = model(prev_ids), "
    "loss = F.cross_entropy(logits, next_ids), loss.backward(), step(); append loss.item() (the loss before the step).",
)
def slide_corpus_five_epochs(student):
    """Five full-batch epochs on the slide corpus from the slide's tables (lr = 0.5): losses and final weights."""
    import torch

    prev_ids, next_ids = slide_pairs()
    model = tiny_lm(SLIDE_V, SLIDE_U)
    student.note("model = nn.Sequential(nn.Embedding(8, 2), nn.Linear(2, 8, bias=False)) with the slide's V and U")
    losses = student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 5, 0.5)
    return {"losses": losses, "V after training": model[0].weight.detach().clone(), "U after training": model[1].weight.detach().clone()}


@slide_corpus_five_epochs.verify
def _(got, ref):
    losses = got["losses"]
    if not isinstance(losses, list):
        raise AssertionError(f"train_word_embed_lm should return a list of floats (one per epoch), got {type(losses).__name__}.")
    assert_matches(got, ref)


@suite.case(
    "train_word_embed_lm",
    points=1,
    timeout=30.0,
    hint="return one float per epoch (loss.item()), and call optimizer.step() after loss.backward() every epoch.",
)
def training_lowers_the_loss(student):
    """Twenty epochs from seeded random tables (vocab 8, dim 3, lr = 1.0): the loss ends well below where it started."""
    import torch

    rng = np.random.default_rng(7)
    V, U = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    prev_ids, next_ids = slide_pairs()
    model = tiny_lm(V, U)
    student.note("model = nn.Sequential(nn.Embedding(8, 3), nn.Linear(3, 8, bias=False)) with seeded random weights")
    return student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 20, 1.0)


@training_lowers_the_loss.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != 20:
        raise AssertionError(f"expected a list of 20 losses (epochs = 20), got {got!r:.120}.")
    if not all(isinstance(x, (float, np.floating)) for x in got):
        raise AssertionError(f"each loss should be a Python float (use loss.item()), got {type(got[0]).__name__} items.")
    if not got[-1] < got[0] - 0.3:
        raise AssertionError(f"the loss did not go down: first {got[0]:.4f}, last {got[-1]:.4f} (expected about {ref[0]:.4f} -> {ref[-1]:.4f}).")
    assert_matches(got, ref)
