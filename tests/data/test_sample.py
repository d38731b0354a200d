"""Tests of mvdlib.data.sample: the sample's keys and shapes, its check, and collation."""

from __future__ import annotations

import pytest
import torch

from mvdlib.data.sample import SAMPLE_DIMS, SAMPLE_KEYS, SAMPLE_SHAPES, check_sample, collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset


def _sample(n: int = 2, h: int = 4, w: int = 5) -> dict[str, torch.Tensor]:
    return {
        "ref_image": torch.zeros(3, h, w),
        "src_images": torch.zeros(n, 3, h, w),
        "K": torch.eye(3),
        "T_world_ref": torch.eye(4),
        "T_world_srcs": torch.eye(4).repeat(n, 1, 1),
        "ref_depth": torch.ones(1, h, w),
    }


def test_the_dataset_returns_the_sample_described_here():
    s = SyntheticMultiViewDataset("val", 1, 1, num_sources=2, height=32, width=32, cache=False)[0]
    assert set(SAMPLE_KEYS) <= set(s)
    assert {k: s[k].dim() for k in SAMPLE_KEYS} == SAMPLE_DIMS
    assert check_sample(s) is False
    assert tuple(SAMPLE_SHAPES) == SAMPLE_KEYS


def test_check_sample_tells_a_sample_from_a_batch():
    s = _sample()
    assert check_sample(s) is False
    assert check_sample({k: v[None] for k, v in s.items()}) is True


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"K": torch.eye(4)}, "K"),
        ({"ref_depth": torch.ones(1, 4, 6)}, "W"),  # another width than the images
        ({"T_world_srcs": torch.eye(4).repeat(3, 1, 1)}, "N"),  # three poses for two source images
        ({"ref_image": torch.zeros(1, 1, 3, 4, 5)}, "ref_image"),
        ({"src_images": torch.zeros(2, 3, 4, 5).numpy()}, "tensors"),
    ],
)
def test_check_sample_names_what_is_wrong(change, word):
    with pytest.raises((ValueError, TypeError), match=word):
        check_sample({**_sample(), **change})


def test_check_sample_needs_every_key():
    s = _sample()
    del s["ref_depth"]
    with pytest.raises(ValueError, match="ref_depth"):
        check_sample(s)
    with pytest.raises(TypeError, match="dict"):
        check_sample([s])


def test_collate_stacks_every_entry():
    batch = collate_samples([_sample(), _sample()], "cpu")
    assert {k: tuple(v.shape) for k, v in batch.items()} == {k: (2, *v.shape) for k, v in _sample().items()}
    with pytest.raises(ValueError, match="same shapes"):
        collate_samples([_sample(), _sample(h=8)], "cpu")
    with pytest.raises(ValueError, match="single sample"):
        collate_samples([batch], "cpu")
    with pytest.raises(ValueError, match="device"):
        collate_samples([_sample()], "no-such-device")


def test_collate_samples_refuses_an_empty_list():
    with pytest.raises(ValueError, match="samples"):
        collate_samples([], "cpu")
