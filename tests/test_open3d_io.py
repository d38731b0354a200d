"""Tests of mvdlib.open3d_io: Open3D filters against references, PLY round trips, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
from test_tsdf import K_SMALL

import mvdlib.open3d_io
from mvdlib.open3d_io import (
    remove_radius_outliers,
    remove_statistical_outliers,
    save_mesh_ply,
    save_ply,
    to_open3d,
    voxel_down_sample,
)
from mvdlib.pointcloud import DepthView
from mvdlib.tsdf import tsdf_fuse


def test_ply_round_trip_keeps_points_and_colors(tmp_path):
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(500, 3))
    cols = rng.integers(0, 256, (500, 3)) / 255.0  # 8-bit representable, as PLY stores them
    path = save_ply(tmp_path / "cloud.ply", pts, cols, normals_radius=0.5)
    back = o3d.io.read_point_cloud(str(path))
    np.testing.assert_allclose(np.asarray(back.points), pts, atol=1e-6)
    np.testing.assert_allclose(np.asarray(back.colors), cols, atol=1e-6)
    assert back.has_normals()


def test_outlier_removal_and_voxel_down_sampling():
    rng = np.random.default_rng(4)
    dense = rng.uniform(0, 1, (2000, 3))
    pts = np.concatenate([dense, [[10.0, 10.0, 10.0]]])
    cols = np.tile([[0.5, 0.2, 0.1]], (len(pts), 1))
    for kept, kept_cols in (remove_statistical_outliers(pts, cols), remove_radius_outliers(pts, cols, 0.2, 3)):
        assert np.abs(kept).max() <= 1.0 and len(kept) > 1900
        assert kept_cols.shape == kept.shape
        np.testing.assert_allclose(kept_cols, np.broadcast_to([0.5, 0.2, 0.1], kept.shape))
    down, _ = voxel_down_sample(pts, None, 0.5)
    # Reference: the mean of the points of each occupied voxel; Open3D's grid starts half a
    # voxel below the cloud's minimum corner.
    cell = np.floor((pts - (pts.min(0) - 0.25)) / 0.5).astype(int)
    _, inverse = np.unique(cell, axis=0, return_inverse=True)
    means = np.stack([pts[inverse.reshape(-1) == i].mean(0) for i in range(inverse.max() + 1)])
    order = lambda a: a[np.lexsort(a.T)]  # noqa: E731
    np.testing.assert_allclose(order(down), order(means), atol=1e-9)


def test_mesh_ply_round_trip(tmp_path):
    depth = np.full((48, 64), 2.0, np.float32)
    image = np.full((48, 64, 3), 90, np.uint8)
    fused = tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4), image)], voxel_size=0.02)
    path = save_mesh_ply(tmp_path / "plane.ply", fused.mesh)
    back = o3d.io.read_triangle_mesh(str(path))
    assert len(back.triangles) == len(fused.mesh.triangles)
    np.testing.assert_allclose(np.asarray(back.vertices), fused.points, atol=1e-6)
    assert back.has_vertex_colors()


def test_clear_errors_and_empty_clouds(tmp_path):
    with pytest.raises(ValueError, match="colors"):
        to_open3d(np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=".ply"):
        save_ply(tmp_path / "cloud.txt", np.zeros((3, 3)))
    empty = np.zeros((0, 3))
    assert remove_statistical_outliers(empty)[0].shape == (0, 3)
    with pytest.raises(ValueError, match="at least one point"):
        save_ply(tmp_path / "empty.ply", empty)
    with pytest.raises(ValueError, match="triangle"):
        save_mesh_ply(tmp_path / "empty.ply", o3d.geometry.TriangleMesh())
    with pytest.raises(ValueError, match=".ply"):
        save_mesh_ply(tmp_path / "mesh.obj", o3d.geometry.TriangleMesh())


def _truncating_writer(real):
    """An Open3D writer killed mid-write: a few bytes land on disk, then it fails."""

    def write(path, *args, **kwargs):
        assert real(path, *args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(20)
        raise KeyboardInterrupt

    return write


@pytest.mark.parametrize("kind", ["cloud", "mesh"])
def test_a_killed_write_leaves_the_old_file_and_no_scratch(tmp_path, monkeypatch, kind):
    path = tmp_path / f"{kind}.ply"
    box = o3d.geometry.TriangleMesh.create_box()
    save = (lambda: save_ply(path, np.zeros((3, 3)))) if kind == "cloud" else (lambda: save_mesh_ply(path, box))
    save()
    before = path.read_bytes()
    name = "write_point_cloud" if kind == "cloud" else "write_triangle_mesh"
    monkeypatch.setattr(mvdlib.open3d_io.o3d.io, name, _truncating_writer(getattr(o3d.io, name)))
    with pytest.raises(KeyboardInterrupt):
        save()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_an_incomplete_file_from_open3d_is_refused(tmp_path, monkeypatch):
    real = o3d.io.write_point_cloud

    def one_point(path, pcd, **kwargs):  # Open3D reports success but the file holds fewer points
        return real(path, pcd.select_by_index([0]), **kwargs)

    monkeypatch.setattr(mvdlib.open3d_io.o3d.io, "write_point_cloud", one_point)
    with pytest.raises(OSError, match="incomplete"):
        save_ply(tmp_path / "cloud.ply", np.zeros((3, 3)))
    assert list(tmp_path.iterdir()) == []


# ---- issue 22, item 2: no torn files ------------------------------------------------------------


def _cloud(n: int = 100) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (n, 3))


def test_a_short_write_by_open3d_raises_and_leaves_the_old_file(tmp_path, monkeypatch):
    from mvdlib.open3d_io import save_ply

    path = tmp_path / "c.ply"
    save_ply(path, _cloud())
    old = path.read_bytes()
    real = o3d.io.write_point_cloud

    def full_disk(filename, pcd, **kwargs):  # Open3D on a full disk: the header, part of the body, "success"
        ok = real(filename, pcd, **kwargs)
        data = Path(filename).read_bytes()
        Path(filename).write_bytes(data[: len(data) - 100])
        return ok

    monkeypatch.setattr(o3d.io, "write_point_cloud", full_disk)
    with pytest.raises(OSError, match="short"):
        save_ply(path, _cloud(200))
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ply"]


def test_a_sigkilled_save_ply_leaves_the_old_file_and_the_next_write_removes_its_scratch(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from mvdlib.open3d_io import save_ply

    path = tmp_path / "c.ply"
    save_ply(path, _cloud())
    old = path.read_bytes()
    code = (
        "import numpy as np, open3d as o3d, os, signal\n"
        "from mvdlib.open3d_io import save_ply\n"
        "real = o3d.io.write_point_cloud\n"
        "def killed(f, pcd, **kw):\n"
        "    real(f, pcd, **kw); os.kill(os.getpid(), signal.SIGKILL)\n"
        "o3d.io.write_point_cloud = killed\n"
        f"save_ply({str(path)!r}, np.random.default_rng(1).uniform(-1, 1, (5000, 3)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == old
    assert len(list(tmp_path.iterdir())) == 2  # the killed writer's scratch file
    time.sleep(0.1)
    save_ply(path, _cloud(7))
    assert [p.name for p in tmp_path.iterdir()] == ["c.ply"] and len(o3d.io.read_point_cloud(str(path)).points) == 7
