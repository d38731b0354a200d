"""The configuration of a training run of MVDepthNet and its presets (chapter 11).

A :class:`TrainConfig` holds every setting that determines a run; it is checked when it is
built, so a bad run fails before it starts, and saved in every checkpoint, so a run can be
resumed (only ``RESUMABLE_CHANGES`` may differ) and its provenance recorded.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from mvdlib._validation import check_int, positive_float, positive_int
from mvdlib.conventions import check_seed
from mvdlib.data.synthetic import SCENES_PER_SPLIT
from mvdlib.data.trajectory import CAMERA_ATTEMPTS
from mvdlib.models.checkpoint import MAX_WIDTH
from mvdlib.models.mvdepthnet import DECODER_CHANNELS, ENCODER_CHANNELS, RESOLUTION_MULTIPLE

__all__ = ["MIN_MODEL_WIDTH", "PRESETS", "RESUMABLE_CHANGES", "TrainConfig", "config_from_dict"]

# The narrowest network trained: its narrowest layer (64 channels at width 1) keeps one channel of
# its own; below, layers would be clamped to one channel each and no longer scale with the width.
# The widest is the one a checkpoint may hold (mvdlib.models.checkpoint.MAX_WIDTH, the paper's).
MIN_MODEL_WIDTH = 1 / min(ENCODER_CHANNELS + DECODER_CHANNELS)

# Settings checked by kind in TrainConfig.__post_init__.
_POSITIVE_INTS = (
    "num_depths",
    "num_sources",
    "batch_size",
    "train_scenes",
    "samples_per_scene",
    "val_scenes",
    "test_scenes",
    "val_every",
    "ckpt_every",
)
_NON_NEGATIVE_INTS = ("steps", "num_workers")
# Upper bounds of counts, with what sets them: a split's scenes are seeded from a range of
# SCENES_PER_SPLIT seeds (more would reuse the next split's scenes: training on the test set),
# and sample_trajectory places the sources of a reference view in CAMERA_ATTEMPTS tries.
_MAXIMA = {
    "train_scenes": (SCENES_PER_SPLIT, "the seeds of one split; more would reuse another split's scenes"),
    "val_scenes": (SCENES_PER_SPLIT, "the seeds of one split; more would reuse another split's scenes"),
    "test_scenes": (SCENES_PER_SPLIT, "the seeds of one split; more would reuse another split's scenes"),
    "num_sources": (CAMERA_ATTEMPTS, "the camera placements sample_trajectory tries per reference view"),
}
_POSITIVE_FLOATS = ("lr",)
_SWITCHES = ("flip", "jitter", "image_only", "autocast_bf16")
_OPTIONAL_PATHS = ("init", "cache_dir")


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint).

    Example:
        >>> TrainConfig(steps=10).lr_milestones
        (4000, 5200)
    """

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
    # moves by about 1% (tests/test_training_loop.py). Off by default, so runs repeat the committed ones.
    autocast_bf16: bool = False

    def __post_init__(self) -> None:
        """Check every setting at construction, so a bad run fails before it starts."""
        for name in _POSITIVE_INTS:
            positive_int(getattr(self, name), name)
        check_int(self.num_depths, "num_depths", min=2)  # a sweep has two ends
        for name, (most, why) in _MAXIMA.items():
            if getattr(self, name) > most:
                raise ValueError(f"{name} must be at most {most} ({why}), got {getattr(self, name)}")
        for name in _NON_NEGATIVE_INTS:
            check_int(getattr(self, name), name, min=0)
        for name in ("height", "width"):
            if positive_int(getattr(self, name), name) % RESOLUTION_MULTIPLE:
                raise ValueError(f"{name} must be a multiple of {RESOLUTION_MULTIPLE}, got {getattr(self, name)}")
        check_seed(self.seed, "seed")
        for name in _POSITIVE_FLOATS:
            positive_float(getattr(self, name), name)
        width = self.model_width
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not MIN_MODEL_WIDTH <= width <= MAX_WIDTH:
            raise ValueError(
                f"model_width must be in [{MIN_MODEL_WIDTH:g}, {MAX_WIDTH:g}] (at {MIN_MODEL_WIDTH:g} the narrowest "
                f"layer keeps one channel; {MAX_WIDTH:g} is the paper's network, the widest a checkpoint may hold), "
                f"got {width!r}"
            )
        if not isinstance(self.smoothness_weight, (int, float)) or not 0 <= self.smoothness_weight < math.inf:
            raise ValueError(f"smoothness_weight must be a finite number >= 0, got {self.smoothness_weight!r}")
        if not isinstance(self.lr_milestones, (tuple, list)):
            raise ValueError(f"lr_milestones must be positive integers, got {self.lr_milestones!r}")
        for milestone in self.lr_milestones:
            positive_int(milestone, "lr_milestones")
        if any(b <= a for a, b in zip(self.lr_milestones, self.lr_milestones[1:], strict=False)):
            raise ValueError(f"lr_milestones must be strictly increasing steps, got {list(self.lr_milestones)}")
        for name in _SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.out, str) or not self.out:
            raise ValueError(f"out must be a file path, got {self.out!r}")
        for name in _OPTIONAL_PATHS:
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


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from its saved dict form (lists back to tuples).

    Example:
        >>> config_from_dict({"steps": 3, "lr_milestones": [2]}).lr_milestones
        (2,)
    """
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


# Settings a resumed run takes from the caller: paths, bookkeeping, and how the same steps are
# computed (DataLoader workers give the same batches; bfloat16 autocast rounds the forward pass
# differently, ~1 % on the loss, so a run resumed with it is recorded by its command chain);
# every other setting must equal the checkpoint's, since changing it would make the run a different one.
RESUMABLE_CHANGES = ("steps", "out", "cache_dir", "val_every", "ckpt_every", "num_workers", "autocast_bf16")


def _saved_train_config(ckpt: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The ``train_config`` of a training checkpoint read from ``path``, to resume it.

    Raises:
        ValueError: the checkpoint has none: it is an exported one (``--export``), which keeps
            the weights only; ``--init`` starts a new run from them.
    """
    saved = ckpt.get("train_config")
    if not isinstance(saved, dict):
        raise ValueError(
            f"out {path} is an exported checkpoint, not a training checkpoint (it holds no train_config), so a run "
            f"cannot resume it; use --init {path} with a new --out to start from its weights"
        )
    return saved


def _check_resume_steps(done: int, steps: int, out: str | Path) -> None:
    """Refuse to resume a checkpoint already ``done`` steps in with fewer total ``steps``: it cannot go back."""
    if done > steps:
        raise ValueError(
            f"checkpoint {out} is already at step {done}, beyond the --steps {steps} asked for: give --steps above "
            f"{done} to continue it, or another --out for a new run"
        )


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


def _model_config(cfg: TrainConfig) -> dict[str, Any]:
    """The network's part of a configuration, as checkpoints store it (``config``)."""
    return {
        "width": cfg.model_width,
        "num_depths": cfg.num_depths,
        "align_corners": False,
        "input_size": [cfg.height, cfg.width],
        "image_only": cfg.image_only,
    }
