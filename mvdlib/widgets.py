"""Interactive explorers used by the chapters (ipywidgets, for a running kernel).

Each explorer has a kernel-free twin built with plotly (sliders in the figure itself) so
that a reader of the built HTML book can explore too; see :func:`mvdlib.viz.show_plotly`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# ---- warp explorer (chapter 2) -----------------------------------------------------------

# Depth scale factors the warp explorer steps through (1 = the true depth).
WARP_EXPLORER_SCALES = (0.8, 0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1, 1.2)
_WARP_ERROR_MAX = 60.0  # grey levels at the top of the colour scale


def warp_error_map(sample: dict, view: int = 0, depth_scale: float = 1.0) -> Any:
    """|reference - source warped with ``depth_scale`` x depth|, mean over RGB (chapter 2).

    Args:
        sample: a dataset-form dict (see :func:`mvdlib.data.synthetic.warp_to_reference`).
        view: which source view.
        depth_scale: factor applied to the reference depth.
    Returns:
        H x W float NumPy array in grey levels, NaN where the warp is invalid.
    """
    import numpy as np

    from mvdlib.data.synthetic import warp_to_reference

    warped, valid = warp_to_reference(sample, view, depth_scale)
    error = (warped - sample["ref_image"]).abs().mean(0).numpy()
    return np.where(valid.numpy(), error, np.nan)


def warp_explorer(sample: dict, view: int = 0) -> Any:
    """An ipywidgets explorer of the photometric error as the depth is scaled (chapter 2).

    Needs a running kernel; the HTML book shows :func:`warp_explorer_figure` instead.

    Args:
        sample: a dataset-form dict (synthetic sample or the real stereo pair).
        view: which source view.
    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    scale = widgets.FloatSlider(value=1.0, min=0.8, max=1.2, step=0.01, description="depth scale")
    out = widgets.Output()

    def draw(*_: Any) -> None:
        error = warp_error_map(sample, view, scale.value)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 4))
            im = ax.imshow(error, cmap="inferno", vmin=0, vmax=_WARP_ERROR_MAX)
            ax.set_title(f"depth x {scale.value:.2f}: median error {np.nanmedian(error):.1f} grey levels")
            ax.set_xlabel("u (pixels)")
            ax.set_ylabel("v (pixels)")
            fig.colorbar(im, ax=ax).set_label("|I_ref - warped source| (grey levels)")
            plt.show()

    scale.observe(draw, names="value")
    draw()
    return widgets.VBox([scale, out])


def warp_explorer_figure(
    sample: dict, view: int = 0, scales: Sequence[float] = WARP_EXPLORER_SCALES, step: int = 4
) -> Any:
    """Kernel-free plotly twin of :func:`warp_explorer`: a slider over depth scales (chapter 2).

    Args:
        sample: a dataset-form dict.
        view: which source view.
        scales: depth scale factors, one frame each (must contain 1.0).
        step: show every ``step``-th pixel, to keep the figure small.
    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import numpy as np
    import plotly.graph_objects as go

    if 1.0 not in scales:
        raise ValueError(f"scales must contain 1.0 (the true depth), got {list(scales)}")
    frames = []
    for s in scales:
        error = warp_error_map(sample, view, s)
        heat = go.Heatmap(
            z=np.round(error[::step, ::step], 1),
            zmin=0,
            zmax=_WARP_ERROR_MAX,
            colorscale="Inferno",
            colorbar={"title": "grey levels"},
        )
        title = f"depth x {s:.2f}: median error {np.nanmedian(error):.1f} grey levels"
        frames.append(go.Frame(data=[heat], name=f"{s:.2f}", layout={"title": title}))
    active = list(scales).index(1.0)
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    steps = [{"method": "animate", "label": f"{s:.2f}", "args": [[f"{s:.2f}"], animate]} for s in scales]
    fig = go.Figure(data=frames[active].data, frames=frames)
    fig.update_layout(
        title=frames[active].layout.title.text,
        xaxis_title=f"u / {step} (pixels)",
        yaxis_title=f"v / {step} (pixels)",
        yaxis_autorange="reversed",
        height=430,
        sliders=[{"active": active, "currentvalue": {"prefix": "depth scale = "}, "steps": steps}],
    )
    return fig


# ---- cost-slice explorer (chapter 9) -----------------------------------------------------

# The plotly twin shows every 4th plane (16 of MVDepthNet's 64) and every 4th pixel, which
# keeps its JSON near half a megabyte at 256 x 320.
COST_EXPLORER_PLANE_STEP = 4
COST_EXPLORER_PIXEL_STEP = 4


def cost_explorer_data(sample: dict, view: int = 0, inv_depths: Any = None) -> dict:
    """The cost volume of one source view of a dataset-form sample, ready to explore (chapter 9).

    The volume is computed on MVDepthNet's normalised images ``(rgb - 81) / 35``.

    Args:
        sample: a dataset-form dict (``ref_image``, ``src_images``, ``K``, ``T_world_ref``,
            ``T_world_srcs``, ``ref_depth``), e.g. from ``SyntheticMultiViewDataset``.
        view: which source view.
        inv_depths: D inverse depths (default :func:`mvdlib.cost_volume.inverse_depth_samples`).
    Returns:
        dict: ``cost`` D x H x W and ``inv_depths`` D (NumPy), ``ref_rgb`` H x W x 3 uint8,
        ``true_inv_depth`` H x W (NaN where the depth is invalid), and ``src_rgb``
        (1 x 3 x H x W tensor), ``K``, ``T_src_ref`` for warping.
    """
    import numpy as np
    import torch

    from mvdlib.cost_volume import inverse_depth_samples, plane_sweep_cost_volume
    from mvdlib.geometry import relative_pose
    from mvdlib.models.mvdepthnet import normalize_image

    num_views = sample["src_images"].shape[0]
    if not 0 <= view < num_views:
        raise ValueError(f"view must be in [0, {num_views}), got {view}")
    s = inverse_depth_samples() if inv_depths is None else torch.as_tensor(inv_depths, dtype=torch.float32)
    ref, src = sample["ref_image"][None], sample["src_images"][view : view + 1]
    T_src_ref = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][view])
    with torch.no_grad():
        cost = plane_sweep_cost_volume(normalize_image(ref), normalize_image(src), sample["K"], T_src_ref, s)
    depth = sample["ref_depth"][0].numpy()
    valid = np.isfinite(depth) & (depth > 0)
    return {
        "cost": cost[0].numpy(),
        "inv_depths": s.numpy(),
        "ref_rgb": ref[0].permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8),
        "true_inv_depth": np.where(valid, 1.0 / np.where(valid, depth, 1.0), np.nan),
        "src_rgb": src,
        "K": sample["K"],
        "T_src_ref": T_src_ref,
    }


def _warped_rgb(data: dict, plane: int) -> Any:
    """The source image seen through one plane, H x W x 3 uint8 (black outside the source)."""
    import numpy as np

    from mvdlib.cost_volume import warp_to_planes

    s = data["inv_depths"][plane : plane + 1]
    warped = warp_to_planes(data["src_rgb"], data["K"], data["T_src_ref"], s)[0, 0]  # 3 x H x W
    return warped.permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)


def cost_slice_explorer(data: dict) -> Any:
    """An ipywidgets explorer of a cost volume: slider over planes, pixel picker (chapter 9).

    Shows the cost slice of the chosen plane, the source image warped through that plane,
    and the chosen pixel's cost curve along inverse depth, with its minimum and the true
    inverse depth. Needs a running kernel; the HTML book shows :func:`cost_slice_figure`.

    Args:
        data: the dict of :func:`cost_explorer_data`.
    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    cost, s, true_inv = data["cost"], data["inv_depths"], data["true_inv_depth"]
    num_planes, h, w = cost.shape
    plane = widgets.IntSlider(value=num_planes // 2, min=0, max=num_planes - 1, description="plane d")
    u = widgets.IntSlider(value=w // 2, min=0, max=w - 1, description="pixel u")
    v = widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="pixel v")
    out = widgets.Output()
    vmax = float(np.percentile(cost, 99))

    def draw(*_: Any) -> None:
        d, uu, vv = plane.value, u.value, v.value
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
            im = axes[0].imshow(cost[d], cmap="viridis", vmin=0, vmax=vmax)
            axes[0].set_title(f"cost slice, plane {d}: depth {1 / s[d]:.2f} m")
            fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.04).set_label("cost (normalised units)")
            axes[1].imshow(_warped_rgb(data, d))
            axes[1].set_title("source warped through the plane")
            for ax in axes[:2]:
                ax.plot(uu, vv, "r+", markersize=14, markeredgewidth=2)
                ax.set_xlabel("u (pixels)")
                ax.set_ylabel("v (pixels)")
            curve = cost[:, vv, uu]
            axes[2].plot(s, curve, "k.-", label="cost")
            axes[2].axvline(s[d], color="tab:blue", label=f"plane {d}")
            axes[2].plot(s[curve.argmin()], curve.min(), "o", color="tab:orange", label="minimum")
            if np.isfinite(true_inv[vv, uu]):
                axes[2].axvline(true_inv[vv, uu], color="tab:green", linestyle="--", label="true inverse depth")
            axes[2].set_xlabel("inverse depth (1/m)")
            axes[2].set_ylabel("cost (normalised units)")
            axes[2].set_title(f"cost curve of pixel (u, v) = ({uu}, {vv})")
            axes[2].legend(fontsize=8)
            fig.tight_layout()
            plt.show()

    for slider in (plane, u, v):
        slider.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([plane, u, v]), out])


def _png_uri(rgb: Any) -> str:
    import base64

    import cv2

    ok, png = cv2.imencode(".png", rgb[..., ::-1])  # OpenCV writes BGR
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


def cost_slice_figure(
    data: dict,
    pixels: Sequence[tuple[int, int]],
    plane_step: int = COST_EXPLORER_PLANE_STEP,
    pixel_step: int = COST_EXPLORER_PIXEL_STEP,
) -> Any:
    """Kernel-free plotly twin of :func:`cost_slice_explorer`: a slider over planes (chapter 9).

    Three panels: the cost slice, the source warped through the plane (both shown at every
    ``pixel_step``-th pixel), and the full cost curves of the chosen ``pixels`` with a
    marker at the current plane.

    Args:
        data: the dict of :func:`cost_explorer_data`.
        pixels: (u, v) pixels whose cost curves are drawn (full resolution coordinates).
        plane_step: show every ``plane_step``-th plane as a slider position.
        pixel_step: image subsampling, to keep the figure small.
    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cost, s = data["cost"], data["inv_depths"]
    num_planes, h, w = cost.shape
    for uu, vv in pixels:
        if not (0 <= uu < w and 0 <= vv < h):
            raise ValueError(f"pixels must lie inside the {w} x {h} image, got (u, v) = ({uu}, {vv})")
    planes = list(range(0, num_planes, plane_step))
    vmax = float(np.percentile(cost, 99))
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.34, 0.3, 0.36],
        subplot_titles=("cost slice", "source warped through the plane", "cost curves"),
    )
    colors = ["#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b"]
    extent = {"x0": 0, "dx": pixel_step, "y0": 0, "dy": pixel_step}

    def plane_traces(d: int) -> list:
        # Each trace names its axes: a frame's traces replace the figure's, subplot included.
        heat = go.Heatmap(
            z=np.round(cost[d, ::pixel_step, ::pixel_step], 2),
            zmin=0,
            zmax=vmax,
            colorscale="Viridis",
            colorbar={"title": "cost", "x": -0.12, "len": 0.9},
            xaxis="x",
            yaxis="y",
            **extent,
        )
        image = go.Image(
            source=_png_uri(_warped_rgb(data, d)[::pixel_step, ::pixel_step]), xaxis="x2", yaxis="y2", **extent
        )
        marker = go.Scatter(
            x=[s[d], s[d]],
            y=[0, vmax],
            mode="lines",
            line={"color": "black", "dash": "dot"},
            name=f"plane {d}",
            xaxis="x3",
            yaxis="y3",
        )
        return [heat, image, marker]

    fig.add_traces(plane_traces(planes[0]))
    for k, (uu, vv) in enumerate(pixels):
        color = colors[k % len(colors)]
        for col in (1, 2):
            fig.add_trace(
                go.Scatter(
                    x=[uu], y=[vv], mode="markers", marker={"symbol": "cross", "size": 10, "color": color},
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
        fig.add_trace(
            go.Scatter(x=s, y=np.round(cost[:, vv, uu], 3), mode="lines", line={"color": color}, name=f"({uu}, {vv})"),
            row=1,
            col=3,
        )
        truth = data["true_inv_depth"][vv, uu]
        if np.isfinite(truth):
            fig.add_trace(
                go.Scatter(
                    x=[truth, truth], y=[0, vmax], mode="lines", line={"color": color, "dash": "dash"},
                    name=f"true 1/depth ({uu}, {vv})",
                ),
                row=1,
                col=3,
            )
    fig.frames = [
        go.Frame(data=plane_traces(d), traces=[0, 1, 2], name=str(d), layout={"title": f"plane {d}: {1 / s[d]:.2f} m"})
        for d in planes
    ]
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    steps = [{"method": "animate", "label": str(d), "args": [[str(d)], animate]} for d in planes]
    fig.update_layout(
        title=f"plane {planes[0]}: {1 / s[planes[0]]:.2f} m",
        height=420,
        sliders=[{"active": 0, "currentvalue": {"prefix": "plane d = "}, "steps": steps, "pad": {"t": 40}}],
        legend={"font": {"size": 9}},
    )
    for col in (1, 2):
        fig.update_xaxes(title_text="u (pixels)", range=[0, w], row=1, col=col)
        anchor = "x" if col == 1 else f"x{col}"
        fig.update_yaxes(title_text="v (pixels)", range=[h, 0], scaleanchor=anchor, row=1, col=col)
    fig.update_xaxes(title_text="inverse depth (1/m)", row=1, col=3)
    fig.update_yaxes(title_text="cost (normalised units)", range=[0, vmax], row=1, col=3)
    return fig


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


# ---- MVDepthNet scale explorer (chapter 10) -----------------------------------------------

_INV_DEPTH_MAX = 1.0  # 1/m at the top of the colour scale: 1 m and closer is the darkest colour


def _scale_maps(disps: Sequence[Any], index: int) -> list:
    """The ``index``-th image of each scale's inverse depth, finest first, as H x W arrays."""
    return [d[index, 0].detach().cpu().numpy() for d in disps]


def mvdepthnet_scales_explorer(disps: Sequence[Any], index: int = 0) -> Any:
    """An ipywidgets explorer of MVDepthNet's four inverse-depth outputs (chapter 10).

    Needs a running kernel; the HTML book shows :func:`mvdepthnet_scales_figure` instead.

    Args:
        disps: the network's outputs, finest first, each B x 1 x h_s x w_s inverse depth (1/m).
        index: which image of the batch.
    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    maps = _scale_maps(disps, index)
    scale = widgets.IntSlider(value=1, min=1, max=len(maps), description="disp")
    out = widgets.Output()

    def draw(*_: Any) -> None:
        m = maps[scale.value - 1]
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 4))
            im = ax.imshow(m, cmap="magma_r", vmin=0, vmax=_INV_DEPTH_MAX)
            ax.set_title(f"disp{scale.value}: {m.shape[1]} x {m.shape[0]} pixels")
            ax.set_xlabel("u (pixels at this scale)")
            ax.set_ylabel("v (pixels at this scale)")
            fig.colorbar(im, ax=ax).set_label("inverse depth (1/m)")
            plt.show()

    scale.observe(draw, names="value")
    draw()
    return widgets.VBox([scale, out])


def mvdepthnet_scales_figure(disps: Sequence[Any], index: int = 0) -> Any:
    """Kernel-free twin of :func:`mvdepthnet_scales_explorer`: a plotly slider over the scales.

    Args:
        disps: the network's outputs, finest first, each B x 1 x h_s x w_s inverse depth (1/m).
        index: which image of the batch.
    Returns:
        A ``plotly.graph_objects.Figure`` (show it with :func:`mvdlib.viz.show_plotly`).
    """
    import plotly.graph_objects as go

    maps = _scale_maps(disps, index)
    fig = go.Figure()
    for s, m in enumerate(maps):
        fig.add_trace(
            go.Heatmap(
                z=m,
                zmin=0,
                zmax=_INV_DEPTH_MAX,
                colorscale="Magma",
                reversescale=True,
                colorbar={"title": {"text": "inverse depth (1/m)"}},
                visible=s == 0,
            )
        )
    steps = [
        {
            "method": "update",
            "label": f"disp{s + 1}",
            "args": [
                {"visible": [t == s for t in range(len(maps))]},
                {"title": {"text": f"disp{s + 1}: {m.shape[1]} x {m.shape[0]} pixels"}},
            ],
        }
        for s, m in enumerate(maps)
    ]
    first = maps[0]
    fig.update_layout(
        sliders=[{"steps": steps, "currentvalue": {"prefix": "output: "}, "pad": {"t": 40}}],
        title={"text": f"disp1: {first.shape[1]} x {first.shape[0]} pixels"},
        xaxis_title="u (pixels at this scale)",
        yaxis_title="v (pixels at this scale)",
        yaxis={"autorange": "reversed"},
        width=560,
        height=460,
    )
    return fig
