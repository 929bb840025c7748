"""Checks that recompute a float32 model's output in float64 allow float32's last digits.

An honest WordEmbedLM lost a hidden point under one course secret: a logit near 0 computed in
float32 (-0.0152988) against its float64 recomputation (-0.0152991) missed float64's
tolerance. Here the solution's observation is nudged by float32-sized noise (which must
pass) and by a real error (which must fail), on the value nearest 0, where the relative
tolerance gives the least room.
"""

from __future__ import annotations

import pytest
import torch

from helpers.checking import from_plain, judge, to_plain
from tests.planting import cases, reference

# case -> the key of the float32 tensor its verify recomputes in float64
RECOMPUTED = {
    "03/WordEmbedLM/other_sizes_3d_ids": "logits 3-D",
    "03/WordEmbedLM/gradients_reach_both_tables": "decode grad",
}


def _nudged(observation: dict, key: str, by: float) -> dict:
    value = from_plain(observation["value"])
    tensor = value[key].clone()  # float32
    flat = tensor.view(-1)
    index = int(flat.abs().argmin())
    flat[index] += by
    value[key] = tensor
    return {**observation, "value": to_plain(value)}


@pytest.mark.parametrize("case_id", RECOMPUTED)
def test_float32_noise_passes_and_a_real_error_fails(case_id):
    case = next(c for c in cases("03", "WordEmbedLM", "hidden") if c.id == case_id)
    for seed in (3, 4):
        ref = reference(case, seed)
        assert isinstance(from_plain(ref["value"])[RECOMPUTED[case_id]], torch.Tensor)
        assert judge(case, _nudged(ref, RECOMPUTED[case_id], 4e-7), ref).passed, seed
        assert not judge(case, _nudged(ref, RECOMPUTED[case_id], 1e-3), ref).passed, seed
