"""Depth-error metrics of the depth-estimation literature (chapter 11).

Eigen et al. (2014) introduced ``abs_rel, sq_rel, rmse, rmse_log`` and the threshold
accuracies ``a1, a2, a3``; DeMoN (Ummenhofer et al. 2017, §5) added ``l1_inv``, ``l1_rel`` and
``sc_inv``, which MVDepthNet reports. With ``d`` the predicted and ``g`` the true depth over
the ``n`` valid pixels::

    abs_rel  = 1/n sum |d - g| / g          sq_rel   = 1/n sum (d - g)^2 / g
    rmse     = sqrt(1/n sum (d - g)^2)      rmse_log = sqrt(1/n sum (log d - log g)^2)
    a_k      = 1/n #{max(d/g, g/d) < 1.25^k},  k = 1, 2, 3
    l1_inv   = 1/n sum |1/d - 1/g|          l1_rel   = 1/n sum |d - g| / g   (DeMoN's name for abs_rel)
    sc_inv   = sqrt(1/n sum z^2 - (1/n sum z)^2),  z = log d - log g

All pixels of a batch are pooled (not averaged per image).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mvdlib._validation import as_tensor, depth_map, positive_float, shape_str
from mvdlib.conventions import valid_depth

__all__ = ["DELTA_THRESHOLD", "EDGE_RELATIVE_STEP", "METRIC_NAMES", "depth_metrics", "edge_errors"]

# Threshold accuracy base of Eigen et al. 2014: a_k counts max(d/g, g/d) < 1.25^k.
DELTA_THRESHOLD = 1.25

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "l1_inv", "l1_rel", "sc_inv")


def depth_metrics(pred: Any, gt: Any, mask: Any = None) -> dict[str, float]:
    """Standard and DeMoN depth metrics over the valid pixels (formulas in the module doc; chapter 11).

    A pixel is valid where ``gt`` is finite and positive and ``mask`` (if given) is true.

    Args:
        pred: predicted depth in metres, H x W, B x H x W or B x 1 x H x W; finite and positive where valid.
        gt: true depth, same shape; 0 or non-finite marks invalid pixels.
        mask: optional boolean array of the same shape; False excludes a pixel.
    Returns:
        dict with the float metrics named in ``METRIC_NAMES``.
    """
    p = _depth(pred, "pred")
    g = _depth(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {shape_str(p)} and {shape_str(g)}")
    valid = torch.isfinite(g) & (g > 0)
    if mask is not None:
        m = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
        if m.dtype != torch.bool:
            raise ValueError(f"mask must be boolean, got dtype {m.dtype}")
        if m.shape[-2:] != g.shape[-2:] or m.numel() != g.numel():  # HxW, BxHxW or Bx1xHxW like gt
            raise ValueError(f"mask must have the shape of gt {tuple(g.shape)}, got {shape_str(m)}")
        valid &= m.reshape(g.shape).to(g.device)
    if not valid.any():
        raise ValueError("no valid pixels: gt must be positive and finite somewhere inside mask")
    d = p[valid].double()
    t = g[valid].double()
    if not (torch.isfinite(d) & (d > 0)).all():
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
