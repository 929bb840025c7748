"""Notebook 07's shipped weights (helpers/trained/07_*.pt) are what the notebook's own training makes.

The lecture loads them instead of training for 15 s, so they must be the models the optional
live-training cell would make: retraining with the solution's code and seeds ends at every shipped
model's training loss (bit for bit on a CPU like the one that made them; autograder.authoring.trained
--check says which), and every model the notebook names has a file that loads into the solution's MiniGPT.
"""

from __future__ import annotations

import math

import pytest
import torch

from autograder.authoring import trained
from helpers.minigpt_extras import load_trained, trained_path


@pytest.fixture(scope="module")
def namespace():
    return trained.notebook_namespace()


def test_every_model_ships_and_loads_into_the_solution(namespace):
    for name in trained.model_names(namespace):
        assert trained_path(name).stat().st_size < 64_000, f"{name}: the shipped file should stay small"
        shipped = load_trained(name)
        config, steps, _ = {**namespace["RUNS"], **namespace["ABLATIONS"]}[name]
        model = namespace["MiniGPT"](config)
        model.load_state_dict(shipped["state_dict"])  # strict: every name and shape
        assert shipped["losses"].shape == (steps,) and math.isfinite(float(shipped["losses"][-1]))
        model.eval()
        with torch.no_grad():
            logits, _ = model(namespace["test_windows"][:200, :-1])
        assert torch.isfinite(logits).all()


def test_a_result_that_differs_is_caught(namespace):
    shipped = load_trained("femto")
    changed = {"state_dict": {k: v + (0.01 if k == "head.weight" else 0.0) for k, v in shipped["state_dict"].items()}, "losses": shipped["losses"]}
    assert trained.largest_difference(changed, shipped) == pytest.approx(0.01, rel=1e-3)
    renamed = {"state_dict": {("x." + k): v for k, v in shipped["state_dict"].items()}, "losses": shipped["losses"]}
    assert trained.largest_difference(renamed, shipped) == float("inf")


@pytest.mark.slow
def test_retraining_ends_where_the_shipped_models_end(namespace):
    """Retrained on this machine, every model ends at the shipped model's training loss (weights match bit for bit
    only on a CPU like the one that made them: see trained.TAIL_LOSS_TOLERANCE)."""
    report = []
    for name in trained.model_names(namespace):
        result, shipped = trained.retrain(namespace, name), load_trained(name)
        tail = trained.tail_loss_difference(result, shipped)
        report.append(f"{name}: final loss {trained.tail_loss(result):.4f} vs {trained.tail_loss(shipped):.4f} shipped, "
                      f"largest weight difference {trained.largest_difference(result, shipped):.2e}")
        assert tail <= trained.tail_loss_tolerance(name), "\n".join(report)
    print("\n".join(report))


def test_a_model_that_ends_elsewhere_is_caught(namespace):
    shipped = load_trained("pico")
    worse = {"state_dict": shipped["state_dict"], "losses": shipped["losses"] + 0.02}
    assert trained.tail_loss_difference(worse, shipped) > trained.tail_loss_tolerance("pico")
