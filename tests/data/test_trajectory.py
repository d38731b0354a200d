"""Tests of mvdlib.data.trajectory: reference and source cameras placed in a synthetic room."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from mvdlib.data.scene import SyntheticScene
from mvdlib.data.trajectory import BASELINE_RANGE, DEFAULT_DEPTH_RANGE, MAX_SOURCE_ROTATION, sample_trajectory


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return SyntheticScene(11)


def test_same_generator_state_same_trajectory(scene) -> None:
    Ta, Sa = sample_trajectory(scene, np.random.default_rng(1), 3)
    Tb, Sb = SyntheticScene(11).sample_trajectory(np.random.default_rng(1), 3)  # the method delegates
    assert Ta.tobytes() == Tb.tobytes() and Sa.tobytes() == Sb.tobytes()
    Tc, _ = sample_trajectory(scene, np.random.default_rng(2), 3)
    assert not np.allclose(Ta, Tc)


def test_an_int_seed_is_a_fresh_generator(scene) -> None:
    T, S = sample_trajectory(scene, 5)
    T_rng, S_rng = sample_trajectory(scene, np.random.default_rng(5))
    assert T.tobytes() == T_rng.tobytes() and S.tobytes() == S_rng.tobytes()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cameras_are_rigid_neighbours_inside_the_room(seed) -> None:
    scene = SyntheticScene(seed)
    T_ref, T_srcs = sample_trajectory(scene, seed, num_sources=2)
    assert T_ref.shape == (4, 4) and T_srcs.shape == (2, 4, 4) and T_srcs.dtype == np.float64
    for T in (T_ref, *T_srcs):
        np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-9)
        assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
        assert ((T[:3, 3] > 0) & (T[:3, 3] < scene.room_size)).all()
    for T_src in T_srcs:
        delta = np.linalg.inv(T_ref) @ T_src
        assert BASELINE_RANGE[0] <= np.linalg.norm(delta[:3, 3]) <= BASELINE_RANGE[1]
        angle = np.arccos(np.clip((np.trace(delta[:3, :3]) - 1) / 2, -1, 1))
        assert angle <= MAX_SOURCE_ROTATION + 1e-9


def test_every_view_sees_depths_inside_the_range(scene) -> None:
    T_ref, T_srcs = sample_trajectory(scene, 0, 2, depth_range=(0.8, 20.0))
    for T in (T_ref, *T_srcs):
        d = scene.depth_probe(T)
        assert (d > 0).all() and d.min() >= 0.4
        lo, hi = np.percentile(d, (5, 95))
        assert lo >= 0.8 and hi <= 20.0
    assert DEFAULT_DEPTH_RANGE == (0.5, 50.0)  # MVDepthNet's plane sweep


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth_range": (2.0, 2.0)}, "depth_range"),
        ({"depth_range": (0.0, 5.0)}, "depth_range"),
        ({"depth_range": "far"}, "depth_range"),
        ({"num_sources": 0}, "num_sources"),
        ({"rng": -1}, "rng"),
        ({"rng": 2**32}, "rng"),
        ({"rng": "seed"}, "rng"),
        ({"rng": 1.0}, "rng"),
    ],
)
def test_sample_trajectory_rejects_bad_arguments(scene, kwargs, match) -> None:
    args = {"rng": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample_trajectory(scene, **args)


def test_sample_trajectory_needs_a_random_room() -> None:
    custom = SyntheticScene.from_meshes([o3d.geometry.TriangleMesh.create_box()])
    with pytest.raises(ValueError, match="scene"):
        sample_trajectory(custom, 0)
    with pytest.raises(ValueError, match="scene"):
        sample_trajectory("room", 0)
