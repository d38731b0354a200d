"""Tests of mvdlib.geometry (chapter 1).

Every function is checked against an independent computation: a NumPy reference written
out here, a hand-computed case, or a library that computes the same thing (Open3D, Kornia,
OpenCV, SciPy). Hypothesis drives the geometric round trips.
"""

from __future__ import annotations

import cv2
import kornia
import numpy as np
import open3d as o3d
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from mvdlib.geometry import (
    axis_angle_to_matrix,
    backproject,
    epipolar_line,
    invert_pose,
    look_at,
    pixel_grid,
    project,
    relative_pose,
    scale_intrinsics,
    transform_points,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# ---- strategies and NumPy references ----------------------------------------------------


@st.composite
def intrinsics_st(draw: st.DrawFn, skew: bool = True) -> np.ndarray:
    """A plausible pinhole K (float64), optionally with skew."""
    fx = draw(st.floats(40.0, 900.0))
    fy = fx * draw(st.floats(0.8, 1.25))
    cx = draw(st.floats(-10.0, 400.0))
    cy = draw(st.floats(-10.0, 300.0))
    s = draw(st.floats(-5.0, 5.0)) if skew else 0.0
    return np.array([[fx, s, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@st.composite
def pose_st(draw: st.DrawFn, min_translation: float = 0.0) -> np.ndarray:
    """A random rigid 4x4 transform (float64), rotation from SciPy."""
    rotvec = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3)))
    t = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3)))
    assume(np.linalg.norm(t) >= min_translation)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def random_pose(seed: int, translation_scale: float = 1.0) -> np.ndarray:
    """A random rigid 4x4 transform from a seed (rotation uniform on SO(3), via SciPy)."""
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    T[:3, 3] = translation_scale * rng.normal(size=3)
    return T


def backproject_loop(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Reference back-projection, one pixel at a time: X = d K^-1 [u, v, 1]^T -> 3 x H x W."""
    h, w = depth.shape
    K_inv = np.linalg.inv(K)
    out = np.zeros((3, h, w))
    for v in range(h):
        for u in range(w):
            d = depth[v, u]
            if np.isfinite(d) and d > 0:
                out[:, v, u] = d * (K_inv @ np.array([u, v, 1.0]))
    return out


def project_np(X: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Reference projection of 3 x N points -> 2 x N pixels."""
    q = K @ X
    return q[:2] / q[2:]


def uv_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    return u, v


K_EXAMPLE = np.array([[200.0, 0.0, 31.5], [0.0, 210.0, 23.5], [0.0, 0.0, 1.0]])


def random_depth(h: int, w: int, seed: int, hole_fraction: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.2, 50.0, size=(h, w))
    depth[rng.random((h, w)) < hole_fraction] = 0.0
    return depth


# ---- pixel_grid --------------------------------------------------------------------------


def test_pixel_grid_hand_computed() -> None:
    expected = [[0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]]
    assert pixel_grid(2, 3).tolist() == expected
    assert pixel_grid(2, 3, dtype=torch.float64).dtype == torch.float64


# ---- backproject and project -------------------------------------------------------------


@given(K=intrinsics_st(), h=st.integers(1, 7), w=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_project_inverts_backproject(K: np.ndarray, h: int, w: int, seed: int) -> None:
    depth = random_depth(h, w, seed)
    points = backproject(torch.from_numpy(depth)[None, None], torch.from_numpy(K))
    uv, z = project(points, torch.from_numpy(K))
    assert uv.shape == (1, 2, h, w) and z.shape == (1, 1, h, w)
    u, v = uv_grid(h, w)
    valid = depth > 0
    np.testing.assert_allclose(uv[0, 0].numpy()[valid], u[valid], atol=1e-7)
    np.testing.assert_allclose(uv[0, 1].numpy()[valid], v[valid], atol=1e-7)
    np.testing.assert_allclose(z[0, 0].numpy()[valid], depth[valid], rtol=1e-12)
    # holes give the zero point, which is not in front of the camera: no pixel
    assert (points[0].numpy()[:, ~valid] == 0).all()
    assert torch.isnan(uv[0, :, torch.from_numpy(~valid)]).all()


@given(K=intrinsics_st(), seed=st.integers(0, 2**32 - 1))
def test_backproject_matches_pixel_loop(K: np.ndarray, seed: int) -> None:
    depth = random_depth(4, 5, seed)
    np.testing.assert_allclose(backproject(depth, K)[0], backproject_loop(depth, K), rtol=1e-10, atol=1e-12)


def test_backproject_batches_depth_and_intrinsics() -> None:
    depths = np.stack([random_depth(3, 4, s) for s in range(3)])  # 3 x H x W
    K_skewed = np.array([[205.0, 1.0, 31.5], [0.0, 210.0, 23.5], [0.0, 0.0, 1.0]])
    Ks = np.stack([K_EXAMPLE, scale_intrinsics(K_EXAMPLE, 2.0, 0.5), K_skewed])
    per_sample_K = backproject(depths[:, None], Ks)
    shared_K = backproject(depths, K_EXAMPLE)
    assert per_sample_K.shape == shared_K.shape == (3, 3, 3, 4)
    for b in range(3):
        np.testing.assert_allclose(per_sample_K[b], backproject_loop(depths[b], Ks[b]), atol=1e-12)
        np.testing.assert_allclose(shared_K[b], backproject_loop(depths[b], K_EXAMPLE), atol=1e-12)
    # one depth map seen through a batch of cameras broadcasts too
    assert backproject(depths[0], Ks).shape == (3, 3, 3, 4)


def test_backproject_matches_open3d() -> None:
    """Open3D's create_from_depth_image: same pinhole model, integer pixel centres, world frame."""
    h, w = 24, 32
    depth = random_depth(h, w, seed=1).astype(np.float32)
    fx, fy, cx, cy = 40.0, 44.0, 15.2, 11.7
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    T_world_cam = np.eye(4)
    T_world_cam[:3, :3] = Rotation.from_rotvec([0.1, -0.3, 0.2]).as_matrix()
    T_world_cam[:3, 3] = [0.5, -1.0, 2.0]
    intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, fx, fy, cx, cy)
    pcd = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth),
        intrinsic,
        extrinsic=np.linalg.inv(T_world_cam),  # Open3D takes world-to-camera
        depth_scale=1.0,
        depth_trunc=1e6,
    )
    expected = np.asarray(pcd.points)  # valid pixels in row-major order
    ours = transform_points(T_world_cam, backproject(depth.astype(np.float64), K))[0]  # 3 x H x W
    valid = depth > 0
    assert expected.shape == (valid.sum(), 3)
    np.testing.assert_allclose(ours[:, valid].T, expected, rtol=1e-5, atol=1e-4)


def test_backproject_matches_kornia() -> None:
    depth = torch.from_numpy(random_depth(6, 9, seed=2)).float()
    K = torch.tensor([[30.0, 0.0, 4.3], [0.0, 28.0, 2.6], [0.0, 0.0, 1.0]])
    expected = kornia.geometry.depth.depth_to_3d_v2(depth[None], K[None])  # 1 x H x W x 3
    ours = backproject(depth[None, None], K)  # 1 x 3 x H x W
    torch.testing.assert_close(ours.permute(0, 2, 3, 1), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hole", [0.0, np.nan, np.inf, -np.inf])
def test_invalid_depth_gives_zero_points(hole: float) -> None:
    depth = np.full((3, 4), 2.0)
    depth[1, 2] = hole
    points = backproject(depth, K_EXAMPLE)
    assert np.isfinite(points).all()
    assert (points[0, :, 1, 2] == 0).all()
    np.testing.assert_allclose(points[0, 2][depth == 2.0], 2.0)


@given(K=intrinsics_st(skew=False), T_cam_world=pose_st(), seed=st.integers(0, 2**32 - 1))
def test_project_matches_opencv(K: np.ndarray, T_cam_world: np.ndarray, seed: int) -> None:
    """cv2.projectPoints of world points == project(transform_points(T_cam_world, X), K)."""
    rng = np.random.default_rng(seed)
    X_cam = rng.uniform([-2, -2, 0.5], [2, 2, 20], size=(10, 3)).T  # in front of the camera
    X_world = np.linalg.inv(T_cam_world) @ np.vstack([X_cam, np.ones(10)])
    # SciPy, not cv2.Rodrigues, for the rotation vector: OpenCV rounds rotations below ~1e-7 rad to zero
    rvec = Rotation.from_matrix(T_cam_world[:3, :3]).as_rotvec()
    expected, _ = cv2.projectPoints(X_world[:3].T.copy(), rvec, T_cam_world[:3, 3].copy(), K, None)
    uv, z = project(transform_points(T_cam_world, X_world[:3]), K)
    np.testing.assert_allclose(uv.T, expected[:, 0], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(z[0], X_cam[2], rtol=1e-9)


def test_project_with_skew_hand_computed() -> None:
    K = np.array([[100.0, 3.0, 10.0], [0.0, 120.0, 20.0], [0.0, 0.0, 1.0]])
    uv, z = project(np.array([[1.0], [2.0], [4.0]]), K)
    # u = (100 * 1 + 3 * 2) / 4 + 10, v = 120 * 2 / 4 + 20
    np.testing.assert_allclose(uv[:, 0], [36.5, 80.0])
    np.testing.assert_allclose(z, [[4.0]])


def test_project_marks_points_behind_the_camera() -> None:
    uv, z = project(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [2.0, -2.0, 0.0]]), K_EXAMPLE)
    assert np.isfinite(uv[:, 0]).all()
    assert np.isnan(uv[:, 1:]).all()
    np.testing.assert_allclose(z[0], [2.0, -2.0, 0.0])


def test_project_keeps_trailing_shape_and_batches_K() -> None:
    points = (
        torch.rand(2, 3, 4, 5, dtype=torch.float64) + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)[:, None, None]
    )
    Ks = torch.from_numpy(np.stack([K_EXAMPLE, scale_intrinsics(K_EXAMPLE, 0.5, 0.5)]))
    uv, z = project(points, Ks)
    assert uv.shape == (2, 2, 4, 5) and z.shape == (2, 1, 4, 5)
    for b in range(2):
        expected = project_np(points[b].reshape(3, -1).numpy(), Ks[b].numpy())
        np.testing.assert_allclose(uv[b].reshape(2, -1).numpy(), expected, rtol=1e-12)


def test_unbatched_points_seen_by_a_batch_of_cameras_stay_batched() -> None:
    """3 x N points with B intrinsics or poses give B results, not silently the first one."""
    X = np.array([[0.1, -0.4, 0.3], [0.2, 0.0, -0.1], [2.0, 3.0, 4.0]])
    Ks = np.stack([K_EXAMPLE, np.diag([2.0, 2.0, 1.0]) @ K_EXAMPLE])
    uv, z = project(X, Ks)
    assert uv.shape == (2, 2, 3) and z.shape == (2, 1, 3)
    for b in range(2):
        np.testing.assert_allclose(uv[b], project_np(X, Ks[b]))
    Ts = np.stack([random_pose(seed) for seed in range(3)])
    moved = transform_points(Ts, X)
    assert moved.shape == (3, 3, 3)
    for b in range(3):
        np.testing.assert_allclose(moved[b], Ts[b, :3, :3] @ X + Ts[b, :3, 3:])


def test_geometry_is_differentiable() -> None:
    depth = torch.rand(1, 1, 3, 4, dtype=torch.float64) + 1.0
    depth.requires_grad_(True)
    K = torch.from_numpy(K_EXAMPLE)
    assert torch.autograd.gradcheck(lambda d: project(backproject(d, K) + 0.1, K)[0], (depth,))


# ---- poses -------------------------------------------------------------------------------


@given(T=pose_st(), seed=st.integers(0, 2**32 - 1))
def test_transform_points_matches_matrix_product(T: np.ndarray, seed: int) -> None:
    X = np.random.default_rng(seed).normal(size=(3, 7))
    np.testing.assert_allclose(transform_points(T, X), (T @ np.vstack([X, np.ones(7)]))[:3], atol=1e-12)


@given(T=pose_st())
def test_invert_pose_matches_matrix_inverse(T: np.ndarray) -> None:
    np.testing.assert_allclose(invert_pose(T), np.linalg.inv(T), atol=1e-12)


@given(A=pose_st(), B=pose_st(), C=pose_st())
def test_relative_pose_composes_and_inverts(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> None:
    T_b_a = relative_pose(A, B)
    np.testing.assert_allclose(T_b_a, np.linalg.inv(B) @ A, atol=1e-12)
    np.testing.assert_allclose(relative_pose(B, A) @ T_b_a, np.eye(4), atol=1e-12)  # inverts
    np.testing.assert_allclose(relative_pose(B, C) @ T_b_a, relative_pose(A, C), atol=1e-12)  # composes
    np.testing.assert_allclose(relative_pose(A, A), np.eye(4), atol=1e-12)
    # a point of camera A, taken to the world and into camera B, lands where T_b_a puts it
    X_a = np.array([0.3, -0.2, 2.0, 1.0])
    np.testing.assert_allclose(transform_points(T_b_a, X_a[:3, None])[:, 0], (np.linalg.inv(B) @ (A @ X_a))[:3])


def test_relative_pose_batches() -> None:
    poses = torch.from_numpy(np.stack([random_pose(seed) for seed in range(3)]))
    out = relative_pose(poses, poses[0])
    assert out.shape == (3, 4, 4)
    for b in range(3):
        torch.testing.assert_close(out[b], torch.linalg.inv(poses[0]) @ poses[b])


@given(rotvec=st.lists(st.floats(-4.0, 4.0), min_size=3, max_size=3))
def test_axis_angle_to_matrix_matches_opencv_rodrigues(rotvec: list[float]) -> None:
    w = np.array(rotvec)
    expected, _ = cv2.Rodrigues(w)
    np.testing.assert_allclose(axis_angle_to_matrix(w), expected, atol=1e-9)


def test_axis_angle_to_matrix_batches_and_handles_zero() -> None:
    w = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, np.pi / 2]], dtype=torch.float64)
    R = axis_angle_to_matrix(w)
    torch.testing.assert_close(R[0], torch.eye(3, dtype=torch.float64))
    # a quarter turn about z takes x to y
    torch.testing.assert_close(
        R[1] @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    )


@given(
    eye=st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3),
    target=st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3),
)
def test_look_at_gives_rigid_pose_facing_target(eye: list[float], target: list[float]) -> None:
    e, t = np.array(eye), np.array(target)
    forward = t - e
    assume(np.linalg.norm(forward) > 0.1)
    up = np.array([0.0, -1.0, 0.0])
    assume(np.linalg.norm(np.cross(forward / np.linalg.norm(forward), up)) > 0.1)
    T = look_at(e, t)
    R = T[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(T[3], [0, 0, 0, 1])
    np.testing.assert_allclose(T[:3, 3], e)
    np.testing.assert_allclose(R[:, 2], forward / np.linalg.norm(forward), atol=1e-12)
    # the target sits on the optical axis, straight ahead
    np.testing.assert_allclose((np.linalg.inv(T) @ np.append(t, 1))[:3], [0, 0, np.linalg.norm(forward)], atol=1e-9)
    # no roll: the image x axis is level, and world "up" points to the top of the image (-y)
    assert abs(R[:, 0] @ up) < 1e-9
    assert R[:, 1] @ up < 0


# ---- scale_intrinsics --------------------------------------------------------------------


def test_scale_intrinsics_hand_computed() -> None:
    K = np.array([[100.0, 2.0, 50.0], [0.0, 120.0, 40.0], [0.0, 0.0, 1.0]])
    # pixel centres: u' + 1/2 = s (u + 1/2)
    expected = np.array([[50.0, 1.0, 24.75], [0.0, 240.0, 80.5], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(scale_intrinsics(K, 0.5, 2.0), expected)


@given(K=intrinsics_st(), sx=st.floats(0.1, 10.0), sy=st.floats(0.1, 10.0))
def test_scale_intrinsics_round_trip(K: np.ndarray, sx: float, sy: float) -> None:
    np.testing.assert_allclose(scale_intrinsics(scale_intrinsics(K, sx, sy), 1 / sx, 1 / sy), K, rtol=1e-10, atol=1e-9)


def _resize_cv2_linear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def _resize_cv2_area(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _resize_torch_bilinear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size[1], size[0]), mode="bilinear", align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


# Interpolation reproduces a linear ramp to float32 precision; OpenCV's area averaging at a
# non-integer ratio uses approximate weights, off by up to 0.025 px (measured) but unbiased.
RESIZERS = [(_resize_cv2_linear, 2e-3), (_resize_cv2_area, 0.05), (_resize_torch_bilinear, 2e-3)]


@pytest.mark.parametrize(("resize", "tol"), RESIZERS, ids=["cv2-linear", "cv2-area", "torch-bilinear"])
@pytest.mark.parametrize("new_size", [(160, 120), (100, 75), (480, 360), (200, 300)])
def test_scale_intrinsics_matches_resize_on_a_ramp(resize, tol: float, new_size: tuple[int, int]) -> None:
    """Resize images whose values are their own pixel coordinates; read back where each new pixel came from.

    Linear interpolation and area averaging reproduce a linear ramp, so away from the
    borders pixel (u', v') of the resized image holds the source coordinates it samples. The
    ray of (u', v') through the scaled K must project there through the original K.
    """
    h, w = 240, 320
    if resize is _resize_cv2_area and (new_size[0] > w or new_size[1] > h):
        pytest.skip("INTER_AREA falls back to bilinear-like interpolation when enlarging")
    u, v = uv_grid(h, w)
    ramp = np.stack([u, v], axis=-1).astype(np.float32)  # H x W x 2: (u, v) of each pixel
    resized = resize(ramp, new_size).astype(np.float64)  # H' x W' x 2
    sx, sy = new_size[0] / w, new_size[1] / h
    K = np.array([[300.0, 0.0, 161.3], [0.0, 310.0, 118.9], [0.0, 0.0, 1.0]])
    K_new = scale_intrinsics(K, sx, sy)

    margin = int(np.ceil(max(sx, sy))) + 1  # border pixels are clamped by the resize
    un, vn = uv_grid(new_size[1], new_size[0])
    inner = (slice(margin, -margin), slice(margin, -margin))
    rays = np.linalg.inv(K_new) @ np.stack([un[inner].ravel(), vn[inner].ravel(), np.ones(un[inner].size)])
    came_from = project_np(rays, K)  # 2 x N source pixel positions
    for axis in (0, 1):
        error = came_from[axis] - resized[inner][..., axis].ravel()
        assert np.abs(error).max() < tol
        assert abs(error.mean()) < 1e-3

    # scaling only the focal lengths and principal point (cx' = sx cx) misses the half-pixel term
    K_naive = K * np.array([[sx], [sy], [1.0]])
    naive_from = project_np(
        np.linalg.inv(K_naive) @ np.stack([un[inner].ravel(), vn[inner].ravel(), np.ones(un[inner].size)]), K
    )
    assert np.abs(naive_from[0] - resized[inner][..., 0].ravel()).max() > 0.1


def test_scale_intrinsics_tracks_a_bright_blob_through_cv2_resize() -> None:
    """A 3D point drawn as a Gaussian blob lands, after cv2.resize, where the scaled K projects it."""
    h, w = 240, 320
    K = np.array([[280.0, 0.0, 158.0], [0.0, 285.0, 121.0], [0.0, 0.0, 1.0]])
    X = np.array([[0.31], [-0.18], [2.0]])
    u0, v0 = project_np(X, K)[:, 0]
    u, v = uv_grid(h, w)
    sigma = 5.0
    img = np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * sigma**2)).astype(np.float32)
    for new_size, interpolation in [
        ((160, 120), cv2.INTER_AREA),
        ((96, 72), cv2.INTER_AREA),
        ((512, 384), cv2.INTER_LINEAR),
    ]:
        small = cv2.resize(img, new_size, interpolation=interpolation).astype(np.float64)
        us, vs = uv_grid(*small.shape)
        centroid = np.array([(small * us).sum(), (small * vs).sum()]) / small.sum()
        K_new = scale_intrinsics(K, new_size[0] / w, new_size[1] / h)
        np.testing.assert_allclose(centroid, project_np(X, K_new)[:, 0], atol=0.02)


# ---- epipolar lines ----------------------------------------------------------------------


@given(
    K=intrinsics_st(),
    K_src=intrinsics_st(),
    T_src_ref=pose_st(min_translation=0.05),
    u=st.floats(0.0, 640.0),
    v=st.floats(0.0, 480.0),
    depth=st.floats(0.05, 200.0),
    same_camera=st.booleans(),
)
def test_point_on_ray_projects_onto_epipolar_line(K, K_src, T_src_ref, u, v, depth, same_camera) -> None:
    K_src = K if same_camera else K_src
    X_ref = depth * (np.linalg.inv(K) @ np.array([u, v, 1.0]))
    X_src = T_src_ref[:3, :3] @ X_ref + T_src_ref[:3, 3]
    assume(X_src[2] > 1e-2)
    u_src, v_src = project_np(X_src[:, None], K_src)[:, 0]
    assume(max(abs(u_src), abs(v_src)) < 1e5)
    a, b, c = epipolar_line(K, T_src_ref, np.array([u, v]), K_src=None if same_camera else K_src)
    assert a**2 + b**2 == pytest.approx(1.0)
    assert abs(a * u_src + b * v_src + c) < 1e-6 * (1 + abs(u_src) + abs(v_src))


def test_epipolar_lines_meet_at_the_epipole() -> None:
    T_src_ref = np.eye(4)
    T_src_ref[:3, :3] = Rotation.from_rotvec([0.02, -0.1, 0.03]).as_matrix()
    T_src_ref[:3, 3] = [0.3, 0.05, 0.1]
    uv = np.array([[10.0, 50.0, 3.0, 60.0], [5.0, 40.0, 30.0, 2.0]])
    lines = epipolar_line(K_EXAMPLE, T_src_ref, uv)  # 3 x N
    assert lines.shape == (3, 4)
    # the epipole is the reference camera centre seen from the source camera: K t
    epipole = K_EXAMPLE @ T_src_ref[:3, 3]
    epipole = epipole / epipole[2]
    np.testing.assert_allclose(lines.T @ epipole, 0.0, atol=1e-9)


def test_epipolar_line_of_a_sideways_baseline_is_the_same_row() -> None:
    """Rectified stereo: the source camera moved along x, so the line of (u, v) is the row v' = v."""
    T_src_ref = np.eye(4)
    T_src_ref[0, 3] = -0.2
    lines = epipolar_line(K_EXAMPLE, T_src_ref, np.array([[7.0, 20.0], [3.0, 11.0]]))
    np.testing.assert_allclose(np.abs(lines[:2]), [[0.0, 0.0], [1.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(-lines[2] / lines[1], [3.0, 11.0])


def test_epipolar_line_batches() -> None:
    T = np.stack([random_pose(seed) for seed in range(2)])
    uv = np.array([[[10.0, 20.0], [5.0, 9.0]]])  # 1 x 2 x N
    lines = epipolar_line(K_EXAMPLE, T, uv)
    assert lines.shape == (2, 3, 2)
    single = epipolar_line(K_EXAMPLE, T, np.array([20.0, 9.0]))  # one pixel, two poses
    assert single.shape == (2, 3)
    for b in range(2):
        # the line through the source projections of two points on the ray of (20, 9)
        ray = np.linalg.inv(K_EXAMPLE) @ np.array([20.0, 9.0, 1.0])
        ends = project_np(T[b, :3, :3] @ np.stack([ray, 3 * ray], 1) + T[b, :3, 3:], K_EXAMPLE)
        expected = np.cross(np.append(ends[:, 0], 1), np.append(ends[:, 1], 1))
        expected = expected / np.linalg.norm(expected[:2])
        np.testing.assert_allclose(single[b], np.sign(single[b] @ expected) * expected, atol=1e-9)  # up to sign
        np.testing.assert_allclose(single[b], lines[b, :, 1])


# ---- input validation --------------------------------------------------------------------

K_SINGULAR = np.array([[0.0, 0.0, 5.0], [0.0, 100.0, 5.0], [0.0, 0.0, 1.0]])
K_SINGULAR_OFFDIAG = np.array([[10.0, 10.0, 5.0], [10.0, 10.0, 5.0], [0.0, 0.0, 1.0]])  # det = 0
K_BAD_LAST_ROW = np.array([[100.0, 0.0, 5.0], [0.0, 100.0, 5.0], [0.1, 0.0, 1.0]])
K_NAN = np.array([[np.nan, 0.0, 5.0], [0.0, 100.0, 5.0], [0.0, 0.0, 1.0]])
T_SCALED = np.diag([2.0, 2.0, 2.0, 1.0])
T_SHEAR = np.eye(4) + np.array([[0, 0.3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
T_MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])
T_BAD_LAST_ROW = np.eye(4) + np.array([[0, 0, 0, 0]] * 3 + [[0, 0, 1, 0]])
T_OK = np.eye(4) + np.array([[0, 0, 0, 0.5]] + [[0, 0, 0, 0]] * 3)
DEPTH = np.ones((4, 5))
PTS = np.ones((3, 6))

BAD_CALLS = {
    "depth 1xCxHxW": (lambda: backproject(np.ones((1, 2, 4, 5)), K_EXAMPLE), "depth"),
    "depth 1-D": (lambda: backproject(np.ones(5), K_EXAMPLE), "depth"),
    "depth empty": (lambda: backproject(np.ones((0, 5)), K_EXAMPLE), "depth"),
    "depth negative": (lambda: backproject(-DEPTH, K_EXAMPLE), "depth"),
    "K 4x4": (lambda: backproject(DEPTH, np.eye(4)), "K"),
    "K singular": (lambda: backproject(DEPTH, K_SINGULAR), "K"),
    "K singular off-diagonal": (lambda: backproject(DEPTH, K_SINGULAR_OFFDIAG), "K"),
    "K last row": (lambda: backproject(DEPTH, K_BAD_LAST_ROW), "K"),
    "K NaN": (lambda: backproject(DEPTH, K_NAN), "K"),
    "batch mismatch": (lambda: backproject(np.ones((2, 4, 5)), np.stack([K_EXAMPLE] * 3)), "batch"),
    "points 4xN": (lambda: project(np.ones((4, 6)), K_EXAMPLE), "points"),
    "points Nx3": (lambda: project(np.ones((6, 3)), K_EXAMPLE), "points"),
    "project K": (lambda: project(PTS, K_SINGULAR), "K"),
    "T scaled": (lambda: transform_points(T_SCALED, PTS), "T"),
    "T shear": (lambda: transform_points(T_SHEAR, PTS), "T"),
    "T mirror": (lambda: transform_points(T_MIRROR, PTS), "T"),
    "T last row": (lambda: transform_points(T_BAD_LAST_ROW, PTS), "T"),
    "T 3x4": (lambda: transform_points(np.eye(4)[:3], PTS), "T"),
    "invert non-rigid": (lambda: invert_pose(T_SCALED), "T"),
    "relative ref": (lambda: relative_pose(T_SHEAR, T_OK), "T_world_ref"),
    "relative src": (lambda: relative_pose(T_OK, T_SCALED), "T_world_src"),
    "relative NaN": (lambda: relative_pose(np.full((4, 4), np.nan), T_OK), "T_world_ref"),
    "scale sx": (lambda: scale_intrinsics(K_EXAMPLE, 0.0, 1.0), "sx"),
    "scale sy": (lambda: scale_intrinsics(K_EXAMPLE, 1.0, -2.0), "sy"),
    "scale sx NaN": (lambda: scale_intrinsics(K_EXAMPLE, float("nan"), 1.0), "sx"),
    "scale K": (lambda: scale_intrinsics(K_SINGULAR, 1.0, 1.0), "K"),
    "epipolar uv shape": (lambda: epipolar_line(K_EXAMPLE, T_OK, np.ones((3, 2))), "uv"),
    "epipolar uv NaN": (lambda: epipolar_line(K_EXAMPLE, T_OK, np.array([np.nan, 1.0])), "uv"),
    "epipolar no baseline": (lambda: epipolar_line(K_EXAMPLE, np.eye(4), np.ones(2)), "T_src_ref"),
    "epipolar pose": (lambda: epipolar_line(K_EXAMPLE, T_SCALED, np.ones(2)), "T_src_ref"),
    "epipolar K_src": (lambda: epipolar_line(K_EXAMPLE, T_OK, np.ones(2), K_src=K_SINGULAR), "K_src"),
    "axis-angle shape": (lambda: axis_angle_to_matrix(np.ones(4)), "axis_angle"),
    "axis-angle NaN": (lambda: axis_angle_to_matrix(np.array([np.nan, 0, 0])), "axis_angle"),
    "look_at eye shape": (lambda: look_at(np.ones(2), np.zeros(3)), "eye"),
    "look_at same point": (lambda: look_at(np.ones(3), np.ones(3)), "eye and target"),
    "look_at up parallel": (lambda: look_at(np.zeros(3), np.array([0.0, 2.0, 0.0])), "up"),
    "pixel_grid h": (lambda: pixel_grid(0, 3), "h"),
    "pixel_grid w": (lambda: pixel_grid(3, 2.5), "w"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_value_error_naming_the_argument(case: str) -> None:
    call, name = BAD_CALLS[case]
    with pytest.raises(ValueError, match=name):
        call()


def test_non_array_input_raises_type_error() -> None:
    with pytest.raises(TypeError, match="depth"):
        backproject("not a depth map", K_EXAMPLE)


# ---- NumPy in, NumPy out; dtype and device follow the input --------------------------------

T_A = np.array([[0.0, -1.0, 0.0, 0.2], [1.0, 0.0, 0.0, -0.1], [0.0, 0.0, 1.0, 0.3], [0.0, 0.0, 0.0, 1.0]])
NUMPY_CALLS = {
    "backproject": lambda m: m(backproject(m(DEPTH), m(K_EXAMPLE))),
    "project": lambda m: m(project(m(PTS), m(K_EXAMPLE))[0]),
    "transform_points": lambda m: m(transform_points(m(T_A), m(PTS))),
    "invert_pose": lambda m: m(invert_pose(m(T_A))),
    "relative_pose": lambda m: m(relative_pose(m(T_A), m(T_OK))),
    "scale_intrinsics": lambda m: m(scale_intrinsics(m(K_EXAMPLE), 0.5, 0.25)),
    "epipolar_line": lambda m: m(epipolar_line(m(K_EXAMPLE), m(T_A), m(np.array([3.0, 4.0])))),
    "axis_angle_to_matrix": lambda m: m(axis_angle_to_matrix(m(np.array([0.1, 0.2, 0.3])))),
    "look_at": lambda m: m(look_at(m(np.ones(3)), m(np.array([0.0, 0.5, 4.0])))),
}


@pytest.mark.parametrize("name", list(NUMPY_CALLS))
def test_numpy_in_numpy_out(name: str) -> None:
    def keep_numpy(x):
        assert isinstance(x, np.ndarray), f"{name} returned {type(x).__name__} for NumPy input"
        return x

    def to_torch(x):
        return torch.from_numpy(x) if isinstance(x, np.ndarray) else x

    def from_torch(x):
        assert isinstance(x, torch.Tensor), f"{name} returned {type(x).__name__} for tensor input"
        return x.numpy()

    out_numpy = NUMPY_CALLS[name](keep_numpy)
    assert out_numpy.dtype == np.float64
    np.testing.assert_allclose(out_numpy, NUMPY_CALLS[name](lambda x: from_torch(to_torch(x))), atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_outputs_stay_on_the_input_device_and_dtype(device: str) -> None:
    depth = torch.rand(2, 1, 5, 6, device=device) + 0.5
    K = torch.tensor(K_EXAMPLE, dtype=torch.float32, device=device)
    points = backproject(depth, K)
    assert points.device.type == device and points.dtype == torch.float32
    uv, z = project(points, K)
    assert uv.device.type == device and z.dtype == torch.float32
    T = torch.tensor(T_A, dtype=torch.float32, device=device)
    for out in (
        transform_points(T, points),
        relative_pose(T, T),
        invert_pose(T),
        scale_intrinsics(K, 0.5, 0.5),
        epipolar_line(K, T, torch.tensor([1.0, 2.0], device=device)),
    ):
        assert out.device.type == device and out.dtype == torch.float32


def test_epipolar_line_at_the_epipole_is_refused():
    K = torch.tensor([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    T = torch.eye(4)
    T[2, 3] = 1.0  # forward motion: the epipole is the principal point
    with pytest.raises(ValueError, match="uv.*epipole"):
        epipolar_line(K, T, torch.tensor([50.0, 40.0]))
    assert torch.isfinite(epipolar_line(K, T, torch.tensor([10.0, 40.0]))).all()


def test_backproject_of_float16_depth_stays_float16():
    K = torch.tensor([[10.0, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    points = backproject(torch.full((1, 1, 3, 4), 2.0).half(), K)
    assert points.dtype == torch.float16
    torch.testing.assert_close(points.float(), backproject(torch.full((1, 1, 3, 4), 2.0), K), rtol=1e-3, atol=1e-3)


def test_invert_pose_accepts_an_empty_batch():
    assert invert_pose(torch.zeros(0, 4, 4)).shape == (0, 4, 4)
