"""Tests of mvdlib/diagnostics.py (chapters 6-8): closed forms, hand-built networks, chi-square bounds."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from mvdlib.diagnostics import (
    ACTIVATIONS,
    LEAKY_SLOPE,
    SmallDepthNet,
    activation_and_derivative,
    activation_stats,
    apply_init,
    backward_rms,
    dead_relu_fraction,
    expected_derivative,
    plain_stack,
    toy_depth_batch,
    train_toy_depth,
    weight_gradient_norms,
)
from mvdlib.layers import ScratchBatchNorm2d

FALSE_ALARM = 1e-6  # two-sided probability that a statistical check below fails by chance


def _closed_form_derivative(name: str, z: torch.Tensor) -> torch.Tensor:
    s = 1.0 / (1.0 + torch.exp(-z))
    return {
        "sigmoid": s * (1 - s),
        "tanh": 1 - torch.tanh(z) ** 2,
        "relu": (z > 0).to(z.dtype),
        "leaky_relu": torch.where(z > 0, 1.0, LEAKY_SLOPE).to(z.dtype),
        "2*sigmoid": 2 * s * (1 - s),
    }[name]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_derivative_matches_closed_form(name):
    z = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    z = z[z != 0]  # ReLU's kink
    f, df = activation_and_derivative(name, z)
    assert f.shape == df.shape == z.shape
    torch.testing.assert_close(df, _closed_form_derivative(name, z))


def test_two_sigmoid_spans_mvdepthnet_inverse_depth_range():
    f, _ = activation_and_derivative("2*sigmoid", torch.tensor([-30.0, 0.0, 30.0], dtype=torch.float64))
    torch.testing.assert_close(f, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("name", "sigma"), [("sigmoid", 0.5), ("sigmoid", 4.0), ("tanh", 1.0), ("relu", 2.0)])
def test_expected_derivative_matches_monte_carlo(name, sigma):
    g = torch.Generator().manual_seed(0)
    z = sigma * torch.randn(400_000, generator=g, dtype=torch.float64)
    d = _closed_form_derivative(name, z)
    se = d.std().item() / math.sqrt(z.numel())
    assert abs(expected_derivative(name, sigma) - d.mean().item()) < stats.norm.ppf(1 - FALSE_ALARM / 2) * se


def test_expected_derivative_limits():
    assert expected_derivative("relu", 0.3) == pytest.approx(0.5, abs=1e-6)
    assert expected_derivative("leaky_relu", 3.0) == pytest.approx((1 + LEAKY_SLOPE) / 2, abs=1e-6)
    assert expected_derivative("sigmoid", 1e-3) == pytest.approx(0.25, abs=1e-6)
    assert expected_derivative("sigmoid", 1.0) > expected_derivative("sigmoid", 5.0)


def test_activation_functions_reject_bad_input():
    with pytest.raises(ValueError, match="name"):
        activation_and_derivative("swish", torch.zeros(3))
    with pytest.raises(ValueError, match="z"):
        activation_and_derivative("relu", torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="sigma"):
        expected_derivative("relu", 0.0)


def test_toy_depth_batch_shapes_ranges_and_determinism():
    images, depth = toy_depth_batch(6, 20, 24, seed=3)
    assert images.shape == (6, 3, 20, 24) and depth.shape == (6, 1, 20, 24)
    assert images.dtype == depth.dtype == torch.float32
    assert depth.min() >= 0.7 - 1e-6 and depth.max() <= 12.0 + 2.0 + 1e-6  # boxes 0.7 m up, plane 12 m + slant
    again, _ = toy_depth_batch(6, 20, 24, seed=3)
    other, _ = toy_depth_batch(6, 20, 24, seed=4)
    assert torch.equal(images, again) and not torch.equal(images, other)
    # channel 0 is the depth cue: it follows exp(-depth / 4 m), the distractors do not
    cue = torch.exp(-depth / 4.0).flatten()
    corr = torch.corrcoef(torch.stack([images[:, 0].flatten(), images[:, 1].flatten(), cue]))
    assert corr[0, 2] > 0.9 and abs(corr[1, 2]) < 0.1


def test_toy_depth_batch_rejects_bad_sizes():
    with pytest.raises(ValueError, match="height"):
        toy_depth_batch(2, 0, 8)


def test_plain_stack_structure_and_checks():
    mlp = plain_stack([5, 7, 3], "sigmoid")
    assert [type(m) for m in mlp[0]] == [nn.Linear, nn.Sigmoid]
    assert mlp(torch.randn(4, 5)).shape == (4, 3)
    conv = plain_stack([3, 4], "relu", conv=True, norm="scratch", bias=False)
    assert isinstance(conv[0][1], ScratchBatchNorm2d) and conv[0][0].bias is None
    assert conv(torch.randn(2, 3, 6, 6)).shape == (2, 4, 6, 6)
    with pytest.raises(ValueError, match="widths"):
        plain_stack([5])
    with pytest.raises(ValueError, match="norm"):
        plain_stack([5, 5], norm="batch")
    with pytest.raises(ValueError, match="activation"):
        plain_stack([5, 5], "gelu")


def test_small_depth_net_output_range_and_batchnorm_swap():
    torch.manual_seed(0)
    ref = SmallDepthNet(channels=(4, 6), norm="batch")
    ours = SmallDepthNet(channels=(4, 6), norm="scratch")
    ours.load_state_dict(ref.state_dict())  # same keys: ScratchBatchNorm2d swaps in
    x, _ = toy_depth_batch(3, 10, 12, seed=0)
    y = ours(x)
    assert y.shape == (3, 1, 10, 12) and (y > 0).all() and (y < 2).all()
    torch.testing.assert_close(y, ref(x))


def test_train_toy_depth_reduces_the_loss():
    torch.manual_seed(0)
    losses = train_toy_depth(SmallDepthNet(channels=(8, 8)), steps=40, lr=3e-3, batch_size=4, size=12, optimizer="adam")
    assert losses.shape == (40,) and torch.isfinite(losses).all()
    assert losses[-5:].mean() < 0.7 * losses[:5].mean()


class _Constant(nn.Module):
    """Predicts one inverse depth 1e30 * w everywhere (w = 0 at first)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return 1e30 * self.w * torch.ones_like(x[:, :1])


def test_train_toy_depth_stops_at_divergence():
    # the first step, lr * gradient = 1e10 * 1e30, overflows float32: w and the second loss are infinite
    losses = train_toy_depth(_Constant(), steps=5, lr=1e10, batch_size=2, size=4, momentum=0.0)
    assert torch.isfinite(losses[0]) and torch.isnan(losses[1:]).all()


def test_train_toy_depth_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        train_toy_depth(SmallDepthNet(channels=(2,)), steps=1, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        train_toy_depth(SmallDepthNet(channels=(2,)), steps=1, lr=1.0, optimizer="lbfgs")


def test_activation_stats_match_a_manual_forward():
    torch.manual_seed(0)
    net = plain_stack([6, 8, 5], "relu")
    x = torch.randn(32, 6)
    h1 = torch.relu(net[0][0](x))
    h2 = torch.relu(net[1][0](h1))
    got = activation_stats(net, x)
    assert [s["name"] for s in got] == ["0.1", "1.1"]
    for s, h in zip(got, (h1, h2), strict=True):
        assert s["mean"] == pytest.approx(h.mean().item(), rel=1e-5)
        assert s["std"] == pytest.approx(h.std().item(), rel=1e-5)
        assert s["rms"] == pytest.approx(h.pow(2).mean().sqrt().item(), rel=1e-5)


def test_dead_relu_fraction_counts_units_that_never_fire():
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, 1.0, -2.0, 0.5]))  # units 0 and 2 always negative
    assert dead_relu_fraction(nn.Sequential(lin, nn.ReLU()), torch.randn(10, 3)) == [0.5]
    conv = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 1.0, -1.0, 0.0]).view(4, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, -10.0, -10.0, -1.0]))  # channels 1 (for x < 10), 2, 3 dead
    x = torch.rand(2, 1, 5, 5)  # in [0, 1): channel 0 fires somewhere
    assert dead_relu_fraction(nn.Sequential(conv, nn.ReLU()), x) == [0.75]


def test_weight_gradient_norms_match_grad_attributes():
    torch.manual_seed(0)
    net = plain_stack([4, 5, 3], "tanh")
    net(torch.randn(7, 4)).pow(2).sum().backward()
    expected = [net[0][0].weight.grad.norm().item(), net[1][0].weight.grad.norm().item()]
    assert weight_gradient_norms(net) == pytest.approx(expected, rel=1e-6)


def test_backward_rms_matches_hand_backpropagation():
    torch.manual_seed(0)
    net = plain_stack([6, 9, 4], "relu")
    x = torch.randn(16, 6)
    got = backward_rms(net, x, seed=5)
    out = net(x)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    g2 = upstream * (out > 0)  # d loss / d (second ReLU output) is the upstream gradient itself
    g1 = (g2 * (net[1][0](torch.relu(net[0][0](x))) > 0)) @ net[1][0].weight  # through ReLU and the linear map
    assert got[1] == pytest.approx(upstream.pow(2).mean().sqrt().item(), rel=1e-6)
    assert got[0] == pytest.approx(g1.pow(2).mean().sqrt().item(), rel=1e-5)
    assert all(p.grad is None for p in net.parameters())  # measuring leaves .grad alone


def _assert_variance(w: torch.Tensor, expected: float) -> None:
    """Sample variance within the chi-square (n - 1 dof) interval of probability 1 - FALSE_ALARM."""
    w = w.detach().double().flatten()
    n = w.numel()
    lo = stats.chi2.ppf(FALSE_ALARM / 2, n - 1) / (n - 1) * expected
    hi = stats.chi2.ppf(1 - FALSE_ALARM / 2, n - 1) / (n - 1) * expected
    assert lo < w.var().item() < hi, (w.var().item(), expected)


@pytest.mark.parametrize(
    ("scheme", "variance"),
    [
        ("normal", lambda fi, fo: 0.05**2),
        ("xavier", lambda fi, fo: 2.0 / (fi + fo)),
        ("kaiming_fan_in", lambda fi, fo: 2.0 / fi),
        ("kaiming_fan_out", lambda fi, fo: 2.0 / fo),
    ],
)
def test_apply_init_variances(scheme, variance):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(300, 120), nn.Conv2d(16, 48, 3), nn.BatchNorm2d(48))
    nn.init.normal_(net[2].weight)
    apply_init(net, scheme, std=0.05)
    _assert_variance(net[0].weight, variance(300, 120))
    _assert_variance(net[1].weight, variance(16 * 9, 48 * 9))
    assert torch.all(net[0].bias == 0) and torch.all(net[1].bias == 0) and torch.all(net[2].weight == 1)


def test_apply_init_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        apply_init(nn.Linear(2, 2), "orthogonal")
