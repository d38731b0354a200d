"""Real images with calibration and ground truth that ship inside an installed package (chapter 2).

``load_stereo_pair`` returns the Middlebury 2014 "Motorcycle" stereo pair bundled with
scikit-image (``skimage.data.stereo_motorcycle``: files ``motorcycle_left.png``,
``motorcycle_right.png`` and ``motorcycle_disp.npz`` in ``skimage/data``), in the form of
one :class:`~mvdlib.data.synthetic.SyntheticMultiViewDataset` sample with one source view.

Provenance and licence: the images and the ground-truth disparity were made by D.
Scharstein, H. Hirschmüller, Y. Kitajima, G. Krathwohl, N. Nesic, X. Wang and P. Westling
at Middlebury College (GCPR 2014;
https://vision.middlebury.edu/stereo/data/scenes2014/). The Middlebury stereo pages
grant permission to use and publish their images and results and ask users to cite the
paper; scikit-image (BSD-3-Clause) redistributes this 4x down-sampled copy in its wheel,
so nothing is downloaded. Full-resolution calibration (calib.txt): cam0 focal length
3979.911 px, principal point (1244.772, 1019.507), doffs 124.343 px, baseline 193.001 mm,
2964 x 2000 pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from mvdlib._validation import numeric_array, positive_int
from mvdlib.geometry import scale_intrinsics

__all__ = [
    "MOTORCYCLE_BASELINE",
    "MOTORCYCLE_DOFFS",
    "MOTORCYCLE_DOWNSCALE",
    "motorcycle_intrinsics",
    "load_stereo_pair",
    "motorcycle_disparity_to_depth",
]

# Calibration of the down-sampled pair, from the docstring of skimage.data.stereo_motorcycle
# (Middlebury's calib.txt of "Motorcycle" divided by 4): focal length, principal point of
# the left camera (cam0), doffs = cx1 - cx0 (the principal points' x-difference), baseline.
MOTORCYCLE_FOCAL = 994.978  # pixels
MOTORCYCLE_CX = 311.193  # pixels
MOTORCYCLE_CY = 254.877  # pixels
MOTORCYCLE_DOFFS = 31.086  # pixels
MOTORCYCLE_BASELINE = 0.193001  # metres (193.001 mm)
# scikit-image made the images with skimage.transform.downscale_local_mean by this factor
# and divided the calibration by it; with pixel centres at integer coordinates the exact
# principal point of the block-averaged image is (c + 1/2) / 4 - 1/2, not c / 4.
MOTORCYCLE_DOWNSCALE = 4


def motorcycle_intrinsics() -> np.ndarray:
    """Intrinsics of the bundled (down-sampled) Motorcycle left image, pixel centres at integers.

    Middlebury's full-resolution ``cam0`` (skimage's values times 4) resized by 1/4 with
    :func:`mvdlib.geometry.scale_intrinsics`.

    Returns:
        3 x 3 float64 NumPy array.

    Example:
        >>> K = motorcycle_intrinsics()
        >>> round(float(K[0, 0]), 3), round(float(K[0, 2]), 3)  # f / 4, (cx + 1/2) / 4 - 1/2
        (994.978, 310.818)
    """
    s = MOTORCYCLE_DOWNSCALE
    K_full = np.array(
        [
            [MOTORCYCLE_FOCAL * s, 0.0, MOTORCYCLE_CX * s],
            [0.0, MOTORCYCLE_FOCAL * s, MOTORCYCLE_CY * s],
            [0.0, 0.0, 1.0],
        ]
    )
    return scale_intrinsics(K_full, 1 / s, 1 / s)


def motorcycle_disparity_to_depth(disparity: np.ndarray) -> np.ndarray:
    """Depth of the Motorcycle pair from its disparity, ``Z = b f / (d + doffs)`` (Middlebury).

    Args:
        disparity: H x W disparity of the left image in pixels (non-finite = unknown).
    Returns:
        H x W float32 z-depth in metres, 0 where the disparity is unknown
        (``book/conventions.md``: 0 marks an invalid pixel).

    Example:
        >>> depth = motorcycle_disparity_to_depth(np.array([[100.0, np.nan]]))
        >>> round(float(depth[0, 0]), 3), float(depth[0, 1])
        (1.465, 0.0)
    """
    d = numeric_array(disparity, "disparity", (2,)).astype(np.float64)
    valid = np.isfinite(d) & (d + MOTORCYCLE_DOFFS > 0)
    depth = MOTORCYCLE_BASELINE * MOTORCYCLE_FOCAL / np.where(valid, d + MOTORCYCLE_DOFFS, 1.0)
    return np.where(valid, depth, 0.0).astype(np.float32)


def _read_motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left and right RGB uint8 images and the left disparity, read from skimage/data."""
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    images = []
    for name in ("motorcycle_left.png", "motorcycle_right.png"):
        img = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{name} is missing from {folder}; reinstall scikit-image")
        images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    with np.load(folder / "motorcycle_disp.npz") as f:
        disparity = f["arr_0"]
    return images[0], images[1], disparity


def load_stereo_pair(height: int | None = None, width: int | None = None) -> dict[str, torch.Tensor]:
    """The real Middlebury "Motorcycle" pair as one multi-view sample (chapter 2).

    The reference is the left camera, at the world origin; the source is the right
    camera, translated by the baseline along +x (``T_world_src = [I | (b, 0, 0)]``). The
    two Middlebury cameras share focal length and ``cy`` but the right one's principal
    point is ``doffs`` pixels further right; the right image is shifted left by ``doffs``
    (bilinear) so that both views share one ``K``. Then a left pixel ``u`` with
    disparity ``d`` sees the right image at ``u - d - doffs``, and the depth is
    ``Z = b f / (d + doffs)``. Pixels without ground truth have depth 0. (The example in
    scikit-image's docstring pairs ``left[v, u + d]`` with ``right[v, u]``; the images
    agree for ``left[v, u]`` and ``right[v, u - d]``, the Middlebury convention, as
    ``tests/data/test_real.py`` checks.)

    Args:
        height, width: output size (default: the bundled 500 x 741). Images are resized
            with area averaging (or bilinear when enlarged), ``K`` with
            :func:`mvdlib.geometry.scale_intrinsics`, and the depth with nearest
            neighbour so invalid pixels stay invalid. Give both or neither.
    Returns:
        dict of float32 tensors: ``ref_image`` 3 x H x W and ``src_images`` 1 x 3 x H x W
        (RGB 0..255), ``K`` 3 x 3, ``T_world_ref`` 4 x 4, ``T_world_srcs`` 1 x 4 x 4,
        ``ref_depth`` 1 x H x W in metres (0 = invalid).

    Example:
        >>> pair = load_stereo_pair(height=50, width=74)
        >>> tuple(pair["src_images"].shape), round(pair["T_world_srcs"][0, 0, 3].item(), 4)  # the baseline, metres
        ((1, 3, 50, 74), 0.193)
    """
    if (height is None) != (width is None):
        raise ValueError(f"height and width must be given together, got height={height!r}, width={width!r}")
    left, right, disparity = _read_motorcycle()
    h0, w0 = left.shape[:2]
    # resample the right image onto cam0's principal point: new(u) = old(u + doffs)
    shift = np.array([[1.0, 0.0, MOTORCYCLE_DOFFS], [0.0, 1.0, 0.0]])
    right = cv2.warpAffine(right, shift, (w0, h0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    depth = motorcycle_disparity_to_depth(disparity)
    K = motorcycle_intrinsics()
    if height is not None:
        height = positive_int(height, "height")
        width = positive_int(width, "width")
        interp = cv2.INTER_AREA if height <= h0 and width <= w0 else cv2.INTER_LINEAR
        left = cv2.resize(left, (width, height), interpolation=interp)
        right = cv2.resize(right, (width, height), interpolation=interp)
        depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
        K = scale_intrinsics(K, width / w0, height / h0)
    T_world_src = np.eye(4)
    T_world_src[0, 3] = MOTORCYCLE_BASELINE

    def image(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)

    return {
        "ref_image": image(left),
        "src_images": image(right)[None],
        "K": torch.from_numpy(K.astype(np.float32)),
        "T_world_ref": torch.eye(4),
        "T_world_srcs": torch.from_numpy(T_world_src.astype(np.float32))[None],
        "ref_depth": torch.from_numpy(depth)[None],
    }
