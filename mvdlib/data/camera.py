"""The cameras of the synthetic scenes: intrinsics and one ray per pixel centre (chapter 2).

The synthetic cameras are pinholes with square pixels and DeMoN's field of view, at
MVDepthNet's 320 x 256 by default; other image sizes are the same camera resized, so a
pyramid of images is consistent. A pixel ``(u, v)`` (integer = pixel centre,
``book/conventions.md``) looks along ``R K^-1 [u, v, 1]^T`` from the camera centre: the
camera-frame z of that direction is 1, so the distance along it to the first surface hit
is the pixel's z-depth. ``_cast`` casts these rays for the renderer
(:mod:`mvdlib.data.render`) and the camera placement (:mod:`mvdlib.data.trajectory`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import open3d as o3d

from mvdlib._validation import positive_int
from mvdlib.conventions import PAPER_SIZE
from mvdlib.geometry import pixel_grid, scale_intrinsics

__all__ = ["DEFAULT_HEIGHT", "DEFAULT_WIDTH", "FOCAL_PER_WIDTH", "default_intrinsics"]

# MVDepthNet's input size, 320 x 256 (wang2018mvdepthnet, section 5).
DEFAULT_HEIGHT, DEFAULT_WIDTH = PAPER_SIZE
# DeMoN's normalised focal length fx / W for the SUN3D-like cameras it was trained on
# (ummenhofer2017demon, released code: K = (0.89115971 W, 1.18821287 H) at 256 x 192, i.e.
# square pixels); a horizontal field of view of about 59 degrees.
FOCAL_PER_WIDTH = 0.89115971


def default_intrinsics(height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH) -> np.ndarray:
    """Intrinsics of the synthetic cameras at a given image size (chapter 2).

    At 320 x 256 the focal length is DeMoN's ``0.89115971 W`` with square pixels and the
    principal point at the image centre; other sizes are that camera resized,
    ``scale_intrinsics(K_320x256, W / 320, H / 256)``, so a pyramid of these images is
    consistent.

    Args:
        height, width: image size in pixels.
    Returns:
        3 x 3 float32 NumPy array.

    Example:
        >>> K = default_intrinsics(256, 320)
        >>> round(float(K[0, 0]), 2), K[:2, 2].tolist(), K.dtype
        (285.17, [159.5, 127.5], dtype('float32'))
    """
    height = positive_int(height, "height")
    width = positive_int(width, "width")
    f = FOCAL_PER_WIDTH * DEFAULT_WIDTH
    K = np.array([[f, 0.0, (DEFAULT_WIDTH - 1) / 2], [0.0, f, (DEFAULT_HEIGHT - 1) / 2], [0.0, 0.0, 1.0]])
    return scale_intrinsics(K, width / DEFAULT_WIDTH, height / DEFAULT_HEIGHT).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> np.ndarray:
    """:func:`mvdlib.geometry.pixel_grid` as HW x 3 float32 NumPy (read-only, cached)."""
    grid = np.ascontiguousarray(pixel_grid(height, width).T.numpy())
    grid.flags.writeable = False
    return grid


def _cast(
    raycaster: o3d.t.geometry.RaycastingScene, K: np.ndarray, T_world_cams: np.ndarray, height: int, width: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cast one ray per pixel centre of every view in one Open3D call (inputs already validated).

    Args:
        raycaster: the scene's Open3D ray-casting scene.
        K: 3 x 3 float64 intrinsics shared by the views; T_world_cams: N x 4 x 4 float64 poses.
    Returns:
        ``(hits, depth)``: Open3D's hit arrays over the N HW rays (view-major) plus ``origin``
        and ``dirs`` (N HW x 3 float32) and ``focal``; N x H x W float32 z-depth (0 = no hit).
    """
    grid = _pixel_grid(height, width)
    # world directions R K^-1 [u, v, 1]^T: camera-frame z is 1, so the hit parameter t is the z-depth
    dirs = np.concatenate([grid @ (T[:3, :3] @ np.linalg.inv(K)).T.astype(np.float32) for T in T_world_cams])
    origin = np.repeat(T_world_cams[:, :3, 3].astype(np.float32), height * width, axis=0)  # N HW x 3
    rays = np.concatenate([origin, dirs], 1)
    cast = raycaster.cast_rays(o3d.core.Tensor(rays))  # type: ignore[call-overload]  # open3d's stubs lack Tensor(ndarray)
    hits = {k: v.numpy() for k, v in cast.items()}
    hits["origin"] = origin
    hits["focal"] = math.sqrt(K[0, 0] * K[1, 1])
    hits["dirs"] = dirs
    t = hits["t_hit"]
    depth = np.where(np.isfinite(t), t, 0.0).astype(np.float32).reshape(len(T_world_cams), height, width)
    return hits, depth
