"""Tests of mvdlib.explorers: one definition, two renderers that show the same traces.

For every explorer of the book, each step of the HTML twin's sliders (a plotly frame) shows
exactly the traces that the live FigureWidget shows once its control is moved to the
same value; and the pattern's checks (parameters, structure, overlapping sliders) hold.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from mvdlib import cost_volume as cv
from mvdlib.conventions import normalize_image
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.explorers import Explorer, Param, View
from mvdlib.explorers.activations import activation_explorer
from mvdlib.explorers.cost_slices import cost_explorer_data, cost_slice_explorer
from mvdlib.explorers.fusion import fusion_explorer
from mvdlib.explorers.losses import loss_explorer
from mvdlib.explorers.scales import mvdepthnet_scales_explorer
from mvdlib.explorers.warp import warp_explorer
from mvdlib.geometry import relative_pose
from mvdlib.pointcloud import DepthView
from mvdlib.viz import plotly_bundle


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return SyntheticMultiViewDataset("test", 1, 1, num_sources=2, height=32, width=40, cache_dir=cache)[0]


def _json(traces) -> list:
    """The traces as JSON, without the ``uid`` a FigureWidget gives each trace."""
    return [{k: v for k, v in json.loads(pio.to_json(t, validate=False)).items() if k != "uid"} for t in traces]


def _merged(part: dict, whole: dict) -> bool:
    """Whether every value set in ``part`` is set the same in ``whole`` (nested dicts)."""
    return all(_merged(v, whole.get(k, {})) if isinstance(v, dict) else whole.get(k) == v for k, v in part.items())


def static_traces(fig: go.Figure, name: str, label: str) -> list:
    """The traces the HTML twin shows after its ``name`` slider moved to ``label`` (the frame applied)."""
    [frame] = [f for f in fig.frames if f.name == f"{name}={label}"]
    data = list(fig.data)
    for i, trace in zip(frame.traces, frame.data, strict=True):
        data[i] = trace
    return data


def assert_renderers_agree(explorer: Explorer) -> None:
    """Every step of every HTML slider shows what the live figure shows at the same value."""
    fig = explorer.static()
    box = explorer.live()
    assert _json(fig.data) == _json(box.figure.data)  # the same start
    swept = [p for p in explorer.params if len(p.static_values) > 1]
    assert len(fig.layout.sliders) == len(swept)
    for p, slider in zip(swept, fig.layout.sliders, strict=True):
        assert [s.label for s in slider.steps] == [str(v) if not isinstance(v, float) else f"{v:g}"
                                                   for v in p.static_values]  # fmt: skip
        for step, value in zip(slider.steps, p.static_values, strict=True):
            box.controls[p.name].value = value
            assert _json(static_traces(fig, p.name, step.label)) == _json(box.figure.data), (p.name, value)
            frame = next(f for f in fig.frames if f.name == f"{p.name}={step.label}")
            # plotly.js merges a frame's layout into the figure's: what the frame sets, the live figure shows
            assert _merged(frame.layout.to_plotly_json(), box.figure.layout.to_plotly_json()), (p.name, value)
        box.controls[p.name].value = p.default  # back, so the next slider starts from the defaults


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
    with pytest.raises(ValueError, match="view must be an integer in"):
        cost_explorer_data(sample, view=2)


def test_cost_slice_explorer_shows_the_volume(sample):
    data = cost_explorer_data(sample, inv_depths=cv.inverse_depth_samples(8))
    explorer = cost_slice_explorer(data, pixels=[(5, 5), (20, 10)], plane_step=2, pixel_step=2)
    fig = explorer.static()
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0", "2", "4", "6"] and len(fig.frames) == 4
    curves = {t.name: t for t in fig.data if t.type == "scatter" and len(t.x) == 8}
    assert set(curves) == {"(5, 5)", "(20, 10)", "probe (13, 16)"}  # the chosen pixels and the probe
    np.testing.assert_allclose(curves["(20, 10)"].y, data["cost"][:, 10, 20], atol=1e-3)
    # each slider step shows that plane's cost slice (trace 0: the heat map, every 2nd pixel)
    frame = next(f for f in fig.frames if f.name == "plane=4")
    np.testing.assert_allclose(np.asarray(frame.data[0].z), data["cost"][4, ::2, ::2], atol=0.006)  # 2 decimals
    live = explorer.live()
    live.controls["u"].value, live.controls["v"].value = 3, 7  # live, any pixel
    probe = next(t for t in live.figure.data if t.name == "probe (3, 7)")
    np.testing.assert_allclose(probe.y, data["cost"][:, 7, 3], atol=1e-3)
    with pytest.raises(ValueError, match="pixels must lie inside"):
        cost_slice_explorer(data, pixels=[(40, 0)])


def test_every_explorer_of_the_book_shows_the_same_in_both_renderers(sample):
    data = cost_explorer_data(sample, inv_depths=cv.inverse_depth_samples(8))
    assert_renderers_agree(cost_slice_explorer(data, pixels=[(5, 5)], plane_step=2, pixel_step=2))
    assert_renderers_agree(loss_explorer())
    assert_renderers_agree(activation_explorer(names=("sigmoid", "relu")))
    assert_renderers_agree(warp_explorer(sample, step=2))
    disps = [torch.rand(2, 1, 32 // 2**k, 40 // 2**k) for k in range(4)]
    assert_renderers_agree(mvdepthnet_scales_explorer(disps, index=1))


def test_fusion_explorer_both_renderers(sample):
    K, depth = sample["K"].numpy(), sample["ref_depth"][0].numpy()
    views = [DepthView(depth, K, sample["T_world_ref"].numpy())] * 3  # three views that agree everywhere
    gt = np.random.default_rng(0).uniform(0, 5, (500, 3))
    explorer = fusion_explorer(views, gt, static_min_views=(0, 2, 5))  # 5 > the views there are: dropped
    assert explorer.params[0].static_values == (0, 2)
    assert_renderers_agree(explorer)
    live = explorer.live()
    live.controls["rel_tol"].value = 0.05  # the tolerance moves live only
    assert "tau=5.0%" in live.figure.layout.title.text


def _toy(shared: bool) -> Explorer:
    """Two parameters; with ``shared`` both move the same trace."""

    def draw(a: int, b: int) -> View:
        first = go.Scatter(x=[0, 1], y=[a, a + b if shared else a])
        return View([first, go.Scatter(x=[0, 1], y=[b, b])], {"title": {"text": f"b = {b}"}})

    return Explorer([Param("a", [1, 2, 3], 2), Param("b", [0, 5], 0)], draw, {"height": 300})


def test_static_twin_holds_only_what_each_slider_changes():
    fig = _toy(shared=False).static()
    assert [f.name for f in fig.frames] == ["a=1", "a=2", "a=3", "b=0", "b=5"]
    a3, b5 = fig.frames[2], fig.frames[4]
    assert list(a3.traces) == [0] and list(a3.data[0].y) == [3, 3] and a3.layout.title.text is None
    assert list(b5.traces) == [1] and b5.layout.title.text == "b = 5"
    assert [s.active for s in fig.layout.sliders] == [1, 0]  # the defaults
    assert fig.layout.height > 300  # grown by the sliders' room
    with pytest.raises(ValueError, match="'a' and 'b' both change trace 0"):
        _toy(shared=True).static()


def test_explorer_checks_its_parameters():
    with pytest.raises(ValueError, match="default must be one of"):
        Param("a", [1, 2], 3)
    with pytest.raises(ValueError, match="static_values must be a subset"):
        Param("a", [1, 2, 3], 2, static_values=(1, 4))
    with pytest.raises(ValueError, match="static_values must be a subset"):
        Param("a", [1, 2, 3], 2, static_values=(1, 3))  # without the default
    with pytest.raises(ValueError, match="non-empty"):
        Param("a", [], None)
    with pytest.raises(ValueError, match="distinct names"):
        Explorer([Param("a", [1], 1), Param("a", [2], 2)], lambda a: View([]), {})
    toy = _toy(shared=False)
    with pytest.raises(ValueError, match="unknown parameters"):
        toy.view(c=1)
    with pytest.raises(ValueError, match="a must be one of"):
        toy.view(a=7)

    def changes_type(a: int) -> View:
        return View([go.Scatter(y=[a])] if a == 1 else [go.Bar(y=[a])])

    with pytest.raises(ValueError, match="same traces"):
        Explorer([Param("a", [1, 2], 1)], changes_type, {}).static()


def test_show_displays_the_live_widget_and_its_kernel_free_twin(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    explorer = _toy(shared=False)
    explorer.show()
    [(bundle, raw)] = shown
    assert raw
    assert set(bundle) == {"text/plain", "application/vnd.jupyter.widget-view+json",
                           "application/vnd.plotly.v1+json", "text/html"}  # fmt: skip
    html = bundle["text/html"]
    assert "Plotly.addFrames" in html and "Plotly.animate" not in html  # frames, not played on load
    assert "<script src" not in html  # plotly.js comes from the book, not a CDN
    assert bundle["application/vnd.plotly.v1+json"]["frames"][0]["name"] == "a=1"
    assert plotly_bundle(explorer.static())["text/html"].count("Plotly.newPlot") == 1


# ---- the loss explorer and its helpers (mvdlib.explorers.losses, chapter 5) ----------------------


@pytest.mark.parametrize("name", ["L1", "L2", "Huber", "BerHu"])
def test_fit_line_reaches_the_minimum_found_by_a_grid_search(name):
    from mvdlib.explorers.losses import fit_line, line_with_outliers, loss_penalty

    x, y, _ = line_with_outliers(n=40, outlier_fraction=0.2, seed=1)
    a, b = fit_line(x, y, name, delta=1.0, c=1.0)
    grid_a, grid_b = torch.meshgrid(
        torch.linspace(a - 0.05, a + 0.05, 51, dtype=torch.float64),
        torch.linspace(b - 0.3, b + 0.3, 51, dtype=torch.float64),
        indexing="ij",
    )
    residuals = grid_a[..., None] * x + grid_b[..., None] - y  # 51 x 51 x n
    values = loss_penalty(name, residuals, 1.0, 1.0).mean(-1)
    best = values.argmin()
    assert grid_a.flatten()[best].item() == pytest.approx(a, abs=2e-3)
    assert grid_b.flatten()[best].item() == pytest.approx(b, abs=1.2e-2)


def test_fit_line_l2_equals_numpy_polyfit_and_robust_losses_resist_outliers():
    from mvdlib.explorers.losses import fit_line, line_with_outliers

    x, y, outlier = line_with_outliers(n=60, outlier_fraction=0.2, seed=0)
    assert outlier.sum().item() == 12
    a, b = fit_line(x, y, "L2")
    np.testing.assert_allclose([a, b], np.polyfit(x.numpy(), y.numpy(), 1), rtol=1e-9)
    for name in ("L1", "Huber"):
        assert abs(fit_line(x, y, name)[1] - 1.0) < abs(b - 1.0) / 3


def test_loss_curves_gradients_match_finite_differences():
    from mvdlib.explorers.losses import loss_curves

    e = np.linspace(-3, 3, 601)
    for name, (value, grad) in loss_curves(e, delta=0.7, c=1.3).items():
        numeric = np.gradient(value, e)
        inner = slice(2, -2)
        np.testing.assert_allclose(grad[inner], numeric[inner], atol=2e-2, err_msg=name)


def test_loss_explorer_twin_has_four_sliders_and_is_small():
    from mvdlib.explorers.losses import loss_explorer

    fig = loss_explorer().static()
    assert [len(s.steps) for s in fig.layout.sliders] == [6, 6, 5, 5]
    assert len(fig.to_json()) < 2_000_000
    huber = {f.name: f for f in fig.frames}["delta=2"]  # delta moves the Huber penalty and gradient only
    assert [fig.data[i].name for i in huber.traces] == ["Huber (delta 1)", "Huber (delta 1)"]


def test_loss_explorer_inputs_are_checked():
    from mvdlib.explorers.losses import line_with_outliers, loss_penalty

    with pytest.raises(ValueError, match="name"):
        loss_penalty("L3", torch.zeros(3))
    with pytest.raises(ValueError, match="outlier_fraction"):
        line_with_outliers(outlier_fraction=1.0)


# ---- the activation explorer (mvdlib.explorers.activations, chapter 7) ---------------------


def test_activation_explorer_draws_the_activation_and_the_density():
    from mvdlib.explorers.activations import EXPLORER_ACTIVATIONS, EXPLORER_SIGMAS, activation_explorer

    explorer = activation_explorer()
    f, df, density = explorer.view(activation="relu", sigma=2.0).traces
    assert f.y == pytest.approx([max(0.0, z) for z in f.x])
    assert df.y == pytest.approx([float(z > 0) for z in df.x])
    z = torch.as_tensor(density.x)
    assert density.y == pytest.approx(torch.exp(-0.5 * (z / 2.0) ** 2).tolist(), abs=1e-5)
    fig = explorer.static()
    names, sigmas = fig.layout.sliders
    assert [s.label for s in names.steps] == list(EXPLORER_ACTIVATIONS)
    assert [float(s.label) for s in sigmas.steps] == list(EXPLORER_SIGMAS)
    for frame in fig.frames:
        if frame.name.startswith("sigma="):
            assert list(frame.traces) == [2]  # sigma moves the density only
            assert "relu 0.500" in frame.layout.title.text  # E[ReLU'(z)] = 1/2 for every sigma


def test_activation_explorer_rejects_bad_arguments():
    from mvdlib.explorers.activations import activation_explorer

    with pytest.raises(ValueError, match="name"):
        activation_explorer(names=("softplus",))
    with pytest.raises(ValueError, match="non-empty"):
        activation_explorer(names=())
    with pytest.raises(ValueError, match="sigma must be one of"):
        activation_explorer().view(sigma=3.0)


# ---- the warp explorer (mvdlib.explorers.warp) ------------------------------------------------


def test_warp_explorer_figure_is_darkest_at_the_true_depth() -> None:
    from mvdlib.explorers.warp import WARP_EXPLORER_SCALES, warp_error_map, warp_explorer

    h, w = 64, 80
    sample = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=h, width=w, cache=False)[0]
    medians = [np.nanmedian(warp_error_map(sample, 0, s)) for s in WARP_EXPLORER_SCALES]
    assert int(np.argmin(medians)) == WARP_EXPLORER_SCALES.index(1.0)
    fig = warp_explorer(sample, step=2).static()
    assert len(fig.frames) == len(WARP_EXPLORER_SCALES)
    assert np.asarray(fig.frames[0].data[0].z).shape == (h // 2, w // 2)
    with pytest.raises(ValueError, match="step"):
        warp_explorer(sample, step=0)
