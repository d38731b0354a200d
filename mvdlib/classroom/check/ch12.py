"""Checks for chapter 12, the dense point cloud: the consistency test, precision/recall/F, a TSDF voxel, E."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from mvdlib.classroom.check._answers import as_answer_tensor, as_array, as_number, close, diagnose
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.geometry import axis_angle_to_matrix
from mvdlib.pointcloud import DepthView, consistency_counts

__all__ = ["exercise_12_3", "exercise_12_6", "exercise_12_7", "exercise_12_8"]

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


#: Signed distances s = D - z (metres) that successive views measure at one voxel, truncation tau = 0.1 m.
TSDF_TAU = 0.1
TSDF_CASES = [
    [0.03, 0.25, -0.04, -0.3, 0.01, 0.12, -0.08, -0.5, 0.06],  # in front, far in front, behind, hidden ...
    [-0.2, -0.15, 0.02, -0.01],  # hidden from the first two views: it starts unobserved
]


def _tsdf_loop(distances: list[float], tau: float, rule: str = "") -> list[tuple[float, float]]:
    """The chapter's weighted mean F = sum w psi / sum w after each view, or a typical mistake's rule."""
    psis: list[float] = []
    weights: list[float] = []
    out: list[tuple[float, float]] = []
    for s in distances:
        psi = {"clip both": max(-1.0, min(1.0, s / tau)), "no clip": s / tau, "metres": min(tau, s)}.get(
            rule, min(1.0, s / tau)
        )
        seen = s >= -tau or rule == "clip both"
        psis.append(psi)
        weights.append(1.0 if seen else 0.0)
        w = sum(weights)
        f = sum(wi * p for wi, p in zip(weights, psis, strict=True)) / w if w > 0 else 0.0
        if rule == "halving":  # F' = (F + psi) / 2: the newest view always counts half
            previous = out[-1][0] if out else 0.0
            f = ((previous + psi) / 2 if w > 1 else psi) if seen else previous
        out.append((f, w))
    return out


@exercise("12.7", passed="Clipped in front, ignored far behind, and averaged with one weight per view that saw it.")
def exercise_12_7(tsdf_update: Any) -> None:
    """``tsdf_update(F, W, s, tau)``: one voxel's new (F, W) after one view measures signed distance s."""
    for distances in TSDF_CASES:
        expected = _tsdf_loop(distances, TSDF_TAU)
        F_, W_ = 0.0, 0.0
        got = []
        for s in distances:
            out = call(tsdf_update, F_, W_, s, TSDF_TAU, name="tsdf_update")
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise Hint("return two numbers: the voxel's new value F and its new weight W")
            F_, W_ = as_number(out[0], "F"), as_number(out[1], "W")
            got.append((F_, W_))
        if close(got, expected, rtol=1e-6, atol=1e-9):
            continue
        diagnose(
            got,
            {
                "a voxel more than tau behind the surface (s < -tau) is hidden from that view: weight 0, F "
                "unchanged, not a vote of -1": _tsdf_loop(distances, TSDF_TAU, "clip both"),
                "clip at the truncation: psi = min(1, s / tau), so a voxel far in front counts as +1": _tsdf_loop(
                    distances, TSDF_TAU, "no clip"
                ),
                "psi is the truncated distance divided by tau, a number in [-1, 1]": _tsdf_loop(
                    distances, TSDF_TAU, "metres"
                ),
                "the running mean weighs the old value by its weight: F' = (W F + psi) / (W + 1), W' = W + 1": (
                    _tsdf_loop(distances, TSDF_TAU, "halving")
                ),
            },
            rtol=1e-6,
            atol=1e-9,
        )
        step = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if not close(g, e, 1e-6, 1e-9))
        raise Hint(
            f"after the view with s = {distances[step]} (tau = {TSDF_TAU}) the voxel should hold F, W = "
            f"{expected[step][0]:.4g}, {expected[step][1]:.0f}; yours holds {got[step][0]:.4g}, {got[step][1]:.4g}"
        )


def essential_case(noise_px: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel matches (N x 2 each) of 60 points seen by two cameras, K, and the true E = [t]_x R (unit norm)."""
    rng = np.random.default_rng(seed)
    K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 128.0], [0.0, 0.0, 1.0]])
    R = axis_angle_to_matrix(torch.tensor([0.03, -0.12, 0.02], dtype=torch.float64)).numpy()
    t = np.array([0.5, 0.05, 0.1])  # T_src_ref: X_src = R X_ref + t
    X = rng.uniform([-2.0, -1.5, 3.0], [2.0, 1.5, 7.0], (60, 3))  # reference-camera points
    project = lambda P: (P @ K.T)[:, :2] / P[:, 2:]  # noqa: E731
    u_ref = project(X) + rng.normal(0, noise_px, (60, 2))
    u_src = project(X @ R.T + t) + rng.normal(0, noise_px, (60, 2))
    tx = np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])
    E = tx @ R
    return u_ref, u_src, K, E / np.linalg.norm(E)


def _unit(E: np.ndarray, like: np.ndarray) -> np.ndarray:
    """E scaled to unit Frobenius norm, with the sign that best matches ``like`` (E is defined up to both)."""
    E = E / np.linalg.norm(E)
    return E if np.sum(E * like) >= 0 else -E


@exercise("12.8", passed="Eight matches or more fix E up to scale; projecting onto diag(1, 1, 0) makes it essential.")
def exercise_12_8(essential_8point: Any) -> None:
    """``essential_8point(u_ref, u_src, K)``: E with x_src^T E x_ref = 0, against ``cv2.findEssentialMat``."""
    u_ref, u_src, K, E_true = essential_case(0.0, 21)
    got = as_array(call(essential_8point, u_ref.copy(), u_src.copy(), K.copy(), name="essential_8point"), "E", (3, 3))
    if np.linalg.norm(got) < 1e-12:
        raise Hint("E is zero: take the right singular vector of the smallest singular value of A, not a zero vector")
    E_cv, _ = cv2.findEssentialMat(u_ref, u_src, K, method=cv2.RANSAC, prob=0.999, threshold=0.1)
    E_cv = _unit(E_cv[:3], E_true)  # OpenCV's five-point solver on exact matches: the true E
    if not np.allclose(_unit(got, E_cv), E_cv, atol=1e-6):
        Ki = np.linalg.inv(K)
        diagnose(
            _unit(got, E_true.T).ravel(),
            {
                "you have the transpose: the constraint is x_src^T E x_ref = 0, so each row of A is "
                "kron(x_src, x_ref) and E = reshape(row-major)": E_true.T.ravel(),
            },
            atol=1e-6,
        )
        F_true = Ki.T @ E_true @ Ki
        U, _, Vt = np.linalg.svd(F_true)
        for F_pixels in (F_true, U @ np.diag([1.0, 1.0, 0.0]) @ Vt):  # as found, and forced to (1, 1, 0)
            if np.allclose(_unit(got, F_pixels), _unit(F_pixels, F_pixels), atol=1e-6):
                raise Hint(
                    "on pixel coordinates the same algorithm finds the fundamental matrix; normalise first, "
                    "x = K^-1 [u, v, 1]"
                )
        raise Hint("on exact matches your E differs from OpenCV's (up to scale and sign); check the rows of A")
    u_ref, u_src, K, E_true = essential_case(0.25, 24)  # noisy matches: the least-squares E is not essential
    got = as_array(call(essential_8point, u_ref.copy(), u_src.copy(), K.copy(), name="essential_8point"), "E", (3, 3))
    sv = np.linalg.svd(got / np.linalg.norm(got), compute_uv=False)
    if sv[2] > 1e-6:
        raise Hint(
            "with noisy matches the least-squares E has rank 3; an essential matrix has singular values "
            "(s, s, 0): replace them by (1, 1, 0) in E = U S V^T"
        )
    if sv[0] - sv[1] > 1e-6:
        raise Hint("rank 2 is not enough: the two non-zero singular values of an essential matrix are equal, (1, 1, 0)")
    error = np.linalg.norm(_unit(got, E_true) - E_true)
    if error > 0.2:  # the eight-point E (with or without Hartley's normalisation) is within 0.03 here
        raise Hint(f"with 0.25-pixel noise your E is {error:.3f} away from the true one (unit norm); check the rows")
