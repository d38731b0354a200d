"""Tests of mvdlib.smoothness: the edge-aware (GeoNet) and second-order smoothness terms (chapter 11)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvdlib.smoothness import GEONET_ALPHA, edge_aware_smoothness, second_order_smoothness


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
    assert edge_aware_smoothness(disp, image, alpha=1.0).item() == pytest.approx(expected, rel=1e-12)
    # alpha scales the image gradient inside the exponential: same as a 3x brighter-contrast image
    assert edge_aware_smoothness(disp, image / 3, alpha=3.0).item() == pytest.approx(expected, rel=1e-12)


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
    assert edge_aware_smoothness(disp, image).item() == pytest.approx(sum(terms).item(), rel=1e-12)
    assert GEONET_ALPHA == 2.0


def test_edge_aware_smoothness_forgives_depth_steps_at_image_edges():
    disp = torch.zeros(1, 1, 8, 8)
    disp[..., 4:] = 1.0  # a depth step between columns 3 and 4
    flat = torch.full((1, 3, 8, 8), 0.5)
    edged = flat.clone()
    edged[..., 4:] = 1.0  # an image edge at the same place
    assert edge_aware_smoothness(disp, edged) < edge_aware_smoothness(disp, flat)
    assert edge_aware_smoothness(torch.ones(1, 1, 8, 8), flat).item() == 0.0


def test_second_order_smoothness_zero_on_planes_and_matches_numpy():
    v, u = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    plane = (0.3 * u - 0.2 * v + 1.0)[None, None]
    assert second_order_smoothness(plane).item() == pytest.approx(0.0, abs=1e-6)
    d = np.random.default_rng(0).random((1, 1, 6, 7))
    dx, dy = np.diff(d, axis=3), np.diff(d, axis=2)
    parts = [np.diff(dx, axis=3), np.diff(dx, axis=2), np.diff(dy, axis=3), np.diff(dy, axis=2)]
    expected = sum(np.abs(p).mean() for p in parts)
    assert second_order_smoothness(torch.from_numpy(d)).item() == pytest.approx(expected, rel=1e-12)


def test_smoothness_mask_drops_differences_touching_invalid_pixels():
    disp = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    disp[..., 2, 3] = 100.0  # a spike
    mask = torch.ones_like(disp, dtype=torch.bool)
    mask[..., 2, 3] = False
    assert second_order_smoothness(disp, mask=mask).item() == 0.0
    assert edge_aware_smoothness(disp, torch.zeros(1, 3, 6, 6, dtype=torch.float64), mask=mask).item() == 0.0
    assert second_order_smoothness(disp).item() > 1.0


def test_smoothness_bad_inputs():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 4) * 255)
    with pytest.raises(ValueError, match="alpha"):
        edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 4), alpha=0.0)
    with pytest.raises(ValueError, match="matching disp"):
        edge_aware_smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="at least 3x3"):
        second_order_smoothness(torch.rand(1, 1, 2, 4))
    with pytest.raises(ValueError, match="finite"):
        second_order_smoothness(torch.full((1, 1, 4, 4), float("nan")))
