"""Checks of chapter 5 (depth losses): the BerHu penalty, the masked-mean target pyramid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.losses import berhu_penalty, downsample_target, huber_penalty

__all__ = ["exercise_5_1", "exercise_5_3"]


@exercise("5.1", passed="Linear below c, (e^2 + c^2) / 2c above: continuous at |e| = c.")
def exercise_5_1(berhu: Callable) -> None:
    """``berhu(e, c)`` (element-wise penalty of a tensor of residuals) against :func:`berhu_penalty`."""
    e = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64)
    for c in (0.5, 1.0, 2.2):
        got = as_array(call(berhu, e.clone(), c, name="berhu"), f"berhu(e, {c})", tuple(e.shape))
        expected = berhu_penalty(e, c)
        if close(got, expected, atol=1e-9):
            continue
        a = e.abs()
        if close(got, torch.where(a <= c, a, e**2 / (2 * c)), atol=1e-9):
            raise Hint("your penalty jumps at |e| = c: the quadratic branch is (e^2 + c^2) / 2c, not e^2 / 2c")
        if close(got, huber_penalty(e, c), atol=1e-9):
            raise Hint(
                "that is Huber (quadratic inside, linear outside); BerHu is the reverse: |e| inside, quadratic outside"
            )
        if close(got, torch.where(e <= c, e, (e**2 + c**2) / (2 * c)), atol=1e-9):
            raise Hint("negative residuals come out negative: the penalty uses |e|")
        if close(got, expected.mean().expand_as(e), atol=1e-9):
            raise Hint("return the penalty of every residual (same shape as e), not its mean")
        raise Hint(f"for c = {c} your penalty differs from BerHu by up to {np.abs(got - expected.numpy()).max():.3g}")


@exercise("5.3", passed="Each coarse pixel averages only the valid fine pixels under it.")
def exercise_5_3(masked_mean_downsample: Callable) -> None:
    """``masked_mean_downsample(target, valid, factor)`` against ``downsample_target(mode="masked_mean")``."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 1, 16, 24, generator=g, dtype=torch.float64) + 0.1
    valid = torch.rand(2, 1, 16, 24, generator=g) > 0.3
    valid[0, 0, :4, :4] = False  # one coarse pixel with no valid fine pixel at factor 4
    for factor in (2, 4):
        size = (16 // factor, 24 // factor)
        got = call(masked_mean_downsample, target.clone(), valid.clone(), factor, name="masked_mean_downsample")
        got = as_array(got, f"the factor-{factor} target", (2, 1, *size))
        expected = downsample_target(target, valid, size, mode="masked_mean")
        if close(got, expected, atol=1e-9):
            continue
        if close(got, F.avg_pool2d(target * valid, factor), atol=1e-9):
            raise Hint(
                "invalid pixels pulled your averages towards 0: divide the sum of the valid values by "
                "the number of valid pixels, not by factor^2"
            )
        if close(got, F.avg_pool2d(target, factor), atol=1e-9):
            raise Hint("you averaged every pixel: leave the invalid ones (valid == False) out")
        if close(got, downsample_target(target, valid, size, mode="nearest"), atol=1e-9):
            raise Hint("that picks one fine pixel per coarse pixel (mode='nearest'); this exercise averages")
        raise Hint(
            f"at factor {factor} your target differs by up to {np.abs(got - expected.numpy()).max():.3g}; "
            "a coarse pixel with no valid fine pixel is 0"
        )
