"""mvdlib.subplane against closed forms and an explicit loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mvdlib.cost_volume import winner_take_all
from mvdlib.subplane import parabola_refine, soft_argmin

PLANES = torch.linspace(0.1, 1.0, 10, dtype=torch.float64)


@pytest.mark.parametrize("vertex", [0.23, 0.45, 0.5, 0.61, 0.87])
def test_parabola_finds_the_vertex_of_a_quadratic_cost(vertex):
    cost = (3.0 * (PLANES - vertex) ** 2 + 0.7).view(1, -1, 1, 1)
    assert parabola_refine(cost, PLANES).item() == pytest.approx(vertex, abs=1e-12)


def test_parabola_keeps_the_winner_at_the_ends_and_on_flat_costs():
    at_end = (PLANES - 0.05).abs().view(1, -1, 1, 1)  # minimum at the first plane
    assert parabola_refine(at_end, PLANES).item() == pytest.approx(0.1)
    flat = torch.ones(1, 10, 1, 1, dtype=torch.float64)
    torch.testing.assert_close(parabola_refine(flat, PLANES), winner_take_all(flat, PLANES))


def test_parabola_shift_is_at_most_half_a_step_and_matches_the_formula():
    gen = torch.Generator().manual_seed(0)
    cost = torch.rand(2, 10, 5, 6, generator=gen, dtype=torch.float64)
    ours = parabola_refine(cost, PLANES)
    wta = winner_take_all(cost, PLANES)
    step = float(PLANES[1] - PLANES[0])
    assert ((ours - wta).abs() <= 0.5 * step + 1e-12).all()
    for b, v, u in [(0, 0, 0), (1, 4, 5), (0, 2, 3)]:  # the formula by hand, pixel by pixel
        c = cost[b, :, v, u].tolist()
        i = int(np.argmin(c))
        if 0 < i < 9 and c[i - 1] - 2 * c[i] + c[i + 1] > 0:
            delta = max(-0.5, min(0.5, (c[i - 1] - c[i + 1]) / (2 * (c[i - 1] - 2 * c[i] + c[i + 1]))))
        else:
            delta = 0.0
        assert ours[b, 0, v, u].item() == pytest.approx(PLANES[i].item() + delta * step, abs=1e-12)


def test_soft_argmin_is_the_expectation_and_tends_to_wta():
    gen = torch.Generator().manual_seed(1)
    cost = torch.rand(1, 10, 3, 4, generator=gen, dtype=torch.float64)
    ours = soft_argmin(cost, PLANES, temperature=0.3)
    for v in range(3):
        for u in range(4):
            w = [math.exp(-c / 0.3) for c in cost[0, :, v, u].tolist()]
            expected = sum(wi * p for wi, p in zip(w, PLANES.tolist(), strict=True)) / sum(w)
            assert ours[0, 0, v, u].item() == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(soft_argmin(cost, PLANES, temperature=1e-4), winner_take_all(cost, PLANES))
    c = cost.clone().requires_grad_(True)
    soft_argmin(c, PLANES).sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 3 planes"):
        parabola_refine(torch.ones(1, 2, 1, 1), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="evenly spaced"):
        parabola_refine(torch.ones(1, 3, 1, 1), torch.tensor([0.1, 0.2, 0.5]))
    with pytest.raises(ValueError, match="one entry per plane"):
        soft_argmin(torch.ones(1, 3, 1, 1), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="temperature"):
        soft_argmin(torch.ones(1, 3, 1, 1), torch.tensor([0.1, 0.2, 0.3]), temperature=0.0)
    with pytest.raises(ValueError, match="finite"):
        soft_argmin(torch.full((1, 3, 1, 1), float("nan")), torch.tensor([0.1, 0.2, 0.3]))
