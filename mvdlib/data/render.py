"""Ray-cast rendering of synthetic scenes: exact z-depth and a view-independent shade (chapter 2).

One ray per pixel centre (:mod:`mvdlib.data.camera`); Open3D finds the first surface it
hits. The depth of a pixel is the z-coordinate of that hit in the camera frame, exact up to
float32 rounding (``book/conventions.md``). The colour is the surface's triplanar texture
(:mod:`mvdlib.data.textures`, the mip level following the pixel's footprint as a real
camera's pixel integrates over more texture when farther away), lit by Lambertian diffuse
light from the scene's point light with shadows: it depends on the surface point only, not
on the camera, so every view sees the same colour there. Images are H x W x 3 uint8, depth
H x W float32 metres, 0 where a ray hits nothing.
"""

from __future__ import annotations

import math

import numpy as np
import open3d as o3d
from torch import Tensor

from mvdlib._validation import intrinsics, positive_int, rigid_pose
from mvdlib.data.camera import _cast
from mvdlib.data.scene import SyntheticScene
from mvdlib.data.textures import sample_texture, texture_bank
from mvdlib.data.trajectory import _as_generator

__all__ = ["render_view", "render_views"]

# Lighting: ambient fraction plus Lambertian diffuse from a point light.
AMBIENT = 0.45
SHADOW_EPSILON = 1e-3  # metres: shadow rays start this far off the surface
MIN_FOOTPRINT_COSINE = 0.25  # caps the footprint stretch at grazing angles (4x): blur, not alias
TRIPLANAR_MIN_WEIGHT = 1e-3  # projections weighted less than this are skipped


def _camera(
    K: Tensor | np.ndarray, T_world_cams: Tensor | np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Validate one shared K and a 4 x 4 or N x 4 x 4 pose stack; return float64 NumPy (3 x 3, N x 4 x 4)."""
    Kn = intrinsics(K, "K")
    if Kn.shape[0] != 1:
        raise ValueError(f"K must be a single 3x3 matrix, got shape {tuple(Kn.shape)}")
    T = rigid_pose(T_world_cams, "T_world_cam")
    height = positive_int(height, "height")
    width = positive_int(width, "width")
    return Kn[0].double().cpu().numpy(), T.double().cpu().numpy(), height, width


def _noise_std(noise_std: float) -> float:
    """Validate a sensor-noise standard deviation: a finite number >= 0 (grey levels)."""
    try:
        value = float(noise_std)
    except (TypeError, ValueError):
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    return value


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of M x 3 arrays (einsum: much faster than a sum over axis 1)."""
    return np.einsum("ij,ij->i", a, b)


def _row_sum(a: np.ndarray) -> np.ndarray:
    """Row sums of an M x k array."""
    return np.einsum("ij->i", a)


def _albedo(
    scene: SyntheticScene, surface: np.ndarray, local: np.ndarray, normals: np.ndarray, footprint: np.ndarray
) -> np.ndarray:
    """Triplanar texture colour of hit points: a blend of three planar projections.

    In each surface's object frame, projection ``a`` drops coordinate ``a`` of the point
    and is weighted by ``|n_a|^4`` (normalised), so flat faces see one projection and
    curved surfaces blend smoothly. ``footprint`` is the pixel's size on the surface in
    metres; it picks the mip level so distant textures do not alias.

    Args:
        scene: the scene.
        surface: (M,) surface index of each hit.
        local, normals: (M, 3) object-frame positions (metres) and unit normals.
        footprint: (M,) metres.
    Returns:
        (M, 3) float32 albedo in [0, 1].
    """
    weights = normals * normals
    weights *= weights  # |n_a|^4: sharp enough that flat faces use a single projection
    weights[weights < TRIPLANAR_MIN_WEIGHT * _row_sum(weights)[:, None]] = 0.0
    weights /= _row_sum(weights)[:, None]
    flat = np.flatnonzero(weights)  # the projections that matter: E entries, sorted by pixel
    pix, axis = np.divmod(flat, 3)
    kept = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # E x 2: the coordinates each projection keeps
    surf = surface[pix]
    texel = scene._texel_size[surf]
    local_flat = local.ravel()
    u = local_flat[3 * pix + kept[:, 0]] / texel + scene._offset.ravel()[3 * surf + axis]
    v = local_flat[3 * pix + kept[:, 1]] / texel
    level = np.log2(np.maximum(footprint[pix] / texel, 1.0))
    colour = sample_texture(texture_bank(), scene._texture[surf], u, v, level) * weights.ravel()[flat, None]
    first = np.flatnonzero(np.diff(pix, prepend=-1))  # every pixel has at least one entry
    albedo = np.add.reduceat(colour, first, axis=0)  # M x 3: sum of each pixel's entries
    return albedo * scene._tint[surface]


def _shade(scene: SyntheticScene, hits: dict[str, np.ndarray]) -> np.ndarray:
    """Linear colours ``255 albedo (a + (1 - a) max(0, n . l) visible)`` of cast rays (0 where none hit).

    One vectorised pass; each hit is shaded from its own surface point, so the colour of a
    ray does not depend on which other rays share the pass.

    Args:
        scene: the scene the rays were cast into.
        hits: what :func:`_cast` returns for R rays.
    Returns:
        R x 3 float32 colours in 0..255 (not yet rounded).
    """
    t = hits["t_hit"]
    hit = np.nonzero(np.isfinite(t))[0]
    rgb = np.zeros((t.size, 3), np.float32)
    if not hit.size:
        return rgb
    tri = scene._tri_offset[hits["geometry_ids"][hit]] + hits["primitive_ids"][hit]
    surface = scene._tri_owner[tri]
    bary = hits["primitive_uvs"][hit]
    w = np.concatenate([1 - _row_sum(bary)[:, None], bary], 1)  # M x 3 corner weights
    local = np.einsum("mc,mcd->md", w, scene._corner_positions[tri])  # M x 3, object frame
    normals = np.einsum("mc,mcd->md", w, scene._corner_normals[tri])
    normals /= np.sqrt(_dot(normals, normals))[:, None]
    dirs = hits["dirs"][hit]
    unit_dirs = dirs / np.sqrt(_dot(dirs, dirs))[:, None]
    geometric = hits["primitive_normals"][hit]  # world frame, flat
    cos = _dot(geometric, unit_dirs)
    back = (cos > 0)[:, None]  # the ray sees the side the normal points away from: flip
    np.negative(normals, out=normals, where=back)
    np.negative(geometric, out=geometric, where=back)
    # pixel footprint on the surface: z / f metres, stretched by the viewing obliquity
    footprint = t[hit] / hits["focal"] / np.maximum(np.abs(cos), MIN_FOOTPRINT_COSINE)
    albedo = _albedo(scene, surface, local, normals, footprint)
    # the light in each surface's object frame: R^T (light - t)
    light = np.einsum("sji,sj->si", scene._frame[:, :3, :3], scene.light - scene._frame[:, :3, 3])
    to_light = light.astype(np.float32)[surface] - local
    lambert = np.clip(_dot(normals, to_light) / np.sqrt(_dot(to_light, to_light)), 0.0, None)
    if scene.shadows:
        points = hits["origin"][hit] + t[hit, None] * dirs + SHADOW_EPSILON * geometric  # world
        rays = np.concatenate([points, scene.light - points], 1).astype(np.float32)
        shadow_rays = o3d.core.Tensor(rays)  # type: ignore[call-overload]  # open3d's stubs lack Tensor(ndarray)
        blocked = scene.raycaster.test_occlusions(shadow_rays, tnear=0.0, tfar=1.0).numpy()
        lambert[blocked] = 0.0
    shade = AMBIENT + (1 - AMBIENT) * lambert
    rgb[hit] = 255.0 * albedo * shade[:, None]
    return rgb


def render_views(
    scene: SyntheticScene,
    K: Tensor | np.ndarray,
    T_world_cams: Tensor | np.ndarray,
    height: int,
    width: int,
    noise_std: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render N views of a scene with one ray cast (chapter 2).

    The same images as N calls of :func:`render_view`, bit for bit (the noise is drawn
    view after view from ``rng``), in less time: Open3D casts the rays of all views at
    once.

    Args:
        scene: a :class:`~mvdlib.data.scene.SyntheticScene`.
        K: 3 x 3 intrinsics shared by the views (NumPy or torch).
        T_world_cams: 4 x 4 or N x 4 x 4 camera-to-world poses, OpenCV camera frame.
        height, width: image size in pixels.
        noise_std: standard deviation of Gaussian sensor noise in grey levels (0..255).
        rng: generator for the noise, or its seed (required when ``noise_std > 0``).
    Returns:
        ``(rgb, depth)``: N x H x W x 3 uint8 images and N x H x W float32 z-depths in
        metres (0 where the ray hits nothing).

    Example:
        >>> from mvdlib.data.camera import default_intrinsics
        >>> scene = SyntheticScene(0)
        >>> T_ref, T_srcs = scene.sample_trajectory(0, num_sources=2)
        >>> poses = np.concatenate([T_ref[None], T_srcs])
        >>> rgb, depth = render_views(scene, default_intrinsics(8, 8), poses, 8, 8, noise_std=2.0, rng=0)
        >>> rgb.shape, depth.shape, bool((depth > 0).all())
        ((3, 8, 8, 3), (3, 8, 8), True)
    """
    if not isinstance(scene, SyntheticScene):
        raise ValueError(f"scene must be a SyntheticScene, got {type(scene).__name__}")
    noise_std = _noise_std(noise_std)
    noise = None
    if noise_std > 0:
        if rng is None:
            raise ValueError("rng must be a numpy Generator or a seed when noise_std > 0")
        noise = _as_generator(rng)
    Kn, T, height, width = _camera(K, T_world_cams, height, width)
    hits, depth = _cast(scene.raycaster, Kn, T, height, width)
    # shaded view by view: arrays of one view stay in cache (a tenth faster than one pass over all)
    n = height * width
    per_ray = [k for k, v in hits.items() if isinstance(v, np.ndarray) and len(v) == len(T) * n]
    rgb = np.concatenate(
        [_shade(scene, {**hits, **{k: hits[k][i * n : (i + 1) * n] for k in per_ray}}) for i in range(len(T))]
    )
    if noise is not None:
        rgb += noise.normal(0.0, noise_std, rgb.shape).astype(np.float32)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(*depth.shape, 3)
    return rgb, depth


def render_view(
    scene: SyntheticScene,
    K: Tensor | np.ndarray,
    T_world_cam: Tensor | np.ndarray,
    height: int,
    width: int,
    noise_std: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render an RGB image and its exact z-depth by ray casting a synthetic scene (chapter 2).

    One ray per pixel centre, ``d = R K^-1 [u, v, 1]^T`` from the camera centre; Open3D's
    hit parameter along this direction (whose camera-frame z is 1) *is* the z-depth. The
    colour is ``albedo(X) * (a + (1 - a) max(0, n . l) * visible(X))`` with ambient
    fraction ``a``, surface normal ``n`` and unit direction ``l`` to the light: it depends
    on the surface point ``X`` only, so every view sees the same colour there.
    (:func:`render_views` renders several views with one ray cast.)

    Args:
        scene: a :class:`~mvdlib.data.scene.SyntheticScene`.
        K: 3 x 3 intrinsics (NumPy or torch).
        T_world_cam: 4 x 4 camera-to-world pose, OpenCV camera frame.
        height, width: image size in pixels.
        noise_std: standard deviation of Gaussian sensor noise in grey levels (0..255).
        rng: generator for the noise, or its seed (required when ``noise_std > 0``).
    Returns:
        ``(rgb, depth)``: H x W x 3 uint8 image and H x W float32 z-depth in metres
        (0 where the ray hits nothing).

    Example:
        >>> from mvdlib.data.camera import default_intrinsics
        >>> plane = o3d.geometry.TriangleMesh.create_box(4.0, 4.0, 0.01).translate([-2.0, -2.0, 3.0])
        >>> scene = SyntheticScene.from_meshes([plane])
        >>> rgb, depth = render_view(scene, default_intrinsics(8, 8), np.eye(4), 8, 8)
        >>> rgb.shape, rgb.dtype, round(float(depth[4, 4]), 4)  # the box's face at z = 3 m
        ((8, 8, 3), dtype('uint8'), 3.0)
    """
    if np.shape(T_world_cam) != (4, 4):
        raise ValueError(f"T_world_cam must be a single 4x4 matrix, got shape {tuple(np.shape(T_world_cam))}")
    rgb, depth = render_views(scene, K, T_world_cam, height, width, noise_std, rng)
    return rgb[0], depth[0]
