"""Regression tests of issue 17 ("Nothing lost, nothing silent"): the training run, the sample
cache, checkpoints, captures and inputs that used to be lost, damaged or silently accepted."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import mvdlib.models.mvdepthnet as mvd
from mvdlib import capture as capture_module
from mvdlib import evaluate as evaluate_module
from mvdlib import train as train_module
from mvdlib._io import atomic_write, sha256_of
from mvdlib.cost_volume import winner_take_all
from mvdlib.data.synthetic import SyntheticMultiViewDataset, default_intrinsics
from mvdlib.geometry import backproject, epipolar_line, invert_pose
from mvdlib.losses import downsample_target, huber_penalty
from mvdlib.models.mvdepthnet import DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT, MVDepthNet, load_pretrained, predict
from mvdlib.pointcloud import DepthView, consistency_counts
from mvdlib.train import (
    TrainConfig,
    collate_samples,
    flip_horizontal,
    half_precision,
    read_checkpoint,
    thin_history,
    train,
)

TINY_FLAGS = {
    "--model-width": "0.125",
    "--height": "32",
    "--width": "64",
    "--num-depths": "16",
    "--batch-size": "2",
    "--train-scenes": "2",
    "--samples-per-scene": "2",
    "--val-scenes": "1",
    "--test-scenes": "1",
    "--val-every": "2",
    "--ckpt-every": "1",
    "--lr-milestones": "3",
}


def _argv(out: Path, cache: Path, **changes: str) -> list[str]:
    flags = {**TINY_FLAGS, "--out": str(out), "--cache-dir": str(cache), **changes}
    return [x for kv in flags.items() for x in kv] + ["--no-progress"]


def _tiny(out: Path, cache: Path, **kw) -> TrainConfig:
    base = dict(
        model_width=0.125, height=32, width=64, num_depths=16, batch_size=2, steps=4, lr_milestones=(3,),
        train_scenes=2, samples_per_scene=2, val_scenes=1, test_scenes=1, val_every=2, ckpt_every=1,
        out=str(out), cache_dir=str(cache),
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("robust_cache")


def _weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- defect 1: --resume writes where --out says; changed settings are applied or refused ------


def test_resume_writes_to_out_not_to_the_path_stored_in_the_checkpoint(tmp_path, cache):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    train_module.main(_argv(a, cache, **{"--steps": "2"}))
    shutil.copy(a, b)
    train_module.main(_argv(b, cache, **{"--steps": "3"}) + ["--resume"])
    assert read_checkpoint(a)["step"] == 2  # untouched
    assert read_checkpoint(b)["step"] == 3
    assert read_checkpoint(b)["train_config"]["out"] == str(b)


def test_resume_with_only_out_and_steps_takes_the_other_settings_from_the_checkpoint(tmp_path, cache):
    out = tmp_path / "run.pt"
    train_module.main(_argv(out, cache, **{"--steps": "2"}))
    train_module.main(["--out", str(out), "--cache-dir", str(cache), "--steps", "3", "--resume", "--no-progress"])
    assert read_checkpoint(out)["train_config"]["model_width"] == 0.125


def test_resume_refuses_a_changed_setting_it_cannot_apply(tmp_path, cache, capsys):
    out = tmp_path / "run.pt"
    train_module.main(_argv(out, cache, **{"--steps": "2"}))
    with pytest.raises(SystemExit):
        train_module.main(_argv(out, cache, **{"--steps": "3", "--lr": "0.5"}) + ["--resume"])
    assert "lr" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lr"):
        train(_tiny(out, cache, steps=3, lr=0.5), resume=True, progress=False)


def test_resume_applies_a_new_cache_dir(tmp_path, cache):
    out = tmp_path / "run.pt"
    train_module.main(_argv(out, cache, **{"--steps": "1"}))
    other = tmp_path / "other_cache"
    train_module.main(_argv(out, other, **{"--steps": "2"}) + ["--resume"])
    assert read_checkpoint(out)["train_config"]["cache_dir"] == str(other)
    assert list(other.rglob("*.npz"))


def test_evaluate_reads_the_cache_it_is_given_not_the_stored_one(tmp_path, cache):
    stored, given = tmp_path / "stored", tmp_path / "given"
    ckpt = train(_tiny(tmp_path / "run.pt", stored, steps=1), progress=False)
    evaluate_module.evaluate_checkpoint_dict(ckpt, cache_dir=given)
    assert list(given.rglob("*.npz"))
    n_stored = len(list(stored.rglob("*.npz")))
    evaluate_module.evaluate_checkpoint_dict(ckpt, cache_dir=given)
    assert len(list(stored.rglob("*.npz"))) == n_stored


# ---- defect 2: a damaged or mismatched cache entry is detected, logged and rendered again ------


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "crc":
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("ref_image.npy")
        i = info.header_offset + 30 + len(info.filename) + 200  # inside the member's data
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif how == "missing_key":
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files if k != "K"}
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif how == "other_resolution":
        big = SyntheticMultiViewDataset("val", 1, 1, height=48, width=64, cache=False)
        with open(path, "wb") as f:
            np.savez(f, **big.render(0))


@pytest.mark.parametrize("how", ["truncated", "empty", "crc", "missing_key", "other_resolution"])
def test_damaged_cache_entry_is_rendered_again(tmp_path, how, caplog):
    ds = SyntheticMultiViewDataset("val", 1, 1, height=24, width=32, cache_dir=tmp_path)
    first = ds[0]
    (path,) = (tmp_path / "synthetic").glob("*.npz")
    _damage(path, how)
    with caplog.at_level(logging.WARNING, logger="mvdlib.data.synthetic"):
        again = ds[0]
        third = ds[0]
    assert all(torch.equal(first[k], again[k]) and torch.equal(first[k], third[k]) for k in first)
    assert sum(str(path.name) in r.getMessage() for r in caplog.records) == 1  # logged once, then repaired


def test_cache_files_are_readable_by_the_group(tmp_path):
    old = os.umask(0o022)
    try:
        SyntheticMultiViewDataset("val", 1, 1, height=24, width=32, cache_dir=tmp_path)[0]
    finally:
        os.umask(old)
    (path,) = (tmp_path / "synthetic").glob("*.npz")
    assert path.stat().st_mode & 0o044 == 0o044


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "x.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


# ---- defect 3: seeded CPU training is bit-reproducible; resume equals an uninterrupted run -----


def test_seeded_cpu_runs_give_bit_identical_weights(tmp_path, cache):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = [train(_tiny(tmp_path / f"r{i}.pt", cache, steps=3), progress=False)["model"] for i in range(4)]
    finally:
        torch.set_num_threads(threads)
    assert all(_weights_equal(runs[0], r) for r in runs[1:])


def test_resume_equals_the_uninterrupted_run_and_needs_the_saved_optimizer_state(tmp_path, cache):
    """Bit-identical after resuming across a learning-rate milestone with augmentation on; and
    not by luck: resuming without the saved optimizer state (Adam's moments) changes the result,
    and so does another seed."""
    full = train(_tiny(tmp_path / "full.pt", cache, steps=5), progress=False)
    cfg = _tiny(tmp_path / "part.pt", cache, steps=5)
    train(dataclasses.replace(cfg, steps=2), progress=False)
    part = read_checkpoint(cfg.out)
    resumed = train(cfg, resume=True, progress=False)
    assert _weights_equal(resumed["model"], full["model"])
    assert resumed["history"]["train_loss"] == full["history"]["train_loss"]

    no_optimizer = dict(part, optimizer={"state": {}, "param_groups": part["optimizer"]["param_groups"]})
    train_module.save_atomic(no_optimizer, cfg.out)
    assert not _weights_equal(train(cfg, resume=True, progress=False)["model"], full["model"])
    other_seed = train(_tiny(tmp_path / "seed1.pt", cache, steps=5, seed=1), progress=False)
    assert not _weights_equal(other_seed["model"], full["model"])


# ---- defect 4: committed artefacts carry a sha256; damage and non-finite weights are refused ---


@pytest.mark.parametrize("path", [DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT, capture_module.DEFAULT_CAPTURE])
def test_committed_artefacts_record_their_sha256(path):
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == sha256_of(path)


def test_a_flipped_byte_in_a_committed_checkpoint_is_refused(tmp_path):
    path = tmp_path / DEFAULT_CHECKPOINT.name
    data = bytearray(DEFAULT_CHECKPOINT.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ValueError, match=r"mvdepthnet_cpu\.pt.*damaged.*git checkout -- data/mvdepthnet_cpu\.pt"):
        load_pretrained(path)


def test_a_damaged_capture_is_refused(tmp_path):
    src = capture_module.DEFAULT_CAPTURE
    path = tmp_path / src.name
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    shutil.copy(src.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ValueError, match="damaged"):
        capture_module.load_capture(path)


def test_non_finite_weights_are_refused(tmp_path):
    model = MVDepthNet(0.125, 8, input_size=(32, 32))
    state = model.state_dict()
    state["disp1.0.weight"][0, 0, 0, 0] = float("nan")
    torch.save({"model": state, "config": {"width": 0.125, "num_depths": 8, "input_size": [32, 32]}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"finite.*disp1\.0\.weight"):
        load_pretrained(tmp_path / "x.pt")


# ---- defect 5: the config is validated before the network is built ----------------------------


@pytest.mark.parametrize(
    ("config", "word"),
    [
        ({"width": 2.0}, "width"),
        ({"width": 20}, "width"),
        ({"num_depths": 100000}, "num_depths"),
        ({"input_size": [32000, 32000]}, "input_size"),
        ({"image_only": "no"}, "image_only"),
        ({"colour": 1}, "colour"),
        ([1, 2], "config"),
    ],
)
def test_checkpoint_config_is_checked_before_anything_is_built(tmp_path, monkeypatch, config, word):
    torch.save({"model": {}, "config": config}, tmp_path / "x.pt")

    def no_build(*args, **kwargs):
        raise AssertionError("MVDepthNet built before its config was checked")

    monkeypatch.setattr(mvd, "MVDepthNet", no_build)
    with pytest.raises(ValueError, match=word):
        load_pretrained(tmp_path / "x.pt")


# ---- defect 6: predict refuses images in [0, 1] unless told, and never returns inf -------------


def _scene_inputs():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    srcs = rng.integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    T_srcs = np.stack([np.eye(4), np.eye(4)])
    T_srcs[:, 0, 3] = [0.1, -0.1]
    return ref, srcs, default_intrinsics(32, 64), np.eye(4), T_srcs


def test_predict_refuses_images_scaled_to_one_unless_told():
    model = MVDepthNet(0.125, 8, input_size=(32, 64)).eval()
    ref, srcs, K, T_ref, T_srcs = _scene_inputs()
    with pytest.raises(ValueError, match="ref_rgb.*max_value"):
        predict(model, ref / 255.0, srcs / 255.0, K, T_ref, T_srcs)
    with pytest.raises(ValueError, match="src_rgbs"):
        predict(model, ref, srcs * 2.0, K, T_ref, T_srcs)
    expected = predict(model, ref, srcs, K, T_ref, T_srcs)
    scaled = predict(model, ref / 255.0, srcs / 255.0, K, T_ref, T_srcs, max_value=1.0)
    np.testing.assert_allclose(scaled, expected, rtol=1e-4)


def test_predict_never_returns_infinite_depth():
    model = MVDepthNet(0.125, 8, input_size=(32, 64)).eval()
    with torch.no_grad():
        model.disp1[0].bias.fill_(-1e4)  # the sigmoid saturates to 0: inverse depth 0
    depth = predict(model, *_scene_inputs())
    assert np.isfinite(depth).all() and depth.max() <= 50.0


# ---- defect 7: command-line settings are checked before any work ------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--ckpt-every", "0"),
        ("--val-every", "0"),
        ("--batch-size", "0"),
        ("--steps", "0"),
        ("--steps", "-5"),
        ("--flip", "flase"),
        ("--smoothness-weight", "nan"),
        ("--lr", "-1"),
        ("--model-width", "inf"),
        ("--height", "33"),
    ],
)
def test_bad_command_line_settings_are_refused_at_start(tmp_path, cache, capsys, flag, value):
    with pytest.raises(SystemExit) as exc:
        train_module.main(_argv(tmp_path / "run.pt", cache, **({"--steps": "2"} | {flag: value})))
    assert exc.value.code == 2
    assert flag.lstrip("-").replace("-", "_") in capsys.readouterr().err
    assert not (tmp_path / "run.pt").exists()


def test_unwritable_out_is_refused_before_the_first_step(tmp_path, cache, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    steps = []
    monkeypatch.setattr(train_module, "batch_loss", lambda *a, **k: steps.append(1))
    with pytest.raises(ValueError, match="out"):
        train(_tiny(blocker / "run.pt", cache, steps=2), progress=False)
    assert not steps


def test_evaluate_refuses_an_unwritable_export_before_evaluating(tmp_path, cache, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = tmp_path / "run.pt"
    train(_tiny(out, cache, steps=1), progress=False)
    monkeypatch.setattr(evaluate_module, "evaluate_checkpoint_dict", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(SystemExit):
        evaluate_module.main(["--checkpoint", str(out), "--export", str(blocker / "x.pt")])


def test_stale_temporary_files_of_the_run_are_removed(tmp_path, cache):
    out = tmp_path / "run.pt"
    dead = tmp_path / "run.pt.tmp999999999-0badc0de"  # no such process
    dead.write_bytes(b"x" * 100)
    other_run = tmp_path / "other.pt.tmp999999999-0badc0de"
    other_run.write_bytes(b"x")
    train(_tiny(out, cache, steps=1), progress=False)
    assert not dead.exists() and other_run.exists()


# ---- defect 8: silent wrong results ------------------------------------------------------------


def _sample(seed: int = 0) -> dict:
    ds = SyntheticMultiViewDataset("val", 1, 2, height=24, width=32, cache=False, seed=seed)
    return ds[seed % 2]


def test_flip_horizontal_of_a_batch_flips_each_sample():
    samples = [_sample(0), _sample(1)]
    samples[1]["K"][0, 1] = 0.5  # a skew, so that its sign flip shows
    batched = flip_horizontal(collate_samples(samples, "cpu"))
    for i, s in enumerate(samples):
        single = flip_horizontal(s)
        for k, v in single.items():
            assert torch.equal(batched[k][i], v), k


def test_winner_take_all_refuses_nan_costs():
    cost = torch.rand(1, 4, 3, 3)
    cost[0, 2, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="cost"):
        winner_take_all(cost, torch.linspace(0.1, 1, 4))


def test_epipolar_line_at_the_epipole_is_refused():
    K = torch.tensor([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    T = torch.eye(4)
    T[2, 3] = 1.0  # forward motion: the epipole is the principal point
    with pytest.raises(ValueError, match="uv.*epipole"):
        epipolar_line(K, T, torch.tensor([50.0, 40.0]))
    assert torch.isfinite(epipolar_line(K, T, torch.tensor([10.0, 40.0]))).all()


def test_consistency_counts_refuses_a_batched_K_per_view():
    depth = np.full((4, 5), 2.0, np.float32)
    K = np.array([[10.0, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    view = DepthView(depth, np.stack([K, 2 * K - np.diag([0, 0, 1.0])]), np.eye(4))
    with pytest.raises(ValueError, match=r"views\[0\]\.K"):
        consistency_counts(np.zeros((1, 3)) + [0, 0, 2.0], [view])


def test_half_precision_refuses_weights_float16_cannot_hold():
    with pytest.raises(ValueError, match="w.*float16"):
        half_precision({"w": torch.tensor([1.0, 1e6]), "n": torch.tensor(3)})
    assert half_precision({"w": torch.tensor([1.0, 2.0])})["w"].dtype == torch.float16


# ---- defect 9: obscure crashes become clear errors, valid input is accepted --------------------


def test_former_obscure_crashes_are_clear_errors():
    with pytest.raises(ValueError, match="samples"):
        collate_samples([], "cpu")
    with pytest.raises(ValueError, match="points"):
        thin_history({"step": [1, 2], "train_loss": [0.1, 0.2]}, points=0)
    with pytest.raises(ValueError, match="size"):
        downsample_target(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4, dtype=torch.bool), (0, 0))
    np.testing.assert_allclose(huber_penalty(np.array([0.5, 3.0])), [0.125, 2.5])


def test_former_refusals_of_valid_input_are_accepted():
    K = torch.tensor([[10.0, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    points = backproject(torch.full((1, 1, 3, 4), 2.0).half(), K)
    assert points.dtype == torch.float16
    torch.testing.assert_close(points.float(), backproject(torch.full((1, 1, 3, 4), 2.0), K), rtol=1e-3, atol=1e-3)
    assert invert_pose(torch.zeros(0, 4, 4)).shape == (0, 4, 4)


# ---- defect 10: the capture command writes a new file, atomically -----------------------------


def test_capture_command_does_not_default_to_the_committed_file():
    default = capture_module._parser().parse_args([]).out
    assert Path(default).resolve() != capture_module.DEFAULT_CAPTURE.resolve()
    assert not Path(default).is_absolute()


def test_save_capture_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cap.npz"
    path.write_bytes(b"old")

    def crash(f, **arrays):
        f.write(b"partial")
        raise OSError("killed")

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(OSError, match="killed"):
        capture_module.save_capture(path, capture_module.load_capture())
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["cap.npz"]


def test_training_restores_the_denormal_mode_of_every_thread(tmp_path, cache):
    """In a fresh process (no intra-op threads yet), training with flushed denormals and then
    restoring the mode must leave no thread flushing: a denormal times 1 stays a denormal."""
    script = f"""
import torch
from mvdlib.train import TrainConfig, train
torch.set_num_threads(2)
cfg = TrainConfig(model_width=0.125, height=32, width=64, num_depths=16, batch_size=2, steps=1, lr_milestones=(),
    train_scenes=2, samples_per_scene=2, val_scenes=1, test_scenes=1, val_every=1, ckpt_every=1,
    out={str(tmp_path / "run.pt")!r}, cache_dir={str(cache)!r})
train(cfg, progress=False)
x = torch.full((1 << 20,), 1e-39)
print("flushed", (x * 1.0 == 0).float().mean().item())
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert "flushed 0.0" in out.stdout, out.stdout + out.stderr
