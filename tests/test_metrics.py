"""Tests of mvdlib.metrics: hand-computed values, an independent per-pixel loop, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mvdlib.metrics import METRIC_NAMES, depth_metrics


def test_depth_metrics_hand_computed():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])  # the 0 is invalid
    pred = np.array([[2.0, 2.0], [2.0, 5.0]])
    m = depth_metrics(pred, gt)
    ln2 = math.log(2.0)
    expected = {
        "abs_rel": (1 / 1 + 0 + 2 / 4) / 3,
        "sq_rel": (1 / 1 + 0 + 4 / 4) / 3,
        "rmse": math.sqrt(5 / 3),
        "rmse_log": ln2 * math.sqrt(2 / 3),
        "a1": 1 / 3,  # ratios 2, 1, 2
        "a2": 1 / 3,
        "a3": 1 / 3,  # 2 > 1.25^3 = 1.953
        "l1_inv": (0.5 + 0 + 0.25) / 3,
        "l1_rel": 0.5,
        "sc_inv": ln2 * math.sqrt(2 / 3),  # mean of z is 0
    }
    assert set(m) == set(METRIC_NAMES)
    for k, v in expected.items():
        assert m[k] == pytest.approx(v, rel=1e-12), k


def test_depth_metrics_thresholds_count_strictly_below():
    gt = np.ones((1, 4))
    pred = np.array([[1.2, 1.5, 1.9, 1 / 1.9]])
    m = depth_metrics(pred, gt)
    assert m["a1"] == pytest.approx(1 / 4)
    assert m["a2"] == pytest.approx(2 / 4)
    assert m["a3"] == pytest.approx(4 / 4)


def _loop_metrics(pred, gt):
    """Reference: explicit loop over pixels in plain Python floats."""
    n = 0
    s = dict.fromkeys(["ae", "se", "sq", "sl", "a1", "a2", "a3", "inv", "z", "z2"], 0.0)
    for d, g in zip(pred.ravel().tolist(), gt.ravel().tolist(), strict=True):
        if not (math.isfinite(g) and g > 0):
            continue
        n += 1
        s["ae"] += abs(d - g) / g
        s["se"] += (d - g) ** 2 / g
        s["sq"] += (d - g) ** 2
        s["sl"] += (math.log(d) - math.log(g)) ** 2
        r = max(d / g, g / d)
        s["a1"] += r < 1.25
        s["a2"] += r < 1.25**2
        s["a3"] += r < 1.25**3
        s["inv"] += abs(1 / d - 1 / g)
        s["z"] += math.log(d) - math.log(g)
        s["z2"] += (math.log(d) - math.log(g)) ** 2
    return {
        "abs_rel": s["ae"] / n,
        "sq_rel": s["se"] / n,
        "rmse": math.sqrt(s["sq"] / n),
        "rmse_log": math.sqrt(s["sl"] / n),
        "a1": s["a1"] / n,
        "a2": s["a2"] / n,
        "a3": s["a3"] / n,
        "l1_inv": s["inv"] / n,
        "l1_rel": s["ae"] / n,
        "sc_inv": math.sqrt(s["z2"] / n - (s["z"] / n) ** 2),
    }


def test_depth_metrics_match_per_pixel_loop_on_batches():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 20.0, size=(2, 1, 6, 7))
    gt[0, 0, 1, 2] = 0.0
    gt[1, 0, 3, 3] = np.nan
    pred = gt * rng.uniform(0.6, 1.6, size=gt.shape)
    pred[1, 0, 3, 3] = 1.0
    m = depth_metrics(torch.from_numpy(pred), torch.from_numpy(gt))
    ref = _loop_metrics(np.nan_to_num(pred), gt)
    for k in METRIC_NAMES:
        assert m[k] == pytest.approx(ref[k], rel=1e-9), k


def test_sc_inv_is_scale_invariant_and_abs_rel_is_not():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1.0, 10.0, size=(8, 8))
    pred = gt * rng.uniform(0.8, 1.2, size=gt.shape)
    a, b = depth_metrics(pred, gt), depth_metrics(3.0 * pred, gt)
    assert b["sc_inv"] == pytest.approx(a["sc_inv"], rel=1e-9)
    assert b["abs_rel"] > a["abs_rel"] + 1.0


def test_mask_excludes_pixels():
    gt = np.array([[1.0, 2.0, 3.0]])
    pred = np.array([[1.0, 100.0, 3.3]])
    mask = np.array([[True, False, True]])
    m = depth_metrics(pred, gt, mask=mask)
    ref = depth_metrics(pred[:, [0, 2]], gt[:, [0, 2]])
    assert m == pytest.approx(ref)
    assert m["abs_rel"] == pytest.approx(0.1 / 2)


def test_depth_metrics_rejects_bad_inputs():
    gt = np.ones((3, 3))
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(np.ones((3, 4)), gt)
    with pytest.raises(ValueError, match="no valid pixels"):
        depth_metrics(np.ones((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="pred must be finite and positive"):
        depth_metrics(np.zeros((3, 3)), gt)
    with pytest.raises(ValueError, match="non-negative"):
        depth_metrics(-np.ones((3, 3)), gt)
    with pytest.raises(ValueError, match="mask must be boolean"):
        depth_metrics(gt, gt, mask=np.ones((3, 3)))
    with pytest.raises(ValueError, match="mask must have the shape"):
        depth_metrics(gt, gt, mask=np.ones((2, 3), dtype=bool))
    square = np.ones((2, 3))
    with pytest.raises(ValueError, match="mask must have the shape"):  # same count, transposed
        depth_metrics(square, square, mask=np.ones((3, 2), dtype=bool))
