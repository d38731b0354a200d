"""Plotting helpers shared by the chapters.

Figures follow the book's rules: titles, axis labels with units, and colour bars for depth
(metres) and inverse depth (1/m).

Interactive figures use plotly: :func:`plotly_figure` (point clouds) and
:func:`plotly_mesh_figure` (triangle meshes) show several clouds or meshes with buttons
that switch between them (chapters 12 and 13). They are thinned so the figure stays light.
In the built HTML book plotly.js is served once from the
book's own static files (``_config.yml``: ``html_js_files``), so :func:`mvdlib.notebook.show_plotly` emits
the figure without a copy of the library and with no CDN: the page works offline. In
Jupyter the same output carries plotly's own MIME type, which JupyterLab renders natively.

Where curves coincide (a loss and its gradient, line fits), :func:`distinct_line_styles`
keeps each one visible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import open3d as o3d
from torch import Tensor

from mvdlib._validation import numeric_array, positive_int
from mvdlib.conventions import check_seed, valid_depth
from mvdlib.open3d_io import as_colors, as_points

if TYPE_CHECKING:  # plotly is imported where a figure is made: most chapters draw none
    import plotly.graph_objects as go
    from matplotlib.colorbar import Colorbar
    from matplotlib.image import AxesImage

__all__ = [
    "DEFAULT_PLOT_POINTS",
    "DEFAULT_PLOT_TRIANGLES",
    "DEPTH_CMAP",
    "INVALID_COLOR",
    "INVERSE_DEPTH_CMAP",
    "distinct_line_styles",
    "plotly_bundle",
    "plotly_figure",
    "plotly_mesh_figure",
    "show_depth",
    "show_depth_row",
    "show_error",
]

# Points per cloud in an interactive 3D figure: 20k points (float32 coordinates, RGB strings)
# make about 0.8 MB of figure JSON.
DEFAULT_PLOT_POINTS = 20_000
# Triangles per mesh in an interactive 3D figure: 20k triangles (float32 vertices, int32
# faces, RGB strings) make about 1 MB of figure JSON.
DEFAULT_PLOT_TRIANGLES = 20_000

# The book's depth colours (near is bright in both) and the colour of pixels with no valid depth.
DEPTH_CMAP = "magma_r"
INVERSE_DEPTH_CMAP = "magma"
INVALID_COLOR = "#9e9e9e"

# The book's font, as matplotlib draws it (its default family and sizes, 10 pt text and 12 pt
# titles, in CSS pixels at 96 dpi) for the plotly figures.
# Line styles for curves that may coincide, drawn in this order: a wide pale band underneath,
# then narrower lines on top, each with a dash pattern that leaves gaps for the ones below.
_COINCIDENT_STYLES: tuple[dict[str, Any], ...] = (
    {"lw": 7.0, "alpha": 0.35, "ls": "-", "solid_capstyle": "butt"},
    {"lw": 3.0, "alpha": 0.9, "ls": "-"},
    {"lw": 2.2, "alpha": 1.0, "ls": (0, (5, 3))},
    {"lw": 2.2, "alpha": 1.0, "ls": (0, (1, 2))},
    {"lw": 1.5, "alpha": 1.0, "ls": (0, (6, 2, 1, 2))},
)

Points = Tensor | np.ndarray
Eye = Sequence[float] | np.ndarray | None


def distinct_line_styles(names: Sequence[str], colors: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Matplotlib line styles under which curves that lie exactly on each other all stay visible.

    The first name is drawn as a wide pale band at the bottom, each next one narrower and
    dashed or dotted on top of it (``zorder``), so where two curves coincide (L1's gradient
    under Huber's, two line fits) both can be seen; no curve is moved. Use with a legend.

    Args:
        names: the curves, at most 5, in drawing order (bottom first).
        colors: name -> a matplotlib colour (default: the tab10 cycle).
    Returns:
        name -> keyword arguments for ``Axes.plot`` (``color``, ``lw``, ``ls``, ``alpha``, ``zorder``).
    """
    names = list(names)
    if not names or len(names) > len(_COINCIDENT_STYLES) or len(set(names)) != len(names):
        raise ValueError(f"names must be 1 to {len(_COINCIDENT_STYLES)} distinct curve names, got {names!r:.80}")
    colors = {name: f"C{k}" for k, name in enumerate(names)} if colors is None else dict(colors)
    missing = [name for name in names if name not in colors]
    if missing:
        raise ValueError(f"colors must give a colour for every name, missing {missing}")
    return {name: {"color": colors[name], "zorder": 2 + k, **_COINCIDENT_STYLES[k]} for k, name in enumerate(names)}


def plotly_bundle(fig: go.Figure) -> dict[str, Any]:
    """The MIME bundle of a plotly figure for Jupyter (plotly's MIME type) and the offline HTML book.

    The HTML loads no copy of plotly.js (the book serves one) and does not play the
    figure's frames on load: plotly's default ``auto_play``
    animates through every frame when the page opens, and heat maps and images are not drawn
    while it runs.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    Returns:
        ``{"application/vnd.plotly.v1+json": ..., "text/html": ...}``.
    """
    import plotly.graph_objects as go

    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    html = fig.to_html(full_html=False, include_plotlyjs=False, auto_play=False, config={"responsive": True})
    return {"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}


def show_depth(
    ax: plt.Axes,
    depth: np.ndarray,
    title: str,
    inverse: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | None = None,
    colorbar: bool = True,
) -> AxesImage:
    """Show a depth (or inverse-depth) map with a labelled colour bar.

    One colour convention book-wide: near is bright. Depth uses ``magma_r`` and inverse
    depth ``magma`` (its reverse, as inverse depth grows towards the camera), and pixels
    without a valid value are painted ``INVALID_COLOR`` (grey): white would read as
    "very near" on these maps.

    Args:
        ax: the matplotlib axes to draw into.
        depth: H x W depth in metres (or inverse depth in 1/m when ``inverse``);
            0 or non-finite pixels are shown in ``INVALID_COLOR``.
        title: the axes title.
        inverse: label the colour bar as inverse depth.
        vmin, vmax: colour range (defaults: the valid values' range).
        cmap: a matplotlib colour map name (default: ``DEPTH_CMAP``, or
            ``INVERSE_DEPTH_CMAP`` when ``inverse``).
        colorbar: draw the colour bar (False when panels share one, :func:`show_depth_row`).
    Returns:
        The image artist.
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"depth must be HxW, got shape {d.shape}")
    shown = np.where(valid_depth(d), d, np.nan)
    name = cmap or (INVERSE_DEPTH_CMAP if inverse else DEPTH_CMAP)
    colors = plt.get_cmap(name).with_extremes(bad=INVALID_COLOR)
    im = ax.imshow(shown, cmap=colors, vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.set_xlabel("u (pixels)")
    ax.set_ylabel("v (pixels)")
    if colorbar:
        cbar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cbar.set_label("inverse depth (1/m)" if inverse else "depth (m)")
    return im


def show_depth_row(
    axes: Sequence[plt.Axes],
    depths: Sequence[np.ndarray],
    titles: Sequence[str],
    inverse: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Colorbar:
    """Show depth (or inverse-depth) maps side by side on one colour scale, with one colour bar.

    The scale is the first map's valid range unless given: put the truth first, so each row
    of a figure uses the range of its own scene (a room 1-3 m deep is not flattened by a
    0-8 m scale) and a prediction outside it saturates. Draw in a figure with
    ``constrained_layout=True`` so the shared colour bar gets its room.

    Args:
        axes: one matplotlib axes per map.
        depths: the maps, each H x W (sizes may differ), as for :func:`show_depth`.
        titles: one title per map.
        inverse: inverse depth in 1/m (colour map and label as in :func:`show_depth`).
        vmin, vmax: colour range (default: the first map's valid minimum and maximum).
    Returns:
        The colour bar, labelled in metres or 1/m.
    """
    axes, depths, titles = list(axes), list(depths), list(titles)
    if not depths or not len(axes) == len(depths) == len(titles):
        lengths = f"{len(axes)}, {len(depths)}, {len(titles)}"
        raise ValueError(f"axes, depths and titles must be non-empty and of one length, got {lengths}")
    first = np.asarray(depths[0], dtype=np.float64)
    valid = first[valid_depth(first)]
    if (vmin is None or vmax is None) and valid.size == 0:
        raise ValueError("depths[0] must have valid values to set the colour scale, got none (or pass vmin and vmax)")
    vmin = float(valid.min()) if vmin is None else vmin
    vmax = float(valid.max()) if vmax is None else vmax
    for ax, depth, title in zip(axes, depths, titles, strict=True):
        im = show_depth(ax, depth, title, inverse=inverse, vmin=vmin, vmax=vmax, colorbar=False)
    cbar = axes[0].figure.colorbar(im, ax=axes, fraction=0.046 / len(axes), pad=0.02, aspect=15)
    cbar.set_label("inverse depth (1/m)" if inverse else "depth (m)")
    return cbar


def show_error(
    ax: plt.Axes, pred: np.ndarray, truth: np.ndarray, title: str, inverse: bool = False, vmax: float | None = None
) -> AxesImage:
    """Show the absolute error ``abs(pred - truth)`` of a depth (or inverse-depth) map, with a colour bar.

    Pixels without valid truth or prediction are ``INVALID_COLOR`` (grey); 0 is white and
    large errors dark red, a scale apart from the depth colours.

    Args:
        ax: the matplotlib axes to draw into.
        pred, truth: H x W depth in metres (or inverse depth in 1/m when ``inverse``); 0 or
            non-finite pixels are invalid.
        title: the axes title.
        inverse: label the colour bar in 1/m.
        vmax: the error shown darkest (default: the 99th percentile of the valid errors).
    Returns:
        The image artist.
    """
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if p.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"pred and truth must be H x W maps of one shape, got {p.shape} and {t.shape}")
    valid = valid_depth(p) & valid_depth(t)
    error = np.where(valid, np.abs(p - t), np.nan)
    if vmax is None:
        vmax = float(np.percentile(error[valid], 99)) if valid.any() else 1.0
    im = ax.imshow(error, cmap=plt.get_cmap("Reds").with_extremes(bad=INVALID_COLOR), vmin=0, vmax=vmax)
    ax.set(title=title, xlabel="u (pixels)", ylabel="v (pixels)")
    cbar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("|error| (1/m)" if inverse else "|error| (m)")
    return im


def plotly_figure(
    clouds: Mapping[str, tuple[Points, Points | None]],
    max_points: int = DEFAULT_PLOT_POINTS,
    seed: int = 0,
    title: str = "",
    eye: Eye = None,
) -> go.Figure:
    """An interactive 3D scatter of one or more clouds, with buttons that show one at a time (chapter 12).

    Each cloud is randomly thinned to at most ``max_points`` points (``seed``) so the
    figure's JSON stays small enough for the offline HTML book; coordinates are stored as
    float32. Display it with :func:`mvdlib.notebook.show_plotly`.

    Args:
        clouds: name -> ``(points N x 3, colors N x 3 in [0, 1] or None)``.
        max_points: points kept per cloud.
        seed: seed of the thinning.
        title: figure title.
        eye: where the viewer starts, as plotly's ``scene.camera.eye`` (x, y, z in units of the
            plotted box, from its centre; z up); default: plotly's oblique view from above.
    Returns:
        ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    if not isinstance(clouds, Mapping) or not clouds:
        raise ValueError("clouds must be a non-empty dict name -> (points, colors)")
    max_points = positive_int(max_points, "max_points")
    rng = np.random.default_rng(check_seed(seed))
    camera = _camera_eye(eye)
    fig = go.Figure()
    for i, (name, (points, colors)) in enumerate(clouds.items()):
        p = as_points(points, f"clouds[{name!r}] points")
        c = as_colors(colors, len(p), f"clouds[{name!r}] colors")
        keep = rng.choice(len(p), size=min(max_points, len(p)), replace=False) if len(p) else np.zeros(0, int)
        rgb = None if c is None else [f"rgb({r},{g},{b})" for r, g, b in np.round(c[keep] * 255).astype(int)]
        fig.add_trace(
            go.Scatter3d(
                x=p[keep, 0].astype(np.float32),  # float32: millimetres in a room, half the bytes
                y=p[keep, 1].astype(np.float32),
                z=p[keep, 2].astype(np.float32),
                mode="markers",
                marker={"size": 1.5, "color": rgb if rgb is not None else p[keep, 2].astype(np.float32)},
                name=name,
                visible=i == 0,
            )
        )
    return _switch_layout(fig, list(clouds), title, camera)


def plotly_mesh_figure(
    meshes: dict[str, o3d.geometry.TriangleMesh],
    max_triangles: int = DEFAULT_PLOT_TRIANGLES,
    title: str = "",
    eye: Eye = None,
) -> go.Figure:
    """An interactive 3D view of one or more triangle meshes, with buttons that show one at a time (chapter 12).

    Each mesh is simplified by Open3D's vertex clustering to at most ``max_triangles``
    triangles so the figure stays light in the offline HTML book. Display it with
    :func:`mvdlib.notebook.show_plotly`.

    Args:
        meshes: name -> ``open3d.geometry.TriangleMesh`` (vertex colours used when present).
        max_triangles: triangles kept per mesh.
        title: figure title.
        eye: the starting view, as in :func:`plotly_figure`.
    Returns:
        ``plotly.graph_objects.Figure`` with one ``Mesh3d`` trace per mesh.
    """
    import plotly.graph_objects as go

    if not isinstance(meshes, dict) or not meshes:
        raise ValueError("meshes must be a non-empty dict name -> open3d.geometry.TriangleMesh")
    max_triangles = positive_int(max_triangles, "max_triangles")
    for name, mesh in meshes.items():
        if not isinstance(mesh, o3d.geometry.TriangleMesh) or len(mesh.triangles) == 0:
            raise ValueError(f"meshes[{name!r}] must be an open3d.geometry.TriangleMesh with triangles")
    camera = _camera_eye(eye)
    fig = go.Figure()
    for i, (name, mesh) in enumerate(meshes.items()):
        mesh = _simplify(mesh, max_triangles)
        v = np.asarray(mesh.vertices).astype(np.float32)  # float32: millimetres in a room
        f = np.asarray(mesh.triangles).astype(np.int32)
        colors = None
        if mesh.has_vertex_colors():
            rgb = np.round(np.clip(np.asarray(mesh.vertex_colors), 0, 1) * 255).astype(int)
            colors = [f"rgb({r},{g},{b})" for r, g, b in rgb]
        fig.add_trace(
            go.Mesh3d(
                x=v[:, 0],
                y=v[:, 1],
                z=v[:, 2],
                i=f[:, 0],
                j=f[:, 1],
                k=f[:, 2],
                vertexcolor=colors,
                color=None if colors else "lightgrey",
                flatshading=False,
                name=name,
                visible=i == 0,
            )
        )
    return _switch_layout(fig, list(meshes), title, camera)


def _simplify(mesh: o3d.geometry.TriangleMesh, max_triangles: int) -> o3d.geometry.TriangleMesh:
    """Vertex clustering (linear time; quadric decimation takes minutes on a noisy 3M-triangle mesh)
    on cells grown by 1.5x until at most ``max_triangles`` triangles remain."""
    # a cell edge whose square is twice the area per triangle wanted
    cell = np.sqrt(2 * mesh.get_surface_area() / max_triangles)
    while len(mesh.triangles) > max_triangles:
        mesh = mesh.simplify_vertex_clustering(voxel_size=cell)
        cell *= 1.5
    return mesh


def _camera_eye(eye: Eye) -> dict[str, float] | None:
    """``eye`` checked: None, or three finite numbers not all zero, as plotly's camera eye dict."""
    if eye is None:
        return None
    values = numeric_array(eye, "eye", (1,)).astype(np.float64)
    if values.shape != (3,) or not np.isfinite(values).all() or not values.any():
        raise ValueError(f"eye must be three finite numbers (x, y, z), not all zero, got {eye!r:.60}")
    return dict(zip("xyz", values.tolist(), strict=True))


def _switch_layout(fig: go.Figure, names: list[str], title: str, camera: dict[str, float] | None) -> go.Figure:
    """Lay out a 3-D plotly figure whose traces ``names`` are shown one at a time by buttons.

    The buttons sit between the title and the plot (not over the title); ``camera`` (from
    :func:`_camera_eye`) sets the starting view, z up.
    """
    n = len(names)
    buttons = [
        {"label": name, "method": "update", "args": [{"visible": [j == i for j in range(n)]}]}
        for i, name in enumerate(names)
    ]
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"},
        updatemenus=[
            {"buttons": buttons, "direction": "right", "x": 0.0, "y": 1.0, "xanchor": "left", "yanchor": "bottom"}
        ]
        if n > 1
        else [],
        scene={
            "xaxis_title": "x (m)",
            "yaxis_title": "y (m)",
            "zaxis_title": "z (m)",
            "aspectmode": "data",
            **({"camera": {"eye": camera, "up": {"x": 0, "y": 0, "z": 1}}} if camera else {}),
        },
        margin={"l": 0, "r": 0, "t": 100, "b": 0},
        height=560,
        showlegend=False,
    )
    return fig
