"""Tests of mvdlib.data.scene: procedural rooms, deterministic in their seed."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from mvdlib.data.camera import default_intrinsics
from mvdlib.data.render import render_view
from mvdlib.data.scene import (
    NUM_OBJECTS_RANGE,
    OBJECT_KINDS,
    ROOM_HEIGHT_RANGE,
    ROOM_LENGTH_RANGE,
    ROOM_WIDTH_RANGE,
    SyntheticScene,
)
from mvdlib.data.textures import texture_bank

H, W = 64, 80


def test_room_has_six_faces_and_objects_inside_it() -> None:
    scene = SyntheticScene(4)
    x, y, z = scene.room_size
    assert ROOM_WIDTH_RANGE[0] <= x <= ROOM_WIDTH_RANGE[1] and ROOM_LENGTH_RANGE[0] <= y <= ROOM_LENGTH_RANGE[1]
    assert ROOM_HEIGHT_RANGE[0] <= z <= ROOM_HEIGHT_RANGE[1]
    kinds = [s.kind for s in scene.surfaces]
    assert kinds[:6] == ["floor", "ceiling", "wall", "far wall", "left wall", "right wall"]
    assert NUM_OBJECTS_RANGE[0] <= len(kinds) - 6 <= NUM_OBJECTS_RANGE[1]
    assert all(k in OBJECT_KINDS for k in kinds[6:])
    boxes = scene.object_boxes()
    assert len(boxes) == len(kinds) - 6
    for box in boxes:  # objects stand in the room (a small tolerance for tessellation)
        assert (box.get_min_bound() > -1e-6).all() and (box.get_max_bound() < scene.room_size + 0.8).all()
    assert all(0 <= s.texture < len(texture_bank().names) for s in scene.surfaces)
    np.testing.assert_allclose(scene.light[:2], scene.room_size[:2] / 2)


def test_same_seed_same_scene_other_seed_other_scene() -> None:
    a, b, c = SyntheticScene(7), SyntheticScene(7), SyntheticScene(8)
    assert repr(a) == repr(b)
    for sa, sb in zip(a.surfaces, b.surfaces, strict=True):
        np.testing.assert_array_equal(np.asarray(sa.mesh.vertices), np.asarray(sb.mesh.vertices))
        assert (sa.texture, sa.texel_size) == (sb.texture, sb.texel_size)
    assert not np.allclose(a.room_size, c.room_size)


def test_different_seeds_look_different() -> None:
    a, b = SyntheticScene(1), SyntheticScene(2)
    K = default_intrinsics(H, W)
    T = a.sample_trajectory(np.random.default_rng(0))[0]
    rgb_a, _ = render_view(a, K, T, H, W)
    rgb_b, _ = render_view(b, K, T, H, W)
    assert np.abs(rgb_a.astype(float) - rgb_b.astype(float)).mean() > 10


def test_scene_seeds_beyond_two_to_the_32_are_scenes() -> None:
    # the data set's split ranges give scene seeds far beyond a generator seed's 2**32
    assert SyntheticScene(3 * 10**9 * 10**6).room_size is not None


def test_from_meshes_textures_given_meshes() -> None:
    box = o3d.geometry.TriangleMesh.create_box(1.0, 1.0, 1.0)
    scene = SyntheticScene.from_meshes([box], seed=3, light=[0.5, 0.5, 4.0], shadows=False)
    assert scene.room_size is None and scene.object_boxes() == [] and not scene.shadows
    assert [s.kind for s in scene.surfaces] == ["mesh"]
    np.testing.assert_array_equal(scene.light, [0.5, 0.5, 4.0])
    assert scene.depth_probe(np.eye(4)).shape == (12, 16)


def test_segment_is_free_sees_walls() -> None:
    scene = SyntheticScene(0)
    centre = scene.room_size / 2
    outside = centre + np.array([0.0, 0.0, 10.0])  # above the ceiling
    assert not scene.segment_is_free(centre, outside)
    assert scene.segment_is_free(np.array([0.05, 0.05, 0.05]), np.array([0.06, 0.05, 0.05]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -3}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"surfaces": []}, "surfaces"),
        ({"surfaces": ["floor"]}, "surfaces"),
        ({"light": [1.0, 2.0]}, "light"),
        ({"light": [1.0, np.nan, 2.0]}, "light"),
    ],
)
def test_scene_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticScene(**kwargs)


def test_from_meshes_rejects_bad_meshes() -> None:
    with pytest.raises(ValueError, match="meshes"):
        SyntheticScene.from_meshes([])
    with pytest.raises(ValueError, match="meshes"):
        SyntheticScene.from_meshes(["box"])
    with pytest.raises(ValueError, match="seed"):
        SyntheticScene.from_meshes([o3d.geometry.TriangleMesh.create_box()], seed=-1)
