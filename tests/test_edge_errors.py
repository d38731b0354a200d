"""Tests of mvdlib.metrics.edge_errors (chapters 3 and 4); to fold into tests/test_metrics.py."""

from __future__ import annotations

import pytest
import torch

from mvdlib.metrics import edge_errors


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


def test_edge_errors_ignore_steps_next_to_invalid_pixels():
    gt = torch.full((1, 1, 6, 8), 2.0)
    gt[..., 0, :] = 0.0  # an invalid row: the step to it is no depth edge
    assert edge_errors(gt.clone(), gt)["edge_fraction"] == 0.0
    with pytest.raises(ValueError, match="no valid pixel"):
        edge_errors(gt, torch.zeros_like(gt))
