"""Checks for chapter 12, the dense point cloud: the consistency test by hand, and precision/recall/F."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mvdlib.classroom.check._answers import as_answer_tensor, as_number, close, diagnose
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.geometry import axis_angle_to_matrix
from mvdlib.pointcloud import DepthView, consistency_counts

__all__ = ["exercise_12_3", "exercise_12_6"]

REL_TOL = 0.02  # the chapter's tau


def _plane_depth(K: np.ndarray, T: np.ndarray, h: int, w: int) -> np.ndarray:
    """Depth of the world plane 0.1 x + 0.05 y + z = 4 seen by camera T (ray-plane intersection)."""
    n, c = np.array([0.1, 0.05, 1.0]), 4.0
    v, u = np.mgrid[0:h, 0:w]
    rays = np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(h * w)])  # camera frame, z = 1
    depth = (c - n @ T[:3, 3]) / (n @ T[:3, :3] @ rays)
    return depth.reshape(h, w)


def consistency_case() -> tuple[np.ndarray, list[DepthView]]:
    """Three 12 x 16 views of a tilted plane (one noisy, one with a hole) and 40 points near it."""
    rng = np.random.default_rng(13)
    h, w = 12, 16
    K = np.array([[14.0, 0.0, 7.5], [0.0, 14.0, 5.5], [0.0, 0.0, 1.0]])
    views = []
    for i, (angle, x) in enumerate([(0.0, 0.0), (0.06, 0.4), (-0.04, -0.35)]):
        T = np.eye(4)
        T[:3, :3] = axis_angle_to_matrix(torch.tensor([0.02, angle, 0.01], dtype=torch.float64)).numpy()
        T[:3, 3] = [x, 0.05 * i, 0.1 * i]
        depth = _plane_depth(K, T, h, w)
        if i == 1:
            depth = depth * (1 + 0.03 * rng.standard_normal((h, w)))  # noisy: some pixels out of tolerance
        if i == 2:
            depth[3:8, 4:9] = 0.0  # a hole: no depth measured
        views.append(DepthView(depth, K, T))
    # Points of view 0's plane, some pushed off it by up to 5 %, some far off (outside the others' images).
    T0 = views[0].T_world_cam
    v, u = rng.integers(0, h, 40), rng.integers(0, w, 40)
    d = views[0].depth[v, u] * (1 + rng.uniform(-0.05, 0.05, 40))
    cam = np.linalg.inv(K) @ np.stack([u + rng.uniform(-0.5, 0.5, 40), v, np.ones(40)]) * d
    points = (T0[:3, :3] @ cam + T0[:3, 3:]).T
    points[:4, 0] += 3.0  # these fall outside every other view's image
    return points, views


def _count_loop(X: np.ndarray, views: list[DepthView], inverse: bool = True, pixel: str = "round") -> int:
    """The test of chapter 12 for one point; the switches give the typical mistakes."""
    n = 0
    for view in views:
        T = np.linalg.inv(view.T_world_cam) if inverse else view.T_world_cam
        Xc = T @ np.append(X, 1.0)
        if Xc[2] <= 0:
            continue
        uv = (view.K @ Xc[:3])[:2] / Xc[2]
        u, v = (np.round(uv) if pixel == "round" else np.floor(uv)).astype(int)
        h, w = view.depth.shape
        if 0 <= u < w and 0 <= v < h and view.depth[v, u] > 0:
            n += abs(Xc[2] - view.depth[v, u]) <= REL_TOL * view.depth[v, u]
    return n


@exercise("12.3", passed="Your loop makes the same decisions as the fusion filter.")
def exercise_12_3(count_confirming: Any) -> None:
    """``count_confirming(X, views, rel_tol)``: how many views see world point X (3,) at a consistent depth."""
    points, views = consistency_case()
    got = [
        as_number(call(count_confirming, X.copy(), views, REL_TOL, name="count_confirming"), "the count")
        for X in points
    ]
    expected = consistency_counts(points, views, rel_tol=REL_TOL)
    if np.array_equal(np.asarray(got), expected):
        return
    diagnose(
        np.asarray(got, dtype=np.float64),
        {
            "T_world_cam takes camera points to the world; to bring a world point into a camera, use its "
            "inverse, np.linalg.inv(T)": [_count_loop(X, views, inverse=False) for X in points],
            "round the projection to the nearest pixel centre (np.round); .astype(int) truncates": [
                _count_loop(X, views, pixel="floor") for X in points
            ],
        },
        rtol=0,
        atol=0.5,
    )
    wrong = int(np.flatnonzero(np.asarray(got) != expected)[0])
    raise Hint(
        f"point {wrong} is confirmed by {expected[wrong]} view(s), your function says {got[wrong]:.0f}; test "
        "|z - d| <= rel_tol * d with z the point's depth in that camera and d the depth map at its pixel"
    )


def fscore_case() -> tuple[np.ndarray, np.ndarray]:
    """A reconstruction with stray points and a ground truth with a part the reconstruction missed."""
    rng = np.random.default_rng(14)
    gt = rng.uniform(0, 1, (300, 3)) * [2.0, 1.0, 0.0]  # a 2 m x 1 m floor
    pred = gt[gt[:, 0] < 1.4][::2] + rng.normal(0, 0.03, (len(gt[gt[:, 0] < 1.4][::2]), 3))
    stray = rng.uniform(0, 1, (40, 3)) * [2.0, 1.0, 1.0] + [0, 0, 0.3]
    return np.concatenate([pred, stray]), gt


@exercise("12.6", passed="Precision punishes stray points, recall holes, and F needs both.")
def exercise_12_6(precision_recall_f: Any) -> None:
    """``precision_recall_f(pred, gt, t)``: precision, recall and F-score of a cloud at threshold t (metres)."""
    pred, gt = fscore_case()
    t = 0.1
    got = call(precision_recall_f, pred.copy(), gt.copy(), t, name="precision_recall_f")
    got = as_answer_tensor(got, "(precision, recall, F)").reshape(-1)
    if got.numel() != 3:
        raise Hint(f"return three numbers, (precision, recall, F), got {got.numel()}")
    dist = np.linalg.norm(pred[:, None] - gt[None], axis=-1)  # N x M, brute force
    p, r = (dist.min(1) <= t).mean(), (dist.min(0) <= t).mean()
    f = 2 * p * r / (p + r)
    if close(got, [p, r, f], rtol=1e-6):
        return
    if close(got[:2], [r, p], rtol=1e-6):
        raise Hint(
            "precision and recall are swapped: precision is the share of *predicted* points near the ground "
            "truth, recall the share of ground-truth points near the prediction"
        )
    if close(got[:2], [p, r], rtol=1e-6):
        diagnose(
            float(got[2]),
            {"F is the harmonic mean 2 P R / (P + R), not the arithmetic mean": (p + r) / 2},
            rtol=1e-6,
        )
        raise Hint("precision and recall are right; F = 2 P R / (P + R)")
    p2, r2 = (dist.min(1) ** 2 <= t).mean(), (dist.min(0) ** 2 <= t).mean()
    if close(got[:2], [p2, r2], rtol=1e-6):
        raise Hint("compare the distances with t, not the squared distances")
    raise Hint(
        f"got P, R = {float(got[0]):.3f}, {float(got[1]):.3f}; P is the share of predicted points whose nearest "
        "ground-truth point is within t, R the reverse"
    )
