"""Single-image depth data: the reference views of the synthetic scenes (chapters 3-5)."""

from __future__ import annotations

import torch
from torch import Tensor

from mvdlib.data.synthetic import SyntheticMultiViewDataset

__all__ = ["load_single_views"]


def load_single_views(
    split: str = "train",
    num_scenes: int = 12,
    samples_per_scene: int = 8,
    height: int = 64,
    width: int = 80,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Reference views of :class:`mvdlib.data.synthetic.SyntheticMultiViewDataset` as single-image data (chapters 3-4).

    Rendered once and cached on disk by the dataset (one source view per sample, unused).

    Returns:
        ``(rgb, depth)``: N x 3 x H x W float32 RGB in 0..255 and N x 1 x H x W depth in metres.

    Example:
        >>> rgb, depth = load_single_views("val", num_scenes=1, samples_per_scene=2, height=32, width=32)
        >>> tuple(rgb.shape), tuple(depth.shape)
        ((2, 3, 32, 32), (2, 1, 32, 32))
    """
    dataset = SyntheticMultiViewDataset(
        split, num_scenes=num_scenes, samples_per_scene=samples_per_scene, num_sources=1,
        height=height, width=width, seed=seed,
    )  # fmt: skip
    samples = [dataset[i] for i in range(len(dataset))]
    return torch.stack([s["ref_image"] for s in samples]), torch.stack([s["ref_depth"] for s in samples])
