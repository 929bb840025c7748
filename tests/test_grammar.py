"""Tests of helpers/grammar.py: the toy grammar, its sampler and its exact floors.

The module is loaded straight from its file, so these tests depend on nothing but
helpers/grammar.py and numpy (plus pytest and hypothesis to run them); importing the
``helpers`` package would also import its plotting code.

How the floors are checked:

* exactly, by an independent route: every sentence of the grammar is enumerated with its
  probability, and the stationary k-gram distribution of the stream is built from pairs
  of consecutive sentences (renewal argument: a window starting in a sentence of length
  >= 4 and at most 5 tokens long ends in that sentence or the next one), so
  ``H(X_t | previous T) = H(k = T + 1 block) - H(k = T block)`` for T <= 4;
* by Monte Carlo on a 300k-token sample: the mean of ``-log p_true(next | context)``
  (its expectation is the floor), within 4.5 standard errors; the standard error is
  the larger of the i.i.d. one and the batch-means one (tokens in a sentence are
  dependent, sentences are independent, so means of long contiguous blocks are nearly
  independent);
* by counting: the plug-in conditional entropy of the sample's (history, next) counts,
  within 4.5 standard errors plus twice its known downward bias (about (number of
  distinct windows - number of distinct histories) / 2N, here < 0.001 nats).
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys
import time
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_PATH = pathlib.Path(__file__).resolve().parents[1] / "helpers" / "grammar.py"


def _load_grammar_module():
    name = "_course_grammar_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


g = _load_grammar_module()

SLIDE_TOKENS = "the dog ran . the dog ate . the dog ran the zoo . the cat ate the dog ! the cat ran the zoo .".split()
N_SAMPLE = 300_000
Z = 4.5  # standard errors allowed (two-sided p ~ 7e-6 per check)


def _split_sentences(tokens):
    sentences, current = [], []
    for tok in tokens:
        current.append(tok)
        if tok in g.END_MARKS:
            sentences.append(current)
            current = []
    assert not current, "stream must end with an end mark"
    return sentences


def _all_sentences():
    """Every sentence of the grammar with its probability, by depth-first search over
    ``rule_probs`` (the rules) only."""
    out = []

    def walk(prefix, p):
        for tok, q in g.rule_probs(prefix).items():
            if tok in g.END_MARKS:
                out.append((tuple(prefix) + (tok,), p * q))
            else:
                walk(tuple(prefix) + (tok,), p * q)

    walk((), 1.0)
    return out


def _block_entropies_by_renewal(k_max):
    """Exact entropies H_k of the stationary k-token block distribution, k = 0..k_max <= 5."""
    assert k_max <= 5
    sentences = _all_sentences()
    mean_len = sum(p * len(s) for s, p in sentences)
    H = [0.0]
    for k in range(1, k_max + 1):
        freq = defaultdict(float)
        for s1, p1 in sentences:
            for s2, p2 in sentences:
                pair = s1 + s2
                for start in range(len(s1)):  # windows that start in the first sentence
                    freq[pair[start : start + k]] += p1 * p2
        probs = np.array(list(freq.values())) / mean_len
        assert abs(probs.sum() - 1.0) < 1e-12
        H.append(float(-(probs * np.log(probs)).sum()))
    return H


def _standard_error(losses, n_blocks=100):
    """max(i.i.d. SE, batch-means SE) of the mean of ``losses``."""
    losses = np.asarray(losses)
    iid = losses.std() / math.sqrt(len(losses))
    m = len(losses) // n_blocks * n_blocks
    blocks = losses[:m].reshape(n_blocks, -1).mean(axis=1)
    batch = blocks.std(ddof=1) / math.sqrt(n_blocks)
    return max(iid, batch)


@pytest.fixture(scope="module")
def sample_ids():
    return g.corpus_ids(N_SAMPLE, np.random.default_rng(2024))


# ------------------------------------------------------------------ the grammar


def test_vocab_is_sorted_small_and_contains_the_slide_tokens():
    assert g.VOCAB == sorted(set(g.VOCAB))
    assert 10 <= len(g.VOCAB) <= 16
    assert set(SLIDE_TOKENS) <= set(g.VOCAB)
    assert g.VOCAB == g.grammar_tokens(g.GRAMMAR)
    assert all(t in (".", "!") or (t.isalpha() and t.islower()) for t in g.VOCAB)


def test_grammar_rules_are_distributions_and_printable():
    g.validate_grammar(g.GRAMMAR)
    text = g.describe_grammar()
    for subject in g.GRAMMAR.subject:
        assert f"the {subject}" in text
    bad = g.Grammar(
        subject={"cat": 0.7, "dog": 0.7},
        verb=g.GRAMMAR.verb,
        go_on=g.GRAMMAR.go_on,
        obj=g.GRAMMAR.obj,
        end=g.GRAMMAR.end,
    )
    with pytest.raises(ValueError):
        g.validate_grammar(bad)


def test_rule_probs_are_distributions_and_reject_non_prefixes():
    for state in g.markov_chain().states:
        dist = g.rule_probs(state)
        assert abs(sum(dist.values()) - 1.0) < 1e-12
        assert all(p > 0 and tok in g.VOCAB for tok, p in dist.items())
    for bad in [("cat",), ("the", "the"), ("the", "cat", "ate", "the", "zoo"), ("the", "dog", "ran", ".")]:
        with pytest.raises(ValueError):
            g.rule_probs(bad)


def test_every_slide_sentence_can_be_generated():
    for sentence in _split_sentences(SLIDE_TOKENS):
        assert np.isfinite(g.sentence_log_prob(sentence)), sentence
    assert g.sentence_log_prob(["the", "zoo", "ran", "."]) == float("-inf")
    assert g.sentence_log_prob(["the", "cat", "ran"]) == float("-inf")


def test_enumerated_sentences_sum_to_one_and_have_two_shapes():
    sentences = _all_sentences()
    assert abs(sum(p for _, p in sentences) - 1.0) < 1e-12
    assert {len(s) for s, _ in sentences} == {4, g.MAX_SENTENCE_LEN}
    for s, p in sentences:
        assert math.isclose(math.exp(g.sentence_log_prob(s)), p, rel_tol=1e-12)


def test_rules_show_up_in_sample_frequencies(sample_ids):
    # The rule that makes long context matter: the end mark follows the subject.
    sentences = _split_sentences(g.decode_ids(sample_ids))
    for subject, marks in g.GRAMMAR.end.items():
        ends = [s[-1] for s in sentences if s[1] == subject]
        freq = ends.count("!") / len(ends)
        p = marks["!"]
        assert abs(freq - p) < Z * math.sqrt(p * (1 - p) / len(ends)), subject


# -------------------------------------------------------------------- sampling


def test_sampling_is_seeded_and_deterministic():
    a = g.sample_corpus(500, np.random.default_rng(7))
    b = g.sample_corpus(500, np.random.default_rng(7))
    c = g.sample_corpus(500, np.random.default_rng(8))
    assert a == b and a != c
    assert g.sample_sentences(20, np.random.default_rng(3)) == g.sample_sentences(20, np.random.default_rng(3))
    ids1 = g.corpus_ids(400, np.random.default_rng(11))
    ids2 = g.corpus_ids(400, np.random.default_rng(11))
    assert ids1.dtype == np.int64 and np.array_equal(ids1, ids2)
    assert g.decode_ids(ids1) == g.sample_corpus(400, np.random.default_rng(11))


def test_sampling_uses_only_the_given_rng():
    np.random.seed(0)
    a = g.sample_corpus(200, np.random.default_rng(5))
    np.random.seed(1)
    b = g.sample_corpus(200, np.random.default_rng(5))
    assert a == b


def test_encode_unknown_token_names_it():
    with pytest.raises(KeyError, match="unicorn"):
        g.encode_tokens(["the", "unicorn"])
    assert g.decode_ids(g.encode_tokens(SLIDE_TOKENS)) == SLIDE_TOKENS


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 25))
def test_any_seed_gives_grammatical_sentences(seed, n):
    sentences = g.sample_sentences(n, np.random.default_rng(seed))
    assert len(sentences) == n
    for s in sentences:
        assert s[0] == "the"
        assert s[-1] in (".", "!")
        assert not any(t in g.END_MARKS for t in s[:-1])
        assert len(s) in (4, g.MAX_SENTENCE_LEN)
        assert all(t in g.VOCAB for t in s)
        assert np.isfinite(g.sentence_log_prob(s))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_tokens=st.integers(0, 120))
def test_any_seed_gives_a_stream_of_whole_sentences(seed, n_tokens):
    stream = g.sample_corpus(n_tokens, np.random.default_rng(seed))
    assert n_tokens <= len(stream) < n_tokens + g.MAX_SENTENCE_LEN
    if stream:
        assert stream[0] == "the" and stream[-1] in g.END_MARKS
        ids = g.encode_tokens(stream)
        assert np.all(np.isfinite(g.true_log_loss(ids, None)))  # follows the grammar
        if len(ids) > 3:
            assert np.all(np.isfinite(g.true_log_loss(ids, 3)))  # every 3-history possible


# ------------------------------------------------------------ the exact chain


def test_stationary_distribution_is_stationary():
    chain = g.markov_chain()
    P = chain.token_matrices().sum(axis=0)
    assert np.allclose(P.sum(axis=1), 1.0)
    assert np.allclose(chain.emit.sum(axis=1), 1.0)
    assert abs(chain.stationary.sum() - 1.0) < 1e-12
    assert np.allclose(chain.stationary @ P, chain.stationary, atol=1e-14)
    assert chain.states[0] == ()


def test_history_table_is_a_joint_distribution():
    for T in range(0, 5):
        hist, joint = g.history_table(T)
        assert hist.shape == (len(joint), T) and joint.shape[1] == len(g.VOCAB)
        assert abs(joint.sum() - 1.0) < 1e-12 and np.all(joint >= 0)
        assert np.all(joint.sum(axis=1) > 0)
        assert len({tuple(h) for h in hist}) == len(hist)


# ----------------------------------------------------------------- the floors


def test_floors_match_an_independent_exact_computation():
    H = _block_entropies_by_renewal(5)
    for T in range(0, 5):
        assert abs(g.floor(T) - (H[T + 1] - H[T])) < 1e-10, T


def test_floors_fall_strictly_along_the_course():
    f = g.floors(3)
    assert set(f) == {"bigram", "context", "full"}
    assert f["bigram"] == g.floor(1) == g.bigram_floor()
    assert f["context"] == g.floor(3)
    assert f["full"] == g.full_history_floor()
    assert f["bigram"] - g.floor(2) >= 0.05
    assert g.floor(2) - f["context"] > 0.05
    assert f["context"] - f["full"] >= 0.05
    values = [g.floor(T) for T in range(0, 9)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:], strict=False)), values


def test_full_history_floor_is_reached_by_a_long_enough_context():
    full = g.full_history_floor()
    for T in range(g.MAX_SENTENCE_LEN, g.MAX_SENTENCE_LEN + 3):
        assert abs(g.floor(T) - full) < 1e-12, T
    assert abs(g.floor(4) - full) < 1e-12  # for this grammar 4 tokens already suffice


def test_floors_are_fast():
    g._CACHE.clear()
    start = time.process_time()  # CPU time: a loaded machine does not make it larger
    for T in range(1, 5):
        g.floors(T)
    seconds = time.process_time() - start
    print(f"floors(1..4) took {seconds:.2f} s of CPU time")
    assert seconds < 10.0  # generous (about 0.1 s here): the exact floors must stay cheap enough to compute in a notebook


@pytest.mark.parametrize("T", [1, 2, 3, None])
def test_floor_matches_monte_carlo_true_model_loss(sample_ids, T):
    losses = g.true_log_loss(sample_ids, T)
    exact = g.full_history_floor() if T is None else g.floor(T)
    se = _standard_error(losses)
    assert se < 0.005  # the check is sharp compared with the 0.05 gaps between floors
    assert abs(losses.mean() - exact) < Z * se, (T, losses.mean(), exact, se)


def test_full_history_probs_follow_the_rules(sample_ids):
    # p_true(next | whole history) is the rule table at the current sentence prefix.
    tokens = g.decode_ids(sample_ids[:3000])
    probs = g.true_next_probs(sample_ids[:3000], None)
    prefix = []
    for i, tok in enumerate(tokens):
        rule = g.rule_probs(prefix)
        expected = np.array([rule.get(t, 0.0) for t in g.VOCAB])
        assert np.allclose(probs[i], expected, atol=1e-15)
        prefix = [] if tok in g.END_MARKS else prefix + [tok]


@pytest.mark.parametrize("T", [1, 2, 3, 6])
def test_floor_matches_empirical_conditional_entropy(sample_ids, T):
    empirical = g.empirical_floor(sample_ids, T)
    exact = g.floor(T)
    windows = np.lib.stride_tricks.sliding_window_view(sample_ids, T + 1)
    n_cells = len(np.unique(windows @ (len(g.VOCAB) ** np.arange(T + 1, dtype=np.int64))))
    bias = n_cells / (2 * len(windows))  # plug-in entropy is biased low by about this
    se = _standard_error(g.true_log_loss(sample_ids, T))
    assert exact - Z * se - 2 * bias <= empirical <= exact + Z * se, (T, empirical, exact, se, bias)


def test_empirical_floor_on_small_streams():
    # contexts: 0 -> {1, 2}, 1 -> {0}: H = (2/3) log 2 for T = 1
    assert math.isclose(g.empirical_floor([0, 1, 0, 2], 1), (2 / 3) * math.log(2))
    assert math.isclose(g.empirical_floor([0, 1, 0, 2], 0), -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert g.empirical_floor([0, 1, 0, 1, 0, 1], 1) == 0.0
    slide = g.encode_tokens(SLIDE_TOKENS)
    values = [g.empirical_floor(slide, T) for T in range(0, 4)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    with pytest.raises(ValueError):
        g.empirical_floor([0, 1], 2)
