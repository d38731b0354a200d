"""A training configuration small enough for the tests (seconds on two cores), shared by the test files
of mvdlib.training (tests/test_training_*.py, tests/test_evaluate.py)."""

from __future__ import annotations

from pathlib import Path

from mvdlib.training.config import TrainConfig


def tiny_config(tmp_path: Path, cache: Path, **kw) -> TrainConfig:
    base = {
        "model_width": 0.125,
        "height": 32,
        "width": 64,
        "num_depths": 16,
        "batch_size": 2,
        "steps": 4,
        "lr": 1e-3,
        "lr_milestones": (3,),
        "train_scenes": 2,
        "samples_per_scene": 2,
        "val_scenes": 1,
        "test_scenes": 1,
        "val_every": 2,
        "ckpt_every": 1,
        "out": str(tmp_path / "run.pt"),
        "cache_dir": str(cache),
    }
    return TrainConfig(**{**base, **kw})
