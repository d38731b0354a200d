"""The activation explorer of chapter 7: an activation f, its derivative f', and the mean gain E[f'(z)].

The pre-activations are z ~ N(0, sigma^2); E[f'(z)] is the factor by which the layer
scales a gradient on average (1/2 for ReLU whatever sigma, at most 1/4 for the sigmoid).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from mvdlib.diagnostics import activation_and_derivative, expected_derivative
from mvdlib.explorers.core import Explorer, Param, View

__all__ = ["activation_explorer"]

# Activations the explorer offers (keys of mvdlib.diagnostics.ACTIVATIONS) and the
# pre-activation standard deviations of the HTML slider (BatchNorm gives 1); live, every
# power of 2 ** 0.25 from 1/4 to 8.
EXPLORER_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "2*sigmoid")
EXPLORER_SIGMAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_Z_RANGE = 8.0  # the curves are drawn on z in [-8, 8]
_POINTS = 321


def activation_explorer(names: Sequence[str] = EXPLORER_ACTIVATIONS) -> Explorer:
    """The activation explorer: a choice of activation and a slider over sigma (chapter 7).

    Args:
        names: activations offered (keys of ``mvdlib.diagnostics.ACTIVATIONS``).
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    names = tuple(names)
    if not names:
        raise ValueError(f"names must be non-empty, got {list(names)}")
    z = torch.linspace(-_Z_RANGE, _Z_RANGE, _POINTS, dtype=torch.float64)
    curves = {n: activation_and_derivative(n, z) for n in names}  # validates the names

    @functools.cache
    def gains(sigma: float) -> str:
        return ", ".join(f"{n} {expected_derivative(n, sigma):.3f}" for n in names)

    def draw(activation: str, sigma: float) -> View:
        f, df = curves[activation]
        density = torch.exp(-0.5 * (z / sigma) ** 2)  # peak 1: only its shape matters here
        traces = [
            go.Scatter(x=z.numpy(), y=np.round(f.numpy(), 5), name=f"{activation}: f(z)"),
            go.Scatter(x=z.numpy(), y=np.round(df.numpy(), 5), name=f"{activation}: f'(z)", line={"dash": "dash"}),
            go.Scatter(
                x=z.numpy(),
                y=np.round(density.numpy(), 5),
                name="density of z (scaled)",
                fill="tozeroy",
                line={"color": "grey"},
            ),  # fmt: skip
        ]
        return View(traces, {"title": {"text": f"sigma = {sigma:g}: E[f'(z)] by activation<br>{gains(sigma)}"}})

    layout = {
        "xaxis": {"title": {"text": "pre-activation z"}},
        "yaxis": {"title": {"text": "f(z), f'(z)"}},
        "title": {"font": {"size": 13}},
        "legend": {"x": 0.01, "y": 0.99, "bgcolor": "rgba(255, 255, 255, 0.7)"},
        "margin": {"t": 90},
        "height": 480,
    }
    sigmas = [float(2.0**k) for k in np.arange(-2, 3.01, 0.25)]
    params = [
        Param("activation", names, names[0], "activation"),
        Param("sigma", sigmas, 1.0, "sigma of z", EXPLORER_SIGMAS),
    ]
    return Explorer(params, draw, layout)
