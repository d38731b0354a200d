"""Tests of mvdlib.training.schedule: the batches of a step are a pure function of (seed, step)."""

from __future__ import annotations

import pytest
import torch

from mvdlib.training.config import TrainConfig
from mvdlib.training.schedule import TEST_SAMPLES_PER_SCENE, StepBatches, batch_indices, build_datasets


def test_batch_indices_cover_each_epoch_once_and_split_ranks():
    n, b, world = 20, 3, 2
    per_epoch = n // (b * world)
    seen = []
    for step in range(per_epoch):
        r0 = batch_indices(step, n, b, seed=5, rank=0, world=world)
        r1 = batch_indices(step, n, b, seed=5, rank=1, world=world)
        assert len(r0) == len(r1) == b and not set(r0) & set(r1)
        seen += r0 + r1
    assert len(set(seen)) == len(seen) == per_epoch * b * world
    assert batch_indices(7, n, b, 5) == batch_indices(7, n, b, 5)
    assert batch_indices(0, n, b, 5) != batch_indices(per_epoch, n, b, 5)  # a new epoch, a new order
    with pytest.raises(ValueError, match="dataset_size"):
        batch_indices(0, 3, 2, 0, world=2)


@pytest.mark.parametrize(("arg", "value"), [("step", -1), ("seed", 2**32), ("rank", 2), ("world", 0)])
def test_batch_indices_refuse_bad_arguments(arg, value):
    kwargs = {"step": 0, "dataset_size": 8, "batch_size": 2, "seed": 0, "rank": 0, "world": 2} | {arg: value}
    with pytest.raises(ValueError, match=arg):
        batch_indices(**kwargs)


def test_build_datasets_makes_the_three_splits(tmp_path):
    cfg = TrainConfig(height=32, width=32, train_scenes=3, samples_per_scene=2, val_scenes=1, test_scenes=2)
    data = build_datasets(cfg)
    assert {k: len(v) for k, v in data.items()} == {"train": 6, "val": 2, "test": 2 * TEST_SAMPLES_PER_SCENE}


def test_the_batch_of_a_step_does_not_depend_on_where_the_run_started(tmp_path):
    cfg = TrainConfig(height=32, width=32, num_sources=1, batch_size=2, steps=4, train_scenes=2,
                      samples_per_scene=2, cache_dir=str(tmp_path))  # fmt: skip
    train_set = build_datasets(cfg)["train"]
    from_start, resumed = StepBatches(train_set, cfg, 0, 0, 1), StepBatches(train_set, cfg, 2, 0, 1)
    assert len(from_start) == 4 and len(resumed) == 2
    for k, v in from_start[3].items():
        assert torch.equal(resumed[1][k], v), k
