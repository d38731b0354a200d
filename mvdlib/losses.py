"""Loss functions for depth prediction (chapters 3, 5 and 11): regression, scale-invariant, multi-scale.

Conventions (``book/conventions.md``): depth and inverse-depth maps are ``B x 1 x H x W`` (``H x W``
and ``B x H x W`` are accepted too); a target pixel that is ``0`` or non-finite is
invalid and never enters a loss. An optional ``mask`` (bool, or 0/1 numbers, same shape
as the target) removes more pixels; it can never add back an invalid target pixel.

Reductions: the regression losses (L1, L2, Huber, BerHu, and each scale of the
multi-scale loss) average over all valid pixels of the batch, as
``torch.nn.functional.*_loss(reduction="mean")`` does; the scale-invariant loss is a
per-image quantity (it removes each image's own scale) and is averaged over the images
that have a valid pixel. With no valid pixel at all a loss is ``0`` (still attached to
the graph, so ``backward`` works and gives zero gradients).

The element-wise penalties (``huber_penalty``, ``berhu_penalty``) are public so that a
chapter can apply the very same formula to residuals of a curve fit.

The losses for relative depth (ordinal, scale-and-shift-invariant) are in
:mod:`mvdlib.relative_losses`, the smoothness terms in :mod:`mvdlib.smoothness`; their
names stay importable from here.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._loss_inputs import _log_pair, _masked_mean, _pair, _valid_mask, valid_mask
from mvdlib._validation import (
    as_tensor,
    check_choice,
    depth_map,
    numpy_in_out,
    positive_float,
    scalar_map,
    shape_str,
    value_checks_enabled,
)
from mvdlib.relative_losses import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    ORDINAL_EQUAL_TOL,
    ordinal_error,
    ordinal_loss,
    sample_pixel_pairs,
    scale_shift_invariant_loss,
)
from mvdlib.smoothness import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    GEONET_ALPHA,
    edge_aware_smoothness,
    second_order_smoothness,
)

__all__ = [
    "BERHU_C_FRACTION",
    "DOWNSAMPLE_MODES",
    "EIGEN_LAMBDA",
    "berhu_loss",
    "berhu_penalty",
    "downsample_target",
    "huber_loss",
    "huber_penalty",
    "l1_loss",
    "l2_loss",
    "multiscale_inverse_depth_l1",
    "scale_invariant_loss",
    "scale_invariant_loss_pairwise",
    "valid_mask",
]

# Eigen et al. 2014, section 3.2: "we use lambda = 0.5" for training; lambda = 1 is the
# fully scale-invariant error of eq. 2, lambda = 0 the element-wise L2 error in log space.
EIGEN_LAMBDA = 0.5
# Laina et al. 2016 (FCRN), eq. 2: the BerHu threshold c = 1/5 of the largest absolute
# error in the current batch.
BERHU_C_FRACTION = 0.2
# How the multi-scale loss brings the full-resolution target to a coarser scale.
DOWNSAMPLE_MODES = ("nearest", "masked_mean")


# ---- element-wise penalties -------------------------------------------------------------


@numpy_in_out("error")
def huber_penalty(error: Tensor, delta: float = 1.0) -> Tensor:
    """Huber's penalty: ``e^2 / 2`` for ``|e| <= delta``, ``delta (|e| - delta / 2)`` above (chapter 5).

    Args:
        error: residuals of any shape.
        delta: the threshold between the quadratic and the linear part (> 0).
    Returns:
        The penalty, same shape as ``error``.

    Example:
        >>> huber_penalty(torch.tensor([0.5, 3.0])).tolist()  # quadratic, then linear
        [0.125, 2.5]
    """
    delta = positive_float(delta, "delta")
    e = as_tensor(error, "error")
    a = e.abs()
    return torch.where(a <= delta, 0.5 * e**2, delta * (a - 0.5 * delta))


@numpy_in_out("error")
def berhu_penalty(error: Tensor, c: float | Tensor) -> Tensor:
    """The reverse Huber (BerHu) penalty of FCRN: ``|e|`` for ``|e| <= c``, ``(e^2 + c^2) / 2c`` above.

    Laina et al. 2016, eq. 2 (chapter 5). Continuous with a continuous first derivative
    at ``|e| = c`` (both branches give ``c`` and slope ``sign(e)`` there).

    Args:
        error: residuals of any shape.
        c: the threshold, >= 0 (``c = 0`` gives the L1 penalty).
    Returns:
        The penalty, same shape as ``error``.

    Example:
        >>> berhu_penalty(torch.tensor([0.5, 3.0]), c=1.0).tolist()  # linear, then quadratic
        [0.5, 5.0]
    """
    error = as_tensor(error, "error")
    if not isinstance(c, (int, float, Tensor)) or isinstance(c, bool):
        raise TypeError(f"c must be a number or a 0-d tensor, got {type(c).__name__}")
    c = torch.as_tensor(c, dtype=error.dtype, device=error.device)
    if c.dim() != 0 or not torch.isfinite(c) or c < 0:
        raise ValueError(f"c must be a finite non-negative number, got {c.tolist()}")
    a = error.abs()
    # The quadratic branch is only selected where |e| > c >= 0; a clamped c keeps the
    # unselected branch finite, so torch.where does not leak NaN gradients when c = 0.
    c_safe = c.clamp(min=torch.finfo(error.dtype).tiny)
    return torch.where(a <= c, a, (error**2 + c**2) / (2 * c_safe))


# ---- regression losses ------------------------------------------------------------------


def l1_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute error over valid pixels (chapter 5).

    Args:
        pred, target: B x 1 x H x W; target 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.

    Example:
        >>> l1_loss(torch.tensor([[1.0, 2.0, 9.0]]), torch.tensor([[1.5, 2.0, 0.0]]))  # the 0 target is invalid
        tensor(0.2500)
    """
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean((p - t).abs(), valid)


def l2_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over valid pixels (chapter 5). Args and Returns as :func:`l1_loss`.

    Example:
        >>> l2_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 2.0]]))
        tensor(0.5000)
    """
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean((p - t) ** 2, valid)


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0, mask: Tensor | None = None) -> Tensor:
    """Huber loss averaged over valid pixels; equals ``torch.nn.functional.huber_loss`` (chapter 5).

    Args:
        pred, target: B x 1 x H x W; target 0 or non-finite is invalid.
        delta: threshold between the quadratic and the linear part (> 0), in the units of depth.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.

    Example:
        >>> huber_loss(torch.tensor([[1.0, 5.0]]), torch.tensor([[1.5, 2.0]]))  # (0.125 + 2.5) / 2
        tensor(1.3125)
    """
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean(huber_penalty(p - t, delta), valid)


def berhu_loss(pred: Tensor, target: Tensor, c: float | None = None, mask: Tensor | None = None) -> Tensor:
    """FCRN's reverse Huber loss averaged over valid pixels (Laina et al. 2016, eq. 2; chapter 5).

    By default ``c = 0.2 max |pred - target|`` over the valid pixels of the whole batch,
    as FCRN sets it. That ``c`` is *detached*: it is a threshold chosen per batch, not a
    quantity to optimise (a gradient through the max would reach one pixel only).

    Args:
        pred, target: B x 1 x H x W; target 0 or non-finite is invalid.
        c: a fixed threshold (>= 0) instead of the per-batch rule.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.

    Example:
        >>> berhu_loss(torch.tensor([[1.0, 5.0]]), torch.tensor([[1.5, 2.0]]), c=1.0)  # (0.5 + 5) / 2
        tensor(2.7500)
    """
    p, t, valid = _pair(pred, target, mask)
    error = p - t
    if c is None:
        abs_valid = error.detach().abs()[valid]
        c = BERHU_C_FRACTION * abs_valid.max() if abs_valid.numel() else 0.0
    return _masked_mean(berhu_penalty(error, c), valid)


# ---- scale-invariant loss (Eigen et al. 2014) -------------------------------------------


def scale_invariant_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, lam: float = EIGEN_LAMBDA) -> Tensor:
    """Eigen's scale-invariant log loss, O(n) form (Eigen et al. 2014, eq. 4; chapter 3).

    With ``e_i = log pred_i - log target_i`` over the ``n`` valid pixels of one image,

        L = 1/n sum_i e_i^2 - lam / n^2 (sum_i e_i)^2,

    computed per image and averaged over the images of the batch. ``lam = 1`` is the
    paper's eq. 3, equal to the pairwise error of eq. 2 (:func:`scale_invariant_loss_pairwise`) and ignores a global
    scale of ``pred``; ``lam = 0`` is the plain L2 error of log depth; Eigen trained with 0.5.

    Args:
        pred: B x 1 x H x W predicted depth, positive at valid pixels.
        target: B x 1 x H x W ground-truth depth; 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target``.
        lam: the weight of the scale term, in [0, 1].
    Returns:
        Scalar tensor.

    Example:
        >>> target = torch.tensor([[1.0, 2.0, 4.0]])
        >>> float(scale_invariant_loss(3 * target, target, lam=1.0)) < 1e-12  # a global scale costs nothing
        True
    """
    if isinstance(lam, bool) or not isinstance(lam, (numbers.Real, Tensor)):
        raise TypeError(f"lam must be a number in [0, 1], got {type(lam).__name__}")
    lam_f = float(lam)
    if not 0.0 <= lam_f <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    log_p, log_t, valid = _log_pair(pred, target, mask)
    d = log_p - log_t  # B x 1 x H x W, 0 at invalid pixels
    n = valid.flatten(1).sum(1).to(d.dtype)  # B
    n_safe = n.clamp(min=1)
    per_image = (d**2).flatten(1).sum(1) / n_safe - lam_f * d.flatten(1).sum(1) ** 2 / n_safe**2  # B
    has_pixels = n > 0
    return _masked_mean(per_image, has_pixels)


def scale_invariant_loss_pairwise(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Eigen's scale-invariant error in its pairwise O(n^2) form (Eigen et al. 2014, eq. 2; chapter 3).

        D = 1 / (2 n^2) sum_{i,j} ((log y_i - log y_j) - (log y*_i - log y*_j))^2

    It compares every pair of pixels: only depth *ratios* matter. For teaching and
    tests: memory grows as n^2 per image (keep images small, a few thousand pixels).

    Args:
        pred: B x 1 x H x W predicted depth, positive at valid pixels.
        target: B x 1 x H x W ground-truth depth; 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor, the mean over images with a valid pixel.

    Example:
        >>> target = torch.tensor([[1.0, 2.0, 4.0]])
        >>> float(scale_invariant_loss_pairwise(3 * target, target)) < 1e-12
        True
    """
    log_p, log_t, valid = _log_pair(pred, target, mask)
    per_image = []
    for b in range(log_p.shape[0]):
        lp = log_p[b][valid[b]]  # n
        lt = log_t[b][valid[b]]  # n
        if lp.numel() == 0:
            continue
        pair_diff = (lp[:, None] - lp[None, :]) - (lt[:, None] - lt[None, :])  # n x n
        per_image.append((pair_diff**2).sum() / (2 * lp.numel() ** 2))
    if not per_image:
        return 0 * log_p.sum()
    return torch.stack(per_image).mean()


# ---- multi-scale inverse-depth L1 (MVDepthNet) ------------------------------------------


def downsample_target(target: Tensor, valid: Tensor, size: tuple[int, int], mode: str = "nearest") -> Tensor:
    """Bring a full-resolution target to a coarser ``size``; invalid pixels come out as 0.

    ``"nearest"`` picks, for each coarse pixel, the fine pixel nearest its centre
    (``F.interpolate(mode="nearest-exact")``): values are real measurements, never blends
    of a foreground and a background across a depth edge, and an invalid pick stays
    invalid. ``"masked_mean"`` averages the valid fine pixels under each coarse pixel
    (area-weighted), which uses every measurement but blends across depth edges.

    Args:
        target: B x 1 x H x W.
        valid: B x 1 x H x W bool, the pixels that may be used.
        size: the coarse ``(h, w)``.
        mode: ``"nearest"`` or ``"masked_mean"``.
    Returns:
        B x 1 x h x w, 0 where no valid pixel was available.

    Example:
        >>> target = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
        >>> downsample_target(target, target > 0, (2, 2), mode="masked_mean").flatten().tolist()
        [3.5, 5.5, 11.5, 13.5]
    """
    check_choice(mode, "mode", DOWNSAMPLE_MODES)
    target = scalar_map(target, "target")
    if not isinstance(valid, Tensor) or valid.dtype != torch.bool or valid.shape != target.shape:
        got = f"{type(valid).__name__} {getattr(valid, 'dtype', '')} {shape_str(valid)}"
        raise ValueError(f"valid must be a bool tensor of target's shape {shape_str(target)}, got {got}")
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be two positive integers (h, w), got {size!r}")
    size = (int(size[0]), int(size[1]))
    if size[0] > target.shape[-2] or size[1] > target.shape[-1]:
        raise ValueError(f"size must not exceed target's {tuple(target.shape[-2:])} (it only shrinks), got {size}")
    if value_checks_enabled() and bool((valid & ~(target >= 0)).any()):
        raise ValueError("target must be finite and non-negative (an inverse depth or a depth) where valid")
    clean = torch.where(valid, target, torch.zeros_like(target))
    if tuple(size) == tuple(target.shape[-2:]):
        return clean
    if mode == "nearest":
        return F.interpolate(clean, size=size, mode="nearest-exact")
    w = valid.to(target.dtype)
    total = F.interpolate(clean, size=size, mode="area")
    weight = F.interpolate(w, size=size, mode="area")
    return torch.where(weight > 0, total / weight.clamp(min=torch.finfo(target.dtype).tiny), 0 * total)


def multiscale_inverse_depth_l1(
    preds: Sequence[Tensor], target_inv_depth: Tensor, mask: Tensor | None = None, mode: str = "nearest"
) -> Tensor:
    """MVDepthNet's loss: the sum over scales of the mean absolute inverse-depth error::

        L = sum_s 1/n_s sum_i |xi_si - 1/d_si|      (Wang and Shen 2018, eq. 2; chapter 5)

    The target (and mask) is brought to each prediction's size with
    :func:`downsample_target` (``mode="nearest"`` by default, like the original's
    nearest-neighbour resizing of the ground truth, so no invalid or background pixel is
    blended in); ``n_s`` counts the valid pixels at scale ``s`` over the whole batch.

    Args:
        preds: a sequence of B x 1 x h_s x w_s predicted inverse depths, finest first
            (MVDepthNet gives 4: full, 1/2, 1/4, 1/8 resolution).
        target_inv_depth: B x 1 x H x W ground-truth inverse depth in 1/m at full
            resolution; 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target_inv_depth``.
        mode: ``"nearest"`` or ``"masked_mean"`` (see :func:`downsample_target`).
    Returns:
        Scalar tensor.

    Example:
        >>> target = torch.full((1, 1, 4, 4), 0.5)
        >>> multiscale_inverse_depth_l1([torch.full((1, 1, 4, 4), 0.6), torch.full((1, 1, 2, 2), 0.5)], target)
        tensor(0.1000)
    """
    if isinstance(preds, Tensor) or not isinstance(preds, Sequence) or len(preds) == 0:
        raise ValueError(f"preds must be a non-empty list of Bx1xhxw tensors, got {type(preds).__name__}")
    t = depth_map(target_inv_depth, "target_inv_depth")
    valid = _valid_mask(t, mask)
    total = None
    for s, pred in enumerate(preds):
        p = scalar_map(pred, f"preds[{s}]")
        if p.shape[0] != t.shape[0]:
            raise ValueError(f"preds[{s}] must have batch size {t.shape[0]}, got shape {shape_str(p)}")
        size = tuple(p.shape[-2:])
        if size[0] > t.shape[-2] or size[1] > t.shape[-1]:
            raise ValueError(f"preds[{s}] must not be larger than the target {shape_str(t)}, got {shape_str(p)}")
        t_s = downsample_target(t.to(device=p.device, dtype=p.dtype), valid.to(p.device), size, mode)
        term = l1_loss(p, t_s)  # t_s is 0 where invalid, so l1_loss masks it
        total = term if total is None else total + term
    return total
