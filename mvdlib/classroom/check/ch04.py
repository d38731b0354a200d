"""Checks of chapter 4 (up-sampling, FCRN): taps of a transposed convolution, the fast up-convolution."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.layers import interleave, unpool_zeros

__all__ = ["exercise_4_1", "exercise_4_2"]


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
