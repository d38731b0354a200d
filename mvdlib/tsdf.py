"""Truncated signed-distance (TSDF) fusion of depth maps with Open3D (chapter 12).

Curless and Levoy (SIGGRAPH 1996), as KinectFusion runs it: every voxel near a surface
stores the weighted mean of the signed distances ``d_view(voxel) - z(voxel)`` that the depth
maps measure along their rays, truncated to ``+-trunc``; a voxel more than ``trunc`` behind a
view's surface is hidden from that view and keeps weight 0 from it (unobserved, not -1: Open3D
integrates only signed distances ``>= -trunc``), so a thin object seen from both sides keeps both
faces (``tests/test_tsdf.py``). The surface is the zero level set, extracted by marching cubes.
Open3D's tensor ``VoxelBlockGrid`` does the integration and the extraction (Dong et al., "ASH",
2022); nothing here is hand-written but the glue.

The grid is Open3D's sparse ``t.geometry.VoxelBlockGrid`` (a dense volume would need ~10^8
voxels for a room at 1.5 cm). The fused cloud is the vertex set of the extracted mesh:
marching cubes puts one vertex on every voxel edge where the TSDF changes sign,
interpolated to the zero crossing.

Conventions (``book/conventions.md``): depth is z-depth in metres (0 or non-finite invalid),
poses are camera-to-world ``T_world_cam``; Open3D takes the world-to-camera "extrinsic", its
inverse. The mesh is written by :func:`mvdlib.open3d_io.save_mesh_ply` and drawn by
:func:`mvdlib.viz.plotly_mesh_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import open3d as o3d
import open3d.core as o3c

from mvdlib._validation import intrinsics, positive_float, rigid_pose
from mvdlib.conventions import valid_depth
from mvdlib.geometry import invert_pose
from mvdlib.open3d_io import save_mesh_ply  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.pointcloud import ViewLike, as_views, image_colors, single_depth
from mvdlib.viz import plotly_mesh_figure  # noqa: F401  (moved; old path kept for readers' notebooks)

__all__ = [
    "DEFAULT_TRUNC_VOXELS",
    "DEFAULT_VOXEL_SIZE",
    "TSDFFusion",
    "tsdf_fuse",
]

# 1.5 cm voxels: the pixel footprint of a 320 x 256 view (f = 285 px) at 4 m is 1.4 cm.
DEFAULT_VOXEL_SIZE = 0.015
# Truncation distance in voxels: Open3D's default ``trunc_voxel_multiplier``.
DEFAULT_TRUNC_VOXELS = 8.0
# Voxels per block edge (8^3 voxels per hash entry) and the initial number of blocks; the
# hash map grows when it needs more.
BLOCK_RESOLUTION = 8
INITIAL_BLOCKS = 20_000


class TSDFFusion(NamedTuple):
    """What :func:`tsdf_fuse` returns.

    Attributes:
        points: N x 3 float64 surface points (the mesh's vertices), world frame, metres.
        colors: N x 3 float64 RGB in [0, 1], or ``None`` when the views carry no images.
        mesh: the ``open3d.geometry.TriangleMesh`` (legacy) with these vertices.
    """

    points: np.ndarray
    colors: np.ndarray | None
    mesh: o3d.geometry.TriangleMesh


def tsdf_fuse(
    views: Sequence[ViewLike],
    voxel_size: float = DEFAULT_VOXEL_SIZE,
    trunc_voxels: float = DEFAULT_TRUNC_VOXELS,
    depth_max: float | None = None,
    weight_threshold: float = 0.0,
) -> TSDFFusion:
    """Fuse depth maps into a TSDF on a sparse voxel grid and extract its surface (chapter 12).

    Args:
        views: depth maps with cameras: ``DepthView``, dicts with keys ``depth, K,
            T_world_cam[, image]`` or tuples in that order (as for ``pointcloud.fuse``).
        voxel_size: voxel edge in metres.
        trunc_voxels: truncation distance in voxels (signed distances beyond
            ``trunc_voxels * voxel_size`` are clamped).
        depth_max: ignore depths beyond this (metres); default: the largest valid depth.
        weight_threshold: extract only voxels whose accumulated weight (one per view that
            observed them) exceeds this.
    Returns:
        :class:`TSDFFusion` ``(points, colors, mesh)``; an empty grid gives N = 0.
    """
    vs = as_views(views)
    voxel_size = positive_float(voxel_size, "voxel_size")
    trunc_voxels = positive_float(trunc_voxels, "trunc_voxels")
    if (
        not isinstance(weight_threshold, (int, float, np.number))
        or not np.isfinite(weight_threshold)
        or weight_threshold < 0
    ):
        raise ValueError(f"weight_threshold must be a finite number >= 0, got {weight_threshold!r}")
    has_image = [v.image is not None for v in vs]
    if any(has_image) and not all(has_image):
        raise ValueError(f"views must all carry an image or none, got images for views {np.flatnonzero(has_image)}")
    depths = [single_depth(v.depth, f"views[{i}].depth")[0, 0].detach().cpu().numpy() for i, v in enumerate(vs)]
    if depth_max is None:
        valid_max = [float(d[valid_depth(d)].max(initial=0.0)) for d in depths]
        depth_max = max(valid_max) * 1.01 or 1.0
    depth_max = positive_float(depth_max, "depth_max")

    attrs = ("tsdf", "weight", "color") if all(has_image) else ("tsdf", "weight")
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=attrs,
        attr_dtypes=(o3c.float32,) * len(attrs),
        attr_channels=((1), (1), (3))[: len(attrs)],
        voxel_size=voxel_size,
        block_resolution=BLOCK_RESOLUTION,
        block_count=INITIAL_BLOCKS,
        device=o3c.Device("CPU:0"),
    )
    for i, (v, d) in enumerate(zip(vs, depths, strict=True)):
        h, w = d.shape
        depth = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(np.where(np.isfinite(d), d, 0), np.float32)))
        K = o3c.Tensor(intrinsics(v.K, f"views[{i}].K")[0].double().cpu().numpy())  # 3 x 3
        T_world_cam = rigid_pose(v.T_world_cam, f"views[{i}].T_world_cam")
        extrinsic = o3c.Tensor(invert_pose(T_world_cam.double())[0].cpu().numpy())  # 4 x 4 world-to-camera
        kwargs = {"depth_scale": 1.0, "depth_max": depth_max, "trunc_voxel_multiplier": trunc_voxels}
        blocks = grid.compute_unique_block_coordinates(depth, K, extrinsic, **kwargs)
        if v.image is not None:  # all views carry one, or none
            rgb = image_colors(v.image, h, w).reshape(h, w, 3).cpu().numpy()  # H x W x 3 in [0, 1]
            color = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb, np.float32)))
            grid.integrate(blocks, depth, color, K, extrinsic, **kwargs)
        else:
            grid.integrate(blocks, depth, K, extrinsic, **kwargs)
    mesh = grid.extract_triangle_mesh(weight_threshold=float(weight_threshold)).to_legacy()
    points = np.asarray(mesh.vertices).reshape(-1, 3)
    colors = np.clip(np.asarray(mesh.vertex_colors).reshape(-1, 3), 0, 1) if all(has_image) else None
    return TSDFFusion(points, colors, mesh)
