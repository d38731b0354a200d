"""Tests of mvdlib.training.export: atomic saves, the float16 export and its provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_training import tiny_config

from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.models.mvdepthnet import load_pretrained
from mvdlib.training import export
from mvdlib.training.export import export_checkpoint, half_precision, save_atomic, save_text_atomic, thin_history
from mvdlib.training.loop import train


def test_save_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_atomic({"step": 1}, path)

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"step": 2}, path)
    assert read_checkpoint(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_save_text_atomic_writes_the_text(tmp_path):
    save_text_atomic("{}\n", tmp_path / "sub" / "p.json")
    assert (tmp_path / "sub" / "p.json").read_text() == "{}\n"


def test_half_precision_refuses_what_float16_cannot_hold():
    half = half_precision({"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)})
    assert half["w"].dtype == torch.float16 and half["n"].dtype == torch.int64
    with pytest.raises(ValueError, match="w.*float16"):
        half_precision({"w": torch.tensor([1e6])})
    with pytest.raises(ValueError, match="finite"):
        half_precision({"w": torch.tensor([float("nan")])})


def test_thin_history_keeps_few_evenly_spaced_points_and_the_last():
    history = {"step": list(range(1, 6001)), "train_loss": [1.0 / s for s in range(1, 6001)],
               "val_step": [250, 500], "val_loss": [0.5, 0.4]}  # fmt: skip
    thin = thin_history(history, points=500)
    assert len(thin["step"]) <= 500 and thin["step"][-1] == 6000
    assert thin["train_loss"] == [1.0 / s for s in thin["step"]]
    assert set(np.diff(thin["step"])) == {12}
    assert thin["val_step"] == history["val_step"] and thin["val_loss"] == history["val_loss"]
    assert thin_history(history, points=10_000) == history


def test_export_writes_float16_weights_and_provenance_that_load_checks(tmp_path, cache):
    ckpt = train(tiny_config(tmp_path / "a", cache, steps=1), progress=False, command="python -m mvdlib.train a")
    exported = tmp_path / "net.pt"
    export_checkpoint(ckpt, exported, {"m": 1}, "python -m mvdlib.evaluate --export net.pt")
    p = json.loads(exported.with_suffix(".json").read_text())
    assert p["train_command"] == "python -m mvdlib.train a" and p["test_metrics"] == {"m": 1}
    assert p["steps"] == 1 and p["init_checkpoint"] is None
    assert all(v.dtype == torch.float16 for v in read_checkpoint(exported)["model"].values() if v.is_floating_point())
    load_pretrained(exported)  # the sha256 recorded matches


def test_export_of_a_fine_tuned_run_over_its_starting_file_keeps_the_start_s_provenance(tmp_path, cache):
    """Exporting over the file a run started from (data/mvdepthnet_cpu.pt) records the old
    file's hash and provenance, read before the new one replaces them."""
    first = train(tiny_config(tmp_path / "a", cache, steps=2), progress=False, command="python -m mvdlib.train a")
    exported = tmp_path / "net.pt"
    export_checkpoint(first, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    old_hash = json.loads(exported.with_suffix(".json").read_text())["sha256"]
    tuned = train(tiny_config(tmp_path / "b", cache, steps=2, init=str(exported)), progress=False)
    export_checkpoint(tuned, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    p = json.loads(exported.with_suffix(".json").read_text())
    assert p["sha256"] != old_hash
    assert p["init_checkpoint"]["sha256"] == old_hash
    assert p["init_checkpoint"]["provenance"]["train_command"] == first["command"]
    assert p["cpu_threads"] == first["cpu_threads"] == torch.get_num_threads()


def test_half_precision_names_the_weight_float16_cannot_hold_and_keeps_integers():
    with pytest.raises(ValueError, match="w.*float16"):
        half_precision({"w": torch.tensor([1.0, 1e6]), "n": torch.tensor(3)})
    assert half_precision({"w": torch.tensor([1.0, 2.0])})["w"].dtype == torch.float16


def test_thin_history_refuses_zero_points():
    with pytest.raises(ValueError, match="points"):
        thin_history({"step": [1, 2], "train_loss": [0.1, 0.2]}, points=0)


def test_an_export_killed_between_the_file_and_its_json_leaves_loadable_new_weights(tmp_path, cache, monkeypatch):
    """The new file vouches for itself (its stored digest); the old JSON beside it is reported stale."""
    first = train(tiny_config(tmp_path / "a", cache, steps=1), progress=False, command="python -m mvdlib.train a")
    exported = tmp_path / "net.pt"
    export_checkpoint(first, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    second = train(tiny_config(tmp_path / "b", cache, steps=2), progress=False, command="python -m mvdlib.train b")

    def killed(text, path):
        raise KeyboardInterrupt  # the process dies before the JSON is written

    monkeypatch.setattr(export, "save_text_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        export_checkpoint(second, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    with pytest.warns(UserWarning, match="stale"):
        model = load_pretrained(exported)
    expected = {k: v.half().float() for k, v in second["model"].items() if v.is_floating_point()}
    for k, v in model.state_dict().items():
        if k in expected:
            torch.testing.assert_close(v, expected[k])
