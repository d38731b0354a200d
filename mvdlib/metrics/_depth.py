"""Depth errors over the valid pixels: Eigen's and DeMoN's metrics, and holes (chapter 11).

The formulas are in :mod:`mvdlib.metrics`; the names are re-exported there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mvdlib._validation import as_tensor, depth_map, shape_str
from mvdlib.conventions import as_mask, valid_depth

__all__ = ["DELTA_THRESHOLD", "METRIC_NAMES", "Depth", "depth_metrics", "hole_aware_metrics"]

# Threshold accuracy base of Eigen et al. 2014: a_k counts max(d/g, g/d) < 1.25^k.
DELTA_THRESHOLD = 1.25

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "l1_inv", "l1_rel", "sc_inv")

# A depth map, mask or point set as the metrics accept it: a tensor or a NumPy array.
Depth = Tensor | np.ndarray


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
    p = _depth_or_nonfinite(pred, "pred")
    g = _depth_or_nonfinite(gt, "gt")
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


def _depth_or_nonfinite(x: Depth, name: str) -> Tensor:
    """``depth_map`` that lets non-finite values through (they are masked or rejected later)."""
    t = as_tensor(x, name)
    finite = torch.isfinite(t)
    checked = depth_map(torch.where(finite, t, torch.zeros_like(t)), name)
    return torch.where(finite.reshape(checked.shape), checked, t.reshape(checked.shape))
