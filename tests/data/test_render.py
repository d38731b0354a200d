"""Tests of mvdlib.data.render: exact z-depth by ray casting, seeded noise, one cast for N views."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mvdlib.data.camera import default_intrinsics
from mvdlib.data.render import render_view, render_views
from mvdlib.data.scene import SyntheticScene
from mvdlib.geometry import axis_angle_to_matrix

# Small images keep the suite fast; the geometry does not depend on the size.
H, W = 64, 80


def _plane(z: float, half: float = 50.0) -> o3d.geometry.TriangleMesh:
    """A square in the world plane Z = z."""
    mesh = o3d.geometry.TriangleMesh()
    mesh.vertices = o3d.utility.Vector3dVector(
        np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    )
    mesh.triangles = o3d.utility.Vector3iVector(np.array([[0, 1, 2], [0, 2, 3]]))
    return mesh


def _pixel_rays(K: np.ndarray, h: int, w: int) -> np.ndarray:
    """Camera-frame rays K^-1 [u, v, 1] of every pixel centre, by a plain loop: h x w x 3."""
    Kinv = np.linalg.inv(K.astype(np.float64))
    rays = np.zeros((h, w, 3))
    for v in range(h):
        for u in range(w):
            rays[v, u] = Kinv @ np.array([u, v, 1.0])
    return rays


@settings(max_examples=10, deadline=None)
@given(
    z=st.floats(0.5, 20.0),
    tilt=st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=3),
    height=st.floats(-1.0, 0.0),  # the camera stays at least 0.5 m below the plane
)
def test_plane_renders_its_exact_depth(z: float, tilt: list[float], height: float) -> None:
    scene = SyntheticScene.from_meshes([_plane(z)], shadows=False)
    K = default_intrinsics(H, W)
    T = np.eye(4)
    T[:3, :3] = np.asarray(axis_angle_to_matrix(np.array(tilt)))
    T[2, 3] = height  # camera centre at world Z = height, plane at Z = z
    _, depth = render_view(scene, K, T, H, W)
    # closed form: the world ray R r from the centre reaches Z = z at t = (z - c_z) / (R r)_z,
    # and t is the z-depth because the camera-frame ray r has z = 1
    world_dz = (_pixel_rays(K, H, W) @ T[:3, :3].T)[..., 2]
    expected = (z - height) / world_dz
    np.testing.assert_allclose(depth, expected, rtol=2e-6)
    if tilt == [0.0, 0.0, 0.0]:
        np.testing.assert_allclose(depth, z - height, rtol=1e-6)  # fronto-parallel: constant depth


def test_fronto_parallel_plane_depth_is_constant() -> None:
    scene = SyntheticScene.from_meshes([_plane(3.0)])
    rgb, depth = render_view(scene, default_intrinsics(H, W), np.eye(4), H, W)
    np.testing.assert_allclose(depth, 3.0, rtol=1e-6)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8


def test_sphere_depth_matches_ray_sphere_intersection() -> None:
    radius, centre = 1.0, np.array([0.2, -0.1, 3.0])
    resolution = 200  # tessellation error r (1 - cos(pi / 200)) = 1.2e-4 m
    sphere = o3d.geometry.TriangleMesh.create_sphere(radius, resolution=resolution).translate(centre)
    scene = SyntheticScene.from_meshes([sphere])
    K = default_intrinsics(H, W)
    _, depth = render_view(scene, K, np.eye(4), H, W)
    # analytic: |t r - c|^2 = R^2  ->  a t^2 - 2 (r.c) t + |c|^2 - R^2 = 0, nearest root
    rays = _pixel_rays(K, H, W)
    a = np.sum(rays * rays, -1)
    b = rays @ centre
    disc = b**2 - a * (centre @ centre - radius**2)
    hit = disc > 0
    t = np.where(hit, (b - np.sqrt(np.maximum(disc, 0))) / a, 0.0)
    inside = disc > 0.05 * b**2  # away from the silhouette, where the polygon and the sphere differ
    assert inside.sum() > 0.1 * H * W
    np.testing.assert_allclose(depth[inside], t[inside], atol=1e-3)
    far_outside = disc < -0.05 * b**2
    assert (depth[far_outside] == 0).all()  # missed rays: depth 0


def test_same_seed_same_images_bit_for_bit() -> None:
    K = default_intrinsics(H, W)
    a, b = SyntheticScene(7), SyntheticScene(7)
    Ta, Sa = a.sample_trajectory(np.random.default_rng(1))
    Tb, Sb = b.sample_trajectory(np.random.default_rng(1))
    np.testing.assert_array_equal(Ta, Tb)
    np.testing.assert_array_equal(Sa, Sb)
    rgb_a, depth_a = render_view(a, K, Ta, H, W)
    rgb_b, depth_b = render_view(b, K, Tb, H, W)
    assert rgb_a.tobytes() == rgb_b.tobytes() and depth_a.tobytes() == depth_b.tobytes()


@pytest.mark.parametrize("noise_std", [0.0, 2.5])
def test_render_views_equals_render_view_called_per_view(noise_std) -> None:
    scene = SyntheticScene(11)
    T_ref, T_srcs = scene.sample_trajectory(np.random.default_rng(3))
    poses = np.concatenate([T_ref[None], T_srcs])
    K = default_intrinsics(H, W)
    rgb, depth = render_views(scene, K, poses, H, W, noise_std, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    for i, T in enumerate(poses):  # one view at a time, the noise drawn in the same order
        rgb_i, depth_i = render_view(scene, K, T, H, W, noise_std, rng)
        assert rgb[i].tobytes() == rgb_i.tobytes() and depth[i].tobytes() == depth_i.tobytes()
    with pytest.raises(ValueError, match="T_world_cam"):
        render_view(scene, K, poses, H, W)  # several poses: render_views


def test_sensor_noise_is_seeded_and_zero_mean() -> None:
    scene = SyntheticScene(3)
    K = default_intrinsics(H, W)
    T = scene.sample_trajectory(np.random.default_rng(0))[0]
    clean, _ = render_view(scene, K, T, H, W)
    a, _ = render_view(scene, K, T, H, W, noise_std=4.0, rng=np.random.default_rng(5))
    b, _ = render_view(scene, K, T, H, W, noise_std=4.0, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    diff = a.astype(float) - clean.astype(float)
    assert abs(diff.mean()) < 0.5 and 3.0 < diff.std() < 5.0


def test_render_view_rejects_bad_inputs() -> None:
    scene = SyntheticScene.from_meshes([_plane(2.0)])
    K = default_intrinsics(H, W)
    with pytest.raises(ValueError, match="height"):
        render_view(scene, K, np.eye(4), 0, W)
    with pytest.raises(ValueError, match="width"):
        render_view(scene, K, np.eye(4), H, 0)
    with pytest.raises(ValueError, match="K"):
        render_view(scene, np.eye(4), np.eye(4), H, W)
    with pytest.raises(ValueError, match="T_world_cam"):
        render_view(scene, K, 2 * np.eye(4), H, W)
    with pytest.raises(ValueError, match="scene"):
        render_view("room", K, np.eye(4), H, W)
    with pytest.raises(ValueError, match="rng"):
        render_view(scene, K, np.eye(4), H, W, noise_std=1.0)
    with pytest.raises(ValueError, match="rng"):
        render_view(scene, K, np.eye(4), H, W, noise_std=1.0, rng="seed")
    with pytest.raises(ValueError, match="noise_std"):
        render_view(scene, K, np.eye(4), H, W, noise_std=-1.0)
    with pytest.raises(ValueError, match="noise_std"):
        render_view(scene, K, np.eye(4), H, W, noise_std="loud")


def test_z_depth_is_not_ray_length() -> None:
    # a plane at z = 2 seen by an untilted camera: the corner pixel's ray is longer than 2 m
    scene = SyntheticScene.from_meshes([_plane(2.0)])
    K = default_intrinsics(H, W)
    _, depth = render_view(scene, K, np.eye(4), H, W)
    corner_ray = np.linalg.inv(K.astype(np.float64)) @ np.array([0.0, 0.0, 1.0])
    assert depth[0, 0] == pytest.approx(2.0, rel=1e-6)
    assert depth[0, 0] < 0.95 * 2.0 * np.linalg.norm(corner_ray)  # the ray to the corner is longer


def test_an_int_seed_draws_the_noise_of_a_fresh_generator() -> None:
    scene = SyntheticScene.from_meshes([_plane(2.0)])
    K = default_intrinsics(16, 16)
    a, _ = render_view(scene, K, np.eye(4), 16, 16, noise_std=3.0, rng=7)
    b, _ = render_view(scene, K, np.eye(4), 16, 16, noise_std=3.0, rng=np.random.default_rng(7))
    assert a.tobytes() == b.tobytes()


def test_torch_and_numpy_cameras_render_the_same() -> None:
    import torch

    scene = SyntheticScene(5)
    T = scene.sample_trajectory(0)[0]
    K = default_intrinsics(16, 20)
    rgb, depth = render_view(scene, K, T, 16, 20)
    rgb_t, depth_t = render_view(scene, torch.from_numpy(K), torch.from_numpy(T), 16, 20)
    assert rgb.tobytes() == rgb_t.tobytes() and depth.tobytes() == depth_t.tobytes()
