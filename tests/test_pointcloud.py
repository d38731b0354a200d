"""Tests of mvdlib.pointcloud: back-projection against Open3D, consistency fusion, errors."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mvdlib.geometry import look_at, scale_intrinsics
from mvdlib.metrics import point_to_cloud_distance, precision_recall_fscore
from mvdlib.pointcloud import DepthView, consistency_counts, depth_to_points, fuse

H, W = 48, 64
K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])


def _pose(eye, target=(0.0, 0.0, 4.0)) -> np.ndarray:
    return look_at(np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64))


def _terrain() -> o3d.geometry.TriangleMesh:
    """A 4 m x 4 m height field at z ~ 4 m with a bump, seen from the front (no self-occlusion)."""
    n = 41
    x, y = np.meshgrid(np.linspace(-2, 2, n), np.linspace(-2, 2, n))
    z = 4.0 - 0.8 * np.exp(-(x**2 + y**2) / 0.5)
    verts = np.stack([x, y, z], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(verts), o3d.utility.Vector3iVector(tris))


def _render_depth(mesh: o3d.geometry.TriangleMesh, K: np.ndarray, T_world_cam: np.ndarray, h: int, w: int):
    """z-depth by Open3D ray casting through each pixel centre (0 where nothing is hit)."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # H x W x 3, z = 1
    dirs = rays_cam @ T_world_cam[:3, :3].T
    origins = np.broadcast_to(T_world_cam[:3, 3], dirs.shape)
    rays = o3d.core.Tensor(np.concatenate([origins, dirs], -1).astype(np.float32))
    t_hit = scene.cast_rays(rays)["t_hit"].numpy()  # in units of |dir|; dir has camera z = 1
    return np.where(np.isfinite(t_hit), t_hit, 0.0).astype(np.float32)


EYES = [(0.0, 0.0, 0.0), (0.8, 0.0, 0.2), (-0.8, 0.0, 0.2), (0.0, 0.8, 0.2), (0.0, -0.8, 0.2), (0.6, 0.6, 0.0)]


@pytest.fixture(scope="module")
def terrain_views():
    mesh = _terrain()
    views = []
    for eye in EYES:
        T = _pose(eye)
        views.append(DepthView(_render_depth(mesh, K, T, H, W), K, T))
    o3d.utility.random.seed(0)
    gt = np.asarray(mesh.sample_points_uniformly(100_000).points)
    return mesh, views, gt


def test_depth_to_points_matches_open3d_create_from_rgbd_image():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 5.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.2] = 0.0  # holes
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    T = _pose((0.3, -0.2, 0.1), (0.5, 0.4, 3.0))
    points, colors = depth_to_points(depth, K, T, image=rgb)

    intr = o3d.camera.PinholeCameraIntrinsic(W, H, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(rgb),
        o3d.geometry.Image(depth),
        depth_scale=1.0,
        depth_trunc=100.0,
        convert_rgb_to_intensity=False,
    )
    ref = o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intr, extrinsic=np.linalg.inv(T))
    assert points.shape == (int((depth > 0).sum()), 3)
    np.testing.assert_allclose(points, np.asarray(ref.points), atol=1e-4)
    np.testing.assert_allclose(colors, np.asarray(ref.colors), atol=1e-6)


def test_depth_to_points_matches_open3d_create_from_depth_image_without_image():
    depth = np.full((H, W), 2.5, dtype=np.float32)
    depth[:, :10] = np.nan  # non-finite is invalid too
    T = _pose((1.0, 0.0, 0.0), (0.0, 0.2, 3.0))
    points, colors = depth_to_points(depth, K, T)
    intr = o3d.camera.PinholeCameraIntrinsic(W, H, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    ref = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(np.nan_to_num(depth)), intr, extrinsic=np.linalg.inv(T), depth_scale=1.0
    )
    assert colors is None
    np.testing.assert_allclose(points, np.asarray(ref.points), atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    f=st.floats(30.0, 200.0),
    eye=st.tuples(*[st.floats(-2.0, 2.0)] * 3),
    axis=st.tuples(*[st.floats(-1.0, 1.0)] * 3),
    seed=st.integers(0, 2**16),
)
def test_world_points_reproject_to_their_pixels(f, eye, axis, seed):
    rng = np.random.default_rng(seed)
    Kf = np.array([[f, 0.0, W / 2 - 0.5], [0.0, 1.1 * f, H / 2 - 0.5], [0.0, 0.0, 1.0]])
    T = _pose(eye, np.asarray(eye) + np.array([0.0, 0.0, 1.0]) + 0.5 * np.asarray(axis))
    depth = rng.uniform(0.5, 20.0, (H, W))
    points, _ = depth_to_points(depth, Kf, T)
    cam = (points - T[:3, 3]) @ T[:3, :3]  # world -> camera: R^T (X - t)
    uvw = cam @ Kf.T
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(uvw[:, 0] / uvw[:, 2], u.reshape(-1), atol=1e-6)
    np.testing.assert_allclose(uvw[:, 1] / uvw[:, 2], v.reshape(-1), atol=1e-6)
    np.testing.assert_allclose(cam[:, 2], depth.reshape(-1), rtol=1e-9)


def test_depth_to_points_torch_in_torch_out_and_mask():
    depth = torch.full((1, H, W), 3.0)
    mask = np.zeros((H, W), dtype=bool)
    mask[10:20, 5:15] = True
    img = torch.rand(3, H, W)
    points, colors = depth_to_points(depth, torch.as_tensor(K, dtype=torch.float32), torch.eye(4), image=img, mask=mask)
    assert isinstance(points, torch.Tensor) and points.shape == (100, 3)
    torch.testing.assert_close(colors, img[:, 10:20, 5:15].reshape(3, -1).T)
    torch.testing.assert_close(points[:, 2], torch.full((100,), 3.0))


def test_consistency_counts_hand_case():
    plane = np.full((H, W), 4.0, dtype=np.float32)  # fronto-parallel plane z = 4 for both cameras
    T0, T1 = np.eye(4), np.eye(4)
    T1[0, 3] = 0.5  # second camera 0.5 m to the right, same orientation
    views = [DepthView(plane, K, T0), DepthView(plane, K, T1)]
    pts = np.array(
        [
            [0.2, 0.0, 4.0],  # on the plane, seen by both
            [0.2, 0.0, 4.2],  # 5 % behind the plane: inconsistent
            [0.2, 0.0, 4.03],  # 0.75 % behind: consistent at 1 %
            [-1.9, 0.0, 4.0],  # on the plane, seen by camera 0 only (left of camera 1's view)
            [0.0, 0.0, -1.0],  # behind both cameras
        ]
    )
    np.testing.assert_array_equal(consistency_counts(pts, views, rel_tol=0.01), [2, 0, 2, 1, 0])


def test_consistency_counts_only_confirmations_neither_occlusion_nor_free_space_violation():
    """Chapter 12: D_j < z_j (occluded for view j) and D_j > z_j (view j sees through the point)
    both leave a point unconfirmed; the filter counts neither against it."""
    plane = np.full((H, W), 4.0, dtype=np.float32)
    views = [DepthView(plane, K, np.eye(4))]
    occluded = [0.0, 0.0, 4.5]  # behind the plane: the view measures D = 4 < z = 4.5
    violating = [0.0, 0.0, 3.5]  # in front of the plane: D = 4 > z = 3.5, free space
    confirmed = [0.0, 0.0, 4.0]
    pts = np.array([occluded, violating, confirmed])
    np.testing.assert_array_equal(consistency_counts(pts, views, rel_tol=0.01), [0, 0, 1])
    # fuse with min_views=1 keeps a pixel of view 0 when view 1 confirms it, whichever way it fails
    near = np.full((H, W), 3.5, dtype=np.float32)
    far = np.full((H, W), 4.5, dtype=np.float32)
    for other in (near, far):
        with pytest.warns(UserWarning, match="no point survived"):
            fused, _ = fuse([DepthView(plane, K, np.eye(4)), DepthView(other, K, np.eye(4))], min_views=1)
        assert len(fused) == 0


def test_fuse_without_filter_is_the_union_of_the_views(terrain_views):
    _, views, _ = terrain_views
    points, colors = fuse(views[:3], min_views=0)
    union = np.concatenate([depth_to_points(v.depth, v.K, v.T_world_cam)[0] for v in views[:3]])
    assert colors is None
    np.testing.assert_allclose(points, union, atol=1e-6)


def test_fused_ground_truth_depth_scores_near_one_and_wrong_K_does_not(terrain_views):
    mesh, views, gt = terrain_views
    # A fused point needs its own view and 2 others; score against the GT those can see.
    gt = gt[consistency_counts(gt, views) >= 3]
    t = 0.05  # metres; 1.25 % of the 4 m distance, below the 6.7 cm pixel footprint there
    points, _ = fuse(views, min_views=2)
    p, r, f = precision_recall_fscore(points, gt, t)
    assert p > 0.99 and r > 0.98 and f > 0.99

    # The seed's bug: depth maps of a half-size image used with the full-size K.
    K_half = scale_intrinsics(K, 0.5, 0.5)
    half = [DepthView(_render_depth(mesh, K_half, v.T_world_cam, H // 2, W // 2), K, v.T_world_cam) for v in views]
    _, _, f_wrong = precision_recall_fscore(fuse(half, min_views=0)[0], gt, t)
    assert f_wrong < 0.3
    _, _, f_right = precision_recall_fscore(fuse([v._replace(K=K_half) for v in half], min_views=0)[0], gt, t)
    assert f_right > 0.9


def test_consistency_filter_removes_a_corrupted_region(terrain_views):
    _, views, _ = terrain_views
    bad = views[0].depth.copy()
    bad[10:20, 10:30] *= 1.3  # a block of wrong depths in view 0
    corrupted = [views[0]._replace(depth=bad), *views[1:]]
    kept, _ = fuse(corrupted, min_views=2)
    all_pts, _ = fuse(corrupted, min_views=0)
    block = np.zeros((H, W), bool)
    block[10:20, 10:30] = True
    wrong_pts = depth_to_points(bad, K, views[0].T_world_cam, mask=block)[0]
    assert point_to_cloud_distance(wrong_pts, all_pts).max() == 0  # present without filter
    assert point_to_cloud_distance(wrong_pts, kept).min() > 0.1  # gone with it


def test_clear_errors_and_empty_clouds():
    depth = np.ones((H, W), np.float32)
    with pytest.raises(ValueError, match="views"):
        fuse([])
    with pytest.raises(ValueError, match="image must be"):
        depth_to_points(depth, K, np.eye(4), image=np.zeros((H + 1, W, 3), np.uint8))
    with pytest.raises(ValueError, match="image as floats"):
        depth_to_points(depth, K, np.eye(4), image=np.full((H, W, 3), 255.0))
    with pytest.raises(ValueError, match="mask"):
        depth_to_points(depth, K, np.eye(4), mask=np.ones((H, W + 1), bool))
    with pytest.raises(ValueError, match="single depth map"):
        depth_to_points(np.ones((2, H, W)), K, np.eye(4))
    with pytest.raises(ValueError, match="min_views"):
        fuse([(depth, K, np.eye(4))], min_views=1)
    with pytest.raises(ValueError, match="all carry an image"):
        fuse([(depth, K, np.eye(4), np.zeros((H, W, 3), np.uint8)), (depth, K, np.eye(4))], min_views=0)

    with pytest.warns(UserWarning, match="no valid pixel"):
        pts, cols = depth_to_points(np.zeros((H, W)), K, np.eye(4), image=np.zeros((H, W, 3), np.uint8))
    assert pts.shape == (0, 3) and cols.shape == (0, 3)
    with pytest.warns(UserWarning, match="no point survived"):
        pts, _ = fuse([(np.zeros((H, W)), K, np.eye(4)), (np.full((H, W), np.nan), K, np.eye(4))], min_views=1)
    assert pts.shape == (0, 3)


def test_fusion_explorer_twin_has_one_step_per_setting(terrain_views):
    from mvdlib.explorers.fusion import fusion_explorer

    _, views, gt = terrain_views
    fig = fusion_explorer(views, gt, static_min_views=(0, 2, 4)).static()
    [slider] = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["0", "2", "4"]
    frames = {f.name: f for f in fig.frames}
    assert "min_views=4" in frames["min_views=4"].layout.title.text
    assert len(frames["min_views=4"].data[0].x) <= len(frames["min_views=0"].data[0].x)  # stricter keeps fewer


def test_mask_is_the_one_mask_rule_and_fuse_warns_nothing_per_view():
    depth = np.full((H, W), 3.0)
    block = np.zeros((H, W), bool)
    block[:4, :5] = True
    as_bool = depth_to_points(depth, K, np.eye(4), mask=block)[0]
    np.testing.assert_array_equal(depth_to_points(depth, K, np.eye(4), mask=block.astype(np.float32))[0], as_bool)
    assert as_bool.shape == (20, 3)
    with pytest.raises(ValueError, match="only 0 and 1"):
        depth_to_points(depth, K, np.eye(4), mask=np.full((H, W), 0.5))


def test_moved_names_keep_their_old_paths():
    import mvdlib.metrics
    import mvdlib.open3d_io
    import mvdlib.pointcloud
    import mvdlib.viz

    for module, names in (
        (mvdlib.open3d_io, ("to_open3d", "voxel_down_sample", "remove_statistical_outliers", "save_ply")),
        (mvdlib.metrics, ("point_to_cloud_distance", "precision_recall_fscore")),
        (mvdlib.viz, ("plotly_figure",)),
    ):
        for name in names:
            assert getattr(mvdlib.pointcloud, name) is getattr(module, name)


def test_consistency_counts_refuses_a_batched_K_per_view():
    depth = np.full((4, 5), 2.0, np.float32)
    K = np.array([[10.0, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    view = DepthView(depth, np.stack([K, 2 * K - np.diag([0, 0, 1.0])]), np.eye(4))
    with pytest.raises(ValueError, match=r"views\[0\]\.K"):
        consistency_counts(np.zeros((1, 3)) + [0, 0, 2.0], [view])
