"""Procedural multi-view scenes with exact depth, rendered by Open3D ray casting (chapter 2).

A scene is a closed room (floor, four walls, ceiling) holding random boxes, spheres,
cylinders, tori and cones. Every surface carries a texture (photographs and textures
shipped inside scikit-image, or procedural multi-scale noise) attached to the surface by
triplanar mapping of its object-frame coordinates, so one surface point has one colour in
every view (up to the mipmap level, which follows the pixel's footprint as a real camera's
pixel integrates over more texture when farther away). Shading is Lambertian from a point
light under the ceiling, with shadows: it depends on the surface point only, not on the
camera. The depth of a pixel is the z-coordinate of
the first hit in the camera frame (DESIGN.md §3), exact up to float32 rounding.

Conventions: world frame with z up (floor at z = 0); poses are 4x4 ``T_world_cam`` in the
OpenCV camera frame; images are H x W x 3 uint8, depth H x W float32 metres, 0 = no hit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import open3d as o3d
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mvdlib._io import atomic_write
from mvdlib._validation import intrinsics, positive_float, positive_int, rigid_pose
from mvdlib.geometry import (
    axis_angle_to_matrix,
    backproject,
    look_at,
    pixel_grid,
    project,
    relative_pose,
    scale_intrinsics,
    transform_points,
)

__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "SPLITS",
    "Surface",
    "SyntheticMultiViewDataset",
    "SyntheticScene",
    "TextureAtlas",
    "default_cache_dir",
    "default_intrinsics",
    "render_view",
    "render_views",
    "sample_texture",
    "texture_bank",
    "warp_to_reference",
]

_log = logging.getLogger(__name__)

# Part of every cache key: bump it whenever rendering, textures or sampling change, so
# stale cached samples are never served.
SYNTHETIC_VERSION = 3

# MVDepthNet's input size, 320 x 256 (wang2018mvdepthnet, section 5).
DEFAULT_HEIGHT, DEFAULT_WIDTH = 256, 320
# DeMoN's normalised focal length fx / W for the SUN3D-like cameras it was trained on
# (ummenhofer2017demon, released code: K = (0.89115971 W, 1.18821287 H) at 256 x 192, i.e.
# square pixels); a horizontal field of view of about 59 degrees.
FOCAL_PER_WIDTH = 0.89115971

# Textures bundled in the scikit-image wheel (files in skimage/data, read directly so that
# nothing is ever fetched): photographs used as they are, and grey textures tinted per surface.
TEXTURE_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "immunohistochemistry": "ihc.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}
GREY_TEXTURES = ("brick", "grass", "gravel")
NUM_NOISE_TEXTURES = 4
NOISE_TEXTURE_SEED = 2018  # fixed: the texture bank is the same in every process
TEXTURE_SOURCE_SIZE = 256  # each source is resized to this square, then mirror-tiled (2x)
NOISE_SPECTRAL_EXPONENT = 1.0  # amplitude ~ 1/f^beta: detail at every scale, coarse dominating
MIN_MIP_SIZE = 4  # the coarsest mipmap level, in texels
TRIPLANAR_MIN_WEIGHT = 1e-3  # projections weighted less than this are skipped

# Scene layout (metres): room extents, object counts and sizes, chosen so the depths of a
# view span about 0.5 m to 10 m like the indoor data MVDepthNet was trained on.
ROOM_WIDTH_RANGE = (4.0, 7.0)  # x
ROOM_LENGTH_RANGE = (6.0, 11.0)  # y, the direction the cameras look along
ROOM_HEIGHT_RANGE = (2.6, 3.4)  # z
NUM_OBJECTS_RANGE = (8, 16)
OBJECT_SIZE_RANGE = (0.15, 0.8)  # half-extent of an object
TEXEL_SIZE_RANGE = (0.0015, 0.006)  # metres per texel: a 512-texel tile spans 0.8 to 3 m
OBJECT_KINDS = ("box", "sphere", "cylinder", "torus", "cone")
MESH_RESOLUTION = 32  # segments around spheres, cylinders, cones and tori

# Lighting: ambient fraction plus Lambertian diffuse from a point light under the ceiling.
AMBIENT = 0.45
LIGHT_BELOW_CEILING = 0.3  # metres
SHADOW_EPSILON = 1e-3  # metres: shadow rays start this far off the surface
MIN_FOOTPRINT_COSINE = 0.25  # caps the footprint stretch at grazing angles (4x): blur, not alias

# Camera trajectories: a reference view and neighbours offset by a few to tens of
# centimetres and a few degrees, like consecutive frames of the SUN3D / TUM videos DeMoN
# and MVDepthNet train on.
BASELINE_RANGE = (0.03, 0.3)  # metres
CLOSE_UP_PROBABILITY = 0.35  # share of reference views that look at an object from close by
CLOSE_UP_DISTANCE = (0.3, 1.5)  # metres between the camera and the object's bounding sphere
MAX_SOURCE_ROTATION = math.radians(8.0)
# Cameras are rejected unless the 5th to 95th percentiles of a coarse probe of their view
# lie in this depth range (metres); the default is MVDepthNet's sampled range, 0.5 m to
# 50 m (wang2018mvdepthnet).
DEFAULT_DEPTH_RANGE = (0.5, 50.0)
DEPTH_PROBE_PERCENTILES = (5.0, 95.0)
CAMERA_ATTEMPTS = 200

SPLITS = ("train", "val", "test")
# Scene seeds of the splits lie in disjoint ranges: split k of dataset seed s uses
# s * len(SPLITS) * SCENES_PER_SPLIT + k * SCENES_PER_SPLIT + [0, num_scenes).
SCENES_PER_SPLIT = 1_000_000


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
    """
    height = positive_int(height, "height")
    width = positive_int(width, "width")
    f = FOCAL_PER_WIDTH * DEFAULT_WIDTH
    K = np.array([[f, 0.0, (DEFAULT_WIDTH - 1) / 2], [0.0, f, (DEFAULT_HEIGHT - 1) / 2], [0.0, 0.0, 1.0]])
    return scale_intrinsics(K, width / DEFAULT_WIDTH, height / DEFAULT_HEIGHT).astype(np.float32)


# --------------------------------------------------------------------------- textures


def _seamless(img: np.ndarray) -> np.ndarray:
    """Square uint8 RGB tile, mirrored so that it repeats without seams (2 x source size)."""
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = cv2.resize(img, (TEXTURE_SOURCE_SIZE, TEXTURE_SOURCE_SIZE), interpolation=cv2.INTER_AREA)
    img = np.concatenate([img, img[:, ::-1]], 1)
    return np.concatenate([img, img[::-1]], 0)


def _noise_texture(rng: np.random.Generator) -> np.ndarray:
    """Periodic multi-scale colour noise (uint8): random phases under a 1/f^beta spectrum."""
    n = 2 * TEXTURE_SOURCE_SIZE
    radius = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :]).astype(np.float32)
    radius[0, 0] = np.inf  # no constant term
    shape = (3, *radius.shape)
    spectrum = (
        rng.standard_normal(shape, np.float32) + 1j * rng.standard_normal(shape, np.float32)
    ) / radius**NOISE_SPECTRAL_EXPONENT
    fields = np.fft.irfft2(spectrum, s=(n, n)).astype(np.float32)  # 3 x n x n, periodic
    fields /= fields.std(axis=(1, 2), keepdims=True)
    base = rng.uniform(0.25, 0.75, 3).astype(np.float32)
    mix = rng.uniform(-0.12, 0.12, (3, 3)).astype(np.float32)  # colour of each noise field
    rgb = np.clip(base + np.moveaxis(fields, 0, -1) @ mix, 0.0, 1.0)
    return np.rint(255 * rgb).astype(np.uint8)


def _mip_pyramid(tile: np.ndarray) -> list[np.ndarray]:
    """Mipmap levels of a periodic tile, each half the size of the last, down to MIN_MIP_SIZE."""
    levels = [tile]
    while levels[-1].shape[0] > MIN_MIP_SIZE:
        padded = cv2.copyMakeBorder(levels[-1], 4, 4, 4, 4, cv2.BORDER_WRAP)
        levels.append(cv2.pyrDown(padded)[2:-2, 2:-2])
    return levels


@dataclass(frozen=True)
class TextureAtlas:
    """Every texture and every mipmap level packed into one uint8 image.

    Texture ``i`` occupies a band of rows; its level ``k`` (``sizes[k]`` texels square)
    sits in that band with a one-texel periodic border, so bilinear lookups wrap.

    Attributes:
        names: texture names.
        image: Ha x Wa x 3 uint8 atlas.
        origin: Ntex x Nlev x 2 ``(x, y)`` atlas position of texel (0, 0) of each level.
        sizes: Nlev level sizes in texels.
    """

    names: tuple[str, ...]
    image: np.ndarray
    origin: np.ndarray
    sizes: np.ndarray


@functools.cache
def texture_bank() -> TextureAtlas:
    """The textures every scene draws from, as a mipmapped :class:`TextureAtlas`."""
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    names, tiles = [], []
    for name, file in TEXTURE_FILES.items():
        img = cv2.imread(str(folder / file), cv2.IMREAD_COLOR)  # grey files come back as 3 equal channels
        if img is None:
            raise FileNotFoundError(f"texture {file} is missing from {folder}; reinstall scikit-image")
        names.append(name)
        tiles.append(_seamless(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    rng = np.random.default_rng(NOISE_TEXTURE_SEED)
    for i in range(NUM_NOISE_TEXTURES):
        names.append(f"noise{i}")
        tiles.append(_noise_texture(rng))
    pyramids = [_mip_pyramid(t) for t in tiles]
    sizes = np.array([level.shape[0] for level in pyramids[0]])
    if (sizes & (sizes - 1)).any():  # _wrap is exact only for powers of two
        raise RuntimeError(f"mip level sizes must be powers of two, got {sizes.tolist()}")
    columns = np.concatenate([[0], np.cumsum(sizes + 2)])
    band = sizes[0] + 2
    image = np.zeros((band * len(tiles), columns[-1], 3), np.uint8)
    origin = np.zeros((len(tiles), len(sizes), 2), np.int64)
    for i, pyramid in enumerate(pyramids):
        for k, level in enumerate(pyramid):
            y0, x0 = i * band, columns[k]
            image[y0 : y0 + sizes[k] + 2, x0 : x0 + sizes[k] + 2] = cv2.copyMakeBorder(
                level, 1, 1, 1, 1, cv2.BORDER_WRAP
            )
            origin[i, k] = (x0 + 1, y0 + 1)
    return TextureAtlas(tuple(names), image, origin, sizes)


def _wrap(m: np.ndarray, size: np.ndarray) -> None:
    """``m = np.mod(m, size)`` in place, bit for bit, for power-of-two ``size`` (mip level sizes).

    ``m - floor(m / size) size``: dividing and multiplying by a power of two are exact, and
    the difference is the exact remainder (rounded once, as ``np.mod`` rounds it, for negative
    ``m``); about 30 times faster than ``np.mod``'s float path.
    """
    wrap = np.divide(m, size)
    np.floor(wrap, out=wrap)
    wrap *= size
    m -= wrap


def sample_texture(
    atlas: TextureAtlas, texture: np.ndarray, x: np.ndarray, y: np.ndarray, level: np.ndarray
) -> np.ndarray:
    """Trilinear (mipmapped) lookup of periodic textures at level-0 texel coordinates.

    Args:
        atlas: the :class:`TextureAtlas`.
        texture: (M,) texture indices.
        x, y: (M,) texel coordinates of level 0 (integer = texel centre), any range (the
            textures repeat).
        level: (M,) fractional mip level; level ``k`` has texels ``2^k`` times larger.
    Returns:
        (M, 3) float32 colours in [0, 1].
    """
    last = len(atlas.sizes) - 1
    level = np.clip(level, 0, last).astype(np.float32)
    base = np.minimum(level.astype(np.int64), last - 1)  # level >= 0: truncation is floor
    frac = (level - base)[:, None]
    scale = (0.5 ** np.arange(last + 1)).astype(np.float32)  # texel size ratio of each level
    size = atlas.sizes.astype(np.float32)
    origin = atlas.origin.reshape(-1, 2).astype(np.float32)  # (texture, level) -> atlas (x, y)
    out = np.zeros((x.size, 3), np.float32)
    chunk = 1024  # cv2.remap wants a 2D map with fewer than 32767 rows
    rows = -(-x.size // chunk)
    maps = np.zeros((2, rows * chunk), np.float32)
    for lvl, weight in ((base, 1 - frac), (base + 1, frac)):
        org = origin[texture * (last + 1) + lvl]  # M x 2
        for axis, coord in enumerate((x, y)):
            m = maps[axis, : x.size]
            np.multiply(coord + 0.5, scale[lvl], out=m)
            m -= 0.5
            _wrap(m, size[lvl])
            m += org[:, axis]
        colour = cv2.remap(
            atlas.image,
            maps[0].reshape(rows, chunk),
            maps[1].reshape(rows, chunk),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        out += weight * colour.reshape(-1, 3)[: x.size]
    return out / 255.0


# --------------------------------------------------------------------------- scenes


@dataclass
class Surface:
    """One textured mesh of a scene.

    Attributes:
        mesh: the triangle mesh in world coordinates (metres).
        texture: index into the :func:`texture_bank` atlas.
        texel_size: metres per texel of the texture's finest level.
        offset: 3 texture-space offsets in texels (one per triplanar projection).
        tint: RGB multiplier of the texture.
        frame: 4 x 4 object-to-world transform; the texture is attached in the object
            frame, so a rotated box still shows one projection per face.
        smooth: interpolate vertex normals (spheres, tori) instead of flat facets.
        kind: "floor", "ceiling", "wall", "far wall", "left wall", "right wall", "box",
            "sphere", "cylinder", "torus", "cone", or "mesh" (user-given).
    """

    mesh: o3d.geometry.TriangleMesh
    texture: int
    texel_size: float
    offset: np.ndarray
    tint: np.ndarray
    frame: np.ndarray = field(default_factory=lambda: np.eye(4))
    smooth: bool = False
    kind: str = "mesh"


def _random_surface(
    rng: np.random.Generator, mesh: o3d.geometry.TriangleMesh, kind: str, frame: np.ndarray | None = None
) -> Surface:
    """A surface with a random texture, scale, offset and tint."""
    names = texture_bank().names
    texture = int(rng.integers(len(names)))
    grey = names[texture] in GREY_TEXTURES
    tint = rng.uniform(0.35, 1.0, 3) if grey else rng.uniform(0.8, 1.0, 3)
    return Surface(
        mesh=mesh,
        texture=texture,
        texel_size=float(rng.uniform(*TEXEL_SIZE_RANGE)),
        offset=rng.uniform(0, 2 * TEXTURE_SOURCE_SIZE, 3),
        tint=tint,
        frame=np.eye(4) if frame is None else frame,
        smooth=kind in ("sphere", "torus"),
        kind=kind,
    )


def _room_faces(size: np.ndarray) -> list[tuple[str, o3d.geometry.TriangleMesh]]:
    """Floor, ceiling and four walls of the axis-aligned box [0, size], one mesh each."""
    x, y, z = np.diag(size)
    o = np.zeros(3)
    faces = {
        "floor": (o, x, y),
        "ceiling": (z, x, y),
        "wall": (o, x, z),
        "far wall": (y, x, z),
        "left wall": (o, y, z),
        "right wall": (x, y, z),
    }
    out = []
    for name, (corner, e1, e2) in faces.items():
        quad = o3d.geometry.TriangleMesh()
        quad.vertices = o3d.utility.Vector3dVector(np.stack([corner, corner + e1, corner + e1 + e2, corner + e2]))
        quad.triangles = o3d.utility.Vector3iVector(np.array([[0, 1, 2], [0, 2, 3]]))
        out.append((name, quad))
    return out


def _random_object(rng: np.random.Generator, room: np.ndarray) -> Surface:
    """A random box, sphere, cylinder, torus or cone at a random pose inside the room."""
    kind = str(rng.choice(OBJECT_KINDS))
    s = rng.uniform(*OBJECT_SIZE_RANGE)
    r = MESH_RESOLUTION
    if kind == "box":
        dims = s * rng.uniform(0.5, 2.0, 3)
        mesh = o3d.geometry.TriangleMesh.create_box(*dims).translate(-dims / 2)
    elif kind == "sphere":
        mesh = o3d.geometry.TriangleMesh.create_sphere(s, resolution=r)
    elif kind == "cylinder":
        mesh = o3d.geometry.TriangleMesh.create_cylinder(s * rng.uniform(0.3, 0.8), 2 * s, resolution=r)
    elif kind == "torus":
        mesh = o3d.geometry.TriangleMesh.create_torus(s, s * rng.uniform(0.2, 0.45), r, r // 2)
    else:
        mesh = o3d.geometry.TriangleMesh.create_cone(s * rng.uniform(0.4, 0.9), 2 * s, resolution=r)
        mesh.translate([0.0, 0.0, -s])
    axis = rng.normal(size=3)
    frame = np.eye(4)
    frame[:3, :3] = np.asarray(axis_angle_to_matrix(axis / np.linalg.norm(axis) * rng.uniform(0, math.pi)))
    mesh.rotate(frame[:3, :3], center=np.zeros(3))
    frame[:3, 3] = rng.uniform([s, 0.2 * room[1], s], room - s)
    if rng.random() < 0.5:  # rest on the floor
        frame[2, 3] = -mesh.get_min_bound()[2]
    mesh.translate(frame[:3, 3])
    return _random_surface(rng, mesh, kind, frame)


class SyntheticScene:
    """A procedural room with random textured objects, ready for ray casting (chapter 2).

    Args:
        seed: the scene's seed; the same seed gives the same scene, bit for bit.
        surfaces: build the scene from these surfaces instead of a random room (for
            tests and exercises); see :meth:`from_meshes`.
        light: world position of the point light (default: under the ceiling's centre).
        shadows: cast shadow rays towards the light.
    Attributes:
        surfaces: list of :class:`Surface`.
        room_size: (3,) room extents in metres (x, y, z), or ``None`` for a custom scene.
        light: (3,) light position.
    """

    def __init__(
        self,
        seed: int = 0,
        surfaces: list[Surface] | None = None,
        light: Any = None,
        shadows: bool = True,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.shadows = bool(shadows)
        rng = np.random.default_rng(self.seed)
        if surfaces is None:
            room = np.array(
                [rng.uniform(*ROOM_WIDTH_RANGE), rng.uniform(*ROOM_LENGTH_RANGE), rng.uniform(*ROOM_HEIGHT_RANGE)]
            )
            self.room_size: np.ndarray | None = room
            surfaces = [_random_surface(rng, mesh, name) for name, mesh in _room_faces(room)]
            num_objects = int(rng.integers(NUM_OBJECTS_RANGE[0], NUM_OBJECTS_RANGE[1] + 1))
            surfaces += [_random_object(rng, room) for _ in range(num_objects)]
            default_light = np.array([room[0] / 2, room[1] / 2, room[2] - LIGHT_BELOW_CEILING])
        else:
            if not surfaces or not all(isinstance(s, Surface) for s in surfaces):
                raise ValueError(f"surfaces must be a non-empty list of Surface, got {surfaces!r}")
            self.room_size = None
            lo = np.min([s.mesh.get_min_bound() for s in surfaces], 0)
            hi = np.max([s.mesh.get_max_bound() for s in surfaces], 0)
            default_light = (lo + hi) / 2 + np.array([0.0, 0.0, 2.0 * float(np.max(hi - lo))])
        self.surfaces = surfaces
        self.light = default_light if light is None else np.asarray(light, dtype=np.float64).reshape(3)
        self._build()

    @classmethod
    def from_meshes(cls, meshes: list[o3d.geometry.TriangleMesh], seed: int = 0, **kwargs: Any) -> SyntheticScene:
        """A scene made of given meshes (flat-shaded) with random textures.

        Args:
            meshes: Open3D legacy triangle meshes in world coordinates.
            seed: seed of the texture choice.
            **kwargs: ``light`` and ``shadows`` as in the constructor.
        """
        if not meshes or not all(isinstance(m, o3d.geometry.TriangleMesh) for m in meshes):
            raise ValueError("meshes must be a non-empty list of open3d.geometry.TriangleMesh")
        rng = np.random.default_rng(seed)
        return cls(seed, surfaces=[_random_surface(rng, m, "mesh") for m in meshes], **kwargs)

    def _build(self) -> None:
        """Ray-casting scene plus per-triangle tables in each surface's object frame.

        Shading and texturing happen in the object frame: a hit's object-frame position and
        normal are barycentric interpolations of its triangle's corners, read from these
        tables by the global triangle index ``_tri_offset[geometry_id] + primitive_id``.
        """
        self.raycaster = o3d.t.geometry.RaycastingScene()
        positions, normals, owner, offsets = [], [], [], [0]
        for i, s in enumerate(self.surfaces):
            gid = self.raycaster.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(s.mesh))
            if gid != i:
                raise RuntimeError(f"Open3D returned geometry id {gid} for surface {i}")
            tri = np.asarray(s.mesh.triangles)
            if s.smooth:
                s.mesh.compute_vertex_normals()
                n = np.asarray(s.mesh.vertex_normals)[tri]  # T x 3 corners x 3
            else:
                s.mesh.compute_triangle_normals()
                n = np.repeat(np.asarray(s.mesh.triangle_normals)[:, None], 3, 1)
            R, t = s.frame[:3, :3], s.frame[:3, 3]
            positions.append((np.asarray(s.mesh.vertices)[tri] - t) @ R)  # R^T (X - t), T x 3 x 3
            normals.append(n @ R)
            owner.append(np.full(len(tri), i))
            offsets.append(offsets[-1] + len(tri))
        self._corner_positions = np.concatenate(positions).astype(np.float32)
        self._corner_normals = np.concatenate(normals).astype(np.float32)
        self._tri_owner = np.concatenate(owner)
        self._tri_offset = np.asarray(offsets[:-1], dtype=np.int64)
        # per-surface texture parameters, gathered per pixel by surface index
        self._texture = np.array([s.texture for s in self.surfaces], np.int64)
        self._texel_size = np.array([s.texel_size for s in self.surfaces], np.float32)
        self._offset = np.stack([s.offset for s in self.surfaces]).astype(np.float32)
        self._tint = np.stack([s.tint for s in self.surfaces]).astype(np.float32)
        self._frame = np.stack([s.frame for s in self.surfaces])

    def __repr__(self) -> str:
        kinds = [s.kind for s in self.surfaces]
        room = None if self.room_size is None else np.round(self.room_size, 2).tolist()
        return f"SyntheticScene(seed={self.seed}, room_size={room}, surfaces={kinds})"

    def depth_probe(self, T_world_cam: np.ndarray, samples: tuple[int, int] = (12, 16)) -> np.ndarray:
        """Depths of a coarse grid of rays of the default camera (for camera placement)."""
        K = default_intrinsics(*samples).astype(np.float64)
        _, depth = _cast(self, K, np.asarray(T_world_cam, np.float64)[None], *samples)
        return depth[0]

    def segment_is_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether the straight segment between two points crosses no surface."""
        ray = np.concatenate([a, np.asarray(b) - a]).astype(np.float32)[None]
        return not bool(self.raycaster.test_occlusions(o3d.core.Tensor(ray), tnear=0.0, tfar=1.0).numpy()[0])

    def sample_trajectory(
        self,
        rng: np.random.Generator,
        num_sources: int = 2,
        depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A reference camera looking into the room and neighbouring source cameras.

        The reference camera either stands in the near third of the room and looks at an
        object or a point on the far side, or (with probability ``CLOSE_UP_PROBABILITY``)
        looks at an object from close by, so that views span depths from about 0.5 m to
        the far wall. Each source camera is the reference moved by a random
        baseline of ``BASELINE_RANGE`` metres and turned by up to ``MAX_SOURCE_ROTATION``.
        A camera is rejected and drawn again unless all of a coarse grid of its rays hit
        a surface, 90% of them (5th to 95th percentile) inside ``depth_range`` and none
        closer than half its near end: no camera inside an object or against a wall.

        Args:
            rng: NumPy random generator (the trajectory is a function of its state).
            num_sources: number of source views N.
            depth_range: ``(near, far)`` in metres, ``0 < near < far``.
        Returns:
            ``(T_world_ref, T_world_srcs)``: 4 x 4 and N x 4 x 4 float64 camera-to-world poses.
        """
        num_sources = positive_int(num_sources, "num_sources")
        near, far = _depth_range(depth_range)
        if self.room_size is None:
            raise ValueError("sample_trajectory needs a random room scene (SyntheticScene(seed))")
        room = self.room_size
        up = np.array([0.0, 0.0, 1.0])
        objects = [s.mesh.get_axis_aligned_bounding_box() for s in self.surfaces if s.kind in OBJECT_KINDS]
        lo, hi = np.array([0.3, 0.3, 0.5]), room - np.array([0.3, 0.3, 0.4])  # where a camera may stand
        for _ in range(CAMERA_ATTEMPTS):
            if objects and rng.random() < CLOSE_UP_PROBABILITY:
                box = objects[int(rng.integers(len(objects)))]
                target = box.get_center()
                away = np.array([rng.uniform(-1.0, 1.0), -1.0, rng.uniform(-0.3, 0.6)])  # back towards y = 0
                radius = 0.5 * np.linalg.norm(box.get_extent())
                eye = target + away / np.linalg.norm(away) * (radius + rng.uniform(*CLOSE_UP_DISTANCE))
                if ((eye < lo) | (eye > hi)).any():
                    continue
            else:
                eye = rng.uniform([0.5, 0.3, 0.9], [room[0] - 0.5, 0.3 * room[1], min(2.0, room[2] - 0.4)])
                if objects and rng.random() < 0.7:
                    target = objects[int(rng.integers(len(objects)))].get_center()
                else:
                    target = rng.uniform([0.3, 0.7 * room[1], 0.3], [room[0] - 0.3, room[1], room[2] - 0.3])
                if target[1] - eye[1] < 1.0:
                    continue
            T_ref = np.asarray(look_at(eye, target, up))
            roll = axis_angle_to_matrix(np.array([0.0, 0.0, rng.uniform(-0.1, 0.1)]))
            T_ref[:3, :3] = T_ref[:3, :3] @ np.asarray(roll)
            if not self._view_ok(T_ref, near, far):
                continue
            srcs = []
            for _ in range(CAMERA_ATTEMPTS):
                direction = rng.normal(size=3)
                t = direction / np.linalg.norm(direction) * rng.uniform(*BASELINE_RANGE)
                w = rng.normal(size=3)
                w *= rng.uniform(0, MAX_SOURCE_ROTATION) / np.linalg.norm(w)
                delta = np.eye(4)
                delta[:3, :3] = np.asarray(axis_angle_to_matrix(w))
                delta[:3, 3] = t
                T_src = T_ref @ delta
                if self.segment_is_free(T_ref[:3, 3], T_src[:3, 3]) and self._view_ok(T_src, near, far):
                    srcs.append(T_src)
                    if len(srcs) == num_sources:
                        return T_ref, np.stack(srcs)
        raise RuntimeError(f"could not place cameras in scene seed {self.seed} after {CAMERA_ATTEMPTS} attempts")

    def _view_ok(self, T_world_cam: np.ndarray, near: float, far: float) -> bool:
        d = self.depth_probe(T_world_cam)
        if not (d > 0).all() or d.min() < near / 2:
            return False
        lo, hi = np.percentile(d, DEPTH_PROBE_PERCENTILES)
        return bool(lo >= near and hi <= far)


# --------------------------------------------------------------------------- rendering


def _depth_range(depth_range: Any) -> tuple[float, float]:
    """Validate ``(near, far)`` with ``0 < near < far``."""
    try:
        near, far = (float(x) for x in depth_range)
    except (TypeError, ValueError):
        raise ValueError(f"depth_range must be a pair (near, far) of numbers, got {depth_range!r}") from None
    if not (math.isfinite(near) and math.isfinite(far) and 0 < near < far):
        raise ValueError(f"depth_range must satisfy 0 < near < far (metres), got {depth_range!r}")
    return near, far


def _camera(K: Any, T_world_cams: Any, height: Any, width: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Validate one shared K and a 4 x 4 or N x 4 x 4 pose stack; return float64 NumPy (3 x 3, N x 4 x 4)."""
    Kn = intrinsics(K, "K")
    if Kn.shape[0] != 1:
        raise ValueError(f"K must be a single 3x3 matrix, got shape {tuple(Kn.shape)}")
    T = rigid_pose(T_world_cams, "T_world_cam")
    height = positive_int(height, "height")
    width = positive_int(width, "width")
    return Kn[0].double().cpu().numpy(), T.double().cpu().numpy(), height, width


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> np.ndarray:
    """:func:`mvdlib.geometry.pixel_grid` as HW x 3 float32 NumPy (read-only, cached)."""
    grid = np.ascontiguousarray(pixel_grid(height, width).T.numpy())
    grid.flags.writeable = False
    return grid


def _cast(
    scene: SyntheticScene, K: np.ndarray, T_world_cams: np.ndarray, height: int, width: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cast one ray per pixel centre of every view in one Open3D call (inputs already validated).

    Args:
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
    hits = {k: v.numpy() for k, v in scene.raycaster.cast_rays(o3d.core.Tensor(rays)).items()}
    hits["origin"] = origin
    hits["focal"] = math.sqrt(K[0, 0] * K[1, 1])
    hits["dirs"] = dirs
    t = hits["t_hit"]
    depth = np.where(np.isfinite(t), t, 0.0).astype(np.float32).reshape(len(T_world_cams), height, width)
    return hits, depth


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
        blocked = scene.raycaster.test_occlusions(o3d.core.Tensor(rays), tnear=0.0, tfar=1.0).numpy()
        lambert[blocked] = 0.0
    shade = AMBIENT + (1 - AMBIENT) * lambert
    rgb[hit] = 255.0 * albedo * shade[:, None]
    return rgb


def render_views(
    scene: SyntheticScene,
    K: Any,
    T_world_cams: Any,
    height: int,
    width: int,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render N views of a scene with one ray cast (chapter 2).

    The same images as N calls of :func:`render_view`, bit for bit (the noise is drawn
    view after view from ``rng``), in less time: Open3D casts the rays of all views at
    once.

    Args:
        scene: a :class:`SyntheticScene`.
        K: 3 x 3 intrinsics shared by the views (NumPy or torch).
        T_world_cams: 4 x 4 or N x 4 x 4 camera-to-world poses, OpenCV camera frame.
        height, width: image size in pixels.
        noise_std: standard deviation of Gaussian sensor noise in grey levels (0..255).
        rng: generator for the noise (required when ``noise_std > 0``).
    Returns:
        ``(rgb, depth)``: N x H x W x 3 uint8 images and N x H x W float32 z-depths in
        metres (0 where the ray hits nothing).
    """
    if not isinstance(scene, SyntheticScene):
        raise ValueError(f"scene must be a SyntheticScene, got {type(scene).__name__}")
    noise_std = float(noise_std)
    if not math.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    if noise_std > 0 and rng is None:
        raise ValueError("rng must be a numpy Generator when noise_std > 0")
    Kn, T, height, width = _camera(K, T_world_cams, height, width)
    hits, depth = _cast(scene, Kn, T, height, width)
    # shaded view by view: arrays of one view stay in cache (a tenth faster than one pass over all)
    n = height * width
    per_ray = [k for k, v in hits.items() if isinstance(v, np.ndarray) and len(v) == len(T) * n]
    rgb = np.concatenate(
        [_shade(scene, {**hits, **{k: hits[k][i * n : (i + 1) * n] for k in per_ray}}) for i in range(len(T))]
    )
    if noise_std > 0:
        rgb += rng.normal(0.0, noise_std, rgb.shape).astype(np.float32)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(*depth.shape, 3)
    return rgb, depth


def render_view(
    scene: SyntheticScene,
    K: Any,
    T_world_cam: Any,
    height: int,
    width: int,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render an RGB image and its exact z-depth by ray casting a synthetic scene (chapter 2).

    One ray per pixel centre, ``d = R K^-1 [u, v, 1]^T`` from the camera centre; Open3D's
    hit parameter along this direction (whose camera-frame z is 1) *is* the z-depth. The
    colour is ``albedo(X) * (a + (1 - a) max(0, n . l) * visible(X))`` with ambient
    fraction ``a``, surface normal ``n`` and unit direction ``l`` to the light: it depends
    on the surface point ``X`` only, so every view sees the same colour there.
    (:func:`render_views` renders several views with one ray cast.)

    Args:
        scene: a :class:`SyntheticScene`.
        K: 3 x 3 intrinsics (NumPy or torch).
        T_world_cam: 4 x 4 camera-to-world pose, OpenCV camera frame.
        height, width: image size in pixels.
        noise_std: standard deviation of Gaussian sensor noise in grey levels (0..255).
        rng: generator for the noise (required when ``noise_std > 0``).
    Returns:
        ``(rgb, depth)``: H x W x 3 uint8 image and H x W float32 z-depth in metres
        (0 where the ray hits nothing).
    """
    if np.shape(T_world_cam) != (4, 4):
        raise ValueError(f"T_world_cam must be a single 4x4 matrix, got shape {tuple(np.shape(T_world_cam))}")
    rgb, depth = render_views(scene, K, T_world_cam, height, width, noise_std, rng)
    return rgb[0], depth[0]


# --------------------------------------------------------------------------- checking


def warp_to_reference(
    sample: dict[str, torch.Tensor], view: int = 0, depth_scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp source view ``view`` of a sample into the reference with the reference depth (chapter 2).

    A reference pixel ``p`` with depth ``z`` lands in the source at
    ``p_src ~ K (R_sr z K^-1 p + t_sr)`` with ``[R_sr | t_sr] = T_src_ref =
    inv(T_world_src) T_world_ref``; the source is sampled there bilinearly
    (``grid_sample``, ``align_corners=True``). With the true depth the warped image equals
    the reference wherever the point is visible in both views.

    Args:
        sample: a dict as returned by :class:`SyntheticMultiViewDataset` or
            :func:`mvdlib.data.real.load_stereo_pair` (``src_images`` N x 3 x H x W, ``K``,
            ``T_world_ref``, ``T_world_srcs``, ``ref_depth`` 1 x H x W).
        view: which source view.
        depth_scale: multiply the depth by this (1 = the true depth).
    Returns:
        ``(warped, valid)``: 3 x H x W warped source image, and H x W bool mask of pixels
        with a valid depth that project inside the source image.
    """
    missing = {"src_images", "K", "T_world_ref", "T_world_srcs", "ref_depth"} - set(sample)
    if missing:
        raise ValueError(f"sample must have the dataset's keys, missing {sorted(missing)}")
    n = sample["src_images"].shape[0]
    if isinstance(view, bool) or not isinstance(view, int) or not 0 <= view < n:
        raise ValueError(f"view must be an int in [0, {n}), got {view!r}")
    depth_scale = positive_float(depth_scale, "depth_scale")
    depth = sample["ref_depth"][None] * depth_scale  # 1 x 1 x H x W
    h, w = depth.shape[-2:]
    T_src_ref = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][view])
    uv, _ = project(transform_points(T_src_ref, backproject(depth, sample["K"])), sample["K"])  # 1 x 2 x H x W
    grid = torch.stack([2 * uv[:, 0] / (w - 1) - 1, 2 * uv[:, 1] / (h - 1) - 1], dim=-1)  # 1 x H x W x 2
    grid = torch.nan_to_num(grid, nan=2.0)  # behind the camera: outside the image
    warped = F.grid_sample(sample["src_images"][view][None], grid, align_corners=True)[0]
    valid = (depth[0, 0] > 0) & (grid[0].abs() <= 1).all(-1)
    return warped, valid


# --------------------------------------------------------------------------- dataset


def default_cache_dir() -> Path:
    """Where rendered samples are cached: ``$MVDLIB_CACHE`` or ``~/.cache/mvdlib``."""
    return Path(os.environ.get("MVDLIB_CACHE") or Path.home() / ".cache" / "mvdlib")


class SyntheticMultiViewDataset(Dataset):
    """Reference view, N source views, intrinsics, poses and reference depth (chapter 2).

    Sample ``i`` comes from scene ``i // samples_per_scene`` of the split and trajectory
    ``i % samples_per_scene`` in it. The splits draw their scene seeds from disjoint
    ranges, so no scene appears in two splits; everything is a function of ``seed``.
    Rendered samples are cached on disk as ``.npz`` files named by a hash of every
    parameter that changes them (and ``SYNTHETIC_VERSION``), so a second epoch or a
    second notebook run reads instead of rendering (uncompressed, about 1 MB per sample at
    320 x 256: compression saved a quarter of the space and cost more than the read).

    Args:
        split: "train", "val" or "test".
        num_scenes: scenes in the split.
        samples_per_scene: trajectories rendered per scene.
        num_sources: source views N per sample.
        height, width: image size (default 256 x 320, MVDepthNet's).
        seed: dataset seed.
        cache_dir: cache folder (default :func:`default_cache_dir`).
        cache: set False to render every time and write nothing.
        noise_std: Gaussian sensor noise in grey levels (0 = none).
        depth_range: ``(near, far)`` metres that most of every view's depths lie in.
    Returns (``__getitem__``):
        dict of torch tensors: ``ref_image`` 3 x H x W float32 RGB in 0..255 (not
        normalised), ``src_images`` N x 3 x H x W, ``K`` 3 x 3, ``T_world_ref`` 4 x 4,
        ``T_world_srcs`` N x 4 x 4, ``ref_depth`` 1 x H x W (0 = invalid), all float32.
    """

    def __init__(
        self,
        split: str = "train",
        num_scenes: int = 20,
        samples_per_scene: int = 10,
        num_sources: int = 2,
        height: int = DEFAULT_HEIGHT,
        width: int = DEFAULT_WIDTH,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        cache: bool = True,
        noise_std: float = 0.0,
        depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split
        self.num_scenes = positive_int(num_scenes, "num_scenes")
        if self.num_scenes > SCENES_PER_SPLIT:
            raise ValueError(f"num_scenes must be at most {SCENES_PER_SPLIT}, got {num_scenes}")
        self.samples_per_scene = positive_int(samples_per_scene, "samples_per_scene")
        self.num_sources = positive_int(num_sources, "num_sources")
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.noise_std = float(noise_std)
        if not math.isfinite(self.noise_std) or self.noise_std < 0:
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        self.depth_range = _depth_range(depth_range)
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be True or False, got {cache!r}")
        self.cache = cache
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._scenes: OrderedDict[int, SyntheticScene] = OrderedDict()

    def __len__(self) -> int:
        return self.num_scenes * self.samples_per_scene

    def __repr__(self) -> str:
        return (
            f"SyntheticMultiViewDataset(split={self.split!r}, num_scenes={self.num_scenes}, "
            f"samples_per_scene={self.samples_per_scene}, num_sources={self.num_sources}, "
            f"height={self.height}, width={self.width}, seed={self.seed})"
        )

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers: scenes are rebuilt, not pickled
        state = self.__dict__.copy()
        state["_scenes"] = OrderedDict()
        return state

    def scene_seed(self, scene_index: int) -> int:
        """Seed of scene ``scene_index`` of this split (disjoint ranges per split)."""
        if not 0 <= scene_index < self.num_scenes:
            raise IndexError(f"scene_index must be in [0, {self.num_scenes}), got {scene_index}")
        return (self.seed * len(SPLITS) + SPLITS.index(self.split)) * SCENES_PER_SPLIT + scene_index

    def scene(self, scene_index: int) -> SyntheticScene:
        """The :class:`SyntheticScene` of scene ``scene_index`` (a few are kept in memory)."""
        key = self.scene_seed(scene_index)
        if key not in self._scenes:
            self._scenes[key] = SyntheticScene(key)
            while len(self._scenes) > 2:
                self._scenes.popitem(last=False)
        return self._scenes[key]

    def cache_key(self, index: int) -> str:
        """Hash of every parameter that determines sample ``index``."""
        params = {
            "version": SYNTHETIC_VERSION,
            "scene_seed": self.scene_seed(index // self.samples_per_scene),
            "trajectory": index % self.samples_per_scene,
            "num_sources": self.num_sources,
            "height": self.height,
            "width": self.width,
            "noise_std": self.noise_std,
            "depth_range": self.depth_range,
        }
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]

    def render(self, index: int) -> dict[str, np.ndarray]:
        """Render sample ``index`` as NumPy arrays (uint8 images), bypassing the cache."""
        scene_index, trajectory = divmod(index, self.samples_per_scene)
        scene = self.scene(scene_index)
        rng = np.random.default_rng([scene.seed, trajectory])
        T_ref, T_srcs = scene.sample_trajectory(rng, self.num_sources, self.depth_range)
        K = default_intrinsics(self.height, self.width)
        poses = np.concatenate([T_ref[None], T_srcs])  # reference first: the noise is drawn in this order
        rgb, depth = render_views(scene, K, poses, self.height, self.width, self.noise_std, rng)
        return {
            "ref_image": rgb[0],
            "src_images": rgb[1:],
            "K": K,
            "T_world_ref": T_ref,
            "T_world_srcs": T_srcs,
            "ref_depth": depth[0],
        }

    def _expected_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        h, w, n = self.height, self.width, self.num_sources
        return {
            "ref_image": ((h, w, 3), np.dtype(np.uint8)),
            "src_images": ((n, h, w, 3), np.dtype(np.uint8)),
            "K": ((3, 3), None),
            "T_world_ref": ((4, 4), None),
            "T_world_srcs": ((n, 4, 4), None),
            "ref_depth": ((h, w), None),
        }

    def _read_cached(self, path: Path) -> dict[str, np.ndarray] | None:
        """The cached sample at ``path``; ``None`` if absent, or if damaged or of other settings (logged)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                sample = {k: f[k] for k in f.files}  # reading every member checks its CRC
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            problem = f"unreadable ({type(err).__name__}: {err})"
        else:
            got = {k: (v.shape, v.dtype) for k, v in sample.items()}
            wrong = [
                k for k, (shape, dtype) in self._expected_shapes().items()
                if k not in got or got[k][0] != shape or (dtype is not None and got[k][1] != dtype)
            ]  # fmt: skip
            if not wrong:
                return sample
            problem = f"entries {wrong} missing or of another shape or dtype than {self!r} makes"
        _log.warning("cache file %s is %s: rendering the sample again and replacing it", path, problem)
        return None

    def _load_or_render(self, index: int) -> dict[str, np.ndarray]:
        if not self.cache:
            return self.render(index)
        path = self.cache_dir / "synthetic" / f"{self.cache_key(index)}.npz"
        sample = self._read_cached(path)
        if sample is None:
            sample = self.render(index)
            atomic_write(path, lambda f: np.savez(f, **sample))  # readers never see a partial file
        return sample

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index must be in [0, {len(self)}), got {index}")
        s = self._load_or_render(int(index))
        return {
            "ref_image": torch.from_numpy(s["ref_image"].astype(np.float32)).permute(2, 0, 1),
            "src_images": torch.from_numpy(s["src_images"].astype(np.float32)).permute(0, 3, 1, 2),
            "K": torch.from_numpy(s["K"].astype(np.float32)),
            "T_world_ref": torch.from_numpy(s["T_world_ref"].astype(np.float32)),
            "T_world_srcs": torch.from_numpy(s["T_world_srcs"].astype(np.float32)),
            "ref_depth": torch.from_numpy(s["ref_depth"].astype(np.float32))[None],
        }
