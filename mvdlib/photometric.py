"""The photometric (view-synthesis) error that self-supervised depth networks train on (chapter 13).

SfMLearner (Zhou et al., CVPR 2017) and GeoNet (Yin and Shi, CVPR 2018) learn depth from video without
depth labels: a depth map ``D`` of the reference view and the relative pose warp a source view into the
reference, and the loss is how much the warped image differs from the reference::

    pe(p) = 1/C sum_c |I_ref,c(p) - I_src,c(pi(K (R D(p) K^-1 p~ + t)))|,

averaged over the pixels that land inside the source image (SfMLearner's view-synthesis loss, eq. 1,
with one source view and no explainability mask). The warp is chapter 2's
:func:`mvdlib.data.synthetic.warp_to_reference` (bilinear sampling); this module only sets its inputs
up for an arbitrary depth hypothesis. Where the image has no texture every depth warps a pixel onto the
same colour and ``pe`` cannot tell depths apart: the reason these methods add a smoothness prior
(:mod:`mvdlib.smoothness`).

Conventions (``book/conventions.md``): ``T_src_ref`` maps reference-camera points into the source camera;
images are C x H x W, depth H x W in metres (0 or non-finite: invalid).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mvdlib._validation import as_tensor, check_finite, check_shape, intrinsics, rigid_pose, shape_str
from mvdlib.data.synthetic import warp_to_reference
from mvdlib.geometry import invert_pose

__all__ = ["photometric_error", "photometric_error_vs_depth", "photometric_loss"]


def _images(ref: Tensor, src: Tensor) -> tuple[Tensor, Tensor]:
    r, s = as_tensor(ref, "ref"), as_tensor(src, "src")
    check_shape(r, "C H W", "ref")
    check_finite(r, "ref")
    check_finite(s, "src")
    if s.shape != r.shape:
        raise ValueError(f"src must have ref's shape C x H x W {shape_str(r)}, got {shape_str(s)}")
    return r, s.to(r)


def photometric_error(ref: Tensor, src: Tensor, K: Tensor, T_src_ref: Tensor, depth: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pixel view-synthesis error ``pe(p)`` of a depth hypothesis (module docstring).

    Args:
        ref, src: C x H x W reference and source images (any range; the error is in the same units).
        K: 3 x 3 intrinsics shared by both views, pixels.
        T_src_ref: 4 x 4 rigid transform, reference camera -> source camera.
        depth: H x W depth hypothesis of the reference view, metres (differentiable).
    Returns:
        ``(error, valid)``: H x W mean absolute difference over the channels, and the H x W bool mask of
        pixels with a valid depth that land inside the source image (the error elsewhere is meaningless).
    """
    r, s = _images(ref, src)
    d = as_tensor(depth, "depth")
    if d.shape != r.shape[-2:]:
        raise ValueError(f"depth must be H x W {tuple(r.shape[-2:])} like ref, got {shape_str(d)}")
    Kt = intrinsics(K, "K")[0].to(r)
    T = rigid_pose(T_src_ref, "T_src_ref")[0].to(r)
    sample = {
        "src_images": s[None],
        "K": Kt,
        "T_world_ref": torch.eye(4, dtype=r.dtype, device=r.device),  # the reference camera is the world frame
        "T_world_srcs": invert_pose(T)[None],
        "ref_depth": d.to(r)[None],
    }
    warped, valid = warp_to_reference(sample, view=0)
    return (r - warped).abs().mean(0), valid


def photometric_loss(ref: Tensor, src: Tensor, K: Tensor, T_src_ref: Tensor, depth: Tensor) -> Tensor:
    """SfMLearner's view-synthesis loss: :func:`photometric_error` averaged over its valid pixels.

    Args: as :func:`photometric_error`.
    Returns:
        A scalar tensor, differentiable with respect to ``depth`` (and the images).
    Raises:
        ValueError: when no pixel is valid (the hypothesis sends every pixel outside the source).
    """
    error, valid = photometric_error(ref, src, K, T_src_ref, depth)
    if not valid.any():
        raise ValueError("depth sends no pixel inside the source image: the photometric loss is undefined")
    return error[valid].mean()


def photometric_error_vs_depth(ref: Tensor, src: Tensor, K: Tensor, T_src_ref: Tensor, depths: Tensor) -> Tensor:
    """:func:`photometric_error` of every pixel for each of D constant depth hypotheses.

    A constant depth map is a fronto-parallel plane, so for each pixel this is its error curve over depth,
    what a self-supervised network's loss says about that pixel's depth (chapter 13's figure).

    Args:
        ref, src, K, T_src_ref: as :func:`photometric_error`.
        depths: D positive depths, metres.
    Returns:
        D x H x W errors; NaN where the pixel lands outside the source image at that depth.
    """
    r, _ = _images(ref, src)
    z = as_tensor(depths, "depths").to(r)
    check_shape(z, "D", "depths")
    if z.numel() == 0 or not (torch.isfinite(z).all() and (z > 0).all()):
        raise ValueError(f"depths must be D >= 1 finite, positive values, got {z.tolist()}")
    out = []
    for value in z:
        error, valid = photometric_error(ref, src, K, T_src_ref, torch.full(r.shape[-2:], float(value), dtype=r.dtype))
        out.append(torch.where(valid, error, torch.nan))
    return torch.stack(out)
