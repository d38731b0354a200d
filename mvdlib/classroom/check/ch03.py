"""Checks of chapter 3 (single-image depth): the loss of a scaled prediction, receptive fields."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.losses import scale_invariant_loss

__all__ = ["exercise_3_2", "exercise_3_3"]

#: The fine network of Eigen et al. 2014 (chapter 3), input to output: (kernel, stride) per layer.
FINE_LAYERS = ((9, 2), (2, 2), (5, 1), (5, 1))


@exercise("3.2", passed="For y = s y* the loss is (1 - lambda) (log s)^2.")
def exercise_3_2(loss_of_scale: Callable) -> None:
    """``loss_of_scale(s, lam)`` against :func:`scale_invariant_loss` of ``s * y*`` and ``y*``."""
    target = torch.rand(2, 1, 6, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 9 + 1
    for s, lam in ((2.0, 0.5), (0.25, 0.0), (3.0, 1.0), (1.5, 0.8)):
        got = float(as_array(call(loss_of_scale, s, lam, name="loss_of_scale"), "the loss", ()))
        expected = scale_invariant_loss(s * target, target, lam=lam).item()
        if close(got, expected, atol=1e-9):
            continue
        log_s = math.log(s)
        if close(got, (1 - lam) * log_s):
            raise Hint("the loss is quadratic in the log error e_i = log s: square it, (1 - lambda) (log s)^2")
        if close(got, log_s**2):
            raise Hint(
                "the scale term -lambda/n^2 (sum e_i)^2 is missing: with every e_i = log s it removes lambda (log s)^2"
            )
        if close(got, lam * log_s**2):
            raise Hint(
                "1/n sum e_i^2 = (log s)^2 and the scale term removes lambda of it, leaving (1 - lambda) (log s)^2"
            )
        if close(got, (1 - lam) * math.log10(s) ** 2):
            raise Hint("the loss uses natural logarithms (np.log), not log10")
        raise Hint(f"for s = {s}, lambda = {lam} the loss is {expected:.4f}, you have {got:.4f}; all e_i equal log s")


def _field_by_autograd(layers: tuple[tuple[int, int], ...]) -> int:
    """Width of the input window one output pixel depends on, found with autograd (1-D convolutions)."""
    convs = [nn.Conv1d(1, 1, k, stride=s, bias=False) for k, s in layers]
    for conv in convs:
        nn.init.ones_(conv.weight)  # positive weights: no tap cancels another
    stack = nn.Sequential(*convs).double()
    size = 1
    for k, s in layers:
        size = size * s + k  # an input comfortably wider than the field
    x = torch.zeros(1, 1, 4 * size, dtype=torch.float64, requires_grad=True)
    out = stack(x)
    out[0, 0, out.shape[-1] // 2].backward()
    if x.grad is None:  # x requires grad and out depends on it
        raise RuntimeError("autograd gave no gradient for the input")
    hit = torch.nonzero(x.grad[0, 0]).flatten()
    return int(hit.max() - hit.min() + 1)


@exercise("3.3", passed="Each layer adds (k - 1) times the product of the strides before it.")
def exercise_3_3(receptive_field: Callable) -> None:
    """``receptive_field(layers)`` for lists of ``(kernel, stride)``, against autograd."""
    for layers in (FINE_LAYERS, ((3, 1), (3, 1), (3, 1)), ((2, 2), (2, 2), (2, 2)), ((3, 2), (3, 2)), ((7, 4), (3, 1))):
        got = call(receptive_field, list(layers), name="receptive_field")
        got = float(as_array(got, "the receptive field", ()))
        expected = _field_by_autograd(layers)
        if got == expected:
            continue
        if got == 1 + sum(k - 1 for k, _ in layers):
            raise Hint(
                f"for {list(layers)} you added the kernels as if every stride were 1; behind a stride-s "
                "layer one step of the next layer covers s input pixels"
            )
        jump_after, field = 1, 1
        for k, s in layers:
            jump_after *= s
            field += (k - 1) * jump_after
        if got == field:
            raise Hint(
                f"for {list(layers)} you multiplied each kernel by its own stride too; a layer's taps are "
                "spaced by the product of the strides of the layers *before* it"
            )
        raise Hint(f"for {list(layers)} the window is {expected} input pixels wide, you have {got:g}")
