"""Point clouds and meshes to and from Open3D, and PLY files (chapters 12 and 13).

* :func:`as_points` and :func:`as_colors` check a cloud in the form Open3D uses: ``N x 3``
  world points (metres) and ``N x 3`` RGB floats in ``[0, 1]``, as float64 NumPy arrays.
* :func:`to_open3d` builds an ``open3d.geometry.PointCloud``; :func:`voxel_down_sample`,
  :func:`remove_statistical_outliers` and :func:`remove_radius_outliers` run Open3D's
  neighbour searches on it and hand back NumPy arrays.
* :func:`save_ply` and :func:`save_mesh_ply` write binary PLY files for MeshLab or
  CloudCompare. The write is atomic: Open3D writes a scratch file beside the target, its
  header's vertex (and face) count and the file's length are checked (Open3D reports success
  after a short write on a full disk: that raises ``OSError``), and the bytes replace the
  target in one rename (``mvdlib._io.atomic_write``), so a killed write never leaves a partial
  file. A killed write can leave its scratch file (no process can clean up after SIGKILL):
  the next write to the same path deletes those of dead processes.

Conventions: ``book/conventions.md``.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np
import open3d as o3d
from torch import Tensor

from mvdlib._io import atomic_write, remove_stale_temporaries
from mvdlib._validation import positive_float, positive_int

__all__ = [
    "DEFAULT_STAT_NEIGHBORS",
    "DEFAULT_STAT_STD_RATIO",
    "NORMALS_MAX_NN",
    "as_colors",
    "as_points",
    "remove_radius_outliers",
    "remove_statistical_outliers",
    "save_mesh_ply",
    "save_ply",
    "to_open3d",
    "voxel_down_sample",
]

# Open3D's statistical outlier removal: neighbours considered and the cut in standard
# deviations of the mean neighbour distance (the values of Open3D's own tutorial).
DEFAULT_STAT_NEIGHBORS = 20
DEFAULT_STAT_STD_RATIO = 2.0
# Neighbours used for a normal's local plane fit (Open3D tutorial's hybrid search).
NORMALS_MAX_NN = 30

Cloud = tuple[np.ndarray, np.ndarray | None]


def as_points(points: Tensor | np.ndarray, name: str = "points") -> np.ndarray:
    """A cloud's points as a finite float64 ``N x 3`` NumPy array (N may be 0).

    Example:
        >>> as_points([[0, 0, 1]]).dtype
        dtype('float64')
    """
    p = points.detach().cpu().numpy() if isinstance(points, Tensor) else np.asarray(points)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must be N x 3, got shape {p.shape}")
    p = p.astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError(f"{name} must be finite, got NaN or inf coordinates")
    return p


def as_colors(colors: Tensor | np.ndarray | None, n: int, name: str = "colors") -> np.ndarray | None:
    """A cloud's colours as float64 ``n x 3`` RGB in ``[0, 1]``, or ``None`` for none.

    Example:
        >>> as_colors([[1.0, 0.5, 0.0]], 1)
        array([[1. , 0.5, 0. ]])
    """
    if colors is None:
        return None
    c = colors.detach().cpu().numpy() if isinstance(colors, Tensor) else np.asarray(colors)
    if c.shape != (n, 3):
        raise ValueError(f"{name} must be N x 3 with N = {n} (one per point), got shape {c.shape}")
    c = c.astype(np.float64)
    if not np.isfinite(c).all() or (c.size and (c.min() < 0 or c.max() > 1)):
        raise ValueError(f"{name} must be RGB floats in [0, 1]")
    return c


def to_open3d(
    points: Tensor | np.ndarray, colors: Tensor | np.ndarray | None = None, normals_radius: float | None = None
) -> o3d.geometry.PointCloud:
    """An Open3D point cloud from N x 3 points and optional N x 3 colours in [0, 1].

    Args:
        points: N x 3 world points.
        colors: optional N x 3 RGB in [0, 1].
        normals_radius: if given, estimate normals from neighbours within this radius
            (metres, at most ``NORMALS_MAX_NN`` of them); Open3D leaves their sign arbitrary.
    Returns:
        ``open3d.geometry.PointCloud``.

    Example:
        >>> len(to_open3d(np.zeros((4, 3))).points)
        4
    """
    p = as_points(points, "points")
    c = as_colors(colors, len(p))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    if c is not None:
        pcd.colors = o3d.utility.Vector3dVector(c)
    if normals_radius is not None and len(p):
        radius = positive_float(normals_radius, "normals_radius")
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=NORMALS_MAX_NN))
    return pcd


def _from_open3d(pcd: o3d.geometry.PointCloud, with_colors: bool) -> Cloud:
    points = np.asarray(pcd.points).reshape(-1, 3)
    return points, np.asarray(pcd.colors).reshape(-1, 3) if with_colors else None


def voxel_down_sample(points: Tensor | np.ndarray, colors: Tensor | np.ndarray | None, voxel_size: float) -> Cloud:
    """Average the points (and colours) falling in each voxel of a grid (Open3D).

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``; voxel_size: edge length in metres.
    Returns:
        ``(points, colors)`` with one point per occupied voxel.

    Example:
        >>> voxel_down_sample(np.array([[0.0, 0, 0], [0.01, 0, 0]]), None, 1.0)[0]
        array([[0.005, 0.   , 0.   ]])
    """
    voxel_size = positive_float(voxel_size, "voxel_size")
    pcd = to_open3d(points, colors)
    return _from_open3d(pcd.voxel_down_sample(voxel_size), colors is not None)


def _filter_open3d(
    points: Tensor | np.ndarray,
    colors: Tensor | np.ndarray | None,
    keep: Callable[[o3d.geometry.PointCloud], o3d.geometry.PointCloud],
) -> Cloud:
    """``(points, colors)`` of ``keep(cloud)``, an Open3D filter, on the cloud of the inputs (empty stays empty)."""
    pcd = to_open3d(points, colors)
    if len(pcd.points) > 0:
        pcd = keep(pcd)
    return _from_open3d(pcd, colors is not None)


def remove_statistical_outliers(
    points: Tensor | np.ndarray,
    colors: Tensor | np.ndarray | None = None,
    nb_neighbors: int = DEFAULT_STAT_NEIGHBORS,
    std_ratio: float = DEFAULT_STAT_STD_RATIO,
) -> Cloud:
    """Drop points whose mean distance to their neighbours is unusually large (Open3D).

    A point goes when its mean distance to its ``nb_neighbors`` nearest neighbours exceeds
    the mean of that quantity over the cloud by more than ``std_ratio`` standard deviations.

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        nb_neighbors: neighbours per point; std_ratio: the cut, in standard deviations.
    Returns:
        ``(points, colors)`` of the inliers.

    Example:
        >>> cloud = np.concatenate([np.random.default_rng(0).uniform(0, 1, (200, 3)), [[9.0, 9, 9]]])
        >>> len(remove_statistical_outliers(cloud)[0]) < len(cloud)
        True
    """
    nb_neighbors = positive_int(nb_neighbors, "nb_neighbors")
    std_ratio = positive_float(std_ratio, "std_ratio")
    return _filter_open3d(
        points, colors, lambda pcd: pcd.remove_statistical_outlier(nb_neighbors=nb_neighbors, std_ratio=std_ratio)[0]
    )


def remove_radius_outliers(
    points: Tensor | np.ndarray, colors: Tensor | np.ndarray | None = None, radius: float = 0.05, min_points: int = 8
) -> Cloud:
    """Drop points with fewer than ``min_points`` neighbours within ``radius`` metres (Open3D).

    Args:
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        radius: neighbourhood radius in metres; min_points: neighbours required.
    Returns:
        ``(points, colors)`` of the inliers.

    Example:
        >>> remove_radius_outliers(np.array([[0.0, 0, 0], [0.01, 0, 0], [5.0, 0, 0]]), radius=0.1, min_points=1)[0]
        array([[0.  , 0.  , 0.  ],
               [0.01, 0.  , 0.  ]])
    """
    radius = positive_float(radius, "radius")
    min_points = positive_int(min_points, "min_points")
    return _filter_open3d(points, colors, lambda pcd: pcd.remove_radius_outlier(nb_points=min_points, radius=radius)[0])


def _ply_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"path must end in .ply, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path's folder must exist, got {str(path.parent)!r}")
    return path


def _header_count(data: bytes, element: str) -> int:
    """The count of ``element`` (``vertex``, ``face``) declared in a PLY file's header, or -1."""
    header = data[: data.find(b"end_header")].decode("ascii", "replace")
    found = re.search(rf"^element {element} (\d+)\s*$", header, re.MULTILINE)
    return int(found.group(1)) if found else -1


_PLY_SIZES = {"char": 1, "uchar": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4, "float": 4, "double": 8}
_PLY_SIZES |= {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "float32": 4, "float64": 8}


def _binary_size(data: bytes) -> int:
    """The bytes a complete binary PLY with ``data``'s header holds (a list property counted as a
    triangle: its count, then three indices), or -1 when the header is not binary or not readable."""
    end = data.find(b"end_header\n")
    if end < 0 or b"format binary" not in data[:end]:
        return -1
    size, count = end + len(b"end_header\n"), 0
    for line in data[:end].decode("ascii", "replace").splitlines():
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3 and words[2].isdigit():
            count = int(words[2])
        elif words[:2] == ["property", "list"] and len(words) == 5:
            size += count * (_PLY_SIZES.get(words[2], 0) + 3 * _PLY_SIZES.get(words[3], 0))
        elif words[:1] == ["property"] and len(words) == 3:
            size += count * _PLY_SIZES.get(words[1], 0)
    return size


def _remove_stale_scratch(path: Path) -> None:
    """Delete the scratch and temporary files of ``path`` that killed writers left (their process is gone)."""
    remove_stale_temporaries(path)
    for scratch in path.parent.glob(f".{glob.escape(path.name)}.open3d*.ply"):
        found = re.search(r"\.open3d(\d+)-[0-9a-f]+\.ply$", scratch.name)
        if found and int(found.group(1)) != os.getpid():
            try:
                os.kill(int(found.group(1)), 0)
            except ProcessLookupError:
                scratch.unlink(missing_ok=True)
            except PermissionError:  # another user's live process
                pass


def _write_atomic(path: Path, write: Callable[[Path], bool], counts: dict[str, int]) -> Path:
    """Open3D's ``write(scratch)`` to a scratch ``.ply`` beside ``path``, checked, then atomically to ``path``.

    The scratch file must be non-empty and its header must declare ``counts`` (element -> number).
    """
    _remove_stale_scratch(path)
    scratch = path.with_name(f".{path.name}.open3d{os.getpid()}-{secrets.token_hex(4)}.ply")
    try:
        if not write(scratch) or not scratch.is_file():
            raise OSError(f"Open3D could not write {str(path)!r}")
        data = scratch.read_bytes()
        for element, n in counts.items():
            if _header_count(data, element) != n:
                raise OSError(f"Open3D wrote an incomplete {str(path)!r}: expected {n} {element} elements")
        if len(data) < _binary_size(data):  # a full disk: Open3D reports success after a short write
            raise OSError(
                f"Open3D wrote a short {str(path)!r} ({len(data)} of {_binary_size(data)} bytes; is the disk full?); "
                "the old file, if any, is unchanged"
            )
        atomic_write(path, lambda f: f.writelines([data]))
    finally:
        scratch.unlink(missing_ok=True)
    return path


def save_ply(
    path: str | Path,
    points: Tensor | np.ndarray,
    colors: Tensor | np.ndarray | None = None,
    normals_radius: float | None = None,
) -> Path:
    """Write a point cloud to a binary PLY file for MeshLab or CloudCompare (Open3D), atomically.

    Args:
        path: file name ending in ``.ply``; its folder must exist.
        points: N x 3; colors: N x 3 in [0, 1] or ``None``.
        normals_radius: if given, estimate and store normals (see :func:`to_open3d`).
    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> save_ply(Path(tempfile.mkdtemp()) / "cloud.ply", np.zeros((2, 3))).name
        'cloud.ply'
    """
    path = _ply_path(path)
    pcd = to_open3d(points, colors, normals_radius)
    if len(pcd.points) == 0:  # Open3D would only say that it could not write
        raise ValueError("points must hold at least one point to write a PLY file, got 0")
    return _write_atomic(
        path, lambda f: o3d.io.write_point_cloud(f, pcd, write_ascii=False), {"vertex": len(pcd.points)}
    )


def save_mesh_ply(path: str | Path, mesh: o3d.geometry.TriangleMesh) -> Path:
    """Write a triangle mesh (with its vertex colours) to a binary PLY file for MeshLab (Open3D), atomically.

    Args:
        path: file name ending in ``.ply``; its folder must exist.
        mesh: an ``open3d.geometry.TriangleMesh`` with at least one triangle.
    Returns:
        The path written.
    """
    path = _ply_path(path)
    if not isinstance(mesh, o3d.geometry.TriangleMesh):
        raise ValueError(f"mesh must be an open3d.geometry.TriangleMesh, got {type(mesh).__name__}")
    if len(mesh.triangles) == 0:
        raise ValueError("mesh must hold at least one triangle to write a PLY file, got 0")
    return _write_atomic(
        path,
        lambda f: o3d.io.write_triangle_mesh(f, mesh, write_ascii=False, compressed=False),
        {"vertex": len(mesh.vertices), "face": len(mesh.triangles)},
    )
