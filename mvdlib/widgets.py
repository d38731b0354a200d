"""Interactive explorers used by the chapters (ipywidgets, for a running kernel).

Each explorer has a kernel-free twin built with plotly (sliders in the figure itself) so
that a reader of the built HTML book can explore too; see :func:`mvdlib.viz.show_plotly`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "activation_explorer",
    "activation_explorer_figure",
    "cost_explorer_data",
    "cost_slice_explorer",
    "cost_slice_figure",
    "fit_line",
    "fusion_explorer",
    "fusion_explorer_figure",
    "line_with_outliers",
    "loss_curves",
    "loss_explorer",
    "loss_explorer_figure",
    "loss_penalty",
    "mvdepthnet_scales_explorer",
    "mvdepthnet_scales_figure",
    "scale_invariant_curve",
    "warp_error_map",
    "warp_explorer",
    "warp_explorer_figure",
]


def _explorer(rows: Sequence[Sequence[Any]], plot: Callable[[], None]) -> Any:
    """Rows of ipywidgets controls above a matplotlib figure that ``plot()`` redraws on every change.

    Args:
        rows: the controls, one ``HBox`` per inner sequence; each must have a ``value`` trait.
        plot: draws one matplotlib figure from the controls' current values.
    Returns:
        The ``ipywidgets.VBox`` (display it, or let it be a cell's last value).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()

    def draw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            plot()
            plt.show()

    for control in (c for row in rows for c in row):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox(list(row)) for row in rows] + [out])


def _image_figure(image: Any, title: str, colorbar_label: str, cmap: str, vmax: float, unit: str = "pixels") -> None:
    """One matplotlib image from 0 to ``vmax`` with a labelled colour bar and pixel axes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    im = ax.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
    ax.set(title=title, xlabel=f"u ({unit})", ylabel=f"v ({unit})")
    fig.colorbar(im, ax=ax).set_label(colorbar_label)


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
    import numpy as np

    scale = widgets.FloatSlider(value=1.0, min=0.8, max=1.2, step=0.01, description="depth scale")

    def plot() -> None:
        error = warp_error_map(sample, view, scale.value)
        title = f"depth x {scale.value:.2f}: median error {np.nanmedian(error):.1f} grey levels"
        _image_figure(error, title, "|I_ref - warped source| (grey levels)", "inferno", _WARP_ERROR_MAX)

    return _explorer([[scale]], plot)


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
    vmax = float(np.percentile(cost, 99))

    def plot() -> None:
        d, uu, vv = plane.value, u.value, v.value
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

    return _explorer([[plane, u, v]], plot)


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

# The losses the explorer compares, and its default settings: Huber's delta and a fixed
# BerHu c of 1 (in the units of the error), Eigen's lambda = 0.5, a fifth of the points outliers.
LOSS_EXPLORER_LOSSES = ("L1", "L2", "Huber", "BerHu")
LOSS_EXPLORER_DEFAULTS = {"delta": 1.0, "c": 1.0, "lam": 0.5, "outlier_fraction": 0.2}
_LOSS_COLORS = {"L1": "#1f77b4", "L2": "#d62728", "Huber": "#2ca02c", "BerHu": "#9467bd", "scale-invariant": "#ff7f0e"}
_LINE_TRUE = (0.5, 1.0)  # slope, intercept of the explorer's clean line
_LINE_NOISE = 0.3  # inlier noise (std), in the units of y
_LINE_OUTLIER_OFFSET = (4.0, 12.0)  # outliers are pushed up by a uniform amount in this range


def loss_penalty(name: str, error: Any, delta: float = 1.0, c: float | None = None) -> Any:
    """The element-wise penalty of a named loss on residuals ``error`` (chapter 5).

    Args:
        name: one of ``LOSS_EXPLORER_LOSSES``.
        error: residuals (tensor of any shape).
        delta: Huber's threshold; c: BerHu's threshold (``None``: 0.2 max |error|, detached, as FCRN).
    Returns:
        Tensor of the same shape as ``error``.
    """
    from mvdlib.losses import BERHU_C_FRACTION, berhu_penalty, huber_penalty

    if name == "L1":
        return error.abs()
    if name == "L2":
        return error**2
    if name == "Huber":
        return huber_penalty(error, delta)
    if name == "BerHu":
        return berhu_penalty(error, BERHU_C_FRACTION * error.detach().abs().max() if c is None else c)
    raise ValueError(f"name must be one of {LOSS_EXPLORER_LOSSES}, got {name!r}")


def line_with_outliers(n: int = 60, outlier_fraction: float = 0.2, seed: int = 0) -> tuple[Any, Any, Any]:
    """Points on the line y = 0.5 x + 1 with Gaussian noise, a fraction of them pushed up as outliers (chapter 5).

    Returns:
        ``(x, y, is_outlier)``: float64 tensors of n values in [0, 10], and a bool mask.
    """
    import torch

    if not 0.0 <= float(outlier_fraction) < 1.0:
        raise ValueError(f"outlier_fraction must be in [0, 1), got {outlier_fraction!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=g, dtype=torch.float64) * 10
    y = _LINE_TRUE[0] * x + _LINE_TRUE[1] + _LINE_NOISE * torch.randn(n, generator=g, dtype=torch.float64)
    order = torch.randperm(n, generator=g)
    is_outlier = torch.zeros(n, dtype=torch.bool)
    is_outlier[order[: round(outlier_fraction * n)]] = True
    lo, hi = _LINE_OUTLIER_OFFSET
    offset = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    return x, torch.where(is_outlier, y + offset, y), is_outlier


def fit_line(x: Any, y: Any, name: str, delta: float = 1.0, c: float | None = None, iterations: int = 100) -> tuple:
    """Fit y = a x + b minimising the mean penalty of a named loss, by iteratively reweighted least squares (chapter 5).

    Each iteration solves a weighted least-squares problem with weights ``rho'(e) / e`` of
    the current residuals ``e`` (the derivative ``rho'`` from autograd of
    :func:`loss_penalty`): the stationary point is where the loss's gradient vanishes.
    Starts from the L2 fit; the penalties are convex, so the result does not depend on it.

    Returns:
        ``(a, b)`` as floats.
    """
    import torch

    from mvdlib._validation import positive_int

    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    design = torch.stack([x, torch.ones_like(x)], dim=1)  # n x 2
    weights = torch.ones_like(x)
    tiny = 1e-9  # keeps 1 / |e| finite for L1 at a zero residual
    for _ in range(positive_int(iterations, "iterations")):
        wd = design * weights[:, None]
        params = torch.linalg.solve(design.T @ wd, wd.T @ y)  # 2
        e = (design @ params - y).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_penalty(name, e, delta, c).sum(), e)
        safe_e = torch.where(e.detach().abs() < tiny, torch.full_like(x, tiny), e.detach())
        weights = (grad / safe_e).clamp(min=0)
    return float(params[0]), float(params[1])


def loss_curves(errors: Any, delta: float = 1.0, c: float = 1.0) -> dict[str, tuple[Any, Any]]:
    """Each loss's penalty and its derivative along a 1-D grid of errors (chapter 5).

    Returns:
        ``{name: (values, gradients)}``, NumPy arrays like ``errors``.
    """
    import torch

    e = torch.as_tensor(errors, dtype=torch.float64).clone().requires_grad_(True)
    out = {}
    for name in LOSS_EXPLORER_LOSSES:
        value = loss_penalty(name, e, delta, c)
        (grad,) = torch.autograd.grad(value.sum(), e)
        out[name] = (value.detach().numpy(), grad.numpy())
    return out


def scale_invariant_curve(scales: Any, lam: float, seed: int = 0) -> Any:
    """Scale-invariant loss of (true depth x s x log-normal noise) against the true depth, for each s (chapter 5).

    Returns:
        NumPy array like ``scales``.
    """
    import numpy as np
    import torch

    from mvdlib.losses import scale_invariant_loss

    g = torch.Generator().manual_seed(seed)
    truth = 1 + 7 * torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    noisy = truth * torch.exp(0.1 * torch.randn(truth.shape, generator=g, dtype=torch.float64))
    return np.array([scale_invariant_loss(noisy * s, truth, lam=lam).item() for s in np.asarray(scales)])


def loss_explorer(seed: int = 0) -> Any:
    """An ipywidgets explorer of L1, L2, Huber, BerHu and the scale-invariant loss (chapter 5).

    Sliders for Huber's ``delta``, BerHu's ``c``, the scale-invariant ``lambda`` and the
    outlier fraction redraw the penalties, their gradients, a line fit with outliers, and
    the scale-invariant loss against a global scale. The HTML book shows
    :func:`loss_explorer_figure` instead.

    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    sliders = {
        "delta": widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="Huber delta"),
        "c": widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="BerHu c"),
        "lam": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="lambda"),
        "outlier_fraction": widgets.FloatSlider(value=0.2, min=0.0, max=0.45, step=0.05, description="outliers"),
    }
    errors = np.linspace(-4, 4, 401)
    scales = np.geomspace(0.25, 4, 81)

    def plot() -> None:
        v = {k: s.value for k, s in sliders.items()}
        curves = loss_curves(errors, v["delta"], v["c"])
        x, y, outlier = line_with_outliers(outlier_fraction=v["outlier_fraction"], seed=seed)
        fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
        for name, (value, grad) in curves.items():
            axes[0].plot(errors, value, color=_LOSS_COLORS[name], label=name)
            axes[1].plot(errors, grad, color=_LOSS_COLORS[name], label=name)
        axes[0].set(title="penalty", xlabel="error e", ylabel="loss", ylim=(0, 8))
        axes[1].set(title="gradient d loss / d e", xlabel="error e", ylabel="gradient", ylim=(-4, 4))
        axes[2].scatter(x[~outlier], y[~outlier], s=10, color="k", label="inliers")
        axes[2].scatter(x[outlier], y[outlier], s=10, color="grey", marker="x", label="outliers")
        grid = np.array([0.0, 10.0])
        for name in LOSS_EXPLORER_LOSSES:
            a, b = fit_line(x, y, name, v["delta"], v["c"])
            axes[2].plot(grid, a * grid + b, color=_LOSS_COLORS[name], label=f"{name}: {a:.2f} x + {b:.2f}")
        axes[2].set(title="line fit (truth 0.50 x + 1.00)", xlabel="x", ylabel="y")
        axes[2].legend(fontsize=7)
        axes[3].plot(scales, scale_invariant_curve(scales, v["lam"], seed), color=_LOSS_COLORS["scale-invariant"])
        axes[3].set(title=f"scale-invariant, lambda = {v['lam']:.1f}", xlabel="global scale s", xscale="log",
                    ylabel="loss (log m)^2")  # fmt: skip
        axes[0].legend()
        plt.tight_layout()

    return _explorer([list(sliders.values())[:2], list(sliders.values())[2:]], plot)


def loss_explorer_figure(
    deltas: Sequence[float] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
    cs: Sequence[float] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
    lams: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    outlier_fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4),
    seed: int = 0,
) -> Any:
    """Kernel-free plotly twin of :func:`loss_explorer` (chapter 5).

    Four sliders, each restyling only the traces its parameter changes: ``delta`` the Huber
    curves, ``c`` the BerHu curves, ``lambda`` the scale-invariant curve, the outlier
    fraction the points and the fits (fitted with the explorer's default delta and c).

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    d0, c0 = LOSS_EXPLORER_DEFAULTS["delta"], LOSS_EXPLORER_DEFAULTS["c"]
    lam0, f0 = LOSS_EXPLORER_DEFAULTS["lam"], LOSS_EXPLORER_DEFAULTS["outlier_fraction"]
    errors = np.linspace(-4, 4, 161)
    scales = np.geomspace(0.25, 4, 41)
    grid = np.array([0.0, 10.0])
    fig = make_subplots(rows=1, cols=4, subplot_titles=("penalty", "gradient", "line fit", "scale-invariant"))
    curves = loss_curves(errors, d0, c0)
    index: dict[str, int] = {}

    def add(key: str, trace: Any, col: int) -> None:
        index[key] = len(fig.data)
        fig.add_trace(trace, row=1, col=col)

    for name, (value, grad) in curves.items():
        style = dict(color=_LOSS_COLORS[name])
        add(f"{name}-value", go.Scatter(x=errors, y=value, name=name, line=style, legendgroup=name), 1)
        add(f"{name}-grad", go.Scatter(x=errors, y=grad, name=name, line=style, legendgroup=name, showlegend=False), 2)

    def fit_traces(fraction: float) -> dict[str, Any]:
        x, y, outlier = line_with_outliers(outlier_fraction=fraction, seed=seed)
        ys = {
            "inliers": (x[~outlier].numpy(), y[~outlier].numpy()),
            "outliers": (x[outlier].numpy(), y[outlier].numpy()),
        }
        for name in LOSS_EXPLORER_LOSSES:
            a, b = fit_line(x, y, name, d0, c0)
            ys[f"{name}-fit"] = (grid, a * grid + b)
        return ys

    fits = {f: fit_traces(f) for f in outlier_fractions}
    start = fits[min(outlier_fractions, key=lambda f: abs(f - f0))]
    add("inliers", go.Scatter(x=start["inliers"][0], y=start["inliers"][1], mode="markers", name="inliers",
                              marker=dict(color="black", size=5)), 3)  # fmt: skip
    add("outliers", go.Scatter(x=start["outliers"][0], y=start["outliers"][1], mode="markers", name="outliers",
                               marker=dict(color="grey", size=6, symbol="x")), 3)  # fmt: skip
    for name in LOSS_EXPLORER_LOSSES:
        xs, ys = start[f"{name}-fit"]
        add(f"{name}-fit", go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=_LOSS_COLORS[name], dash="dot"),
                                      name=f"{name} fit", legendgroup=name, showlegend=False), 3)  # fmt: skip
    si = {lam: scale_invariant_curve(scales, lam, seed) for lam in lams}
    add("si", go.Scatter(x=scales, y=si[min(lams, key=lambda v: abs(v - lam0))], name="scale-invariant",
                         line=dict(color=_LOSS_COLORS["scale-invariant"])), 4)  # fmt: skip

    def slider(label: str, values: Sequence[float], steps_args: list, active: float, x: float, y: float) -> dict:
        steps = [dict(method="restyle", label=f"{v:g}", args=args) for v, args in zip(values, steps_args, strict=True)]
        act = min(range(len(values)), key=lambda i: abs(values[i] - active))
        return dict(active=act, steps=steps, currentvalue=dict(prefix=f"{label} = "), x=x, y=y, len=0.45)

    def restyle(keys: list[str], data: list[tuple[Any, Any]]) -> list:
        return [{"x": [d[0] for d in data], "y": [d[1] for d in data]}, [index[k] for k in keys]]

    delta_args = []
    for d in deltas:
        value, grad = loss_curves(errors, d, c0)["Huber"]
        delta_args.append(restyle(["Huber-value", "Huber-grad"], [(errors, value), (errors, grad)]))
    c_args = []
    for c in cs:
        value, grad = loss_curves(errors, d0, c)["BerHu"]
        c_args.append(restyle(["BerHu-value", "BerHu-grad"], [(errors, value), (errors, grad)]))
    lam_args = [restyle(["si"], [(scales, si[lam])]) for lam in lams]
    fit_keys = ["inliers", "outliers", *(f"{n}-fit" for n in LOSS_EXPLORER_LOSSES)]
    fraction_args = [restyle(fit_keys, [fits[f][k] for k in fit_keys]) for f in outlier_fractions]
    sliders = [  # two rows of two sliders under the plots
        slider("Huber delta", deltas, delta_args, d0, 0.0, -0.25),
        slider("BerHu c", cs, c_args, c0, 0.52, -0.25),
        slider("lambda", lams, lam_args, lam0, 0.0, -0.6),
        slider("outlier fraction", outlier_fractions, fraction_args, f0, 0.52, -0.6),
    ]
    fig.update_layout(sliders=sliders, height=520, margin=dict(b=230), title="Loss explorer (drag the sliders)")
    fig.update_xaxes(title_text="error e", row=1, col=1)
    fig.update_xaxes(title_text="error e", row=1, col=2)
    fig.update_xaxes(title_text="x", row=1, col=3)
    fig.update_xaxes(title_text="global scale s", type="log", row=1, col=4)
    fig.update_yaxes(title_text="loss", range=[0, 8], row=1, col=1)
    fig.update_yaxes(title_text="d loss / d e", range=[-4, 4], row=1, col=2)
    fig.update_yaxes(title_text="y", row=1, col=3)
    fig.update_yaxes(title_text="loss (log m)^2", row=1, col=4)
    return fig


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

    def plot() -> None:
        c = _activation_curves(name.value, sigma.value)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(c["z"], c["f"], label="f(z)")
        ax.plot(c["z"], c["df"], "--", label="f'(z)")
        ax.fill_between(c["z"], c["density"], alpha=0.2, color="gray", label="density of z (scaled)")
        ax.set_xlabel("pre-activation z")
        ax.set_ylabel("value")
        ax.set_title(f"{name.value}, sigma = {sigma.value:.2f}: E[f'(z)] = {c['mean_gain']:.3f}")
        ax.legend(loc="upper left")

    return _explorer([[name, sigma]], plot)


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

    maps = _scale_maps(disps, index)
    scale = widgets.IntSlider(value=1, min=1, max=len(maps), description="disp")

    def plot() -> None:
        m = maps[scale.value - 1]
        title = f"disp{scale.value}: {m.shape[1]} x {m.shape[0]} pixels"
        _image_figure(m, title, "inverse depth (1/m)", "magma_r", _INV_DEPTH_MAX, "pixels at this scale")

    return _explorer([[scale]], plot)


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


# ---- fusion explorer (chapter 12) ----------------------------------------------------------

# The explorer fuses every 4th pixel on a 3 cm grid and scores 5,000 sampled points at
# 10 cm, so one setting takes about a second on a laptop; the twin keeps 4,000 points per step.
_FUSION_STRIDE, _FUSION_VOXEL, _FUSION_THRESHOLD, _FUSION_SAMPLE, _FUSION_PLOT_POINTS = 4, 0.03, 0.1, 5000, 4000


def _fused_top_view(views: Sequence[Any], gt_points: Any, min_views: int, rel_tol: float) -> tuple[Any, str]:
    """Fused points (thinned) and a P/R/F caption for one filter setting."""
    import numpy as np

    from mvdlib.pointcloud import fuse, precision_recall_fscore

    points, colors = fuse(views, min_views, rel_tol, voxel_size=_FUSION_VOXEL, stride=_FUSION_STRIDE)
    p, r, f = precision_recall_fscore(points, gt_points, _FUSION_THRESHOLD, sample=_FUSION_SAMPLE)
    keep = np.random.default_rng(0).permutation(len(points))[:_FUSION_PLOT_POINTS]
    caption = (
        f"min_views={min_views}, tau={rel_tol:.1%}: {len(points):,} points, "
        f"P {p:.2f} R {r:.2f} F {f:.2f} at {100 * _FUSION_THRESHOLD:.0f} cm"
    )
    return (points[keep], None if colors is None else colors[keep]), caption


def fusion_explorer(views: Sequence[Any], gt_points: Any) -> Any:
    """An ipywidgets explorer of the consistency filter's two knobs, seen from above (chapter 12).

    Needs a running kernel; the HTML book shows :func:`fusion_explorer_figure` instead.

    Args:
        views: depth maps with cameras, as for :func:`mvdlib.pointcloud.fuse`.
        gt_points: M x 3 ground-truth points.
    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    min_views = widgets.IntSlider(value=2, min=0, max=len(views) - 1, description="min_views")
    rel_tol = widgets.SelectionSlider(options=[0.005, 0.01, 0.02, 0.05, 0.1], value=0.02, description="tau")

    def plot() -> None:
        (pts, cols), caption = _fused_top_view(views, gt_points, min_views.value, rel_tol.value)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.scatter(pts[:, 0], pts[:, 1], s=1, c=cols if cols is not None else "k")
        ax.set(title=caption, xlabel="x (m)", ylabel="y (m)", aspect="equal")

    return _explorer([[min_views, rel_tol]], plot)


def fusion_explorer_figure(
    views: Sequence[Any], gt_points: Any, min_views_values: Sequence[int] = (0, 1, 2, 3, 5), rel_tol: float = 0.02
) -> Any:
    """The kernel-free twin of :func:`fusion_explorer`: a slider over ``min_views`` (chapter 12).

    Args:
        views: depth maps with cameras; gt_points: M x 3 ground-truth points.
        min_views_values: the slider's settings; rel_tol: the fixed tolerance.
    Returns:
        ``plotly.graph_objects.Figure`` of the fused points seen from above.
    """
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    captions = []
    for i, m in enumerate(min_views_values):
        (pts, cols), caption = _fused_top_view(views, gt_points, m, rel_tol)
        captions.append(caption)
        rgb = None if cols is None else [f"rgb({r},{g},{b})" for r, g, b in np.round(cols * 255).astype(int)]
        fig.add_trace(
            go.Scattergl(
                x=pts[:, 0].astype(np.float32),
                y=pts[:, 1].astype(np.float32),
                mode="markers",
                marker={"size": 2, "color": rgb if rgb is not None else "black"},
                visible=i == 0,
                showlegend=False,
            )
        )
    steps = [
        {
            "method": "update",
            "label": str(m),
            "args": [{"visible": [t == i for t in range(len(captions))]}, {"title": {"text": captions[i]}}],
        }
        for i, m in enumerate(min_views_values)
    ]
    fig.update_layout(
        sliders=[{"steps": steps, "currentvalue": {"prefix": "min_views: "}, "pad": {"t": 40}}],
        title={"text": captions[0]},
        xaxis_title="x (m)",
        yaxis_title="y (m)",
        yaxis={"scaleanchor": "x"},
        width=620,
        height=620,
    )
    return fig
