"""Checks for chapter 7, activation functions: a gradient ratio, the depth layer's slope, dead ReLUs."""

from __future__ import annotations

from typing import Any

import torch

from mvdlib.classroom.check._answers import as_answer_tensor, as_number, close, diagnose, private_rng, same_shape
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.diagnostics import apply_init, plain_stack, weight_gradient_norms

__all__ = ["exercise_7_4", "exercise_7_5", "exercise_7_6"]

# The chapter's vanishing-gradient experiment: 20 layers of width 64, a batch of 256.
DEPTH, WIDTH, BATCH = 20, 64, 256


def gradient_ratio(activation: str, scheme: str) -> float:
    """|dL/dW| of the first layer over that of the last, for the chapter's 20-layer stack."""
    x = torch.randn(BATCH, WIDTH, generator=torch.Generator().manual_seed(1))
    target = torch.randn(BATCH, WIDTH, generator=torch.Generator().manual_seed(2))
    with private_rng(0):
        net = apply_init(plain_stack([WIDTH] * (DEPTH + 1), activation), scheme)
    ((net(x) - target) ** 2).mean().backward()
    g = weight_gradient_norms(net)
    return g[0] / g[-1]


@exercise("7.4", passed="Tanh keeps the gradient alive through 20 layers.")
def exercise_7_4(ratio: Any) -> None:
    """``ratio``: first/last weight-gradient norm through the 20-layer tanh stack (Xavier)."""
    got = as_number(ratio, "ratio")
    expected = gradient_ratio("tanh", "xavier")
    if close(got, expected, rtol=1e-3):
        return
    diagnose(
        got,
        {
            "that is last / first; the exercise asks for the first layer's gradient norm over the last's, "
            "g[0] / g[-1]": 1 / expected,
            "that is the sigmoid stack's ratio: build the stack with plain_stack(..., 'tanh')": gradient_ratio(
                "sigmoid", "xavier"
            ),
            "that is the ratio with Kaiming's initialisation; the exercise uses Xavier's ('xavier')": gradient_ratio(
                "tanh", "kaiming_fan_in"
            ),
        },
        rtol=1e-3,
    )
    raise Hint(
        f"your ratio {got:.3g} is not the tanh stack's; seed with mvdlib.seed_everything(0) before "
        "plain_stack, use the chapter's x and target, and divide g[0] by g[-1]"
    )


@exercise("7.5", passed="dxi/dz = 2 sigma(z) (1 - sigma(z)), at most 1/2.")
def exercise_7_5(depth_layer_derivative: Any) -> None:
    """``depth_layer_derivative(z)``: dxi/dz of the depth layer xi = 2 sigmoid(z), in closed form."""
    z = torch.linspace(-6.0, 6.0, 25, dtype=torch.float64)
    got = as_answer_tensor(call(depth_layer_derivative, z.clone(), name="depth_layer_derivative"), "the derivative")
    zz = z.clone().requires_grad_()
    (expected,) = torch.autograd.grad((2 * torch.sigmoid(zz)).sum(), zz)  # autograd: independent of the formula
    same_shape(got, expected, "the derivative")
    if close(got, expected):
        return
    s = torch.sigmoid(z)
    diagnose(
        got,
        {
            "your slope is half the right one: xi = 2 sigma(z), so the factor 2 multiplies sigma'(z) too": s * (1 - s),
            "you applied sigma(1 - sigma) to z itself; the formula needs sigma(z): 2 sigma(z) (1 - sigma(z))": 2
            * z
            * (1 - z),
            "that is the activation, not its derivative: dxi/dz = 2 sigma(z) (1 - sigma(z))": 2 * s,
            "xi(1 - xi) is the sigmoid's rule, but xi = 2 sigma(z) is not a sigmoid; written in xi the slope is "
            "xi (2 - xi) / 2": 2 * s * (1 - 2 * s),
        },
    )
    raise Hint("your derivative differs from autograd's; differentiate 2 / (1 + exp(-z)) and write it with sigma(z)")


def probe_outputs() -> torch.Tensor:
    """ReLU outputs, 6 images x 10 channels x 5 x 5, with three dead channels and two nearly dead."""
    g = torch.Generator().manual_seed(7)
    pre = torch.randn(6, 10, 5, 5, generator=g, dtype=torch.float64)
    pre[:, :3] -= 100.0  # channels 0-2: negative everywhere, dead
    pre[:, 3] -= 100.0
    pre[0, 3, 2, 2] = 0.5  # channel 3: alive on one pixel of one image only
    pre[2, 4] -= 100.0  # channel 4: silent on image 2, alive on the others
    return torch.relu(pre)


@exercise("7.6", passed="A unit is dead only if it is zero for every input.")
def exercise_7_6(dead_fraction: Any) -> None:
    """``dead_fraction(outputs)``: share of the channels of B x C x H x W ReLU outputs that are 0 everywhere."""
    outputs = probe_outputs()
    got = as_number(call(dead_fraction, outputs.clone(), name="dead_fraction"), "dead_fraction(outputs)")
    dead = [bool((outputs[:, c] == 0).all()) for c in range(outputs.shape[1])]  # a loop over channels
    expected = sum(dead) / len(dead)
    if close(got, expected, rtol=1e-6):
        return
    zero = outputs == 0
    diagnose(
        got,
        {
            "you counted zero entries; a ReLU outputs 0 for about half its inputs and is fine. A channel is "
            "dead only if it is 0 at every pixel of every image": zero.double().mean(),
            "you counted (image, channel) pairs; a channel silent on one image is alive if any other image "
            "activates it: reduce over the batch too": zero.flatten(2).all(2).double().mean(),
            "you counted channels with some zero output; that is every channel. Count those that are 0 "
            "everywhere": zero.flatten(2).any(2).any(0).double().mean(),
            "you reduced over the wrong dimension: channels are dimension 1 of B x C x H x W": zero.transpose(0, 1)
            .flatten(2)
            .all(2)
            .any(0)
            .double()
            .mean(),
        },
    )
    raise Hint(f"got {got:.3g}; a channel is dead when (outputs[:, c] == 0) holds at every image and pixel")
