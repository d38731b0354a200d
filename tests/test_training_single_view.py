"""Tests of mvdlib.training.single_view: the single-image fitting loop and Eigen's two stages."""

from __future__ import annotations

import pytest
import torch

from mvdlib.losses import berhu_loss
from mvdlib.models.eigen import EigenCoarseFine
from mvdlib.models.fcrn import FCRN
from mvdlib.training.single_view import fit_depth_network, train_two_stage

SMALL = dict(height=32, width=48, channels=(4, 8, 8, 8), hidden=16, fine_channels=6, dropout=0.0)


def _tiny_data(n: int = 6, h: int = 32, w: int = 48):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, h, w, generator=g)
    v = torch.linspace(1.0, 4.0, h).view(1, 1, h, 1)
    depths = (v + 0.5 * images[:, :1].tanh()).clamp(min=0.5)  # depth depends on the image
    depths[:, :, 0, :3] = 0.0  # a few invalid pixels
    return images, depths


def test_two_stage_training_reduces_loss_and_freezes_coarse_in_stage_two():
    images, depths = _tiny_data()
    torch.manual_seed(0)
    model = EigenCoarseFine(**SMALL)
    torch.manual_seed(0)
    coarse_only = EigenCoarseFine(**SMALL)
    history = train_two_stage(model, images, depths, coarse_steps=30, fine_steps=30, lr=3e-3, batch_size=6)
    assert sum(history["coarse"][-5:]) / 5 < history["coarse"][0]
    assert sum(history["fine"][-5:]) / 5 < history["fine"][0]
    assert not model.training
    # the same coarse stage alone gives the same coarse weights: stage 2 did not touch them
    fit_depth_network(
        coarse_only, images, depths, steps=30, forward=lambda x: coarse_only(x, "coarse"),
        parameters=coarse_only.coarse_parameters(), lr=3e-3, batch_size=6,
    )  # fmt: skip
    for a, b in zip(model.coarse_parameters(), coarse_only.coarse_parameters(), strict=True):
        torch.testing.assert_close(a, b)
    pairs = zip(model.fine_parameters(), coarse_only.fine_parameters(), strict=True)
    assert all(not torch.equal(a, b) for a, b in pairs)


def test_train_two_stage_needs_a_coarse_fine_network():
    with pytest.raises(TypeError, match="EigenCoarseFine"):
        train_two_stage(FCRN(width=0.1), *_tiny_data(), coarse_steps=1, fine_steps=1)


def test_fit_depth_network_checks_shapes():
    images, depths = _tiny_data()
    model = FCRN(width=0.1)
    with pytest.raises(ValueError, match="matching depths"):
        fit_depth_network(model, images[:3], depths, steps=1)
    with pytest.raises(ValueError, match="steps"):
        fit_depth_network(model, images, depths, steps=0)
    with pytest.raises(ValueError, match="seed"):
        fit_depth_network(model, images, depths, steps=1, seed=-1)


def test_fcrn_training_reduces_loss():
    torch.manual_seed(0)
    model = FCRN(width=0.125)
    images, depths = _tiny_data()
    history = fit_depth_network(model, images, depths, steps=40, loss_fn=berhu_loss, lr=3e-3, batch_size=6)
    assert sum(history[-5:]) / 5 < history[0]
