"""Tests of mvdlib.losses against independent NumPy/PyTorch computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mvdlib import losses as L


def _random_pair(seed: int, b: int = 2, h: int = 6, w: int = 7, invalid: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) * 4 + 0.5
    target = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) * 4 + 0.5
    target[torch.rand(b, 1, h, w, generator=g) < invalid] = 0.0
    return pred, target


# ---- scale-invariant loss ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    mask_frac=st.floats(0.0, 0.9),
)
def test_scale_invariant_pairwise_equals_closed_form_at_lambda_one(b, h, w, seed, mask_frac):
    pred, target = _random_pair(seed, b, h, w, invalid=0.1)
    g = torch.Generator().manual_seed(seed + 1)
    mask = torch.rand(b, 1, h, w, generator=g) >= mask_frac
    closed = L.scale_invariant_loss(pred, target, mask=mask, lam=1.0)
    pairwise = L.scale_invariant_loss_pairwise(pred, target, mask=mask)
    torch.testing.assert_close(closed, pairwise, rtol=1e-9, atol=1e-12)


def test_scale_invariant_matches_numpy_reference_per_image():
    pred, target = _random_pair(3, b=3)
    mask = torch.ones_like(target, dtype=torch.bool)
    mask[1, 0, :2] = False
    lam = 0.5
    per_image = []
    for i in range(3):
        keep = (target[i, 0] > 0).numpy() & mask[i, 0].numpy()
        d = np.log(pred[i, 0].numpy()[keep]) - np.log(target[i, 0].numpy()[keep])
        n = d.size
        per_image.append(np.sum(d**2) / n - lam * np.sum(d) ** 2 / n**2)
    expected = np.mean(per_image)
    got = L.scale_invariant_loss(pred, target, mask=mask, lam=lam)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_scale_invariant_lambda_one_ignores_global_scale_lambda_zero_does_not():
    pred, target = _random_pair(4)
    base = L.scale_invariant_loss(pred, target, lam=1.0)
    assert L.scale_invariant_loss(pred * 7.3, target, lam=1.0).item() == pytest.approx(base.item(), rel=1e-10)
    assert (
        L.scale_invariant_loss(pred * 7.3, target, lam=0.0).item()
        > 2 * L.scale_invariant_loss(pred, target, lam=0.0).item()
    )


def test_scale_invariant_per_image_scale_is_removed_per_image():
    _, target = _random_pair(5, b=2, invalid=0.0)
    pred = target.clone()
    pred[0] *= 2.0
    pred[1] *= 0.25  # a different scale in each image: still zero error at lambda = 1
    assert L.scale_invariant_loss(pred, target, lam=1.0).item() == pytest.approx(0.0, abs=1e-12)


def test_scale_invariant_rejects_non_positive_prediction_at_valid_pixels():
    pred, target = _random_pair(6, invalid=0.0)
    pred[0, 0, 1, 1] = 0.0
    with pytest.raises(ValueError, match="pred must be positive"):
        L.scale_invariant_loss(pred, target)
    with pytest.raises(ValueError, match="pred must be positive"):
        L.scale_invariant_loss_pairwise(pred, target)
    target[0, 0, 1, 1] = 0.0  # the pixel becomes invalid: the bad prediction is ignored
    assert torch.isfinite(L.scale_invariant_loss(pred, target))


def test_scale_invariant_ignores_invalid_pixels_and_their_gradient_is_zero():
    pred, target = _random_pair(7)
    target[0, 0, 0, 0] = float("nan")
    pred.requires_grad_(True)
    loss = L.scale_invariant_loss(pred, target)
    loss.backward()
    invalid = ~(torch.isfinite(target) & (target > 0))
    assert torch.isfinite(loss)
    assert torch.all(pred.grad[invalid] == 0)
    assert torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_scale_invariant_rejects_lambda_out_of_range(lam):
    pred, target = _random_pair(8)
    with pytest.raises(ValueError, match="lam"):
        L.scale_invariant_loss(pred, target, lam=lam)


# ---- L1, L2, Huber, BerHu ----------------------------------------------------------------


@pytest.mark.parametrize("delta", [0.1, 0.5, 1.0, 3.0])
def test_huber_equals_torch_huber_loss(delta):
    pred, target = _random_pair(9, invalid=0.3)
    valid = target > 0
    expected = F.huber_loss(pred[valid], target[valid], delta=delta)
    torch.testing.assert_close(L.huber_loss(pred, target, delta=delta), expected)
    # and on an all-valid batch, against the plain call on the full tensors
    full = target.clamp(min=0.5)
    torch.testing.assert_close(L.huber_loss(pred, full, delta=delta), F.huber_loss(pred, full, delta=delta))


def test_l1_l2_equal_torch_on_valid_pixels():
    pred, target = _random_pair(10, invalid=0.3)
    valid = target > 0
    torch.testing.assert_close(L.l1_loss(pred, target), F.l1_loss(pred[valid], target[valid]))
    torch.testing.assert_close(L.l2_loss(pred, target), F.mse_loss(pred[valid], target[valid]))


def test_berhu_piecewise_values():
    c = 0.5
    e = torch.tensor([-2.0, -0.5, -0.1, 0.0, 0.3, 0.5, 1.0], dtype=torch.float64)
    expected = torch.tensor([(4 + 0.25) / 1.0, 0.5, 0.1, 0.0, 0.3, 0.5, (1 + 0.25) / 1.0], dtype=torch.float64)
    torch.testing.assert_close(L.berhu_penalty(e, c), expected)


@pytest.mark.parametrize("c", [0.2, 1.0, 3.0])
def test_berhu_continuous_and_differentiable_at_c(c):
    eps = 1e-7
    e = torch.tensor([c - eps, c + eps], dtype=torch.float64, requires_grad=True)
    values = L.berhu_penalty(e, c)
    values.sum().backward()
    assert values[0].item() == pytest.approx(values[1].item(), abs=1e-6)
    assert values[1].item() == pytest.approx(c, abs=1e-6)
    assert e.grad[0].item() == pytest.approx(1.0)  # d|e|/de below c
    assert e.grad[1].item() == pytest.approx(1.0, abs=1e-6)  # e / c just above c


def test_berhu_default_threshold_is_a_fifth_of_the_largest_error_and_detached():
    pred, target = _random_pair(11, invalid=0.3)
    valid = target > 0
    e = (pred - target)[valid]
    c = 0.2 * e.abs().max()
    a = e.abs()
    expected = torch.where(a <= c, a, (e**2 + c**2) / (2 * c)).mean()
    pred.requires_grad_(True)
    loss = L.berhu_loss(pred, target)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    loss.backward()
    # gradient with c held constant: sign(e) below c, e / c above, divided by n
    ev = (pred.detach() - target)[valid]
    grad_expected = torch.where(ev.abs() <= c, torch.sign(ev), ev / c) / ev.numel()
    torch.testing.assert_close(pred.grad[valid], grad_expected)


def test_berhu_on_perfect_prediction_is_zero_without_nan_gradient():
    _, target = _random_pair(12)
    pred = target.clone().clamp(min=0.1).requires_grad_(True)
    loss = L.berhu_loss(pred, target)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(pred.grad).all()


def test_no_valid_pixel_gives_zero_loss_that_backpropagates():
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    target = torch.zeros(1, 1, 4, 4)
    for fn in (L.l1_loss, L.huber_loss, L.berhu_loss, L.scale_invariant_loss):
        loss = fn(pred, target)
        loss.backward()
        assert loss.item() == 0.0
        assert torch.all(pred.grad == 0)


def test_mask_removes_pixels_and_cannot_add_invalid_ones():
    pred, target = _random_pair(13, invalid=0.2)
    mask = torch.rand(target.shape, generator=torch.Generator().manual_seed(1)) > 0.5
    keep = mask & (target > 0)
    torch.testing.assert_close(L.l1_loss(pred, target, mask=mask), F.l1_loss(pred[keep], target[keep]))
    torch.testing.assert_close(L.l1_loss(pred, target, mask=mask.double()), F.l1_loss(pred[keep], target[keep]))
    everything = torch.ones_like(mask)
    torch.testing.assert_close(L.l1_loss(pred, target, mask=everything), L.l1_loss(pred, target))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p, t: L.l1_loss(p[:, :, :-1], t), "same shape"),
        (lambda p, t: L.huber_loss(p, t, delta=0.0), "delta"),
        (lambda p, t: L.huber_loss(p, -t), "non-negative"),
        (lambda p, t: L.berhu_loss(p, t, c=-1.0), "c must be"),
        (lambda p, t: L.l1_loss(p, t, mask=torch.ones(3, 3)), "mask must have shape"),
        (lambda p, t: L.l1_loss(p, t, mask=torch.full_like(t, 0.5)), "only 0 and 1"),
        (lambda p, t: L.l1_loss(torch.cat([p, p], dim=1), torch.cat([t, t], dim=1)), "Bx1xHxW"),
        (lambda p, t: L.l1_loss(p.masked_fill(t > 0, float("nan")), t), "finite"),
    ],
)
def test_bad_inputs_raise_value_error(call, match):
    pred, target = _random_pair(14)
    with pytest.raises(ValueError, match=match):
        call(pred, target)


# ---- multi-scale inverse-depth L1 (MVDepthNet) -------------------------------------------


def _pyramid_target(seed: int):
    """A full-resolution inverse depth that is constant on 8x8 blocks, and its exact pyramid."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(2, 1, 2, 3, generator=g, dtype=torch.float64) + 0.1
    full = torch.kron(coarse, torch.ones(8, 8, dtype=torch.float64))  # 2 x 1 x 16 x 24
    preds = [torch.kron(coarse, torch.ones(8 // 2**s, 8 // 2**s, dtype=torch.float64)) for s in range(4)]
    return full, preds


def test_multiscale_loss_is_zero_on_a_perfect_prediction():
    full, preds = _pyramid_target(0)
    assert L.multiscale_inverse_depth_l1(preds, full).item() == 0.0
    assert L.multiscale_inverse_depth_l1(preds, full, mode="masked_mean").item() == pytest.approx(0.0, abs=1e-15)


def test_multiscale_loss_matches_reference_with_nearest_centre_sampling():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(2, 1, 16, 24, generator=g, dtype=torch.float64) + 0.1
    target[0, 0, 3, 5] = 0.0
    target[1, 0, 9, 2] = float("inf")
    preds = [torch.rand(2, 1, 16 // 2**s, 24 // 2**s, generator=g, dtype=torch.float64) for s in range(4)]
    expected = 0.0
    for s, p in enumerate(preds):
        f = 2**s
        t_s = target[:, :, f // 2 :: f, f // 2 :: f] if f > 1 else target  # the pixel nearest the centre
        keep = torch.isfinite(t_s) & (t_s > 0)
        expected += (p[keep] - t_s[keep]).abs().mean().item()
    got = L.multiscale_inverse_depth_l1(preds, target)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_masked_mean_downsampling_averages_only_valid_pixels():
    target = torch.tensor([[[[1.0, 3.0], [0.0, float("nan")]]]], dtype=torch.float64)
    valid = torch.isfinite(target) & (target > 0)
    out = L.downsample_target(target, valid, (1, 1), mode="masked_mean")
    assert out.item() == pytest.approx(2.0)
    none_valid = L.downsample_target(target, torch.zeros_like(valid), (1, 1), mode="masked_mean")
    assert none_valid.item() == 0.0


def test_multiscale_mask_excludes_pixels_at_every_scale():
    full, preds = _pyramid_target(2)
    mask = torch.ones_like(full, dtype=torch.bool)
    mask[:, :, :8, :8] = False  # the first 8x8 block of each image
    corrupted = [p.clone() for p in preds]
    for s, p in enumerate(corrupted):
        k = 8 // 2**s
        p[:, :, :k, :k] += 5.0  # wrong only where masked out
    assert L.multiscale_inverse_depth_l1(corrupted, full, mask=mask).item() == 0.0
    assert L.multiscale_inverse_depth_l1(corrupted, full).item() > 1.0


def test_multiscale_gradient_reaches_every_scale():
    full, preds = _pyramid_target(3)
    noisy = [(p + 0.1).requires_grad_(True) for p in preds]
    L.multiscale_inverse_depth_l1(noisy, full).backward()
    for s, p in enumerate(noisy):
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient at scale {s}"
        # d/dp of mean |p - t| is sign / n_s: every pixel gets 1/n_s
        torch.testing.assert_close(p.grad, torch.full_like(p, 1.0 / p.numel()))


@pytest.mark.parametrize(
    "preds, match",
    [
        ([], "non-empty"),
        (torch.rand(2, 1, 16, 24), "non-empty list"),
        ([torch.rand(3, 1, 16, 24)], "batch size"),
        ([torch.rand(2, 1, 32, 24)], "not be larger"),
        ([torch.rand(2, 2, 16, 24)], "Bx1xHxW"),
    ],
)
def test_multiscale_bad_inputs(preds, match):
    with pytest.raises(ValueError, match=match):
        L.multiscale_inverse_depth_l1(preds, torch.rand(2, 1, 16, 24) + 0.1)


def test_multiscale_bad_mode():
    full, preds = _pyramid_target(4)
    with pytest.raises(ValueError, match="mode"):
        L.multiscale_inverse_depth_l1(preds, full, mode="bilinear")


# ---- smoothness --------------------------------------------------------------------------


def test_edge_aware_smoothness_matches_loop_reference():
    g = torch.Generator().manual_seed(5)
    disp = torch.rand(2, 1, 5, 6, generator=g, dtype=torch.float64)
    image = torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64)
    d, im = disp.numpy(), image.numpy()
    sx, sy = [], []
    for b in range(2):
        for v in range(5):
            for u in range(6):
                if u + 1 < 6:
                    wx = np.exp(-np.mean(np.abs(im[b, :, v, u + 1] - im[b, :, v, u])))
                    sx.append(abs(d[b, 0, v, u + 1] - d[b, 0, v, u]) * wx)
                if v + 1 < 5:
                    wy = np.exp(-np.mean(np.abs(im[b, :, v + 1, u] - im[b, :, v, u])))
                    sy.append(abs(d[b, 0, v + 1, u] - d[b, 0, v, u]) * wy)
    expected = np.mean(sx) + np.mean(sy)
    assert L.edge_aware_smoothness(disp, image, alpha=1.0).item() == pytest.approx(expected, rel=1e-12)
    # alpha scales the image gradient inside the exponential: same as a 3x brighter-contrast image
    assert L.edge_aware_smoothness(disp, image / 3, alpha=3.0).item() == pytest.approx(expected, rel=1e-12)


def test_edge_aware_smoothness_default_is_geonets_weight_on_minus_one_to_one_images():
    """GeoNet computes exp(-|grad I|) on image * 2 - 1 (its preprocessing); ours takes [0, 1] images."""
    g = torch.Generator().manual_seed(6)
    disp = torch.rand(1, 1, 7, 9, generator=g, dtype=torch.float64)
    image = torch.rand(1, 3, 7, 9, generator=g, dtype=torch.float64)
    geonet_image = image * 2 - 1
    terms = []
    for dim in (3, 2):
        weight = torch.exp(-geonet_image.diff(dim=dim).abs().mean(1, keepdim=True))
        terms.append((disp.diff(dim=dim).abs() * weight).mean())
    assert L.edge_aware_smoothness(disp, image).item() == pytest.approx(sum(terms).item(), rel=1e-12)
    assert L.GEONET_ALPHA == 2.0


def test_edge_aware_smoothness_forgives_depth_steps_at_image_edges():
    disp = torch.zeros(1, 1, 8, 8)
    disp[..., 4:] = 1.0  # a depth step between columns 3 and 4
    flat = torch.full((1, 3, 8, 8), 0.5)
    edged = flat.clone()
    edged[..., 4:] = 1.0  # an image edge at the same place
    assert L.edge_aware_smoothness(disp, edged) < L.edge_aware_smoothness(disp, flat)
    assert L.edge_aware_smoothness(torch.ones(1, 1, 8, 8), flat).item() == 0.0


def test_second_order_smoothness_zero_on_planes_and_matches_numpy():
    v, u = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    plane = (0.3 * u - 0.2 * v + 1.0)[None, None]
    assert L.second_order_smoothness(plane).item() == pytest.approx(0.0, abs=1e-6)
    d = np.random.default_rng(0).random((1, 1, 6, 7))
    dx, dy = np.diff(d, axis=3), np.diff(d, axis=2)
    parts = [np.diff(dx, axis=3), np.diff(dx, axis=2), np.diff(dy, axis=3), np.diff(dy, axis=2)]
    expected = sum(np.abs(p).mean() for p in parts)
    assert L.second_order_smoothness(torch.from_numpy(d)).item() == pytest.approx(expected, rel=1e-12)


def test_smoothness_mask_drops_differences_touching_invalid_pixels():
    disp = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    disp[..., 2, 3] = 100.0  # a spike
    mask = torch.ones_like(disp, dtype=torch.bool)
    mask[..., 2, 3] = False
    assert L.second_order_smoothness(disp, mask=mask).item() == 0.0
    assert L.edge_aware_smoothness(disp, torch.zeros(1, 3, 6, 6, dtype=torch.float64), mask=mask).item() == 0.0
    assert L.second_order_smoothness(disp).item() > 1.0


def test_smoothness_bad_inputs():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        L.edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 4) * 255)
    with pytest.raises(ValueError, match="alpha"):
        L.edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 4), alpha=0.0)
    with pytest.raises(ValueError, match="matching disp"):
        L.edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="at least 3x3"):
        L.second_order_smoothness(torch.rand(1, 1, 2, 4))
    with pytest.raises(ValueError, match="finite"):
        L.second_order_smoothness(torch.full((1, 1, 4, 4), float("nan")))


# ---- loss explorer helpers (mvdlib.explorers.losses, chapter 5) -----------------------------------


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


# ---- relative depth (chapter 5) -------------------------------------------------------------


def test_sample_pixel_pairs_are_distinct_in_range_and_seeded():
    pairs = L.sample_pixel_pairs(5, 7, 500, seed=3)
    assert pairs.shape == (500, 2) and pairs.dtype == torch.int64
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.min() >= 0 and pairs.max() < 35
    assert torch.equal(pairs, L.sample_pixel_pairs(5, 7, 500, seed=3))


def test_ordinal_loss_matches_loop_reference():
    g = torch.Generator().manual_seed(8)
    target = 1 + 4 * torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64)
    target[0, 0, 0, 1] = target[0, 0, 0, 0] * 1.01  # an "equal" pair at 2 % tolerance
    target[1, 0, 2, 2] = 0.0  # invalid: its pairs are skipped
    pred = 1 + 4 * torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64)
    pairs = torch.cat([torch.tensor([[0, 1], [12, 3]]), L.sample_pixel_pairs(4, 5, 40, seed=1)])
    costs = []
    for b in range(2):
        z, d = np.log(pred[b, 0].numpy().ravel()), target[b, 0].numpy().ravel()
        for i, j in pairs.tolist():
            if d[i] <= 0 or d[j] <= 0:
                continue
            ratio = max(d[i], d[j]) / min(d[i], d[j])
            if ratio < 1.02:
                costs.append((z[i] - z[j]) ** 2)
            else:
                r = 1.0 if d[i] > d[j] else -1.0
                costs.append(np.log1p(np.exp(-r * (z[i] - z[j]))))
    assert L.ordinal_loss(pred, target, pairs).item() == pytest.approx(np.mean(costs), rel=1e-12)


def test_ordinal_error_sees_only_the_order():
    g = torch.Generator().manual_seed(9)
    target = 0.5 + 8 * torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    pairs = L.sample_pixel_pairs(16, 16, 2000, seed=0)
    assert L.ordinal_error(target, target, pairs) == 0.0
    assert L.ordinal_error(target.sqrt() * 3 + 0.1, target, pairs) == 0.0  # increasing transform
    assert L.ordinal_error(1 / target, target, pairs) == 1.0  # order reversed
    noisy = target * torch.exp(0.5 * torch.randn(target.shape, generator=g, dtype=torch.float64))
    assert 0.0 < L.ordinal_error(noisy, target, pairs) < 0.5


def test_scale_shift_invariant_loss_matches_least_squares_fit_and_is_affine_invariant():
    g = torch.Generator().manual_seed(10)
    target = 0.1 + torch.rand(2, 1, 6, 7, generator=g, dtype=torch.float64)
    target[1, 0, :2] = 0.0  # invalid rows
    pred = torch.randn(2, 1, 6, 7, generator=g, dtype=torch.float64)
    expected = []
    for b in range(2):
        keep = target[b, 0].numpy() > 0
        x, y = pred[b, 0].numpy()[keep], target[b, 0].numpy()[keep]
        a, c = np.polyfit(x, y, 1)
        expected.append(np.mean((a * x + c - y) ** 2) / 2)
    loss = L.scale_shift_invariant_loss(pred, target)
    assert loss.item() == pytest.approx(np.mean(expected), rel=1e-10)
    for a, b in ((3.0, -2.0), (0.01, 5.0), (-2.0, 1.0)):
        assert L.scale_shift_invariant_loss(a * pred + b, target).item() == pytest.approx(loss.item(), rel=1e-9)
    assert L.scale_shift_invariant_loss(2 * target + 1, target).item() == pytest.approx(0.0, abs=1e-20)


def test_relative_depth_losses_reject_bad_pairs():
    d = torch.rand(1, 1, 3, 3) + 1
    with pytest.raises(ValueError, match="pairs"):
        L.ordinal_loss(d, d, torch.tensor([[0, 9]]))
    with pytest.raises(ValueError, match="pairs"):
        L.ordinal_loss(d, d, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num"):
        L.sample_pixel_pairs(3, 3, 0)
    with pytest.raises(TypeError, match="pairs"):
        L.ordinal_error(d, d, "0 1")
    for seed in (-1, 2.5, "0"):
        with pytest.raises(ValueError, match="seed"):
            L.sample_pixel_pairs(3, 3, 4, seed=seed)
