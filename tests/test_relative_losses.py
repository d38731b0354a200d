"""Tests of mvdlib.relative_losses: ordinal and scale-and-shift-invariant losses for relative depth (chapter 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvdlib.relative_losses import ordinal_error, ordinal_loss, sample_pixel_pairs, scale_shift_invariant_loss


def test_sample_pixel_pairs_are_distinct_in_range_and_seeded():
    pairs = sample_pixel_pairs(5, 7, 500, seed=3)
    assert pairs.shape == (500, 2) and pairs.dtype == torch.int64
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.min() >= 0 and pairs.max() < 35
    assert torch.equal(pairs, sample_pixel_pairs(5, 7, 500, seed=3))


def test_ordinal_loss_matches_loop_reference():
    g = torch.Generator().manual_seed(8)
    target = 1 + 4 * torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64)
    target[0, 0, 0, 1] = target[0, 0, 0, 0] * 1.01  # an "equal" pair at 2 % tolerance
    target[1, 0, 2, 2] = 0.0  # invalid: its pairs are skipped
    pred = 1 + 4 * torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64)
    pairs = torch.cat([torch.tensor([[0, 1], [12, 3]]), sample_pixel_pairs(4, 5, 40, seed=1)])
    costs = []
    for b in range(2):
        z, d = np.log(pred[b, 0].numpy().ravel()), target[b, 0].numpy().ravel()
        for i, j in pairs.tolist():
            if d[i] <= 0 or d[j] <= 0:
                continue
            ratio = max(d[i], d[j]) / min(d[i], d[j])
            if ratio < 1.02:
                costs.append((z[i] - z[j]) ** 2)
            else:
                r = 1.0 if d[i] > d[j] else -1.0
                costs.append(np.log1p(np.exp(-r * (z[i] - z[j]))))
    assert ordinal_loss(pred, target, pairs).item() == pytest.approx(np.mean(costs), rel=1e-12)


def test_ordinal_error_sees_only_the_order():
    g = torch.Generator().manual_seed(9)
    target = 0.5 + 8 * torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    pairs = sample_pixel_pairs(16, 16, 2000, seed=0)
    assert ordinal_error(target, target, pairs) == 0.0
    assert ordinal_error(target.sqrt() * 3 + 0.1, target, pairs) == 0.0  # increasing transform
    assert ordinal_error(1 / target, target, pairs) == 1.0  # order reversed
    noisy = target * torch.exp(0.5 * torch.randn(target.shape, generator=g, dtype=torch.float64))
    assert 0.0 < ordinal_error(noisy, target, pairs) < 0.5


def test_scale_shift_invariant_loss_matches_least_squares_fit_and_is_affine_invariant():
    g = torch.Generator().manual_seed(10)
    target = 0.1 + torch.rand(2, 1, 6, 7, generator=g, dtype=torch.float64)
    target[1, 0, :2] = 0.0  # invalid rows
    pred = torch.randn(2, 1, 6, 7, generator=g, dtype=torch.float64)
    expected = []
    for b in range(2):
        keep = target[b, 0].numpy() > 0
        x, y = pred[b, 0].numpy()[keep], target[b, 0].numpy()[keep]
        a, c = np.polyfit(x, y, 1)
        expected.append(np.mean((a * x + c - y) ** 2) / 2)
    loss = scale_shift_invariant_loss(pred, target)
    assert loss.item() == pytest.approx(np.mean(expected), rel=1e-10)
    for a, b in ((3.0, -2.0), (0.01, 5.0), (-2.0, 1.0)):
        assert scale_shift_invariant_loss(a * pred + b, target).item() == pytest.approx(loss.item(), rel=1e-9)
    assert scale_shift_invariant_loss(2 * target + 1, target).item() == pytest.approx(0.0, abs=1e-20)


def test_relative_depth_losses_reject_bad_pairs():
    d = torch.rand(1, 1, 3, 3) + 1
    with pytest.raises(ValueError, match="pairs"):
        ordinal_loss(d, d, torch.tensor([[0, 9]]))
    with pytest.raises(ValueError, match="pairs"):
        ordinal_loss(d, d, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num"):
        sample_pixel_pairs(3, 3, 0)
    with pytest.raises(TypeError, match="pairs"):
        ordinal_error(d, d, "0 1")
    for seed in (-1, 2.5, "0"):
        with pytest.raises(ValueError, match="seed"):
            sample_pixel_pairs(3, 3, 4, seed=seed)
