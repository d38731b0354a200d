"""Checks for chapter 10, MVDepthNet's architecture: parameters of a block, and the receptive field."""

from __future__ import annotations

from typing import Any

from mvdlib.classroom.check._answers import as_number, diagnose, private_rng
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.layers import conv_layer

__all__ = ["exercise_10_3", "exercise_10_5"]

# (in_channels, out_channels, kernel) of blocks of the paper's network: conv1.0, conv5.0, iconv1.
COUNT_CASES = ((67, 128, 7), (512, 512, 3), (65, 64, 3))
# (kernel, stride) chains: the encoder to conv3 and to conv5 (chapter 10), and a made-up one.
FIELD_CASES = (
    [(7, 1), (7, 2), (5, 1), (5, 2), (3, 1), (3, 2)],
    [(7, 1), (7, 2), (5, 1), (5, 2)] + [(3, 1), (3, 2)] * 3,
    [(3, 2), (3, 2), (5, 1), (1, 2), (3, 1)],
)


@exercise("10.3", passed="k*k*c_in*c_out weights and 2 per channel for BatchNorm: no bias.")
def exercise_10_3(count: Any) -> None:
    """``count(in_c, out_c, k)``: learned parameters of a bias-free k x k convolution followed by BatchNorm."""
    for c_in, c_out, k in COUNT_CASES:
        got = as_number(call(count, c_in, c_out, k, name="count"), f"count({c_in}, {c_out}, {k})")
        with private_rng(0):  # building the layer draws its initial weights
            expected = sum(p.numel() for p in conv_layer(c_in, c_out, k).parameters())  # PyTorch counts them
        if got == expected:
            continue
        weights = c_in * c_out * k * k
        diagnose(
            got,
            {
                "BatchNorm is missing: it learns a scale gamma and a shift beta per output channel": weights,
                "these convolutions have no bias (BatchNorm's beta is the shift): drop the + out_c": weights
                + 3 * c_out,
                "a k x k kernel has k * k weights per input and output channel, not k": c_in * c_out * k + 2 * c_out,
                "BatchNorm's running mean and variance are buffers, not learned parameters: 2 per channel": weights
                + 4 * c_out,
            },
            rtol=0,
            atol=0.5,
        )
        raise Hint(f"count({c_in}, {c_out}, {k}) should be {expected:,}, got {got:,.0f}")


def _field(layers: list[tuple[int, int]], jump_first: bool = False, use_jump: bool = True) -> int:
    """r_l = r_{l-1} + (k_l - 1) j_{l-1}, j_l = j_{l-1} s_l; the switches give the typical mistakes."""
    r, j = 1, 1
    for k, s in layers:
        if jump_first:
            j *= s
        r += (k - 1) * (j if use_jump else 1)
        if not jump_first:
            j *= s
    return r


@exercise("10.5", passed="Each layer widens the field by (k - 1) times the spacing of the layers before it.")
def exercise_10_5(receptive_field: Any) -> None:
    """``receptive_field(layers)``: receptive field in input pixels of a chain of (kernel, stride) layers."""
    for layers in FIELD_CASES:
        got = as_number(call(receptive_field, list(layers), name="receptive_field"), "receptive_field(layers)")
        # Closed form, independent of the recursion: r = 1 + sum_l (k_l - 1) prod_{m < l} s_m.
        expected, spacing = 1, 1
        for k, s in layers:
            expected, spacing = expected + (k - 1) * spacing, spacing * s
        if got == expected:
            continue
        diagnose(
            got,
            {
                "each layer adds (k - 1) pixels of *its input's* spacing j, the product of the strides "
                "before it; you added k - 1": _field(layers, use_jump=False),
                "you multiplied the jump by this layer's stride before using it; a layer's stride only "
                "spreads the layers after it": _field(layers, jump_first=True),
            },
            rtol=0,
            atol=0.5,
        )
        raise Hint(f"for {layers} the receptive field is {expected} pixels, got {got:.0f}")
