"""Interactive explorers used by the chapters (ipywidgets, for a running kernel).

Each explorer has a kernel-free twin built with plotly (sliders in the figure itself) so
that a reader of the built HTML book can explore too; see :func:`mvdlib.viz.show_plotly`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# ---- cost-slice explorer (chapter 9) -----------------------------------------------------

# ---- loss explorer (chapter 5) -----------------------------------------------------------

# ---- activation explorer (chapter 7) -----------------------------------------------------

# Activations the explorer offers (keys of mvdlib.diagnostics.ACTIVATIONS) and the
# pre-activation standard deviations its slider steps through (BatchNorm gives 1).
EXPLORER_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "2*sigmoid")
EXPLORER_SIGMAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_EXPLORER_Z_RANGE = 8.0  # the curves are drawn on z in [-8, 8]
_EXPLORER_POINTS = 321


def _activation_curves(name: str, sigma: float) -> dict:
    """f, f', the N(0, sigma^2) density (scaled to peak 1) on the explorer's z grid, and E[f']."""
    import torch

    from mvdlib.diagnostics import activation_and_derivative, expected_derivative

    z = torch.linspace(-_EXPLORER_Z_RANGE, _EXPLORER_Z_RANGE, _EXPLORER_POINTS, dtype=torch.float64)
    f, df = activation_and_derivative(name, z)
    density = torch.exp(-0.5 * (z / sigma) ** 2)  # peak 1: only its shape matters here
    return {
        "z": z.numpy(),
        "f": f.numpy(),
        "df": df.numpy(),
        "density": density.numpy(),
        "mean_gain": expected_derivative(name, sigma),
    }


def activation_explorer() -> Any:
    """An ipywidgets explorer of an activation f, its derivative f', and the mean gain E[f'(z)] (chapter 7).

    A dropdown picks the activation, a slider the standard deviation sigma of the
    pre-activations z ~ N(0, sigma^2); the title reports E[f'(z)], the factor by which the
    activation scales gradients on average. Needs a running kernel; the HTML book shows
    :func:`activation_explorer_figure` instead.

    Returns:
        The ``ipywidgets`` container (display it, or let it be a cell's last value).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    name = widgets.Dropdown(options=list(EXPLORER_ACTIVATIONS), value="sigmoid", description="activation")
    sigma = widgets.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.25, description="sigma of z")
    out = widgets.Output()

    def draw(*_: Any) -> None:
        c = _activation_curves(name.value, sigma.value)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 4))
            ax.plot(c["z"], c["f"], label="f(z)")
            ax.plot(c["z"], c["df"], "--", label="f'(z)")
            ax.fill_between(c["z"], c["density"], alpha=0.2, color="gray", label="density of z (scaled)")
            ax.set_xlabel("pre-activation z")
            ax.set_ylabel("value")
            ax.set_title(f"{name.value}, sigma = {sigma.value:.2f}: E[f'(z)] = {c['mean_gain']:.3f}")
            ax.legend(loc="upper left")
            plt.show()

    name.observe(draw, names="value")
    sigma.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([name, sigma]), out])


def activation_explorer_figure(
    names: Sequence[str] = EXPLORER_ACTIVATIONS, sigmas: Sequence[float] = EXPLORER_SIGMAS
) -> Any:
    """The kernel-free twin of :func:`activation_explorer`: a plotly figure with a dropdown and a slider (chapter 7).

    The dropdown shows one activation's f and f'; the slider moves the pre-activation
    density N(0, sigma^2) and its title lists E[f'(z)] of every activation at that sigma.
    Display it with :func:`mvdlib.viz.show_plotly`.

    Args:
        names: activations offered (keys of ``mvdlib.diagnostics.ACTIVATIONS``).
        sigmas: slider positions, each > 0.
    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    if len(names) == 0 or len(sigmas) == 0:
        raise ValueError(f"names and sigmas must be non-empty, got {list(names)} and {list(sigmas)}")
    curves = {n: _activation_curves(n, sigmas[0]) for n in names}  # validates the names
    gains = [{n: _activation_curves(n, s)["mean_gain"] for n in names} for s in sigmas]  # validates the sigmas
    fig = go.Figure()
    for i, n in enumerate(names):
        c = curves[n]
        fig.add_trace(go.Scatter(x=c["z"], y=c["f"], name=f"{n}: f(z)", visible=i == 0))
        fig.add_trace(go.Scatter(x=c["z"], y=c["df"], name=f"{n}: f'(z)", line={"dash": "dash"}, visible=i == 0))
    density_index = len(fig.data)
    c0 = curves[names[0]]
    fig.add_trace(
        go.Scatter(x=c0["z"], y=c0["density"], name="density of z (scaled)", fill="tozeroy", line={"color": "gray"})
    )

    def title(k: int) -> str:
        listed = ", ".join(f"{n} {g:.3f}" for n, g in gains[k].items())
        return f"sigma = {sigmas[k]:g}: E[f'(z)]: {listed}"

    buttons = []
    for i, n in enumerate(names):
        visible = [j // 2 == i for j in range(2 * len(names))] + [True]
        buttons.append({"label": n, "method": "restyle", "args": [{"visible": visible}]})
    steps = []
    for k, s in enumerate(sigmas):
        density = _activation_curves(names[0], s)["density"]
        args = [{"y": [density]}, {"title.text": title(k)}, [density_index]]  # restyle only the density trace
        steps.append({"label": f"{s:g}", "method": "update", "args": args})
    fig.update_layout(
        title={"text": title(0), "font": {"size": 13}},
        xaxis_title="pre-activation z",
        yaxis_title="f(z), f'(z)",
        updatemenus=[{"buttons": buttons, "x": 0.0, "y": 1.18, "xanchor": "left", "yanchor": "top"}],
        sliders=[{"steps": steps, "currentvalue": {"prefix": "sigma of z: "}, "pad": {"t": 40}}],
        height=480,
        margin={"t": 110},
    )
    return fig
