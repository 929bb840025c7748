"""Seeding: every random draw in the course comes from an explicit generator."""

from __future__ import annotations

import random

import numpy as np


def make_rng(seed: int = 0) -> np.random.Generator:
    """A numpy Generator: pass it as ``rng`` to graded functions that sample."""
    return np.random.default_rng(seed)


def make_generator(seed: int = 0):
    """A torch.Generator seeded with ``seed``: pass it as ``generator``."""
    import torch

    return torch.Generator().manual_seed(seed)


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, numpy's and torch's global generators (for demo cells: model init, shuffles).

    Graded functions never rely on this; they take an explicit rng or generator.
    """
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)
