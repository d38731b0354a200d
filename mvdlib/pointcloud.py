"""From depth maps to a dense, filtered point cloud, and how to score it (chapters 12 and 13).

* :func:`depth_to_points` lifts one depth map to coloured world points,
  ``X_world = T_world_cam [d K^-1 (u, v, 1)^T; 1]`` (it reuses :mod:`mvdlib.geometry`).
* :func:`fuse` merges many depth maps and keeps a point only when enough *other* views see
  it at a consistent depth (the geometric-consistency filter of multi-view stereo fusion,
  as in COLMAP's ``StereoFusion`` and Gipuma).
* :func:`remove_statistical_outliers`, :func:`remove_radius_outliers`,
  :func:`voxel_down_sample`, :func:`to_open3d` and :func:`save_ply` hand the cloud to
  Open3D, which does neighbour searches well.
* :func:`precision_recall_fscore` scores a cloud against ground-truth points the way ETH3D
  and Tanks and Temples do: precision (accuracy) and recall (completeness) at a distance
  threshold, and their harmonic mean, the F-score.

Conventions (DESIGN.md §3): depth is z-depth in metres, 0 or non-finite is invalid; poses are
camera-to-world ``T_world_cam`` in the OpenCV frame. Points are ``N x 3`` in world
coordinates (metres); colours are ``N x 3`` floats in ``[0, 1]`` (RGB), the form Open3D uses.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import open3d as o3d
import torch
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    depth_map,
    intrinsics,
    like_input,
    numeric_array,
    positive_float,
    positive_int,
    rigid_pose,
    shape_str,
)
from mvdlib.geometry import backproject, invert_pose, project, transform_points

__all__ = [
    "DEFAULT_REL_DEPTH_TOL",
    "DepthView",
    "consistency_counts",
    "depth_to_points",
    "fuse",
    "plotly_figure",
    "point_to_cloud_distance",
    "precision_recall_fscore",
    "remove_radius_outliers",
    "remove_statistical_outliers",
    "save_ply",
    "to_open3d",
    "voxel_down_sample",
]

# A point agrees with another view when |z_projected - d_view| <= tol * d_view. 1 % is the
# default ``max_depth_error`` of COLMAP's StereoFusion (Schoenberger et al., ECCV 2016).
DEFAULT_REL_DEPTH_TOL = 0.01
# A point survives fusion when at least this many other views confirm it: with its own
# view, three depth maps agree, so one wrong depth map can neither make nor confirm a point.
DEFAULT_MIN_VIEWS = 2
# Open3D's statistical outlier removal: neighbours considered and the cut in standard
# deviations of the mean neighbour distance (the values of Open3D's own tutorial).
DEFAULT_STAT_NEIGHBORS = 20
DEFAULT_STAT_STD_RATIO = 2.0
# Points per cloud in an interactive 3D figure: 20k points (float32 coordinates, RGB strings)
# make about 0.8 MB of figure JSON.
DEFAULT_PLOT_POINTS = 20_000
# Neighbours used for a normal's local plane fit (Open3D tutorial's hybrid search).
NORMALS_MAX_NN = 30


class DepthView(NamedTuple):
    """One depth map with its camera, the unit that :func:`fuse` merges.

    Attributes:
        depth: H x W z-depth in metres (NumPy or torch; 0 or non-finite = invalid).
        K: 3 x 3 intrinsics in pixels, for this depth map's resolution.
        T_world_cam: 4 x 4 camera-to-world pose.
        image: optional H x W x 3 (or 3 x H x W) colour image, uint8 or floats in [0, 1].
    """

    depth: Any
    K: Any
    T_world_cam: Any
    image: Any = None


def _single_depth(depth: Any, name: str) -> Tensor:
    """A depth map as 1 x 1 x H x W; a batch of several maps is an error here."""
    d = depth_map(depth, name)
    if d.shape[0] != 1:
        raise ValueError(f"{name} must be a single depth map (HxW or 1xHxW), got shape {shape_str(d)}")
    return d


def _colors(image: Any, h: int, w: int) -> Tensor:
    """An image as H*W x 3 RGB floats in [0, 1], from HxWx3 or 3xHxW, uint8 or [0, 1] floats."""
    raw = image if isinstance(image, Tensor) else np.asarray(image)
    is_int = not (raw.dtype.is_floating_point if isinstance(raw, Tensor) else np.issubdtype(raw.dtype, np.floating))
    t = as_tensor(raw, "image").to(torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 3 and t.shape == (h, w, 3):
        flat = t.reshape(h * w, 3)
    elif t.dim() == 3 and t.shape == (3, h, w):
        flat = t.reshape(3, h * w).T
    else:
        raise ValueError(f"image must be HxWx3 or 3xHxW with H x W = {h} x {w} (the depth's size), got {shape_str(t)}")
    if is_int:
        flat = flat / 255.0
    elif not torch.isfinite(flat).all() or flat.min() < 0 or flat.max() > 1:
        raise ValueError(
            "image as floats must hold values in [0, 1]; pass uint8 or divide a 0..255 image by 255 "
            f"(got range [{flat.min().item():.4g}, {flat.max().item():.4g}])"
        )
    return flat


def depth_to_points(depth: Any, K: Any, T_world_cam: Any, image: Any = None, mask: Any = None) -> tuple[Any, Any]:
    """Coloured world points of one depth map, ``X = T_world_cam [d K^-1 (u, v, 1)^T; 1]`` (chapter 12).

    Pixels are visited row by row (``v`` then ``u``), so the i-th point comes from the i-th
    valid pixel in row-major order, the order Open3D's ``create_from_depth_image`` uses.

    Args:
        depth: H x W (or 1 x H x W, 1 x 1 x H x W) z-depth in metres; 0 or non-finite = invalid.
        K: 3 x 3 intrinsics of the depth map's resolution, in pixels.
        T_world_cam: 4 x 4 camera-to-world pose.
        image: optional H x W x 3 or 3 x H x W RGB image, uint8 (0..255) or floats in [0, 1].
        mask: optional H x W booleans; only ``True`` pixels become points.
    Returns:
        ``(points, colors)``: N x 3 world points (metres, the depth's dtype) and N x 3 RGB
        colours, float32 in [0, 1] (``None`` without ``image``). NumPy in, NumPy out; torch
        in, torch out on the depth's device. No valid pixel gives N = 0 and a warning.
    """
    d = _single_depth(depth, "depth")
    Kt = intrinsics(K, "K")
    if Kt.shape[0] != 1:
        raise ValueError(f"K must be a single 3x3 matrix, got shape {shape_str(as_tensor(K, 'K'))}")
    T = rigid_pose(T_world_cam, "T_world_cam")
    if T.shape[0] != 1:
        raise ValueError(
            f"T_world_cam must be a single 4x4 pose, got shape {shape_str(as_tensor(T_world_cam, 'T_world_cam'))}"
        )
    h, w = d.shape[-2:]
    valid = (torch.isfinite(d) & (d > 0)).reshape(-1)  # H*W
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask, device=d.device)
        if m.shape not in ((h, w), (1, h, w), (1, 1, h, w)):
            raise ValueError(f"mask must be HxW = {h}x{w} (the depth's size), got shape {tuple(m.shape)}")
        valid &= m.reshape(-1).bool()
    cam = backproject(d, Kt.to(d))  # 1 x 3 x H x W
    world = transform_points(T.to(d), cam)  # 1 x 3 x H x W
    points = world.reshape(3, h * w).T[valid]  # N x 3
    colors = None
    if image is not None:
        colors = _colors(image, h, w).to(d.device)[valid]  # N x 3
    if points.shape[0] == 0:
        warnings.warn("depth_to_points: the depth map has no valid pixel; returning an empty cloud", stacklevel=2)
    return like_input(points, depth), None if colors is None else like_input(colors, depth)


def _as_view(view: Any, i: int) -> DepthView:
    if isinstance(view, DepthView):
        return view
    if isinstance(view, Mapping):
        missing = {"depth", "K", "T_world_cam"} - set(view)
        if missing:
            raise ValueError(f"views[{i}] must have keys depth, K, T_world_cam (and image), missing {sorted(missing)}")
        return DepthView(view["depth"], view["K"], view["T_world_cam"], view.get("image"))
    if isinstance(view, Sequence) and len(view) in (3, 4):
        return DepthView(*view)
    raise ValueError(
        f"views[{i}] must be a DepthView, a dict or a (depth, K, T_world_cam[, image]) tuple, got {view!r}"
    )


def _views(views: Any) -> list[DepthView]:
    if isinstance(views, (DepthView, Mapping)) or not isinstance(views, Sequence):
        raise ValueError(f"views must be a list of DepthView / dicts, got {type(views).__name__}")
    if len(views) == 0:
        raise ValueError("views must hold at least one depth map, got an empty list")
    return [_as_view(v, i) for i, v in enumerate(views)]


def _points_n3(points: Any, name: str) -> np.ndarray:
    """Points as a float64 N x 3 NumPy array (N may be 0)."""
    p = points.detach().cpu().numpy() if isinstance(points, Tensor) else np.asarray(points)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must be N x 3, got shape {p.shape}")
    p = p.astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError(f"{name} must be finite, got NaN or inf coordinates")
    return p


def _colors_n3(colors: Any, n: int, name: str = "colors") -> np.ndarray | None:
    if colors is None:
        return None
    c = colors.detach().cpu().numpy() if isinstance(colors, Tensor) else np.asarray(colors)
    if c.shape != (n, 3):
        raise ValueError(f"{name} must be N x 3 with N = {n} (one per point), got shape {c.shape}")
    c = c.astype(np.float64)
    if not np.isfinite(c).all() or (c.size and (c.min() < 0 or c.max() > 1)):
        raise ValueError(f"{name} must be RGB floats in [0, 1]")
    return c


def _one(batch: Tensor, name: str) -> Tensor:
    """A validated 1 x 3 x 3 or 1 x 4 x 4 camera matrix on the CPU; a view has one camera, not a batch."""
    if batch.shape[0] != 1:
        raise ValueError(f"{name} must be a single matrix (one camera per view), got a batch of {batch.shape[0]}")
    return batch.cpu()


class _Cameras:
    """Validated depth maps and cameras of several views, for repeated consistency tests."""

    def __init__(self, views: list[DepthView]) -> None:
        self.depths = [
            _single_depth(v.depth, f"views[{i}].depth")[0, 0].detach().cpu().double() for i, v in enumerate(views)
        ]
        poses = torch.cat(
            [
                _one(rigid_pose(v.T_world_cam, f"views[{i}].T_world_cam"), f"views[{i}].T_world_cam")
                for i, v in enumerate(views)
            ]
        )
        self.T_cam_world = invert_pose(poses.double())  # V x 4 x 4
        self.K = torch.cat(
            [_one(intrinsics(v.K, f"views[{i}].K"), f"views[{i}].K") for i, v in enumerate(views)]
        ).double()  # V x 3 x 3

    def counts(self, points: np.ndarray, rel_tol: float, exclude: int | None = None) -> np.ndarray:
        """N counts of views (all but ``exclude``) that see each of N x 3 ``points`` consistently."""
        p = torch.from_numpy(points).T[None]  # 1 x 3 x N, float64
        uv, z = project(transform_points(self.T_cam_world, p), self.K)  # V x 2 x N, V x 1 x N
        pixel = torch.round(uv).nan_to_num(-1).long()  # nearest pixel centre; behind the camera -> -1
        counts = np.zeros(p.shape[-1], dtype=np.int64)
        for j, d in enumerate(self.depths):
            if j == exclude:
                continue
            h, w = d.shape
            u, r = pixel[j, 0], pixel[j, 1]
            inside = (u >= 0) & (u < w) & (r >= 0) & (r < h)
            d_at = torch.zeros_like(z[j, 0])
            d_at[inside] = d[r[inside], u[inside]]
            ok = inside & torch.isfinite(d_at) & (d_at > 0) & ((z[j, 0] - d_at).abs() <= rel_tol * d_at)
            counts += ok.numpy()
        return counts


def consistency_counts(points: Any, views: Sequence[Any], rel_tol: float = DEFAULT_REL_DEPTH_TOL) -> np.ndarray:
    """For each world point, how many views see it at a consistent depth (chapter 12).

    A view *sees a point consistently* when the point projects inside the image, in front
    of the camera, onto a pixel (nearest pixel centre) whose depth ``d`` is valid and
    ``|z - d| <= rel_tol * d``, with ``z`` the point's depth in that camera.

    Args:
        points: N x 3 world points (metres).
        views: the depth maps to test against (``DepthView``, dicts or tuples; images unused).
        rel_tol: relative depth tolerance.
    Returns:
        N int64 counts in ``0..len(views)``.
    """
    p = _points_n3(points, "points")
    rel_tol = positive_float(rel_tol, "rel_tol")
    return _Cameras(_views(views)).counts(p, rel_tol)


def fuse(
    views: Sequence[Any],
    min_views: int = DEFAULT_MIN_VIEWS,
    rel_tol: float = DEFAULT_REL_DEPTH_TOL,
    voxel_size: float | None = None,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fuse depth maps into one point cloud with a geometric-consistency filter (chapter 12).

    Every valid pixel of every view is lifted to the world (:func:`depth_to_points`); it is
    kept when at least ``min_views`` *other* views see it at a consistent depth
    (:func:`consistency_counts`). ``min_views=0`` keeps every point (no filter).

    Args:
        views: depth maps with cameras: ``DepthView``, dicts with keys ``depth, K,
            T_world_cam[, image]`` or tuples in that order.
        min_views: number of other views that must agree, ``0 <= min_views < len(views)``.
        rel_tol: relative depth tolerance of the agreement test.
        voxel_size: if given, down-sample the result on a voxel grid of this size (metres).
        stride: lift only every ``stride``-th pixel along rows and columns (the other views'
            full depth maps are still used for the test): ``stride**2`` times less work.
    Returns:
        ``(points, colors)``: M x 3 float64 world points and M x 3 colours in [0, 1]
        (``None`` when the views carry no images). An empty result warns and gives M = 0.
    """
    vs = _views(views)
    if isinstance(min_views, bool) or not isinstance(min_views, (int, np.integer)) or not 0 <= min_views < len(vs):
        raise ValueError(f"min_views must be an int in [0, {len(vs) - 1}] for {len(vs)} views, got {min_views!r}")
    rel_tol = positive_float(rel_tol, "rel_tol")
    stride = positive_int(stride, "stride")
    has_image = [v.image is not None for v in vs]
    if any(has_image) and not all(has_image):
        raise ValueError(f"views must all carry an image or none, got images for views {np.flatnonzero(has_image)}")
    cameras = _Cameras(vs) if min_views > 0 else None
    all_points, all_colors = [], []
    for i, v in enumerate(vs):
        h, w = _single_depth(v.depth, f"views[{i}].depth").shape[-2:]
        grid = np.zeros((h, w), dtype=bool)
        grid[::stride, ::stride] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one warning for the whole fusion, below
            pts, cols = depth_to_points(v.depth, v.K, v.T_world_cam, v.image, mask=grid)
        pts = _points_n3(pts, f"views[{i}] points")
        cols = _colors_n3(cols, len(pts))
        if cameras is not None and len(pts):
            keep = cameras.counts(pts, rel_tol, exclude=i) >= min_views
            pts = pts[keep]
            cols = None if cols is None else cols[keep]
        all_points.append(pts)
        all_colors.append(cols)
    points = np.concatenate(all_points)
    colors = np.concatenate(all_colors) if all(has_image) else None
    if len(points) == 0:
        warnings.warn("fuse: no point survived (no valid depth, or no consistent view)", stacklevel=2)
    elif voxel_size is not None:
        points, colors = voxel_down_sample(points, colors, voxel_size)
    return points, colors


def to_open3d(points: Any, colors: Any = None, normals_radius: float | None = None) -> o3d.geometry.PointCloud:
    """An Open3D point cloud from N x 3 points and optional N x 3 colours in [0, 1].

    Args:
        points: N x 3 world points.
        colors: optional N x 3 RGB in [0, 1].
        normals_radius: if given, estimate normals from neighbours within this radius
            (metres, at most ``NORMALS_MAX_NN`` of them); Open3D leaves their sign arbitrary.
    Returns:
        ``open3d.geometry.PointCloud``.
    """
    p = _points_n3(points, "points")
    c = _colors_n3(colors, len(p))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    if c is not None:
        pcd.colors = o3d.utility.Vector3dVector(c)
    if normals_radius is not None and len(p):
        radius = positive_float(normals_radius, "normals_radius")
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=NORMALS_MAX_NN))
    return pcd


def _from_open3d(pcd: o3d.geometry.PointCloud, with_colors: bool) -> tuple[np.ndarray, np.ndarray | None]:
    points = np.asarray(pcd.points).reshape(-1, 3)
    return points, np.asarray(pcd.colors).reshape(-1, 3) if with_colors else None


def voxel_down_sample(points: Any, colors: Any, voxel_size: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Average the points (and colours) falling in each voxel of a grid (Open3D).

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``; voxel_size: edge length in metres.
    Returns:
        ``(points, colors)`` with one point per occupied voxel.
    """
    voxel_size = positive_float(voxel_size, "voxel_size")
    pcd = to_open3d(points, colors)
    return _from_open3d(pcd.voxel_down_sample(voxel_size), colors is not None)


def _filter_open3d(
    points: Any, colors: Any, keep: Callable[[o3d.geometry.PointCloud], o3d.geometry.PointCloud]
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(points, colors)`` of ``keep(cloud)``, an Open3D filter, on the cloud of the inputs (empty stays empty)."""
    pcd = to_open3d(points, colors)
    if len(pcd.points) > 0:
        pcd = keep(pcd)
    return _from_open3d(pcd, colors is not None)


def remove_statistical_outliers(
    points: Any,
    colors: Any = None,
    nb_neighbors: int = DEFAULT_STAT_NEIGHBORS,
    std_ratio: float = DEFAULT_STAT_STD_RATIO,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop points whose mean distance to their neighbours is unusually large (Open3D).

    A point goes when its mean distance to its ``nb_neighbors`` nearest neighbours exceeds
    the mean of that quantity over the cloud by more than ``std_ratio`` standard deviations.

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        nb_neighbors: neighbours per point; std_ratio: the cut, in standard deviations.
    Returns:
        ``(points, colors)`` of the inliers.
    """
    nb_neighbors = positive_int(nb_neighbors, "nb_neighbors")
    std_ratio = positive_float(std_ratio, "std_ratio")
    return _filter_open3d(
        points, colors, lambda pcd: pcd.remove_statistical_outlier(nb_neighbors=nb_neighbors, std_ratio=std_ratio)[0]
    )


def remove_radius_outliers(
    points: Any, colors: Any = None, radius: float = 0.05, min_points: int = 8
) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop points with fewer than ``min_points`` neighbours within ``radius`` metres (Open3D).

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        radius: neighbourhood radius in metres; min_points: neighbours required.
    Returns:
        ``(points, colors)`` of the inliers.
    """
    radius = positive_float(radius, "radius")
    min_points = positive_int(min_points, "min_points")
    return _filter_open3d(points, colors, lambda pcd: pcd.remove_radius_outlier(nb_points=min_points, radius=radius)[0])


def save_ply(path: str | Path, points: Any, colors: Any = None, normals_radius: float | None = None) -> Path:
    """Write a point cloud to a binary PLY file for MeshLab or CloudCompare (Open3D).

    Args:
        path: file name ending in ``.ply``; its folder must exist.
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        normals_radius: if given, estimate and store normals (see :func:`to_open3d`).
    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"path must end in .ply, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path's folder must exist, got {str(path.parent)!r}")
    pcd = to_open3d(points, colors, normals_radius)
    if len(pcd.points) == 0:  # Open3D would only say that it could not write
        raise ValueError("points must hold at least one point to write a PLY file, got 0")
    if not o3d.io.write_point_cloud(str(path), pcd, write_ascii=False):
        raise OSError(f"Open3D could not write {str(path)!r}")
    return path


def plotly_figure(
    clouds: Mapping[str, tuple[Any, Any]],
    max_points: int = DEFAULT_PLOT_POINTS,
    seed: int = 0,
    title: str = "",
    eye: Any = None,
) -> Any:
    """An interactive 3D scatter of one or more clouds, with buttons that show one at a time.

    Each cloud is randomly thinned to at most ``max_points`` points (``seed``) so the
    figure's JSON stays small enough for the offline HTML book; coordinates are stored as
    float32. Display it with :func:`mvdlib.viz.show_plotly`.

    Args:
        clouds: name -> ``(points N x 3, colors N x 3 in [0, 1] or None)``.
        max_points: points kept per cloud.
        seed: seed of the thinning.
        title: figure title.
        eye: where the viewer starts, as plotly's ``scene.camera.eye`` (x, y, z in units of the
            plotted box, from its centre; z up); default: plotly's oblique view from above.
            Chapter 12 looks over the capture cameras' shoulders, so the room reads as a room.
    Returns:
        ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    if not isinstance(clouds, Mapping) or not clouds:
        raise ValueError("clouds must be a non-empty dict name -> (points, colors)")
    max_points = positive_int(max_points, "max_points")
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    for i, (name, (points, colors)) in enumerate(clouds.items()):
        p = _points_n3(points, f"clouds[{name!r}] points")
        c = _colors_n3(colors, len(p), f"clouds[{name!r}] colors")
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
    return _switch_layout(fig, list(clouds), title, eye)


def _camera_eye(eye: Any) -> dict[str, float] | None:
    """``eye`` checked: None, or three finite numbers not all zero, as plotly's camera eye dict."""
    if eye is None:
        return None
    values = numeric_array(eye, "eye", (1,)).astype(np.float64)
    if values.shape != (3,) or not np.isfinite(values).all() or not values.any():
        raise ValueError(f"eye must be three finite numbers (x, y, z), not all zero, got {eye!r:.60}")
    return dict(zip("xyz", values.tolist(), strict=True))


def _switch_layout(fig: Any, names: list[str], title: str, eye: Any = None) -> Any:
    """Lay out a 3-D plotly figure whose traces ``names`` are shown one at a time by buttons.

    The buttons sit between the title and the plot (not over the title); ``eye`` (see
    :func:`plotly_figure`) sets the starting view, z up. Used by :func:`plotly_figure` and
    :func:`mvdlib.tsdf.plotly_mesh_figure`.
    """
    camera = _camera_eye(eye)
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


def point_to_cloud_distance(points: Any, cloud: Any) -> np.ndarray:
    """Distance from each point to its nearest neighbour in ``cloud`` (Open3D KD-tree).

    Args:
        points: N x 3; cloud: M x 3 with M >= 1.
    Returns:
        N float64 distances in metres.
    """
    p = _points_n3(points, "points")
    c = _points_n3(cloud, "cloud")
    if len(c) == 0:
        raise ValueError("cloud must hold at least one point, got 0")
    if len(p) == 0:
        return np.zeros(0)
    return np.asarray(to_open3d(p).compute_point_cloud_distance(to_open3d(c)))


def precision_recall_fscore(
    pred_points: Any, gt_points: Any, threshold: Any, sample: int | None = None, seed: int = 0
) -> tuple[Any, Any, Any]:
    """Precision, recall and F-score of a reconstruction at a distance threshold (chapter 12).

    ``P(t)`` is the fraction of predicted points within ``t`` of a ground-truth point
    (accuracy), ``R(t)`` the fraction of ground-truth points within ``t`` of a predicted
    point (completeness), and ``F = 2 P R / (P + R)`` (0 when both are 0), as in Tanks and
    Temples (Knapitsch et al. 2017) and ETH3D (Schoeps et al. 2017).

    Args:
        pred_points: N x 3 reconstructed points (N = 0 warns and scores 0).
        gt_points: M x 3 ground-truth points, M >= 1.
        threshold: a distance in metres, or a 1-D sequence of them.
        sample: if given, estimate precision from ``sample`` random predicted points and
            recall from ``sample`` random ground-truth points (each still measured against
            the whole other cloud): unbiased, with a standard error of at most
            ``0.5 / sqrt(sample)`` (0.35 percentage points for 20,000).
        seed: seed of the sampling.
    Returns:
        ``(precision, recall, fscore)``: floats for a scalar threshold, NumPy arrays (one
        entry per threshold) for a sequence.
    """
    gt = _points_n3(gt_points, "gt_points")
    pred = _points_n3(pred_points, "pred_points")
    if len(gt) == 0:
        raise ValueError("gt_points must hold at least one point, got 0")
    if sample is not None:
        sample = positive_int(sample, "sample")
    scalar = np.ndim(threshold) == 0
    try:
        t = np.atleast_1d(np.asarray(threshold, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a positive number or a 1-D sequence of them, got {threshold!r}") from None
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"threshold must be a positive number or a 1-D sequence of them, got {threshold!r}")
    if len(pred) == 0:
        warnings.warn("precision_recall_fscore: pred_points is empty; scoring 0", stacklevel=2)
        precision = recall = np.zeros_like(t)
    else:
        rng = np.random.default_rng(seed)
        pick = lambda a: a if sample is None or len(a) <= sample else a[rng.choice(len(a), sample, replace=False)]  # noqa: E731
        d_pred = point_to_cloud_distance(pick(pred), gt)  # N (or sample)
        d_gt = point_to_cloud_distance(pick(gt), pred)  # M (or sample)
        precision = (d_pred[None, :] <= t[:, None]).mean(axis=1)
        recall = (d_gt[None, :] <= t[:, None]).mean(axis=1)
    denom = precision + recall
    fscore = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    if scalar:
        return float(precision[0]), float(recall[0]), float(fscore[0])
    return precision, recall, fscore
