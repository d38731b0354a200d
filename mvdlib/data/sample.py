"""The multi-view sample, defined once: its keys, their shapes, the check and the batching (chapter 11).

A sample is what :class:`mvdlib.data.synthetic.SyntheticMultiViewDataset` returns and what
:func:`mvdlib.data.real.load_stereo_pair` returns for the real pair: a reference view, its
``N`` source (measurement) views, the intrinsics they share, camera-to-world poses and the
reference depth. Images are RGB in 0..255, depth in metres (0 or non-finite marks an invalid
pixel), poses camera-to-world (``book/conventions.md``). A *batch* is the same dict with a
leading ``B`` on every entry (:func:`collate_samples`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

import torch
from torch import Tensor

from mvdlib._validation import check_shape

__all__ = [
    "CAMERA_KEYS",
    "PIXEL_KEYS",
    "SAMPLE_DIMS",
    "SAMPLE_KEYS",
    "SAMPLE_SHAPES",
    "Sample",
    "check_sample",
    "collate_samples",
]


class Sample(TypedDict):
    """One multi-view sample (shapes in ``SAMPLE_SHAPES``; a batch has a leading ``B`` on each)."""

    ref_image: Tensor  # 3 x H x W reference RGB, 0..255
    src_images: Tensor  # N x 3 x H x W source RGB, 0..255
    K: Tensor  # 3 x 3 pinhole intrinsics shared by all views
    T_world_ref: Tensor  # 4 x 4 reference camera-to-world pose
    T_world_srcs: Tensor  # N x 4 x 4 source camera-to-world poses
    ref_depth: Tensor  # 1 x H x W reference depth in metres (0 or non-finite: invalid)


# A batch (collate_samples): the same keys, each entry with a leading B.
Batch = Sample


# The shape of each entry of one sample (words as in mvdlib._validation.check_shape): every H,
# W and N of a sample is the same size.
SAMPLE_SHAPES: dict[str, str] = {
    "ref_image": "3 H W",
    "src_images": "N 3 H W",
    "K": "3 3",
    "T_world_ref": "4 4",
    "T_world_srcs": "N 4 4",
    "ref_depth": "1 H W",
}
SAMPLE_KEYS = tuple(SAMPLE_SHAPES)
SAMPLE_DIMS = {key: len(spec.split()) for key, spec in SAMPLE_SHAPES.items()}  # dimensions of one sample's entries
PIXEL_KEYS = ("ref_image", "src_images", "ref_depth")  # maps on the pixel grid (a flip moves them)
CAMERA_KEYS = ("K", "T_world_ref", "T_world_srcs")  # the geometry (a flip mirrors it)


def check_sample(sample: Any, name: str = "sample") -> bool:
    """Check a sample or a batch of samples: a dict with ``SAMPLE_KEYS`` tensors of ``SAMPLE_SHAPES``.

    Only shapes are read (no device sync). Other keys are allowed and not checked.

    Args:
        sample: one sample, or a batch (every entry with the same leading ``B``).
        name: the argument's name in error messages.
    Returns:
        True for a batch, False for a single sample.
    Raises:
        TypeError: not a dict, or an entry is not a tensor.
        ValueError: a key is missing or a shape is wrong, naming the entry.

    Example:
        >>> s = {"ref_image": torch.zeros(3, 4, 5), "src_images": torch.zeros(2, 3, 4, 5), "K": torch.eye(3),
        ...      "T_world_ref": torch.eye(4), "T_world_srcs": torch.eye(4).repeat(2, 1, 1),
        ...      "ref_depth": torch.ones(1, 4, 5)}
        >>> check_sample(s), check_sample({k: v[None] for k, v in s.items()})
        (False, True)
    """
    if not isinstance(sample, dict):
        raise TypeError(f"{name} must be a dict of tensors, got {type(sample).__name__}")
    missing = [k for k in SAMPLE_KEYS if k not in sample]
    if missing:
        raise ValueError(f"{name} must have the keys {SAMPLE_KEYS}, missing {missing}")
    bad = [k for k in SAMPLE_KEYS if not isinstance(sample[k], Tensor)]
    if bad:
        raise TypeError(f"{name} entries must be tensors, got other types for {bad}")
    batched = sample["ref_image"].dim() == SAMPLE_DIMS["ref_image"] + 1
    sizes: dict[str, int] = {}
    for key, spec in SAMPLE_SHAPES.items():
        got = check_shape(sample[key], ("B " if batched else "") + spec, f"{name}[{key!r}]")
        for letter, size in got.items():
            if sizes.setdefault(letter, size) != size:
                shapes = {k: tuple(sample[k].shape) for k in SAMPLE_KEYS}
                raise ValueError(f"{name} must have one size {letter} across its entries {SAMPLE_SHAPES}, got {shapes}")
    return batched


def collate_samples(samples: Sequence[Sample], device: torch.device | str) -> Batch:
    """Stack samples into a batch (every entry gains a leading ``B``) on ``device``.

    Example:
        >>> s = {"ref_image": torch.zeros(3, 4, 5), "src_images": torch.zeros(2, 3, 4, 5), "K": torch.eye(3),
        ...      "T_world_ref": torch.eye(4), "T_world_srcs": torch.eye(4).repeat(2, 1, 1),
        ...      "ref_depth": torch.ones(1, 4, 5)}
        >>> collate_samples([s, s], "cpu")["src_images"].shape
        torch.Size([2, 2, 3, 4, 5])
    """
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError(f"samples must be a non-empty list of dataset samples, got {samples!r:.80}")
    for i, s in enumerate(samples):
        if check_sample(s, f"samples[{i}]"):
            raise ValueError(
                f"samples[{i}] must be a single sample, got a batch of shape {tuple(s['ref_image'].shape)}"
            )
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available, got {device!r} on a machine without CUDA")
    rows = cast(Sequence[Mapping[str, Tensor]], samples)  # indexed by the names in SAMPLE_KEYS
    shapes = {k: {tuple(s[k].shape) for s in rows} for k in SAMPLE_KEYS}
    differ = {k: sorted(v) for k, v in shapes.items() if len(v) > 1}
    if differ:
        raise ValueError(f"samples must all have the same shapes, got {differ}")
    return cast(Batch, {k: torch.stack([s[k] for s in rows]).to(device) for k in rows[0]})
