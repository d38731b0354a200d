"""Procedural rooms for the synthetic data: textured boxes, spheres, cylinders, tori and cones (chapter 2).

A scene is a closed room (floor, four walls, ceiling) holding random objects. Every surface
carries a texture of the :func:`~mvdlib.data.textures.texture_bank`, attached by triplanar
mapping of its object-frame coordinates, so one surface point has one colour in every view.
A point light hangs under the ceiling's centre. Everything is a function of the scene's
seed. World frame with z up (floor at z = 0), metres; poses are 4 x 4 ``T_world_cam`` in the
OpenCV camera frame (``book/conventions.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

from mvdlib._validation import check_int, numeric_array
from mvdlib.data.camera import _cast, default_intrinsics
from mvdlib.data.textures import GREY_TEXTURES, TEXTURE_SOURCE_SIZE, texture_bank
from mvdlib.data.trajectory import DEFAULT_DEPTH_RANGE, sample_trajectory
from mvdlib.geometry import axis_angle_to_matrix

__all__ = [
    "NUM_OBJECTS_RANGE",
    "OBJECT_KINDS",
    "ROOM_HEIGHT_RANGE",
    "ROOM_LENGTH_RANGE",
    "ROOM_WIDTH_RANGE",
    "Surface",
    "SyntheticScene",
]

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
LIGHT_BELOW_CEILING = 0.3  # metres between the ceiling and the default point light


@dataclass
class Surface:
    """One textured mesh of a scene.

    Attributes:
        mesh: the triangle mesh in world coordinates (metres).
        texture: index into the :func:`~mvdlib.data.textures.texture_bank` atlas.
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
        mesh = o3d.geometry.TriangleMesh.create_box(*dims)
        mesh.translate(-dims / 2)
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
        seed: the scene's seed, any non-negative integer; the same seed gives the same scene,
            bit for bit. (A scene seed indexes the family of rooms: the data set's split
            ranges reach beyond the ``2**32`` of a generator seed, and NumPy's ``default_rng``
            accepts any non-negative integer.)
        surfaces: build the scene from these surfaces instead of a random room (for
            tests and exercises); see :meth:`from_meshes`.
        light: world position of the point light (default: under the ceiling's centre).
        shadows: cast shadow rays towards the light.
    Attributes:
        surfaces: list of :class:`Surface`.
        room_size: (3,) room extents in metres (x, y, z), or ``None`` for a custom scene.
        light: (3,) light position.

    Example:
        >>> scene = SyntheticScene(0)
        >>> scene.surfaces[0].kind, len(scene.room_size)
        ('floor', 3)
    """

    def __init__(
        self,
        seed: int = 0,
        surfaces: list[Surface] | None = None,
        light: np.ndarray | Sequence[float] | None = None,
        shadows: bool = True,
    ) -> None:
        self.seed = check_int(seed, "seed", min=0)
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
        if light is not None:
            light = numeric_array(light, "light", (1, 2)).astype(np.float64)
            if light.size != 3 or not np.isfinite(light).all():
                raise ValueError(f"light must be a finite 3D point, got {light.tolist()}")
        self.light = default_light if light is None else light.reshape(3)
        self._build()

    @classmethod
    def from_meshes(
        cls,
        meshes: list[o3d.geometry.TriangleMesh],
        seed: int = 0,
        light: np.ndarray | Sequence[float] | None = None,
        shadows: bool = True,
    ) -> SyntheticScene:
        """A scene made of given meshes (flat-shaded) with random textures.

        Args:
            meshes: Open3D legacy triangle meshes in world coordinates.
            seed: seed of the texture choice.
            light, shadows: as in the constructor.

        Example:
            >>> plane = o3d.geometry.TriangleMesh.create_box(4.0, 4.0, 0.01).translate([-2.0, -2.0, 3.0])
            >>> SyntheticScene.from_meshes([plane], shadows=False).surfaces[0].kind
            'mesh'
        """
        if not meshes or not all(isinstance(m, o3d.geometry.TriangleMesh) for m in meshes):
            raise ValueError("meshes must be a non-empty list of open3d.geometry.TriangleMesh")
        seed = check_int(seed, "seed", min=0)
        rng = np.random.default_rng(seed)
        surfaces = [_random_surface(rng, m, "mesh") for m in meshes]
        return cls(seed, surfaces=surfaces, light=light, shadows=shadows)

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
        _, depth = _cast(self.raycaster, K, np.asarray(T_world_cam, np.float64)[None], *samples)
        return depth[0]

    def segment_is_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether the straight segment between two points crosses no surface."""
        ray = np.concatenate([a, np.asarray(b) - a]).astype(np.float32)[None]
        rays = o3d.core.Tensor(ray)  # type: ignore[call-overload]  # open3d's stubs lack Tensor(ndarray)
        return not bool(self.raycaster.test_occlusions(rays, tnear=0.0, tfar=1.0).numpy()[0])

    def object_boxes(self) -> list[o3d.geometry.AxisAlignedBoundingBox]:
        """Axis-aligned bounding boxes of the objects (not of the room's floor, walls and ceiling)."""
        return [s.mesh.get_axis_aligned_bounding_box() for s in self.surfaces if s.kind in OBJECT_KINDS]

    def sample_trajectory(
        self,
        rng: np.random.Generator | int,
        num_sources: int = 2,
        depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A reference camera and ``num_sources`` neighbours in this room (chapter 2).

        See :func:`mvdlib.data.trajectory.sample_trajectory`; ``rng`` is a generator or a seed.

        Example:
            >>> T_ref, T_srcs = SyntheticScene(0).sample_trajectory(np.random.default_rng(0), num_sources=1)
            >>> T_srcs.shape
            (1, 4, 4)
        """
        return sample_trajectory(self, rng, num_sources, depth_range)
