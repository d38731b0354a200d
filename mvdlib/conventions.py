"""The book's conventions, written once: the paper's constants, valid depth, masks and seeds.

Every module that needs one of these imports it from here; the reader's version of the same
rules is the conventions page of the book (``book/conventions.md``).

* Depth is the z-coordinate in the camera frame, in metres. A pixel's depth is *valid* when
  it is finite and positive; ``0``, negative-free holes and non-finite values mark invalid
  pixels and are masked out of every loss and metric (:func:`valid_depth`).
* A mask is a boolean map, or a map of 0/1 numbers, the same size as the map it masks
  (:func:`as_mask`).
* A seed is an integer in ``[0, 2**32)`` (:func:`check_seed`), what NumPy and PyTorch accept.
* MVDepthNet (Wang and Shen 2018): input ``(rgb - 81) / 35`` on 0..255 images
  (:func:`normalize_image`), 64 planes uniform in inverse depth from ``1/50`` to ``1/0.5``
  m^-1, at 256 x 320 pixels.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import torch
from torch import Tensor

from mvdlib._validation import as_tensor, check_finite, shape_str

__all__ = [
    "MAX_DEPTH",
    "MIN_DEPTH",
    "NUM_DEPTHS",
    "PAPER_SIZE",
    "PIXEL_MEAN",
    "PIXEL_RANGE",
    "PIXEL_STD",
    "SEED_LIMIT",
    "as_mask",
    "check_seed",
    "normalize_image",
    "valid_depth",
]

# MVDepthNet's plane sweep (Wang and Shen 2018, Sec. III-B, and the released getVolume):
# NUM_DEPTHS planes uniform in inverse depth between 1/MAX_DEPTH and 1/MIN_DEPTH (1/m).
NUM_DEPTHS = 64
MIN_DEPTH = 0.5
MAX_DEPTH = 50.0

# The paper's input resolution (height, width).
PAPER_SIZE = (256, 320)

# Input normalisation of the original code (example2.py / depthNet_model.py of
# HKUST-Aerial-Robotics/MVDepthNet): (rgb - 81) / 35 on 0..255 images.
PIXEL_MEAN = 81.0
PIXEL_STD = 35.0
PIXEL_RANGE = 255.0  # the white level of the images the network was trained on

# Seeds: what numpy.random.default_rng, torch.manual_seed and random.seed all accept.
SEED_LIMIT = 2**32


@overload
def valid_depth(depth: Tensor) -> Tensor: ...
@overload
def valid_depth(depth: np.ndarray) -> np.ndarray: ...


def valid_depth(depth: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """The valid pixels of a depth map: finite and positive (the book's one rule).

    Args:
        depth: a depth map of any shape, tensor or array, metres.
    Returns:
        A boolean map of the same shape and kind (tensor for a tensor, array for an array).

    Example:
        >>> valid_depth(torch.tensor([1.5, 0.0, float("nan"), float("inf")])).tolist()
        [True, False, False, False]
    """
    if isinstance(depth, Tensor):
        if depth.is_complex():
            raise TypeError(f"depth must be a tensor or an array of real numbers, got dtype {depth.dtype}")
        return torch.isfinite(depth) & (depth > 0)
    d = np.asarray(depth)
    if d.dtype.kind not in "biuf":
        raise TypeError(f"depth must be a tensor or an array of real numbers, got dtype {d.dtype}")
    return np.isfinite(d) & (d > 0)


def as_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> Tensor:
    """The book's one mask rule: a bool map, or 0/1 numbers, of exactly ``shape``.

    Args:
        mask: a tensor, array or nested list of bools or of the numbers 0 and 1.
        shape: the shape of the map it masks.
        name: the argument's name in error messages.
    Returns:
        A bool tensor of ``shape`` (on the mask's device for a tensor).
    Raises:
        ValueError: another shape, or numbers other than 0 and 1 (a soft mask, a weight map).

    Example:
        >>> as_mask([[1, 0]], (1, 2)).tolist()
        [[True, False]]
    """
    if isinstance(mask, Tensor):
        m = mask
    else:
        try:
            a = np.asarray(mask)
            if not a.dtype.isnative:  # torch takes native byte order only
                a = a.astype(a.dtype.newbyteorder("="))
            m = torch.as_tensor(np.array(a))  # a contiguous copy that keeps a 0-d mask 0-d
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{name} must be a bool or 0/1 map of shape {tuple(shape)}, got {type(mask).__name__}"
            ) from err
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(m.shape)}")
    if m.dtype == torch.bool:
        return m
    if m.is_complex() or not ((m == 0) | (m == 1)).all():
        raise ValueError(f"{name} must be boolean or hold only 0 and 1 (a soft mask is not a mask), got {m.dtype}")
    return m != 0


def check_seed(seed: Any, name: str = "seed") -> int:
    """The book's one seed rule: an integer (not a bool) in ``[0, 2**32)``.

    Example:
        >>> check_seed(np.int64(7))
        7
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def normalize_image(img: Any) -> Tensor:
    """MVDepthNet's input normalisation ``(rgb - 81) / 35`` (chapter 10).

    Args:
        img: ``... x 3 x H x W`` RGB values in 0..255 (tensor or array; integer types allowed).
    Returns:
        A floating tensor of the same shape.

    Example:
        >>> normalize_image(torch.full((3, 1, 1), 116.0)).flatten().tolist()
        [1.0, 1.0, 1.0]
    """
    t = as_tensor(img, "img")
    if t.dim() < 3 or t.shape[-3] != 3 or 0 in t.shape:
        raise ValueError(f"img must be ... x 3 x H x W RGB with no empty dimension, got shape {shape_str(t)}")
    check_finite(t, "img")
    return (t - PIXEL_MEAN) / PIXEL_STD
