"""Checks of chapter 5 (depth losses): BerHu, the masked-mean pyramid, scale-and-shift alignment, the ordinal loss."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mvdlib.classroom.check._answers import as_array, close, diagnose
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.losses import berhu_penalty, downsample_target, huber_penalty
from mvdlib.relative_losses import ordinal_loss

__all__ = ["exercise_5_1", "exercise_5_3", "exercise_5_5", "exercise_5_6"]


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


def alignment_case() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs (p, t) of predicted and true inverse depth: a noisy affine map, and one with a negative scale."""
    g = torch.Generator().manual_seed(5)
    t = 0.15 + torch.rand(200, generator=g, dtype=torch.float64)  # 1/m, depths 0.9 m to 6.7 m
    noise = 0.05 * torch.randn(200, generator=g, dtype=torch.float64)
    skewed = t**1.5  # a prediction whose spread and correlation differ: moments and least squares disagree
    return [(2.5 * t - 0.4 + noise, t), (skewed + 3 * noise, t), (1.0 - 0.7 * t + noise, t)]


def _fit(p: torch.Tensor, t: torch.Tensor, how: str) -> list[float]:
    """(a, b) of the least-squares alignment and of the typical mistakes."""
    pc, tc = p - p.mean(), t - t.mean()
    if how == "swapped":
        a = (pc * tc).sum() / (tc * tc).sum()
    elif how == "uncentred":
        a = (p * t).sum() / (p * p).sum()
    elif how == "moments":
        a = t.std() / p.std()
    elif how == "median":
        mp, mt = p.median(), t.median()
        a = (t - mt).abs().mean() / (p - mp).abs().mean()
        return [float(a), float(mt - a * mp)]
    else:
        a = (pc * tc).sum() / (pc * pc).sum()
    return [float(a), float(t.mean() - a * p.mean())]


@exercise("5.5", passed="The normal equations give a = cov(p, t) / var(p) and b = mean(t) - a mean(p).")
def exercise_5_5(align_scale_shift: Callable) -> None:
    """``align_scale_shift(p, t)``: the least-squares (a, b) minimising sum (a p + b - t)^2, against ``np.polyfit``."""
    for p, t in alignment_case():
        got = as_array(call(align_scale_shift, p.clone(), t.clone(), name="align_scale_shift"), "(a, b)").ravel()
        if got.shape != (2,):
            raise Hint(f"return two numbers, the scale a and the shift b, got {got.size}")
        expected = np.polyfit(p.numpy(), t.numpy(), 1)  # [a, b], an independent least-squares solver
        if close(got, expected, rtol=1e-6, atol=1e-9):
            continue
        if close(got[1], 0.0) and not close(expected[1], 0.0):
            raise Hint("the shift b is a second unknown: set the derivatives by a and by b both to zero")
        diagnose(
            got,
            {
                "you divided by sum (t - mean t)^2: that regresses p on t; the scale that maps p onto t is "
                "sum (p - mean p)(t - mean t) / sum (p - mean p)^2": _fit(p, t, "swapped"),
                "a = sum p t / sum p^2 is the best scale without a shift; with b free, centre p and t first: "
                "a = sum (p - mean p)(t - mean t) / sum (p - mean p)^2": _fit(p, t, "uncentred"),
                "matching the spreads (std t / std p) ignores how p and t co-vary, and never gives a negative "
                "scale; least squares gives a = cov(p, t) / var(p)": _fit(p, t, "moments"),
                "that is MiDaS's robust median / mean-absolute-deviation alignment; this exercise asks for the "
                "least-squares one": _fit(p, t, "median"),
            },
            rtol=1e-6,
            atol=1e-9,
        )
        raise Hint(
            f"got (a, b) = ({got[0]:.4g}, {got[1]:.4g}), the least-squares fit is ({expected[0]:.4g}, "
            f"{expected[1]:.4g}): set d/da and d/db of sum (a p + b - t)^2 to zero and solve"
        )


ORDINAL_CASES = [(1.2, 0.4, 1), (0.3, 0.9, 1), (0.5, 0.2, -1), (0.0, 1.5, -1), (0.7, 0.55, 0), (-0.2, 0.3, 0)]


def _ordinal_reference(z_i: float, z_j: float, r: int) -> tuple[float, float]:
    """Loss and d loss / d z_i of one pair, from :func:`ordinal_loss` and autograd (depths exp z)."""
    z = torch.tensor([z_i, z_j], dtype=torch.float64, requires_grad=True)
    target = torch.tensor({1: [2.0, 1.0], -1: [1.0, 2.0], 0: [1.0, 1.0]}[r], dtype=torch.float64)
    loss = ordinal_loss(z.exp().view(1, 1, 1, 2), target.view(1, 1, 1, 2), torch.tensor([[0, 1]]))
    loss.backward()
    assert z.grad is not None
    return float(loss.detach()), float(z.grad[0])


@exercise("5.6", passed="A pair in the right order still costs a little: the loss keeps pushing the two apart.")
def exercise_5_6(ordinal_pair: Callable) -> None:
    """``ordinal_pair(z_i, z_j, r)``: (loss, d loss / d z_i) of one pair, against ``ordinal_loss`` and autograd."""
    for z_i, z_j, r in ORDINAL_CASES:
        got = as_array(call(ordinal_pair, z_i, z_j, r, name="ordinal_pair"), "(loss, gradient)").ravel()
        if got.shape != (2,):
            raise Hint(f"return two numbers, the loss and its derivative by z_i, got {got.size}")
        loss, grad = _ordinal_reference(z_i, z_j, r)
        if close(got, [loss, grad], rtol=1e-6, atol=1e-9):
            continue
        x = -r * (z_i - z_j)
        where = f"for z_i = {z_i}, z_j = {z_j}, r = {r}"
        if not close(got[0], loss, rtol=1e-6, atol=1e-9):
            if r == 0:
                diagnose(got[0], {f"{where}: an equal pair costs (z_i - z_j)^2, not log 2": float(np.log(2.0))})
            diagnose(
                got[0],
                {
                    f"{where}: the sign is reversed; log(1 + exp(-r (z_i - z_j))) is small when the order is "
                    "right": float(np.log1p(np.exp(-x))),
                },
                rtol=1e-6,
            )
            raise Hint(f"{where} the loss is {loss:.4g}, you have {got[0]:.4g}")
        sigma = 1 / (1 + np.exp(-x))  # sigmoid(x), the derivative of log(1 + e^x)
        diagnose(
            got[1],
            {
                f"{where}: the gradient has the wrong sign; descending it must move z_i towards the true order": -grad,
                f"{where}: d/dx log(1 + e^x) is the sigmoid e^x / (1 + e^x) at x = -r (z_i - z_j), not at "
                "-x; then times the inner derivative -r": float(-r * (1 - sigma)),
                f"{where}: d/dz_i (z_i - z_j)^2 = 2 (z_i - z_j)": float(z_i - z_j),
            },
            rtol=1e-6,
        )
        raise Hint(f"{where} the derivative by z_i is {grad:.4g}, you have {got[1]:.4g}")
