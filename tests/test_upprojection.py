"""Tests of FCRN's up-projection blocks in mvdlib.layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mvdlib.layers import FastUpConv, FastUpProjection, UpConv, UpProjection, interleave, unpool_zeros


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
    with pytest.raises(ValueError, match="4-D"):
        unpool_zeros(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="4-D"):
        UpProjection(2, 2)(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="in_channels"):
        UpConv(0, 2)
