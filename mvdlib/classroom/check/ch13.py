"""Checks for chapter 13, sharper edges: GeoNet's weight with a sharpness alpha, and the flying-pixel test."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from mvdlib.classroom.check._answers import as_answer_tensor, as_number, close, diagnose, same_shape
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.metrics import flying_pixels
from mvdlib.smoothness import edge_aware_smoothness

__all__ = ["exercise_13_2", "exercise_13_5"]


def smoothness_case() -> tuple[Tensor, Tensor]:
    """A 1 x 1 x 10 x 12 inverse depth and a 1 x 3 x 10 x 12 image in [0, 1] with an edge."""
    g = torch.Generator().manual_seed(15)
    xi = 0.5 + 0.2 * torch.rand(1, 1, 10, 12, generator=g, dtype=torch.float64)
    image = 0.3 * torch.rand(1, 3, 10, 12, generator=g, dtype=torch.float64)
    image[..., 6:] += 0.6  # a vertical image edge
    image[:, 0, :5] += 0.1  # rows differ in one channel only
    return xi, image


def _smoothness(xi: Tensor, image: Tensor, alpha: float, dims=(3, 2), channels: str = "mean", sign: float = -1.0):
    """sum over directions of mean |d xi| exp(sign alpha |dI|); the switches give the typical mistakes."""
    total = 0
    for dim in dims:
        grad_image = image.diff(dim=dim).abs()
        grad_image = grad_image.mean(1, keepdim=True) if channels == "mean" else grad_image.sum(1, keepdim=True)
        total = total + (xi.diff(dim=dim).abs() * torch.exp(sign * alpha * grad_image)).mean()
    return float(total)


@exercise("13.2", passed="Your loss is GeoNet's weighted smoothness with a sharpness alpha.")
def exercise_13_2(weighted_smoothness: Any) -> None:
    """``weighted_smoothness(xi, image, alpha)``: mean |grad xi| exp(-alpha mean_c |grad I|), x and y summed."""
    xi, image = smoothness_case()
    for alpha in (1.0, 10.0):
        got = as_number(
            call(weighted_smoothness, xi.clone(), image.clone(), alpha, name="weighted_smoothness"),
            f"weighted_smoothness(xi, image, {alpha:g})",
        )
        expected = float(edge_aware_smoothness(xi, image, alpha=alpha))
        if close(got, expected, rtol=1e-6):
            continue
        diagnose(
            got,
            {
                "average the image gradient over the colour channels (.mean(1)); summing makes the weight "
                "fall three times too fast": _smoothness(xi, image, alpha, channels="sum"),
                "the weight is exp(-alpha |grad I|): it must fall, not grow, at image edges": _smoothness(
                    xi, image, alpha, sign=1.0
                ),
                "only the x direction (columns) is there: add the same term along y (dim=2)": _smoothness(
                    xi, image, alpha, dims=(3,)
                ),
                "only the y direction (rows) is there: add the same term along x (dim=3)": _smoothness(
                    xi, image, alpha, dims=(2,)
                ),
                "alpha is not used: the weight is exp(-alpha |grad I|)": _smoothness(xi, image, 1.0),
            },
            rtol=1e-6,
        )
        raise Hint(f"for alpha = {alpha:g} got {got:.5g}, expected {expected:.5g}; use forward differences (.diff)")


def flying_case() -> tuple[np.ndarray, np.ndarray]:
    """A 2 m object on a 4 m wall, with a blurred prediction, noise, and invalid ground truth."""
    rng = np.random.default_rng(16)
    gt = np.full((10, 14), 4.0)
    gt[2:8, 3:8] = 2.0
    gt[0, 10:13] = 0.0  # no ground truth here
    pred = gt.copy()
    pred[gt == 0] = 3.0
    pred[2:8, 8] = 3.0  # a ramp pixel: on neither surface
    pred[2:8, 2] = 2.6
    pred[5, 11] = 4.3  # on the wall but 7.5 % off
    pred[8, 4] = 2.06  # near the object, which is within 2 pixels: on a surface
    pred *= 1 + 0.01 * rng.standard_normal(pred.shape)
    pred[4, 5] = 2.104  # inside the object, 5.2 % off its 2 m: flying, though within 5 % of itself
    return pred, gt


def _flying_loop(pred: np.ndarray, gt: np.ndarray, radius: int, tol: float, relative_to: str = "gt", rule: str = "all"):
    h, w = gt.shape
    out = np.zeros((h, w), dtype=bool)
    for v in range(h):
        for u in range(w):
            if gt[v, u] <= 0 and rule != "invalid too":
                continue
            far = []
            for q in range(max(0, v - radius), min(h, v + radius + 1)):
                for p in range(max(0, u - radius), min(w, u + radius + 1)):
                    if gt[q, p] > 0:
                        scale = gt[q, p] if relative_to == "gt" else pred[v, u]
                        far.append(abs(pred[v, u] - gt[q, p]) > tol * scale)
            out[v, u] = any(far) if rule == "any" else all(far) and len(far) > 0
    return out


@exercise("13.5", passed="A flying pixel is one that lies on none of the true surfaces around it.")
def exercise_13_5(my_flying_pixels: Any) -> None:
    """``my_flying_pixels(pred, gt, radius, rel_tol)``: H x W bool, depths on no true surface within radius."""
    pred, gt = flying_case()
    radius, tol = 2, 0.05
    got = as_answer_tensor(call(my_flying_pixels, pred.copy(), gt.copy(), radius, tol, name="my_flying_pixels"), "mask")
    expected = torch.as_tensor(flying_pixels(pred, gt, radius=radius, rel_tol=tol)).double()
    same_shape(got, expected, "the mask (H x W)")
    if torch.equal(got != 0, expected != 0):
        return
    diagnose(
        (got != 0).double(),
        {
            "the tolerance is relative to the true depth: |pred - gt_q| > rel_tol * gt_q": _flying_loop(
                pred, gt, radius, tol, relative_to="pred"
            ),
            "a pixel is flying only if it is far from *every* true depth nearby; you flagged pixels far from "
            "*some* neighbour, which marks every pixel next to an edge": _flying_loop(
                pred, gt, radius, tol, rule="any"
            ),
            "look at the whole (2r + 1) x (2r + 1) window: with only the pixel itself, every wrong pixel is "
            "flying, even one that took the other surface's depth": _flying_loop(pred, gt, 0, tol),
            "pixels without ground truth (gt = 0) cannot be judged: leave them False": _flying_loop(
                pred, gt, radius, tol, rule="invalid too"
            ),
        },
        rtol=0,
        atol=0.5,
    )
    v, u = np.argwhere((got != 0).numpy() != (expected != 0).numpy())[0]
    raise Hint(
        f"pixel (u={u}, v={v}), pred {pred[v, u]:.2f} m, should be {'' if expected[v, u] else 'not '}flying; "
        "it flies when |pred - gt_q| > rel_tol * gt_q for every valid q within radius"
    )
