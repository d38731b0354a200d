"""Tests of mvdlib.capture: storage round trips, camera layout, and the committed capture."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import mvdlib.capture
from mvdlib.capture import (
    DEFAULT_CAPTURE,
    INV_DEPTH_QUANTUM,
    SCENE_SEED,
    capture,
    decode_inverse_depth,
    encode_inverse_depth,
    load_capture,
    save_capture,
    sweep_cameras,
)
from mvdlib.data.scene import SyntheticScene
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.metrics import precision_recall_fscore
from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT
from mvdlib.pointcloud import depth_to_points
from mvdlib.training.config import PRESETS, TrainConfig


def test_inverse_depth_code_round_trip_within_its_quantum():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.25, 50.0, (20, 30)).astype(np.float32)
    depth[0, :5] = 0.0
    back = decode_inverse_depth(encode_inverse_depth(depth))
    assert (back[0, :5] == 0).all() and (back[1:] > 0).all()
    err_inv = np.abs(1 / back[1:] - 1 / depth[1:])
    assert err_inv.max() <= INV_DEPTH_QUANTUM / 2 + 1e-7
    with pytest.raises(ValueError, match="at least"):
        encode_inverse_depth(np.full((2, 2), 0.1))


def test_sweep_cameras_look_at_the_room_from_free_space():
    scene = SyntheticScene(7)
    refs, srcs = sweep_cameras(scene, num_views=4, num_sources=3, seed=1)
    assert refs.shape == (4, 4, 4) and srcs.shape == (4, 3, 4, 4)
    offsets = np.linalg.norm(srcs[:, :, :3, 3] - refs[:, None, :3, 3], axis=-1)
    assert (offsets >= 0.1 - 1e-9).all() and (offsets <= 0.25 + 1e-9).all()
    for T in refs:
        assert scene.segment_is_free(T[:3, 3], T[:3, 3] + 0.3 * T[:3, 2])  # nothing right in front
        np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-9)


def test_small_capture_survives_save_and_load(tmp_path):
    data = capture(num_views=2, num_sources=1, height=24, width=32, gt_points_per_m2=300)
    back = load_capture(save_capture(tmp_path / "c.npz", data))
    np.testing.assert_array_equal(back["rgb"], data["rgb"])
    for m, maps in data["depth"].items():
        valid = maps > 0
        np.testing.assert_array_equal(back["depth"][m] > 0, valid)
        np.testing.assert_allclose(back["depth"][m][valid], maps[valid], rtol=1e-3)
    np.testing.assert_allclose(back["gt_points"], data["gt_points"], atol=0.5e-3 + 1e-6)  # stored in mm
    assert back["provenance"]["scene_seed"] == data["provenance"]["scene_seed"]


@pytest.mark.skipif(not DEFAULT_CAPTURE.is_file(), reason="data/ten_views.npz not generated yet")
def test_committed_capture_ground_truth_depth_lies_on_the_ground_truth_points():
    data = load_capture()
    v = len(data["T_world_refs"])
    assert data["rgb"].shape[0] == v and data["T_world_srcs"].shape[:2] == (v, data["provenance"]["num_sources"])
    for view in (0, v - 1):
        points, _ = depth_to_points(data["depth"]["gt"][view], data["K"], data["T_world_refs"][view])
        sample = points[:: max(1, len(points) // 5000)]
        precision, _, _ = precision_recall_fscore(sample, data["gt_points"], 0.03)
        assert precision > 0.99


def test_capture_scene_is_held_out_from_training():
    test_seeds = {SyntheticMultiViewDataset("test", num_scenes=10).scene_seed(i) for i in range(10)}
    assert SCENE_SEED in test_seeds
    most_train = max(TrainConfig().train_scenes, PRESETS["gpu"]["train_scenes"])
    train = SyntheticMultiViewDataset("train", num_scenes=most_train, seed=TrainConfig().seed)
    assert SCENE_SEED not in {train.scene_seed(i) for i in range(most_train)}


@pytest.mark.skipif(not DEFAULT_CAPTURE.is_file(), reason="data/ten_views.npz not generated yet")
def test_committed_capture_was_made_with_the_committed_checkpoint():
    provenance = json.loads(DEFAULT_CAPTURE.with_suffix(".json").read_text())
    assert provenance["scene_seed"] == SCENE_SEED
    assert provenance["model_sha256"] == hashlib.sha256(DEFAULT_CHECKPOINT.read_bytes()).hexdigest()


# ---- a damaged capture is refused; the command writes a new file, atomically -------------------


def test_a_damaged_capture_is_refused(tmp_path):
    path = tmp_path / DEFAULT_CAPTURE.name
    data = bytearray(DEFAULT_CAPTURE.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    shutil.copy(DEFAULT_CAPTURE.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ValueError, match="damaged"):
        load_capture(path)


def test_capture_command_does_not_default_to_the_committed_file():
    default = mvdlib.capture._parser().parse_args([]).out
    assert Path(default).resolve() != DEFAULT_CAPTURE.resolve()
    assert not Path(default).is_absolute()


def test_save_capture_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cap.npz"
    path.write_bytes(b"old")

    def crash(f, **arrays):
        f.write(b"partial")
        raise OSError("killed")

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(OSError, match="killed"):
        save_capture(path, load_capture())
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["cap.npz"]
