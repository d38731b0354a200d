"""Tests of mvdlib.classical (support windows, SGBM, hole-aware metrics) and the real-pair table."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mvdlib.classical import aggregate_cost, sgbm_depth


def test_aggregate_cost_is_the_mean_over_the_window_inside_the_image():
    rng = np.random.default_rng(0)
    cost = rng.random((2, 3, 7, 9))
    out = aggregate_cost(torch.from_numpy(cost), 3).numpy()
    ref = np.zeros_like(cost)
    for r in range(7):
        for c in range(9):
            ref[..., r, c] = cost[..., max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].mean(axis=(-2, -1))
    np.testing.assert_allclose(out, ref, atol=1e-12)
    np.testing.assert_array_equal(aggregate_cost(torch.from_numpy(cost), 1).numpy(), cost)


def test_sgbm_recovers_a_constant_disparity():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (120, 200, 3)).astype(np.uint8), (3, 3), 0)
    d = 8  # pixels: the right image sees the left's u at u - d
    left = texture[:, :-d]  # left(u) = texture(u)
    right = texture[:, d:]  # right(u - d) = texture(u)
    focal, baseline = 200.0, 0.1
    depth = sgbm_depth(left, right, focal, baseline, min_depth=1.0, max_depth=20.0)
    answered = depth > 0
    assert answered[:, 40:].mean() > 0.9  # SGBM leaves the left border (no match possible) empty
    np.testing.assert_allclose(np.median(depth[answered]), focal * baseline / d, rtol=0.02)


def test_bad_inputs_raise():
    img = np.zeros((20, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="window must be odd"):
        aggregate_cost(torch.zeros(1, 2, 5, 5), 4)
    with pytest.raises(ValueError, match="cost"):
        aggregate_cost(torch.zeros(2, 5, 5), 3)
    with pytest.raises(ValueError, match="src_rgb"):
        sgbm_depth(img, img[:, :30], 100.0, 0.1)
    with pytest.raises(ValueError, match="min_depth"):
        sgbm_depth(img, img, 100.0, 0.1, min_depth=5.0, max_depth=2.0)
    with pytest.raises(ValueError, match="ref_rgb"):
        sgbm_depth(img.astype(np.float32), img, 100.0, 0.1)
