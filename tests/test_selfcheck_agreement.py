"""The self-check predicts the grade (issue 10, item 3) for notebooks 01-03.

Each planted mistake replaces one graded function of the solution. The grader deducts
points when any case of that function fails (public or hidden); check() fails when a
public case fails. They must agree on every planted mistake, and every mistake must be
caught.
"""

from __future__ import annotations

import pytest

from tests.mistakes import WRONG
from tests.planting import cases, edited, plant, planted, run

MISTAKES = {
    # 01
    "tokenize: marks glued together": ("01", "tokenize", '''
def tokenize(text):
    return re.findall(r"\\w+|[^\\w\\s]+", text.lower())
'''),
    "tokenize: no lowercasing": ("01", "tokenize", '''
def tokenize(text):
    return re.findall(r"\\w+|[^\\w\\s]", text)
'''),
    "tokenize: split on spaces only": ("01", "tokenize", '''
def tokenize(text):
    return re.findall(r"\\w+|[^\\w ]", text.lower())
'''),
    "build_vocab: sorts the input in place": ("01", "build_vocab", '''
def build_vocab(tokens):
    tokens.sort()
    return sorted(set(tokens))
'''),
    "build_vocab: first-seen order": ("01", "build_vocab", '''
def build_vocab(tokens):
    return list(dict.fromkeys(tokens))
'''),
    "encode: sorts the vocabulary": ("01", "encode", '''
def encode(tokens, vocab):
    index = {t: i for i, t in enumerate(sorted(vocab))}
    return np.array([index[t] for t in tokens], dtype=np.int64)
'''),
    "encode: float dtype for no tokens": ("01", "encode", '''
def encode(tokens, vocab):
    index = {t: i for i, t in enumerate(vocab)}
    return np.array([index[t] for t in tokens])
'''),
    "encode: ValueError for unknown tokens": ("01", "encode", '''
def encode(tokens, vocab):
    return np.array([vocab.index(t) for t in tokens], dtype=np.int64)
'''),
    "decode: returns an array": ("01", "decode", '''
def decode(ids, vocab):
    return np.array(vocab)[np.asarray(ids, dtype=np.int64)]
'''),
    "one_hot: width max(ids) + 1": ("01", "one_hot", '''
def one_hot(ids, vocab_size):
    ids = np.asarray(ids, dtype=np.int64)
    return np.eye(ids.max() + 1)[ids]
'''),
    "embed: flattens the ids": ("01", "embed", '''
def embed(E, ids):
    return E[np.asarray(ids).reshape(-1)]
'''),
    # 02
    "dot_scores: v @ U.T by columns": ("02", "dot_scores", '''
def dot_scores(U, v):
    return np.asarray(U)[:, :1] @ np.asarray(v)[:1]
'''),
    "cosine_similarity: one length only": ("02", "cosine_similarity", '''
def cosine_similarity(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) ** 2)
'''),
    "softmax: no shift": ("02", "softmax", WRONG["softmax: no shift"]),
    "softmax: last axis only": ("02", "softmax", '''
def softmax(s, axis=-1):
    s = np.asarray(s, dtype=float)
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
'''),
    "next_token_probs: row of U": ("02", "next_token_probs", WRONG["next_token_probs: row of U"]),
    "next_token_probs: unstable exp": ("02", "next_token_probs", '''
def next_token_probs(V, U, prev_id):
    e = np.exp(np.asarray(U) @ np.asarray(V)[prev_id])
    return e / e.sum()
'''),
    "sample_categorical: u on a boundary": ("02", "sample_categorical", '''
def sample_categorical(p, rng):
    return int(np.searchsorted(np.cumsum(p), rng.random(), side="left"))
'''),
    "sample_categorical: rng.choice": ("02", "sample_categorical", '''
def sample_categorical(p, rng):
    return int(rng.choice(len(p), p=p))
'''),
    "generate: temperature as a product": ("02", "generate", WRONG["generate: temperature as a product"]),
    "generate: appends to start_ids": ("02", "generate", '''
def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
    ids = start_ids
    for _ in range(n_new):
        s = dot_scores(U, np.asarray(V)[ids[-1]])
        ids.append(int(np.argmax(s)) if greedy else int(sample_categorical(softmax(s / temperature), rng)))
    return ids
'''),
    "generate: greedy uses temperature": ("02", "generate", '''
def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
    ids = [int(i) for i in start_ids]
    for _ in range(n_new):
        s = dot_scores(U, np.asarray(V)[ids[-1]])
        p = softmax(s / temperature)
        ids.append(int(np.argmax(p)) if greedy else int(sample_categorical(p, rng)))
        if greedy:
            rng.random()
    return ids
'''),
    # 03
    "make_pairs: lists from a list": ("03", "make_pairs", '''
def make_pairs(ids):
    return ids[:-1], ids[1:]
'''),
    "cross_entropy: log2": ("03", "cross_entropy", '''
def cross_entropy(p, target):
    return float(-np.log2(p[target]))
'''),
    "loss_and_grads: V instead of U in dV": ("03", "loss_and_grads", edited("03", "loss_and_grads", ("dV[prev_id] = U.T @ ds", "dV[prev_id] = V.T @ ds"))),
    "loss_and_grads: changes V in place": ("03", "loss_and_grads", edited("03", "loss_and_grads", ("dV = np.zeros_like(V, dtype=float)", "dV = V\n    dV[:] = 0.0"))),
    "sgd_epoch: one step on the mean gradient": ("03", "sgd_epoch", '''
def sgd_epoch(V, U, prev_ids, next_ids, lr):
    V = np.array(V, dtype=float)
    U = np.array(U, dtype=float)
    grads = [loss_and_grads(V, U, p, n) for p, n in zip(prev_ids, next_ids)]
    V -= lr * np.mean([g[1] for g in grads], axis=0)
    U -= lr * np.mean([g[2] for g in grads], axis=0)
    return V, U, float(np.mean([g[0] for g in grads]))
'''),
    "sgd_epoch: updates in place": ("03", "sgd_epoch", '''
def sgd_epoch(V, U, prev_ids, next_ids, lr):
    losses = []
    for prev_id, next_id in zip(prev_ids, next_ids):
        loss, dV, dU = loss_and_grads(V, U, prev_id, next_id)
        losses.append(loss)
        V -= lr * dV
        U -= lr * dU
    return V, U, float(np.mean(losses))
'''),
    "WordEmbedLM: detached forward": ("03", "WordEmbedLM", '''
class WordEmbedLM(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.encode = nn.Embedding(vocab_size, dim)
        self.decode = nn.Linear(dim, vocab_size, bias=False)

    def forward(self, prev_ids):
        return self.decode(self.encode(prev_ids)).detach()
'''),
    "WordEmbedLM: decode with a bias": ("03", "WordEmbedLM", '''
class WordEmbedLM(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.encode = nn.Embedding(vocab_size, dim)
        self.decode = nn.Linear(dim, vocab_size)

    def forward(self, prev_ids):
        return self.decode(self.encode(prev_ids))
'''),
    "train_word_embed_lm: loss after the step": ("03", "train_word_embed_lm", '''
def train_word_embed_lm(model, prev_ids, next_ids, epochs, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(model(prev_ids), next_ids).backward()
        optimizer.step()
        losses.append(F.cross_entropy(model(prev_ids), next_ids).item())
    return losses
'''),
    "train_word_embed_lm: one step too many": ("03", "train_word_embed_lm", '''
def train_word_embed_lm(model, prev_ids, next_ids, epochs, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(max(epochs, 1)):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(prev_ids), next_ids)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[:epochs] if epochs else losses
'''),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_self_check_fails_exactly_when_the_grader_deducts(mistake):
    notebook, function, source = MISTAKES[mistake]
    assert_check_fails_when_the_grader_deducts(mistake, notebook, function, plant(notebook, source))


def assert_check_fails_when_the_grader_deducts(mistake: str, notebook: str, function: str, namespace: dict) -> None:
    """Some case of ``function`` fails on ``namespace`` (the grader deducts), and a public one among them (check() fails)."""
    results = run(notebook, function, namespace)
    public = {c.id for c in cases(notebook, function, "public")}
    failed = [cid for cid, ok, _ in results if not ok]
    assert failed, f"{mistake}: no case of {function} catches it"
    assert any(cid in public for cid in failed), f"{mistake}: check() passes, but the grader deducts for {failed}"


# The small slips of issue 17 (tests/test_one_mistake_slips.py) and its disagreements: check() must fail on each too.
ISSUE_CASES = {
    "cross_entropy: + 1e-12 inside the log": ("03", "cross_entropy", '''
def cross_entropy(p, target):
    return float(-np.log(p[target] + 1e-12))
'''),
    "tokenize: letters a to z only": ("01", "tokenize", '''
def tokenize(text):
    return re.findall(r"[a-z]+|[^a-z\\s]", text.lower())
'''),
    "make_pairs: float arrays for one token": ("03", "make_pairs", '''
def make_pairs(ids):
    ids = list(ids)
    return np.array(ids[:-1]), np.array(ids[1:])
'''),
}


def _extra() -> dict:
    from tests.test_one_mistake_slips import SLIPS

    out = {name: slip[:3] for name, slip in SLIPS.items()}
    out.update(ISSUE_CASES)
    return out


@pytest.mark.parametrize("mistake", sorted([*ISSUE_CASES, *__import__("tests.test_one_mistake_slips", fromlist=["SLIPS"]).SLIPS]))
def test_self_check_sees_every_slip_and_issue_case_the_grader_deducts_for(mistake):
    notebook, function, source = _extra()[mistake]
    assert_check_fails_when_the_grader_deducts(mistake, notebook, function, planted(notebook, source))


def test_the_planted_set_counts():
    """How many planted mistakes the agreement tests cover (quoted in the closing note)."""
    from tests.test_selfcheck_predicts_46 import CASES as MISTAKES_46

    total = len(MISTAKES) + len(MISTAKES_46) + len(_extra())
    print(f"planted set: {len(MISTAKES)} (01-03) + {len(MISTAKES_46)} (04-06) + {len(_extra())} (slips and issue cases) = {total}")
    assert total >= len(_extra()) + len(MISTAKES) > 0
