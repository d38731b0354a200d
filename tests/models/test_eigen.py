"""Tests of mvdlib.models.eigen: Eigen's coarse/fine network."""

from __future__ import annotations

import pytest
import torch

from mvdlib.models.eigen import EigenCoarseFine

SMALL = dict(height=32, width=48, channels=(4, 8, 8, 8), hidden=16, fine_channels=6, dropout=0.0)


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
