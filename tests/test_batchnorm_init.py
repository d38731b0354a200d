"""Tests of ScratchBatchNorm2d and init_kaiming (mvdlib/layers.py, chapters 6 and 8).

References: ``torch.nn.BatchNorm2d`` for the batch normalization, and the chi-square
distribution of a normal sample's variance for the initialization.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from mvdlib.layers import ScratchBatchNorm2d, init_kaiming

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
    with pytest.raises(ValueError, match="4-D"):
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
