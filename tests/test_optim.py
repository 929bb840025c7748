"""helpers.optim.Adam does what torch.optim.Adam and AdamW do."""

from __future__ import annotations

import pytest
import torch

from helpers.optim import Adam


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_matches_torch_adam_and_adamw(weight_decay):
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    opt = Adam(ours.parameters(), lr=0.05, weight_decay=weight_decay)
    ref = (torch.optim.AdamW if weight_decay else torch.optim.Adam)(theirs.parameters(), lr=0.05, weight_decay=weight_decay)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(25):
        for model, optimizer in ((ours, opt), (theirs, ref)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
