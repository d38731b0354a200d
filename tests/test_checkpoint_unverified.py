"""A checkpoint that nothing can vouch for (no digest inside, no sha256 beside) loads only with a warning."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT, UnverifiedCheckpointWarning, read_checkpoint
from mvdlib.training.export import save_atomic


def _damaged_copy_of_the_committed_checkpoint(tmp_path):
    """The committed checkpoint with one weight changed, re-saved without a digest, its JSON left behind."""
    ckpt = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    ckpt["model"]["conv1.0.weight"][0, 0, 0, 0] += 1.0
    path = tmp_path / DEFAULT_CHECKPOINT.name
    torch.save(ckpt, path)
    return path


def test_a_damaged_copy_of_the_committed_checkpoint_without_its_json_warns(tmp_path):
    path = _damaged_copy_of_the_committed_checkpoint(tmp_path)
    with pytest.warns(UnverifiedCheckpointWarning, match=rf"{path.name}.*cannot be verified"):
        read_checkpoint(path)


def test_verified_checkpoints_load_without_that_warning(tmp_path):
    copy = tmp_path / "copy.pt"
    shutil.copy(DEFAULT_CHECKPOINT, copy)
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), copy.with_suffix(".json"))  # verified by its JSON's sha256
    saved = tmp_path / "saved.pt"
    save_atomic({"model": {"w": torch.ones(2)}, "config": {}}, saved)  # verified by its own digest
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedCheckpointWarning)
        read_checkpoint(DEFAULT_CHECKPOINT)
        read_checkpoint(copy)
        read_checkpoint(saved)


def test_the_committed_files_match_every_sha256_that_pins_them():
    """Each committed checkpoint equals the sha256 of its provenance JSON and (the default one) of the
    capture's provenance ``data/ten_views.json``, which also pins the capture; both load unwarned."""
    import hashlib
    import json

    from mvdlib.capture import DEFAULT_CAPTURE, load_capture
    from mvdlib.models.checkpoint import IMAGE_ONLY_CHECKPOINT
    from mvdlib.models.mvdepthnet import load_pretrained

    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT)}
    for path, sha in digest.items():
        assert json.loads(path.with_suffix(".json").read_text())["sha256"] == sha, path.name
    capture = json.loads(DEFAULT_CAPTURE.with_suffix(".json").read_text())
    assert capture["model_sha256"] == digest[DEFAULT_CHECKPOINT]
    assert capture["sha256"] == hashlib.sha256(DEFAULT_CAPTURE.read_bytes()).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedCheckpointWarning)
        for path in digest:
            load_pretrained(path)
        load_capture()
