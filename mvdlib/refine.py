"""Sharper depth edges: find and measure flying pixels, and three ways to remove them (chapter 13).

A network that smooths its output, or a bilinear resize of a depth map, blends the depth of a
foreground object with the background behind it. The blended pixels back-project to
*flying pixels*: points in mid-air between the two surfaces. This module

* measures them: :func:`depth_discontinuities`, :func:`edge_band` (pixels near a true depth
  edge), :func:`flying_pixels` (depths that lie on neither nearby surface) and
  :func:`edge_region_errors` (depth metrics inside and outside the edge band);
* removes them: :func:`remove_depth_discontinuities` (drop pixels at depth jumps),
  :func:`guided_filter` (He et al. 2013, an edge-aware filter steered by the image), and
  :func:`mean_field_crf` (a small locally connected CRF solved by mean-field iterations, in
  the spirit of CRF-as-RNN, Zheng et al. 2015).

Depth maps are ``H x W`` or ``B x 1 x H x W`` (NumPy in, NumPy out; torch in, torch out),
z-depth in metres with 0 or non-finite marking invalid pixels (DESIGN.md §3).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    check_finite,
    depth_map,
    like_input,
    positive_float,
    positive_int,
    scalar_map,
    shape_str,
)
from mvdlib.metrics import depth_metrics

__all__ = [
    "DEFAULT_EDGE_WIDTH",
    "DEFAULT_FLYING_REL_TOL",
    "DEFAULT_REL_JUMP",
    "box_filter",
    "depth_discontinuities",
    "edge_band",
    "edge_region_errors",
    "flying_pixels",
    "guided_filter",
    "mean_field_crf",
    "remove_depth_discontinuities",
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


def _out(result: Tensor, reference: Any) -> Any:
    """Return ``result`` (B x 1 x H x W) in the form of ``reference`` (HxW stays HxW, NumPy stays NumPy)."""
    dim = as_tensor(reference, "x").dim()
    if dim == 2:
        result = result[0, 0]
    elif dim == 3:
        result = result[:, 0]
    return like_input(result, reference)


def _valid(d: Tensor) -> Tensor:
    return torch.isfinite(d) & (d > 0)


def depth_discontinuities(depth: Any, rel_jump: float = DEFAULT_REL_JUMP) -> Any:
    """Pixels next to a depth jump: ``|d_p - d_q| > rel_jump * min(d_p, d_q)`` for a 4-neighbour q.

    Both pixels of a jumping pair are marked; pairs with an invalid pixel are ignored.

    Args:
        depth: H x W or B x 1 x H x W depth in metres.
        rel_jump: relative jump that counts as an edge.
    Returns:
        Boolean mask of the depth's shape.
    """
    d = depth_map(depth, "depth")
    rel_jump = positive_float(rel_jump, "rel_jump")
    ok = _valid(d)
    d = torch.where(ok, d, torch.ones_like(d))
    edge = torch.zeros_like(ok)
    for dim in (3, 2):  # right neighbour, then the one below
        n = d.shape[dim]
        a, b = d.narrow(dim, 0, n - 1), d.narrow(dim, 1, n - 1)
        both = ok.narrow(dim, 0, n - 1) & ok.narrow(dim, 1, n - 1)
        jump = both & ((a - b).abs() > rel_jump * torch.minimum(a, b))
        edge.narrow(dim, 0, n - 1).logical_or_(jump)
        edge.narrow(dim, 1, n - 1).logical_or_(jump)
    return _out(edge, depth)


def _dilate(mask: Tensor, width: int) -> Tensor:
    """Grow a B x 1 x H x W mask by ``width`` pixels (a (2w+1)^2 square)."""
    if width == 0:
        return mask
    return F.max_pool2d(mask.float(), 2 * width + 1, stride=1, padding=width) > 0


def edge_band(gt_depth: Any, width: int = DEFAULT_EDGE_WIDTH, rel_jump: float = DEFAULT_REL_JUMP) -> Any:
    """Valid pixels within ``width`` pixels of a true depth discontinuity (chapter 13).

    Args:
        gt_depth: H x W or B x 1 x H x W ground-truth depth.
        width: half-width of the band in pixels (0: the discontinuity pixels only).
        rel_jump: see :func:`depth_discontinuities`.
    Returns:
        Boolean mask of the depth's shape.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ValueError(f"width must be a non-negative integer, got {width!r}")
    g = depth_map(gt_depth, "gt_depth")
    band = _dilate(depth_discontinuities(g, rel_jump), width) & _valid(g)
    return _out(band, gt_depth)


def flying_pixels(pred: Any, gt: Any, radius: int = DEFAULT_EDGE_WIDTH, rel_tol: float = DEFAULT_FLYING_REL_TOL) -> Any:
    """Predicted depths that lie on none of the true surfaces nearby (chapter 13).

    Pixel ``p`` is flying when ``|pred_p - gt_q| > rel_tol * gt_q`` for every valid ``q``
    within ``radius`` pixels (a (2r+1)^2 window): its back-projected point floats between
    the foreground and the background instead of snapping to either.

    Args:
        pred: predicted depth, H x W or B x 1 x H x W (positive at valid ``gt`` pixels).
        gt: ground-truth depth of the same shape.
        radius: search radius in pixels.
        rel_tol: relative tolerance of "on a surface".
    Returns:
        Boolean mask (False where ``gt`` is invalid).
    """
    p, g = scalar_map(pred, "pred"), scalar_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {shape_str(p)} and {shape_str(g)}")
    radius = positive_int(radius, "radius")
    rel_tol = positive_float(rel_tol, "rel_tol")
    g = g.to(p)
    b, _, h, w = g.shape
    k = 2 * radius + 1
    ok = _valid(g)
    neigh = F.unfold(torch.where(ok, g, torch.zeros_like(g)), k, padding=radius).reshape(b, k * k, h, w)
    neigh_ok = F.unfold(ok.to(p.dtype), k, padding=radius).reshape(b, k * k, h, w) > 0
    on_surface = neigh_ok & ((p - neigh).abs() <= rel_tol * neigh)  # B x k^2 x H x W
    flying = ok & ~on_surface.any(1, keepdim=True)
    return _out(flying, gt)


def edge_region_errors(
    pred: Any, gt: Any, width: int = DEFAULT_EDGE_WIDTH, rel_jump: float = DEFAULT_REL_JUMP
) -> dict[str, float]:
    """Depth errors near true depth edges and away from them, and the share of flying pixels.

    Args:
        pred, gt: predicted and true depth, H x W or B x 1 x H x W, metres.
        width, rel_jump: define the edge band (:func:`edge_band`).
    Returns:
        dict with ``abs_rel_edge``, ``abs_rel_flat`` (``mean |pred - gt| / gt`` in and outside the
        band, :func:`mvdlib.metrics.depth_metrics`), ``flying_edge`` (fraction of the band's
        pixels that are flying, :func:`flying_pixels` with radius ``width``) and
        ``band_fraction`` (the band's share of the valid pixels).
    """
    p, g = depth_map(pred, "pred"), depth_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred must have gt's shape {shape_str(g)}, got {shape_str(p)}")
    band = edge_band(g, width, rel_jump)
    valid = _valid(g)
    if not band.any() or not (valid & ~band).any():
        raise ValueError("gt must have both depth edges and flat regions to compare them")
    flying = flying_pixels(p, g, max(width, 1))
    return {
        "abs_rel_edge": depth_metrics(p, g, mask=band)["abs_rel"],
        "abs_rel_flat": depth_metrics(p, g, mask=valid & ~band)["abs_rel"],
        "flying_edge": (flying & band).sum().item() / band.sum().item(),
        "band_fraction": band.sum().item() / valid.sum().item(),
    }


def remove_depth_discontinuities(depth: Any, rel_jump: float = DEFAULT_REL_JUMP, dilation: int = 1) -> Any:
    """Invalidate (set to 0) pixels at depth jumps and ``dilation`` pixels around them (chapter 13).

    Smeared edges are ramps a few pixels wide, so every step of the ramp is a jump; dropping
    them removes the flying points at the price of holes along object outlines.

    Args:
        depth: H x W or B x 1 x H x W depth in metres.
        rel_jump: see :func:`depth_discontinuities`.
        dilation: extra pixels removed around each jump.
    Returns:
        The depth with those pixels set to 0, same shape and type.
    """
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 0:
        raise ValueError(f"dilation must be a non-negative integer, got {dilation!r}")
    d = scalar_map(depth, "depth")
    drop = _dilate(depth_discontinuities(d, rel_jump), dilation)
    return _out(torch.where(drop, torch.zeros_like(d), d), depth)


def box_filter(x: Tensor, radius: int) -> Tensor:
    """Mean over the (2r+1) x (2r+1) window of each pixel, clipped at the image border.

    Args:
        x: B x C x H x W.
        radius: window radius r in pixels.
    Returns:
        B x C x H x W.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.dim() != 4 or 0 in x.shape:
        raise ValueError(f"x must be B x C x H x W with no empty dimension, got shape {shape_str(x)}")
    check_finite(x, "x")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    k = 2 * radius + 1
    return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: Any, src: Any, radius: int = 4, eps: float = 1e-3) -> Any:
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
        The filtered map, the shape and type of ``src``.
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
    mean_I = box_filter(I, radius)  # B x C x H x W
    mean_p = box_filter(p, radius)  # B x 1 x H x W
    cov_Ip = box_filter(I * p, radius) - mean_I * mean_p  # B x C x H x W
    outer = (I[:, :, None] * I[:, None]).reshape(b, c * c, h, w)
    sigma = box_filter(outer, radius).reshape(b, c, c, h, w) - mean_I[:, :, None] * mean_I[:, None]
    sigma = sigma.permute(0, 3, 4, 1, 2) + eps * torch.eye(c, dtype=p.dtype, device=p.device)  # B x H x W x C x C
    a = torch.linalg.solve(sigma, cov_Ip.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2)  # B x C x H x W
    b_ = mean_p - (a * mean_I).sum(1, keepdim=True)
    q = (box_filter(a, radius) * I).sum(1, keepdim=True) + box_filter(b_, radius)
    return _out(q, src)


def mean_field_crf(
    unary: Any,
    image: Any,
    radius: int = 2,
    sigma_xy: float = 2.0,
    sigma_rgb: float = 0.1,
    weight: float = 1.0,
    truncation: float = 2.0,
    iterations: int = 5,
) -> Any:
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
    return like_input(Q, unary)
