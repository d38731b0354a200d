"""The cost-slice explorer of chapter 9: a plane-sweep cost volume, one plane and one pixel at a time.

Panels: the cost slice of plane d, the source image warped through that plane (where it
lines up with the reference, the cost is low), and the cost curve of a pixel along inverse
depth, with its minimum near the true inverse depth.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from mvdlib._validation import check_int, check_shape, positive_int
from mvdlib.conventions import normalize_image, valid_depth
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples, warp_to_planes
from mvdlib.explorers.core import Explorer, Param, View, subplot_axes
from mvdlib.geometry import relative_pose

__all__ = ["cost_explorer_data", "warped_rgb", "png_uri", "cost_slice_explorer"]

# The HTML twin steps through every 4th plane (16 of MVDepthNet's 64) and both renderers
# show every 4th pixel of the images, which keeps the twin near half a megabyte at 256 x 320.
PLANE_STEP = 4
PIXEL_STEP = 4
_COLORS = ("#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


def cost_explorer_data(sample: Mapping[str, Tensor], view: int = 0, inv_depths: Tensor | None = None) -> dict[str, Any]:
    """The cost volume of one source view of a dataset-form sample, ready to explore (chapter 9).

    The volume is :func:`mvdlib.cost_volume.cost_volume_from_world_poses` of that one view,
    on MVDepthNet's normalised images ``(rgb - 81) / 35``.

    Args:
        sample: a dataset-form dict (``ref_image`` 3 x H x W, ``src_images`` N x 3 x H x W,
            ``K``, ``T_world_ref``, ``T_world_srcs`` N x 4 x 4, ``ref_depth`` 1 x H x W), e.g.
            from ``SyntheticMultiViewDataset``.
        view: which source view, in ``[0, N)``.
        inv_depths: D inverse depths in 1/m (default :func:`mvdlib.cost_volume.inverse_depth_samples`).
    Returns:
        dict: ``cost`` D x H x W and ``inv_depths`` D (NumPy), ``ref_rgb`` H x W x 3 uint8,
        ``true_inv_depth`` H x W (NaN where the depth is invalid), and ``src_rgb``
        (1 x 3 x H x W tensor), ``K``, ``T_src_ref`` for warping.

    Example:
        >>> import tempfile
        >>> from mvdlib.data.synthetic import SyntheticMultiViewDataset
        >>> dataset = SyntheticMultiViewDataset("test", 1, 1, 2, height=32, width=40, cache_dir=tempfile.mkdtemp())
        >>> sample = dataset[0]
        >>> data = cost_explorer_data(sample, view=1, inv_depths=inverse_depth_samples(8))
        >>> data["cost"].shape, data["ref_rgb"].dtype
        ((8, 32, 40), dtype('uint8'))
    """
    num_views = check_shape(sample["src_images"], "N 3 H W", "sample['src_images']")["N"]
    view = check_int(view, "view", min=0, max=num_views - 1)
    s = inverse_depth_samples() if inv_depths is None else torch.as_tensor(inv_depths, dtype=torch.float32)
    ref, src = sample["ref_image"][None], sample["src_images"][view : view + 1]
    with torch.no_grad():
        cost = cost_volume_from_world_poses(
            normalize_image(ref),
            normalize_image(src)[None],
            sample["K"],
            sample["T_world_ref"],
            sample["T_world_srcs"][view : view + 1],
            s,
        )
    depth = sample["ref_depth"][0].numpy()
    valid = valid_depth(depth)
    return {
        "cost": cost[0].numpy(),
        "inv_depths": s.numpy(),
        "ref_rgb": ref[0].permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8),
        "true_inv_depth": np.where(valid, 1.0 / np.where(valid, depth, 1.0), np.nan),
        "src_rgb": src,
        "K": sample["K"],
        "T_src_ref": relative_pose(sample["T_world_ref"], sample["T_world_srcs"][view]),
    }


def warped_rgb(data: Mapping[str, Any], plane: int) -> np.ndarray:
    """The source image seen through one plane, H x W x 3 uint8 (black outside the source).

    Args:
        data: the dict of :func:`cost_explorer_data`.
        plane: which plane, in ``[0, D)``.
    """
    plane = check_int(plane, "plane", min=0, max=len(data["inv_depths"]) - 1)
    s = data["inv_depths"][plane : plane + 1]
    warped = warp_to_planes(data["src_rgb"], data["K"], data["T_src_ref"], s)[0, 0]  # 3 x H x W
    return warped.permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)


def png_uri(rgb: np.ndarray) -> str:
    """An H x W x 3 uint8 RGB image as a PNG data URI (for a plotly ``Image`` trace's ``source``).

    Example:
        >>> png_uri(np.zeros((2, 3, 3), np.uint8)).startswith("data:image/png;base64,")
        True
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        got = f"{type(rgb).__name__} of {getattr(rgb, 'dtype', None)}"
        raise ValueError(f"rgb must be an H x W x 3 uint8 NumPy array, got {got}")
    sizes = check_shape(rgb, "H W 3", "rgb")
    if 0 in sizes.values():
        raise ValueError(f"rgb must be a non-empty H x W x 3 uint8 array, got shape {rgb.shape}")
    ok, png = cv2.imencode(".png", rgb[..., ::-1])  # OpenCV writes BGR
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


def cost_slice_explorer(
    data: Mapping[str, Any],
    pixels: Sequence[tuple[int, int]] = (),
    plane_step: int = PLANE_STEP,
    pixel_step: int = PIXEL_STEP,
) -> Explorer:
    """The cost-slice explorer: a slider over planes and a probe pixel (u, v) (chapter 9).

    Live, every plane and every pixel; the HTML twin steps through every ``plane_step``-th
    plane with the probe at (W / 3, H / 2). The chosen ``pixels`` are marked in every
    setting, with their cost curves and true inverse depths.

    Args:
        data: the dict of :func:`cost_explorer_data`.
        pixels: (u, v) pixels (full-resolution) whose cost curves are always drawn.
        plane_step: the HTML slider shows every ``plane_step``-th plane.
        pixel_step: the images are shown at every ``pixel_step``-th pixel.
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    cost, s, truth = data["cost"], data["inv_depths"], data["true_inv_depth"]
    num_planes, h, w = cost.shape
    plane_step, pixel_step = positive_int(plane_step, "plane_step"), positive_int(pixel_step, "pixel_step")
    for uu, vv in pixels:
        if not (0 <= uu < w and 0 <= vv < h):
            raise ValueError(f"pixels must lie inside the {w} x {h} image, got (u, v) = ({uu}, {vv})")
    vmax = float(np.percentile(cost, 99))
    extent = {"x0": 0, "dx": pixel_step, "y0": 0, "dy": pixel_step}

    def cross(u: int, v: int, color: str, k: int) -> go.Scatter:
        return go.Scatter(x=[u], y=[v], mode="markers", marker={"symbol": "cross", "size": 10, "color": color,
                          "line": {"width": 1, "color": "white"}}, showlegend=False, **subplot_axes(k))  # fmt: skip

    def curves(u: int, v: int, color: str, name: str, width: float) -> list[go.Scatter]:
        t = truth[v, u]
        return [
            go.Scatter(
                x=s,
                y=np.round(cost[:, v, u], 3),
                mode="lines",
                line={"color": color, "width": width},
                name=name,
                legendgroup=name,
                **subplot_axes(3),
            ),  # fmt: skip
            go.Scatter(
                x=[t, t] if np.isfinite(t) else [],
                y=[0, vmax] if np.isfinite(t) else [],
                mode="lines",
                line={"color": color, "dash": "dash"},
                name=f"true 1/depth {name}",
                legendgroup=name,
                showlegend=False,
                **subplot_axes(3),
            ),  # fmt: skip
        ]

    def draw(plane: int, u: int, v: int) -> View:
        traces = [
            go.Heatmap(
                z=np.round(cost[plane, ::pixel_step, ::pixel_step], 2),
                zmin=0,
                zmax=vmax,
                colorscale="Viridis",
                colorbar=colorbar,
                **extent,
                **subplot_axes(1),
            ),  # fmt: skip
            go.Image(
                source=png_uri(warped_rgb(data, plane)[::pixel_step, ::pixel_step]), **extent, **subplot_axes(2)
            ),  # fmt: skip
            go.Scatter(
                x=[s[plane], s[plane]],
                y=[0, vmax],
                mode="lines",
                line={"color": "grey", "dash": "dot"},
                name=f"plane {plane}",
                **subplot_axes(3),
            ),  # fmt: skip
        ]
        for k, (pu, pv) in enumerate(pixels):
            color = _COLORS[k % len(_COLORS)]
            traces += [cross(pu, pv, color, 1), cross(pu, pv, color, 2), *curves(pu, pv, color, f"({pu}, {pv})", 1.5)]
        traces += [cross(u, v, "black", 1), cross(u, v, "black", 2), *curves(u, v, "black", f"probe ({u}, {v})", 2.5)]
        return View(traces, {"title": {"text": f"plane {plane}: depth {1 / s[plane]:.2f} m"}})

    fig = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], row_heights=[0.55, 0.45],
                        vertical_spacing=0.16, horizontal_spacing=0.17,
                        subplot_titles=("cost slice", "source warped through the plane", "cost curves"))  # fmt: skip
    top = fig.layout.yaxis.domain
    colorbar = {"title": {"text": "cost", "side": "right"}, "y": (top[0] + top[1]) / 2, "len": top[1] - top[0],
                "yanchor": "middle", "thickness": 14}  # fmt: skip
    for k in (1, 2):
        fig.update_xaxes(title_text="u (pixels)", range=[0, w], constrain="domain", row=1, col=k)
        fig.update_yaxes(title_text="v (pixels)", range=[h, 0], constrain="domain", scaleanchor="x" if k == 1 else "x2",
                         row=1, col=k)  # fmt: skip
    fig.update_xaxes(title_text="inverse depth (1/m)", row=2, col=1)
    fig.update_yaxes(title_text="cost (normalised units)", range=[0, vmax], row=2, col=1)
    fig.update_layout(height=700, legend={"font": {"size": 10}, "y": fig.layout.yaxis3.domain[1], "yanchor": "top"})
    default_plane = (num_planes // 2) // plane_step * plane_step
    params = [
        Param("plane", range(num_planes), default_plane, "plane d", static_values=range(0, num_planes, plane_step)),
        Param("u", range(w), w // 3, "probe u", static_values=()),  # off-centre: the chapter marks the centre
        Param("v", range(h), h // 2, "probe v", static_values=()),
    ]
    return Explorer(params, draw, fig.layout.to_plotly_json())
