"""Augmentation of multi-view samples that keeps their geometry valid (chapter 11).

Photometric jitter is shared by every view of a sample, so the brightness constancy behind
the cost volume still holds; a horizontal flip mirrors the whole rig (images, depth,
intrinsics and poses together), so every view still sees the same mirrored world.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mvdlib._validation import positive_float
from mvdlib.data.sample import Sample, check_sample

__all__ = ["FLIP_PROBABILITY", "JITTER_GAIN", "JITTER_OFFSET", "augment", "flip_horizontal", "jitter_photometric"]

# Photometric jitter, applied identically to every view of a sample: contrast gain and
# brightness offset (0..255 grey levels), ranges in the spirit of common stereo training.
JITTER_GAIN = (0.8, 1.2)
JITTER_OFFSET = (-20.0, 20.0)
FLIP_PROBABILITY = 0.5


def _example() -> Sample:
    """A 2-view sample of 2 x 3 pixels for the examples below."""
    return {
        "ref_image": torch.arange(18.0).reshape(3, 2, 3),
        "src_images": torch.zeros(1, 3, 2, 3),
        "K": torch.tensor([[2.0, 0.0, 1.0], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]]),
        "T_world_ref": torch.eye(4),
        "T_world_srcs": torch.eye(4)[None],
        "ref_depth": torch.ones(1, 2, 3),
    }


def flip_horizontal(sample: Sample) -> Sample:
    """Mirror a whole multi-view sample left-right, keeping its geometry exact (chapter 11).

    Mirroring the images is the same as mirroring the world and every camera frame with
    ``F = diag(-1, 1, 1)``: poses become ``F T F`` (still rotations, det +1), depth is
    unchanged, and the intrinsics become ``cx' = W - 1 - cx`` and ``s' = -s`` (pixel centres
    at integers: ``u' = W - 1 - u``).

    Args:
        sample: a sample (:mod:`mvdlib.data.sample`), or a collated batch of them.
    Returns:
        The mirrored sample (new tensors).

    Example:
        >>> flipped = flip_horizontal(_example())
        >>> flipped["ref_image"][0].tolist(), flipped["K"][0, 2].item()
        ([[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]], 1.0)
    """
    check_sample(sample, "sample")
    return _flip(sample)


def _flip(sample: Sample) -> Sample:
    w = sample["ref_image"].shape[-1]
    K = sample["K"].clone()
    K[..., 0, 2] = (w - 1) - K[..., 0, 2]
    K[..., 0, 1] = -K[..., 0, 1]
    F4 = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=sample["T_world_ref"].dtype))
    out = dict(sample)
    out.update(
        ref_image=sample["ref_image"].flip(-1),
        src_images=sample["src_images"].flip(-1),
        ref_depth=sample["ref_depth"].flip(-1),
        K=K,
        T_world_ref=F4 @ sample["T_world_ref"] @ F4,
        T_world_srcs=F4 @ sample["T_world_srcs"] @ F4,
    )
    return out  # type: ignore[return-value]


def jitter_photometric(sample: Sample, gain: float, offset: float) -> Sample:
    """Apply ``clip(gain * rgb + offset, 0, 255)`` to every view of a sample alike (chapter 11).

    Only ``ref_image`` and ``src_images`` are read and replaced; the other entries are kept.

    Example:
        >>> s = {"ref_image": torch.tensor([0.0, 100.0, 250.0]), "src_images": torch.tensor([[10.0]])}
        >>> jitter_photometric(s, gain=1.1, offset=-15.0)["ref_image"].tolist()
        [0.0, 95.0, 255.0]
    """
    if not isinstance(sample, dict) or not all(isinstance(sample.get(k), Tensor) for k in ("ref_image", "src_images")):
        raise ValueError("sample must be a dict with 'ref_image' and 'src_images' tensors")
    gain = positive_float(gain, "gain")
    if not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number, got {offset!r}")
    return _jitter(sample, gain, offset)


def _jitter(sample: Sample, gain: float, offset: float) -> Sample:
    out = dict(sample)
    for k in ("ref_image", "src_images"):
        out[k] = (sample[k] * gain + offset).clamp(0.0, 255.0)
    return out  # type: ignore[return-value]


def augment(sample: Sample, jitter: bool, flip: bool, generator: torch.Generator) -> Sample:
    """The random augmentation of training (chapter 11): jitter, then a flip with ``FLIP_PROBABILITY``.

    Three uniform numbers are drawn from ``generator`` whatever the switches, so the stream of
    random numbers (and so a run) does not depend on them: the gain in ``JITTER_GAIN``, the
    offset in ``JITTER_OFFSET``, and the flip.

    Args:
        sample: one sample or a batch (:mod:`mvdlib.data.sample`).
        jitter: apply :func:`jitter_photometric` with the drawn gain and offset.
        flip: apply :func:`flip_horizontal` when the third number is below ``FLIP_PROBABILITY``.
        generator: the source of the three numbers.
    Returns:
        The augmented sample (the input is not changed).

    Example:
        >>> out = augment(_example(), jitter=False, flip=True, generator=torch.Generator().manual_seed(1))
        >>> out["ref_image"][0, 0].tolist()  # the third number drawn is 0.2 < 0.5: flipped
        [2.0, 1.0, 0.0]
    """
    check_sample(sample, "sample")
    for name, value in (("jitter", jitter), ("flip", flip)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    u = torch.rand(3, generator=generator).tolist()
    if jitter:
        gain = JITTER_GAIN[0] + u[0] * (JITTER_GAIN[1] - JITTER_GAIN[0])
        offset = JITTER_OFFSET[0] + u[1] * (JITTER_OFFSET[1] - JITTER_OFFSET[0])
        sample = _jitter(sample, gain, offset)
    if flip and u[2] < FLIP_PROBABILITY:
        sample = _flip(sample)
    return sample
