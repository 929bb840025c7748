"""The hidden property cases try their simplest example under every seed.

hypothesis, which drew their examples before, tried the simplest one first (one score, the zero
vector, the smallest d and T). Drawn uniformly with numpy, the smallest sizes are left out under
some seeds, and a function wrong only there passed the case under those seeds. Each slip below
is planted alone in the solution and judged, as the grader judges, under seeds whose uniform
draws left its bound out.
"""

from __future__ import annotations

import pytest

from helpers.checking import judge
from tests.planting import cases, edited, observe, plant, reference

# slip -> (notebook, function, the property case, its source, seeds whose 24 or 14 drawn examples miss the bound)
SLIPS = {
    "softmax: squeezes its input (one score becomes a 0-d array)": (
        "02", "softmax", "02/softmax/shift_invariance_property",
        edited("02", "softmax", ("s = np.asarray(s, dtype=float)", "s = np.squeeze(np.asarray(s, dtype=float))")),
        (4, 19),
    ),
    "rotate_2d: through the unit vector (nan at x = 0)": (
        "05", "rotate_2d", "05/rotate_2d/rotation_group_property",
        edited("05", "rotate_2d", ("x1, x2 = x[..., 0], x[..., 1]", "r = np.linalg.norm(x, axis=-1)\n    with np.errstate(invalid='ignore'):\n        x1, x2 = r * (x[..., 0] / r), r * (x[..., 1] / r)")),
        (0, 2),
    ),
    "rope: turns the other way when d = 2": (
        "05", "rope", "05/rope/relative_position_property",
        edited("05", "rope", ("angles = np.arange(T)[:, None] * theta[None, :]", "angles = (-1 if d == 2 else 1) * np.arange(T)[:, None] * theta[None, :]")),
        (151,),
    ),
}


@pytest.mark.parametrize("slip", SLIPS)
def test_a_slip_at_the_simplest_example_fails_its_property_case_under_every_seed(slip):
    notebook, function, case_id, source, seeds = SLIPS[slip]
    case = next(c for c in cases(notebook, function, "hidden") if c.id == case_id)
    namespace = plant(notebook, source)
    for seed in seeds:
        verdict = judge(case, observe(case, namespace, seed), reference(case, seed))
        assert not verdict.passed, (slip, seed)
