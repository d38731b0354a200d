"""Checks for chapter 11, training MVDepthNet: a geometry-keeping vertical flip, the loss, a gain over seeds."""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib.classroom.check._answers import as_number, close, diagnose
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.data.sample import CAMERA_KEYS, PIXEL_KEYS, SAMPLE_KEYS, Sample, collate_samples
from mvdlib.geometry import axis_angle_to_matrix
from mvdlib.losses import multiscale_inverse_depth_l1
from mvdlib.training.loop import cost_volume_for_batch

__all__ = ["exercise_11_3", "exercise_11_5", "exercise_11_6"]


def _pose(axis_angle: list[float], t: list[float]) -> Tensor:
    T = torch.eye(4)
    T[:3, :3] = axis_angle_to_matrix(torch.tensor(axis_angle))
    T[:3, 3] = torch.tensor(t)
    return T


def flip_case() -> dict[str, Tensor]:
    """A tiny two-view sample with random images, a skewed K off-centre, and rotated cameras."""
    g = torch.Generator().manual_seed(11)
    h, w = 12, 16
    return {
        "ref_image": 255 * torch.rand(3, h, w, generator=g),
        "src_images": 255 * torch.rand(1, 3, h, w, generator=g),
        "ref_depth": 1 + 4 * torch.rand(1, h, w, generator=g),
        "K": torch.tensor([[15.0, 0.8, 7.9], [0.0, 14.0, 4.6], [0.0, 0.0, 1.0]]),
        "T_world_ref": _pose([0.05, 0.1, -0.02], [0.3, -0.2, 0.1]),
        "T_world_srcs": _pose([0.02, 0.16, 0.01], [0.42, -0.15, 0.08])[None],
    }


def _flipped_geometry(sample: dict[str, Tensor], F4: Tensor, cy: float, skew: float) -> dict[str, Tensor]:
    K = sample["K"].clone()
    K[1, 2], K[0, 1] = cy, skew
    return {"K": K, "T_world_ref": F4 @ sample["T_world_ref"] @ F4, "T_world_srcs": F4 @ sample["T_world_srcs"] @ F4}


@exercise(
    "11.3", passed="The flipped sample's cost volume is the flipped cost volume: the geometry moved with the images."
)
def exercise_11_3(flip_vertical: Any) -> None:
    """``flip_vertical(sample)``: mirror a multi-view sample top-bottom, images, depth, K and poses."""
    sample = flip_case()
    original = {k: v.clone() for k, v in sample.items()}
    out = call(flip_vertical, sample, name="flip_vertical")
    if not isinstance(out, dict) or any(k not in out for k in SAMPLE_KEYS):
        raise Hint(f"flip_vertical should return a sample dict with the keys {', '.join(SAMPLE_KEYS)}")
    if any(not torch.equal(sample[k], original[k]) for k in original):
        raise Hint("flip_vertical changed the sample it was given; return new tensors (clone K before editing it)")
    for k in PIXEL_KEYS:
        if not torch.equal(torch.as_tensor(out[k]), original[k].flip(-2)):
            raise Hint(f"{k} should be flipped top-bottom: .flip(-2)")
    _, cost, _ = cost_volume_for_batch(collate_samples([cast(Sample, original)], "cpu"), 8)
    _, cost_flipped, _ = cost_volume_for_batch(collate_samples([cast(Sample, out)], "cpu"), 8)
    if float((cost_flipped - cost.flip(-2)).abs().max()) < 1e-3:  # the test of the chapter
        return
    h = original["ref_image"].shape[-2]
    Fy = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0]))
    cy, skew = float(original["K"][1, 2]), float(original["K"][0, 1])
    got = torch.cat([torch.as_tensor(out[k]).reshape(-1).float() for k in CAMERA_KEYS])
    mistakes = {
        "flipping the images alone breaks the sweep: the intrinsics and the poses must be mirrored too": {
            k: original[k] for k in CAMERA_KEYS
        },
        "the principal point must move: c_y' = H - 1 - c_y": _flipped_geometry(original, Fy, cy, -skew),
        "pixel centres are integers, so v' = H - 1 - v and c_y' = H - 1 - c_y (not H - c_y)": _flipped_geometry(
            original, Fy, h - cy, -skew
        ),
        "the skew K[0, 1] changes sign too (y' = -y)": _flipped_geometry(original, Fy, h - 1 - cy, skew),
        "diag(-1, 1, 1) mirrors x, a horizontal flip; a vertical flip mirrors y: F = diag(1, -1, 1)": _flipped_geometry(
            original, torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0])), h - 1 - cy, -skew
        ),
    }
    diagnose(
        got,
        {hint: torch.cat([g[k].reshape(-1).float() for k in CAMERA_KEYS]) for hint, g in mistakes.items()},
        rtol=0,
        atol=1e-5,
    )
    raise Hint(
        "the flipped sample's cost volume is not the flipped cost volume; mirror the world with "
        "F = diag(1, -1, 1): T' = F T F, c_y' = H - 1 - c_y, and the skew changes sign"
    )


def loss_case() -> tuple[list[Tensor], Tensor]:
    """Four predictions (16, 8, 4, 2 pixels square) and a target with a depth edge and invalid pixels."""
    g = torch.Generator().manual_seed(12)
    target = torch.full((1, 1, 16, 16), 1.0, dtype=torch.float64)
    target[..., 7:] = 0.2  # a wall at 5 m behind an object at 1 m, edge off the coarse grid
    target[..., 9:13, 2:6] = 0.0  # invalid: no ground truth
    target[..., 0, :] = 0.0
    preds = [2 * torch.rand(1, 1, n, n, generator=g, dtype=torch.float64) for n in (16, 8, 4, 2)]
    return preds, target


def _scale_loss(preds: list[Tensor], target: Tensor, resize: str, mask: bool = True, combine: str = "sum") -> float:
    """The loss with a given way of bringing the target to each scale; the switches give typical mistakes."""
    terms = []
    for p in preds:
        if resize == "upsample":
            p_s, t_s = F.interpolate(p, size=target.shape[-2:], mode="bilinear", align_corners=False), target
        else:
            p_s = p
            t_s = F.interpolate(target, size=p.shape[-2:], mode=resize)
        valid = t_s > 0 if mask else torch.ones_like(t_s, dtype=torch.bool)
        terms.append((p_s - t_s).abs()[valid].mean())
    total = torch.stack(terms).sum() if combine == "sum" else torch.stack(terms).mean()
    return float(total)


@exercise("11.5", passed="Each scale is compared with real measurements picked, not blended, from the target.")
def exercise_11_5(multiscale_l1: Any) -> None:
    """``multiscale_l1(preds, target_inv_depth)``: MVDepthNet's multi-scale inverse-depth L1 loss."""
    preds, target = loss_case()
    got = as_number(call(multiscale_l1, [p.clone() for p in preds], target.clone(), name="multiscale_l1"), "your loss")
    expected = float(multiscale_inverse_depth_l1(preds, target))  # nearest pixel centre ("nearest-exact")
    # For a 2x reduction the two middle fine pixels are equally near a coarse centre: "nearest" picks too.
    if close(got, expected, rtol=1e-5) or close(got, _scale_loss(preds, target, "nearest"), rtol=1e-5):
        return
    diagnose(
        got,
        {
            "averaging the target (area) blends the object with the wall behind it, and the invalid zeros into "
            "both: pick the nearest pixel, F.interpolate(..., mode='nearest-exact')": _scale_loss(
                preds, target, "area"
            ),
            "bilinear resizing blends depths across edges and invalid zeros; pick the nearest pixel "
            "(mode='nearest-exact')": _scale_loss(preds, target, "bilinear"),
            "the loss compares each prediction at its own size: bring the target down to the prediction, not the "
            "prediction up": _scale_loss(preds, target, "upsample"),
            "pixels without ground truth (target 0) must be left out of each scale's mean": _scale_loss(
                preds, target, "nearest-exact", mask=False
            ),
            "the scales are summed, not averaged": _scale_loss(preds, target, "nearest-exact", combine="mean"),
        },
        rtol=1e-5,
    )
    raise Hint(
        f"got {got:.4g}, expected {expected:.4g}: for each scale, mean |pred - target| over valid pixels, summed"
    )


#: Validation losses (1/m) of five seeds, from scratch and pre-trained, for the check of exercise 11.6.
SEED_CASES = [
    ([0.91, 0.87, 0.95, 0.89, 0.93], [0.52, 0.61, 0.49, 0.58, 0.55]),  # a clear gain
    ([0.62, 0.55, 0.70, 0.58, 0.66], [0.60, 0.61, 0.57, 0.63, 0.59]),  # within the noise
    ([0.64, 0.55, 0.75, 0.58, 0.70], [0.59, 0.49, 0.71, 0.51, 0.64]),  # paired: clear; unpaired: not
    ([0.60, 0.66, 0.57, 0.63, 0.61], [0.61, 0.58, 0.59, 0.57, 0.60]),  # above one standard error, below two
]


def _seed_summary(scratch: list[float], pretrained: list[float], how: str = "") -> list[float]:
    """(mean difference, standard error, exceeds 2 SE) of the paired differences, or a typical mistake's."""
    a, b = torch.tensor(scratch, dtype=torch.float64), torch.tensor(pretrained, dtype=torch.float64)
    d = b - a if how == "sign" else a - b
    n = d.numel()
    se = {
        "": d.std() / n**0.5,
        "sign": d.std() / n**0.5,
        "population": d.std(correction=0) / n**0.5,
        "std": d.std(),
        "unpaired": (a.var() / n + b.var() / n).sqrt(),
    }[how]
    return [float(d.mean()), float(se), float(abs(d.mean()) > 2 * se)]


@exercise("11.6", passed="A gain counts when the mean paired difference is well beyond its standard error.")
def exercise_11_6(seed_summary: Any) -> None:
    """``seed_summary(scratch, pretrained)``: mean and standard error of the per-seed differences, and the verdict."""
    for scratch, pretrained in SEED_CASES:
        got = call(seed_summary, list(scratch), list(pretrained), name="seed_summary")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Hint(
                "return three things: the mean difference, its standard error, and whether the mean exceeds 2 SE"
            )
        got = [as_number(got[0], "the mean difference"), as_number(got[1], "the standard error"), float(bool(got[2]))]
        expected = _seed_summary(scratch, pretrained)
        if close(got, expected, rtol=1e-6):
            continue
        diagnose(
            got[:2],
            {
                "subtract in the order asked: scratch minus pre-trained, positive when pre-training "
                "helps": _seed_summary(scratch, pretrained, "sign")[:2],
                "the standard deviation of a few seeds uses n - 1 (torch.std's default, np.std(..., ddof=1))": (
                    _seed_summary(scratch, pretrained, "population")[:2]
                ),
                "that is the spread of one seed's difference; the standard error of their mean divides it by "
                "sqrt(n)": _seed_summary(scratch, pretrained, "std")[:2],
                "both runs of a seed share its batches and initial weights: take the differences seed by seed "
                "(paired), not the two spreads separately": _seed_summary(scratch, pretrained, "unpaired")[:2],
            },
            rtol=1e-6,
        )
        if close(got[:2], expected[:2], rtol=1e-6):
            raise Hint(
                f"mean {expected[0]:.3f} and standard error {expected[1]:.3f} are right; the difference counts "
                "as real when |mean| > 2 SE"
            )
        raise Hint(
            f"got mean {got[0]:.4g} and standard error {got[1]:.4g}, expected {expected[0]:.4g} and "
            f"{expected[1]:.4g}: d = scratch - pretrained per seed, SE = std(d, ddof=1) / sqrt(n)"
        )
