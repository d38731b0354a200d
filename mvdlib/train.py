"""Train MVDepthNet on synthetic multi-view scenes: ``python -m mvdlib.train --help`` (chapter 11).

The original code released no training code; this is ours. Adam on the multi-scale
inverse-depth L1 loss (Wang and Shen 2018, eq. 2), augmentation that keeps the geometry
valid (photometric jitter shared by all views, horizontal mirroring of the whole rig),
validation every ``val_every`` steps, atomic checkpoints and an exact ``--resume``.

Determinism without saved data-loader state: the batch of step ``s`` is a pure function
of ``(seed, s)`` (the epoch's permutation is drawn from a generator seeded by the epoch,
the augmentation from one seeded by the step), so a resumed run sees exactly the batches
the uninterrupted run would have seen.

Distributed: under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) the model is wrapped in
``DistributedDataParallel`` (gloo on CPU, nccl on CUDA); each process takes its slice of
every global batch; rank 0 writes checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm import tqdm

from mvdlib import cost_volume as cv
from mvdlib._io import atomic_write, check_writable_folder, remove_stale_temporaries, sha256_of
from mvdlib._validation import positive_float, positive_int
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.losses import edge_aware_smoothness, multiscale_inverse_depth_l1
from mvdlib.models.mvdepthnet import (
    RESOLUTION_MULTIPLE,
    MVDepthNet,
    load_pretrained,
    normalize_image,
    read_checkpoint,
)
from mvdlib.runtime import default_device, seed_everything

__all__ = [
    "PRESETS",
    "TEST_SAMPLES_PER_SCENE",
    "StepBatches",
    "TrainConfig",
    "batch_indices",
    "batch_loss",
    "build_datasets",
    "collate_samples",
    "config_from_dict",
    "cost_volume_for_batch",
    "export_checkpoint",
    "flip_horizontal",
    "half_precision",
    "jitter_photometric",
    "main",
    "save_atomic",
    "step_batches",
    "thin_history",
    "train",
]

# Photometric jitter, applied identically to every view of a sample so that the
# brightness-constancy assumption behind the cost volume still holds: contrast gain and
# brightness offset (0..255 grey levels), ranges in the spirit of common stereo training.
JITTER_GAIN = (0.8, 1.2)
JITTER_OFFSET = (-20.0, 20.0)
FLIP_PROBABILITY = 0.5
LR_DECAY = 0.3  # learning rate multiplied by this at each milestone


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint)."""

    model_width: float = 0.25
    height: int = 128
    width: int = 160
    num_depths: int = 32
    num_sources: int = 2
    batch_size: int = 4
    steps: int = 6000
    lr: float = 1e-3
    lr_milestones: tuple[int, ...] = (4000, 5200)  # absolute steps, so resuming never changes the schedule
    seed: int = 0
    train_scenes: int = 300
    samples_per_scene: int = 8
    val_scenes: int = 8
    test_scenes: int = 16
    val_every: int = 250
    ckpt_every: int = 100
    flip: bool = True
    jitter: bool = True
    image_only: bool = False  # ablation: zeros instead of the cost volume, a single-image network
    # GeoNet's edge-aware smoothness of the finest inverse depth, weighted by the reference
    # image in [0, 1], added to the loss with this weight (chapter 13; 0: the paper's loss).
    smoothness_weight: float = 0.0
    init: str | None = None  # start from the weights of this checkpoint file (fine-tuning)
    out: str = "runs/mvdepthnet_cpu.pt"
    cache_dir: str | None = None
    # DataLoader worker processes that load, render (cold cache) and augment the batches of the
    # next steps while this process trains (0: load in this process). Batches are the same.
    num_workers: int = 0
    # Run the network's forward pass in bfloat16 (torch.autocast; the loss and the weights stay
    # float32): 1.7x faster on CPUs with AVX512-BF16 or AMX, slower without; the loss curve
    # moves by about 1% (tests/test_train.py). Off by default, so runs repeat the committed ones.
    autocast_bf16: bool = False

    def __post_init__(self) -> None:
        """Check every setting at construction, so a bad run fails before it starts (issue 17)."""
        for name in ("num_depths", "num_sources", "batch_size", "train_scenes", "samples_per_scene"):
            positive_int(getattr(self, name), name)
        for name in ("val_scenes", "test_scenes", "val_every", "ckpt_every"):
            positive_int(getattr(self, name), name)
        for name in ("height", "width"):
            if positive_int(getattr(self, name), name) % RESOLUTION_MULTIPLE:
                raise ValueError(f"{name} must be a multiple of {RESOLUTION_MULTIPLE}, got {getattr(self, name)}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {self.steps!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        positive_float(self.model_width, "model_width")
        positive_float(self.lr, "lr")
        if not isinstance(self.smoothness_weight, (int, float)) or not 0 <= self.smoothness_weight < math.inf:
            raise ValueError(f"smoothness_weight must be a finite number >= 0, got {self.smoothness_weight!r}")
        if not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in self.lr_milestones):
            raise ValueError(f"lr_milestones must be positive integers, got {self.lr_milestones!r}")
        for name in ("flip", "jitter", "image_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.out, str) or not self.out:
            raise ValueError(f"out must be a file path, got {self.out!r}")
        for name in ("init", "cache_dir"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a path string or None, got {getattr(self, name)!r}")


# cpu (the defaults): a quarter-width network at half the paper's resolution (160 x 128) with
# 32 planes, 6000 steps over 300 rooms: about half an hour on a 2-core machine (the first
# convolution, 7x7 on 3 + D channels at full resolution, dominates the cost, hence fewer
# planes); gpu: the paper's network, resolution and 64 planes (Wang and Shen 2018, Sec. IV-A).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"num_workers": 1},
    "gpu": {
        "num_workers": 4,
        "model_width": 1.0,
        "height": 256,
        "width": 320,
        "num_depths": 64,
        "batch_size": 8,
        "steps": 100_000,
        "lr": 1e-4,
        "lr_milestones": (60_000, 80_000),
        "train_scenes": 2000,
        "samples_per_scene": 10,
        "val_scenes": 20,
        "test_scenes": 20,
        "val_every": 2000,
        "ckpt_every": 1000,
        "out": "runs/mvdepthnet_gpu.pt",
    },
}


# Trajectories per test scene: the CPU preset's 16 test scenes give 64 held-out samples (issue 15).
TEST_SAMPLES_PER_SCENE = 4


def build_datasets(cfg: TrainConfig) -> dict[str, SyntheticMultiViewDataset]:
    """The train, val and test splits a config describes."""
    common = {
        "num_sources": cfg.num_sources,
        "height": cfg.height,
        "width": cfg.width,
        "seed": cfg.seed,
        "cache_dir": cfg.cache_dir,
    }
    return {
        "train": SyntheticMultiViewDataset("train", cfg.train_scenes, cfg.samples_per_scene, **common),
        "val": SyntheticMultiViewDataset("val", cfg.val_scenes, 2, **common),
        "test": SyntheticMultiViewDataset("test", cfg.test_scenes, TEST_SAMPLES_PER_SCENE, **common),
    }


def batch_indices(step: int, dataset_size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Dataset indices of this process's share of the global batch of ``step``.

    Each epoch is a permutation drawn from a generator seeded by ``(seed, epoch)``; the
    global batch of ``batch_size * world`` consecutive entries is split by rank.
    """
    for name, value in (("step", step), ("seed", seed), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
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


SAMPLE_KEYS = ("ref_image", "src_images", "K", "T_world_ref", "T_world_srcs", "ref_depth")


def _check_sample(sample: Any, name: str) -> None:
    """A dataset sample or a collated batch: a dict of tensors with the dataset's keys and shapes."""
    if not isinstance(sample, dict):
        raise TypeError(f"{name} must be a dict of tensors, got {type(sample).__name__}")
    missing = [k for k in SAMPLE_KEYS if k not in sample]
    if missing:
        raise ValueError(f"{name} must have the keys {SAMPLE_KEYS}, missing {missing}")
    bad = [k for k in SAMPLE_KEYS if not isinstance(sample[k], Tensor)]
    if bad:
        raise TypeError(f"{name} entries must be tensors, got other types for {bad}")
    extra = sample["ref_image"].dim() - 3  # 0 for a sample, 1 for a batch
    want = {"ref_image": 3, "src_images": 4, "K": 2, "T_world_ref": 2, "T_world_srcs": 3, "ref_depth": 3}
    shapes = {k: tuple(sample[k].shape) for k in SAMPLE_KEYS}
    if extra not in (0, 1) or any(sample[k].dim() != d + extra for k, d in want.items()):
        raise ValueError(f"{name} must hold one sample or one batch of samples (see the dataset), got shapes {shapes}")
    lead = shapes["ref_image"][:extra]
    if (
        sample["ref_image"].shape[-3] != 3
        or sample["K"].shape[-2:] != (3, 3)
        or sample["T_world_ref"].shape[-2:] != (4, 4)
        or sample["T_world_srcs"].shape[-2:] != (4, 4)
        or any(shapes[k][:extra] != lead for k in SAMPLE_KEYS)
    ):
        raise ValueError(f"{name} must hold one sample or one batch of samples (see the dataset), got shapes {shapes}")


def flip_horizontal(sample: dict[str, Tensor]) -> dict[str, Tensor]:
    """Mirror a whole multi-view sample left-right, keeping its geometry exact (chapter 11).

    Mirroring the images is the same as mirroring the world and every camera frame with
    ``F = diag(-1, 1, 1)``: poses become ``F T F`` (still rotations, det +1), depth is
    unchanged, and the intrinsics become ``cx' = W - 1 - cx`` and ``s' = -s`` (pixel centres
    at integers: ``u' = W - 1 - u``).

    Args:
        sample: a dataset sample (``ref_image`` 3xHxW, ``src_images`` Nx3xHxW, ``K`` 3x3,
            ``T_world_ref`` 4x4, ``T_world_srcs`` Nx4x4, ``ref_depth`` 1xHxW), or a collated
            batch of them (each with a leading B).
    Returns:
        The mirrored sample (new tensors).
    """
    _check_sample(sample, "sample")
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
    return out


def jitter_photometric(sample: dict[str, Tensor], gain: float, offset: float) -> dict[str, Tensor]:
    """Apply ``clip(gain * rgb + offset, 0, 255)`` to every view of a sample alike (chapter 11)."""
    if not isinstance(sample, dict) or not all(isinstance(sample.get(k), Tensor) for k in ("ref_image", "src_images")):
        raise ValueError("sample must be a dict with 'ref_image' and 'src_images' tensors")
    gain = positive_float(gain, "gain")
    if not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number, got {offset!r}")
    out = dict(sample)
    for k in ("ref_image", "src_images"):
        out[k] = (sample[k] * gain + offset).clamp(0.0, 255.0)
    return out


def _augment(sample: dict[str, Tensor], cfg: TrainConfig, g: torch.Generator) -> dict[str, Tensor]:
    u = torch.rand(3, generator=g).tolist()
    if cfg.jitter:
        gain = JITTER_GAIN[0] + u[0] * (JITTER_GAIN[1] - JITTER_GAIN[0])
        offset = JITTER_OFFSET[0] + u[1] * (JITTER_OFFSET[1] - JITTER_OFFSET[0])
        sample = jitter_photometric(sample, gain, offset)
    if cfg.flip and u[2] < FLIP_PROBABILITY:
        sample = flip_horizontal(sample)
    return sample


def collate_samples(samples: list[dict[str, Tensor]], device: torch.device | str) -> dict[str, Tensor]:
    """Stack dataset samples into a batch (every entry gains a leading B) on ``device``."""
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError(f"samples must be a non-empty list of dataset samples, got {samples!r:.80}")
    for i, s in enumerate(samples):
        _check_sample(s, f"samples[{i}]")
        if s["ref_image"].dim() != 3:
            raise ValueError(
                f"samples[{i}] must be a single sample, got a batch of shape {tuple(s['ref_image'].shape)}"
            )
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available, got {device!r} on a machine without CUDA")
    shapes = {k: {tuple(s[k].shape) for s in samples} for k in SAMPLE_KEYS}
    differ = {k: sorted(v) for k, v in shapes.items() if len(v) > 1}
    if differ:
        raise ValueError(f"samples must all have the same shapes, got {differ}")
    return {k: torch.stack([s[k] for s in samples]).to(device) for k in samples[0]}


class StepBatches(torch.utils.data.Dataset):
    """Item ``k`` is the augmented CPU batch of training step ``first_step + k`` (a pure function of it).

    Wrapped in a ``DataLoader`` with workers, the batches of the next steps are loaded (and
    rendered, on a cold cache) in other processes while this one trains; the batches are the
    ones the loop would build itself, so the run does not change.
    """

    def __init__(self, train_set: SyntheticMultiViewDataset, cfg: TrainConfig, first_step: int, rank: int, world: int):
        self.train_set, self.cfg, self.first_step, self.rank, self.world = train_set, cfg, first_step, rank, world

    def __len__(self) -> int:
        return max(0, self.cfg.steps - self.first_step)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        step, cfg = self.first_step + k, self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + self.rank)
        idx = batch_indices(step, len(self.train_set), cfg.batch_size, cfg.seed, self.rank, self.world)
        return collate_samples([_augment(self.train_set[i], cfg, g) for i in idx], "cpu")


def step_batches(
    train_set: SyntheticMultiViewDataset, cfg: TrainConfig, first_step: int, rank: int = 0, world: int = 1
) -> torch.utils.data.DataLoader:
    """The batches of steps ``first_step ..`` in order, from ``cfg.num_workers`` processes (0: this one)."""
    workers = cfg.num_workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {workers!r}")
    # spawn, not fork: a forked child would inherit Open3D's ray-casting thread pool mid-state
    extra = {"multiprocessing_context": "spawn", "prefetch_factor": 2} if workers else {}
    return torch.utils.data.DataLoader(
        StepBatches(train_set, cfg, first_step, rank, world), batch_size=None, num_workers=workers, **extra
    )


def cost_volume_for_batch(
    batch: dict[str, Tensor], num_depths: int, image_only: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalised reference image, cost volume and inverse-depth planes of a batch.

    As in the original, the cost volume is built on the normalised images.

    Args:
        batch: collated samples (``ref_image`` Bx3xHxW, ``src_images`` BxNx3xHxW, ``K`` Bx3x3,
            ``T_world_ref`` Bx4x4, ``T_world_srcs`` BxNx4x4).
        num_depths: number of planes D.
        image_only: skip building the cost volume and return zeros (all an ``image_only`` network reads).
    Returns:
        ``(ref B x 3 x H x W, cost B x D x H x W, inv_depths D)``.
    """
    _check_sample(batch, "batch")
    num_depths = positive_int(num_depths, "num_depths")
    ref = normalize_image(batch["ref_image"])
    inv_depths = cv.inverse_depth_samples(num_depths).to(ref.device)
    if image_only:
        b, _, h, w = ref.shape
        return ref, ref.new_zeros(b, num_depths, h, w), inv_depths
    srcs = normalize_image(batch["src_images"])
    cost = cv.cost_volume_from_world_poses(
        ref, srcs, batch["K"], batch["T_world_ref"], batch["T_world_srcs"], inv_depths
    )
    return ref, cost, inv_depths


def batch_loss(
    model: torch.nn.Module,
    batch: dict[str, Tensor],
    num_depths: int,
    image_only: bool = False,
    smoothness_weight: float = 0.0,
    autocast_bf16: bool = False,
) -> Tensor:
    """The multi-scale inverse-depth L1 loss of ``model`` on a batch (invalid depth masked out).

    With ``smoothness_weight > 0``, plus that weight times GeoNet's edge-aware smoothness
    (:func:`mvdlib.losses.edge_aware_smoothness`) of the finest inverse depth, weighted by the
    reference image scaled to [0, 1] (chapter 13). With ``autocast_bf16`` the network's forward
    pass runs in bfloat16 (the cost volume and the loss stay float32).
    """
    ref, cost, _ = cost_volume_for_batch(batch, num_depths, image_only)
    depth = batch["ref_depth"]
    valid = torch.isfinite(depth) & (depth > 0)
    target = torch.where(valid, 1.0 / torch.where(valid, depth, torch.ones_like(depth)), torch.zeros_like(depth))
    with torch.autocast(ref.device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
        preds = [p.float() for p in model(ref, cost)]
    loss = multiscale_inverse_depth_l1(preds, target, valid)
    if smoothness_weight > 0:
        loss = loss + smoothness_weight * edge_aware_smoothness(preds[0], batch["ref_image"] / 255.0)
    return loss


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``: never a partial file."""
    atomic_write(path, lambda f: torch.save(obj, f))


def _model_config(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "width": cfg.model_width,
        "num_depths": cfg.num_depths,
        "align_corners": False,
        "input_size": [cfg.height, cfg.width],
        "image_only": cfg.image_only,
    }


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from its saved dict form (lists back to tuples)."""
    if not isinstance(d, dict):
        raise TypeError(f"d must be a dict of TrainConfig fields, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"d has unknown TrainConfig fields {unknown}")
    d = dict(d)
    if "lr_milestones" in d:
        if not isinstance(d["lr_milestones"], (list, tuple)):
            raise ValueError(f"lr_milestones must be a list of steps, got {d['lr_milestones']!r}")
        d["lr_milestones"] = tuple(d["lr_milestones"])
    return TrainConfig(**d)


@torch.no_grad()
def _validate(model: torch.nn.Module, dataset: SyntheticMultiViewDataset, cfg: TrainConfig, device) -> float:
    """Mean multi-scale inverse-depth L1 over ``dataset``: the data term only, comparable across smoothness weights."""
    model.eval()
    losses = []
    for start in range(0, len(dataset), cfg.batch_size):
        batch = collate_samples([dataset[i] for i in range(start, min(start + cfg.batch_size, len(dataset)))], device)
        losses.append(batch_loss(model, batch, cfg.num_depths, cfg.image_only).item())
    model.train()
    return sum(losses) / len(losses)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# Settings a resumed run takes from the caller: paths, bookkeeping, and how the same steps are
# computed (DataLoader workers give the same batches; bfloat16 autocast rounds the forward pass
# differently, ~1 % on the loss, so a run resumed with it is recorded by its command chain);
# every other setting must equal the checkpoint's, since changing it would make the run a different one.
RESUMABLE_CHANGES = ("steps", "out", "cache_dir", "val_every", "ckpt_every", "num_workers", "autocast_bf16")


def _resumed_config(cfg: TrainConfig, saved: dict[str, Any]) -> TrainConfig:
    """``cfg`` checked against a checkpoint's ``train_config``: only ``RESUMABLE_CHANGES`` may differ."""
    old = dataclasses.asdict(config_from_dict(saved))
    new = dataclasses.asdict(cfg)
    differ = {k: (old[k], new[k]) for k in old if k not in RESUMABLE_CHANGES and old[k] != new[k]}
    if differ:
        detail = ", ".join(f"{k}: checkpoint {a!r}, given {b!r}" for k, (a, b) in differ.items())
        raise ValueError(
            f"cannot resume {cfg.out} with changed settings ({detail}); only {RESUMABLE_CHANGES} may change. "
            "Start a new run (another out, or init= to start from these weights) instead"
        )
    return cfg


# Elements of one tensor operation large enough to run on every intra-op thread (ATen's grain
# size is 32768 elements per thread).
THREAD_POOL_WARMUP = 1 << 20


def _set_flush_denormal(on: bool) -> bool:
    """``torch.set_flush_denormal(on)`` on every intra-op thread; False where the CPU cannot.

    The denormal mode is a per-thread CPU flag: ``set_flush_denormal`` reaches the intra-op
    threads that exist, and a thread started later copies its creator's flag and keeps it
    after a reset. So the threads are started first; else training in a fresh process would
    leave them flushing denormals after the reset while the main thread does not.
    """
    torch.ones(THREAD_POOL_WARMUP).add_(1.0)
    return torch.set_flush_denormal(on)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, command: str = "") -> dict[str, Any]:
    """Run (or continue) a training run; returns the final checkpoint dict.

    Reproducible: on CPU a seeded run gives bit-identical weights run after run. The setting
    that gives bit-identity is ``torch.set_flush_denormal(True)``, which this function sets for
    the run (and restores afterwards), at the default thread count: in issue 17, eight seeded
    2-thread runs without it gave three different loss histories (the weights first differing
    after the first optimizer step, on tiny Adam moments), and 18 of 18 agreed with it; one
    thread (``OMP_NUM_THREADS=1``) also agreed, 8 of 8. tests/test_robustness.py repeats runs.

    Args:
        cfg: the run's configuration; ``cfg.out`` is the checkpoint path.
        resume: continue from ``cfg.out`` if it exists. ``cfg`` must equal the configuration
            saved in it except for ``RESUMABLE_CHANGES`` (``steps``, the total to reach,
            the paths ``out`` and ``cache_dir``, how often to validate and save, and how the
            steps are computed: ``num_workers``, ``autocast_bf16``), which are taken from
            ``cfg``; any other difference is refused with a ``ValueError``.
        progress: show a tqdm bar with the running loss (rank 0 only).
        command: the command line, recorded in the checkpoint for provenance.
    Returns:
        The checkpoint dict (``model``, ``optimizer``, ``step``, ``config``, ``train_config``,
        ``history``, ``rng``, ``wall_time_s``, ``device``, ``cpu_threads``, ``command``).
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank, world = 0, 1
    device = default_device()
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    flush_denormal = device.type == "cpu" and _set_flush_denormal(True)
    try:
        return _train(cfg, resume, progress, command, rank, world, device)
    finally:
        if flush_denormal:
            _set_flush_denormal(False)
        if distributed:
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, resume: bool, progress: bool, command: str, rank: int, world: int, device: torch.device
) -> dict[str, Any]:
    ckpt = None
    if resume and Path(cfg.out).exists():
        ckpt = read_checkpoint(cfg.out)
        cfg = _resumed_config(cfg, ckpt["train_config"])
    if rank == 0:
        check_writable_folder(cfg.out, "out")
        remove_stale_temporaries(cfg.out)
    seed_everything(cfg.seed)
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width), image_only=cfg.image_only)
    # channels_last: oneDNN's convolutions on the CPU run a fifth faster on NHWC (benchmarks/training.py)
    model = model.to(device, memory_format=torch.channels_last if device.type == "cpu" else torch.contiguous_format)
    if cfg.init is not None and ckpt is None:
        model.load_state_dict(load_pretrained(cfg.init).state_dict())  # shapes checked: a clear error
    # fused: one kernel updates every parameter (the for-each loop costs a tenth of a CPU step)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    step, wall, history = 0, 0.0, {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, wall, history = ckpt["step"], ckpt["wall_time_s"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"])
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    data = build_datasets(cfg)
    train_set = data["train"]
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not progress or rank != 0, dynamic_ncols=True)
    running = history["train_loss"][-1] if history["train_loss"] else None
    t0 = time.perf_counter()
    net.train()

    def checkpoint() -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": _model_config(cfg),
            "train_config": dataclasses.asdict(cfg),
            "history": history,
            "rng": torch.get_rng_state(),
            "wall_time_s": wall + time.perf_counter() - t0,
            "device": str(device) + (f" x{world}" if world > 1 else ""),
            "cpu_threads": torch.get_num_threads(),
            "command": command if ckpt is None else ckpt["command"] + (f" && {command} (resumed)" if command else ""),
        }

    batches = iter(step_batches(train_set, cfg, step, rank, world))
    while step < cfg.steps:
        lr = cfg.lr * LR_DECAY ** sum(step >= m for m in cfg.lr_milestones)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = {k: v.to(device) for k, v in next(batches).items()}
        loss = batch_loss(net, batch, cfg.num_depths, cfg.image_only, cfg.smoothness_weight, cfg.autocast_bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        history["step"].append(step)
        history["train_loss"].append(running)
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.1e}")
        if step % cfg.val_every == 0 or step == cfg.steps:
            val = _validate(model, data["val"], cfg, device)
            history["val_step"].append(step)
            history["val_loss"].append(val)
            if rank == 0:
                bar.write(f"step {step}: running train loss {running:.4f}, val loss {val:.4f}")
        if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            save_atomic(checkpoint(), cfg.out)
    bar.close()
    return checkpoint()


FLOAT16_MAX = float(torch.finfo(torch.float16).max)


def half_precision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float16 copy of a state dict that exported checkpoints store (integer buffers unchanged).

    Raises:
        ValueError: a floating entry is non-finite or beyond float16's range (65504), naming it.
    """
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise TypeError(f"state must be a dict of tensors (a state dict), got {type(state).__name__}")
    for k, v in state.items():
        if v.is_floating_point() and v.numel():
            if not torch.isfinite(v).all():
                raise ValueError(f"state[{k!r}] must be finite to be stored as float16, got NaN or inf")
            if v.abs().max() > FLOAT16_MAX:
                raise ValueError(
                    f"state[{k!r}] must lie within float16's range +-{FLOAT16_MAX:.0f}, got |max| {v.abs().max():.4g}"
                )
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


# Training-loss points kept in a provenance file (the validation points are all kept).
PROVENANCE_HISTORY_POINTS = 500


def thin_history(history: dict[str, list], points: int = PROVENANCE_HISTORY_POINTS) -> dict[str, list]:
    """The training history with the running train loss at most ``points`` evenly spaced steps (the last kept)."""
    if not isinstance(history, dict) or not {"step", "train_loss"} <= set(history):
        raise ValueError(f"history must be a dict with 'step' and 'train_loss' lists, got {history!r:.80}")
    points = positive_int(points, "points")
    n = len(history["step"])
    if len(history["train_loss"]) != n:
        raise ValueError(f"history['train_loss'] must have one entry per step ({n}), got {len(history['train_loss'])}")
    every = max(1, -(-n // points))  # ceil(n / points)
    keep = sorted(set(range(n - 1, -1, -every)))
    return {
        **history,
        "step": [history["step"][i] for i in keep],
        "train_loss": [history["train_loss"][i] for i in keep],
    }


def _init_provenance(init: str | None) -> dict[str, Any] | None:
    """What a fine-tuning run started from: the file's sha256 and the provenance JSON beside it, if any.

    Exporting may overwrite the very file the run started from (``data/mvdepthnet_cpu.pt``), so
    the starting point's own provenance is copied into the new one, history thinned to its
    validation points.
    """
    if init is None:
        return None
    path = Path(init)
    if not path.is_file():
        raise ValueError(f"init checkpoint {init!r} is gone: export while the file the run started from exists")
    record: dict[str, Any] = {"path": init, "sha256": sha256_of(path)}
    beside = path.with_suffix(".json")
    if beside.is_file():
        earlier = json.loads(beside.read_text())
        earlier["history"] = {k: v for k, v in earlier.get("history", {}).items() if k.startswith("val_")}
        record["provenance"] = earlier
    return record


def export_checkpoint(ckpt: dict[str, Any], path: str | Path, test_metrics: dict[str, Any], command: str) -> None:
    """Write a small inference checkpoint (float16 weights) and its provenance JSON beside it.

    Args:
        ckpt: a training checkpoint (see :func:`train`).
        path: the ``.pt`` file to write; the provenance goes to ``path`` with ``.json``.
        test_metrics: the metrics tables to record (from ``mvdlib.evaluate``, of the float16 weights).
        command: the command that evaluated and exported the checkpoint.
    """
    path = Path(path)
    cfg = ckpt["train_config"]
    start = _init_provenance(cfg.get("init"))  # before writing: the run may have started from ``path`` itself
    save_atomic({"model": half_precision(ckpt["model"]), "config": ckpt["config"]}, path)
    provenance = {
        "checkpoint": path.name,
        "sha256": sha256_of(path),  # checked on load (mvdlib._io.verify_sha256)
        "train_command": ckpt["command"],
        "export_command": command,
        "seed": cfg["seed"],
        "steps": ckpt["step"],
        "planned_steps": cfg["steps"],  # larger than "steps" when the run was stopped early
        "wall_time_s": round(ckpt["wall_time_s"], 1),
        "device": ckpt["device"],
        "cpu_threads": ckpt.get("cpu_threads", torch.get_num_threads()),  # the training run's
        "torch": torch.__version__,
        "git_commit": _git_commit(),
        "train_config": cfg,
        "model_config": ckpt["config"],
        "weights_dtype": "float16 (converted to float32 on load)",
        "final_val_loss": ckpt["history"]["val_loss"][-1] if ckpt["history"]["val_loss"] else None,
        "init_checkpoint": start,
        "history": thin_history(ckpt["history"]),
        "test_metrics": test_metrics,
    }
    save_text_atomic(json.dumps(provenance, indent=1) + "\n", path.with_suffix(".json"))


def save_text_atomic(text: str, path: str | Path) -> None:
    """Write a text file atomically (:func:`mvdlib._io.atomic_write`)."""
    atomic_write(path, lambda f: f.write(text.encode()))


def _bool_flag(text: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true/false (or 1/0, yes/no), got {text!r}")
    return words[text.lower()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mvdlib.train", description="Train MVDepthNet on synthetic multi-view scenes."
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="base configuration (default: cpu)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, type=_bool_flag, default=None, metavar="BOOL")
        elif f.name == "lr_milestones":
            p.add_argument(flag, type=int, nargs="*", default=None)
        else:
            kind = {"float": float, "int": int}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=None)
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point (``python -m mvdlib.train``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None
    }
    base = {**dataclasses.asdict(TrainConfig()), **PRESETS[args.preset or "cpu"]}
    out = given.get("out", base["out"])
    try:
        saved = read_checkpoint(out)["train_config"] if args.resume and Path(out).exists() else None
        if saved is not None:  # resuming: the checkpoint's settings, then those given here
            base = {**saved, **(PRESETS[args.preset] if args.preset else {}), "out": out, "cache_dir": None}
        cfg = config_from_dict({**base, **given})  # paths (out, cache_dir) come from the command line only
        if cfg.steps < 1:
            raise ValueError(f"steps must be at least 1, got {cfg.steps}")
        if saved is not None:
            _resumed_config(cfg, saved)
        check_writable_folder(cfg.out, "out")
    except ValueError as err:
        parser.error(str(err))
    command = "python -m mvdlib.train " + " ".join(sys.argv[1:] if argv is None else argv)
    return train(cfg, resume=args.resume, progress=not args.no_progress, command=command)


if __name__ == "__main__":
    main()
