"""Checks of chapter 6 (batch normalization): the running variance, BatchNorm for vectors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise

__all__ = ["exercise_6_2", "exercise_6_3"]


def _running_vars_of_torch(batch_vars: list[float], momentum: float) -> list[float]:
    """``nn.BatchNorm2d``'s running variance after each of batches whose unbiased variance is given."""
    bn = nn.BatchNorm2d(1, momentum=momentum).double()
    running_var = bn.running_var  # updated in place by each call below
    if running_var is None:  # a BatchNorm that tracks running statistics (the default) has one
        raise RuntimeError("nn.BatchNorm2d has no running_var")
    out = []
    for v in batch_vars:
        a = (v / 2) ** 0.5  # the batch (+a, -a) has mean 0 and unbiased variance 2 a^2 = v
        bn(torch.tensor([a, -a], dtype=torch.float64).view(2, 1, 1, 1))
        out.append(running_var.item())
    return out


@exercise("6.2", passed="PyTorch's momentum is the weight of the new batch: v <- (1 - m) v + m var.")
def exercise_6_2(running_var_after: Callable) -> None:
    """``running_var_after(batch_vars, momentum)``: the running variance after each step, from 1."""
    for batch_vars, momentum in (([4.0] * 12, 0.1), ([2.0, 0.5, 3.0, 1.0, 6.0], 0.3)):
        got = call(running_var_after, list(batch_vars), momentum, name="running_var_after")
        got = as_array(got, "the running variances", None).ravel()
        expected = _running_vars_of_torch(batch_vars, momentum)
        if got.shape != (len(batch_vars),):
            raise Hint(f"return the running variance after each of the {len(batch_vars)} steps, got {got.size} numbers")
        if close(got, expected, atol=1e-9):
            continue
        keras, v = [], 1.0
        for b in batch_vars:
            v = momentum * v + (1 - momentum) * b
            keras.append(v)
        if close(got, keras, atol=1e-9):
            raise Hint(
                "you gave the momentum to the old value (Keras's convention); in PyTorch momentum = 0.1 "
                "is the weight of the new batch: v <- (1 - m) v + m var"
            )
        first: list[float] = []  # the running variance started at the first batch's
        for b in batch_vars:
            first.append(b if not first else (1 - momentum) * first[-1] + momentum * b)
        if close(got, first, atol=1e-9):
            raise Hint("the running variance starts at 1 (its initial value), not at the first batch's variance")
        raise Hint(
            f"for momentum {momentum} and batch variances {batch_vars} the running variances are "
            f"{np.round(expected, 4).tolist()}"
        )


@exercise("6.3", passed="Your BatchNorm1d agrees with torch.nn.BatchNorm1d in training mode.")
def exercise_6_3(batch_norm_1d: Callable) -> None:
    """``batch_norm_1d(x, gamma, beta, eps)`` against ``nn.BatchNorm1d`` in training mode."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3 + 1
    gamma = torch.rand(5, generator=g, dtype=torch.float64) * 1.5 + 0.5
    beta = torch.rand(5, generator=g, dtype=torch.float64) * 2 - 1
    ref = nn.BatchNorm1d(5).double().train()
    with torch.no_grad():
        ref.weight.copy_(gamma)
        ref.bias.copy_(beta)
        expected = ref(x)
    got = call(batch_norm_1d, x.clone(), gamma.clone(), beta.clone(), 1e-5, name="batch_norm_1d")
    got = as_array(got, "the output", tuple(x.shape))
    if close(got, expected, atol=1e-6):
        return
    mu = x.mean(0)
    if close(got, gamma * (x - mu) / torch.sqrt(x.var(0) + 1e-5) + beta, atol=1e-6):
        raise Hint(
            "you used the unbiased variance (divided by B - 1); BatchNorm normalises with the biased one (divide by B)"
        )
    if close(
        got,
        gamma * (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, correction=0, keepdim=True) + 1e-5) + beta,
        atol=1e-6,
    ):
        raise Hint(
            "you normalised each vector over its features (that is LayerNorm); BatchNorm normalises each "
            "feature over the batch, dim=0"
        )
    if close(got, (x - mu) / torch.sqrt(x.var(0, correction=0) + 1e-5), atol=1e-6):
        raise Hint("step 4 is missing: scale by gamma and shift by beta")
    raise Hint(f"your output differs from nn.BatchNorm1d by up to {np.abs(got - expected.numpy()).max():.3g}")
