"""Tests of mvdlib/models/checkpoint.py: reading checkpoint files, their config and their weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mvdlib.models.checkpoint import (
    CONFIG_KEYS,
    DEFAULT_CHECKPOINT,
    IMAGE_ONLY_CHECKPOINT,
    WEIGHTS_DIGEST_KEY,
    checked_config,
    checkpoint_state,
    load_weights,
    read_checkpoint,
    weights_digest,
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


# ---- a checkpoint vouches for itself ---------------------------------------------------------


def _saved(tmp_path, name="m.pt", value=1.5):
    from mvdlib.training.export import save_atomic

    path = tmp_path / name
    save_atomic({"model": {"w": torch.full((64,), value), "n": torch.tensor(3)}, "config": {"width": 0.5}}, path)
    return path


def test_a_saved_checkpoint_carries_the_digest_of_its_weights(tmp_path):
    path = _saved(tmp_path)
    ckpt = read_checkpoint(path)
    assert ckpt[WEIGHTS_DIGEST_KEY] == weights_digest(ckpt)
    assert weights_digest({**ckpt, "model": {**ckpt["model"], "w": ckpt["model"]["w"] + 1}}) != ckpt[WEIGHTS_DIGEST_KEY]
    assert weights_digest({**ckpt, "config": {"width": 0.25}}) != ckpt[WEIGHTS_DIGEST_KEY]


def test_a_damaged_checkpoint_without_its_json_is_refused(tmp_path):
    path = _saved(tmp_path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["w"][3] = 2.5  # the weights changed, the recorded digest did not
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="damaged.*digest"):
        read_checkpoint(path)
    raw = _saved(tmp_path, "raw.pt").read_bytes()
    one = torch.tensor(1.5).numpy().tobytes()
    (tmp_path / "raw.pt").write_bytes(raw.replace(one * 2, torch.tensor(2.5).numpy().tobytes() + one, 1))
    with pytest.raises(ValueError, match="damaged|corrupt"):
        read_checkpoint(tmp_path / "raw.pt")


@pytest.mark.parametrize("recorded", [None, 12345, "abc"])
def test_a_json_with_a_missing_or_malformed_sha256_is_refused_clearly(tmp_path, recorded):
    path = _saved(tmp_path)
    path.with_suffix(".json").write_text(json.dumps({"checkpoint": "m.pt", "sha256": recorded}))
    with pytest.raises(ValueError, match=r"m\.json.*sha256.*64 hex digits"):
        read_checkpoint(path)


@pytest.mark.parametrize("text", ['{"lr": 0.1}', "[1, 2]", "not json at all", ""])
def test_an_unrelated_json_beside_the_file_does_not_refuse_it(tmp_path, text):
    path = _saved(tmp_path)
    path.with_suffix(".json").write_text(text)
    assert read_checkpoint(path)["model"]["n"] == 3


def test_new_weights_with_the_old_json_load_with_a_warning(tmp_path):
    """An export killed between writing the file and its JSON: the file's own digest vouches for it."""
    from mvdlib._io import sha256_of

    path = _saved(tmp_path)
    path.with_suffix(".json").write_text(json.dumps({"checkpoint": "m.pt", "sha256": sha256_of(path)}))
    _saved(tmp_path, value=0.5)  # the new file; its JSON was not written
    with pytest.warns(UserWarning, match="stale"):
        ckpt = read_checkpoint(path)
    assert float(ckpt["model"]["w"][0]) == 0.5


def test_an_old_file_without_a_digest_is_still_checked_against_its_json(tmp_path):
    from mvdlib._io import sha256_of

    path = tmp_path / "old.pt"
    torch.save({"model": {"w": torch.ones(3)}}, path)
    path.with_suffix(".json").write_text(json.dumps({"sha256": sha256_of(path)}))
    assert "w" in read_checkpoint(path)["model"]
    torch.save({"model": {"w": torch.zeros(3)}}, path)
    with pytest.raises(ValueError, match="damaged"):
        read_checkpoint(path)
