"""Tests of mvdlib.cost_volume against the original getVolume port and a per-pixel reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_cost_volume import original_get_volume, original_precompute, per_pixel_cost_volume, per_pixel_warp

from mvdlib.cost_volume import (
    inverse_depth_samples,
    multi_view_cost_volume,
    plane_sweep_cost_volume,
    warp_to_planes,
    winner_take_all,
)
from mvdlib.geometry import axis_angle_to_matrix

# float64 library vs the float64 per-pixel loops: the same arithmetic in another order.
PER_PIXEL_ATOL = 1e-9
# float32 library vs the float32 original port on images in [0, 1]: the port divides by
# z + 1e-6 (z >= 0.5 m here) and scales KRKiUV by the depth, both of which move its warped
# coordinates by up to ~3e-4 px against the float64 truth (the library stays within ~3e-5
# px); a pixel-to-pixel jump of up to 1 per channel, 3 channels, bounds the cost change.
ORIGINAL_ATOL = 2e-3


def _intrinsics(h: int, w: int, f: float) -> torch.Tensor:
    return torch.tensor([[f, 0.0, (w - 1) / 2], [0.0, f * 1.1, (h - 1) / 2], [0.0, 0.0, 1.0]])


def _pose(rng: np.random.Generator, max_angle: float = 0.1, max_shift: float = 0.2) -> torch.Tensor:
    """A random small motion; with depths >= 0.5 m every plane point stays in front of the source camera."""
    axis = rng.normal(size=3)
    axis = axis / np.linalg.norm(axis) * rng.uniform(0, max_angle)
    T = torch.eye(4)
    T[:3, :3] = axis_angle_to_matrix(torch.tensor(axis, dtype=torch.float32))
    T[:3, 3] = torch.tensor(rng.uniform(-max_shift, max_shift, size=3), dtype=torch.float32)
    return T


def _original(ref, src, K, T, inv_depths):
    KRKiUV, KT = original_precompute(K.numpy(), T.numpy(), ref.shape[-2], ref.shape[-1])
    return original_get_volume(ref, src, KRKiUV, KT, inv_depths)


def test_inverse_depth_samples_match_mvdepthnet():
    s = inverse_depth_samples()
    step = (1 / 0.5 - 1 / 50.0) / 63  # getVolume's idepth_step
    expected = torch.tensor([1 / 50.0 + i * step for i in range(64)])
    assert s.dtype == torch.float32 and s.shape == (64,)
    torch.testing.assert_close(s, expected, rtol=0, atol=1e-6)
    assert (s.diff() > 0).all()


@pytest.mark.parametrize("size", [(5, 6), (4, 7), (7, 5)])
@pytest.mark.parametrize("planes_per_chunk", [1, 3, None])
def test_equals_per_pixel_reference(size, planes_per_chunk):
    h, w = size
    rng = np.random.default_rng(h * 10 + w)
    ref = torch.rand(1, 3, h, w, dtype=torch.float64)
    src = torch.rand(1, 3, h, w, dtype=torch.float64)
    K = _intrinsics(h, w, 4.0).double()
    T = _pose(rng, 0.2, 0.5).double()
    s = inverse_depth_samples(5, 0.5, 20.0).double()
    got = plane_sweep_cost_volume(ref, src, K, T, s, planes_per_chunk=planes_per_chunk)
    want = per_pixel_cost_volume(ref, src, K, T, s)
    assert got.dtype == torch.float64 and got.shape == (1, 5, h, w)
    torch.testing.assert_close(got, want, rtol=0, atol=PER_PIXEL_ATOL)


def test_warp_to_planes_equals_per_pixel_reference():
    rng = np.random.default_rng(11)
    h, w = 6, 7
    src = torch.rand(2, 3, h, w, dtype=torch.float64)
    K = _intrinsics(h, w, 5.0).double()
    T = torch.stack([_pose(rng, 0.2, 0.5), _pose(rng, 0.2, 0.5)]).double()
    s = inverse_depth_samples(3, 0.5, 10.0).double()
    got = warp_to_planes(src, K, T, s)
    assert got.shape == (2, 3, 3, h, w)
    for i in range(2):
        torch.testing.assert_close(got[i : i + 1], per_pixel_warp(src[i : i + 1], K, T[i], s), rtol=0, atol=1e-12)


def test_outside_and_behind_camera_follow_zero_padding():
    h, w = 5, 6
    ref = torch.rand(1, 3, h, w, dtype=torch.float64) - 0.5
    src = torch.rand(1, 3, h, w, dtype=torch.float64)
    K = _intrinsics(h, w, 4.0).double()
    T = torch.eye(4, dtype=torch.float64)
    T[2, 3] = -3.0  # the source camera stands 3 m in front: planes nearer than 3 m are behind it
    s = torch.tensor([1 / 10.0, 1 / 4.0, 1 / 2.0, 1 / 1.0], dtype=torch.float64)
    got = plane_sweep_cost_volume(ref, src, K, T, s)
    torch.testing.assert_close(got, per_pixel_cost_volume(ref, src, K, T, s), rtol=0, atol=PER_PIXEL_ATOL)
    # Planes at 2 m and 1 m are behind the source camera: warped value 0, cost = sum_c |ref_c|.
    torch.testing.assert_close(got[0, 2:], ref[0].abs().sum(0).expand(2, h, w), rtol=0, atol=1e-12)
    # A sideways jump of 100 m sends every pixel of every plane outside the source image.
    T_far = torch.eye(4, dtype=torch.float64)
    T_far[0, 3] = 100.0
    far = plane_sweep_cost_volume(ref, src, K, T_far, s)
    torch.testing.assert_close(far[0], ref[0].abs().sum(0).expand(4, h, w), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("h", "w", "num_planes", "seed"), [(16, 20, 8, 0), (31, 17, 13, 1), (64, 80, 64, 2)])
def test_equals_original_getvolume_port(h, w, num_planes, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    ref, src = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
    K = _intrinsics(h, w, 0.8 * w)
    T = _pose(rng)
    s = inverse_depth_samples(num_planes)
    torch.testing.assert_close(
        plane_sweep_cost_volume(ref, src, K, T, s), _original(ref, src, K, T, s), rtol=0, atol=ORIGINAL_ATOL
    )


@settings(max_examples=15, deadline=None)
@given(
    h=st.integers(2, 12),
    w=st.integers(2, 12),
    channels=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_equals_original_port_for_any_size(h, w, channels, seed):
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    ref, src = torch.rand(1, channels, h, w, generator=gen), torch.rand(1, channels, h, w, generator=gen)
    K = _intrinsics(h, w, max(h, w))
    T = _pose(rng)
    s = inverse_depth_samples(int(rng.integers(2, 10)))
    got = plane_sweep_cost_volume(ref, src, K, T, s)
    torch.testing.assert_close(got, _original(ref, src, K, T, s), rtol=0, atol=ORIGINAL_ATOL)


def test_batch_broadcasts_and_matches_each_item():
    rng = np.random.default_rng(3)
    h, w = 12, 15
    ref, src = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
    K = torch.stack([_intrinsics(h, w, 10.0), _intrinsics(h, w, 14.0)])
    T = torch.stack([_pose(rng), _pose(rng)])
    s = inverse_depth_samples(6)
    got = plane_sweep_cost_volume(ref, src, K, T, s)
    assert got.shape == (2, 6, h, w)
    for i in range(2):
        want = _original(ref[i : i + 1], src[i : i + 1], K[i], T[i], s)
        torch.testing.assert_close(got[i : i + 1], want, rtol=0, atol=ORIGINAL_ATOL)
    # One source image and one pose broadcast over a batch of two reference images.
    shared = plane_sweep_cost_volume(ref, src[:1], K[0], T[0], s)
    torch.testing.assert_close(shared[1:], _original(ref[1:], src[:1], K[0], T[0], s), rtol=0, atol=ORIGINAL_ATOL)


def _textured_plane(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A smooth, aperiodic texture on the plane, as a function of plane coordinates (metres)."""
    return np.stack(
        [
            0.5 + 0.25 * np.sin(7.1 * u + 2.3 * v) + 0.2 * np.cos(5.3 * v - 1.7 * u),
            0.5 + 0.3 * np.sin(4.1 * u * u + 6.2 * v),
            0.5 + 0.3 * np.cos(3.3 * u + 8.9 * v + 1.0),
        ]
    )


def _render_plane(K: np.ndarray, T_cam_ref: np.ndarray, depth: float, h: int, w: int) -> torch.Tensor:
    """Image of the plane z = depth (reference frame) seen by a camera at T_cam_ref, by ray casting."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(h * w)])  # camera frame
    R, t = T_cam_ref[:3, :3], T_cam_ref[:3, 3]
    origin = -R.T @ t  # the camera centre in the reference frame
    dirs = R.T @ rays
    lam = (depth - origin[2]) / dirs[2]
    X = origin[:, None] + lam * dirs
    return torch.from_numpy(_textured_plane(X[0], X[1]).reshape(3, h, w)).float()[None]


def test_fronto_parallel_plane_minimum_at_nearest_plane():
    h, w = 48, 64
    K = _intrinsics(h, w, 60.0).double().numpy()
    s = inverse_depth_samples(64)
    k = 20
    true_inv = float(s[k] + 0.2 * (s[k + 1] - s[k]))  # nearest plane: k
    T_src_ref = np.eye(4)
    T_src_ref[:3, :3] = axis_angle_to_matrix(torch.tensor([0.0, 0.02, 0.0], dtype=torch.float64)).numpy()
    T_src_ref[:3, 3] = [-1.0, 0.05, 0.02]
    ref = _render_plane(K, np.eye(4), 1 / true_inv, h, w)
    src = _render_plane(K, T_src_ref, 1 / true_inv, h, w)
    cost = plane_sweep_cost_volume(ref, src, torch.from_numpy(K), torch.from_numpy(T_src_ref), s)
    best = cost[0].argmin(0)
    # Pixels whose true match lies inside the source image with a 2-pixel margin.
    X = np.linalg.inv(K) @ np.stack([*np.meshgrid(np.arange(w), np.arange(h)), np.ones((h, w))]).reshape(3, -1)
    x = K @ (T_src_ref[:3, :3] @ (X / true_inv) + T_src_ref[:3, 3:])
    us, vs = x[0] / x[2], x[1] / x[2]
    inside = ((us > 2) & (us < w - 3) & (vs > 2) & (vs < h - 3)).reshape(h, w)
    assert inside.sum() > h * w // 4
    assert (best[torch.from_numpy(inside)] == k).all()
    wta = winner_take_all(cost, s)
    assert wta.shape == (1, 1, h, w)
    assert torch.allclose(wta[0, 0][torch.from_numpy(inside)], s[k])


def test_winner_take_all_picks_argmin_inverse_depth():
    cost = torch.tensor([[3.0, 1.0], [0.5, 2.0], [4.0, 0.2]]).reshape(1, 3, 1, 2)
    s = torch.tensor([0.1, 0.2, 0.4])
    assert winner_take_all(cost, s).flatten().tolist() == pytest.approx([0.2, 0.4])


def test_multi_view_equals_mean_of_single_views():
    rng = np.random.default_rng(5)
    h, w, n = 10, 14, 3
    ref, srcs = torch.rand(1, 3, h, w), torch.rand(1, n, 3, h, w)
    K = _intrinsics(h, w, 12.0)
    T = torch.stack([_pose(rng) for _ in range(n)])
    s = inverse_depth_samples(7)
    got = multi_view_cost_volume(ref, srcs, K, T, s)
    want = sum(_original(ref, srcs[:, j], K, T[j], s) for j in range(n)) / n
    torch.testing.assert_close(got, want, rtol=0, atol=ORIGINAL_ATOL)
    torch.testing.assert_close(multi_view_cost_volume(ref, srcs, K, T[None], s), got)


def test_gradients_flow_and_no_grad_agrees():
    rng = np.random.default_rng(7)
    h, w = 5, 6
    ref = torch.rand(1, 2, h, w, dtype=torch.float64, requires_grad=True)
    src = torch.rand(1, 2, h, w, dtype=torch.float64, requires_grad=True)
    K = _intrinsics(h, w, 5.0).double()
    T = _pose(rng).double()
    s = inverse_depth_samples(4).double()
    assert torch.autograd.gradcheck(
        lambda a, b: plane_sweep_cost_volume(a, b, K, T, s, planes_per_chunk=3), (ref, src), eps=1e-6, atol=1e-5
    )
    with torch.no_grad():
        frozen = plane_sweep_cost_volume(ref, src, K, T, s)
    assert not frozen.requires_grad
    torch.testing.assert_close(frozen, plane_sweep_cost_volume(ref, src, K, T, s).detach())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(9)
    h, w = 32, 40
    ref, src = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
    K, T, s = _intrinsics(h, w, 30.0), _pose(rng), inverse_depth_samples(16)
    cpu = plane_sweep_cost_volume(ref, src, K, T, s)
    gpu = plane_sweep_cost_volume(ref.cuda(), src.cuda(), K.cuda(), T.cuda(), s.cuda())
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=ORIGINAL_ATOL)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num": 1}, "num"),
        ({"num": 0}, "num"),
        ({"min_depth": 0.0}, "min_depth"),
        ({"max_depth": -1.0}, "max_depth"),
        ({"min_depth": 5.0, "max_depth": 2.0}, "min_depth < max_depth"),
        ({"min_depth": 1e-39}, "distinct float32 planes"),
        ({"min_depth": 1.0, "max_depth": 1e300}, "distinct float32 planes"),
        ({"min_depth": 1.0, "max_depth": 1 + 1e-9}, "distinct float32 planes"),
        ({"min_depth": math.nan}, "min_depth"),
    ],
)
def test_inverse_depth_samples_rejects_bad_ranges(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inverse_depth_samples(**kwargs)


def _good():
    return {
        "ref": torch.rand(1, 3, 6, 8),
        "src": torch.rand(1, 3, 6, 8),
        "K": _intrinsics(6, 8, 5.0),
        "T_src_ref": torch.eye(4),
        "inv_depths": inverse_depth_samples(4),
    }


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("src", torch.rand(1, 3, 6, 9), "same C x H x W"),
        ("src", torch.rand(1, 1, 6, 8), "same C x H x W"),
        ("ref", torch.rand(3, 6, 8), "ref must be BxCxHxW"),
        ("ref", torch.rand(1, 3, 1, 8), "at least 2x2"),
        ("src", torch.full((1, 3, 6, 8), math.nan), "src must be finite"),
        ("K", torch.eye(4), "K must be 3x3"),
        ("K", torch.zeros(3, 3), "K must have last row"),
        ("T_src_ref", torch.eye(3), "T_src_ref must be 4x4"),
        ("T_src_ref", 2 * torch.eye(4), "T_src_ref must have last row"),
        ("inv_depths", torch.tensor([0.1, -0.2]), "inv_depths must be positive"),
        ("inv_depths", torch.ones(2, 2), "inv_depths must be a non-empty 1-D"),
    ],
)
def test_plane_sweep_rejects_bad_inputs(name, value, match):
    args = _good()
    args[name] = value
    with pytest.raises(ValueError, match=match):
        plane_sweep_cost_volume(**args)


def test_multi_view_and_winner_take_all_reject_bad_inputs():
    args = _good()
    srcs = torch.rand(1, 2, 3, 6, 8)
    with pytest.raises(ValueError, match="srcs must be BxNxCxHxW"):
        multi_view_cost_volume(args["ref"], args["src"], args["K"], torch.eye(4)[None], args["inv_depths"])
    with pytest.raises(ValueError, match="T_src_refs must be Nx4x4 or BxNx4x4 with N=2"):
        multi_view_cost_volume(args["ref"], srcs, args["K"], torch.eye(4)[None], args["inv_depths"])
    with pytest.raises(ValueError, match="batch sizes must agree"):
        plane_sweep_cost_volume(**{**args, "ref": torch.rand(3, 3, 6, 8), "src": torch.rand(2, 3, 6, 8)})
    with pytest.raises(ValueError, match="planes_per_chunk"):
        plane_sweep_cost_volume(**args, planes_per_chunk=0)
    with pytest.raises(ValueError, match="one entry per plane"):
        winner_take_all(torch.rand(1, 5, 2, 2), inverse_depth_samples(4))
    with pytest.raises(ValueError, match="cost must be BxDxHxW"):
        winner_take_all(torch.rand(5, 2, 2), inverse_depth_samples(5))


def test_cost_volume_from_world_poses_equals_the_relative_pose_assembly() -> None:
    from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples, multi_view_cost_volume
    from mvdlib.geometry import axis_angle_to_matrix, relative_pose

    g = torch.Generator().manual_seed(0)
    b, n, h, w = 2, 3, 12, 16
    ref = torch.rand(b, 3, h, w, generator=g)
    srcs = torch.rand(b, n, 3, h, w, generator=g)
    K = torch.tensor([[14.0, 0, 7.5], [0, 14.0, 5.5], [0, 0, 1]])
    poses = torch.eye(4).repeat(b, n + 1, 1, 1)
    poses[..., :3, :3] = axis_angle_to_matrix(0.05 * torch.randn(b * (n + 1), 3, generator=g)).reshape(b, n + 1, 3, 3)
    poses[..., :3, 3] = 0.2 * torch.randn(b, n + 1, 3, generator=g)
    inv = inverse_depth_samples(8)
    T_src_refs = torch.stack(
        [torch.stack([relative_pose(poses[i, 0], poses[i, j + 1]) for j in range(n)]) for i in range(b)]
    )
    expected = multi_view_cost_volume(ref, srcs, K, T_src_refs, inv)
    got = cost_volume_from_world_poses(ref, srcs, K, poses[:, 0], poses[:, 1:], inv)
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="T_world_srcs must be"):
        cost_volume_from_world_poses(ref, srcs, K, poses[:, 0], poses[:, :0], inv)


def test_winner_take_all_refuses_nan_costs():
    cost = torch.rand(1, 4, 3, 3)
    cost[0, 2, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="cost"):
        winner_take_all(cost, torch.linspace(0.1, 1, 4))
