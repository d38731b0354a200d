"""Point-cloud scores: nearest-neighbour distances, precision, recall and F-score (chapter 12).

The names are re-exported by :mod:`mvdlib.metrics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from mvdlib._validation import positive_int
from mvdlib.conventions import check_seed
from mvdlib.metrics._depth import Depth
from mvdlib.open3d_io import as_points, to_open3d

__all__ = ["point_to_cloud_distance", "precision_recall_fscore"]

# ---- point clouds (chapter 12) ----------------------------------------------------------------


def point_to_cloud_distance(points: Depth, cloud: Depth) -> np.ndarray:
    """Distance from each point to its nearest neighbour in ``cloud`` (Open3D KD-tree).

    Args:
        points: N x 3; cloud: M x 3 with M >= 1.
    Returns:
        N float64 distances in metres.

    Example:
        >>> point_to_cloud_distance(np.array([[0.0, 0, 3]]), np.array([[0.0, 0, 0], [0, 0, 1]]))
        array([2.])
    """
    p = as_points(points, "points")
    c = as_points(cloud, "cloud")
    if len(c) == 0:
        raise ValueError("cloud must hold at least one point, got 0")
    if len(p) == 0:
        return np.zeros(0)
    return np.asarray(to_open3d(p).compute_point_cloud_distance(to_open3d(c)))


def precision_recall_fscore(
    pred_points: Depth,
    gt_points: Depth,
    threshold: float | Sequence[float] | np.ndarray,
    sample: int | None = None,
    seed: int = 0,
) -> tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F-score of a reconstruction at a distance threshold (chapter 12).

    ``P(t)`` is the fraction of predicted points within ``t`` of a ground-truth point
    (accuracy), ``R(t)`` the fraction of ground-truth points within ``t`` of a predicted
    point (completeness), and ``F = 2 P R / (P + R)`` (0 when both are 0), as in Tanks and
    Temples (Knapitsch et al. 2017) and ETH3D (Schoeps et al. 2017).

    Args:
        pred_points: N x 3 reconstructed points (N = 0 warns and scores 0).
        gt_points: M x 3 ground-truth points, M >= 1.
        threshold: a distance in metres, or a 1-D sequence of them.
        sample: if given, estimate precision from ``sample`` random predicted points and
            recall from ``sample`` random ground-truth points (each still measured against
            the whole other cloud): unbiased, with a standard error of at most
            ``0.5 / sqrt(sample)`` (0.35 percentage points for 20,000).
        seed: seed of the sampling.
    Returns:
        ``(precision, recall, fscore)``: floats for a scalar threshold, NumPy arrays (one
        entry per threshold) for a sequence.

    Example:
        >>> gt = np.array([[0.0, 0, 0], [1.0, 0, 0]])
        >>> precision_recall_fscore(gt[:1], gt, 0.1)
        (1.0, 0.5, 0.6666666666666666)
    """
    gt = as_points(gt_points, "gt_points")
    pred = as_points(pred_points, "pred_points")
    if len(gt) == 0:
        raise ValueError("gt_points must hold at least one point, got 0")
    if sample is not None:
        sample = positive_int(sample, "sample")
    seed = check_seed(seed)
    scalar = np.ndim(threshold) == 0
    try:
        t = np.atleast_1d(np.asarray(threshold, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a positive number or a 1-D sequence of them, got {threshold!r}") from None
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"threshold must be a positive number or a 1-D sequence of them, got {threshold!r}")
    if len(pred) == 0:
        warnings.warn("precision_recall_fscore: pred_points is empty; scoring 0", stacklevel=2)
        precision = recall = np.zeros_like(t)
    else:
        rng = np.random.default_rng(seed)
        pick = lambda a: a if sample is None or len(a) <= sample else a[rng.choice(len(a), sample, replace=False)]  # noqa: E731
        d_pred = point_to_cloud_distance(pick(pred), gt)  # N (or sample)
        d_gt = point_to_cloud_distance(pick(gt), pred)  # M (or sample)
        precision = (d_pred[None, :] <= t[:, None]).mean(axis=1)
        recall = (d_gt[None, :] <= t[:, None]).mean(axis=1)
    denom = precision + recall
    fscore = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    if scalar:
        return float(precision[0]), float(recall[0]), float(fscore[0])
    return precision, recall, fscore
