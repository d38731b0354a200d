"""Tests of mvdlib.data.real: the Middlebury Motorcycle pair bundled with scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from mvdlib.data.real import (
    MOTORCYCLE_BASELINE,
    MOTORCYCLE_DOFFS,
    load_stereo_pair,
    motorcycle_disparity_to_depth,
    motorcycle_intrinsics,
)
from mvdlib.geometry import backproject, project, relative_pose, transform_points

# Full-resolution Middlebury calib.txt of "Motorcycle" (cam0 focal length and principal
# point, doffs, baseline in mm); scikit-image's copy is this divided by 4.
MIDDLEBURY_FULL = {"f": 3979.911, "cx": 1244.772, "cy": 1019.507, "doffs": 124.343, "baseline_mm": 193.001}


@pytest.fixture(scope="module")
def pair() -> dict[str, torch.Tensor]:
    return load_stereo_pair()


@pytest.fixture(scope="module")
def disparity() -> np.ndarray:
    return skimage.data.stereo_motorcycle()[2]


def test_sample_has_the_dataset_form(pair) -> None:
    shapes = {k: tuple(v.shape) for k, v in pair.items()}
    assert shapes == {
        "ref_image": (3, 500, 741),
        "src_images": (1, 3, 500, 741),
        "K": (3, 3),
        "T_world_ref": (4, 4),
        "T_world_srcs": (1, 4, 4),
        "ref_depth": (1, 500, 741),
    }
    assert all(v.dtype == torch.float32 for v in pair.values())
    left, _, _ = skimage.data.stereo_motorcycle()
    np.testing.assert_array_equal(pair["ref_image"].permute(1, 2, 0).numpy(), left)


def test_calibration_is_middlebury_divided_by_four() -> None:
    K = motorcycle_intrinsics()
    assert K[0, 0] == pytest.approx(MIDDLEBURY_FULL["f"] / 4, abs=1e-3)
    # block averaging by 4 maps pixel centres u -> (u + 1/2) / 4 - 1/2
    assert K[0, 2] == pytest.approx((MIDDLEBURY_FULL["cx"] + 0.5) / 4 - 0.5, abs=1e-3)
    assert K[1, 2] == pytest.approx((MIDDLEBURY_FULL["cy"] + 0.5) / 4 - 0.5, abs=1e-3)
    assert MOTORCYCLE_DOFFS == pytest.approx(MIDDLEBURY_FULL["doffs"] / 4, abs=1e-3)
    assert MOTORCYCLE_BASELINE == pytest.approx(MIDDLEBURY_FULL["baseline_mm"] / 1000)


def test_depth_agrees_with_disparity(pair, disparity) -> None:
    depth = pair["ref_depth"][0].numpy().astype(np.float64)
    valid = np.isfinite(disparity)
    assert ((depth > 0) == valid).all()  # unknown disparity -> invalid depth, nothing else
    # Z (d + doffs) = b f for every valid pixel (Middlebury's depth formula)
    f = MIDDLEBURY_FULL["f"] / 4
    product = depth[valid] * (disparity[valid] + MIDDLEBURY_FULL["doffs"] / 4)
    np.testing.assert_allclose(product, MIDDLEBURY_FULL["baseline_mm"] / 1000 * f, rtol=1e-5)
    assert 1.5 < depth[valid].min() and depth[valid].max() < 6.0  # a motorcycle a few metres away


def test_depth_from_disparity_marks_unknown_invalid() -> None:
    d = np.array([[np.nan, np.inf, 10.0, -MOTORCYCLE_DOFFS]])
    depth = motorcycle_disparity_to_depth(d)
    assert depth[0, 0] == 0 and depth[0, 1] == 0 and depth[0, 3] == 0
    assert depth[0, 2] == pytest.approx(MOTORCYCLE_BASELINE * 994.978 / (10.0 + MOTORCYCLE_DOFFS))


def _warp_error(sample: dict[str, torch.Tensor], depth_scale: float = 1.0) -> torch.Tensor:
    """|left - right warped into the left with the true depth| on valid, in-image pixels."""
    ref, src = sample["ref_image"][None], sample["src_images"]
    depth = sample["ref_depth"][None] * depth_scale
    T_src_ref = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][0])
    uv, _ = project(transform_points(T_src_ref, backproject(depth, sample["K"])), sample["K"])
    h, w = depth.shape[-2:]
    grid = torch.stack([2 * uv[:, 0] / (w - 1) - 1, 2 * uv[:, 1] / (h - 1) - 1], -1)
    warped = F.grid_sample(src, grid, align_corners=True)
    valid = (depth[:, 0] > 0) & (grid.abs() <= 1).all(-1)
    return (warped - ref).abs().mean(1)[valid]


# Real photographs differ by sensor noise, specular highlights and occlusions that the
# disparity map does not mark, so the median is a few grey levels, not zero.
REAL_MEDIAN_WARP_ERROR = 5.0


def test_right_image_warps_onto_left_with_the_depth(pair) -> None:
    err = _warp_error(pair)
    assert err.median() < REAL_MEDIAN_WARP_ERROR
    # the source is the right camera: the opposite baseline, or a 5% depth error, misaligns
    flipped = dict(pair, T_world_srcs=pair["T_world_srcs"].clone())
    flipped["T_world_srcs"][0, 0, 3] *= -1
    assert _warp_error(flipped).median() > 4 * err.median()
    assert _warp_error(pair, depth_scale=1.05).median() > 2 * err.median()


def test_direct_disparity_lookup_agrees(pair, disparity) -> None:
    # Independent of K and poses: the left pixel u matches the original right image at u - d.
    left, right, _ = skimage.data.stereo_motorcycle()
    v, u = np.nonzero(np.isfinite(disparity))
    ur = np.rint(u - disparity[v, u]).astype(int)
    keep = (ur >= 0) & (ur < left.shape[1])
    diff = np.abs(left[v[keep], u[keep]].astype(float) - right[v[keep], ur[keep]].astype(float)).mean(1)
    assert np.median(diff) < REAL_MEDIAN_WARP_ERROR + 2  # nearest-pixel lookup, so a little looser


def test_resize_scales_intrinsics_and_keeps_invalid_pixels(pair) -> None:
    small = load_stereo_pair(height=250, width=370)
    assert small["ref_image"].shape == (3, 250, 370) and small["src_images"].shape == (1, 3, 250, 370)
    K, K0 = small["K"].numpy(), pair["K"].numpy()
    sx = 370 / 741
    assert K[0, 0] == pytest.approx(K0[0, 0] * sx, rel=1e-6)
    assert K[0, 2] == pytest.approx(sx * (K0[0, 2] + 0.5) - 0.5, rel=1e-6)
    # nearest neighbour: every depth value already existed, holes stay holes
    full_values = np.unique(pair["ref_depth"].numpy())
    assert np.isin(np.unique(small["ref_depth"].numpy()), full_values).all()
    assert (small["ref_depth"] == 0).any()
    assert _warp_error(small).median() < REAL_MEDIAN_WARP_ERROR


def test_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="height"):
        load_stereo_pair(height=0, width=10)
    with pytest.raises(ValueError, match="width"):
        load_stereo_pair(height=10, width=-1)
    with pytest.raises(ValueError, match="together"):
        load_stereo_pair(height=10)
