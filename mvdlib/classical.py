"""Classical depth baselines for the learned network (chapter 11).

* :func:`aggregate_cost`: a support window, the box filter of local stereo: each plane's cost
  averaged over a ``window x window`` neighbourhood before winner-take-all (Scharstein and
  Szeliski, IJCV 2002, the "aggregation" step of their taxonomy).
* :func:`sgbm_depth`: OpenCV's semi-global block matching (Hirschmueller, PAMI 2008) on a
  rectified pair, converted to depth ``Z = f b / disparity``; pixels SGBM refuses (its
  uniqueness and left-right checks) are holes, depth 0.

Their answers are scored by :func:`mvdlib.metrics.hole_aware_metrics`, which counts SGBM's
holes as failures.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import as_tensor, check_shape, positive_float, positive_int, shape_str
from mvdlib.conventions import MAX_DEPTH, MIN_DEPTH
from mvdlib.metrics import hole_aware_metrics  # noqa: F401  (moved; old path kept for readers' notebooks)

__all__ = ["SGBM_BLOCK_SIZE", "aggregate_cost", "sgbm_depth"]

# SGBM settings from OpenCV's stereo_match sample: block size, smoothness penalties
# P1 = 8 C b^2 and P2 = 32 C b^2 for C channels, uniqueness ratio (%), speckle filter.
SGBM_BLOCK_SIZE = 5
SGBM_UNIQUENESS = 10
SGBM_SPECKLE_WINDOW = 100
SGBM_SPECKLE_RANGE = 2
SGBM_DISP12_MAX_DIFF = 1


def aggregate_cost(cost: Tensor | np.ndarray, window: int) -> Tensor:
    """Average each plane's cost over a ``window x window`` support window (box filter).

    Args:
        cost: B x D x H x W cost volume.
        window: odd window size in pixels (1 leaves the cost unchanged). At the image border
            the mean is over the pixels inside the image.
    Returns:
        B x D x H x W aggregated cost.

    Example:
        >>> aggregate_cost(torch.tensor([[[[0.0, 3.0, 0.0]]]]), 3).flatten().tolist()
        [1.5, 1.0, 1.5]
    """
    c = as_tensor(cost, "cost")
    check_shape(c, "B D H W", "cost")
    if 0 in c.shape:
        raise ValueError(f"cost must be a non-empty B x D x H x W tensor, got shape {shape_str(c)}")
    if torch.isnan(c).any():  # the window would spread it to every neighbour
        raise ValueError("cost must not contain NaN (the window mean would spread it), got NaN values")
    window = positive_int(window, "window")
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    return F.avg_pool2d(c, window, stride=1, padding=window // 2, count_include_pad=False)


def sgbm_depth(
    ref_rgb: np.ndarray,
    src_rgb: np.ndarray,
    focal: float,
    baseline: float,
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    block_size: int = SGBM_BLOCK_SIZE,
) -> np.ndarray:
    """Depth of the left image of a rectified pair by OpenCV's StereoSGBM.

    The pair must be rectified with a shared ``K``: a left pixel ``u`` sees the right image
    at ``u - d``, ``d = f b / Z``. The disparity search covers the depths
    ``[min_depth, max_depth]`` (by default the 64 planes' range, ``book/conventions.md``).

    Args:
        ref_rgb, src_rgb: H x W x 3 uint8 left and right images.
        focal: focal length in pixels; baseline: distance of the cameras in metres.
        min_depth, max_depth: the depth range searched, metres.
        block_size: SGBM's matching block, odd.
    Returns:
        H x W float32 depth in metres, 0 where SGBM gives no answer.
    """
    left, right = (np.asarray(x) for x in (ref_rgb, src_rgb))
    for name, x in (("ref_rgb", left), ("src_rgb", right)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name} must be an H x W x 3 uint8 image, got {x.dtype} {x.shape}")
    if left.shape != right.shape:
        raise ValueError(f"ref_rgb and src_rgb must have one size, got {left.shape} and {right.shape}")
    focal, baseline = positive_float(focal, "focal"), positive_float(baseline, "baseline")
    min_depth, max_depth = positive_float(min_depth, "min_depth"), positive_float(max_depth, "max_depth")
    if min_depth >= max_depth:
        raise ValueError(f"min_depth must be below max_depth, got {min_depth} and {max_depth}")
    block_size = positive_int(block_size, "block_size")
    min_disp = math.floor(focal * baseline / max_depth)
    num_disp = 16 * math.ceil((focal * baseline / min_depth - min_disp + 1) / 16)  # a multiple of 16
    matcher = cv2.StereoSGBM_create(  # type: ignore[attr-defined]  # cv2 stubs lack StereoSGBM_create
        minDisparity=min_disp,
        numDisparities=num_disp,
        blockSize=block_size,
        P1=8 * 3 * block_size**2,
        P2=32 * 3 * block_size**2,
        disp12MaxDiff=SGBM_DISP12_MAX_DIFF,
        uniquenessRatio=SGBM_UNIQUENESS,
        speckleWindowSize=SGBM_SPECKLE_WINDOW,
        speckleRange=SGBM_SPECKLE_RANGE,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    disparity = matcher.compute(left, right).astype(np.float32) / 16.0  # fixed point, 4 fractional bits
    answered = disparity >= max(min_disp, 1e-3)
    return np.where(answered, focal * baseline / np.where(answered, disparity, 1.0), 0.0).astype(np.float32)
