"""Tests of mvdlib.viz: the interactive point-cloud and mesh figures."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from test_tsdf import K_SMALL

from mvdlib.metrics import point_to_cloud_distance
from mvdlib.pointcloud import DepthView
from mvdlib.tsdf import tsdf_fuse
from mvdlib.viz import plotly_figure, plotly_mesh_figure


def test_plotly_figure_thins_each_cloud_and_toggles_them():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(500, 3)), rng.normal(size=(50, 3))
    fig = plotly_figure({"a": (a, rng.random((500, 3))), "b": (b, None)}, max_points=100)
    assert [len(t.x) for t in fig.data] == [100, 50]
    assert [t.visible for t in fig.data] == [True, False]
    shown = np.stack([fig.data[0].x, fig.data[0].y, fig.data[0].z], 1)
    assert point_to_cloud_distance(shown, a).max() < 1e-5  # thinned, stored as float32, not moved
    assert [btn.args[0]["visible"] for btn in fig.layout.updatemenus[0].buttons] == [[True, False], [False, True]]
    with pytest.raises(ValueError, match="clouds"):
        plotly_figure({})


def test_plotly_figure_starts_from_the_given_eye_with_z_up():
    cloud = {"a": (np.random.default_rng(7).normal(size=(20, 3)), None)}
    camera = plotly_figure(cloud, eye=(0.0, -1.9, 0.7)).layout.scene.camera
    assert (camera.eye.x, camera.eye.y, camera.eye.z) == (0.0, -1.9, 0.7)
    assert (camera.up.x, camera.up.y, camera.up.z) == (0, 0, 1)
    assert plotly_figure(cloud).layout.scene.camera.eye.to_plotly_json() == {}  # plotly's default view
    for bad in ((0, 0, 0), (1.0, float("nan"), 0.0), (1.0, 2.0), "front", [[0.0, -1.9, 0.7]]):
        with pytest.raises((TypeError, ValueError), match="eye"):
            plotly_figure(cloud, eye=bad)


def test_plotly_mesh_figure_caps_triangles_and_switches():
    depth = np.full((48, 64), 2.0, np.float32)
    image = np.full((48, 64, 3), 90, np.uint8)
    mesh = tsdf_fuse([DepthView(depth, K_SMALL, np.eye(4), image)], voxel_size=0.02).mesh
    fig = plotly_mesh_figure({"a": mesh, "b": mesh}, max_triangles=1000, title="t")
    assert [t.type for t in fig.data] == ["mesh3d", "mesh3d"]
    assert all(len(t.i) <= 1000 for t in fig.data) and len(mesh.triangles) > 1000
    assert [t.visible for t in fig.data] == [True, False]
    assert fig.data[0].vertexcolor[0] == "rgb(90,90,90)"
    with pytest.raises(ValueError, match="triangles"):
        plotly_mesh_figure({"empty": o3d.geometry.TriangleMesh()})


def test_show_depth_near_is_bright_and_invalid_is_grey() -> None:
    """Depth and inverse depth of the same scene give the near pixel the same (bright) colour; holes are grey."""
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from mvdlib.viz import INVALID_COLOR, show_depth

    depth = np.array([[1.0, 4.0], [2.0, 0.0]])  # 0: no depth
    fig, (a, b) = plt.subplots(1, 2)
    im_d = show_depth(a, depth, "depth")
    inv = np.where(depth > 0, 1.0 / np.where(depth > 0, depth, 1.0), 0.0)
    im_i = show_depth(b, inv, "inverse depth", inverse=True)
    near_d, near_i = im_d.to_rgba(im_d.get_array())[0, 0], im_i.to_rgba(im_i.get_array())[0, 0]
    far_d = im_d.to_rgba(im_d.get_array())[0, 1]
    np.testing.assert_allclose(near_d, near_i, atol=1e-6)
    assert sum(near_d[:3]) > sum(far_d[:3]), "near should be brighter than far"
    hole = im_d.to_rgba(im_d.get_array())[1, 1]
    np.testing.assert_allclose(hole, mcolors.to_rgba(INVALID_COLOR), atol=1e-6)
    plt.close(fig)


def test_distinct_line_styles_keep_coincident_curves_visible() -> None:
    """Two curves drawn exactly on top of each other: both colours still reach the image."""
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from mvdlib.viz import distinct_line_styles

    colors = {"under": "#1f77b4", "over": "#d62728"}
    styles = distinct_line_styles(["under", "over"], colors)
    assert styles["under"]["zorder"] < styles["over"]["zorder"]
    fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
    x = np.linspace(0, 1, 50)
    for name in ("under", "over"):
        ax.plot(x, x, **styles[name])
    ax.set_axis_off()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255
    plt.close(fig)

    def seen(color: str, alpha: float) -> bool:  # some pixel close to the colour blended on white
        target = alpha * np.array(mcolors.to_rgb(color)) + (1 - alpha)
        return bool((np.abs(rgb - target).max(-1) < 0.08).any())

    assert seen(colors["over"], styles["over"]["alpha"]) and seen(colors["under"], styles["under"]["alpha"])
    five = distinct_line_styles("abcde")
    assert len({(s["lw"], str(s["ls"])) for s in five.values()}) == 5
    for names, kwargs in ((["a"] * 2, {}), (list("abcdef"), {}), ([], {}), (["a", "b"], {"colors": {"a": "k"}})):
        with pytest.raises(ValueError, match="names|colors"):
            distinct_line_styles(names, **kwargs)


def test_show_depth_row_shares_the_first_maps_range_and_one_colour_bar() -> None:
    import matplotlib.pyplot as plt

    from mvdlib.viz import show_depth_row

    truth = np.array([[1.0, 3.0], [2.0, 0.0]])  # 0: no depth, left out of the range
    pred = np.array([[0.5, 6.0], [2.0, 2.0]])
    fig, axes = plt.subplots(1, 2, constrained_layout=True)
    cbar = show_depth_row(axes, [truth, pred], ["truth", "prediction"])
    assert [ax.images[0].get_clim() for ax in axes] == [(1.0, 3.0), (1.0, 3.0)]
    assert len(fig.axes) == 3 and cbar.ax.get_ylabel() == "depth (m)"
    assert (
        show_depth_row(axes[:1], [truth], ["t"], inverse=True, vmin=0.0, vmax=9.0).ax.get_ylabel().startswith("inverse")
    )
    with pytest.raises(ValueError, match="one length"):
        show_depth_row(axes, [truth, pred], ["only one title"])
    with pytest.raises(ValueError, match="valid values"):
        show_depth_row(axes[:1], [np.zeros((2, 2))], ["empty"])
    plt.close(fig)


def test_show_error_is_the_absolute_difference_with_invalid_pixels_masked() -> None:
    import matplotlib.pyplot as plt

    from mvdlib.viz import show_error

    truth = np.array([[1.0, 2.0], [4.0, 0.0]])
    pred = np.array([[1.5, 1.0], [4.0, 3.0]])
    fig, ax = plt.subplots()
    im = show_error(ax, pred, truth, "error", vmax=2.0)
    shown = im.get_array()
    np.testing.assert_allclose(shown[:1].filled(np.nan), [[0.5, 1.0]])
    assert shown[1, 0] == 0 and np.ma.is_masked(shown[1, 1])
    assert im.get_clim() == (0, 2.0)
    with pytest.raises(ValueError, match="one shape"):
        show_error(ax, pred, truth[:1], "error")
    plt.close(fig)
