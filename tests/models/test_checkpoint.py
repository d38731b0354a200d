"""Tests of mvdlib/models/checkpoint.py: reading checkpoint files, their config and their weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mvdlib.models.checkpoint import (
    CONFIG_KEYS,
    DEFAULT_CHECKPOINT,
    IMAGE_ONLY_CHECKPOINT,
    checked_config,
    checkpoint_state,
    load_weights,
    read_checkpoint,
)


def test_the_committed_checkpoints_read_as_dicts_with_a_known_config():
    for path in (DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT):
        ckpt = read_checkpoint(path)
        assert set(ckpt["config"]) <= set(CONFIG_KEYS)
        assert checkpoint_state(ckpt, Path(path))


def test_read_checkpoint_errors(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or Path"):
        read_checkpoint(3)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="truncated, corrupt"):
        read_checkpoint(tmp_path / "junk.pt")


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ([], "config must be a dict"),
        ({"depth": 3}, "unknown keys"),
        ({"width": 2.0}, "width"),
        ({"num_depths": True}, "num_depths"),
        ({"input_size": [32]}, "input_size"),
        ({"image_only": 1}, "image_only"),
    ],
)
def test_checked_config_refuses_before_anything_is_built(config, match):
    with pytest.raises(ValueError, match=match):
        checked_config(config, Path("x.pt"))


def test_checkpoint_state_strips_data_parallel_prefixes_and_refuses_non_finite_weights():
    state = checkpoint_state({"state_dict": {"module.w": torch.ones(2)}}, Path("x.pt"))
    assert list(state) == ["w"]
    with pytest.raises(ValueError, match="finite"):
        checkpoint_state({"model": {"w": torch.tensor([float("nan")])}}, Path("x.pt"))
    with pytest.raises(ValueError, match="'model' or 'state_dict'"):
        checkpoint_state({"weights": {}}, Path("x.pt"))


def test_load_weights_lists_what_does_not_fit():
    model = nn.Linear(2, 3)
    with pytest.raises(ValueError, match=r"does not match Linear.*missing \['bias'\].*wrong shapes"):
        load_weights(model, {"weight": torch.zeros(2, 2)}, Path("x.pt"))
    load_weights(model, {"weight": torch.ones(3, 2).half(), "bias": torch.zeros(3)}, Path("x.pt"))
    assert model.weight.dtype == torch.float32 and bool((model.weight == 1).all())
