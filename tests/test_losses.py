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


def test_downsample_target_refuses_a_zero_size():
    with pytest.raises(ValueError, match="size"):
        L.downsample_target(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4, dtype=torch.bool), (0, 0))


def test_huber_penalty_accepts_numpy():
    np.testing.assert_allclose(L.huber_penalty(np.array([0.5, 3.0])), [0.125, 2.5])
