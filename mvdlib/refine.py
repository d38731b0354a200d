"""Sharper depth edges: three ways to remove flying pixels (chapter 13).

A network that smooths its output, or a bilinear resize of a depth map, blends the depth of a
foreground object with the background behind it. The blended pixels back-project to
*flying pixels*: points in mid-air between the two surfaces. :mod:`mvdlib.metrics` measures
them (:func:`~mvdlib.metrics.depth_discontinuities`, :func:`~mvdlib.metrics.edge_band`,
:func:`~mvdlib.metrics.flying_pixels`, :func:`~mvdlib.metrics.edge_region_errors`); this
module removes them:

* :func:`remove_depth_discontinuities` drops pixels at depth jumps;
* :func:`guided_filter` (He et al. 2013) is an edge-aware filter steered by the image;
* :func:`mean_field_crf` is a small locally connected CRF solved by mean-field iterations,
  in the spirit of CRF-as-RNN (Zheng et al. 2015).

Depth maps are ``H x W``, ``B x H x W`` or ``B x 1 x H x W`` (NumPy in, NumPy out; torch in,
torch out), z-depth in metres with 0 or non-finite marking invalid pixels (``book/conventions.md``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    check_finite,
    check_int,
    check_shape,
    numpy_in_out,
    positive_float,
    positive_int,
    scalar_map,
    shape_str,
)
from mvdlib.metrics import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    DEFAULT_EDGE_WIDTH,
    DEFAULT_FLYING_REL_TOL,
    DEFAULT_REL_JUMP,
    depth_discontinuities,
    edge_band,
    edge_region_errors,
    flying_pixels,
)

__all__ = [
    "box_filter",
    "guided_filter",
    "mean_field_crf",
    "remove_depth_discontinuities",
]


def _dilate(mask: Tensor, width: int) -> Tensor:
    """Grow a B x 1 x H x W mask by ``width`` pixels (a (2w+1)^2 square)."""
    if width == 0:
        return mask
    return F.max_pool2d(mask.float(), 2 * width + 1, stride=1, padding=width) > 0


@numpy_in_out("depth")
def remove_depth_discontinuities(depth: Tensor, rel_jump: float = DEFAULT_REL_JUMP, dilation: int = 1) -> Tensor:
    """Invalidate (set to 0) pixels at depth jumps and ``dilation`` pixels around them (chapter 13).

    Smeared edges are ramps a few pixels wide, so every step of the ramp is a jump; dropping
    them removes the flying points at the price of holes along object outlines.

    Args:
        depth: H x W, B x H x W or B x 1 x H x W depth in metres.
        rel_jump: see :func:`mvdlib.metrics.depth_discontinuities`.
        dilation: extra pixels removed around each jump.
    Returns:
        The depth with those pixels set to 0, same shape and type.

    Example:
        >>> remove_depth_discontinuities(torch.tensor([[2.0, 2.0, 2.0, 4.0, 4.0, 4.0]]), dilation=0).tolist()
        [[2.0, 2.0, 0.0, 0.0, 4.0, 4.0]]
    """
    dilation = check_int(dilation, "dilation", min=0)
    d = scalar_map(depth, "depth")
    drop = _dilate(depth_discontinuities(d, rel_jump), dilation)
    return torch.where(drop, torch.zeros_like(d), d).reshape(np.shape(depth))


def box_filter(x: Tensor, radius: int) -> Tensor:
    """Mean over the (2r+1) x (2r+1) window of each pixel, clipped at the image border.

    Args:
        x: B x C x H x W.
        radius: window radius r in pixels.
    Returns:
        B x C x H x W.

    Example:
        >>> box_filter(torch.tensor([[[[0.0, 3.0, 0.0]]]]), 1).flatten().tolist()
        [1.5, 1.0, 1.5]
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    check_shape(x, "B C H W", "x")
    if 0 in x.shape:
        raise ValueError(f"x must be B x C x H x W with no empty dimension, got shape {shape_str(x)}")
    check_finite(x, "x")
    return _box(x, check_int(radius, "radius", min=0))


def _box(x: Tensor, radius: int) -> Tensor:
    k = 2 * radius + 1
    return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)


@numpy_in_out("src", "guide")
def guided_filter(guide: Tensor, src: Tensor, radius: int = 4, eps: float = 1e-3) -> Tensor:
    """He et al.'s guided filter: ``q = mean(a)^T I + mean(b)``, locally linear in the guide (chapter 13).

    In each window ``w_k`` the output is ``a_k^T I + b_k`` with
    ``a_k = (Sigma_k + eps U)^-1 cov_k(I, p)`` and ``b_k = mean_k(p) - a_k^T mean_k(I)``
    (He, Sun and Tang, TPAMI 2013, eqs. 5-6 and 19-21); each pixel averages the ``a_k, b_k``
    of the windows that contain it. Where the guide has an edge the output can have one too;
    where the guide is flat the source is smoothed. Windows are clipped at the border.

    Args:
        guide: B x C x H x W guide image (grey C = 1 or colour C = 3), values in [0, 1].
        src: B x 1 x H x W (or H x W with a 1 x C x H x W guide) map to filter, e.g. inverse depth.
        radius: window radius r in pixels (windows are (2r+1)^2).
        eps: regularisation, in squared guide units: edges with variance well below it are smoothed.
    Returns:
        The filtered map, the shape and type of ``src`` (NumPy ``src`` in, NumPy out).

    Example:
        >>> flat = torch.full((1, 1, 4, 4), 0.5)
        >>> torch.allclose(guided_filter(flat, 3 * flat, radius=1), 3 * flat)
        True
    """
    I = as_tensor(guide, "guide")
    p = scalar_map(src, "src")
    I = I.to(p)
    if I.dim() != 4 or I.shape[0] not in (1, p.shape[0]) or I.shape[-2:] != p.shape[-2:]:
        raise ValueError(f"guide must be BxCxHxW with the size of src {shape_str(p)}, got {shape_str(I)}")
    if not (torch.isfinite(I).all() and torch.isfinite(p).all()):
        raise ValueError("guide and src must be finite (fill invalid depth before filtering)")
    radius = positive_int(radius, "radius")
    eps = positive_float(eps, "eps")
    b, c, h, w = p.shape[0], I.shape[1], p.shape[2], p.shape[3]
    I = I.expand(b, c, h, w)
    mean_I = _box(I, radius)  # B x C x H x W
    mean_p = _box(p, radius)  # B x 1 x H x W
    cov_Ip = _box(I * p, radius) - mean_I * mean_p  # B x C x H x W
    outer = (I[:, :, None] * I[:, None]).reshape(b, c * c, h, w)
    sigma = _box(outer, radius).reshape(b, c, c, h, w) - mean_I[:, :, None] * mean_I[:, None]
    sigma = sigma.permute(0, 3, 4, 1, 2) + eps * torch.eye(c, dtype=p.dtype, device=p.device)  # B x H x W x C x C
    a = torch.linalg.solve(sigma, cov_Ip.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2)  # B x C x H x W
    b_ = mean_p - (a * mean_I).sum(1, keepdim=True)
    q = (_box(a, radius) * I).sum(1, keepdim=True) + _box(b_, radius)
    return q.reshape(np.shape(src))


@numpy_in_out("unary", "image")
def mean_field_crf(
    unary: Tensor,
    image: Tensor,
    radius: int = 2,
    sigma_xy: float = 2.0,
    sigma_rgb: float = 0.1,
    weight: float = 1.0,
    truncation: float = 2.0,
    iterations: int = 5,
) -> Tensor:
    """Label marginals of a locally connected CRF by mean-field iterations (chapter 13).

    Energy ``E(x) = sum_i U_i(x_i) + w sum_{i < j, |i - j|_inf <= r} k(i, j) mu(x_i, x_j)``,
    each unordered pair counted once (summing over all ``i != j`` would count it twice and
    double ``w`` in the update below), with the bilateral appearance kernel of Kraehenbuehl and Koltun (2011),
    ``k(i, j) = exp(-|p_i - p_j|^2 / 2 sigma_xy^2 - |I_i - I_j|^2 / 2 sigma_rgb^2)``, and a
    truncated linear compatibility ``mu(l, l') = min(|l - l'|, truncation)`` suited to
    ordered labels such as depth planes. Each iteration is the update that CRF-as-RNN
    (Zheng et al. 2015) unrolls as a network layer:

        Q_i(l) ∝ exp(-U_i(l) - w sum_l' mu(l, l') sum_{j != i} k(i, j) Q_j(l')),

    starting from ``Q = softmax(-U)``.

    Args:
        unary: B x L x H x W label energies (e.g. a cost volume, or -log probabilities).
        image: B x C x H x W guide image, values in [0, 1].
        radius: half-size of the neighbourhood in pixels.
        sigma_xy: spatial kernel width in pixels; sigma_rgb: colour kernel width.
        weight: pairwise weight w; truncation: cap of the compatibility, in labels.
        iterations: number of mean-field updates.
    Returns:
        B x L x H x W marginals Q (sum to 1 over labels), NumPy for a NumPy ``unary``.

    Example:
        >>> Q = mean_field_crf(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, 3), iterations=1)
        >>> Q.shape, Q.sum(1).allclose(torch.ones(1, 3, 3))
        (torch.Size([1, 2, 3, 3]), True)
    """
    U = as_tensor(unary, "unary")
    img = as_tensor(image, "image").to(U)
    if U.dim() != 4 or U.shape[1] < 2:
        raise ValueError(f"unary must be BxLxHxW with L >= 2 labels, got shape {shape_str(U)}")
    if img.dim() != 4 or img.shape[0] != U.shape[0] or img.shape[-2:] != U.shape[-2:]:
        raise ValueError(f"image must be BxCxHxW matching unary {shape_str(U)}, got shape {shape_str(img)}")
    if not (torch.isfinite(U).all() and torch.isfinite(img).all()):
        raise ValueError("unary and image must be finite")
    radius = positive_int(radius, "radius")
    sigma_xy, sigma_rgb = positive_float(sigma_xy, "sigma_xy"), positive_float(sigma_rgb, "sigma_rgb")
    weight, truncation = positive_float(weight, "weight"), positive_float(truncation, "truncation")
    iterations = positive_int(iterations, "iterations")
    b, n_labels, h, w = U.shape
    labels = torch.arange(n_labels, dtype=U.dtype, device=U.device)
    mu = torch.clamp((labels[:, None] - labels[None]).abs(), max=truncation)  # L x L
    # Kernel weights per neighbour offset, 0 where the neighbour falls outside the image.
    pad_img = F.pad(img, (radius,) * 4)
    inside = F.pad(torch.ones(b, 1, h, w, dtype=U.dtype, device=U.device), (radius,) * 4)
    offsets, kernels = [], []
    for dv in range(-radius, radius + 1):
        for du in range(-radius, radius + 1):
            if du == 0 and dv == 0:
                continue
            rows, cols = slice(radius + dv, radius + dv + h), slice(radius + du, radius + du + w)
            window = (slice(None), slice(None), rows, cols)
            colour = ((pad_img[window] - img) ** 2).sum(1, keepdim=True)  # B x 1 x H x W
            k = torch.exp(-(du * du + dv * dv) / (2 * sigma_xy**2) - colour / (2 * sigma_rgb**2)) * inside[window]
            offsets.append(window)
            kernels.append(k)
    Q = torch.softmax(-U, dim=1)
    for _ in range(iterations):
        pad_Q = F.pad(Q, (radius,) * 4)
        message = sum(k * pad_Q[window] for k, window in zip(kernels, offsets, strict=True))  # B x L x H x W
        pairwise = torch.einsum("lm,bmhw->blhw", mu, message)
        Q = torch.softmax(-U - weight * pairwise, dim=1)
    return Q
