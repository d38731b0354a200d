"""From depth maps to a dense point cloud: back-projection and consistency fusion (chapters 12 and 13).

* :func:`depth_to_points` lifts one depth map to coloured world points,
  ``X_world = T_world_cam [d K^-1 (u, v, 1)^T; 1]`` (it reuses :mod:`mvdlib.geometry`).
* :func:`fuse` merges many depth maps and keeps a point only when enough *other* views see
  it at a consistent depth (:func:`consistency_counts`; the geometric-consistency filter of
  multi-view stereo fusion, as in COLMAP's ``StereoFusion`` and Gipuma).

Open3D's filters and PLY files are in :mod:`mvdlib.open3d_io`, the cloud's score in
:mod:`mvdlib.metrics`, its figure in :mod:`mvdlib.viz`.

Conventions (``book/conventions.md``): depth is z-depth in metres, 0 or non-finite is invalid;
poses are camera-to-world ``T_world_cam`` in the OpenCV frame. Points are ``N x 3`` in world
coordinates (metres); colours are ``N x 3`` floats in ``[0, 1]`` (RGB), the form Open3D uses.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    check_int,
    depth_map,
    intrinsics,
    numpy_in_out,
    positive_float,
    positive_int,
    rigid_pose,
    shape_str,
)
from mvdlib.conventions import as_mask, valid_depth
from mvdlib.geometry import backproject, invert_pose, project, transform_points
from mvdlib.metrics import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    point_to_cloud_distance,
    precision_recall_fscore,
)
from mvdlib.open3d_io import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    as_points,
    remove_radius_outliers,
    remove_statistical_outliers,
    save_ply,
    to_open3d,
    voxel_down_sample,
)
from mvdlib.viz import plotly_figure  # noqa: F401  (moved; old path kept for readers' notebooks)

__all__ = [
    "DEFAULT_MIN_VIEWS",
    "DEFAULT_REL_DEPTH_TOL",
    "DepthView",
    "as_views",
    "consistency_counts",
    "depth_to_points",
    "fuse",
    "image_colors",
    "single_depth",
]

# A point agrees with another view when |z_projected - d_view| <= tol * d_view. 1 % is the
# default ``max_depth_error`` of COLMAP's StereoFusion (Schoenberger et al., ECCV 2016).
DEFAULT_REL_DEPTH_TOL = 0.01
# A point survives fusion when at least this many other views confirm it: with its own
# view, three depth maps agree, so one wrong depth map can neither make nor confirm a point.
DEFAULT_MIN_VIEWS = 2

Array = Tensor | np.ndarray


class DepthView(NamedTuple):
    """One depth map with its camera, the unit that :func:`fuse` merges.

    Attributes:
        depth: H x W z-depth in metres (NumPy or torch; 0 or non-finite = invalid).
        K: 3 x 3 intrinsics in pixels, for this depth map's resolution.
        T_world_cam: 4 x 4 camera-to-world pose.
        image: optional H x W x 3 (or 3 x H x W) colour image, uint8 or floats in [0, 1].

    Example:
        >>> DepthView(np.full((2, 2), 3.0), np.eye(3), np.eye(4)).image is None
        True
    """

    depth: Array
    K: Array
    T_world_cam: Array
    image: Array | None = None


# What fuse and tsdf_fuse accept for one view: a DepthView, a dict with its keys, or a tuple.
ViewLike = DepthView | Mapping[str, Any] | Sequence[Any]


def single_depth(depth: Array, name: str = "depth") -> Tensor:
    """One depth map, checked (``mvdlib._validation.depth_map``), as 1 x 1 x H x W; a batch is an error.

    Example:
        >>> single_depth(np.ones((2, 3))).shape
        torch.Size([1, 1, 2, 3])
    """
    d = depth_map(depth, name)
    if d.shape[0] != 1:
        raise ValueError(f"{name} must be a single depth map (HxW or 1xHxW), got shape {shape_str(d)}")
    return d


def image_colors(image: Array, h: int, w: int) -> Tensor:
    """An image as H*W x 3 RGB floats in [0, 1], from HxWx3 or 3xHxW, uint8 or [0, 1] floats.

    Example:
        >>> image_colors(np.full((1, 2, 3), 255, np.uint8), 1, 2).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    h, w = check_int(h, "h", min=1), check_int(w, "w", min=1)
    raw = image if isinstance(image, Tensor) else np.asarray(image)
    if (isinstance(raw, np.ndarray) and raw.dtype.kind not in "iuf") or (
        isinstance(raw, Tensor) and (raw.dtype == torch.bool or raw.is_complex())
    ):
        raise TypeError(f"image must be an array of numbers (uint8 or floats in [0, 1]), got dtype {raw.dtype}")
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


@numpy_in_out("depth", "K", "T_world_cam")
def depth_to_points(
    depth: Tensor, K: Tensor, T_world_cam: Tensor, image: Tensor | None = None, mask: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """Coloured world points of one depth map, ``X = T_world_cam [d K^-1 (u, v, 1)^T; 1]`` (chapter 12).

    Pixels are visited row by row (``v`` then ``u``), so the i-th point comes from the i-th
    valid pixel in row-major order, the order Open3D's ``create_from_depth_image`` uses.

    Args:
        depth: H x W (or 1 x H x W, 1 x 1 x H x W) z-depth in metres; 0 or non-finite = invalid.
        K: 3 x 3 intrinsics of the depth map's resolution, in pixels.
        T_world_cam: 4 x 4 camera-to-world pose.
        image: optional H x W x 3 or 3 x H x W RGB image, uint8 (0..255) or floats in [0, 1].
        mask: optional H x W mask (bool or 0/1, :func:`mvdlib.conventions.as_mask`); only its
            true pixels become points.
    Returns:
        ``(points, colors)``: N x 3 world points (metres, the depth's dtype) and N x 3 RGB
        colours, float32 in [0, 1] (``None`` without ``image``). NumPy in, NumPy out; torch
        in, torch out on the depth's device. No valid pixel gives N = 0 and a warning.

    Example:
        >>> points, _ = depth_to_points(np.full((2, 2), 2.0), np.diag([1.0, 1.0, 1.0]), np.eye(4))
        >>> points[0].tolist(), points.shape
        ([0.0, 0.0, 2.0], (4, 3))
    """
    d = single_depth(depth, "depth")
    Kt = intrinsics(K, "K")
    if Kt.shape[0] != 1:
        raise ValueError(f"K must be a single 3x3 matrix, got shape {shape_str(K)}")
    T = rigid_pose(T_world_cam, "T_world_cam")
    if T.shape[0] != 1:
        raise ValueError(f"T_world_cam must be a single 4x4 pose, got shape {shape_str(T_world_cam)}")
    h, w = d.shape[-2:]
    keep = None if mask is None else as_mask(mask, (h, w), "mask").to(d.device).reshape(-1)
    colors = None if image is None else image_colors(image, h, w).to(d.device)
    points, colors = _lift(d, Kt, T, colors, keep)
    if points.shape[0] == 0:
        warnings.warn("depth_to_points: the depth map has no valid pixel; returning an empty cloud", stacklevel=2)
    return points, colors


def _lift(d: Tensor, K: Tensor, T: Tensor, colors: Tensor | None, keep: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """World points (and colours) of the valid pixels of a 1 x 1 x H x W depth that ``keep`` (H*W) selects."""
    h, w = d.shape[-2:]
    valid = valid_depth(d).reshape(-1)  # H*W
    if keep is not None:
        valid &= keep
    cam = backproject(d, K.to(d))  # 1 x 3 x H x W
    world = transform_points(T.to(d), cam)  # 1 x 3 x H x W
    points = world.reshape(3, h * w).T[valid]  # N x 3
    return points, None if colors is None else colors[valid]


def _as_view(view: ViewLike, i: int) -> DepthView:
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


def as_views(views: Sequence[ViewLike]) -> list[DepthView]:
    """Depth maps with cameras as a non-empty list of :class:`DepthView` (from views, dicts or tuples).

    Example:
        >>> [v.K for v in as_views([{"depth": np.ones((2, 2)), "K": "K", "T_world_cam": "T"}])]
        ['K']
    """
    if isinstance(views, (DepthView, Mapping)) or not isinstance(views, Sequence):
        raise ValueError(f"views must be a list of DepthView / dicts, got {type(views).__name__}")
    if len(views) == 0:
        raise ValueError("views must hold at least one depth map, got an empty list")
    return [_as_view(v, i) for i, v in enumerate(views)]


def _one(batch: Tensor, name: str) -> Tensor:
    """A validated 1 x 3 x 3 or 1 x 4 x 4 camera matrix on the CPU; a view has one camera, not a batch."""
    if batch.shape[0] != 1:
        raise ValueError(f"{name} must be a single matrix (one camera per view), got a batch of {batch.shape[0]}")
    return batch.cpu()


class _Cameras:
    """Validated depth maps and cameras of several views, for repeated consistency tests."""

    def __init__(self, views: list[DepthView]) -> None:
        self.depths = [
            single_depth(v.depth, f"views[{i}].depth")[0, 0].detach().cpu().double() for i, v in enumerate(views)
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
            ok = inside & valid_depth(d_at) & ((z[j, 0] - d_at).abs() <= rel_tol * d_at)
            counts += ok.numpy()
        return counts


def consistency_counts(points: Array, views: Sequence[ViewLike], rel_tol: float = DEFAULT_REL_DEPTH_TOL) -> np.ndarray:
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

    Example:
        >>> view = DepthView(np.full((3, 3), 2.0), np.diag([1.0, 1.0, 1.0]), np.eye(4))
        >>> consistency_counts(np.array([[0.0, 0, 2], [0, 0, 3]]), [view, view]).tolist()
        [2, 0]
    """
    p = as_points(points, "points")
    rel_tol = positive_float(rel_tol, "rel_tol")
    return _Cameras(as_views(views)).counts(p, rel_tol)


def fuse(
    views: Sequence[ViewLike],
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

    Example:
        >>> view = DepthView(np.full((3, 3), 2.0), np.diag([1.0, 1.0, 1.0]), np.eye(4))
        >>> fuse([view, view], min_views=1)[0].shape
        (18, 3)
    """
    vs = as_views(views)
    min_views = check_int(min_views, f"min_views (for {len(vs)} views)", min=0, max=len(vs) - 1)
    rel_tol = positive_float(rel_tol, "rel_tol")
    stride = positive_int(stride, "stride")
    has_image = [v.image is not None for v in vs]
    if any(has_image) and not all(has_image):
        raise ValueError(f"views must all carry an image or none, got images for views {np.flatnonzero(has_image)}")
    cameras = _Cameras(vs) if min_views > 0 else None
    all_points: list[np.ndarray] = []
    all_colors: list[np.ndarray] = []
    for i, v in enumerate(vs):
        d = single_depth(v.depth, f"views[{i}].depth")
        K = _one(intrinsics(v.K, f"views[{i}].K"), f"views[{i}].K")
        T = _one(rigid_pose(v.T_world_cam, f"views[{i}].T_world_cam"), f"views[{i}].T_world_cam")
        h, w = d.shape[-2:]
        grid = torch.zeros((h, w), dtype=torch.bool, device=d.device)
        grid[::stride, ::stride] = True
        rgb = None if v.image is None else image_colors(v.image, h, w).to(d.device)
        lifted, lifted_colors = _lift(d, K, T, rgb, grid.reshape(-1))
        pts = lifted.detach().cpu().numpy().astype(np.float64)
        cols = None if lifted_colors is None else lifted_colors.detach().cpu().numpy().astype(np.float64)
        if cameras is not None and len(pts):
            keep = cameras.counts(pts, rel_tol, exclude=i) >= min_views
            pts = pts[keep]
            cols = None if cols is None else cols[keep]
        all_points.append(pts)
        if cols is not None:
            all_colors.append(cols)
    points = np.concatenate(all_points)
    colors = np.concatenate(all_colors) if all(has_image) else None
    if len(points) == 0:
        warnings.warn("fuse: no point survived (no valid depth, or no consistent view)", stacklevel=2)
    elif voxel_size is not None:
        points, colors = voxel_down_sample(points, colors, voxel_size)
    return points, colors
