"""A toy grammar of slide-style sentences, and the exact best losses ("floors") on its stream.

The lecture's corpus is five sentences ("the dog ran . the cat ate the dog ! ...").
This module generates as many sentences *in the same style* as a notebook needs, from a
small probabilistic grammar whose rules a teacher can read at a glance (``GRAMMAR``,
or ``print(describe_grammar())``). Every sentence has one of two shapes::

    the SUBJECT VERB END                  e.g.  the dog ran .
    the SUBJECT VERB the OBJECT END       e.g.  the cat ate the fish !

and the rules are chosen so that *more context helps* predicting the next token:

* the VERB depends on the SUBJECT (1 token back: a bigram model sees it);
* after the VERB, "stop now, and with '.' or '!'" depends on the SUBJECT (2 tokens back);
* the OBJECT depends on the VERB (2 tokens back) *and* on the SUBJECT (3 tokens back);
* the END mark depends on the SUBJECT: cat sentences are exclamations far more often
  ('!'), dog sentences are mostly calm ('.'). In a long sentence the SUBJECT is 4 tokens
  before the END, out of reach of a 3-token context (after "ate the fish": '!' or '.'?).

A token *stream* is whole sentences concatenated ("the dog ran . the cat ate ...").

Floors (the best cross-entropy any model can reach, in nats per token)
-------------------------------------------------------------------------
The stream is a Markov chain over *grammar states*, and the grammar state is simply the
tuple of tokens since the current sentence began (``()`` at a sentence start,
``("the", "cat", "ate")`` after a verb, ...). Each state emits one token and moves to the
next state deterministically (back to ``()`` after '.' or '!'). A model that sees only
the previous T tokens does not know the state; the best it can do is predict with
``P(next | last T tokens)`` under the stationary stream, so its floor is the conditional
entropy ``H(X_t | X_{t-T}, ..., X_{t-1})``. This module computes it *exactly*:

* the stationary distribution over states is exact (the chain restarts at every sentence
  start, so ``pi(state) = P(a sentence passes through state) / E[sentence length]``);
* every token history ``h`` of length T with ``P(h) > 0`` is enumerated, carrying its
  forward-algorithm vector ``alpha_h(s) = P(h, state after h = s)`` (the belief state);
  then ``P(h, next) = alpha_h @ emission`` and the floor is the entropy of that table.

The *full-history* floor is the entropy rate of the stream. The whole past contains the
last sentence start, hence the state, so ``H(X_t | past) = H(X_t | state) =
sum_s pi(s) H(next | s)``. Any T-token window with ``T >= MAX_SENTENCE_LEN`` (= 6) also
contains an end mark, hence fixes the state, so ``floor(T) == full_history_floor()`` for
those T (the tests check this; for ``GRAMMAR`` already T = 4 suffices: every 4-token
window pins down the current sentence prefix, as it shows the subject or an end mark). The floors fall along the
course (nats/token)::

    bigram  floor(1) = 0.977     notebooks 02-03
            floor(2) = 0.677
            floor(3) = 0.592     notebooks 04-05 (context of 3 tokens)
    full    floor(4) = 0.532     notebooks 06-07 (= floor(T) for every T >= 4)

Everything here is pure: randomness comes only from the ``rng`` argument
(a ``numpy.random.Generator``); results of the exact computations are cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

END_MARKS = (".", "!")
MAX_SENTENCE_LEN = 6  # "the SUBJECT VERB the OBJECT END"


@dataclass(frozen=True)
class Grammar:
    """The rules of the toy grammar, each a table of probabilities.

    Attributes:
        subject: ``P(SUBJECT)`` (the token after the sentence's first "the").
        verb: ``verb[subject][verb] = P(VERB | SUBJECT)``.
        go_on: ``go_on[verb] = P(the sentence continues with "the OBJECT" | VERB)``;
            otherwise it ends right after the verb.
        obj: ``obj[verb][subject][object] = P(OBJECT | VERB, SUBJECT)``.
        end: ``end[subject][mark] = P(END mark | SUBJECT)``, mark in {'.', '!'}.
    """

    subject: Mapping[str, float]
    verb: Mapping[str, Mapping[str, float]]
    go_on: Mapping[str, float]
    obj: Mapping[str, Mapping[str, Mapping[str, float]]]
    end: Mapping[str, Mapping[str, float]]


# The course's grammar. Read it row by row: a sentence is about "the cat" half of the
# time; a cat then "ate" 40% of the time; after "ate" the sentence goes on with "the
# OBJECT" 80% of the time, and a cat eats "fish" half of the time; a cat sentence ends
# with "!" 95% of the time. Every slide sentence ("the cat ate the dog !", ...) can occur.
GRAMMAR = Grammar(
    subject={"cat": 0.5, "dog": 0.5},
    verb={
        "cat": {"ate": 0.4, "ran": 0.3, "saw": 0.3},
        "dog": {"ate": 0.3, "ran": 0.4, "saw": 0.3},
    },
    go_on={"ate": 0.8, "ran": 0.8, "saw": 1.0},
    obj={
        "ate": {
            "cat": {"fish": 0.5, "bone": 0.2, "bird": 0.2, "dog": 0.1},
            "dog": {"bone": 0.5, "fish": 0.2, "bird": 0.2, "cat": 0.1},
        },
        "ran": {
            "cat": {"park": 0.6, "zoo": 0.4},
            "dog": {"zoo": 0.6, "park": 0.4},
        },
        "saw": {  # nobody sees itself
            "cat": {"bird": 0.7, "dog": 0.3},
            "dog": {"bird": 0.7, "cat": 0.3},
        },
    },
    end={
        "cat": {"!": 0.95, ".": 0.05},
        "dog": {".": 0.95, "!": 0.05},
    },
)


def grammar_tokens(grammar: Grammar = GRAMMAR) -> list[str]:
    """All tokens the grammar can produce, sorted: the vocabulary."""
    tokens = {"the", *END_MARKS, *grammar.subject}
    for verbs in grammar.verb.values():
        tokens.update(verbs)
    for by_subject in grammar.obj.values():
        for objects in by_subject.values():
            tokens.update(objects)
    return sorted(tokens)


VOCAB: list[str] = grammar_tokens(GRAMMAR)
"""The sorted vocabulary (13 tokens); a superset of the slide's 8 tokens."""
_TOKEN_ID: dict[str, int] = {tok: i for i, tok in enumerate(VOCAB)}  # the grammar's own token -> id


def validate_grammar(grammar: Grammar = GRAMMAR, tol: float = 1e-9) -> None:
    """Raise ``ValueError`` unless every rule table is a probability distribution
    and every subject/verb the grammar can produce has its rules."""

    def check(dist: Mapping[str, float], what: str) -> None:
        if any(p < 0 for p in dist.values()) or abs(sum(dist.values()) - 1.0) > tol:
            raise ValueError(f"{what} is not a probability distribution: {dict(dist)}")

    check(grammar.subject, "subject")
    for s in grammar.subject:
        if s not in grammar.verb or s not in grammar.end:
            raise ValueError(f"subject {s!r} has no verb or end rule")
        check(grammar.verb[s], f"verb[{s!r}]")
        check(grammar.end[s], f"end[{s!r}]")
        if set(grammar.end[s]) - set(END_MARKS):
            raise ValueError(f"end[{s!r}] may only use {END_MARKS}")
        for v, p in grammar.verb[s].items():
            if v not in grammar.go_on or not 0.0 <= grammar.go_on[v] <= 1.0:
                raise ValueError(f"verb {v!r} needs go_on in [0, 1]")
            if p > 0 and grammar.go_on[v] > 0:
                if s not in grammar.obj.get(v, {}):
                    raise ValueError(f"obj[{v!r}][{s!r}] is missing")
                check(grammar.obj[v][s], f"obj[{v!r}][{s!r}]")


def describe_grammar(grammar: Grammar = GRAMMAR) -> str:
    """The rules as a short text table, for printing in a notebook."""

    def fmt(dist: Mapping[str, float]) -> str:
        return ", ".join(f"{t} {p:g}" for t, p in dist.items())

    lines = [
        "sentence = the SUBJECT VERB [the OBJECT] END",
        f"SUBJECT: {fmt(grammar.subject)}",
    ]
    for s, verbs in grammar.verb.items():
        lines.append(f"VERB | the {s}: {fmt(verbs)}")
    lines.append("go on with 'the OBJECT' | VERB: " + fmt(grammar.go_on))
    for v, by_subject in grammar.obj.items():
        for s, objects in by_subject.items():
            lines.append(f"OBJECT | the {s} {v} the: {fmt(objects)}")
    for s, marks in grammar.end.items():
        lines.append(f"END | SUBJECT {s}: {fmt(marks)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- rules


def rule_probs(prefix: Sequence[str], grammar: Grammar = GRAMMAR) -> dict[str, float]:
    """``P(next token | tokens since the sentence began)``: the grammar as one function.

    Args:
        prefix: the tokens of the current sentence so far (no end mark), e.g.
            ``()`` or ``("the", "cat", "ate")``.

    Returns:
        ``{token: probability}`` over the tokens that can come next (all > 0).

    Raises:
        ValueError: ``prefix`` is not a prefix of a sentence of the grammar.
    """
    prefix = tuple(prefix)
    n = len(prefix)
    out: dict[str, float] = {}

    def add(dist: Mapping[str, float], scale: float = 1.0) -> None:
        for tok, p in dist.items():
            if p * scale > 0:
                out[tok] = out.get(tok, 0.0) + p * scale

    try:
        if n == 0:
            add({"the": 1.0})
        elif n == 1 and prefix[0] == "the":
            add(grammar.subject)
        elif n >= 2 and prefix[0] == "the" and grammar.subject.get(prefix[1], 0) > 0:
            subj = prefix[1]
            if n == 2:
                add(grammar.verb[subj])
            elif grammar.verb[subj].get(prefix[2], 0) > 0:
                verb = prefix[2]
                go_on = grammar.go_on[verb]
                if n == 3:
                    add({"the": go_on})
                    add(grammar.end[subj], 1.0 - go_on)
                elif n == 4 and prefix[3] == "the" and go_on > 0:
                    add(grammar.obj[verb][subj])
                elif n == 5 and prefix[3] == "the" and grammar.obj[verb][subj].get(prefix[4], 0) > 0:
                    add(grammar.end[subj])
    except KeyError:
        out = {}
    if not out:
        raise ValueError(f"{' '.join(prefix)!r} is not a sentence prefix of the grammar")
    return out


def sentence_log_prob(sentence: Sequence[str], grammar: Grammar = GRAMMAR) -> float:
    """``log P(sentence)`` under the grammar (``-inf`` if it cannot be generated)."""
    total = 0.0
    for i, tok in enumerate(sentence):
        try:
            p = rule_probs(sentence[:i], grammar).get(tok, 0.0)
        except ValueError:
            return float("-inf")
        if p <= 0:
            return float("-inf")
        total += float(np.log(p))
        if tok in END_MARKS:
            return total if i == len(sentence) - 1 else float("-inf")
    return float("-inf")  # no end mark


# ------------------------------------------------------------------------ sampling


def _draw(dist: Mapping[str, float], rng: np.random.Generator) -> str:
    """One token from ``{token: p}``: one ``u = rng.random()``, first cumsum > u."""
    u = rng.random()
    acc = 0.0
    last = ""
    for tok, p in dist.items():
        acc += p
        last = tok
        if u < acc:
            return tok
    return last  # u within rounding of 1


def sample_sentence(rng: np.random.Generator, grammar: Grammar = GRAMMAR) -> list[str]:
    """One sentence, e.g. ``['the', 'cat', 'ate', 'the', 'fish', '!']`` (one draw per token)."""
    sentence: list[str] = []
    while not sentence or sentence[-1] not in END_MARKS:
        sentence.append(_draw(rule_probs(sentence, grammar), rng))
    return sentence


def sample_sentences(n: int, rng: np.random.Generator, grammar: Grammar = GRAMMAR) -> list[list[str]]:
    """``n`` independent sentences, each a list of tokens starting with 'the' and
    ending with '.' or '!'."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return [sample_sentence(rng, grammar) for _ in range(n)]


def sample_corpus(n_tokens: int, rng: np.random.Generator, grammar: Grammar = GRAMMAR) -> list[str]:
    """A token stream of whole sentences, at least ``n_tokens`` long.

    Sentences are drawn one after the other until the stream has ``n_tokens`` tokens,
    so the length is between ``n_tokens`` and ``n_tokens + MAX_SENTENCE_LEN - 1``; the
    stream starts with 'the' and ends with '.' or '!'.
    """
    stream: list[str] = []
    while len(stream) < n_tokens:
        stream.extend(sample_sentence(rng, grammar))
    return stream


def encode_tokens(tokens: Sequence[str]) -> np.ndarray:
    """The toy grammar's token strings -> int64 ids in ``VOCAB`` order; ``KeyError`` names an unknown token.

    Only for the grammar's own 13 tokens (notebooks 04-07 use it for prompts); notebook 01's graded
    ``encode`` is the general one, for any vocabulary.
    """
    unknown = [t for t in tokens if t not in _TOKEN_ID]
    if unknown:
        raise KeyError(f"token {unknown[0]!r} is not in the toy grammar's vocabulary")
    return np.fromiter((_TOKEN_ID[t] for t in tokens), dtype=np.int64, count=len(tokens))


def decode_ids(ids: Sequence[int] | np.ndarray) -> list[str]:
    """The toy grammar's ids -> its token strings (for printing and labels)."""
    return list(np.asarray(VOCAB, dtype=object)[np.asarray(ids, dtype=np.int64)])


def corpus_ids(n_tokens: int, rng: np.random.Generator, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """``sample_corpus`` as int64 ids in ``VOCAB`` order (``grammar_tokens(grammar)`` order)."""
    order = {tok: i for i, tok in enumerate(grammar_tokens(grammar))}
    return np.array([order[t] for t in sample_corpus(n_tokens, rng, grammar)], dtype=np.int64)


# ------------------------------------------------------------- the exact chain


@dataclass(frozen=True, eq=False)
class Chain:
    """The stream as a Markov chain over grammar states (sentence prefixes).

    Attributes:
        states: the sentence prefixes; ``states[0] == ()`` (a sentence start).
        vocab: token order of the columns below.
        emit: ``(S, V)``: ``emit[s, w] = P(next token w | state s)``.
        step: ``(S, V)`` int: the state after emitting ``w`` in ``s`` (-1 if impossible).
        stationary: ``(S,)``: the stationary distribution over states.
        mean_sentence_len: the expected number of tokens per sentence.
    """

    states: tuple[tuple[str, ...], ...]
    vocab: tuple[str, ...]
    emit: np.ndarray
    step: np.ndarray
    stationary: np.ndarray
    mean_sentence_len: float

    def token_matrices(self) -> np.ndarray:
        """``(V, S, S)``: ``M[w, s, s'] = P(emit w and move to s' | s)``; sum over w is
        the state transition matrix."""
        S, V = self.emit.shape
        M = np.zeros((V, S, S))
        s_idx, w_idx = np.nonzero(self.step >= 0)
        M[w_idx, s_idx, self.step[s_idx, w_idx]] = self.emit[s_idx, w_idx]
        return M


_CACHE: dict[tuple, object] = {}


def _key(grammar: Grammar) -> str:
    return repr(grammar)


def markov_chain(grammar: Grammar = GRAMMAR) -> Chain:
    """Build (and cache) the exact Markov chain of the grammar's stream."""
    key = ("chain", _key(grammar))
    if key in _CACHE:
        return _CACHE[key]  # type: ignore[return-value]
    validate_grammar(grammar)
    vocab = tuple(grammar_tokens(grammar))
    col = {t: i for i, t in enumerate(vocab)}
    # Breadth-first over the prefixes a sentence can pass through, with P(reach).
    states: list[tuple[str, ...]] = [()]
    reach = {(): 1.0}
    frontier = [()]
    while frontier:
        new = []
        for prefix in frontier:
            for tok, p in rule_probs(prefix, grammar).items():
                if tok in END_MARKS:
                    continue
                nxt = prefix + (tok,)
                if nxt not in reach:
                    reach[nxt] = 0.0
                    states.append(nxt)
                    new.append(nxt)
                reach[nxt] += reach[prefix] * p
        frontier = new
    index = {s: i for i, s in enumerate(states)}
    S, V = len(states), len(vocab)
    emit = np.zeros((S, V))
    step = np.full((S, V), -1, dtype=np.int64)
    for i, prefix in enumerate(states):
        for tok, p in rule_probs(prefix, grammar).items():
            emit[i, col[tok]] = p
            step[i, col[tok]] = 0 if tok in END_MARKS else index[prefix + (tok,)]
    r = np.array([reach[s] for s in states])
    chain = Chain(
        states=tuple(states),
        vocab=vocab,
        emit=emit,
        step=step,
        stationary=r / r.sum(),
        mean_sentence_len=float(r.sum()),
    )
    for arr in (emit, step, chain.stationary):
        arr.setflags(write=False)
    _CACHE[key] = chain
    return chain


def history_table(T: int, grammar: Grammar = GRAMMAR) -> tuple[np.ndarray, np.ndarray]:
    """Every possible T-token history of the stationary stream, with its next-token joint.

    Returns:
        ``(histories, joint)``: ``histories`` is ``(H, T)`` int64 ids (in ``VOCAB`` order),
        sorted, one row per history with ``P(history) > 0``; ``joint`` is ``(H, V)`` with
        ``joint[h, w] = P(history h, then w)`` (sums to 1). ``P(next | h)`` is
        ``joint[h] / joint[h].sum()``. Cached; the arrays are read-only.
    """
    if T < 0:
        raise ValueError("T must be >= 0")
    key = ("hist", _key(grammar), T)
    if key in _CACHE:
        return _CACHE[key]  # type: ignore[return-value]
    chain = markov_chain(grammar)
    M = chain.token_matrices()
    S, V = chain.emit.shape
    hist = np.zeros((1, 0), dtype=np.int64)
    alpha = chain.stationary[None, :].copy()  # forward vectors P(history, state)
    for _ in range(T):
        # Extend every history by every token: (H, V, S).
        new_alpha = np.einsum("hs,wst->hwt", alpha, M)
        keep_h, keep_w = np.nonzero(new_alpha.sum(axis=2) > 0)
        hist = np.concatenate([hist[keep_h], keep_w[:, None]], axis=1)
        alpha = new_alpha[keep_h, keep_w]
    joint = alpha @ chain.emit
    order = np.lexsort(hist.T[::-1]) if T > 0 else np.arange(len(hist))
    hist, joint = hist[order], joint[order]
    hist.setflags(write=False)
    joint.setflags(write=False)
    _CACHE[key] = (hist, joint)
    return hist, joint


def _entropy_of_joint(joint: np.ndarray) -> float:
    """``H(next | history)`` in nats from a ``(H, V)`` joint table."""
    ph = joint.sum(axis=1, keepdims=True)
    nz = joint > 0
    cond = np.where(nz, joint / np.where(ph > 0, ph, 1.0), 1.0)
    return float(-(joint[nz] * np.log(cond[nz])).sum())


def floor(T: int, grammar: Grammar = GRAMMAR) -> float:
    """The T-token floor: ``H(X_t | X_{t-T..t-1})`` of the stationary stream, in nats/token.

    The lowest mean cross-entropy any model that sees only the previous ``T`` tokens can
    reach (``T = 0``: the unigram entropy; ``T = 1``: the bigram floor). Exact.
    """
    key = ("floor", _key(grammar), T)
    if key not in _CACHE:
        _CACHE[key] = _entropy_of_joint(history_table(T, grammar)[1])
    return _CACHE[key]  # type: ignore[return-value]


def bigram_floor(grammar: Grammar = GRAMMAR) -> float:
    """The floor of a model that sees the previous token only: ``floor(1)``."""
    return floor(1, grammar)


def full_history_floor(grammar: Grammar = GRAMMAR) -> float:
    """The entropy rate ``H(X_t | whole past) = sum_s pi(s) H(next | s)``, in nats/token.

    Exact because the whole past fixes the grammar state (the tokens since the last end
    mark); equal to ``floor(T)`` for every ``T >= MAX_SENTENCE_LEN``.
    """
    chain = markov_chain(grammar)
    e = chain.emit
    h = -(np.where(e > 0, e * np.log(np.where(e > 0, e, 1.0)), 0.0)).sum(axis=1)
    return float(chain.stationary @ h)


def floors(T: int = 3, grammar: Grammar = GRAMMAR) -> dict[str, float]:
    """``{'bigram': floor(1), 'context': floor(T), 'full': full_history_floor()}``."""
    return {"bigram": floor(1, grammar), "context": floor(T, grammar), "full": full_history_floor(grammar)}


# ------------------------------------------------- true probabilities on a stream


def true_next_probs(ids: np.ndarray | Sequence[int], T: int | None = None, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """The ideal model's next-token probabilities at every position of a stream.

    Args:
        ids: ``(N,)`` int ids (``VOCAB`` order) of a stream that starts at a sentence
            start (as ``corpus_ids`` makes).
        T: context size: ``p(x_t | x_{t-T..t-1})`` of the stationary stream; ``None``:
            the full history, ``p(x_t | grammar state)``.

    Returns:
        ``(N - T, V)`` (or ``(N, V)`` for the full history): row ``i`` predicts
        ``ids[T + i]`` (or ``ids[i]``).
    """
    ids = np.asarray(ids, dtype=np.int64)
    chain = markov_chain(grammar)
    if T is None:
        out = np.empty((len(ids), len(chain.vocab)))
        state = 0
        for i, w in enumerate(ids):
            out[i] = chain.emit[state]
            state = int(chain.step[state, w])
            if state < 0:
                raise ValueError(f"position {i}: the stream does not follow the grammar")
        return out
    hist, joint = history_table(T, grammar)
    cond = joint / joint.sum(axis=1, keepdims=True)
    V = len(chain.vocab)
    windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], T) if T > 0 else np.zeros((len(ids), 0), np.int64)
    code_hist = (hist * V ** np.arange(T - 1, -1, -1)).sum(axis=1) if T > 0 else np.zeros(1, np.int64)
    code_win = (windows * V ** np.arange(T - 1, -1, -1)).sum(axis=1) if T > 0 else np.zeros(len(ids), np.int64)
    pos = np.searchsorted(code_hist, code_win)  # hist is sorted, so its codes are sorted
    pos = np.minimum(pos, len(code_hist) - 1)
    if not np.all(code_hist[pos] == code_win):
        raise ValueError("the stream has a T-token history the grammar cannot produce")
    return cond[pos]


def true_log_loss(ids: np.ndarray | Sequence[int], T: int | None = None, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """``-log p_true(x_t | context)`` at every predicted position (see ``true_next_probs``);
    its mean is a Monte Carlo estimate of ``floor(T)`` (or of the full-history floor)."""
    ids = np.asarray(ids, dtype=np.int64)
    p = true_next_probs(ids, T, grammar)
    targets = ids if T is None else ids[T:]
    return -np.log(p[np.arange(len(targets)), targets])


def empirical_floor(ids: np.ndarray | Sequence[int], T: int) -> float:
    """The conditional entropy of the next token given the previous ``T`` in one stream.

    Counts every window ``(x_{t-T}, ..., x_{t-1}, x_t)`` of ``ids`` and returns
    ``-sum c(h, w)/N log(c(h, w)/c(h))`` in nats: exactly the lowest mean cross-entropy a
    T-token model can reach *on this stream* (e.g. on the five slide sentences), and a
    (slightly low-biased) estimate of ``floor(T)`` on a long sampled stream.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if T < 0:
        raise ValueError("T must be >= 0")
    if len(ids) <= T:
        raise ValueError(f"need more than T = {T} tokens")
    windows = np.lib.stride_tricks.sliding_window_view(ids, T + 1)
    n = len(windows)
    base = int(ids.max()) + 1 if ids.min() >= 0 else 0
    if base > 0 and (T + 1) * np.log(base) < np.log(2.0**62):
        # One integer code per window (fast 1-D unique); the history is code // base.
        codes = windows @ (base ** np.arange(T, -1, -1, dtype=np.int64))
        _, pair_counts = np.unique(codes, return_counts=True)
        _, hist_counts = np.unique(codes // base, return_counts=True)
    else:
        _, pair_counts = np.unique(windows, axis=0, return_counts=True)
        _, hist_counts = np.unique(windows[:, :T], axis=0, return_counts=True)

    def plugin_entropy(counts: np.ndarray) -> float:
        p = counts / n
        return float(-(p * np.log(p)).sum())

    # H(next | history) = H(history, next) - H(history), both from the counts.
    return plugin_entropy(pair_counts) - plugin_entropy(hist_counts)


# ------------------------------------------------------------------------ generated text


def split_sentences(tokens: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Cut a token stream after every end mark: (the complete sentences, the unfinished rest)."""
    sentences: list[list[str]] = [[]]
    for tok in tokens:
        sentences[-1].append(tok)
        if tok in END_MARKS:
            sentences.append([])
    return sentences[:-1], sentences[-1]


def grammatical_count(tokens: Sequence[str], grammar: Grammar = GRAMMAR) -> tuple[int, int]:
    """How many complete sentences of a generated stream the grammar can make: (possible, complete).

    A sentence is possible when ``sentence_log_prob`` is finite (every token has probability > 0
    after the ones before it); the unfinished tail after the last end mark is not counted.
    """
    sentences, _ = split_sentences(tokens)
    possible = sum(np.isfinite(sentence_log_prob(s, grammar)) for s in sentences)
    return int(possible), len(sentences)


PLACE_NAMES = ("1st: the", "2nd: subject", "3rd: verb", "4th: the or end", "5th: object", "6th: end")


def sentence_places(tokens: Sequence[str]) -> list[int]:
    """The place of every token in its sentence (0 = the sentence's 'the', 1 = subject, 2 = verb, ...),
    for a stream that starts at a sentence start; ``PLACE_NAMES[place]`` names each place."""
    places, place = [], 0
    for tok in tokens:
        places.append(place)
        place = 0 if tok in END_MARKS else place + 1
    return places
