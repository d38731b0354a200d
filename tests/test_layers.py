"""Tests of mvdlib/layers.py: BatchNorm and initialization (chapters 6, 8), FCRN's up-projection
(chapter 4) and MVDepthNet's blocks (chapter 10).

References: ``torch.nn.BatchNorm2d`` for the batch normalization, the chi-square
distribution of a normal sample's variance for the initialization, the 5x5 up-convolution
for its fast form, and the original depthNet_model.py layouts for MVDepthNet's blocks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from mvdlib.layers import (
    FastUpConv,
    FastUpProjection,
    ScratchBatchNorm2d,
    UpConv,
    UpProjection,
    conv_layer,
    depth_layer,
    down_conv_layer,
    init_kaiming,
    interleave,
    unpool_zeros,
    up_conv_layer,
)

# ---- BatchNorm and initialization (chapters 6, 8) ----------------------------------------

BN_STATE_KEYS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def _pair(channels: int, momentum: float | None, affine: bool, seed: int) -> tuple[nn.Module, nn.Module]:
    """A ScratchBatchNorm2d and an nn.BatchNorm2d in float64 with the same random affine parameters."""
    ours = ScratchBatchNorm2d(channels, momentum=momentum, affine=affine).double()
    ref = nn.BatchNorm2d(channels, momentum=momentum, affine=affine).double()
    if affine:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            ref.weight.copy_(torch.randn(channels, generator=g, dtype=torch.float64))
            ref.bias.copy_(torch.randn(channels, generator=g, dtype=torch.float64))
            ours.weight.copy_(ref.weight)
            ours.bias.copy_(ref.bias)
    return ours, ref


@given(
    batch=st.integers(1, 4),
    channels=st.integers(1, 5),
    height=st.integers(1, 5),
    width=st.integers(2, 5),
    momentum=st.sampled_from([0.1, 0.5, 1.0, None]),
    affine=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_scratch_batchnorm_equals_torch_in_train_then_eval(batch, channels, height, width, momentum, affine, seed):
    ours, ref = _pair(channels, momentum, affine, seed)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(3):  # three training steps: outputs, gradients, running statistics
        x = (3.0 * torch.randn(batch, channels, height, width, generator=g, dtype=torch.float64) + 2.0).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        upstream = torch.randn(batch, channels, height, width, generator=g, dtype=torch.float64)
        y, y_ref = ours(x), ref(x_ref)
        torch.testing.assert_close(y, y_ref)
        (y * upstream).sum().backward()
        (y_ref * upstream).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad)
        if affine:
            torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
            torch.testing.assert_close(ours.bias.grad, ref.bias.grad)
        torch.testing.assert_close(ours.running_mean, ref.running_mean)
        torch.testing.assert_close(ours.running_var, ref.running_var)
        assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked)
    ours.eval()
    ref.eval()
    x = torch.randn(batch, channels, height, width, generator=g, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = ours(x), ref(x_ref)
    torch.testing.assert_close(y, y_ref)
    y.sum().backward()
    y_ref.sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_running_variance_is_the_unbiased_batch_variance():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2) ** 1.5
    bn = ScratchBatchNorm2d(3, momentum=1.0).double()  # momentum 1: running stats = this batch's
    bn(x)
    per_channel = x.transpose(0, 1).reshape(3, -1)  # C x (B*H*W)
    torch.testing.assert_close(bn.running_mean, per_channel.mean(dim=1))
    torch.testing.assert_close(bn.running_var, per_channel.var(dim=1, unbiased=True))


def test_train_mode_output_per_channel_is_standardised():
    x = 5.0 * torch.randn(8, 4, 6, 6, dtype=torch.float64) - 3.0
    y = ScratchBatchNorm2d(4, eps=1e-12).double()(x)
    per_channel = y.transpose(0, 1).reshape(4, -1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(4, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(per_channel.var(dim=1, unbiased=False), torch.ones(4, dtype=torch.float64))


def test_state_dict_swaps_with_torch_batchnorm():
    ref = nn.BatchNorm2d(6)
    ref(torch.randn(4, 6, 3, 3))  # non-trivial running statistics
    ours = ScratchBatchNorm2d(6)
    assert set(ours.state_dict()) == set(ref.state_dict()) == BN_STATE_KEYS
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    ref.eval()
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(ours(x), ref(x))
    ref.load_state_dict(ours.state_dict())  # and back


def test_scratch_batchnorm_rejects_bad_input():
    bn = ScratchBatchNorm2d(3)
    with pytest.raises(ValueError, match="4 dimensions"):
        bn(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="num_features=3"):
        bn(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(torch.randn(1, 3, 1, 1))
    bn.eval()
    assert bn(torch.randn(1, 3, 1, 1)).shape == (1, 3, 1, 1)  # one pixel is fine with running statistics
    with pytest.raises(ValueError, match="num_features"):
        ScratchBatchNorm2d(0)
    with pytest.raises(ValueError, match="momentum"):
        ScratchBatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        ScratchBatchNorm2d(3, eps=-1.0)


# Two-sided probability of a false failure for each statistical check below; the weights
# come from a seeded generator, so a test is deterministic, but the bound is what justifies
# the tolerance for any seed.
FALSE_ALARM = 1e-6


@pytest.mark.parametrize(
    ("layer", "fan_out"),
    [
        (nn.Conv2d(3, 8, 3), 8 * 3 * 3),
        (nn.Conv2d(64, 128, 3, stride=2, padding=1), 128 * 3 * 3),
        (nn.Conv2d(128, 32, 5, bias=False), 32 * 5 * 5),
        (nn.Conv2d(16, 4, (1, 7)), 4 * 1 * 7),
        # a transposed convolution's weight is in x out x kh x kw; PyTorch's fan_out is in * kh * kw
        (nn.ConvTranspose2d(96, 48, 4, stride=2, padding=1), 96 * 4 * 4),
    ],
)
def test_init_kaiming_weight_variance_is_two_over_fan_out(layer, fan_out):
    torch.manual_seed(0)
    net = nn.Sequential(layer)
    if layer.bias is not None:
        nn.init.constant_(layer.bias, 3.0)
    init_kaiming(net)
    w = layer.weight.detach().double().flatten()
    n = w.numel()
    expected = 2.0 / fan_out
    # (n - 1) s^2 / sigma^2 follows chi-square with n - 1 degrees of freedom
    lo = stats.chi2.ppf(FALSE_ALARM / 2, n - 1) / (n - 1) * expected
    hi = stats.chi2.ppf(1 - FALSE_ALARM / 2, n - 1) / (n - 1) * expected
    assert lo < w.var().item() < hi
    # the mean is N(0, sigma^2 / n)
    assert abs(w.mean().item()) < stats.norm.ppf(1 - FALSE_ALARM / 2) * math.sqrt(expected / n)
    if layer.bias is not None:
        assert torch.all(layer.bias == 0)


def test_init_kaiming_sets_batchnorm_to_identity_affine():
    bns = [nn.BatchNorm2d(4), ScratchBatchNorm2d(4), ScratchBatchNorm2d(4, affine=False)]
    net = nn.Sequential(nn.Conv2d(3, 4, 3), *bns)
    for bn in (net[1], net[2]):
        nn.init.normal_(bn.weight)
        nn.init.normal_(bn.bias)
    assert init_kaiming(net) is net
    for bn in (net[1], net[2]):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_init_kaiming_leaves_other_layers_alone():
    net = nn.Sequential(nn.Linear(5, 5))
    before = net[0].weight.detach().clone()
    init_kaiming(net)
    assert torch.equal(net[0].weight, before)


def test_init_kaiming_rejects_non_modules():
    with pytest.raises(TypeError, match="module"):
        init_kaiming(torch.zeros(3))


# ---- FCRN up-projection (chapter 4) ------------------------------------------------------


def _randomise_batchnorm(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def test_unpool_puts_each_value_top_left_of_a_zero_block():
    x = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
    expected = torch.tensor(
        [[1, 0, 2, 0, 3, 0], [0, 0, 0, 0, 0, 0], [4, 0, 5, 0, 6, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.float32
    )
    torch.testing.assert_close(unpool_zeros(x)[0, 0], expected)


def test_interleave_places_the_four_maps_by_row_and_column_parity():
    maps = [torch.full((1, 1, 2, 2), float(k)) for k in range(4)]
    out = interleave(*maps)[0, 0]
    assert out.shape == (4, 4)
    assert torch.all(out[0::2, 0::2] == 0) and torch.all(out[0::2, 1::2] == 1)
    assert torch.all(out[1::2, 0::2] == 2) and torch.all(out[1::2, 1::2] == 3)


def test_up_conv_matches_a_loop_over_the_unpooled_map():
    torch.manual_seed(0)
    up = UpConv(2, 3).double()
    x = torch.randn(1, 2, 3, 4, dtype=torch.float64)
    w = up.conv.weight.detach().numpy()
    b = up.conv.bias.detach().numpy()
    u = np.zeros((2, 6 + 4, 8 + 4))  # unpooled map with a 2-pixel zero border
    u[:, 2:-2:2, 2:-2:2] = x[0].numpy()
    expected = np.zeros((3, 6, 8))
    for o in range(3):
        for p in range(6):
            for q in range(8):
                expected[o, p, q] = b[o] + np.sum(w[o] * u[:, p : p + 5, q : q + 5])
    np.testing.assert_allclose(up(x)[0].detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    cin=st.integers(1, 4),
    cout=st.integers(1, 4),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_fast_up_conv_equals_unpool_then_5x5_conv(cin, cout, h, w, seed):
    torch.manual_seed(seed)
    slow = UpConv(cin, cout).double()
    fast = FastUpConv(cin, cout).double().copy_from(slow)
    x = torch.randn(2, cin, h, w, dtype=torch.float64)
    torch.testing.assert_close(fast(x), slow(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_fast_up_projection_equals_up_projection_with_shared_weights(batch_norm, training):
    torch.manual_seed(1)
    slow = UpProjection(5, 3, batch_norm=batch_norm).double()
    _randomise_batchnorm(slow, seed=2)
    fast = FastUpProjection(5, 3, batch_norm=batch_norm).double().copy_from(slow)
    slow.train(training)
    fast.train(training)
    x = torch.randn(2, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    y_slow = slow(x)
    (g_slow,) = torch.autograd.grad(y_slow.square().sum(), x)
    y_fast = fast(x)
    (g_fast,) = torch.autograd.grad(y_fast.square().sum(), x)
    assert y_slow.shape == (2, 3, 8, 12)
    torch.testing.assert_close(y_fast, y_slow, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-10, atol=1e-10)
    assert (y_slow >= 0).all()  # the block ends with a ReLU


def test_fast_up_projection_has_as_many_parameters_as_up_projection():
    slow, fast = UpProjection(8, 4), FastUpProjection(8, 4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # 5x5 = 3x3 + 3x2 + 2x3 + 2x2 taps (no conv biases: BatchNorm follows every convolution)
    assert count(fast) == count(slow)


def test_a_mismatched_copy_is_detected_by_comparison():
    torch.manual_seed(3)
    slow = UpConv(2, 2)
    fast = FastUpConv(2, 2).copy_from(slow)
    with torch.no_grad():
        fast.conv_eo.weight.copy_(slow.conv.weight[:, :, 0::2, 0:4:2])  # wrong taps
    x = torch.randn(1, 2, 4, 4)
    assert (fast(x) - slow(x)).abs().max() > 1e-3


def test_copy_from_checks_its_argument():
    with pytest.raises(TypeError, match="UpConv"):
        FastUpConv(2, 2).copy_from(torch.nn.Conv2d(2, 2, 5))
    with pytest.raises(ValueError, match="channels"):
        FastUpConv(2, 2).copy_from(UpConv(3, 2))
    with pytest.raises(TypeError, match="UpProjection"):
        FastUpProjection(2, 2).copy_from(FastUpProjection(2, 2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="4 dimensions"):
        unpool_zeros(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="4 dimensions"):
        UpProjection(2, 2)(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="in_channels"):
        UpConv(0, 2)


# ---- MVDepthNet blocks (chapter 10) ------------------------------------------------------


def test_blocks_have_the_original_layouts():
    down = down_conv_layer(5, 8, 7)
    assert [type(m).__name__ for m in down] == ["Conv2d", "BatchNorm2d", "ReLU"] * 2
    assert down[0].stride == (1, 1) and down[3].stride == (2, 2) and down[0].padding == (3, 3)
    assert down[0].bias is None and down[3].bias is None
    up = up_conv_layer(8, 4)
    assert [type(m).__name__ for m in up] == ["Upsample", "Conv2d", "BatchNorm2d", "ReLU"]
    assert [type(m).__name__ for m in conv_layer(8, 4)] == ["Conv2d", "BatchNorm2d", "ReLU"]
    head = depth_layer(4)
    assert head[0].bias is not None and isinstance(head[1], torch.nn.Sigmoid)
    x = torch.randn(2, 5, 12, 10)
    assert down(x).shape == (2, 8, 6, 5)
    assert up(torch.randn(2, 8, 6, 5)).shape == (2, 4, 12, 10)


def test_up_conv_upsampling_is_bilinear_without_corner_alignment():
    up = up_conv_layer(1, 1)
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    # pixel-centre bilinear 2x: output centre u' maps to u = (u' + 1/2) / 2 - 1/2, edges clamped
    u = (np.arange(8) + 0.5) / 2 - 0.5
    v = (np.arange(6) + 0.5) / 2 - 0.5
    u, v = np.clip(u, 0, 3), np.clip(v, 0, 2)
    expected = np.array([[4 * vi + ui for ui in u] for vi in v])  # x is linear in (u, v): 4v + u
    np.testing.assert_allclose(up[0](x)[0, 0].numpy(), expected, atol=1e-6)
