"""Tests of mvdlib.refine against reference loops and hand-computed cases (the edge measures are in test_metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvdlib.refine import box_filter, guided_filter, mean_field_crf, remove_depth_discontinuities


def _step(h: int = 8, w: int = 10, near: float = 2.0, far: float = 4.0, col: int = 5) -> np.ndarray:
    d = np.full((h, w), far)
    d[:, :col] = near
    return d


def test_remove_depth_discontinuities_drops_the_ramp():
    d = _step(col=4)
    d[:, 4] = 2.7
    d[:, 5] = 3.4  # a smeared edge: 2 -> 2.7 -> 3.4 -> 4
    out = remove_depth_discontinuities(d, dilation=0)
    assert (out[:, 3:7] == 0).all() and (out[:, [0, 1, 2, 7, 8, 9]] == d[:, [0, 1, 2, 7, 8, 9]]).all()
    t = remove_depth_discontinuities(torch.as_tensor(d)[None, None], dilation=1)
    assert isinstance(t, torch.Tensor) and (t[0, 0, :, 2:8] == 0).all() and (t[0, 0, :, [0, 1, 8, 9]] > 0).all()


def _window(h, w, v, u, r):
    return slice(max(v - r, 0), min(v + r + 1, h)), slice(max(u - r, 0), min(u + r + 1, w))


def _guided_loop(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al. 2013 by definition: a ridge regression per (clipped) window, then averaging."""
    c, h, w = I.shape
    a = np.zeros((c, h, w))
    b = np.zeros((h, w))
    for v in range(h):
        for u in range(w):
            rows, cols = _window(h, w, v, u, r)
            X = I[:, rows, cols].reshape(c, -1).T  # n x C
            y = p[rows, cols].reshape(-1)
            Xc = X - X.mean(0)
            sigma = Xc.T @ Xc / len(y)
            cov = Xc.T @ (y - y.mean()) / len(y)
            a[:, v, u] = np.linalg.solve(sigma + eps * np.eye(c), cov)
            b[v, u] = y.mean() - a[:, v, u] @ X.mean(0)
    q = np.zeros((h, w))
    for v in range(h):
        for u in range(w):
            rows, cols = _window(h, w, v, u, r)
            q[v, u] = a[:, rows, cols].mean((1, 2)) @ I[:, v, u] + b[rows, cols].mean()
    return q


@pytest.mark.parametrize("channels", [1, 3])
def test_guided_filter_matches_reference_loop(channels):
    rng = np.random.default_rng(channels)
    I = rng.random((channels, 9, 11))
    p = rng.random((9, 11)) + 2 * I[0]
    out = guided_filter(torch.as_tensor(I)[None], torch.as_tensor(p)[None, None], radius=2, eps=1e-2)
    np.testing.assert_allclose(out[0, 0].numpy(), _guided_loop(I, p, 2, 1e-2), atol=1e-10)


def test_box_filter_matches_reference_loop():
    x = np.random.default_rng(0).random((6, 7))
    ref = np.array([[x[_window(6, 7, v, u, 2)].mean() for u in range(7)] for v in range(6)])
    np.testing.assert_allclose(box_filter(torch.as_tensor(x)[None, None], 2)[0, 0].numpy(), ref, atol=1e-12)


def test_guided_filter_limits():
    rng = np.random.default_rng(5)
    I = torch.as_tensor(rng.random((1, 1, 12, 12)))
    p = torch.as_tensor(rng.random((1, 1, 12, 12)))
    # Huge eps: a = 0 and the filter is a box filter twice (mean of window means).
    torch.testing.assert_close(guided_filter(I, p, 2, 1e6), box_filter(box_filter(p, 2), 2), atol=1e-5, rtol=0)
    # The source as its own guide with tiny eps: a = 1, b = 0, the image is kept (edge-preserving).
    torch.testing.assert_close(guided_filter(p, p, 2, 1e-9), p, atol=1e-5, rtol=0)


def _crf_loop(U, img, r, sxy, srgb, wgt, trunc, iters):
    L, h, w = U.shape
    mu = np.minimum(np.abs(np.arange(L)[:, None] - np.arange(L)[None]), trunc)
    Q = np.exp(-U) / np.exp(-U).sum(0)
    for _ in range(iters):
        new = np.zeros_like(Q)
        for v in range(h):
            for u in range(w):
                msg = np.zeros(L)
                for v2 in range(max(v - r, 0), min(v + r + 1, h)):
                    for u2 in range(max(u - r, 0), min(u + r + 1, w)):
                        if (v2, u2) == (v, u):
                            continue
                        k = np.exp(
                            -((v - v2) ** 2 + (u - u2) ** 2) / (2 * sxy**2)
                            - ((img[:, v, u] - img[:, v2, u2]) ** 2).sum() / (2 * srgb**2)
                        )
                        msg += k * Q[:, v2, u2]
                e = -U[:, v, u] - wgt * mu @ msg
                new[:, v, u] = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        Q = new
    return Q


def test_mean_field_crf_matches_reference_loop():
    rng = np.random.default_rng(7)
    U = rng.random((1, 4, 5, 6)) * 3
    img = rng.random((1, 3, 5, 6))
    Q = mean_field_crf(U, img, radius=1, sigma_xy=1.5, sigma_rgb=0.3, weight=0.7, truncation=2.0, iterations=3)
    assert isinstance(Q, np.ndarray)
    np.testing.assert_allclose(Q[0], _crf_loop(U[0], img[0], 1, 1.5, 0.3, 0.7, 2.0, 3), atol=1e-10)
    np.testing.assert_allclose(Q.sum(1), 1.0, atol=1e-12)


def test_mean_field_crf_fills_in_a_noisy_label_inside_a_uniform_region():
    U = np.full((1, 3, 7, 7), 2.0)
    U[0, 0] = 0.0  # every pixel prefers label 0 ...
    U[0, :, 3, 3] = [2.0, 2.0, 0.0]  # ... except the centre, which prefers label 2
    img = np.full((1, 3, 7, 7), 0.5)  # a uniform image: neighbours vote freely
    Q = mean_field_crf(U, img, radius=1, weight=1.0, iterations=5)
    assert Q[0, :, 3, 3].argmax() == 0 and np.exp(-U[0, :, 3, 3]).argmax() == 2


def test_clear_errors():
    with pytest.raises(ValueError, match="depth"):
        remove_depth_discontinuities(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="dilation"):
        remove_depth_discontinuities(np.ones((4, 4)), dilation=-1)
    with pytest.raises(ValueError, match="guide"):
        guided_filter(torch.ones(1, 3, 4, 5), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="finite"):
        guided_filter(torch.ones(1, 1, 4, 4), torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="unary"):
        mean_field_crf(torch.ones(1, 1, 4, 4), torch.ones(1, 3, 4, 4))
    with pytest.raises(ValueError, match="image"):
        mean_field_crf(torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 5))


def test_chapter_13_imports_the_edge_measures_from_their_old_path():
    import mvdlib.metrics
    import mvdlib.refine

    for name in ("edge_band", "edge_region_errors", "flying_pixels"):
        assert getattr(mvdlib.refine, name) is getattr(mvdlib.metrics, name)
