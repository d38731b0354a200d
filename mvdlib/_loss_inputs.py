"""What every depth loss does with its input: the valid pixels, a checked prediction/target pair, a masked mean.

Shared by :mod:`mvdlib.losses`, :mod:`mvdlib.relative_losses` and :mod:`mvdlib.smoothness`
(conventions in ``book/conventions.md``): a target pixel that is ``0`` or non-finite is
invalid (:func:`mvdlib.conventions.valid_depth`); an optional mask follows the one mask rule
(:func:`mvdlib.conventions.as_mask`) and can only remove pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mvdlib._validation import depth_map, scalar_map, shape_str, value_checks_enabled
from mvdlib.conventions import as_mask, valid_depth


def valid_mask(target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Pixels a loss uses: target finite and > 0, and ``mask`` where given.

    Args:
        target: B x 1 x H x W depth or inverse depth (``H x W``, ``B x H x W`` accepted).
        mask: optional, same shape as ``target``; bool, or numbers that are 0 or 1.
    Returns:
        B x 1 x H x W bool.

    Example:
        >>> valid_mask(torch.tensor([[2.0, 0.0, float("nan")]]), torch.tensor([[1, 1, 1]])).flatten().tolist()
        [True, False, False]
    """
    return _valid_mask(depth_map(target, "target"), mask)


def _valid_mask(t: Tensor, mask: Tensor | None) -> Tensor:
    """The kernel of :func:`valid_mask` for a checked B x 1 x H x W target."""
    valid = valid_depth(t)
    if mask is None:
        return valid
    ndim = mask.dim() if isinstance(mask, Tensor) else np.ndim(mask)
    shape = {2: t.shape[-2:], 3: (t.shape[0], *t.shape[-2:])}.get(ndim, t.shape)
    m = as_mask(mask, tuple(shape), "mask").reshape(t.shape)
    return valid & m.to(valid.device)


def _pair(pred: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Validate a prediction/target pair; return them (target in pred's dtype) and the valid mask."""
    p = scalar_map(pred, "pred")
    t = depth_map(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {shape_str(p)} and {shape_str(t)}")
    valid = _valid_mask(t, mask).to(p.device)
    t = t.to(dtype=p.dtype, device=p.device)
    if value_checks_enabled() and (valid & ~torch.isfinite(p)).any():
        raise ValueError("pred must be finite at valid pixels, got NaN or inf")
    return p, t, valid


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` over ``valid``; 0 (attached to the graph) when nothing is valid."""
    kept = torch.where(valid, values, torch.zeros_like(values))
    return kept.sum() / valid.sum().clamp(min=1)


def _log_pair(pred: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """log(pred), log(target) (0 at invalid pixels) and the valid mask; checks positivity."""
    p, t, valid = _pair(pred, target, mask)
    if value_checks_enabled() and (valid & (p <= 0)).any():
        raise ValueError(
            f"pred must be positive at valid pixels for a log loss (predict depth, e.g. exp of the "
            f"network output), got minimum {p[valid].min().item():.4g}"
        )
    one = torch.ones((), dtype=p.dtype, device=p.device)
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    log_p = torch.where(valid, torch.log(torch.where(valid, p, one)), zero)
    log_t = torch.where(valid, torch.log(torch.where(valid, t, one)), zero)
    return log_p, log_t, valid
