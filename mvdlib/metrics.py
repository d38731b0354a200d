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

from mvdlib._validation import as_tensor, depth_map, shape_str

__all__ = ["DELTA_THRESHOLD", "METRIC_NAMES", "depth_metrics"]

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
