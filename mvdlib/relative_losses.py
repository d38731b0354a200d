"""Losses for relative depth: the order of two pixels, or depth up to a scale and a shift (chapter 5).

Chen et al. 2016 supervise only which of two points is farther (:func:`ordinal_loss`);
MiDaS (Ranftl et al. 2022) compares inverse depth after the best scale and shift
(:func:`scale_shift_invariant_loss`). Inputs and reductions follow :mod:`mvdlib.losses`
(``book/conventions.md``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._loss_inputs import _log_pair, _masked_mean, _pair
from mvdlib._validation import positive_float, positive_int, shape_str
from mvdlib.conventions import check_seed

__all__ = [
    "ORDINAL_EQUAL_TOL",
    "ordinal_error",
    "ordinal_loss",
    "sample_pixel_pairs",
    "scale_shift_invariant_loss",
]

# Chen et al. 2016 call two points "equal" in depth when the annotators did; on measured depth we
# call them equal when their depths differ by less than this ratio (2 %).
ORDINAL_EQUAL_TOL = 0.02


def sample_pixel_pairs(height: int, width: int, num: int, seed: int = 0) -> Tensor:
    """``num`` random pairs of distinct pixels, as flat indices into ``H * W`` (chapter 5).

    Returns:
        num x 2 int64, each row ``(i, j)`` with ``i != j``.

    Example:
        >>> pairs = sample_pixel_pairs(4, 5, num=3, seed=0)
        >>> pairs.shape, bool((pairs[:, 0] != pairs[:, 1]).all())
        (torch.Size([3, 2]), True)
    """
    height, width, num = positive_int(height, "height"), positive_int(width, "width"), positive_int(num, "num")
    if height * width < 2:
        raise ValueError(f"height * width must be at least 2 for a pair, got {height} x {width}")
    g = torch.Generator().manual_seed(check_seed(seed))
    i = torch.randint(height * width, (num,), generator=g)
    j = (i + torch.randint(1, height * width, (num,), generator=g)) % (height * width)  # never i
    return torch.stack([i, j], dim=1)


def _ordinal_terms(pred: Tensor, target: Tensor, pairs: Tensor, equal_tol: float) -> tuple[Tensor, Tensor, Tensor]:
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


def ordinal_loss(pred: Tensor, target: Tensor, pairs: Tensor, equal_tol: float = ORDINAL_EQUAL_TOL) -> Tensor:
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

    Example:
        >>> target = torch.tensor([[1.0, 2.0, 4.0]])
        >>> pairs = torch.tensor([[0, 1], [1, 2]])
        >>> ordinal_loss(target, target, pairs) < ordinal_loss(1 / target, target, pairs)  # right order costs less
        tensor(True)
    """
    dp, relation, valid = _ordinal_terms(pred, target, pairs, equal_tol)
    cost = torch.where(relation == 0, dp**2, F.softplus(-relation * dp))  # softplus(x) = log(1 + e^x)
    return _masked_mean(cost, valid)


def ordinal_error(pred: Tensor, target: Tensor, pairs: Tensor, equal_tol: float = ORDINAL_EQUAL_TOL) -> float:
    """Share of the unequal valid pairs whose predicted order is wrong (chapter 5).

    Invariant to any increasing transform of ``pred``: the measure the ordinal loss serves.

    Args:
        pred, target, pairs, equal_tol: as in :func:`ordinal_loss`.
    Returns:
        A float in [0, 1].

    Example:
        >>> target = torch.tensor([[1.0, 2.0, 4.0]])
        >>> pairs = torch.tensor([[0, 1], [1, 2]])
        >>> ordinal_error(target**3, target, pairs), ordinal_error(1 / target, target, pairs)
        (0.0, 1.0)
    """
    dp, relation, valid = _ordinal_terms(pred, target, pairs, equal_tol)
    counted = valid & (relation != 0)
    wrong = counted & (torch.sign(dp) != relation)
    return float(wrong.sum() / counted.sum().clamp(min=1))


def scale_shift_invariant_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
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

    Example:
        >>> target = torch.tensor([[0.5, 1.0, 2.0]])
        >>> float(scale_shift_invariant_loss(3 * target + 1, target)) < 1e-10  # scale and shift cost nothing
        True
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
