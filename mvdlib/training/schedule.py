"""The deterministic data schedule of training: which samples each step sees (chapter 11).

The batch of step ``s`` is a pure function of ``(seed, s)``: the epoch's permutation is drawn
from a generator seeded by the epoch, the augmentation from one seeded by the step. So a
resumed run sees exactly the batches the uninterrupted run would have seen, with no saved
data-loader state, and DataLoader workers build the very batches the loop would build itself.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from mvdlib._validation import check_int, positive_int
from mvdlib.conventions import check_seed
from mvdlib.data.augment import augment
from mvdlib.data.sample import Sample, collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.training.config import TrainConfig

__all__ = ["TEST_SAMPLES_PER_SCENE", "StepBatches", "batch_indices", "build_datasets", "step_batches"]

# Trajectories per test scene: the CPU preset's 16 test scenes give 64 held-out samples.
TEST_SAMPLES_PER_SCENE = 4
VAL_SAMPLES_PER_SCENE = 2


def build_datasets(cfg: TrainConfig) -> dict[str, SyntheticMultiViewDataset]:
    """The train, val and test splits a config describes.

    Example:
        >>> data = build_datasets(TrainConfig(train_scenes=3, samples_per_scene=2, val_scenes=1, test_scenes=1))
        >>> {split: len(d) for split, d in data.items()}
        {'train': 6, 'val': 2, 'test': 4}
    """

    def dataset(split: str, scenes: int, samples_per_scene: int) -> SyntheticMultiViewDataset:
        return SyntheticMultiViewDataset(
            split, scenes, samples_per_scene, num_sources=cfg.num_sources, height=cfg.height, width=cfg.width,
            seed=cfg.seed, cache_dir=cfg.cache_dir,
        )  # fmt: skip

    return {
        "train": dataset("train", cfg.train_scenes, cfg.samples_per_scene),
        "val": dataset("val", cfg.val_scenes, VAL_SAMPLES_PER_SCENE),
        "test": dataset("test", cfg.test_scenes, TEST_SAMPLES_PER_SCENE),
    }


def batch_indices(step: int, dataset_size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Dataset indices of this process's share of the global batch of ``step``.

    Each epoch is a permutation drawn from a generator seeded by ``(seed, epoch)``; the
    global batch of ``batch_size * world`` consecutive entries is split by rank.

    Example:
        >>> batch_indices(0, dataset_size=6, batch_size=2, seed=0) == batch_indices(0, 6, 2, 0)
        True
        >>> len(set(batch_indices(0, 6, 1, 0, rank=0, world=2) + batch_indices(0, 6, 1, 0, rank=1, world=2)))
        2
    """
    step = check_int(step, "step", min=0)
    seed = check_seed(seed, "seed")
    rank = check_int(rank, "rank", min=0)
    dataset_size, batch_size = positive_int(dataset_size, "dataset_size"), positive_int(batch_size, "batch_size")
    world = positive_int(world, "world")
    if rank >= world:
        raise ValueError(f"rank must be below world = {world}, got {rank}")
    global_batch = batch_size * world
    per_epoch = dataset_size // global_batch
    if per_epoch == 0:
        raise ValueError(f"dataset_size {dataset_size} must be at least batch_size * world = {global_batch}")
    epoch, i = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(dataset_size, generator=g)
    start = i * global_batch + rank * batch_size
    return perm[start : start + batch_size].tolist()


class StepBatches(Dataset):
    """Item ``k`` is the augmented CPU batch of training step ``first_step + k`` (a pure function of it).

    Wrapped in a ``DataLoader`` with workers, the batches of the next steps are loaded (and
    rendered, on a cold cache) in other processes while this one trains; the batches are the
    ones the loop would build itself, so the run does not change.
    """

    def __init__(self, train_set: SyntheticMultiViewDataset, cfg: TrainConfig, first_step: int, rank: int, world: int):
        self.train_set, self.cfg, self.first_step, self.rank, self.world = train_set, cfg, first_step, rank, world

    def __len__(self) -> int:
        return max(0, self.cfg.steps - self.first_step)

    def __getitem__(self, k: int) -> Sample:
        step, cfg = self.first_step + k, self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + self.rank)
        idx = batch_indices(step, len(self.train_set), cfg.batch_size, cfg.seed, self.rank, self.world)
        return collate_samples([augment(self.train_set[i], cfg.jitter, cfg.flip, g) for i in idx], "cpu")


def step_batches(
    train_set: SyntheticMultiViewDataset, cfg: TrainConfig, first_step: int, rank: int = 0, world: int = 1
) -> DataLoader:
    """The batches of steps ``first_step ..`` in order, from ``cfg.num_workers`` processes (0: this one).

    ``cfg`` was checked when it was built (``num_workers >= 0``).

    Example:
        >>> cfg = TrainConfig(height=32, width=32, batch_size=1, steps=5, train_scenes=1, samples_per_scene=1)
        >>> len(step_batches(build_datasets(cfg)["train"], cfg, first_step=2))  # steps 2, 3 and 4
        3
    """
    # spawn, not fork: a forked child would inherit Open3D's ray-casting thread pool mid-state
    steps = StepBatches(train_set, cfg, first_step, rank, world)
    if cfg.num_workers:
        return DataLoader(
            steps, batch_size=None, num_workers=cfg.num_workers, multiprocessing_context="spawn", prefetch_factor=2
        )
    return DataLoader(steps, batch_size=None, num_workers=0)
