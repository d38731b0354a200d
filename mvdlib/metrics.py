"""Every metric of the book: depth errors, holes, depth edges and point clouds (chapters 3-13).

**Depth errors** (chapter 11). Eigen et al. (2014) introduced ``abs_rel, sq_rel, rmse,
rmse_log`` and the threshold accuracies ``a1, a2, a3``; DeMoN (Ummenhofer et al. 2017, §5)
added ``l1_inv``, ``l1_rel`` and ``sc_inv``, which MVDepthNet reports. With ``d`` the
predicted and ``g`` the true depth over the ``n`` valid pixels::

    abs_rel  = 1/n sum |d - g| / g          sq_rel   = 1/n sum (d - g)^2 / g
    rmse     = sqrt(1/n sum (d - g)^2)      rmse_log = sqrt(1/n sum (log d - log g)^2)
    a_k      = 1/n #{max(d/g, g/d) < 1.25^k},  k = 1, 2, 3
    l1_inv   = 1/n sum |1/d - 1/g|          l1_rel   = 1/n sum |d - g| / g   (DeMoN's name for abs_rel)
    sc_inv   = sqrt(1/n sum z^2 - (1/n sum z)^2),  z = log d - log g

All pixels of a batch are pooled (not averaged per image). :func:`hole_aware_metrics`
scores a method that may refuse to answer (chapter 11's classical baselines).

**Depth edges** (chapter 13): :func:`depth_discontinuities`, :func:`edge_band` (pixels near a
true depth edge), :func:`flying_pixels` (depths on neither nearby surface) and
:func:`edge_region_errors` (errors inside and outside the band).

**Point clouds** (chapter 12): :func:`precision_recall_fscore`, the accuracy and completeness
of Tanks and Temples and ETH3D, from :func:`point_to_cloud_distance`.

Conventions (valid depth, masks): ``book/conventions.md`` and :mod:`mvdlib.conventions`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    check_int,
    depth_map,
    numpy_in_out,
    positive_float,
    positive_int,
    scalar_map,
    shape_str,
)
from mvdlib.conventions import as_mask, check_seed, valid_depth
from mvdlib.open3d_io import as_points, to_open3d

__all__ = [
    "DEFAULT_EDGE_WIDTH",
    "DEFAULT_FLYING_REL_TOL",
    "DEFAULT_REL_JUMP",
    "DELTA_THRESHOLD",
    "EDGE_RELATIVE_STEP",
    "METRIC_NAMES",
    "depth_discontinuities",
    "depth_metrics",
    "edge_band",
    "edge_errors",
    "edge_region_errors",
    "flying_pixels",
    "hole_aware_metrics",
    "point_to_cloud_distance",
    "precision_recall_fscore",
]

# Threshold accuracy base of Eigen et al. 2014: a_k counts max(d/g, g/d) < 1.25^k.
DELTA_THRESHOLD = 1.25

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "l1_inv", "l1_rel", "sc_inv")

# Neighbouring pixels whose depths differ by more than 10 % of the nearer one straddle an
# edge. On a surface seen at angle theta from its normal, neighbours differ by about
# tan(theta) / f; with f ~ 285 px (MVDepthNet's 320 x 256 input) 10 % means theta > 88 deg.
DEFAULT_REL_JUMP = 0.10
# Width in pixels of the band around a true depth edge where smearing is measured: a 3x3
# neighbourhood of the edge pixels on each side (the reach of a bilinear 2x up-sampling).
DEFAULT_EDGE_WIDTH = 2
# A depth is "on a surface" when within 5 % of some true depth nearby (the a1-style
# tolerance of depth metrics is 25 %, too loose to separate mid-air points at close range).
DEFAULT_FLYING_REL_TOL = 0.05

Depth = Tensor | np.ndarray


# ---- depth errors ---------------------------------------------------------------------------


def depth_metrics(pred: Depth, gt: Depth, mask: Depth | None = None) -> dict[str, float]:
    """Standard and DeMoN depth metrics over the valid pixels (formulas in the module doc; chapter 11).

    A pixel is valid where ``gt`` is finite and positive and ``mask`` (if given) is true.

    Args:
        pred: predicted depth in metres, H x W, B x H x W or B x 1 x H x W; finite and positive where valid.
        gt: true depth, same shape; 0 or non-finite marks invalid pixels.
        mask: optional mask of ``gt``'s shape (bool, or 0/1 numbers); False excludes a pixel.
    Returns:
        dict with the float metrics named in ``METRIC_NAMES``.

    Example:
        >>> m = depth_metrics(torch.tensor([[1.0, 2.2]]), torch.tensor([[1.0, 2.0]]))
        >>> round(m["abs_rel"], 3), m["a1"]
        (0.05, 1.0)
    """
    p = _depth(pred, "pred")
    g = _depth(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {shape_str(p)} and {shape_str(g)}")
    valid = valid_depth(g)
    if mask is not None:
        valid &= as_mask(mask, tuple(np.shape(gt)), "mask").reshape(g.shape).to(g.device)
    return _depth_scores(p, g, valid)


def _depth_scores(p: Tensor, g: Tensor, valid: Tensor) -> dict[str, float]:
    """The metrics of :func:`depth_metrics` over ``valid`` (B x 1 x H x W each)."""
    if not valid.any():
        raise ValueError("no valid pixels: gt must be positive and finite somewhere inside mask")
    d = p[valid].double()
    t = g[valid].double()
    if not valid_depth(d).all():
        raise ValueError("pred must be finite and positive at every valid pixel")
    err = d - t
    ratio = torch.maximum(d / t, t / d)
    z = torch.log(d) - torch.log(t)
    abs_rel = (err.abs() / t).mean()
    return {
        "abs_rel": abs_rel.item(),
        "sq_rel": (err**2 / t).mean().item(),
        "rmse": torch.sqrt((err**2).mean()).item(),
        "rmse_log": torch.sqrt((z**2).mean()).item(),
        "a1": (ratio < DELTA_THRESHOLD).double().mean().item(),
        "a2": (ratio < DELTA_THRESHOLD**2).double().mean().item(),
        "a3": (ratio < DELTA_THRESHOLD**3).double().mean().item(),
        "l1_inv": (1.0 / d - 1.0 / t).abs().mean().item(),
        "l1_rel": abs_rel.item(),
        "sc_inv": torch.sqrt(torch.clamp((z**2).mean() - z.mean() ** 2, min=0.0)).item(),
    }


def hole_aware_metrics(pred: Depth, gt: Depth) -> dict[str, float]:
    """``abs_rel`` and ``a1`` with holes counted as failures and with holes excluded (chapter 11).

    Args:
        pred: H x W (or any shape) predicted depth; 0 or non-finite marks "no answer".
        gt: the same shape, true depth; only pixels with valid truth are scored.
    Returns:
        dict: ``abs_rel_holes_fail``, ``a1_holes_fail`` (a hole counts as depth 0: relative
        error 1 and a failed ``delta < 1.25``), ``abs_rel_answered``, ``a1_answered`` (over
        the answered pixels only), ``no_answer`` (share of valid-truth pixels without an answer).

    Example:
        >>> m = hole_aware_metrics(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 2.0]))
        >>> m["abs_rel_holes_fail"], m["abs_rel_answered"], m["no_answer"]
        (0.5, 0.0, 0.5)
    """
    p, g = as_tensor(pred, "pred", torch.float64), as_tensor(gt, "gt", torch.float64)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have one shape, got {tuple(p.shape)} and {tuple(g.shape)}")
    valid = valid_depth(g)
    if not valid.any():
        raise ValueError("gt must have at least one valid (positive, finite) pixel")
    answered = valid & valid_depth(p)
    rel = torch.ones_like(g)  # a hole: |0 - g| / g = 1
    rel[answered] = (p[answered] - g[answered]).abs() / g[answered]
    ok = torch.zeros_like(g, dtype=torch.bool)
    ok[answered] = torch.maximum(p[answered] / g[answered], g[answered] / p[answered]) < DELTA_THRESHOLD
    nan = float("nan")
    return {
        "abs_rel_holes_fail": rel[valid].mean().item(),
        "a1_holes_fail": ok[valid].double().mean().item(),
        "abs_rel_answered": rel[answered].mean().item() if answered.any() else nan,
        "a1_answered": ok[answered].double().mean().item() if answered.any() else nan,
        "no_answer": 1.0 - answered.sum().item() / valid.sum().item(),
    }


# ---- depth edges (chapter 13) -----------------------------------------------------------------


@numpy_in_out("depth")
def depth_discontinuities(depth: Tensor, rel_jump: float = DEFAULT_REL_JUMP) -> Tensor:
    """Pixels next to a depth jump: ``|d_p - d_q| > rel_jump * min(d_p, d_q)`` for a 4-neighbour q.

    Both pixels of a jumping pair are marked; pairs with an invalid pixel are ignored.

    Args:
        depth: H x W, B x H x W or B x 1 x H x W depth in metres (NumPy in, NumPy out).
        rel_jump: relative jump that counts as an edge.
    Returns:
        Boolean mask of the depth's shape.

    Example:
        >>> depth_discontinuities(torch.tensor([[2.0, 2.0, 4.0]])).tolist()
        [[False, True, True]]
    """
    d = depth_map(depth, "depth")
    rel_jump = positive_float(rel_jump, "rel_jump")
    return _discontinuities(d, rel_jump).reshape(np.shape(depth))


def _discontinuities(d: Tensor, rel_jump: float) -> Tensor:
    ok = valid_depth(d)
    d = torch.where(ok, d, torch.ones_like(d))
    edge = torch.zeros_like(ok)
    for dim in (3, 2):  # right neighbour, then the one below
        n = d.shape[dim]
        a, b = d.narrow(dim, 0, n - 1), d.narrow(dim, 1, n - 1)
        both = ok.narrow(dim, 0, n - 1) & ok.narrow(dim, 1, n - 1)
        jump = both & ((a - b).abs() > rel_jump * torch.minimum(a, b))
        edge.narrow(dim, 0, n - 1).logical_or_(jump)
        edge.narrow(dim, 1, n - 1).logical_or_(jump)
    return edge


def _dilate(mask: Tensor, width: int) -> Tensor:
    """Grow a B x 1 x H x W mask by ``width`` pixels (a (2w+1)^2 square)."""
    if width == 0:
        return mask
    return F.max_pool2d(mask.float(), 2 * width + 1, stride=1, padding=width) > 0


@numpy_in_out("gt_depth")
def edge_band(gt_depth: Tensor, width: int = DEFAULT_EDGE_WIDTH, rel_jump: float = DEFAULT_REL_JUMP) -> Tensor:
    """Valid pixels within ``width`` pixels of a true depth discontinuity (chapter 13).

    Args:
        gt_depth: H x W, B x H x W or B x 1 x H x W ground-truth depth (NumPy in, NumPy out).
        width: half-width of the band in pixels (0: the discontinuity pixels only).
        rel_jump: see :func:`depth_discontinuities`.
    Returns:
        Boolean mask of the depth's shape.

    Example:
        >>> edge_band(torch.tensor([[2.0, 2.0, 2.0, 4.0, 4.0]]), width=1).tolist()
        [[False, True, True, True, True]]
    """
    width = check_int(width, "width", min=0)
    g = depth_map(gt_depth, "gt_depth")
    rel_jump = positive_float(rel_jump, "rel_jump")
    return _edge_band(g, width, rel_jump).reshape(np.shape(gt_depth))


def _edge_band(g: Tensor, width: int, rel_jump: float) -> Tensor:
    return _dilate(_discontinuities(g, rel_jump), width) & valid_depth(g)


@numpy_in_out("gt", "pred")
def flying_pixels(
    pred: Tensor, gt: Tensor, radius: int = DEFAULT_EDGE_WIDTH, rel_tol: float = DEFAULT_FLYING_REL_TOL
) -> Tensor:
    """Predicted depths that lie on none of the true surfaces nearby (chapter 13).

    Pixel ``p`` is flying when ``|pred_p - gt_q| > rel_tol * gt_q`` for every valid ``q``
    within ``radius`` pixels (a (2r+1)^2 window): its back-projected point floats between
    the foreground and the background instead of snapping to either.

    Args:
        pred: predicted depth, H x W, B x H x W or B x 1 x H x W (positive at valid ``gt`` pixels).
        gt: ground-truth depth of the same shape (NumPy ``gt`` in, NumPy out).
        radius: search radius in pixels.
        rel_tol: relative tolerance of "on a surface".
    Returns:
        Boolean mask of ``gt``'s shape (False where ``gt`` is invalid).

    Example:
        >>> flying_pixels(torch.tensor([[2.0, 3.0, 4.0]]), torch.tensor([[2.0, 2.0, 4.0]]), radius=1).tolist()
        [[False, True, False]]
    """
    p, g = scalar_map(pred, "pred"), scalar_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {shape_str(p)} and {shape_str(g)}")
    radius = positive_int(radius, "radius")
    rel_tol = positive_float(rel_tol, "rel_tol")
    return _flying(p, g.to(p), radius, rel_tol).reshape(np.shape(gt))


def _flying(p: Tensor, g: Tensor, radius: int, rel_tol: float) -> Tensor:
    b, _, h, w = g.shape
    k = 2 * radius + 1
    ok = valid_depth(g)
    neigh = F.unfold(torch.where(ok, g, torch.zeros_like(g)), k, padding=radius).reshape(b, k * k, h, w)
    neigh_ok = F.unfold(ok.to(p.dtype), k, padding=radius).reshape(b, k * k, h, w) > 0
    on_surface = neigh_ok & ((p - neigh).abs() <= rel_tol * neigh)  # B x k^2 x H x W
    return ok & ~on_surface.any(1, keepdim=True)


def edge_region_errors(
    pred: Depth, gt: Depth, width: int = DEFAULT_EDGE_WIDTH, rel_jump: float = DEFAULT_REL_JUMP
) -> dict[str, float]:
    """Depth errors near true depth edges and away from them, and the share of flying pixels (chapter 13).

    Args:
        pred, gt: predicted and true depth, H x W, B x H x W or B x 1 x H x W, metres.
        width, rel_jump: define the edge band (:func:`edge_band`).
    Returns:
        dict with ``abs_rel_edge``, ``abs_rel_flat`` (``mean |pred - gt| / gt`` in and outside the
        band, as in :func:`depth_metrics`), ``flying_edge`` (fraction of the band's pixels that
        are flying, :func:`flying_pixels` with radius ``width``) and ``band_fraction`` (the
        band's share of the valid pixels).

    Example:
        >>> gt = torch.tensor([[2.0, 2.0, 2.0, 4.0, 4.0, 4.0]])
        >>> edge_region_errors(gt, gt, width=1)["band_fraction"]
        0.6666666666666666
    """
    p, g = depth_map(pred, "pred"), depth_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred must have gt's shape {shape_str(g)}, got {shape_str(p)}")
    width = check_int(width, "width", min=0)
    rel_jump = positive_float(rel_jump, "rel_jump")
    band = _edge_band(g, width, rel_jump)
    valid = valid_depth(g)
    if not band.any() or not (valid & ~band).any():
        raise ValueError("gt must have both depth edges and flat regions to compare them")
    flying = _flying(p, g.to(p), max(width, 1), DEFAULT_FLYING_REL_TOL)
    return {
        "abs_rel_edge": _depth_scores(p, g, band)["abs_rel"],
        "abs_rel_flat": _depth_scores(p, g, valid & ~band)["abs_rel"],
        "flying_edge": (flying & band).sum().item() / band.sum().item(),
        "band_fraction": band.sum().item() / valid.sum().item(),
    }


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


def _depth(x: Any, name: str) -> torch.Tensor:
    """``depth_map`` that lets non-finite values through (they are masked or rejected later)."""
    t = as_tensor(x, name)
    finite = torch.isfinite(t)
    checked = depth_map(torch.where(finite, t, torch.zeros_like(t)), name)
    return torch.where(finite.reshape(checked.shape), checked, t.reshape(checked.shape))


# ---- depth edges (chapters 3 and 4) ------------------------------------------------------------

# A pixel is on a depth edge when the depth changes by more than this fraction of its
# depth to a neighbour (the book's choice: larger than the slope of any floor or wall seen
# at our resolutions, smaller than an object standing in front of a wall).
EDGE_RELATIVE_STEP = 0.05


def _gradient_magnitude(d: torch.Tensor) -> torch.Tensor:
    """|grad d| by forward differences (replicated at the last row/column), B x 1 x H x W."""
    dx = torch.diff(d, dim=-1, append=d[..., -1:])
    dy = torch.diff(d, dim=-2, append=d[..., -1:, :])
    return torch.sqrt(dx**2 + dy**2)


def edge_errors(pred: torch.Tensor, gt: torch.Tensor, relative_step: float = EDGE_RELATIVE_STEP) -> dict[str, float]:
    """RMSE on and off depth edges, and how much of the edges' depth gradient survives (chapters 3 and 4).

    Edge pixels are those where the true depth changes by more than ``relative_step``
    times its value to a neighbour. ``sharpness`` is ``mean |grad pred| / mean |grad gt|``
    over the edge pixels: 1 for edges as steep as the truth, near 0 for blurred ones.

    Args:
        pred: B x 1 x H x W predicted depth (at the resolution of ``gt``).
        gt: B x 1 x H x W true depth; 0 or non-finite is invalid (and so are its neighbours' steps).
        relative_step: the edge threshold.
    Returns:
        dict with ``rmse``, ``rmse_edges``, ``rmse_flat`` (metres), ``sharpness``, ``edge_fraction``.

    Example:
        >>> gt = torch.full((1, 1, 4, 4), 2.0); gt[..., 2:] = 4.0
        >>> errors = edge_errors(gt.clone(), gt)
        >>> errors["rmse"], errors["sharpness"], errors["edge_fraction"]
        (0.0, 1.0, 0.25)
    """
    g = depth_map(gt, "gt")
    p = as_tensor(pred, "pred").to(g.dtype)
    if p.shape != g.shape:
        raise ValueError(f"pred must have the shape of gt {shape_str(g)}, got {shape_str(p)}")
    relative_step = positive_float(relative_step, "relative_step")
    valid = valid_depth(g)
    if not valid.any():
        raise ValueError("gt has no valid pixel")
    g0 = torch.where(valid, g, torch.zeros_like(g))
    grad_g = _gradient_magnitude(g0)
    near_invalid = _gradient_magnitude(valid.to(g.dtype)) > 0
    edges = valid & ~near_invalid & (grad_g > relative_step * g0)
    flat = valid & ~edges
    sq = (p - g0) ** 2

    def rmse(m: torch.Tensor) -> float:
        return float(torch.sqrt(sq[m].mean())) if m.any() else float("nan")

    sharpness = float(_gradient_magnitude(p)[edges].mean() / grad_g[edges].mean()) if edges.any() else float("nan")
    return {
        "rmse": rmse(valid),
        "rmse_edges": rmse(edges),
        "rmse_flat": rmse(flat),
        "sharpness": sharpness,
        "edge_fraction": float(edges.sum() / valid.sum()),
    }
