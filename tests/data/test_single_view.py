"""Tests of mvdlib.data.single_view: the reference views of the synthetic scenes as single-image data."""

from __future__ import annotations

import torch

from mvdlib.data.single_view import load_single_views
from mvdlib.data.synthetic import SyntheticMultiViewDataset


def test_load_single_views_returns_the_reference_views_of_the_data_set(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MVDLIB_CACHE", str(tmp_path))
    rgb, depth = load_single_views("val", num_scenes=1, samples_per_scene=2, height=32, width=32)
    assert rgb.shape == (2, 3, 32, 32) and depth.shape == (2, 1, 32, 32)
    assert rgb.dtype == depth.dtype == torch.float32
    data = SyntheticMultiViewDataset("val", 1, 2, num_sources=1, height=32, width=32, cache=False)
    for i in range(2):
        assert torch.equal(rgb[i], data[i]["ref_image"]) and torch.equal(depth[i], data[i]["ref_depth"])
