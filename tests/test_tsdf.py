"""Tests of mvdlib.tsdf: Open3D's VoxelBlockGrid TSDF fusion reproduces known surfaces."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from test_pointcloud import _pose, _render_depth, _terrain

from mvdlib.metrics import precision_recall_fscore
from mvdlib.pointcloud import DepthView, consistency_counts, depth_to_points
from mvdlib.tsdf import BLOCK_RESOLUTION, tsdf_fuse

K_SMALL = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])


def test_one_frame_of_a_plane_gives_its_surface():
    """The failure Open3D 0.20.0's ScalableTSDFVolume shows: one valid frame, nothing extracted."""
    z0, voxel = 2.0037, 0.02
    depth = np.full((48, 64), z0, np.float32)
    fused = tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4))], voxel_size=voxel)
    # a fronto-parallel plane has an exact projective signed distance: every zero crossing lies on it
    cells = (64 / 60 * z0 / voxel) * (48 / 60 * z0 / voxel)  # the frustum's cross-section at z0, in voxels
    assert len(fused.points) > 0.8 * cells
    np.testing.assert_allclose(fused.points[:, 2], z0, atol=1e-4)
    half_width = (63 - 31.5) / 60 * z0  # the frustum at z0
    assert np.abs(fused.points[:, 0]).max() <= half_width + voxel
    assert len(fused.mesh.triangles) > 0 and fused.colors is None


def test_colors_follow_the_images():
    depth = np.full((48, 64), 2.0, np.float32)
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0], image[..., 2] = 200, 40
    fused = tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4), image)], voxel_size=0.02)
    np.testing.assert_allclose(fused.colors, np.broadcast_to([200 / 255, 0, 40 / 255], fused.colors.shape), atol=1e-5)


def test_tsdf_of_true_depth_reproduces_the_surface():
    """Five views of a height field with a bump: F-score at 2 cm >= 0.95 against mesh samples."""
    mesh = _terrain()
    h, w = 192, 256
    K = np.array([[240.0, 0.0, 127.5], [0.0, 240.0, 95.5], [0.0, 0.0, 1.0]])
    views = [DepthView(_render_depth(mesh, K, T, h, w), K, T) for T in map(_pose, _EYES)]
    fused = tsdf_fuse(views, voxel_size=0.01)
    o3d.utility.random.seed(0)
    samples = np.asarray(mesh.sample_points_uniformly(400_000).points)
    gt = samples[consistency_counts(samples, views) >= 1]  # the part some camera sees
    precision, recall, fscore = precision_recall_fscore(fused.points, gt, [0.01, 0.02])
    assert fscore[1] >= 0.95, (precision, recall, fscore)
    assert precision[0] >= 0.9


_EYES = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.2), (-0.5, 0.0, 0.2), (0.0, 0.5, 0.2), (0.0, -0.5, 0.2)]


def test_pose_convention_world_to_camera_is_handled():
    """The same plane seen from a moved camera lands at the same world place."""
    z0 = 3.0
    T = _pose((0.3, -0.2, 0.0), target=(0.3, -0.2, 4.0))  # camera translated, looking along +z
    depth = np.full((48, 64), z0, np.float32)
    fused = tsdf_fuse([DepthView(depth, K_SMALL, T)], voxel_size=0.02)
    np.testing.assert_allclose(fused.points[:, 2], z0, atol=1e-4)
    lifted = depth_to_points(depth, K_SMALL, T)[0]  # the pixels' own world points
    # the grid may lose up to one block (BLOCK_RESOLUTION voxels) at the frustum's edge
    edge = BLOCK_RESOLUTION * 0.02
    np.testing.assert_allclose(fused.points[:, :2].min(0), lifted[:, :2].min(0), atol=edge)
    np.testing.assert_allclose(fused.points[:, :2].max(0), lifted[:, :2].max(0), atol=edge)
    assert np.median(fused.points[:, 0]) > 0.1 and np.median(fused.points[:, 1]) < 0  # moved with the camera


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voxel_size": 0.0}, "voxel_size"),
        ({"trunc_voxels": -1.0}, "trunc_voxels"),
        ({"weight_threshold": -1.0}, "weight_threshold"),
        ({"depth_max": float("nan")}, "depth_max"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    depth = np.full((48, 64), 2.0, np.float32)
    with pytest.raises(ValueError, match=message):
        tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4))], **kwargs)


def test_bad_views_raise():
    depth = np.full((48, 64), 2.0, np.float32)
    image = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="all carry an image or none"):
        tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4), image), DepthView(depth, K_SMALL, np.eye(4))])
    with pytest.raises(ValueError, match="T_world_cam"):
        tsdf_fuse([DepthView(depth, K_SMALL, 2 * np.eye(4))])
    with pytest.raises(ValueError, match="K"):
        tsdf_fuse([DepthView(depth, np.eye(4), np.eye(4))])


def test_moved_names_keep_their_old_paths():
    import mvdlib.open3d_io
    import mvdlib.tsdf
    import mvdlib.viz

    assert mvdlib.tsdf.save_mesh_ply is mvdlib.open3d_io.save_mesh_ply
    assert mvdlib.tsdf.plotly_mesh_figure is mvdlib.viz.plotly_mesh_figure


def test_voxels_far_behind_a_surface_are_unobserved():
    """Behind the truncation band a view leaves a voxel's weight at 0 (Curless and Levoy 1996, Open3D).

    View A sees a small plate at 1 m in front of a wall at 3 m; view B, placed at z = 1.5 m past
    the plate, sees the wall behind it. Were the voxels far behind A's plate set to psi = -1
    instead, the wall in A's shadow would be averaged with -1 and its zero crossing lost.
    """
    voxel = 0.02
    depth_a = np.full((48, 64), 3.0, np.float32)
    depth_a[16:32, 24:40] = 1.0  # the plate covers x, y in about [-0.13, 0.14] m at z = 1 m
    T_b = np.eye(4)
    T_b[2, 3] = 1.5
    views = [DepthView(depth_a, K_SMALL, np.eye(4)), DepthView(np.full((48, 64), 1.5, np.float32), K_SMALL, T_b)]
    fused = tsdf_fuse(views, voxel_size=voxel)
    p = fused.points
    # the plate's shadow on the wall spans x, y in about [-0.37, 0.42] m; look at its middle
    shadow = p[(np.abs(p[:, 0]) < 0.25) & (np.abs(p[:, 1]) < 0.25) & (p[:, 2] > 2.0)]
    assert len(shadow) > 0.8 * (0.5 / voxel) ** 2, len(shadow)
    np.testing.assert_allclose(shadow[:, 2], 3.0, atol=1e-3)
    # and A's plate is there too, at 1 m
    plate = p[(np.abs(p[:, 0]) < 0.08) & (np.abs(p[:, 1]) < 0.08) & (p[:, 2] < 1.5)]
    assert len(plate) > 0 and np.allclose(plate[:, 2], 1.0, atol=voxel)
