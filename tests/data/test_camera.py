"""Tests of mvdlib.data.camera: the synthetic cameras' intrinsics and their pixel rays."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from mvdlib.data.camera import DEFAULT_HEIGHT, DEFAULT_WIDTH, FOCAL_PER_WIDTH, _cast, default_intrinsics
from mvdlib.data.scene import SyntheticScene


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
    np.testing.assert_array_equal(default_intrinsics(), default_intrinsics(DEFAULT_HEIGHT, DEFAULT_WIDTH))
    assert (DEFAULT_HEIGHT, DEFAULT_WIDTH) == (256, 320)  # MVDepthNet's input size


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (2.5, 10), (True, 10)])
def test_default_intrinsics_rejects_bad_sizes(size) -> None:
    with pytest.raises(ValueError, match="height" if size[1] == 10 else "width"):
        default_intrinsics(*size)


def test_cast_hit_parameter_is_the_z_depth_of_every_view() -> None:
    # a plane at world z = 2 seen from two cameras 0.5 m apart along x: depth 2 everywhere
    plane = o3d.geometry.TriangleMesh.create_box(40.0, 40.0, 0.01).translate([-20.0, -20.0, 2.0])
    scene = SyntheticScene.from_meshes([plane], shadows=False)
    T = np.stack([np.eye(4), np.eye(4)])
    T[1, 0, 3] = 0.5
    K = default_intrinsics(6, 8).astype(np.float64)
    hits, depth = _cast(scene.raycaster, K, T, 6, 8)
    assert depth.shape == (2, 6, 8) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, 2.0, rtol=1e-6)
    assert hits["dirs"].shape == (2 * 6 * 8, 3)
    np.testing.assert_allclose(hits["dirs"][:, 2], 1.0, rtol=1e-6)  # camera-frame z of every ray is 1
    np.testing.assert_array_equal(hits["origin"][48:], np.tile([0.5, 0.0, 0.0], (48, 1)))
