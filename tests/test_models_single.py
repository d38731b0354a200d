"""Tests of the single-image depth networks: Eigen's coarse/fine network and FCRN."""

from __future__ import annotations

import pytest
import torch

from mvdlib.losses import berhu_loss
from mvdlib.models.eigen import EigenCoarseFine, edge_errors, fit_depth_network, train_two_stage
from mvdlib.models.fcrn import DECODERS, FCRN, decoder_block

SMALL = dict(height=32, width=48, channels=(4, 8, 8, 8), hidden=16, fine_channels=6, dropout=0.0)


def _tiny_data(n: int = 6, h: int = 32, w: int = 48):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, h, w, generator=g)
    v = torch.linspace(1.0, 4.0, h).view(1, 1, h, 1)
    depths = (v + 0.5 * images[:, :1].tanh()).clamp(min=0.5)  # depth depends on the image
    depths[:, :, 0, :3] = 0.0  # a few invalid pixels
    return images, depths


def test_eigen_shapes_and_positive_depth():
    torch.manual_seed(0)
    model = EigenCoarseFine(**SMALL).eval()
    x = torch.randn(2, 3, 32, 48)
    for stage in ("coarse", "fine"):
        d = model(x, stage)
        assert d.shape == (2, 1, 8, 12)
        assert (d > 0).all()


def test_eigen_coarse_is_global_and_fine_is_local():
    torch.manual_seed(0)
    model = EigenCoarseFine(**SMALL).eval()
    x = torch.randn(1, 3, 32, 48, requires_grad=True)
    model.coarse_log_depth(x)[0, 0, 0, 0].backward()  # top-left output pixel
    assert x.grad[..., 24:, 36:].abs().sum() > 0  # sees the bottom-right corner
    x.grad = None
    coarse = torch.zeros(1, 1, 8, 12)  # hold the coarse input fixed
    model.fine_log_depth(x, coarse)[0, 0, 0, 0].backward()
    assert x.grad[..., :8, :8].abs().sum() > 0
    assert x.grad[..., 24:, 36:].abs().sum() == 0  # the fine network is local


def test_eigen_parameter_groups_partition_the_network():
    model = EigenCoarseFine(**SMALL)
    coarse = {id(p) for p in model.coarse_parameters()}
    fine = {id(p) for p in model.fine_parameters()}
    assert not coarse & fine
    assert coarse | fine == {id(p) for p in model.parameters()}


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


def test_eigen_bad_inputs():
    with pytest.raises(ValueError, match="multiples of 16"):
        EigenCoarseFine(height=30, width=48)
    with pytest.raises(ValueError, match="4 entries"):
        EigenCoarseFine(channels=(4, 4))
    with pytest.raises(ValueError, match="dropout"):
        EigenCoarseFine(dropout=1.0)
    model = EigenCoarseFine(**SMALL)
    with pytest.raises(ValueError, match="B x 3 x 32 x 48"):
        model(torch.zeros(1, 3, 64, 80))
    with pytest.raises(ValueError, match="stage"):
        model(torch.zeros(1, 3, 32, 48), "medium")
    with pytest.raises(TypeError, match="EigenCoarseFine"):
        train_two_stage(FCRN(width=0.1), *_tiny_data(), coarse_steps=1, fine_steps=1)


def test_fit_depth_network_checks_shapes():
    images, depths = _tiny_data()
    model = FCRN(width=0.1)
    with pytest.raises(ValueError, match="matching depths"):
        fit_depth_network(model, images[:3], depths, steps=1)
    with pytest.raises(ValueError, match="steps"):
        fit_depth_network(model, images, depths, steps=0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_fcrn_output_is_half_resolution_for_every_decoder(decoder):
    torch.manual_seed(0)
    model = FCRN(width=0.125, decoder=decoder).eval()
    assert model(torch.randn(2, 3, 32, 48)).shape == (2, 1, 16, 24)


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoder_blocks_double_the_resolution(decoder):
    block = decoder_block(decoder, 4, 2).eval()
    assert block(torch.randn(1, 4, 5, 7)).shape == (1, 2, 10, 14)


def test_fcrn_width_shrinks_the_network_and_training_reduces_loss():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(FCRN(width=0.25)) < count(FCRN(width=0.5)) < count(FCRN(width=1.0))
    torch.manual_seed(0)
    model = FCRN(width=0.125)
    images, depths = _tiny_data()
    history = fit_depth_network(model, images, depths, steps=40, loss_fn=berhu_loss, lr=3e-3, batch_size=6)
    assert sum(history[-5:]) / 5 < history[0]


def test_fcrn_bad_inputs():
    with pytest.raises(ValueError, match="decoder"):
        FCRN(decoder="pixel_shuffle")
    with pytest.raises(ValueError, match="width"):
        FCRN(width=0.0)
    with pytest.raises(ValueError, match="multiples of 16"):
        FCRN(width=0.1)(torch.zeros(1, 3, 30, 48))
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        FCRN(width=0.1)(torch.zeros(1, 1, 32, 48))


def test_edge_errors_on_a_depth_step():
    gt = torch.full((1, 1, 6, 8), 2.0, dtype=torch.float64)
    gt[..., 4:] = 4.0  # edge between columns 3 and 4: column 3 carries the forward difference
    exact = edge_errors(gt.clone(), gt)
    assert exact["rmse"] == 0.0 and exact["sharpness"] == pytest.approx(1.0)
    assert exact["edge_fraction"] == pytest.approx(6 / 48)
    flat = edge_errors(torch.full_like(gt, 3.0), gt)
    assert flat["sharpness"] == 0.0
    assert flat["rmse"] == pytest.approx(1.0)
    assert flat["rmse_edges"] == pytest.approx(1.0)  # column 3 is 2 m, predicted 3 m
    ramp = gt.clone()
    ramp[..., 3] = 2.5
    ramp[..., 4] = 3.5  # a blurred step
    assert 0 < edge_errors(ramp, gt)["sharpness"] < 1
    with pytest.raises(ValueError, match="shape of gt"):
        edge_errors(gt[..., :4], gt)
