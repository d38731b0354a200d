"""Depth between the planes of a cost volume: sub-plane refinement of winner-take-all (chapter 9).

Winner-take-all (:func:`mvdlib.cost_volume.winner_take_all`) answers with one of the D planes, so a
perfect match is still off by up to half a plane step. Two classic refinements look between planes:

* :func:`parabola_refine`: the parabola through the costs ``c_-, c_0, c_+`` of the winning plane and
  its two neighbours has its vertex at ``delta = (c_- - c_+) / (2 (c_- - 2 c_0 + c_+))`` plane steps
  from the winner (the sub-pixel refinement of local stereo, Scharstein and Szeliski, IJCV 2002).
  Planes must be evenly spaced in inverse depth (the book's are).
* :func:`soft_argmin`: ``sum_d softmax(-C / T)_d xi_d``, the expected inverse depth under a softmax of
  the negated costs at temperature ``T``; differentiable, so networks that regularise the cost volume
  (GC-Net, MVSNet, chapter 11's outlook) train through it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mvdlib._validation import as_tensor, check_shape, positive_float, shape_str

__all__ = ["parabola_refine", "soft_argmin"]


def _cost_and_planes(cost: Tensor, inv_depths: Tensor) -> tuple[Tensor, Tensor]:
    c = as_tensor(cost, "cost")
    if c.dim() != 4 or c.shape[1] < 1:
        raise ValueError(f"cost must be B x D x H x W with D >= 1, got shape {shape_str(c)}")
    if not torch.isfinite(c).all():
        raise ValueError("cost must be finite, got NaN or inf")
    s = as_tensor(inv_depths, "inv_depths").to(c)
    check_shape(s, "D", "inv_depths")
    if not torch.isfinite(s).all():
        raise ValueError("inv_depths must be finite, got NaN or inf")
    if s.numel() != c.shape[1]:
        raise ValueError(f"inv_depths must have one entry per plane, D={c.shape[1]}, got {s.numel()}")
    return c, s


def parabola_refine(cost: Tensor, inv_depths: Tensor) -> Tensor:
    """Winner-take-all refined by a parabola through the winning plane's cost and its neighbours' (module docstring).

    Args:
        cost: B x D x H x W cost volume (lower is better), D >= 3.
        inv_depths: the D inverse depths (1/m) of the planes, evenly spaced.
    Returns:
        B x 1 x H x W inverse depth in 1/m. Where the winner is the first or last plane, or the three
        costs do not curve upwards, the winner's plane is kept; the shift is at most half a step.
    """
    c, s = _cost_and_planes(cost, inv_depths)
    if c.shape[1] < 3:
        raise ValueError(f"cost must have at least 3 planes for a parabola, got D={c.shape[1]}")
    steps = s[1:] - s[:-1]
    if not torch.allclose(steps, steps[0].expand_as(steps), rtol=1e-4, atol=0.0):
        raise ValueError("inv_depths must be evenly spaced for the parabola fit")
    best = c.argmin(dim=1, keepdim=True)
    inner = best.clamp(1, c.shape[1] - 2)
    c_minus, c_zero, c_plus = (c.gather(1, inner + k) for k in (-1, 0, 1))
    curvature = c_minus - 2 * c_zero + c_plus
    delta = (c_minus - c_plus) / (2 * curvature.clamp_min(torch.finfo(c.dtype).tiny))
    refine = (best == inner) & (curvature > 0)
    delta = torch.where(refine, delta.clamp(-0.5, 0.5), torch.zeros_like(delta))
    return s[best] + delta * steps[0]


def soft_argmin(cost: Tensor, inv_depths: Tensor, temperature: float = 1.0) -> Tensor:
    """Expected inverse depth under ``softmax(-cost / temperature)`` over the planes (module docstring).

    Args:
        cost: B x D x H x W cost volume (lower is better).
        inv_depths: the D inverse depths (1/m) of the planes.
        temperature: T > 0, in the cost's units; as T -> 0 this becomes winner-take-all.
    Returns:
        B x 1 x H x W inverse depth in 1/m, differentiable with respect to ``cost``.
    """
    c, s = _cost_and_planes(cost, inv_depths)
    t = positive_float(temperature, "temperature")
    weights = torch.softmax(-c / t, dim=1)
    return (weights * s.view(1, -1, 1, 1)).sum(1, keepdim=True)
