"""Checks of chapter 2 (synthetic data): ray length to depth, the depth of a plane."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import open3d as o3d

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.data.camera import default_intrinsics
from mvdlib.data.render import render_view
from mvdlib.data.scene import SyntheticScene
from mvdlib.geometry import axis_angle_to_matrix, backproject

__all__ = ["exercise_2_1", "exercise_2_3"]

# A small camera keeps each check well under a second.
HEIGHT, WIDTH = 24, 32


def _rays(K: np.ndarray, height: int, width: int, u_offset: float = 0.0) -> np.ndarray:
    """3 x H x W camera-frame rays K^-1 [u + u_offset, v + u_offset, 1] (z = 1)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64) + u_offset
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    return (np.linalg.inv(K.astype(np.float64)) @ pix).reshape(3, height, width)


@exercise("2.1", passed="Depth is the distance divided by the length of the z = 1 ray.")
def exercise_2_1(ray_length_to_depth: Callable) -> None:
    """``ray_length_to_depth(L, K)`` on a random depth map, its distances from :func:`backproject`."""
    K = default_intrinsics(HEIGHT, WIDTH).astype(np.float64)
    depth = np.random.default_rng(0).uniform(1.0, 10.0, size=(HEIGHT, WIDTH))
    L = np.linalg.norm(backproject(depth, K)[0], axis=0)  # H x W distances to the camera centre
    got = as_array(call(ray_length_to_depth, L.copy(), K.copy(), name="ray_length_to_depth"), "depth", depth.shape)
    if close(got, depth, atol=1e-6, rtol=1e-5):
        return
    norm = np.linalg.norm(_rays(K, HEIGHT, WIDTH), axis=0)
    if close(got, L * norm, rtol=1e-5):
        raise Hint(
            "you multiplied by the ray's length factor |K^-1 [u, v, 1]|; depth is shorter than the distance: divide"
        )
    if close(got, L, rtol=1e-5):
        raise Hint("you returned the distance itself; depth equals it only at the principal point")
    if close(got, L / np.linalg.norm(_rays(K, HEIGHT, WIDTH, 0.5), axis=0), rtol=1e-5):
        raise Hint("pixel centres are at integer coordinates (u, v), not at (u + 1/2, v + 1/2)")
    if close(got, L / np.linalg.norm(_rays(K, HEIGHT, WIDTH)[:2], axis=0), rtol=1e-5):
        raise Hint("the ray K^-1 [u, v, 1] has three components; its z = 1 belongs in the norm")
    raise Hint(
        f"depth differs by up to {np.abs(got - depth).max():.3g} m; X = z K^-1 [u, v, 1] "
        "has length L = z |K^-1 [u, v, 1]|"
    )


def _plane_scene(plane_z: float) -> SyntheticScene:
    """One large square in the world plane Z = plane_z (two triangles)."""
    quad = o3d.geometry.TriangleMesh()
    quad.vertices = o3d.utility.Vector3dVector(
        [[-100, -100, plane_z], [100, -100, plane_z], [100, 100, plane_z], [-100, 100, plane_z]]
    )
    quad.triangles = o3d.utility.Vector3iVector([[0, 1, 2], [0, 2, 3]])
    return SyntheticScene.from_meshes([quad])


@exercise("2.3", passed="Your closed form agrees with Open3D's ray casting.")
def exercise_2_3(plane_depth: Callable) -> None:
    """``plane_depth(K, R, height, width, plane_z)`` against a rendered plane (Open3D ray casting)."""
    K = default_intrinsics(HEIGHT, WIDTH).astype(np.float64)
    for plane_z, axis_angle in ((4.0, (0.2, 0.0, 0.0)), (2.5, (-0.1, 0.25, 0.05))):
        R = np.asarray(axis_angle_to_matrix(np.array(axis_angle)), dtype=np.float64)
        T = np.eye(4)
        T[:3, :3] = R
        _, rendered = render_view(_plane_scene(plane_z), K, T, HEIGHT, WIDTH)
        got = as_array(
            call(plane_depth, K.copy(), R.copy(), HEIGHT, WIDTH, plane_z, name="plane_depth"), "depth", rendered.shape
        )
        if close(got, rendered, atol=1e-4, rtol=1e-4):
            continue
        rays = _rays(K, HEIGHT, WIDTH)
        world_rays_t = np.einsum("ij,jhw->ihw", R.T, rays)
        if close(got, plane_z / world_rays_t[2], rtol=1e-4):
            raise Hint(
                "your plane tilts the wrong way: R in T_world_cam takes camera rays into the world "
                "(d = R K^-1 [u, v, 1]), you used R^T"
            )
        if close(got, np.full_like(got, plane_z), rtol=1e-4):
            raise Hint("a constant depth is the untilted camera's; the rotation R is missing")
        world_rays = np.einsum("ij,jhw->ihw", R, rays)
        if close(got, plane_z / world_rays[2] * np.linalg.norm(rays, axis=0), rtol=1e-4):
            raise Hint("that is the distance along each ray; depth is the camera-frame z, the t with z = 1 rays")
        raise Hint(
            f"your depth differs from the rendered plane by up to {np.abs(got - rendered).max():.3g} m; "
            "the world ray d = R K^-1 [u, v, 1] reaches Z = plane_z at t = plane_z / d_z"
        )
