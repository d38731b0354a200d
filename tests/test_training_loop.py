"""Tests of mvdlib.training.loop: the model's input, the loss, loss decrease, the recorded loss curve,
exact resume (also after a crash), fine-tuning, DistributedDataParallel with gloo, bit-identical seeded
runs, the checks before the first step, and the floating-point mode restored afterwards."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_training import tiny_config

import mvdlib.training.loop as loop
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples
from mvdlib.data.sample import collate_samples
from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.smoothness import edge_aware_smoothness
from mvdlib.training.export import save_atomic
from mvdlib.training.loop import batch_loss, cost_volume_for_batch, train
from mvdlib.training.schedule import build_datasets

ROOT = Path(__file__).resolve().parents[1]


def _batch(cfg, n: int = 2):
    return collate_samples([build_datasets(cfg)["train"][i] for i in range(n)], torch.device("cpu"))


def test_cost_volume_for_batch_sweeps_the_normalised_images(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache)
    batch = _batch(cfg)
    ref, cost, planes = cost_volume_for_batch(batch, cfg.num_depths)
    srcs = (batch["src_images"] - 81.0) / 35.0
    torch.testing.assert_close(ref, (batch["ref_image"] - 81.0) / 35.0)
    torch.testing.assert_close(planes, inverse_depth_samples(cfg.num_depths))
    expected = cost_volume_from_world_poses(ref, srcs, batch["K"], batch["T_world_ref"], batch["T_world_srcs"], planes)
    assert torch.equal(cost, expected)
    _, zeros, _ = cost_volume_for_batch(batch, cfg.num_depths, image_only=True)
    assert zeros.shape == cost.shape and not zeros.any()
    with pytest.raises(ValueError, match="num_depths"):
        cost_volume_for_batch(batch, 0)


def test_a_few_steps_reduce_the_loss(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, steps=8, flip=False, jitter=False, lr_milestones=())
    train_set = build_datasets(cfg)["train"]
    batch = collate_samples([train_set[i] for i in range(len(train_set))], torch.device("cpu"))

    def loss_of(state):
        model = MVDepthNet(cfg.model_width, cfg.num_depths)
        model.load_state_dict(state)
        with torch.no_grad():
            return batch_loss(model.train(), batch, cfg.num_depths).item()

    torch.manual_seed(cfg.seed)
    before = loss_of(MVDepthNet(cfg.model_width, cfg.num_depths).state_dict())
    ckpt = train(cfg, progress=False)
    assert ckpt["step"] == 8 and len(ckpt["history"]["val_loss"]) == 4
    assert loss_of(ckpt["model"]) < 0.8 * before


# The running training loss of a short seeded run (the tiny_config below, 8 steps, lr decay at
# step 6, augmentation on), recorded before training was sped up (issue 16: channels_last,
# fused Adam, DataLoader workers): float32 NCHW convolutions and the for-each Adam.
RECORDED_LOSS_CURVE = [2.66224, 2.63134, 2.59596, 2.55118, 2.50831, 2.45080, 2.38812, 2.33860]
RECORDED_VAL_LOSS = [2.68434, 2.55460]


def test_loss_curve_of_a_short_seeded_run_is_the_one_recorded_before_the_speed_up(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, steps=8, lr_milestones=(6,), val_every=4, ckpt_every=100)
    history = train(cfg, progress=False)["history"]
    # same batches, same model: only the rounding of reordered float32 sums differs (about 1e-4)
    np.testing.assert_allclose(history["train_loss"], RECORDED_LOSS_CURVE, rtol=5e-3)
    np.testing.assert_allclose(history["val_loss"], RECORDED_VAL_LOSS, rtol=5e-3)


def test_bfloat16_forward_keeps_the_loss_curve_within_a_few_percent(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, steps=8, lr_milestones=(6,), val_every=4, ckpt_every=100, autocast_bf16=True)
    history = train(cfg, progress=False)["history"]
    # bfloat16 keeps 8 bits of mantissa: the curve moves by about 0.1% (train) and 2.5% (val)
    np.testing.assert_allclose(history["train_loss"], RECORDED_LOSS_CURVE, rtol=1e-2)
    np.testing.assert_allclose(history["val_loss"], RECORDED_VAL_LOSS, rtol=5e-2)


def test_dataloader_workers_give_the_same_run(tmp_path, cache):
    in_process = train(tiny_config(tmp_path / "a", cache, steps=3), progress=False)
    workers = train(tiny_config(tmp_path / "b", cache, steps=3, num_workers=1), progress=False)
    assert workers["history"]["train_loss"] == in_process["history"]["train_loss"]
    for k, v in in_process["model"].items():
        assert torch.equal(workers["model"][k], v), k


def test_resume_continues_exactly(tmp_path, cache):
    full = train(tiny_config(tmp_path / "a", cache), progress=False)
    cfg = tiny_config(tmp_path / "b", cache)
    train(dataclasses.replace(cfg, steps=2), progress=False)  # "interrupted" after step 2
    resumed = train(cfg, resume=True, progress=False)
    assert resumed["step"] == full["step"] == 4
    for k, v in full["model"].items():
        assert torch.equal(resumed["model"][k], v), k
    assert resumed["history"]["train_loss"] == full["history"]["train_loss"]
    on_disk = read_checkpoint(cfg.out)
    assert on_disk["step"] == 4 and torch.equal(on_disk["model"]["disp1.0.bias"], full["model"]["disp1.0.bias"])


def test_resume_after_a_crash_mid_run_continues_exactly(tmp_path, cache, monkeypatch):
    full = train(tiny_config(tmp_path / "a", cache), progress=False)
    cfg = tiny_config(tmp_path / "b", cache)
    real_loss, calls = loop.batch_loss, []

    def crash_at_step_3(model, *args, **kwargs):
        calls.extend([1] if model.training else [])  # training steps only, not validation
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_loss(model, *args, **kwargs)

    monkeypatch.setattr(loop, "batch_loss", crash_at_step_3)
    with pytest.raises(RuntimeError, match="power cut"):
        train(cfg, progress=False)
    monkeypatch.setattr(loop, "batch_loss", real_loss)
    assert read_checkpoint(cfg.out)["step"] == 2  # the last checkpoint written before the crash
    resumed = train(cfg, resume=True, progress=False)
    for k, v in full["model"].items():
        assert torch.equal(resumed["model"][k], v), k


def test_init_starts_from_the_given_weights(tmp_path, cache):
    first_cfg = tiny_config(tmp_path / "a", cache, steps=2)
    first = train(first_cfg, progress=False)
    start = train(tiny_config(tmp_path / "b", cache, steps=0, init=first_cfg.out), progress=False)
    for k, v in first["model"].items():
        assert torch.equal(start["model"][k], v), k
    other = tiny_config(tmp_path / "c", cache, steps=0, num_depths=8, init=first_cfg.out)
    with pytest.raises(ValueError, match="does not fit the network"):  # another architecture: refused before training
        train(other, progress=False)


def test_smoothness_weight_adds_the_edge_aware_term(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache)
    batch = _batch(cfg)
    torch.manual_seed(0)
    model = MVDepthNet(cfg.model_width, cfg.num_depths).eval()
    with torch.no_grad():
        plain = batch_loss(model, batch, cfg.num_depths)
        smooth = batch_loss(model, batch, cfg.num_depths, smoothness_weight=3.0)
        ref, cost, _ = cost_volume_for_batch(batch, cfg.num_depths)
        term = edge_aware_smoothness(model(ref, cost)[0], batch["ref_image"] / 255.0)
    assert term > 0
    torch.testing.assert_close(smooth, plain + 3.0 * term)


def test_truncated_checkpoint_is_refused(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, steps=1)
    train(cfg, progress=False)
    data = Path(cfg.out).read_bytes()
    Path(cfg.out).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        train(dataclasses.replace(cfg, steps=2), resume=True, progress=False)


def test_train_takes_only_a_train_config():
    with pytest.raises(TypeError, match="TrainConfig"):
        train({"steps": 1}, progress=False)


def test_ddp_with_two_gloo_processes(tmp_path, cache):
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "mvdlib.train", "--no-progress", "--model-width", "0.125", "--height", "32", "--width", "64",
           "--num-depths", "8", "--batch-size", "1", "--steps", "2", "--train-scenes", "2",
           "--samples-per-scene", "1", "--val-scenes", "1", "--val-every", "2", "--ckpt-every", "1",
           "--out", str(out), "--cache-dir", str(cache)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = read_checkpoint(out)
    assert ckpt["step"] == 2 and ckpt["device"] == "cpu x2"
    assert ckpt["command"].startswith("python -m mvdlib.train --no-progress")
    model = load_pretrained(out)
    assert model.width == 0.125 and model.num_depths == 8
    assert np.isfinite(ckpt["history"]["val_loss"][-1])


# ---- reproducible runs, exact resume, refusals before the first step -------------------------


def _weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_seeded_cpu_runs_give_bit_identical_weights(tmp_path, cache):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = [
            train(tiny_config(tmp_path, cache, out=str(tmp_path / f"r{i}.pt"), steps=3), progress=False)["model"]
            for i in range(4)
        ]
    finally:
        torch.set_num_threads(threads)
    assert all(_weights_equal(runs[0], r) for r in runs[1:])


def test_resume_equals_the_uninterrupted_run_and_needs_the_saved_optimizer_state(tmp_path, cache):
    """Bit-identical after resuming across a learning-rate milestone with augmentation on; and
    not by luck: resuming without the saved optimizer state (Adam's moments) changes the result,
    and so does another seed."""
    full = train(tiny_config(tmp_path, cache, out=str(tmp_path / "full.pt"), steps=5), progress=False)
    cfg = tiny_config(tmp_path, cache, out=str(tmp_path / "part.pt"), steps=5)
    train(dataclasses.replace(cfg, steps=2), progress=False)
    part = read_checkpoint(cfg.out)
    resumed = train(cfg, resume=True, progress=False)
    assert _weights_equal(resumed["model"], full["model"])
    assert resumed["history"]["train_loss"] == full["history"]["train_loss"]

    no_optimizer = dict(part, optimizer={"state": {}, "param_groups": part["optimizer"]["param_groups"]})
    save_atomic(no_optimizer, cfg.out)
    assert not _weights_equal(train(cfg, resume=True, progress=False)["model"], full["model"])
    other_seed = train(tiny_config(tmp_path, cache, out=str(tmp_path / "seed1.pt"), steps=5, seed=1), progress=False)
    assert not _weights_equal(other_seed["model"], full["model"])


def test_unwritable_out_is_refused_before_the_first_step(tmp_path, cache, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    steps = []
    monkeypatch.setattr(loop, "batch_loss", lambda *a, **k: steps.append(1))
    with pytest.raises(ValueError, match="out"):
        train(tiny_config(tmp_path, cache, out=str(blocker / "run.pt"), steps=2), progress=False)
    assert not steps


def test_stale_temporary_files_of_the_run_are_removed(tmp_path, cache):
    out = tmp_path / "run.pt"
    dead = tmp_path / "run.pt.tmp999999999-0badc0de"  # no such process
    dead.write_bytes(b"x" * 100)
    other_run = tmp_path / "other.pt.tmp999999999-0badc0de"
    other_run.write_bytes(b"x")
    train(tiny_config(tmp_path, cache, out=str(out), steps=1), progress=False)
    assert not dead.exists() and other_run.exists()


def test_training_restores_the_denormal_mode_of_every_thread(tmp_path, cache):
    """In a fresh process (no intra-op threads yet), training with flushed denormals and then
    restoring the mode must leave no thread flushing: a denormal times 1 stays a denormal."""
    script = f"""
import torch
from mvdlib.training.config import TrainConfig
from mvdlib.training.loop import train
torch.set_num_threads(2)
cfg = TrainConfig(model_width=0.125, height=32, width=64, num_depths=16, batch_size=2, steps=1, lr_milestones=(),
    train_scenes=2, samples_per_scene=2, val_scenes=1, test_scenes=1, val_every=1, ckpt_every=1,
    out={str(tmp_path / "run.pt")!r}, cache_dir={str(cache)!r})
train(cfg, progress=False)
x = torch.full((1 << 20,), 1e-39)
print("flushed", (x * 1.0 == 0).float().mean().item())
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert "flushed 0.0" in out.stdout, out.stdout + out.stderr


def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_keeps_the_last_good_checkpoint(
    tmp_path, cache, monkeypatch
):
    cfg = tiny_config(tmp_path, cache)
    real_loss, calls = loop.batch_loss, []

    def nan_at_step_3(model, *args, **kwargs):
        calls.extend([1] if model.training else [])
        loss = real_loss(model, *args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(loop, "batch_loss", nan_at_step_3)
    with pytest.raises(FloatingPointError, match=r"step 3.*nan"):
        train(cfg, progress=False)
    kept = read_checkpoint(cfg.out)
    assert kept["step"] == 2
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())


def test_a_huge_learning_rate_stops_the_run_before_non_finite_weights_are_saved(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, lr=1e30)
    with pytest.raises(FloatingPointError, match="step 2 is nan"):  # step 1 ends with huge, still finite weights
        train(cfg, progress=False)
    kept = read_checkpoint(cfg.out)
    assert kept["step"] == 1
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())


def test_non_finite_weights_are_refused_naming_the_step_and_the_tensor():
    net = torch.nn.Linear(2, 1)
    loop._check_finite_weights(net, 5)
    with torch.no_grad():
        net.bias.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match=r"step 7 \(in \['bias'\]\)"):
        loop._check_finite_weights(net, 7)
