"""Tests of mvdlib.data.synthetic: exact depth, multi-view consistency, determinism, cache."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import open3d as o3d
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mvdlib.data.synthetic import (
    FOCAL_PER_WIDTH,
    SPLITS,
    SyntheticMultiViewDataset,
    SyntheticScene,
    default_intrinsics,
    render_view,
    render_views,
    sample_texture,
    texture_bank,
    warp_to_reference,
)
from mvdlib.geometry import axis_angle_to_matrix, backproject, project, relative_pose, transform_points

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


def test_default_intrinsics_closed_form() -> None:
    K = default_intrinsics(256, 320)
    assert K.dtype == np.float32
    np.testing.assert_allclose(K, [[FOCAL_PER_WIDTH * 320, 0, 159.5], [0, FOCAL_PER_WIDTH * 320, 127.5], [0, 0, 1]])
    # halving the image halves f and keeps the principal point at the centre, (W - 1) / 2
    np.testing.assert_allclose(
        default_intrinsics(128, 160),
        [[FOCAL_PER_WIDTH * 160, 0, 79.5], [0, FOCAL_PER_WIDTH * 160, 63.5], [0, 0, 1]],
        rtol=1e-6,
    )


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


def _warp_error(sample: dict[str, torch.Tensor], src_depth: np.ndarray, view: int, depth_scale: float = 1.0):
    """|reference - source warped with the depth|, and the mask of pixels visible in both views.

    Warping by hand with mvdlib.geometry and grid_sample(align_corners=True), not with
    the cost-volume module. Visible: the reprojected depth agrees with the source's own
    rendered depth within 1% (otherwise the point is occluded in the source).
    """
    ref, src = sample["ref_image"][None], sample["src_images"][view][None]
    depth = sample["ref_depth"][None] * depth_scale
    K = sample["K"]
    T_src_ref = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][view])
    uv, z = project(transform_points(T_src_ref, backproject(depth, K)), K)  # 1x2xHxW, 1x1xHxW
    h, w = depth.shape[-2:]
    grid = torch.stack([2 * uv[:, 0] / (w - 1) - 1, 2 * uv[:, 1] / (h - 1) - 1], -1)  # 1xHxWx2
    warped = F.grid_sample(src, grid, align_corners=True)
    seen = F.grid_sample(torch.from_numpy(src_depth)[None, None], grid, mode="nearest", align_corners=True)
    visible = (depth[:, 0] > 0) & (grid.abs() <= 1).all(-1) & ((seen - z).abs() < 0.01 * z)[:, 0]
    return (warped - ref).abs().mean(1)[0], visible[0]


# Two grey levels (of 255): bilinear resampling of a textured image and the mip level
# chosen per view are the only differences between the views on visible pixels.
MEDIAN_WARP_ERROR = 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warp_with_true_depth_reproduces_reference(seed: int) -> None:
    data = SyntheticMultiViewDataset(
        "val", num_scenes=3, samples_per_scene=1, height=H * 2, width=W * 2, seed=seed, cache=False
    )
    sample = data[seed % 3]
    scene = data.scene(seed % 3)
    for view in range(data.num_sources):
        _, src_depth = render_view(scene, sample["K"], sample["T_world_srcs"][view], H * 2, W * 2)
        err, visible = _warp_error(sample, src_depth, view)
        assert visible.float().mean() > 0.5, "too few co-visible pixels"
        assert err[visible].median() < MEDIAN_WARP_ERROR
        # a 10% depth error makes the same pixels agree less (by how much depends on the baseline)
        wrong_depth, _ = _warp_error(sample, src_depth, view, depth_scale=1.1)
        assert torch.nanmedian(wrong_depth[visible]) > err[visible].median()
    # the check has teeth: source images that do not belong to these poses fail it
    other = data[(seed + 1) % 3]
    mismatched = dict(sample, src_images=other["src_images"])
    wrong_images, _ = _warp_error(mismatched, src_depth, view)
    assert wrong_images[visible].median() > 5 * MEDIAN_WARP_ERROR


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


# sha256 (first 16 hex digits) of (ref, sources, depth) of rendered samples, recorded before the
# rendering was sped up (issue 16) with these library versions: the speed-up changed no bit.
RECORDED_VERSIONS = {"numpy": "2.4.6", "open3d": "0.20.0", "cv2": "5.0.0"}
RECORDED_RENDER_HASHES = {
    ("train", 0, 128, 160, 0.0, 0): "346eb785c9c40c4d",
    ("train", 0, 128, 160, 0.0, 3): "8c2dcc8b8b356e92",
    ("train", 0, 128, 160, 0.0, 5): "c092cf697c04bb48",
    ("val", 1, 256, 320, 3.0, 0): "7748f02967d79933",
}


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "open3d": o3d.__version__, "cv2": ".".join(cv2.__version__.split(".")[:3])}


@pytest.mark.skipif(_library_versions() != RECORDED_VERSIONS, reason="hashes recorded with other library versions")
@pytest.mark.parametrize("key", list(RECORDED_RENDER_HASHES), ids=lambda k: f"{k[0]}-{k[2]}x{k[3]}-noise{k[4]}-{k[5]}")
def test_rendered_samples_match_the_hashes_recorded_before_the_speed_up(key) -> None:
    split, seed, h, w, noise, index = key
    per_scene = 2 if split == "train" else 1
    data = SyntheticMultiViewDataset(split, 3, per_scene, height=h, width=w, seed=seed, cache=False, noise_std=noise)
    s = data.render(index)
    assert _digest(s["ref_image"], s["src_images"], s["ref_depth"]) == RECORDED_RENDER_HASHES[key]


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


def test_different_seeds_different_scenes() -> None:
    a, b = SyntheticScene(1), SyntheticScene(2)
    assert not np.allclose(a.room_size, b.room_size)
    K = default_intrinsics(H, W)
    T = a.sample_trajectory(np.random.default_rng(0))[0]
    rgb_a, _ = render_view(a, K, T, H, W)
    rgb_b, _ = render_view(b, K, T, H, W)
    assert np.abs(rgb_a.astype(float) - rgb_b.astype(float)).mean() > 10


def test_dataset_sample_contract(tmp_path) -> None:
    data = SyntheticMultiViewDataset(
        "train", num_scenes=2, samples_per_scene=2, num_sources=3, height=H, width=W, cache_dir=tmp_path
    )
    assert len(data) == 4
    s = data[3]
    shapes = {k: tuple(v.shape) for k, v in s.items()}
    assert shapes == {
        "ref_image": (3, H, W),
        "src_images": (3, 3, H, W),
        "K": (3, 3),
        "T_world_ref": (4, 4),
        "T_world_srcs": (3, 4, 4),
        "ref_depth": (1, H, W),
    }
    assert all(v.dtype == torch.float32 for v in s.values())
    assert s["ref_image"].max() > 1.0 and s["ref_image"].max() <= 255  # 0..255, not normalised
    np.testing.assert_array_equal(s["K"].numpy(), default_intrinsics(H, W))
    valid = s["ref_depth"][s["ref_depth"] > 0]
    assert valid.numel() == H * W and 0.2 < valid.min() and valid.max() < 15.0
    # sources are neighbours: baselines of a few to tens of centimetres
    baselines = (s["T_world_srcs"][:, :3, 3] - s["T_world_ref"][:3, 3]).norm(dim=1)
    assert ((baselines > 0.02) & (baselines < 0.31)).all()
    assert data[-1]["ref_image"].equal(s["ref_image"])


def test_splits_never_share_a_scene() -> None:
    seeds = {
        split: {
            SyntheticMultiViewDataset(split, num_scenes=50, seed=seed).scene_seed(i)
            for i in range(50)
            for seed in (0, 1)
        }
        for split in SPLITS
    }
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"] and not seeds["val"] & seeds["test"]
    train = SyntheticMultiViewDataset("train", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)[0]
    val = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)[0]
    assert not torch.equal(train["ref_image"], val["ref_image"])


def test_cache_returns_the_rendered_sample(tmp_path) -> None:
    data = SyntheticMultiViewDataset("test", num_scenes=1, samples_per_scene=1, height=H, width=W, cache_dir=tmp_path)
    first = data[0]
    files = list((tmp_path / "synthetic").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "synthetic").glob("*.tmp"))
    fresh = SyntheticMultiViewDataset("test", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)[0]
    cached = SyntheticMultiViewDataset(
        "test", num_scenes=1, samples_per_scene=1, height=H, width=W, cache_dir=tmp_path
    )[0]
    for k in first:
        assert torch.equal(first[k], fresh[k]) and torch.equal(first[k], cached[k]), k
    # every parameter is in the key: another size is another file
    other = SyntheticMultiViewDataset(
        "test", num_scenes=1, samples_per_scene=1, height=H, width=W + 8, cache_dir=tmp_path
    )
    assert other.cache_key(0) != data.cache_key(0)
    noisy = SyntheticMultiViewDataset(
        "test", num_scenes=1, samples_per_scene=1, height=H, width=W, noise_std=2.0, cache_dir=tmp_path
    )
    assert noisy.cache_key(0) != data.cache_key(0)


def test_cache_recovers_from_a_corrupt_file(tmp_path) -> None:
    data = SyntheticMultiViewDataset("test", num_scenes=1, samples_per_scene=1, height=H, width=W, cache_dir=tmp_path)
    path = tmp_path / "synthetic" / f"{data.cache_key(0)}.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz file")
    sample = data[0]
    assert sample["ref_depth"].min() > 0
    with np.load(path) as f:
        assert set(f.files) == set(sample)


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


def test_sample_texture_wraps_and_interpolates() -> None:
    atlas = texture_bank()
    size = atlas.sizes[0]
    tex = np.zeros(3, np.int64)
    x, y = np.array([10.0, 10.0 + size, 10.5]), np.array([20.0, 20.0 - 3 * size, 20.0])
    colour = sample_texture(atlas, tex, x, y, np.zeros(3))
    x0, y0 = atlas.origin[0, 0]
    texels = atlas.image[y0 + 20, x0 + 10 : x0 + 12].astype(np.float32) / 255
    np.testing.assert_allclose(colour[0], texels[0], atol=1 / 255)
    np.testing.assert_allclose(colour[1], colour[0], atol=1e-6)  # the texture repeats with period `size`
    np.testing.assert_allclose(colour[2], texels.mean(0), atol=1.5 / 255)  # bilinear between texels


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 0},
        {"width": -4},
        {"split": "training"},
        {"num_scenes": 0},
        {"samples_per_scene": 0},
        {"num_sources": 0},
        {"depth_range": (0.0, 10.0)},
        {"depth_range": (5.0, 1.0)},
        {"depth_range": (-1.0, 10.0)},
        {"noise_std": -1.0},
        {"seed": -1},
    ],
)
def test_dataset_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        SyntheticMultiViewDataset(**kwargs)


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
    with pytest.raises(ValueError, match="depth_range"):
        SyntheticScene(0).sample_trajectory(np.random.default_rng(0), depth_range=(2.0, 2.0))
    with pytest.raises(ValueError, match="seed"):
        SyntheticScene(-3)
    with pytest.raises(ValueError, match="height"):
        default_intrinsics(0, 10)


def test_z_depth_is_not_ray_length() -> None:
    # a plane at z = 2 seen by an untilted camera: the corner pixel's ray is longer than 2 m
    scene = SyntheticScene.from_meshes([_plane(2.0)])
    K = default_intrinsics(H, W)
    _, depth = render_view(scene, K, np.eye(4), H, W)
    corner_ray = np.linalg.inv(K.astype(np.float64)) @ np.array([0.0, 0.0, 1.0])
    assert depth[0, 0] == pytest.approx(2.0, rel=1e-6)
    assert depth[0, 0] < 0.95 * 2.0 * np.linalg.norm(corner_ray)  # the ray to the corner is longer


def test_dataset_pickles_for_dataloader_workers(tmp_path) -> None:
    import pickle

    data = SyntheticMultiViewDataset("train", num_scenes=1, samples_per_scene=1, height=H, width=W, cache_dir=tmp_path)
    first = data[0]
    assert data._scenes  # the scene is kept in memory...
    clone = pickle.loads(pickle.dumps(data))
    assert not clone._scenes  # ...but not pickled: Open3D scenes are rebuilt in each worker
    assert torch.equal(clone[0]["ref_image"], first["ref_image"])


def test_warp_to_reference_matches_an_independent_warp() -> None:
    data = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)
    sample = data[0]
    for view in range(2):
        warped, valid = warp_to_reference(sample, view)
        # independent: project every valid pixel with NumPy and sample with OpenCV's bilinear remap
        K = sample["K"].double().numpy()
        T = np.linalg.inv(sample["T_world_srcs"][view].double().numpy()) @ sample["T_world_ref"].double().numpy()
        z = sample["ref_depth"][0].double().numpy()
        v, u = np.mgrid[0:H, 0:W]
        X = z.ravel() * (np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)]))
        q = K @ (T[:3, :3] @ X + T[:3, 3:])
        mx, my = (q[0] / q[2]).reshape(H, W).astype(np.float32), (q[1] / q[2]).reshape(H, W).astype(np.float32)
        src = sample["src_images"][view].permute(1, 2, 0).numpy()
        expected = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        inside = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        np.testing.assert_array_equal(valid.numpy(), inside)
        # OpenCV interpolates with 1/32-pixel weights: agree to a fraction of a grey level
        diff = np.abs(warped.permute(1, 2, 0).numpy() - expected)[inside]
        assert np.median(diff) < 0.5 and diff.max() < 16


def test_warp_to_reference_rejects_bad_inputs() -> None:
    sample = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)[0]
    with pytest.raises(ValueError, match="view"):
        warp_to_reference(sample, view=2)
    with pytest.raises(ValueError, match="depth_scale"):
        warp_to_reference(sample, depth_scale=0.0)
    with pytest.raises(ValueError, match="missing"):
        warp_to_reference({"K": sample["K"]})


def test_warp_explorer_figure_is_darkest_at_the_true_depth() -> None:
    from mvdlib.explorers.warp import WARP_EXPLORER_SCALES, warp_error_map, warp_explorer

    sample = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=H, width=W, cache=False)[0]
    medians = [np.nanmedian(warp_error_map(sample, 0, s)) for s in WARP_EXPLORER_SCALES]
    assert int(np.argmin(medians)) == WARP_EXPLORER_SCALES.index(1.0)
    fig = warp_explorer(sample, step=2).static()
    assert len(fig.frames) == len(WARP_EXPLORER_SCALES)
    assert np.asarray(fig.frames[0].data[0].z).shape == (H // 2, W // 2)
    with pytest.raises(ValueError, match="step"):
        warp_explorer(sample, step=0)
