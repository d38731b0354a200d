"""Camera trajectories in a synthetic room: a reference view and its neighbours (chapter 2).

A trajectory is a reference camera looking into the room and ``N`` source cameras a few
centimetres to tens of centimetres away, turned by a few degrees, like consecutive frames of
the SUN3D and TUM videos DeMoN and MVDepthNet were trained on. Cameras whose view would not
suit a plane sweep over ``depth_range`` (against a wall, inside an object, mostly far beyond
the last plane) are drawn again. Poses are 4 x 4 ``T_world_cam`` in the OpenCV camera frame,
world z up (``book/conventions.md``).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import open3d as o3d

from mvdlib._validation import positive_int
from mvdlib.conventions import MAX_DEPTH, MIN_DEPTH, check_seed
from mvdlib.geometry import axis_angle_to_matrix, look_at

__all__ = [
    "BASELINE_RANGE",
    "CLOSE_UP_PROBABILITY",
    "DEFAULT_DEPTH_RANGE",
    "MAX_SOURCE_ROTATION",
    "sample_trajectory",
]

# A reference view and neighbours offset by a few to tens of centimetres and a few degrees.
BASELINE_RANGE = (0.03, 0.3)  # metres
CLOSE_UP_PROBABILITY = 0.35  # share of reference views that look at an object from close by
CLOSE_UP_DISTANCE = (0.3, 1.5)  # metres between the camera and the object's bounding sphere
MAX_SOURCE_ROTATION = math.radians(8.0)
# Cameras are rejected unless the 5th to 95th percentiles of a coarse probe of their view
# lie in this depth range (metres); the default is MVDepthNet's sampled range, 0.5 m to
# 50 m (wang2018mvdepthnet).
DEFAULT_DEPTH_RANGE = (MIN_DEPTH, MAX_DEPTH)
DEPTH_PROBE_PERCENTILES = (5.0, 95.0)
CAMERA_ATTEMPTS = 200


class _Room(Protocol):
    """What the sampler reads of a scene; :class:`mvdlib.data.scene.SyntheticScene` is one."""

    seed: int
    room_size: np.ndarray | None  # (3,) metres, or None for a scene made of given meshes

    def object_boxes(self) -> list[o3d.geometry.AxisAlignedBoundingBox]: ...

    def depth_probe(self, T_world_cam: np.ndarray, samples: tuple[int, int] = ...) -> np.ndarray: ...

    def segment_is_free(self, a: np.ndarray, b: np.ndarray) -> bool: ...


def _depth_range(depth_range: tuple[float, float]) -> tuple[float, float]:
    """Validate ``(near, far)`` with ``0 < near < far``."""
    try:
        near, far = (float(x) for x in depth_range)
    except (TypeError, ValueError):
        raise ValueError(f"depth_range must be a pair (near, far) of numbers, got {depth_range!r}") from None
    if not (math.isfinite(near) and math.isfinite(far) and 0 < near < far):
        raise ValueError(f"depth_range must satisfy 0 < near < far (metres), got {depth_range!r}")
    return near, far


def _as_generator(rng: np.random.Generator | int, name: str = "rng") -> np.random.Generator:
    """``rng`` itself, or a new generator seeded with it (the seed rule of ``book/conventions.md``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    try:
        return np.random.default_rng(check_seed(rng, name))
    except ValueError:
        raise ValueError(
            f"{name} must be a numpy Generator or a seed (an integer in [0, 2**32)), got {rng!r}"
        ) from None


def sample_trajectory(
    scene: _Room,
    rng: np.random.Generator | int,
    num_sources: int = 2,
    depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
) -> tuple[np.ndarray, np.ndarray]:
    """A reference camera looking into a room and neighbouring source cameras (chapter 2).

    The reference camera either stands in the near third of the room and looks at an
    object or a point on the far side, or (with probability ``CLOSE_UP_PROBABILITY``)
    looks at an object from close by, so that views span depths from about 0.5 m to
    the far wall. Each source camera is the reference moved by a random
    baseline of ``BASELINE_RANGE`` metres and turned by up to ``MAX_SOURCE_ROTATION``.
    A camera is rejected and drawn again unless all of a coarse grid of its rays hit
    a surface, 90% of them (5th to 95th percentile) inside ``depth_range`` and none
    closer than half its near end: no camera inside an object or against a wall.

    Args:
        scene: a random-room :class:`~mvdlib.data.scene.SyntheticScene` (``SyntheticScene(seed)``).
        rng: NumPy random generator (the trajectory is a function of its state), or a seed.
        num_sources: number of source views N.
        depth_range: ``(near, far)`` in metres, ``0 < near < far``.
    Returns:
        ``(T_world_ref, T_world_srcs)``: 4 x 4 and N x 4 x 4 float64 camera-to-world poses.

    Example:
        >>> from mvdlib.data.scene import SyntheticScene
        >>> T_ref, T_srcs = sample_trajectory(SyntheticScene(0), rng=0, num_sources=2)
        >>> T_ref.shape, T_srcs.shape
        ((4, 4), (2, 4, 4))
        >>> baselines = np.linalg.norm(T_srcs[:, :3, 3] - T_ref[:3, 3], axis=1)
        >>> bool(((baselines >= 0.03) & (baselines <= 0.3)).all())
        True
    """
    room = getattr(scene, "room_size", None)
    if room is None:
        raise ValueError(
            f"scene must be a random-room SyntheticScene (SyntheticScene(seed)), got {type(scene).__name__}"
            + (" made of given meshes" if hasattr(scene, "room_size") else "")
        )
    rng = _as_generator(rng)
    num_sources = positive_int(num_sources, "num_sources")
    near, far = _depth_range(depth_range)
    up = np.array([0.0, 0.0, 1.0])
    objects = scene.object_boxes()
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
        if not _view_ok(scene, T_ref, near, far):
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
            if scene.segment_is_free(T_ref[:3, 3], T_src[:3, 3]) and _view_ok(scene, T_src, near, far):
                srcs.append(T_src)
                if len(srcs) == num_sources:
                    return T_ref, np.stack(srcs)
    raise RuntimeError(f"could not place cameras in scene seed {scene.seed} after {CAMERA_ATTEMPTS} attempts")


def _view_ok(scene: _Room, T_world_cam: np.ndarray, near: float, far: float) -> bool:
    """Whether a camera sees only surfaces, most of them inside ``[near, far]`` and none closer than ``near / 2``."""
    d = scene.depth_probe(T_world_cam)
    if not (d > 0).all() or d.min() < near / 2:
        return False
    lo, hi = np.percentile(d, DEPTH_PROBE_PERCENTILES)
    return bool(lo >= near and hi <= far)
