"""Checks of chapter 4 (up-sampling, FCRN): transposed-convolution taps, the fast up-convolution, its parameters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mvdlib.classroom.check._answers import as_array, as_number, close, private_rng
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.layers import UpProjection, interleave, unpool_zeros

__all__ = ["exercise_4_1", "exercise_4_2", "exercise_4_5"]


def _taps_by_convolution(k: int, s: int) -> list[int]:
    """Kernel taps landing on interior outputs ``o`` with ``o % s == r``, r = 0..s-1, from ``conv_transpose1d``."""
    n = 4 * k + 4
    out = F.conv_transpose1d(
        torch.ones(1, 1, n, dtype=torch.float64), torch.ones(1, 1, k, dtype=torch.float64), stride=s
    )
    interior = range(k, s * (n - 1) + 1)  # outputs every input position could reach
    counts: dict[int, int] = {}
    for o in interior:
        counts.setdefault(o % s, round(out[0, 0, o].item()))
    return [counts[r] for r in range(s)]


@exercise("4.1", passed="Each residue r gets ceil((k - r) / s) taps: even only when s divides k.")
def exercise_4_1(taps_per_output: Callable) -> None:
    """``taps_per_output(k, s)``: the list, over residues r = 0..s-1, of taps reaching output ``s j + r``."""
    for k, s in ((3, 2), (4, 2), (5, 2), (2, 2), (5, 3), (7, 4), (6, 3)):
        got = call(taps_per_output, k, s, name="taps_per_output")
        got = as_array(got, f"taps_per_output({k}, {s})", None).ravel()
        expected = _taps_by_convolution(k, s)
        if got.shape == (s,) and (got == expected).all():
            continue
        if got.shape != (s,):
            raise Hint(
                f"taps_per_output({k}, {s}) should list one count per residue r = 0..{s - 1}, got {got.size} numbers"
            )
        if (got == k // s).all():
            raise Hint(
                f"for k={k}, s={s}: k // s rounds down and misses the extra taps; residue r gets "
                "the taps t = r, r + s, ... below k"
            )
        if np.all(got == got[0]):
            raise Hint(f"for k={k}, s={s} the counts differ between residues: {expected}")
        raise Hint(f"for k={k}, s={s} the taps per residue are {expected}, you have {got.astype(int).tolist()}")


@exercise("4.2", passed="Four small convolutions give the unpool-then-convolve result exactly.")
def exercise_4_2(fast_upconv: Callable) -> None:
    """``fast_upconv(x, w)`` against ``F.conv2d(unpool_zeros(x), w, padding=2)``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    expected = F.conv2d(unpool_zeros(x), w, padding=2)  # 2 x 4 x 10 x 14
    got = as_array(call(fast_upconv, x.clone(), w.clone(), name="fast_upconv"), "the output", tuple(expected.shape))
    if close(got, expected, atol=1e-8):
        return
    phases = [expected[..., r::2, c::2] for r in (0, 1) for c in (0, 1)]  # ee, eo, oe, oo
    if close(got, interleave(phases[0], phases[2], phases[1], phases[3]), atol=1e-8):
        raise Hint(
            "the even-row/odd-column and odd-row/even-column results are swapped: output (2i, 2j + 1) "
            "takes the kernel taps w[:, :, 0::2, 1::2]"
        )
    wrong = torch.as_tensor(got)
    right = [
        (r, c) for r in (0, 1) for c in (0, 1) if close(wrong[..., r::2, c::2], expected[..., r::2, c::2], atol=1e-8)
    ]
    if right:
        raise Hint(
            f"only the phases (row, column parity) {right} are right; the two-tap directions read input "
            "rows i and i + 1, so drop the first padded row or column for them"
        )
    raise Hint(
        f"your output differs from F.conv2d(unpool_zeros(x), w, padding=2) by up to "
        f"{np.abs(got - expected.numpy()).max():.3g}; each output parity uses one quarter of the kernel"
    )


def _up_projection_count(c_in: int, c_out: int, mistake: str = "") -> int:
    """Parameters of the up-projection with BatchNorm by the formula, or as a typical mistake counts them."""
    up, conv, bn = 25 * c_in * c_out, 9 * c_out * c_out, 2 * c_out  # a 5 x 5 up-convolution, a 3 x 3, one BN
    counts = {
        "": 2 * up + conv + 3 * bn,
        "no projection": up + conv + 2 * bn,
        "buffers": 2 * up + conv + 3 * 2 * bn,
        "no batchnorm": 2 * up + conv,
        "biases": 2 * up + conv + 3 * bn + 3 * c_out,
        "3x3 up": 2 * 9 * c_in * c_out + conv + 3 * bn,
        "conv from c_in": 2 * up + 9 * c_in * c_out + 3 * bn,
    }
    return counts[mistake]


@exercise("4.5", passed="Two 5 x 5 up-convolutions, one 3 x 3 convolution, three BatchNorms, no biases.")
def exercise_4_5(up_projection_params: Callable) -> None:
    """``up_projection_params(c_in, c_out)``: parameters of FCRN's up-projection block, against the module."""
    for c_in, c_out in ((64, 32), (8, 4), (3, 5), (16, 16)):
        got = as_number(call(up_projection_params, c_in, c_out, name="up_projection_params"), "the count")
        with private_rng(0):  # building the module draws initial weights; keep the student's generator
            expected = sum(p.numel() for p in UpProjection(c_in, c_out).parameters())
        if got == expected:
            continue
        for mistake, hint in (
            ("no projection", "the projection branch (a second 5 x 5 up-convolution and its BatchNorm) counts too"),
            ("buffers", "BatchNorm's running mean and variance are buffers, not parameters: 2 per channel"),
            ("no batchnorm", "each of the three BatchNorms learns a scale and a shift per output channel"),
            ("biases", "a convolution followed by BatchNorm has no bias (BatchNorm's shift replaces it)"),
            ("3x3 up", "FCRN's up-convolution is 5 x 5 on the unpooled map: 25 c_in c_out weights"),
            ("conv from c_in", "the 3 x 3 convolution reads the c_out channels of the up-convolution: 9 c_out^2"),
        ):
            if got == _up_projection_count(c_in, c_out, mistake):
                raise Hint(f"for c_in = {c_in}, c_out = {c_out}: {hint}")
        raise Hint(f"for c_in = {c_in}, c_out = {c_out} the block has {expected:,} parameters, you count {got:,.0f}")
