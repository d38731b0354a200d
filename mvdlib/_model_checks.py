"""Checks of a network before inference (chapter 10): its interface, eval mode and finite weights.

Private helpers of :mod:`mvdlib.inference`, kept apart so that module stays one concern.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _check_network(model: object) -> nn.Module:
    """An ``nn.Module`` with MVDepthNet's interface (``num_depths``, ``input_size``)."""
    if not isinstance(model, nn.Module) or not hasattr(model, "num_depths") or not hasattr(model, "input_size"):
        raise TypeError(
            f"model must be an MVDepthNet (an nn.Module with num_depths and input_size), got {type(model).__name__}"
        )
    return model


def _training_module(model: nn.Module) -> str | None:
    """The name of ``model`` (``""``) if in training mode, else of its first mode-dependent module in training mode.

    Mode-dependent: modules with running statistics (BatchNorm and the like) and dropout;
    ``None`` when there is none.
    """
    if model.training:
        return ""
    return next(
        (
            name
            for name, m in model.named_modules()
            if m.training and (hasattr(m, "running_mean") or isinstance(m, nn.modules.dropout._DropoutNd))
        ),
        None,
    )


def _check_eval_mode(model: nn.Module) -> None:
    """Refuse a model in training mode, or with a BatchNorm or dropout module in training mode, naming it."""
    name = _training_module(model)
    if name is not None:
        where = "model" if name == "" else f"module {name} of model"
        raise ValueError(
            f"model must be in eval mode (call model.eval()): {where} is in training mode, where BatchNorm "
            "would normalise with this one image's statistics and dropout would drop features"
        )


class _UncopyableModelError(ValueError):
    """The model cannot be deep-copied, so no folded copy can be made (predict then runs it unfolded)."""


def _check_weights(model: nn.Module) -> Tensor:
    """The first parameter of a model whose floating parameters and buffers are all finite (names the others).

    One ``isfinite`` pass over the weights and one device sync: a NaN weight, or a negative
    BatchNorm ``running_var`` (its square root is NaN), would otherwise give an all-NaN
    prediction without a word.
    """
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError("model must have parameters (its weights give the device and dtype), got none")
    named = [
        (name, t)
        for name, t in [*model.named_parameters(), *model.named_buffers()]
        if t.is_floating_point() and t.numel()
    ]
    variances = [(name, t) for name, t in named if name.rsplit(".", 1)[-1] == "running_var"]
    checks = [torch.isfinite(t).all() for _, t in named] + [(t >= 0).all() for _, t in variances]
    ok = torch.stack([c.to(first.device) for c in checks]).tolist()
    bad = [name for (name, _), good in zip(named, ok[: len(named)], strict=True) if not good]
    if bad:
        raise ValueError(f"model must have finite weights, got NaN or inf in {bad[:5]}")
    negative = [name for (name, _), good in zip(variances, ok[len(named) :], strict=True) if not good]
    if negative:
        raise ValueError(f"model's BatchNorm running_var must not be negative, got negative values in {negative[:5]}")
    return first
