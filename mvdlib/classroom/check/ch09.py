"""Checks for chapter 9, the plane-sweep cost volume: the match's step per plane, and the original loop."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib.classroom.check._answers import as_answer_tensor, as_number, close, diagnose, same_shape
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.cost_volume import inverse_depth_samples, plane_sweep_cost_volume
from mvdlib.geometry import axis_angle_to_matrix

__all__ = ["exercise_9_1", "exercise_9_2"]

# Exercise 9.1's camera: focal length in pixels and a sideways baseline in metres.
FOCAL_PX, BASELINE_M = 285.0, 0.1
# A rounded answer this close counts (0.9 and 0.89 for 0.8957 px); the typical mistakes are matched first.
ROUNDED_RTOL = 0.01


@exercise("9.1", passed="Uniform in inverse depth, every plane moves the match by the same step, near or far.")
def exercise_9_1(plane_step_px: Any) -> None:
    """``plane_step_px``: how far (pixels) a match moves between consecutive planes of the 64-plane sweep."""
    got = as_number(plane_step_px, "plane_step_px")
    s = inverse_depth_samples()  # 64 planes from 1/50 to 1/0.5 1/m
    expected = FOCAL_PX * BASELINE_M * float(s[1] - s[0])
    if close(got, expected, rtol=2e-3):
        return
    span = float(s[-1] - s[0])
    depths = torch.linspace(0.5, 50.0, 64, dtype=torch.float64)
    diagnose(
        got,
        {
            "64 planes leave 63 gaps: divide the inverse-depth range by 63, not 64": FOCAL_PX * BASELINE_M * span / 64,
            "that is the shift across the whole sweep; one step is that divided by the 63 gaps": FOCAL_PX
            * BASELINE_M
            * span,
        },
        rtol=2e-3,
    )
    if close(got, expected, rtol=ROUNDED_RTOL):  # 0.9 or 0.89 for 0.8957: a sensible rounding
        return
    if close(got, expected, rtol=0.05):
        raise Hint(f"close: got {got:.4g} px; give three significant digits (the method looks right)")
    near, far = (FOCAL_PX * BASELINE_M * float(1 / depths[i] - 1 / depths[i + 1]) for i in (0, -2))
    uniform_depth = "spaced uniformly in depth; MVDepthNet's are uniform in inverse depth, the same step near and far"
    diagnose(
        got,
        {
            f"that is the step between the two nearest planes {uniform_depth}": near,
            f"that is the step between the two farthest planes {uniform_depth}": far,
        },
        rtol=0.05,  # a rounded answer, "about 35 pixels", still names the mistake
    )
    raise Hint(f"got {got:.4g} px; the shift is f b xi, so a plane step moves it by f b (xi[1] - xi[0])")


def _reference_loop(
    ref: Tensor,
    src: Tensor,
    K: Tensor,
    T_src_ref: Tensor,
    inv_depths: Tensor,
    rotation: bool = True,
    plane_depth: str = "1/s",
    normaliser: str = "W-1",
    reduce: str = "sum abs",
) -> Tensor:
    """The original's loop, with switches that reproduce the typical mistakes (the defaults are right)."""
    _, _, h, w = ref.shape
    v, u = torch.meshgrid(torch.arange(h, dtype=ref.dtype), torch.arange(w, dtype=ref.dtype), indexing="ij")
    pix = torch.stack([u.flatten(), v.flatten(), torch.ones(h * w, dtype=ref.dtype)])  # 3 x HW
    R = T_src_ref[:3, :3] if rotation else torch.eye(3, dtype=ref.dtype)
    KRKiUV = K @ R @ torch.linalg.inv(K) @ pix
    KT = K @ T_src_ref[:3, 3:]
    out = []
    for s in inv_depths:
        p = KRKiUV * (1 / s if plane_depth == "1/s" else s) + KT
        uv = p[:2] / p[2:]
        n_u, n_v = (w - 1, h - 1) if normaliser == "W-1" else (w, h)
        grid = torch.stack([2 * uv[0] / n_u - 1, 2 * uv[1] / n_v - 1], -1).view(1, h, w, 2)
        diff = ref - F.grid_sample(src, grid, align_corners=True)
        cost = {"sum abs": diff.abs().sum(1), "mean abs": diff.abs().mean(1), "sum squares": diff.pow(2).sum(1)}
        out.append(cost[reduce])
    return torch.stack(out, 1)


def sweep_case() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """A tiny textured pair, 3 x 12 x 16, with a rotated and translated source camera, and 8 planes."""
    g = torch.Generator().manual_seed(9)
    ref = torch.randn(1, 3, 12, 16, generator=g)
    src = torch.randn(1, 3, 12, 16, generator=g)
    K = torch.tensor([[15.0, 0.0, 7.2], [0.0, 14.0, 5.9], [0.0, 0.0, 1.0]])
    T = torch.eye(4)
    T[:3, :3] = axis_angle_to_matrix(torch.tensor([0.03, -0.08, 0.02]))
    T[:3, 3] = torch.tensor([-0.12, 0.03, 0.02])
    return ref, src, K, T, inverse_depth_samples(8)


@exercise("9.2", passed="Your loop computes the library's cost volume.")
def exercise_9_2(loop_cost_volume: Any) -> None:
    """``loop_cost_volume(ref, src, K, T_src_ref, inv_depths)``: the plane sweep written as the original's loop."""
    ref, src, K, T, s = sweep_case()
    got = call(loop_cost_volume, ref.clone(), src.clone(), K.clone(), T.clone(), s.clone(), name="loop_cost_volume")
    got = as_answer_tensor(got, "the cost volume")
    expected = plane_sweep_cost_volume(ref, src, K, T, s).double()
    same_shape(got, expected, "the cost volume (B x D x H x W)")
    if close(got, expected, rtol=0, atol=2e-3):
        return
    args = (ref, src, K, T, s)
    diagnose(
        got,
        {
            "your homography leaves out the rotation: with R = I the plane at infinity stays where it is. "
            "Use K R K^-1 [u, v, 1] with R = T_src_ref[:3, :3]": _reference_loop(*args, rotation=False),
            "you multiplied KRKiUV by the inverse depth; the plane's depth is 1 / s": _reference_loop(
                *args, plane_depth="s"
            ),
            "normalise pixel centres with x = 2u / (W - 1) - 1 (and align_corners=True), not 2u / W - 1": (
                _reference_loop(*args, normaliser="W")
            ),
            "sum the absolute differences over the channels; you averaged them": _reference_loop(
                *args, reduce="mean abs"
            ),
            "the cost is the sum of absolute differences, not of squares": _reference_loop(*args, reduce="sum squares"),
        },
        rtol=0,
        atol=2e-3,
    )
    worst = float((got - expected).abs().max())
    raise Hint(
        f"your volume differs from plane_sweep_cost_volume by up to {worst:.3g}; check the order "
        "K R K^-1 [u, v, 1] / s + K t, the division by the third row, and grid_sample(src, grid, align_corners=True)"
    )
