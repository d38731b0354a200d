"""Depth edges: discontinuities, the band around them, flying pixels and errors near edges (chapters 3, 4, 13).

The names are re-exported by :mod:`mvdlib.metrics`.
"""

from __future__ import annotations

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
    value_checks_enabled,
)
from mvdlib.conventions import valid_depth
from mvdlib.metrics._depth import Depth, _depth_scores

__all__ = [
    "DEFAULT_EDGE_WIDTH",
    "DEFAULT_FLYING_REL_TOL",
    "DEFAULT_REL_JUMP",
    "EDGE_RELATIVE_STEP",
    "depth_discontinuities",
    "edge_band",
    "edge_errors",
    "edge_region_errors",
    "flying_pixels",
]

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


# ---- depth edges and the band around them (chapter 13) ---------------------------------------


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
    if value_checks_enabled() and bool((valid_depth(g) & ~valid_depth(p)).any()):
        raise ValueError("pred must be a finite positive depth wherever gt is valid")
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
