"""Checks for chapter 8, initialization: the leaky-ReLU Kaiming std and a hand-written Kaiming fan-in."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mvdlib.classroom.check._answers import as_number, close, diagnose, private_rng
from mvdlib.classroom.check._core import Hint, NotAttempted, call, exercise

__all__ = ["exercise_8_1", "exercise_8_3"]

# (fan_in, negative slope a) pairs the std is checked at: a 3x3 conv over 64 channels, ...
STD_CASES = ((576, 0.2), (64, 0.01), (27, 0.5))


@exercise("8.1", passed="Var[w] = 2 / ((1 + a^2) n): the leaky ReLU keeps a share a^2 of the negative half.")
def exercise_8_1(leaky_relu_std: Any) -> None:
    """``leaky_relu_std(fan_in, a)``: the weight std that keeps activations' scale through leaky ReLUs."""
    for n, a in STD_CASES:
        got = as_number(call(leaky_relu_std, n, a, name="leaky_relu_std"), f"leaky_relu_std({n}, {a})")
        expected = nn.init.calculate_gain("leaky_relu", a) / math.sqrt(n)  # PyTorch's gain, independent
        if close(got, expected, rtol=1e-6):
            continue
        diagnose(
            got,
            {
                "that is the variance 2 / ((1 + a^2) n); the std is its square root": expected**2,
                "E[f(y)^2] = (1 + a^2) / 2 Var[y]: the negative half is scaled by a, so its square by a^2, "
                "not a": math.sqrt(2 / ((1 + a) * n)),
                "that is the plain ReLU's std sqrt(2 / n); the leaky slope a lets a^2 of the negative half "
                "through": math.sqrt(2 / n),
                "the 2 is missing: a ReLU-like unit passes only about half its input's second moment": math.sqrt(
                    1 / ((1 + a**2) * n)
                ),
            },
            rtol=1e-6,
        )
        raise Hint(
            f"leaky_relu_std({n}, {a}) = {got:.4g}; redo the forward derivation with E[f(y)^2] for f(y) = max(y, a y)"
        )


def _scrambled() -> nn.Sequential:
    """A small network whose parameters are all set to wrong constants, for my_init to repair."""
    net = nn.Sequential(nn.Conv2d(32, 96, 3), nn.BatchNorm2d(96), nn.ReLU(), nn.Conv2d(96, 8, 5))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.37)
    return net


@exercise("8.3", passed="Your convolutions have Var[w] = 2 / fan_in and BatchNorm starts as a pure standardisation.")
def exercise_8_3(my_init: Any) -> None:
    """``my_init(module)``: Kaiming-normal fan-in weights, zero biases, BatchNorm weight 1 and bias 0, in place."""
    if not callable(my_init):
        raise Hint(f"my_init should be a function, got {type(my_init).__name__}")
    with private_rng(0):
        net = _scrambled()  # building layers draws from the generator too
        returned = my_init(net)  # works in place; what it returns does not matter
    if returned is None and all(bool((p == 0.37).all()) for p in net.parameters()):
        raise NotAttempted  # the stub: it changed nothing
    for i in (0, 3):
        conv = net[i]
        w = conv.weight.detach().double()
        k = conv.kernel_size[0] * conv.kernel_size[1]
        fan_in, fan_out = conv.in_channels * k, conv.out_channels * k
        ratio = w.var().item() / (2.0 / fan_in)
        se = math.sqrt(2.0 / (w.numel() - 1))  # relative standard error of a sample variance
        if w.std().item() == 0:
            raise Hint(f"the weights of net[{i}] are all equal; draw them with torch.randn and scale them")
        if abs(ratio - 1) > 4 * se:
            diagnose(
                ratio,
                {
                    "you used the fan-out (out_channels * k * k); this exercise asks for the fan-in": fan_in / fan_out,
                    "you scaled by the variance 2 / n; multiply randn by the std sqrt(2 / n)": 2.0 / fan_in,
                    "the fan-in counts the kernel too: n = in_channels * k * k": k,
                    "the ReLU's factor 2 is missing: Var[w] = 2 / fan_in": 0.5,
                },
                rtol=8 * se,
            )
            raise Hint(
                f"net[{i}]'s weight variance is {ratio:.3g} times 2 / fan_in ({fan_in} = {conv.in_channels} x {k})"
            )
        if abs(w.mean().item()) > 4 * w.std().item() / math.sqrt(w.numel()):
            raise Hint(f"net[{i}]'s weights are not centred on 0 (mean {w.mean().item():.3g})")
        if conv.bias is not None and bool(conv.bias.detach().abs().max() > 0):
            raise Hint("the convolutions' biases should be 0")
    bn = net[1]
    if not (bool((bn.weight == 1).all()) and bool((bn.bias == 0).all())):
        raise Hint("BatchNorm layers should start with weight 1 and bias 0 (standardise only)")
