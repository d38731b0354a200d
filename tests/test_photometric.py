"""mvdlib.photometric against independent computations: cv2.remap, the plane-sweep cost volume, the true depth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mvdlib.cost_volume import plane_sweep_cost_volume
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.geometry import relative_pose
from mvdlib.photometric import photometric_error, photometric_error_vs_depth, photometric_loss


@pytest.fixture(scope="module")
def sample():
    s = SyntheticMultiViewDataset("val", 1, 1, height=48, width=64, cache=False)[0]
    T = relative_pose(s["T_world_ref"], s["T_world_srcs"][0])
    return s["ref_image"].double(), s["src_images"][0].double(), s["K"].double(), T.double(), s["ref_depth"][0].double()


def _remap_error(ref, src, K, T, depth):
    """The same error computed with NumPy and OpenCV: project every pixel, cv2.remap bilinearly, |difference|."""
    K, T, depth = K.numpy(), T.numpy(), depth.numpy()
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    X = (depth[..., None] * rays) @ T[:3, :3].T + T[:3, 3]
    uv = X @ K.T
    map_u, map_v = (uv[..., 0] / uv[..., 2]).astype(np.float32), (uv[..., 1] / uv[..., 2]).astype(np.float32)
    src_hwc = src.permute(1, 2, 0).numpy().astype(np.float32)
    warped = cv2.remap(src_hwc, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = (map_u >= 0) & (map_u <= w - 1) & (map_v >= 0) & (map_v <= h - 1) & (X[..., 2] > 0) & (depth > 0)
    return np.abs(ref.permute(1, 2, 0).numpy() - warped).mean(-1), inside


def test_error_agrees_with_cv2_remap(sample):
    ref, src, K, T, depth = sample
    for hypothesis in (depth, 0.8 * depth, torch.where(depth > 0, torch.full_like(depth, 3.0), depth)):
        ours, valid = photometric_error(ref, src, K, T, hypothesis)
        theirs, inside = _remap_error(ref, src, K, T, hypothesis)
        both = valid.numpy() & inside
        assert both.sum() > 0.5 * valid.sum().item()
        # cv2.remap quantises the sampling position to 1/32 pixel: allow that much of a grey-level step
        assert np.median(np.abs(ours.numpy()[both] - theirs[both])) < 0.5
        assert np.percentile(np.abs(ours.numpy()[both] - theirs[both]), 99) < 4.0


def test_constant_depth_is_the_plane_sweep_cost(sample):
    ref, src, K, T, _ = sample
    depths = torch.tensor([1.0, 2.5, 6.0], dtype=torch.float64)
    curves = photometric_error_vs_depth(ref, src, K, T, depths)
    cost = plane_sweep_cost_volume(ref[None], src[None], K, T, 1.0 / depths)[0] / ref.shape[0]  # sum -> mean over C
    valid = torch.isfinite(curves)
    assert valid.float().mean() > 0.3
    # two routes to the same sampling position (K R K^-1 + plane vs back-project, move, project): rounding only
    torch.testing.assert_close(curves[valid], cost[valid], atol=1e-3, rtol=0)


def test_true_depth_minimises_the_loss_and_gradients_reach_the_depth(sample):
    ref, src, K, T, depth = sample
    losses = {k: photometric_loss(ref, src, K, T, k * depth).item() for k in (0.7, 0.85, 1.0, 1.15, 1.4)}
    assert min(losses, key=losses.get) == 1.0, losses
    d = depth.clone().requires_grad_(True)
    photometric_loss(ref, src, K, T, d).backward()
    assert d.grad is not None and torch.isfinite(d.grad).all() and d.grad.abs().sum() > 0


def test_bad_inputs(sample):
    ref, src, K, T, depth = sample
    with pytest.raises(ValueError, match="src must have ref's shape"):
        photometric_error(ref, src[:, :-1], K, T, depth)
    with pytest.raises(ValueError, match="depth must be H x W"):
        photometric_error(ref, src, K, T, depth[:-1])
    with pytest.raises(ValueError, match="depths must be D >= 1 finite, positive"):
        photometric_error_vs_depth(ref, src, K, T, torch.tensor([1.0, -2.0]))
    with pytest.raises(ValueError, match="no pixel"):
        photometric_loss(ref, src, K, T, torch.zeros_like(depth))
