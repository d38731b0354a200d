"""Smoothness terms for self-supervised depth: GeoNet's edge-aware and SfMLearner's second-order (chapter 5).

They regularise a disparity (inverse-depth) map without ground truth. Inputs follow
:mod:`mvdlib.losses` (``book/conventions.md``); a mask removes pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mvdlib._loss_inputs import _masked_mean, _valid_mask
from mvdlib._validation import as_tensor, positive_float, scalar_map, shape_str

__all__ = ["GEONET_ALPHA", "edge_aware_smoothness", "second_order_smoothness"]

# GeoNet's edge weight exp(-|grad I|) acts on images scaled to [-1, 1] (``image * 2 - 1`` in
# its preprocessing, Yin and Shi 2018); on images in [0, 1] the same weight is exp(-2 |grad I|).
GEONET_ALPHA = 2.0


def _diff(x: Tensor, dim: int) -> Tensor:
    """Forward difference along ``dim`` (one shorter)."""
    n = x.shape[dim]
    return x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)


def _both(m: Tensor, dim: int) -> Tensor:
    """Validity of a forward difference: both pixels valid."""
    n = m.shape[dim]
    return m.narrow(dim, 1, n - 1) & m.narrow(dim, 0, n - 1)


def _smoothness_input(disp: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    d = scalar_map(disp, "disp")
    if d.shape[-1] < 3 or d.shape[-2] < 3:
        raise ValueError(f"disp must be at least 3x3 pixels, got shape {shape_str(d)}")
    if not torch.isfinite(d).all():
        raise ValueError("disp must be finite, got NaN or inf")
    if mask is None:
        return d, torch.ones_like(d, dtype=torch.bool)
    return d, _valid_mask(torch.ones_like(d), mask).to(d.device)


def edge_aware_smoothness(
    disp: Tensor, image: Tensor, mask: Tensor | None = None, alpha: float = GEONET_ALPHA
) -> Tensor:
    """GeoNet's edge-aware first-order smoothness, ``|grad D| exp(-|grad I|)`` (Yin and Shi 2018; chapter 5)::

        L = mean |dD/dx| exp(-alpha mean_c |dI/dx|) + mean |dD/dy| exp(-alpha mean_c |dI/dy|)

    with forward differences; depth may change freely where the image has an edge.
    The weight depends on the image's scale. Here images are in [0, 1]; GeoNet's are in
    [-1, 1] with ``alpha = 1``, which is ``alpha = GEONET_ALPHA = 2`` on [0, 1], the default.
    A larger ``alpha`` makes the weight fall faster at edges.

    Args:
        disp: B x 1 x H x W disparity or inverse depth (the smoothed quantity).
        image: B x C x H x W image with values in [0, 1] (RGB 0..255 divided by 255).
        mask: optional B x 1 x H x W; a difference counts where both its pixels are valid.
        alpha: sharpness of the edge weight on [0, 1] images (> 0; GeoNet's: 2).
    Returns:
        Scalar tensor.

    Example:
        >>> ramp = torch.linspace(0, 1, 5).expand(1, 1, 5, 5)
        >>> edge_aware_smoothness(ramp, torch.zeros(1, 3, 5, 5))  # a flat image: the mean |dD/dx| of 0.25
        tensor(0.2500)
    """
    alpha = positive_float(alpha, "alpha")
    d, m = _smoothness_input(disp, mask)
    img = as_tensor(image, "image")
    if img.dim() != 4 or img.shape[0] != d.shape[0] or img.shape[-2:] != d.shape[-2:]:
        raise ValueError(f"image must be BxCxHxW matching disp {shape_str(d)}, got shape {shape_str(img)}")
    img = img.to(dtype=d.dtype, device=d.device)
    if not torch.isfinite(img).all() or img.min() < 0 or img.max() > 1:
        raise ValueError("image must be finite with values in [0, 1] (divide 0..255 RGB by 255)")
    total = 0 * d.sum()
    for dim in (3, 2):  # x (columns), then y (rows)
        weight = torch.exp(-alpha * _diff(img, dim).abs().mean(1, keepdim=True))  # B x 1 x ...
        total = total + _masked_mean(_diff(d, dim).abs() * weight, _both(m, dim))
    return total


def second_order_smoothness(disp: Tensor, mask: Tensor | None = None) -> Tensor:
    """SfMLearner's second-order smoothness: mean ``|second differences|`` of disparity (chapter 5)::

        L = mean |d2D/dx2| + mean |d2D/dxdy| + mean |d2D/dydx| + mean |d2D/dy2|

    (Zhou et al. 2017): planes, which have zero second derivatives, cost nothing.

    Args:
        disp: B x 1 x H x W disparity or inverse depth.
        mask: optional B x 1 x H x W; a difference counts where all its pixels are valid.
    Returns:
        Scalar tensor.

    Example:
        >>> ramp = torch.linspace(0, 1, 5).expand(1, 1, 5, 5)
        >>> second_order_smoothness(ramp)  # a plane has no second derivative
        tensor(0.)
    """
    d, m = _smoothness_input(disp, mask)
    total = 0 * d.sum()
    for first in (3, 2):
        d1, m1 = _diff(d, first), _both(m, first)
        for second in (3, 2):
            total = total + _masked_mean(_diff(d1, second).abs(), _both(m1, second))
    return total
