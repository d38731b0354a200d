"""Tests of mvdlib.metrics: depth errors (hand-computed values, an independent per-pixel loop,
masks), holes, depth edges against reference loops, and point-cloud precision and recall."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from mvdlib.metrics import (
    METRIC_NAMES,
    depth_discontinuities,
    depth_metrics,
    edge_band,
    edge_region_errors,
    flying_pixels,
    hole_aware_metrics,
    point_to_cloud_distance,
    precision_recall_fscore,
)


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
    assert depth_metrics(pred, gt, mask=mask.astype(np.uint8)) == m  # the one mask rule: 0/1 numbers too
    assert depth_metrics(torch.as_tensor(pred), torch.as_tensor(gt), mask=torch.as_tensor(mask).float()) == m


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
    with pytest.raises(ValueError, match="mask must be boolean or hold only 0 and 1"):
        depth_metrics(gt, gt, mask=np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="mask must have shape"):
        depth_metrics(gt, gt, mask=np.ones((2, 3), dtype=bool))
    square = np.ones((2, 3))
    with pytest.raises(ValueError, match="mask must have shape"):  # same count, transposed
        depth_metrics(square, square, mask=np.ones((3, 2), dtype=bool))


def _step(h: int = 8, w: int = 10, near: float = 2.0, far: float = 4.0, col: int = 5) -> np.ndarray:
    d = np.full((h, w), far)
    d[:, :col] = near
    return d


def _discontinuities_loop(d: np.ndarray, rel: float) -> np.ndarray:
    h, w = d.shape
    out = np.zeros((h, w), bool)
    for v in range(h):
        for u in range(w):
            for dv, du in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                q = (v + dv, u + du)
                if 0 <= q[0] < h and 0 <= q[1] < w and d[v, u] > 0 and d[q] > 0:
                    out[v, u] |= abs(d[v, u] - d[q]) > rel * min(d[v, u], d[q])
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), rel=st.floats(0.01, 0.5))
def test_depth_discontinuities_match_reference_loop(seed, rel):
    rng = np.random.default_rng(seed)
    d = rng.uniform(1.0, 3.0, (7, 9))
    d[rng.random(d.shape) < 0.15] = 0.0  # holes are ignored
    np.testing.assert_array_equal(depth_discontinuities(d, rel), _discontinuities_loop(d, rel))


def test_step_edge_and_its_band():
    d = _step()
    edge = depth_discontinuities(d)
    assert edge[:, 4:6].all() and edge.sum() == 16  # the two columns on either side of the step
    band = edge_band(d, width=2)
    np.testing.assert_array_equal(band, ndimage.binary_dilation(edge, np.ones((5, 5), bool)))
    assert band[:, 2:8].all() and not band[:, [0, 1, 8, 9]].any()
    ramp = np.linspace(2.0, 2.5, 10)[None].repeat(8, 0)  # 2.5 % steps: no edge at 10 %
    assert not depth_discontinuities(ramp).any()


def test_flying_pixels_are_on_neither_surface():
    gt = _step()
    pred = gt.copy()
    pred[:, 4] = 3.0  # halfway: flying
    pred[:, 5] = 2.05  # snapped to the near surface (2.5 % off): not flying
    pred[0, 0] = 2.2  # 10 % off in a flat region, no other surface nearby: flying too
    fly = flying_pixels(pred, gt, radius=2)
    expected = np.zeros_like(gt, bool)
    expected[:, 4] = True
    expected[0, 0] = True
    np.testing.assert_array_equal(fly, expected)


def test_edge_region_errors_hand_case():
    gt = _step()
    pred = gt.copy()
    pred[:, 4] = 3.0  # abs rel 0.5 on one of the six band columns
    errs = edge_region_errors(pred, gt, width=2)
    assert errs["abs_rel_edge"] == pytest.approx(0.5 / 6)
    assert errs["abs_rel_flat"] == 0.0
    assert errs["flying_edge"] == pytest.approx(1 / 6)
    assert errs["band_fraction"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="edges"):
        edge_region_errors(np.ones((5, 5)), np.ones((5, 5)))


def test_hole_aware_metrics_by_hand():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])  # the last pixel has no truth
    pred = np.array([[1.1, 0.0], [2.0, 5.0]])  # a hole at (0, 1); (1, 0) is off by a factor 2
    m = hole_aware_metrics(pred, gt)
    assert m["no_answer"] == pytest.approx(1 / 3)
    assert m["abs_rel_holes_fail"] == pytest.approx((0.1 + 1.0 + 0.5) / 3)
    assert m["abs_rel_answered"] == pytest.approx((0.1 + 0.5) / 2)
    assert m["a1_holes_fail"] == pytest.approx(1 / 3)
    assert m["a1_answered"] == pytest.approx(1 / 2)


def test_hole_aware_metrics_agree_with_depth_metrics_without_holes():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 10, (20, 30))
    pred = gt * rng.uniform(0.7, 1.4, gt.shape)
    m, ref = hole_aware_metrics(pred, gt), depth_metrics(pred, gt)
    assert m["abs_rel_holes_fail"] == pytest.approx(ref["abs_rel"]) == pytest.approx(m["abs_rel_answered"])
    assert m["a1_holes_fail"] == pytest.approx(ref["a1"])


def _brute_force_prf(pred, gt, t):
    d = np.sqrt(((pred[:, None, :] - gt[None, :, :]) ** 2).sum(-1))  # N x M
    p = (d.min(1) <= t).mean()
    r = (d.min(0) <= t).mean()
    return p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r)


def test_precision_recall_fscore_hand_cases():
    rng = np.random.default_rng(1)
    gt = rng.uniform(-1, 1, (200, 3)) * 10  # points far apart compared with the shifts below
    shifted = gt + np.array([0.1, 0.0, 0.0])
    assert precision_recall_fscore(shifted, gt, 0.11) == pytest.approx((1.0, 1.0, 1.0))
    assert precision_recall_fscore(shifted, gt, 0.09) == pytest.approx((0.0, 0.0, 0.0))
    half = gt[:100]  # a subset: all precise, half complete, F = 2 * 1 * 0.5 / 1.5
    assert precision_recall_fscore(half, gt, 0.01) == pytest.approx((1.0, 0.5, 2 / 3))
    noisy = np.concatenate([gt, gt[:50] + 5.0])  # 50 outliers: precision 200/250
    assert precision_recall_fscore(noisy, gt, 0.01)[:2] == pytest.approx((0.8, 1.0))


def test_precision_recall_fscore_matches_brute_force_at_several_thresholds():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(300, 3))
    pred = gt[:200] + rng.normal(scale=0.05, size=(200, 3))
    ts = [0.02, 0.05, 0.1, 0.5]
    p, r, f = precision_recall_fscore(pred, gt, ts)
    for i, t in enumerate(ts):
        np.testing.assert_allclose((p[i], r[i], f[i]), _brute_force_prf(pred, gt, t), atol=1e-12)


def test_sampled_precision_recall_is_close_to_the_full_computation():
    rng = np.random.default_rng(6)
    gt = rng.uniform(0, 10, (40_000, 3))
    pred = np.concatenate([gt[:20_000] + rng.normal(scale=0.05, size=(20_000, 3)), rng.uniform(0, 10, (10_000, 3))])
    full = np.array(precision_recall_fscore(pred, gt, 0.08))
    sampled = np.array(precision_recall_fscore(pred, gt, 0.08, sample=5000, seed=1))
    assert np.abs(sampled - full).max() < 4 * 0.5 / np.sqrt(5000)  # four standard errors at most
    assert not np.array_equal(sampled, full)  # it did sample


def test_edge_measures_raise_clear_errors():
    with pytest.raises(ValueError, match="depth"):
        depth_discontinuities(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        depth_discontinuities(-np.ones((4, 4)))
    with pytest.raises(ValueError, match="width"):
        edge_band(np.ones((4, 4)), width=-1)
    with pytest.raises(ValueError, match="same shape"):
        flying_pixels(np.ones((4, 4)), np.ones((4, 5)))


def test_hole_aware_metrics_raise_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        hole_aware_metrics(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="valid"):
        hole_aware_metrics(np.ones((2, 2)), np.zeros((2, 2)))


def test_precision_recall_fscore_errors_and_an_empty_prediction():
    with pytest.raises(ValueError, match="gt_points"):
        precision_recall_fscore(np.zeros((3, 3)), np.zeros((0, 3)), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        precision_recall_fscore(np.zeros((3, 3)), np.zeros((3, 3)), -0.1)
    with pytest.warns(UserWarning, match="empty"):
        assert precision_recall_fscore(np.zeros((0, 3)), np.ones((4, 3)), 0.1) == (0.0, 0.0, 0.0)


def test_point_to_cloud_distance_is_the_nearest_neighbour_distance():
    rng = np.random.default_rng(8)
    points, cloud = rng.normal(size=(40, 3)), rng.normal(size=(60, 3))
    brute = np.sqrt(((points[:, None] - cloud[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(point_to_cloud_distance(points, cloud), brute, atol=1e-12)
    assert point_to_cloud_distance(np.zeros((0, 3)), cloud).shape == (0,)
    with pytest.raises(ValueError, match="cloud"):
        point_to_cloud_distance(points, np.zeros((0, 3)))
