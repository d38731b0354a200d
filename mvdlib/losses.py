"""Loss functions for depth prediction (chapters 3 and 5).

Conventions (DESIGN.md §3): depth and inverse-depth maps are ``B x 1 x H x W`` (``H x W``
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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    depth_map,
    like_input,
    positive_float,
    positive_int,
    scalar_map,
    shape_str,
)
from mvdlib.conventions import check_seed

__all__ = [
    "BERHU_C_FRACTION",
    "EIGEN_LAMBDA",
    "GEONET_ALPHA",
    "berhu_loss",
    "berhu_penalty",
    "downsample_target",
    "edge_aware_smoothness",
    "huber_loss",
    "huber_penalty",
    "l1_loss",
    "l2_loss",
    "multiscale_inverse_depth_l1",
    "ordinal_loss",
    "ordinal_error",
    "sample_pixel_pairs",
    "scale_shift_invariant_loss",
    "scale_invariant_loss",
    "scale_invariant_loss_pairwise",
    "second_order_smoothness",
    "valid_mask",
]

# Eigen et al. 2014, section 3.2: "we use lambda = 0.5" for training; lambda = 1 is the
# fully scale-invariant error of eq. 2, lambda = 0 the element-wise L2 error in log space.
EIGEN_LAMBDA = 0.5
# Laina et al. 2016 (FCRN), eq. 2: the BerHu threshold c = 1/5 of the largest absolute
# error in the current batch.
BERHU_C_FRACTION = 0.2
# GeoNet's edge weight exp(-|grad I|) acts on images scaled to [-1, 1] (``image * 2 - 1`` in
# its preprocessing, Yin and Shi 2018); on images in [0, 1] the same weight is exp(-2 |grad I|).
GEONET_ALPHA = 2.0
# How the multi-scale loss brings the full-resolution target to a coarser scale.
DOWNSAMPLE_MODES = ("nearest", "masked_mean")


# ---- input handling ---------------------------------------------------------------------


def valid_mask(target: Any, mask: Any = None) -> Tensor:
    """Pixels a loss uses: target finite and > 0, and ``mask`` where given.

    Args:
        target: B x 1 x H x W depth or inverse depth (``H x W``, ``B x H x W`` accepted).
        mask: optional, same shape as ``target``; bool, or numbers that are 0 or 1.
    Returns:
        B x 1 x H x W bool.
    """
    t = depth_map(target, "target")
    valid = torch.isfinite(t) & (t > 0)
    if mask is None:
        return valid
    m = as_tensor(mask, "mask") if not (isinstance(mask, Tensor) and mask.dtype == torch.bool) else mask
    if m.dtype != torch.bool:
        if not ((m == 0) | (m == 1)).all():
            raise ValueError("mask must be boolean or contain only 0 and 1")
        m = m != 0
    if m.dim() == 2:
        m = m[None, None]
    elif m.dim() == 3:
        m = m[:, None]
    if m.shape != t.shape:
        raise ValueError(f"mask must have the shape of target {shape_str(t)}, got {shape_str(m)}")
    return valid & m.to(valid.device)


def _pair(pred: Any, target: Any, mask: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Validate a prediction/target pair; return them (target in pred's dtype) and the valid mask."""
    p = scalar_map(pred, "pred")
    t = depth_map(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {shape_str(p)} and {shape_str(t)}")
    valid = valid_mask(t, mask).to(p.device)
    t = t.to(dtype=p.dtype, device=p.device)
    if not torch.isfinite(p[valid]).all():
        raise ValueError("pred must be finite at valid pixels, got NaN or inf")
    return p, t, valid


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` over ``valid``; 0 (attached to the graph) when nothing is valid."""
    kept = torch.where(valid, values, torch.zeros_like(values))
    return kept.sum() / valid.sum().clamp(min=1)


# ---- element-wise penalties -------------------------------------------------------------


def huber_penalty(error: Tensor, delta: float = 1.0) -> Tensor:
    """Huber's penalty: ``e^2 / 2`` for ``|e| <= delta``, ``delta (|e| - delta / 2)`` above (chapter 5).

    Args:
        error: residuals of any shape.
        delta: the threshold between the quadratic and the linear part (> 0).
    Returns:
        The penalty, same shape as ``error``.
    """
    delta = positive_float(delta, "delta")
    e = as_tensor(error, "error")
    a = e.abs()
    return like_input(torch.where(a <= delta, 0.5 * e**2, delta * (a - 0.5 * delta)), error)


def berhu_penalty(error: Tensor, c: float | Tensor) -> Tensor:
    """The reverse Huber (BerHu) penalty of FCRN: ``|e|`` for ``|e| <= c``, ``(e^2 + c^2) / 2c`` above.

    Laina et al. 2016, eq. 2 (chapter 5). Continuous with a continuous first derivative
    at ``|e| = c`` (both branches give ``c`` and slope ``sign(e)`` there).

    Args:
        error: residuals of any shape.
        c: the threshold, >= 0 (``c = 0`` gives the L1 penalty).
    Returns:
        The penalty, same shape as ``error``.
    """
    raw, error = error, as_tensor(error, "error")
    if not isinstance(c, (int, float, Tensor)) or isinstance(c, bool):
        raise TypeError(f"c must be a number or a 0-d tensor, got {type(c).__name__}")
    c = torch.as_tensor(c, dtype=error.dtype, device=error.device)
    if c.dim() != 0 or not torch.isfinite(c) or c < 0:
        raise ValueError(f"c must be a finite non-negative number, got {c.tolist()}")
    a = error.abs()
    # The quadratic branch is only selected where |e| > c >= 0; a clamped c keeps the
    # unselected branch finite, so torch.where does not leak NaN gradients when c = 0.
    c_safe = c.clamp(min=torch.finfo(error.dtype).tiny)
    return like_input(torch.where(a <= c, a, (error**2 + c**2) / (2 * c_safe)), raw)


# ---- regression losses ------------------------------------------------------------------


def l1_loss(pred: Any, target: Any, mask: Any = None) -> Tensor:
    """Mean absolute error over valid pixels (chapter 5).

    Args:
        pred, target: B x 1 x H x W; target 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.
    """
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean((p - t).abs(), valid)


def l2_loss(pred: Any, target: Any, mask: Any = None) -> Tensor:
    """Mean squared error over valid pixels (chapter 5). Args and Returns as :func:`l1_loss`."""
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean((p - t) ** 2, valid)


def huber_loss(pred: Any, target: Any, delta: float = 1.0, mask: Any = None) -> Tensor:
    """Huber loss averaged over valid pixels; equals ``torch.nn.functional.huber_loss`` (chapter 5).

    Args:
        pred, target: B x 1 x H x W; target 0 or non-finite is invalid.
        delta: threshold between the quadratic and the linear part (> 0), in the units of depth.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.
    """
    p, t, valid = _pair(pred, target, mask)
    return _masked_mean(huber_penalty(p - t, delta), valid)


def berhu_loss(pred: Any, target: Any, c: float | None = None, mask: Any = None) -> Tensor:
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
    """
    p, t, valid = _pair(pred, target, mask)
    error = p - t
    if c is None:
        abs_valid = error.detach().abs()[valid]
        c = BERHU_C_FRACTION * abs_valid.max() if abs_valid.numel() else 0.0
    return _masked_mean(berhu_penalty(error, c), valid)


# ---- scale-invariant loss (Eigen et al. 2014) -------------------------------------------


def _log_pair(pred: Any, target: Any, mask: Any) -> tuple[Tensor, Tensor, Tensor]:
    """log(pred), log(target) (0 at invalid pixels) and the valid mask; checks positivity."""
    p, t, valid = _pair(pred, target, mask)
    if (p[valid] <= 0).any():
        raise ValueError(
            f"pred must be positive at valid pixels for a log loss (predict depth, e.g. exp of the "
            f"network output), got minimum {p[valid].min().item():.4g}"
        )
    one = torch.ones((), dtype=p.dtype, device=p.device)
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    log_p = torch.where(valid, torch.log(torch.where(valid, p, one)), zero)
    log_t = torch.where(valid, torch.log(torch.where(valid, t, one)), zero)
    return log_p, log_t, valid


def scale_invariant_loss(pred: Any, target: Any, mask: Any = None, lam: float = EIGEN_LAMBDA) -> Tensor:
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
    """
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


def scale_invariant_loss_pairwise(pred: Any, target: Any, mask: Any = None) -> Tensor:
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


# ---- relative depth: ordinal and scale-and-shift-invariant losses ------------------------

# Chen et al. 2016 call two points "equal" in depth when the annotators did; on measured depth we
# call them equal when their depths differ by less than this ratio (2 %).
ORDINAL_EQUAL_TOL = 0.02


def sample_pixel_pairs(height: int, width: int, num: int, seed: int = 0) -> Tensor:
    """``num`` random pairs of distinct pixels, as flat indices into ``H * W`` (chapter 5).

    Returns:
        num x 2 int64, each row ``(i, j)`` with ``i != j``.
    """
    height, width, num = positive_int(height, "height"), positive_int(width, "width"), positive_int(num, "num")
    if height * width < 2:
        raise ValueError(f"height * width must be at least 2 for a pair, got {height} x {width}")
    g = torch.Generator().manual_seed(check_seed(seed))
    i = torch.randint(height * width, (num,), generator=g)
    j = (i + torch.randint(1, height * width, (num,), generator=g)) % (height * width)  # never i
    return torch.stack([i, j], dim=1)


def _ordinal_terms(pred: Any, target: Any, pairs: Any, equal_tol: float) -> tuple[Tensor, Tensor, Tensor]:
    """Predicted log-depth differences, true relations in {-1, 0, +1} and validity, each B x P."""
    log_p, log_t, valid = _log_pair(pred, target, None)
    b = log_p.shape[0]
    if not isinstance(pairs, (Tensor, np.ndarray, list, tuple)):
        raise TypeError(f"pairs must be a P x 2 integer tensor of flat pixel indices, got {type(pairs).__name__}")
    try:
        pr = torch.as_tensor(np.asarray(pairs) if not isinstance(pairs, Tensor) else pairs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"pairs must be a P x 2 integer tensor of flat pixel indices, got {pairs!r}") from err
    if pr.dim() != 2 or pr.shape[1] != 2 or pr.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"pairs must be a P x 2 integer tensor of flat pixel indices, got {shape_str(pr)} {pr.dtype}")
    n = log_p[0].numel()
    if pr.numel() and (pr.min() < 0 or pr.max() >= n):
        raise ValueError(f"pairs must index pixels in [0, {n}), got range [{pr.min().item()}, {pr.max().item()}]")
    pr = pr.to(log_p.device).long()
    lp, lt, v = (x.reshape(b, -1) for x in (log_p, log_t, valid))  # B x HW
    dp = lp[:, pr[:, 0]] - lp[:, pr[:, 1]]  # B x P
    dt = lt[:, pr[:, 0]] - lt[:, pr[:, 1]]
    tol = torch.log1p(torch.tensor(positive_float(equal_tol, "equal_tol"), dtype=lp.dtype))
    relation = torch.where(dt.abs() < tol, torch.zeros_like(dt), torch.sign(dt))
    return dp, relation, v[:, pr[:, 0]] & v[:, pr[:, 1]]


def ordinal_loss(pred: Any, target: Any, pairs: Any, equal_tol: float = ORDINAL_EQUAL_TOL) -> Tensor:
    """Chen et al.'s ranking loss for relative depth ("Depth perception in the wild", 2016; chapter 5).

    For each pair ``(i, j)`` the truth says only which point is farther: ``r = +1`` when
    ``d_i > d_j``, ``-1`` when nearer, ``0`` when their depths differ by less than
    ``equal_tol`` (relative). With ``z`` the predicted log depth, the pair costs::

        log(1 + exp(-r (z_i - z_j)))   if r != 0,        (z_i - z_j)^2   if r = 0,

    averaged over the pairs valid in both maps and over the batch. Only the order of the
    true depths enters, never their values.

    Args:
        pred: B x 1 x H x W predicted depth, positive at valid pixels.
        target: B x 1 x H x W true depth (0 or non-finite = invalid); only its order is used.
        pairs: P x 2 flat pixel indices (:func:`sample_pixel_pairs`), the same for every image.
        equal_tol: relative depth difference below which a pair counts as equal.
    Returns:
        Scalar tensor.
    """
    dp, relation, valid = _ordinal_terms(pred, target, pairs, equal_tol)
    cost = torch.where(relation == 0, dp**2, F.softplus(-relation * dp))  # softplus(x) = log(1 + e^x)
    return _masked_mean(cost, valid)


def ordinal_error(pred: Any, target: Any, pairs: Any, equal_tol: float = ORDINAL_EQUAL_TOL) -> float:
    """Share of the unequal valid pairs whose predicted order is wrong (chapter 5).

    Invariant to any increasing transform of ``pred``: the measure the ordinal loss serves.

    Args:
        pred, target, pairs, equal_tol: as in :func:`ordinal_loss`.
    Returns:
        A float in [0, 1].
    """
    dp, relation, valid = _ordinal_terms(pred, target, pairs, equal_tol)
    counted = valid & (relation != 0)
    wrong = counted & (torch.sign(dp) != relation)
    return float(wrong.sum() / counted.sum().clamp(min=1))


def scale_shift_invariant_loss(pred: Any, target: Any, mask: Any = None) -> Tensor:
    """MiDaS's scale-and-shift-invariant MSE on inverse depth (Ranftl et al. 2022, eqs. 2-4; chapter 5).

    Per image, the prediction is first aligned to the target by the least-squares scale and
    shift, ``(a, b) = argmin sum_i (a p_i + b - t_i)^2`` (closed form), then::

        L = 1/(2 n) sum_i (a p_i + b - t_i)^2

    over the ``n`` valid pixels, averaged over the batch. Any ``a p + b`` with ``a != 0`` scores
    as well as ``p`` (even ``a < 0``: the alignment flips it back). The loss asks for inverse
    depth up to an unknown scale and shift, which is all that mixed datasets (stereo,
    structure from motion, films) can supervise.

    Args:
        pred: B x 1 x H x W predicted inverse depth (or disparity), any real values.
        target: B x 1 x H x W true inverse depth; 0 or non-finite is invalid.
        mask: optional extra mask, same shape as ``target``.
    Returns:
        Scalar tensor.
    """
    p, t, valid = _pair(pred, target, mask)
    per_image = []
    for pi, ti, vi in zip(p, t, valid, strict=True):
        x, y = pi[vi], ti[vi]  # n, n
        if x.numel() < 2:
            continue
        xc, yc = x - x.mean(), y - y.mean()
        a = (xc * yc).sum() / (xc * xc).sum().clamp_min(torch.finfo(x.dtype).tiny)
        b = y.mean() - a * x.mean()
        per_image.append(((a * x + b - y) ** 2).mean() / 2)
    if not per_image:
        return 0 * p.sum()
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
    """
    if mode not in DOWNSAMPLE_MODES:
        raise ValueError(f"mode must be one of {DOWNSAMPLE_MODES}, got {mode!r}")
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
    preds: Sequence[Tensor], target_inv_depth: Any, mask: Any = None, mode: str = "nearest"
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
    """
    if isinstance(preds, Tensor) or not isinstance(preds, Sequence) or len(preds) == 0:
        raise ValueError(f"preds must be a non-empty list of Bx1xhxw tensors, got {type(preds).__name__}")
    t = depth_map(target_inv_depth, "target_inv_depth")
    valid = valid_mask(t, mask)
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


# ---- smoothness (GeoNet, SfMLearner) ----------------------------------------------------


def _diff(x: Tensor, dim: int) -> Tensor:
    """Forward difference along ``dim`` (one shorter)."""
    n = x.shape[dim]
    return x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)


def _both(m: Tensor, dim: int) -> Tensor:
    """Validity of a forward difference: both pixels valid."""
    n = m.shape[dim]
    return m.narrow(dim, 1, n - 1) & m.narrow(dim, 0, n - 1)


def _smoothness_input(disp: Any, mask: Any) -> tuple[Tensor, Tensor]:
    d = scalar_map(disp, "disp")
    if d.shape[-1] < 3 or d.shape[-2] < 3:
        raise ValueError(f"disp must be at least 3x3 pixels, got shape {shape_str(d)}")
    if not torch.isfinite(d).all():
        raise ValueError("disp must be finite, got NaN or inf")
    if mask is None:
        return d, torch.ones_like(d, dtype=torch.bool)
    return d, valid_mask(torch.ones_like(d), mask).to(d.device)


def edge_aware_smoothness(disp: Any, image: Any, mask: Any = None, alpha: float = GEONET_ALPHA) -> Tensor:
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


def second_order_smoothness(disp: Any, mask: Any = None) -> Tensor:
    """SfMLearner's second-order smoothness: mean ``|second differences|`` of disparity (chapter 5)::

        L = mean |d2D/dx2| + mean |d2D/dxdy| + mean |d2D/dydx| + mean |d2D/dy2|

    (Zhou et al. 2017): planes, which have zero second derivatives, cost nothing.

    Args:
        disp: B x 1 x H x W disparity or inverse depth.
        mask: optional B x 1 x H x W; a difference counts where all its pixels are valid.
    Returns:
        Scalar tensor.
    """
    d, m = _smoothness_input(disp, mask)
    total = 0 * d.sum()
    for first in (3, 2):
        d1, m1 = _diff(d, first), _both(m, first)
        for second in (3, 2):
            total = total + _masked_mean(_diff(d1, second).abs(), _both(m1, second))
    return total
