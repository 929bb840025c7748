"""Notebook 07's figures and metrics: the series table, merged arrow labels, end-mark accuracy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from helpers.grammar import VOCAB, corpus_ids, true_next_probs  # noqa: E402
from helpers.minigpt_extras import end_mark_accuracy, merge_close  # noqa: E402
from helpers.series import SeriesRow, load, record  # noqa: E402
from helpers.series_plot import plot_series, series_table  # noqa: E402


def test_missing_rows_say_which_notebook_to_run(tmp_path):
    record(SeriesRow("07", "wide GPT (d_model 16)", 0.539, 0.532, "full history"), folder=tmp_path)
    rows = load(tmp_path)
    table = series_table(rows, here="07")
    assert "run notebook 04 to fill this row" in table and "wide GPT (d_model 16)" in table and "+0.007" in table
    assert "train the models above" in series_table([], here="07")
    ax = plot_series(rows, here="07")
    assert any("run notebook 03" in t.get_text() for t in ax.texts)


def test_coincident_arrows_share_one_label():
    vectors, labels = merge_close(np.array([[1.0, 1.0], [1.01, 0.99], [-1.0, 0.0], [0.0, -2.0]]), ["cat", "dog", "!", "the"])
    assert labels == ["cat, dog", "'!'", "the"] and vectors.shape == (3, 2)


def test_the_grammar_itself_gets_every_end_mark_right_and_a_blind_model_half():
    stream = corpus_ids(3000, np.random.default_rng(0))
    probs = true_next_probs(stream)  # (N, V)
    offset = 8
    ideal = end_mark_accuracy(np.log(probs[offset:] + 1e-12), probs[offset:], stream, offset)
    assert ideal == {"short": 1.0, "long": 1.0}
    blind = np.zeros((len(stream) - offset, len(VOCAB)))
    blind[:, VOCAB.index("!")] = 1.0  # always '!'
    acc = end_mark_accuracy(blind, probs[offset:], stream, offset)
    assert 0.3 < acc["long"] < 0.7 and 0.3 < acc["short"] < 0.7
