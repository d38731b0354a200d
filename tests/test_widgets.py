"""Tests of mvdlib.widgets: the ipywidgets explorers build and redraw when a control moves,
and the cost-slice explorer's data and its kernel-free plotly twin are what chapter 9 says."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from mvdlib import cost_volume as cv
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.geometry import relative_pose
from mvdlib.models.mvdepthnet import normalize_image
from mvdlib.pointcloud import DepthView
from mvdlib.widgets import (
    activation_explorer,
    cost_explorer_data,
    cost_slice_explorer,
    cost_slice_figure,
    fusion_explorer,
    loss_explorer,
    mvdepthnet_scales_explorer,
    warp_explorer,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return SyntheticMultiViewDataset("test", 1, 1, num_sources=2, height=32, width=40, cache_dir=cache)[0]


@pytest.fixture
def shown(monkeypatch):
    """The axes titles of every figure an explorer shows (``plt.show`` recorded, then closed)."""
    import matplotlib.pyplot as plt

    figures: list[list[str]] = []

    def record(*_args, **_kwargs) -> None:
        fig = plt.gcf()
        figures.append([ax.get_title() for ax in fig.axes])
        plt.close(fig)

    monkeypatch.setattr(plt, "show", record)
    return figures


def _controls(box):
    """The value-carrying controls of an explorer (rows of HBoxes above the output)."""
    return [c for row in box.children[:-1] for c in row.children]


def _redraws(shown, control, value, expect_in_title: str | None = None) -> None:
    """Setting ``control`` to ``value`` draws one new figure (whose titles mention ``expect_in_title``)."""
    before = len(shown)
    control.value = value
    assert len(shown) == before + 1
    if expect_in_title is not None:
        assert any(expect_in_title in title for title in shown[-1]), shown[-1]


def test_cost_explorer_data_is_the_normalised_plane_sweep(sample):
    inv = cv.inverse_depth_samples(8)
    data = cost_explorer_data(sample, view=1, inv_depths=inv)
    T = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][1])
    expected = cv.plane_sweep_cost_volume(
        normalize_image(sample["ref_image"][None]), normalize_image(sample["src_images"][1:2]), sample["K"], T, inv
    )[0]
    np.testing.assert_allclose(data["cost"], expected.numpy(), rtol=1e-6, atol=1e-5)
    depth = sample["ref_depth"][0].numpy()
    valid = depth > 0
    np.testing.assert_allclose(data["true_inv_depth"][valid], 1 / depth[valid], rtol=1e-6)
    assert np.isnan(data["true_inv_depth"][~valid]).all()
    assert data["ref_rgb"].dtype == np.uint8 and data["ref_rgb"].shape == (32, 40, 3)
    with pytest.raises(ValueError, match="view must be in"):
        cost_explorer_data(sample, view=2)


def test_cost_slice_explorer_and_its_plotly_twin(sample, shown):
    data = cost_explorer_data(sample, inv_depths=cv.inverse_depth_samples(8))
    box = cost_slice_explorer(data)
    assert len(shown) == 1  # drawn once on creation
    plane, u, v = _controls(box)
    assert (plane.max, u.max, v.max) == (7, 39, 31)
    _redraws(shown, plane, 2, "plane 2")
    _redraws(shown, u, 5, "(u, v) = (5, ")
    fig = cost_slice_figure(data, pixels=[(5, 5), (20, 10)], plane_step=2, pixel_step=2)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "2", "4", "6"] and len(fig.frames) == 4
    curves = {t.name: t for t in fig.data if t.type == "scatter" and t.mode == "lines" and len(t.x) == 8}
    assert set(curves) == {"(5, 5)", "(20, 10)"}  # one full cost curve per chosen pixel
    np.testing.assert_allclose(curves["(20, 10)"].y, data["cost"][:, 10, 20], atol=1e-3)
    # each slider step shows that plane's cost slice (trace 0: the heat map, every 2nd pixel)
    np.testing.assert_allclose(np.asarray(fig.frames[2].data[0].z), data["cost"][4, ::2, ::2], atol=0.006)  # 2 decimals


def test_matplotlib_explorers_redraw_on_every_control(sample, shown):
    warp = warp_explorer(sample)
    _redraws(shown, _controls(warp)[0], 1.1, "depth x 1.10")
    losses = loss_explorer()
    for control, value in zip(_controls(losses), (2.0, 0.5, 0.2, 0.3), strict=True):
        _redraws(shown, control, value)
    assert any("lambda = 0.2" in title for title in shown[-1])
    activations = activation_explorer()
    name, sigma = _controls(activations)
    _redraws(shown, name, "relu", "relu")
    _redraws(shown, sigma, 2.0, "sigma = 2.00")
    disps = [torch.rand(1, 1, 32 // 2**k, 40 // 2**k) for k in range(4)]
    scales = mvdepthnet_scales_explorer(disps)
    _redraws(shown, _controls(scales)[0], 3, "disp3: 10 x 8 pixels")


def test_fusion_explorer_redraws(sample, shown):
    K, depth = sample["K"].numpy(), sample["ref_depth"][0].numpy()
    views = [DepthView(depth, K, sample["T_world_ref"].numpy())] * 3  # three views that agree everywhere
    gt = np.random.default_rng(0).uniform(0, 5, (500, 3))
    box = fusion_explorer(views, gt)
    min_views, rel_tol = _controls(box)
    _redraws(shown, min_views, 1, "min_views=1")
    _redraws(shown, rel_tol, 0.05, "tau=5.0%")
