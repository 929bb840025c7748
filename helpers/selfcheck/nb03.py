"""Public tests of notebook 03 (training): run by ``check("name")`` and by the grader.

Probes build seeded inputs and call the student's code; verify steps compare with the
solution's run of the same probe and check invariants. The independent references
(torch autograd, finite differences) are in the hidden tests.
"""

from __future__ import annotations

import numpy as np

from helpers.checking import Suite, assert_matches, describe
from helpers.data import SLIDE_U, SLIDE_V
from helpers.selfcheck.doubles import (
    SAME_ALONE_HINT,
    callee_results_differ,
    callee_wrong_too,
    check_same_alone,
    replacing,
    same_values,
    under_and_alone,
)
from helpers.selfcheck.lm_tables import check_table_lm_facts, table_lm_facts

suite = Suite("03")

# The slide corpus as ids over the sorted vocabulary ['!', '.', 'ate', 'cat', 'dog', 'ran', 'the', 'zoo'].
SLIDE_IDS = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]
THE, DOG, ATE = 6, 4, 2
# P(next | 'the') with the slide's tables, as printed in notebook 02 (a test input).
P_AFTER_THE = np.array([0.009407, 0.010513, 0.570602, 0.004561, 0.046006, 0.010005, 0.175057, 0.17385])
P_AFTER_THE = P_AFTER_THE / P_AFTER_THE.sum()


# The slide corpus's 25 consecutive (previous, next) pairs, written out (test input).
SLIDE_PREV = [6, 4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7]
SLIDE_NEXT = [4, 5, 1, 6, 4, 2, 1, 6, 4, 5, 6, 7, 1, 6, 3, 2, 6, 4, 0, 6, 3, 5, 6, 7, 1]


def slide_pairs() -> tuple[np.ndarray, np.ndarray]:
    """(prev_ids, next_ids) of the slide corpus: 25 consecutive pairs (test input)."""
    return np.array(SLIDE_PREV, dtype=np.int64), np.array(SLIDE_NEXT, dtype=np.int64)


def shape_error(name: str, got, shape: tuple) -> None:
    """Raise a readable message when a gradient is not a numpy array of the table's shape."""
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"`{name}`: expected a numpy array of shape {shape} (the shape of {name[1:]}), got {describe(got, 100)}.")
    if got.shape != shape:
        raise AssertionError(f"`{name}`: expected shape {shape} (the shape of {name[1:]}), got shape {got.shape}.")


# --------------------------------------------------------------------------- #
# make_pairs
# --------------------------------------------------------------------------- #

PAIRS_HINT = (
    "pair i is (token i, token i + 1) of the stream: the first list leaves out the last token, the second leaves out "
    "the first; both are numpy int arrays of length N - 1, returned as a tuple (int arrays even when empty, for a "
    "stream of one token)."
)


@suite.case("make_pairs", points=1, hint=PAIRS_HINT)
def slide_corpus_pairs(student):
    """The slide corpus (26 ids) gives 25 (prev, next) pairs."""
    prev_ids, next_ids = student.make_pairs(np.array(SLIDE_IDS, dtype=np.int64))
    return {"prev_ids": prev_ids, "next_ids": next_ids}


@suite.case("make_pairs", points=1, hint=PAIRS_HINT)
def short_stream(student):
    """A Python list [3, 1, 4, 1, 5] gives numpy arrays prev [3, 1, 4, 1] and next [1, 4, 1, 5]; one token gives no pairs."""
    return {"list": student.make_pairs([3, 1, 4, 1, 5]), "one token": student.make_pairs(np.array([2], dtype=np.int64))}


@short_stream.verify
def _(got, ref):
    for key in ("list", "one token"):
        pair = got.get(key)
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise AssertionError(f"make_pairs ({key}) must return (prev_ids, next_ids), got {describe(pair)}.")
        for name, value in zip(("prev_ids", "next_ids"), pair):
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
                raise AssertionError(
                    f"make_pairs ({key}): `{name}` must be an int array of token ids, even when it is empty (a stream of one "
                    f"token has no pairs), got {describe(value)}" + (f" of dtype {value.dtype}." if isinstance(value, np.ndarray) else ".")
                )
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# cross_entropy
# --------------------------------------------------------------------------- #

CE_HINT = (
    "the cross-entropy of one prediction only looks at the probability the model gave the TRUE next token: the "
    "negative natural log of that one entry, returned as a float (not a sum over all tokens, not log2)."
)


@suite.case("cross_entropy", points=1, hint=CE_HINT)
def three_way_distribution(student):
    """-log p[target] for p = [0.1, 0.2, 0.7] and each target."""
    p = np.array([0.1, 0.2, 0.7])
    return [student.cross_entropy(p, t) for t in range(3)]


EPSILON_HINT = (
    "take minus the log of the probability itself, with nothing added to it: a small epsilon such as + 1e-12 inside "
    "the log is invisible for ordinary probabilities but changes the loss of a tiny one (1e-12 must cost 27.63, "
    "not 26.94); a probability of exactly 1 costs 0."
)


@suite.case("cross_entropy", points=1, hint=EPSILON_HINT)
def tiny_and_certain(student):
    """A probability of 1e-12 for the true token costs -log(1e-12) = 27.63 (no epsilon added); a certain prediction costs 0."""
    return {"p[target] = 1e-12": student.cross_entropy(np.array([1.0 - 1e-12, 1e-12]), 1),
            "p[target] = 1": student.cross_entropy(np.array([0.0, 1.0, 0.0]), 1)}


@tiny_and_certain.verify
def _(got, ref):
    for key, value in got.items():
        if not isinstance(value, (float, np.floating)):
            raise AssertionError(f"cross_entropy must return a float, got {describe(value)} for {key}.")
    assert_matches(got, ref, rtol=1e-9, atol=1e-12)


@suite.case("cross_entropy", points=1, hint=CE_HINT)
def slide_prediction(student):
    """The loss of 'ate' after 'the' with the slide's tables (p about 0.571)."""
    student.note("p = P(next | 'the') with the slide's tables")
    return student.cross_entropy(P_AFTER_THE.copy(), ATE)


# --------------------------------------------------------------------------- #
# loss_and_grads
# --------------------------------------------------------------------------- #

GRAD_HINT = (
    "follow the chain rule backwards through the forward pass: first the gradient of J with respect to the scores s "
    "(the lecture's 'prediction minus target'), then each table's gradient from how s depends on it. Only the previous "
    "token's row of V was used, so only that row of dV can be nonzero; every row of U was used. Each gradient has "
    "the shape of its table, and mind its sign: it points uphill, so that a step against it lowers the loss."
)


def observe_grads(student, V, U, prev_id: int, next_id: int) -> dict:
    V_given, U_given = V.copy(), U.copy()
    loss, dV, dU = student.loss_and_grads(V_given, U_given, prev_id, next_id)
    unchanged = bool(np.array_equal(V_given, V) and np.array_equal(U_given, U))
    return {"loss": loss, "dV": dV, "dU": dU, "V": V, "U": U, "prev_id": prev_id, "next_id": next_id, "inputs unchanged": unchanged}


def check_grads(got, ref, exact: bool = True) -> None:
    """Shapes, the rows of dV that may be nonzero, and the solution's loss and gradients.

    ``exact=False`` (tolerant cases): the loss only, beside the shapes and rows; the gradients' values (their sign
    included) cost the exact cases only.
    """
    if got.get("inputs unchanged") is not True:
        raise AssertionError("loss_and_grads changed the V or U it was given; it should only compute (return new gradient arrays).")
    for name in ("dV", "dU"):
        shape_error(name, got[name], ref[name].shape)
    prev = ref["prev_id"]
    rows = [r for r in range(ref["dV"].shape[0]) if r != prev and np.any(got["dV"][r] != 0)]
    if rows:
        raise AssertionError(f"`dV`: only row prev_id = {prev} may be nonzero (only V[{prev}] was used), but rows {rows} are nonzero too.")
    if not exact:
        if not np.any(got["dU"] != 0):
            raise AssertionError("`dU` is all zeros: every row of U was used, so every row gets a gradient.")
        assert_matches(got["loss"], ref["loss"], "loss")
        return
    assert_matches({k: got[k] for k in ("loss", "dV", "dU")}, {k: ref[k] for k in ("loss", "dV", "dU")})


@suite.case("loss_and_grads", points=1, hint=GRAD_HINT)
def slide_pair_the_dog(student):
    """Loss and gradients for the pair ('the', 'dog') with the slide's tables."""
    return observe_grads(student, SLIDE_V.copy(), SLIDE_U.copy(), THE, DOG)


@slide_pair_the_dog.verify
def _(got, ref):
    check_grads(got, ref)


@suite.case("loss_and_grads", points=1, hint=GRAD_HINT)
def only_prev_row_of_dV(student):
    """dV and dU have the shapes of V (5, 3) and U (5, 3); only row prev_id of dV is nonzero (pairs (1, 3) and (2, 2))."""
    rng = np.random.default_rng(student.seed(3))
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    return {"(1, 3)": observe_grads(student, V, U, 1, 3), "(2, 2)": observe_grads(student, V, U, 2, 2)}


@only_prev_row_of_dV.verify
def _(got, ref):
    for key in ref:
        try:
            check_grads(got[key], ref[key], exact=False)  # tolerant: shapes, rows and the loss; the values are the other cases'
        except AssertionError as exc:
            raise AssertionError(f"pair {key}: {exc}") from None


@suite.case(
    "loss_and_grads",
    points=2,
    hint="the loss of one pair is the cross-entropy of the predicted distribution softmax(U v) at the true next token: "
    "minus the log of the probability it gives that token (a positive number, 0 only for a certain, right prediction).",
)
def loss_of_seeded_pairs(student):
    """The loss J of four seeded pairs on seeded (6, 3) tables, with dV and dU of the tables' shapes (tolerant: the gradients' values are the other cases')."""
    rng = np.random.default_rng(student.seed(4))
    V, U = rng.normal(size=(6, 3)) * 1.5, rng.normal(size=(6, 3)) * 1.5
    return {f"({p}, {n})": observe_grads(student, V, U, p, n) for p, n in ((0, 5), (3, 3), (4, 1), (5, 2))}


@loss_of_seeded_pairs.verify
def _(got, ref):
    for key in ref:
        try:
            check_grads(got[key], ref[key], exact=False)
        except AssertionError as exc:
            raise AssertionError(f"pair {key}: {exc}") from None


# --------------------------------------------------------------------------- #
# sgd_epoch
# --------------------------------------------------------------------------- #

SGD_HINT = (
    "one step per pair, in the given order: take the loss and gradients of that pair with your loss_and_grads at the "
    "CURRENT tables, keep the loss, then step both tables against the gradient scaled by lr before the next pair. "
    "mean_loss averages the kept losses; work on copies so the caller's arrays stay unchanged."
)


def grads_double(seed: int):
    """A seeded double of loss_and_grads: NOT the graded function, but its signature, shapes and contract.

    A positive loss and non-zero gradients (dV zero except row prev_id, dU dense) that depend on
    the current tables and on the pair, so an sgd_epoch that never steps, steps the wrong way,
    skips a pair, uses stale tables or averages the wrong losses differs from the solution's
    beside the same double.
    """
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(0.5, 1.5, size=3)

    def loss_and_grads(V, U, prev_id, next_id):
        V, U = np.asarray(V, dtype=float), np.asarray(U, dtype=float)  # (vocab_size, M)
        v = V[int(prev_id)]  # (M,)
        h = np.tanh(a * (U @ v) + c * np.arange(len(U)) / len(U))  # (vocab_size,) made-up scores
        target = np.arange(len(U)) == int(next_id)  # (vocab_size,)
        dU = np.outer(h - b * target, np.cos(v))  # (vocab_size, M)
        dV = np.zeros_like(V)  # (vocab_size, M)
        dV[int(prev_id)] = np.sin(U.T @ h + c)  # (M,)
        return float(1.0 + np.log1p(np.exp(-b * h[int(next_id)]))), dV, dU

    return loss_and_grads


def observe_sgd(student, V, U, prev_ids, next_ids, lr: float, epochs: int = 1, seed_k: int = 500) -> dict:
    """``epochs`` calls of sgd_epoch, each from the tables the previous one returned, as two chains
    (helpers/selfcheck/doubles.py): beside a seeded double of loss_and_grads (the chain it is judged on when it
    calls loss_and_grads), and as is, with the student's own loss_and_grads."""
    fn = student.get("sgd_epoch")
    student.note(f"sgd_epoch(V, U, prev_ids, next_ids, {lr}) {epochs} time(s), each from the tables the previous call returned")
    out = {"V in": V, "U in": U, "prev_ids": prev_ids, "next_ids": next_ids, "lr": lr}
    for chain, callee in (("stand-in runs", grads_double(student.seed(seed_k))), ("runs", None)):
        runs, error, V_in, U_in = [], None, V, U
        for _ in range(epochs):
            with replacing(student, "sgd_epoch", {"loss_and_grads": callee}) as records:
                try:
                    V_new, U_new, mean_loss = fn(np.array(V_in, dtype=float), np.array(U_in, dtype=float), prev_ids.copy(), next_ids.copy(), lr)
                except Exception as exc:
                    if chain == "runs" and not records["loss_and_grads"]:
                        raise  # before any call of loss_and_grads (a stub): sgd_epoch's own error
                    raised = next((r["raised"] for r in records["loss_and_grads"] if "raised" in r), None)
                    error = f"your loss_and_grads raised {raised}" if raised else f"{type(exc).__name__}: {str(exc)[:300]}"
                    break
            runs.append({"V": V_new, "U": U_new, "mean_loss": mean_loss, "calls": len(records["loss_and_grads"])})
            if chain == "runs" and len(runs) == 1:  # the student's loss_and_grads on the first pair: named in a message if wrong
                out["callee calls"] = [{k: c.get(k) for k in ("args", "result", "raised")} for c in records["loss_and_grads"][:1]]
            V_in, U_in = np.array(V_new, dtype=float), np.array(U_new, dtype=float)
        out[chain], out[f"{chain} error"] = runs, error
    return out


def _compare_runs(runs, ref_runs, error, note: str = "") -> None:
    if error:
        raise AssertionError(f"{error}{note}")
    if not isinstance(runs, list) or len(runs) != len(ref_runs):
        raise AssertionError(f"expected {len(ref_runs)} results of sgd_epoch, got {describe(runs)}.")
    for e, (run, ref_run) in enumerate(zip(runs, ref_runs)):
        what = f"epoch {e + 1}: " if len(runs) > 1 else ""
        for name in ("V", "U"):
            if not isinstance(run[name], np.ndarray) or run[name].shape != ref_run[name].shape:
                raise AssertionError(f"{what}`{name}_new` should be a numpy array of shape {ref_run[name].shape}, got {describe(run[name], 100)}.")
        if not isinstance(run["mean_loss"], (float, np.floating)):
            raise AssertionError(f"{what}mean_loss should be a float, got {describe(run['mean_loss'])}.")
        keys = ("V", "U", "mean_loss")
        try:
            assert_matches({k: run[k] for k in keys}, {k: ref_run[k] for k in keys}, f"epoch {e + 1}" if len(runs) > 1 else "", rtol=1e-5, atol=1e-7)
        except AssertionError as exc:
            raise AssertionError(f"{exc}{note}") from None


def check_sgd(got, ref) -> None:
    """sgd_epoch is judged on its chain beside the double of loss_and_grads (so it keeps its points when only
    loss_and_grads is wrong, and a loop that never steps earns nothing beside a stubbed one); an sgd_epoch that
    never calls loss_and_grads is compared with the solution as is."""
    used = [r["calls"] for r in got.get("stand-in runs") or [] if isinstance(r, dict)]
    if any(used) and any(r["calls"] for r in ref["stand-in runs"]):
        note = ("\n  (this run of your sgd_epoch met a made-up loss_and_grads: seeded gradients with the right shapes, so that "
                "it is judged on its own steps, whatever your loss_and_grads does)")  # fmt: skip
        if callee_results_differ(got.get("callee calls"), ref.get("callee calls"), same_values):
            note += callee_wrong_too("loss_and_grads")
        _compare_runs(got["stand-in runs"], ref["stand-in runs"], got.get("stand-in runs error"), note)
        return
    _compare_runs(got.get("runs"), ref["runs"], got.get("runs error"))


@suite.case("sgd_epoch", points=2, hint=SGD_HINT)
def slide_corpus_two_epochs(student):
    """Two epochs on the slide corpus from the slide's tables (lr = 0.1)."""
    prev_ids, next_ids = slide_pairs()
    return observe_sgd(student, SLIDE_V.copy(), SLIDE_U.copy(), prev_ids, next_ids, 0.1, epochs=2)


@slide_corpus_two_epochs.verify
def _(got, ref):
    check_sgd(got, ref)


@suite.case("sgd_epoch", points=1, hint=SGD_HINT)
def inputs_unchanged(student):
    """sgd_epoch returns new arrays and leaves the V and U it was given unchanged."""
    prev_ids, next_ids = slide_pairs()
    V, U = SLIDE_V.copy(), SLIDE_U.copy()
    with replacing(student, "sgd_epoch", {"loss_and_grads": grads_double(student.seed(501))}):
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


@suite.case("sgd_epoch", points=1, hint=SGD_HINT)
def random_tables_three_epochs(student):
    """Three epochs in a row on 10 seeded random pairs over 5 tokens (V, U of shape (5, 3), lr = 0.3)."""
    rng = np.random.default_rng(student.seed(9))
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    prev_ids, next_ids = rng.integers(0, 5, size=10), rng.integers(0, 5, size=10)
    return observe_sgd(student, V, U, prev_ids, next_ids, 0.3, epochs=3)


@random_tables_three_epochs.verify
def _(got, ref):
    check_sgd(got, ref)


# --------------------------------------------------------------------------- #
# WordEmbedLM
# --------------------------------------------------------------------------- #

MODEL_HINT = (
    "the model holds exactly the lecture's two tables: V as an embedding layer of vocab_size rows of size dim, "
    "and U as a linear layer from dim to vocab_size WITHOUT a bias (its weight then has V's shape)."
)
FORWARD_HINT = (
    "forward looks up the previous tokens' vectors in V (the encode layer), then scores them against every row of U "
    "(the decode layer): it returns the scores (logits) for any leading shape of ids, with no softmax."
)


@suite.case("WordEmbedLM", points=1, hint=MODEL_HINT)
def attributes(student):
    """WordEmbedLM(8, 2) has encode = nn.Embedding(8, 2) (V) and decode = nn.Linear(2, 8, bias=False) (U)."""
    return table_lm_facts(student.WordEmbedLM(8, 2), 8, 2)


@attributes.verify
def _(got, ref):
    check_table_lm_facts(got, ref["vocab_size"], ref["dim"], "WordEmbedLM")


def set_tables(model, V, U) -> None:
    """Copy V into encode.weight and U into decode.weight (a test's inputs, set explicitly)."""
    import torch

    with torch.no_grad():
        model.encode.weight.copy_(torch.as_tensor(V))
        model.decode.weight.copy_(torch.as_tensor(U))


@suite.case("WordEmbedLM", points=2, hint=FORWARD_HINT)
def forward_logits(student):
    """With V, U set to the slide's tables, model(ids) gives the scores s = U v for 1-D and 2-D ids."""
    import torch

    model = student.WordEmbedLM(8, 2)
    set_tables(model, SLIDE_V, SLIDE_U)
    student.note("model = WordEmbedLM(8, 2) with encode.weight = slide V, decode.weight = slide U")
    ids1 = torch.tensor([6, 4, 5, 1])
    ids2 = torch.tensor([[6, 4, 5], [6, 3, 2]])
    differentiable = bool(getattr(model(ids1), "requires_grad", False))  # gradients must reach the tables
    with torch.no_grad():
        return {"ids 1-D": ids1, "logits 1-D": model(ids1), "ids 2-D": ids2, "logits 2-D": model(ids2), "differentiable": differentiable}


def check_logit_shapes(got, ref, keys: list[str]) -> None:
    import torch

    for key in keys:
        ids, logits, expected = ref[f"ids {key}"], got[f"logits {key}"], ref[f"logits {key}"]
        if not isinstance(logits, torch.Tensor):
            raise AssertionError(f"model(ids) with ids of shape {tuple(ids.shape)} should return a torch tensor, got {describe(logits, 80)}.")
        if tuple(logits.shape) != tuple(expected.shape):
            raise AssertionError(
                f"model(ids) with ids of shape {tuple(ids.shape)} should give logits of shape {tuple(expected.shape)} "
                f"(*ids.shape, vocab_size), got {tuple(logits.shape)}."
            )
        assert_matches(logits, expected, f"logits {key}")


@forward_logits.verify
def _(got, ref):
    check_logit_shapes(got, ref, ["1-D", "2-D"])
    if ref["differentiable"] and got["differentiable"] is not True:
        raise AssertionError("the logits do not require grad: forward cut the graph (detach, numpy or no_grad), so training could not move V and U.")


# --------------------------------------------------------------------------- #
# train_word_embed_lm
# --------------------------------------------------------------------------- #

TRAIN_HINT = (
    "each epoch is one full-batch step of plain SGD (torch.optim.SGD with the given lr, nothing else): clear the old "
    "gradients, compute the mean cross-entropy of the model's logits on ALL pairs, backpropagate, step. Record each "
    "epoch's loss as a Python float, taken before that epoch's step."
)


def logit_table(table):
    """The test's own model (not a WordEmbedLM, so these tests do not depend on yours): one row of logits per
    previous token, an nn.Embedding(vocab_size, vocab_size) whose weight is ``table``."""
    import torch

    model = torch.nn.Embedding(*np.shape(table))
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(table))
    return model


@suite.case("train_word_embed_lm", points=2, timeout=30.0, hint=TRAIN_HINT)
def slide_corpus_five_epochs(student):
    """Zero, then five full-batch epochs on the slide corpus (lr = 0.5), from a seeded logit table: losses and final weights."""
    import torch

    prev_ids, next_ids = slide_pairs()
    model = logit_table(np.random.default_rng(student.seed(5)).normal(size=(8, 8)))
    student.note("model = nn.Embedding(8, 8) (a table of logits per previous token) with seeded weights; epochs = 0, then 5")
    none = student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 0, 0.5)
    losses = student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 5, 0.5)
    return {"epochs = 0": none, "losses": losses, "weights after training": model.weight.detach().clone()}


@slide_corpus_five_epochs.verify
def _(got, ref):
    losses = got["losses"]
    if not isinstance(losses, list):
        raise AssertionError(f"train_word_embed_lm should return a list of floats (one per epoch), got {type(losses).__name__}.")
    if not all(isinstance(x, (float, np.floating)) for x in losses):
        raise AssertionError(f"each loss should be a Python float (take the item of the loss tensor), got {describe(losses)}.")
    assert_matches(got, ref)


@suite.case("train_word_embed_lm", points=1, timeout=30.0, hint=TRAIN_HINT)
def training_lowers_the_loss(student):
    """Twenty epochs from a seeded logit table (vocab 8, lr = 1.0): the loss ends well below where it started."""
    import torch

    prev_ids, next_ids = slide_pairs()
    model = logit_table(np.random.default_rng(student.seed(7)).normal(size=(8, 8)))
    student.note("model = nn.Embedding(8, 8) (a table of logits per previous token) with seeded weights")
    return student.train_word_embed_lm(model, torch.from_numpy(prev_ids), torch.from_numpy(next_ids), 20, 1.0)


@training_lowers_the_loss.verify
def _(got, ref):
    if not isinstance(got, list) or len(got) != 20:
        raise AssertionError(f"expected a list of 20 losses (epochs = 20), got {describe(got)}.")
    if not all(isinstance(x, (float, np.floating)) for x in got):
        raise AssertionError(f"each loss should be a Python float (take the item of the loss tensor), got {type(got[0]).__name__} items.")
    if not got[-1] < got[0] - 0.3:
        raise AssertionError(f"the loss did not go down: first {got[0]:.4f}, last {got[-1]:.4f} (expected about {ref[0]:.4f} -> {ref[-1]:.4f}).")
    assert_matches(got, ref)


# --------------------------------------------------------------------------- #
# The same under sgd_epoch: a loss_and_grads that answers otherwise inside sgd_epoch than alone loses a point
# in its own case (the hidden tests have this on other seeds)
# --------------------------------------------------------------------------- #


def grads_under_sgd_epoch_probe(student, k: int, prev_id: int, next_id: int) -> dict:
    """loss_and_grads' same-under-sgd_epoch cases: sgd_epoch on seeded (5, 3) tables and 4 pairs (student.seed(k))
    watching loss_and_grads, each recorded call made again alone, then loss_and_grads(V, U, prev_id, next_id)."""
    rng = np.random.default_rng(student.seed(k))
    V, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))  # (5, 3), (5, 3)
    prev_ids, next_ids = rng.integers(0, 5, size=4), rng.integers(0, 5, size=4)  # (4,), (4,)
    student.note("sgd_epoch(V, U, prev_ids, next_ids, 0.2) watching loss_and_grads, then loss_and_grads alone on the same arguments")
    calls = under_and_alone(student, "sgd_epoch", "loss_and_grads", lambda: student.get("sgd_epoch")(V.copy(), U.copy(), prev_ids, next_ids, 0.2))
    return {"alone": calls, "result": student.loss_and_grads(V.copy(), U.copy(), prev_id, next_id)}


def check_grads_under_sgd_epoch(got, ref, prev_id: int, next_id: int) -> None:
    """Tolerant: loss_and_grads(V, U, prev_id, next_id) alone gives the solution's loss and gradients of the tables'
    shapes; under sgd_epoch it gives what it gives alone."""
    result, expected = got["result"], ref["result"]  # tolerant: not a stub; the loss and the shapes
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise AssertionError(f"loss_and_grads must return (loss, dV, dU), got {describe(result)}.")
    assert_matches(result[0], expected[0], f"the loss of loss_and_grads(V, U, {prev_id}, {next_id})")
    for name, mine, theirs in zip(("dV", "dU"), result[1:], expected[1:]):
        shape_error(name, mine, theirs.shape)
    check_same_alone(got, "loss_and_grads")


@suite.case("loss_and_grads", points=1, hint=SAME_ALONE_HINT)
def same_alone_as_under_sgd_epoch(student):
    """Inside your sgd_epoch, loss_and_grads gives what it gives alone on the same tables and pair (and is right alone)."""
    return grads_under_sgd_epoch_probe(student, k=19, prev_id=3, next_id=1)


@same_alone_as_under_sgd_epoch.verify
def _(got, ref):
    check_grads_under_sgd_epoch(got, ref, prev_id=3, next_id=1)
