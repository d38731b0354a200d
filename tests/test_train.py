"""Tests of mvdlib.train and mvdlib.evaluate: augmentation geometry, data order, loss decrease,
exact resume, atomic and validated checkpoints, DistributedDataParallel with gloo."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mvdlib import cost_volume as cv
from mvdlib.evaluate import evaluate_checkpoint_dict, evaluate_model, format_table
from mvdlib.geometry import axis_angle_to_matrix, project, transform_points
from mvdlib.losses import edge_aware_smoothness
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained, read_checkpoint
from mvdlib.train import (
    TrainConfig,
    batch_indices,
    batch_loss,
    build_datasets,
    collate_samples,
    cost_volume_for_batch,
    export_checkpoint,
    flip_horizontal,
    jitter_photometric,
    save_atomic,
    step_batches,
    thin_history,
    train,
)

ROOT = Path(__file__).resolve().parents[1]


def _tiny_config(tmp_path: Path, cache: Path, **kw) -> TrainConfig:
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


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mvdlib_cache")


# ---- augmentation -------------------------------------------------------------------------


def _rig(seed: int):
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[50.0, 0.7, 30.2], [0.0, 48.0, 20.9], [0.0, 0.0, 1.0]])
    poses = torch.eye(4).repeat(3, 1, 1)
    poses[:, :3, :3] = axis_angle_to_matrix(0.3 * torch.randn(3, 3, generator=g))
    poses[:, :3, 3] = torch.randn(3, 3, generator=g)
    return K, poses


@given(seed=st.integers(0, 10_000))
def test_flip_mirrors_every_projection(seed):
    """After the flip, the mirrored world point F X projects to u' = W - 1 - u, v' = v in every view."""
    w, h = 61, 40
    K, poses = _rig(seed)
    sample = {
        "ref_image": torch.zeros(3, h, w),
        "src_images": torch.zeros(2, 3, h, w),
        "ref_depth": torch.zeros(1, h, w),
        "K": K,
        "T_world_ref": poses[0],
        "T_world_srcs": poses[1:],
    }
    flipped = flip_horizontal(sample)
    g = torch.Generator().manual_seed(seed)
    for T, Tf in zip(poses, torch.cat([flipped["T_world_ref"][None], flipped["T_world_srcs"]]), strict=True):
        assert torch.allclose(torch.linalg.det(Tf[:3, :3]), torch.tensor(1.0), atol=1e-5)
        X_cam = torch.rand(1, 3, 5, generator=g) * torch.tensor([4.0, 4.0, 6.0])[None, :, None]
        X_cam += torch.tensor([-2.0, -2.0, 2.0])[None, :, None]  # in front of the camera
        X = transform_points(T[None], X_cam)  # world points
        Xf = X * torch.tensor([-1.0, 1.0, 1.0])[None, :, None]  # the mirrored world
        uv, z = project(X_cam, K[None])
        uvf, zf = project(transform_points(torch.linalg.inv(Tf)[None], Xf), flipped["K"][None])
        torch.testing.assert_close(uvf[:, 0], (w - 1) - uv[:, 0], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(uvf[:, 1], uv[:, 1], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(zf, z, atol=1e-4, rtol=1e-4)


def test_flip_mirrors_images_and_depth():
    img = torch.arange(2 * 3 * 2 * 3, dtype=torch.float32).reshape(2, 3, 2, 3)
    K, poses = _rig(0)
    s = {"ref_image": img[0], "src_images": img, "ref_depth": img[0, :1], "K": K,
         "T_world_ref": poses[0], "T_world_srcs": poses[1:]}  # fmt: skip
    f = flip_horizontal(s)
    assert torch.equal(f["ref_image"][:, :, 0], img[0][:, :, 2])
    assert torch.equal(f["src_images"][:, :, :, 0], img[:, :, :, 2])
    assert torch.equal(f["ref_depth"][:, :, 1], img[0, :1, :, 1])
    assert torch.equal(flip_horizontal(f)["T_world_ref"], poses[0])


def test_jitter_is_shared_by_all_views_and_clipped():
    s = {"ref_image": torch.tensor([0.0, 100.0, 250.0]), "src_images": torch.tensor([[10.0, 200.0]])}
    j = jitter_photometric(s, gain=1.1, offset=-15.0)
    torch.testing.assert_close(j["ref_image"], torch.tensor([0.0, 95.0, 255.0]))
    torch.testing.assert_close(j["src_images"], torch.tensor([[0.0, 205.0]]))


# ---- data order ---------------------------------------------------------------------------


def test_batch_indices_cover_each_epoch_once_and_split_ranks():
    n, b, world = 20, 3, 2
    per_epoch = n // (b * world)
    seen = []
    for step in range(per_epoch):
        r0 = batch_indices(step, n, b, seed=5, rank=0, world=world)
        r1 = batch_indices(step, n, b, seed=5, rank=1, world=world)
        assert len(r0) == len(r1) == b and not set(r0) & set(r1)
        seen += r0 + r1
    assert len(set(seen)) == len(seen) == per_epoch * b * world
    assert batch_indices(7, n, b, 5) == batch_indices(7, n, b, 5)
    assert batch_indices(0, n, b, 5) != batch_indices(per_epoch, n, b, 5)  # a new epoch, a new order
    with pytest.raises(ValueError, match="dataset_size"):
        batch_indices(0, 3, 2, 0, world=2)


# ---- training -----------------------------------------------------------------------------


def test_a_few_steps_reduce_the_loss(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache, steps=8, flip=False, jitter=False, lr_milestones=())
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


# The running training loss of a short seeded run (the _tiny_config below, 8 steps, lr decay at
# step 6, augmentation on), recorded before training was sped up (issue 16: channels_last,
# fused Adam, DataLoader workers): float32 NCHW convolutions and the for-each Adam.
RECORDED_LOSS_CURVE = [2.66224, 2.63134, 2.59596, 2.55118, 2.50831, 2.45080, 2.38812, 2.33860]
RECORDED_VAL_LOSS = [2.68434, 2.55460]


def test_loss_curve_of_a_short_seeded_run_is_the_one_recorded_before_the_speed_up(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache, steps=8, lr_milestones=(6,), val_every=4, ckpt_every=100)
    history = train(cfg, progress=False)["history"]
    # same batches, same model: only the rounding of reordered float32 sums differs (about 1e-4)
    np.testing.assert_allclose(history["train_loss"], RECORDED_LOSS_CURVE, rtol=5e-3)
    np.testing.assert_allclose(history["val_loss"], RECORDED_VAL_LOSS, rtol=5e-3)


def test_bfloat16_forward_keeps_the_loss_curve_within_a_few_percent(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache, steps=8, lr_milestones=(6,), val_every=4, ckpt_every=100, autocast_bf16=True)
    history = train(cfg, progress=False)["history"]
    # bfloat16 keeps 8 bits of mantissa: the curve moves by about 0.1% (train) and 2.5% (val)
    np.testing.assert_allclose(history["train_loss"], RECORDED_LOSS_CURVE, rtol=1e-2)
    np.testing.assert_allclose(history["val_loss"], RECORDED_VAL_LOSS, rtol=5e-2)


def test_dataloader_workers_give_the_same_run(tmp_path, cache):
    in_process = train(_tiny_config(tmp_path / "a", cache, steps=3), progress=False)
    workers = train(_tiny_config(tmp_path / "b", cache, steps=3, num_workers=1), progress=False)
    assert workers["history"]["train_loss"] == in_process["history"]["train_loss"]
    for k, v in in_process["model"].items():
        assert torch.equal(workers["model"][k], v), k


def test_step_batches_rejects_a_bad_worker_count(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache, num_workers=-1)
    with pytest.raises(ValueError, match="num_workers"):
        step_batches(build_datasets(cfg)["train"], cfg, 0)


def test_resume_continues_exactly(tmp_path, cache):
    full = train(_tiny_config(tmp_path / "a", cache), progress=False)
    cfg = _tiny_config(tmp_path / "b", cache)
    train(dataclasses.replace(cfg, steps=2), progress=False)  # "interrupted" after step 2
    resumed = train(cfg, resume=True, progress=False)
    assert resumed["step"] == full["step"] == 4
    for k, v in full["model"].items():
        assert torch.equal(resumed["model"][k], v), k
    assert resumed["history"]["train_loss"] == full["history"]["train_loss"]
    on_disk = read_checkpoint(cfg.out)
    assert on_disk["step"] == 4 and torch.equal(on_disk["model"]["disp1.0.bias"], full["model"]["disp1.0.bias"])


def test_resume_after_a_crash_mid_run_continues_exactly(tmp_path, cache, monkeypatch):
    import mvdlib.train as train_module

    full = train(_tiny_config(tmp_path / "a", cache), progress=False)
    cfg = _tiny_config(tmp_path / "b", cache)
    real_loss, calls = train_module.batch_loss, []

    def crash_at_step_3(model, *args, **kwargs):
        calls.extend([1] if model.training else [])  # training steps only, not validation
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_loss(model, *args, **kwargs)

    monkeypatch.setattr(train_module, "batch_loss", crash_at_step_3)
    with pytest.raises(RuntimeError, match="power cut"):
        train(cfg, progress=False)
    monkeypatch.setattr(train_module, "batch_loss", real_loss)
    assert read_checkpoint(cfg.out)["step"] == 2  # the last checkpoint written before the crash
    resumed = train(cfg, resume=True, progress=False)
    for k, v in full["model"].items():
        assert torch.equal(resumed["model"][k], v), k


def test_init_starts_from_the_given_weights(tmp_path, cache):
    first_cfg = _tiny_config(tmp_path / "a", cache, steps=2)
    first = train(first_cfg, progress=False)
    start = train(_tiny_config(tmp_path / "b", cache, steps=0, init=first_cfg.out), progress=False)
    for k, v in first["model"].items():
        assert torch.equal(start["model"][k], v), k
    other = _tiny_config(tmp_path / "c", cache, steps=0, num_depths=8, init=first_cfg.out)
    with pytest.raises(RuntimeError, match="size mismatch"):  # another architecture: load_state_dict says so
        train(other, progress=False)


def test_export_of_a_fine_tuned_run_over_its_starting_file_keeps_the_start_s_provenance(tmp_path, cache):
    """Exporting over the file a run started from (data/mvdepthnet_cpu.pt, issue 15) records the old
    file's hash and provenance, read before the new one replaces them."""
    first = train(_tiny_config(tmp_path / "a", cache, steps=2), progress=False, command="python -m mvdlib.train a")
    exported = tmp_path / "net.pt"
    export_checkpoint(first, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    old_hash = json.loads(exported.with_suffix(".json").read_text())["sha256"]
    tuned = train(_tiny_config(tmp_path / "b", cache, steps=2, init=str(exported)), progress=False)
    export_checkpoint(tuned, exported, {}, "python -m mvdlib.evaluate --export net.pt")
    p = json.loads(exported.with_suffix(".json").read_text())
    assert p["sha256"] != old_hash
    assert p["init_checkpoint"]["sha256"] == old_hash
    assert p["init_checkpoint"]["provenance"]["train_command"] == first["command"]
    assert p["cpu_threads"] == first["cpu_threads"] == torch.get_num_threads()


def test_smoothness_weight_adds_the_edge_aware_term(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache)
    batch = collate_samples([build_datasets(cfg)["train"][i] for i in range(2)], torch.device("cpu"))
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
    cfg = _tiny_config(tmp_path, cache, steps=1)
    train(cfg, progress=False)
    data = Path(cfg.out).read_bytes()
    Path(cfg.out).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        train(dataclasses.replace(cfg, steps=2), resume=True, progress=False)


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
    model = load_pretrained(out)
    assert model.width == 0.125 and model.num_depths == 8
    assert np.isfinite(ckpt["history"]["val_loss"][-1])


class _WinnerTakeAllNet(MVDepthNet):
    """A stand-in network that outputs the winner-take-all inverse depth of its cost volume."""

    def forward(self, ref_image, cost_volume):
        return [cv.winner_take_all(cost_volume, cv.inverse_depth_samples(self.num_depths))]


def test_evaluate_model_scores_both_methods_on_the_same_cost_volumes(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache)
    val = build_datasets(cfg)["val"]
    model = _WinnerTakeAllNet(width=0.125, num_depths=cfg.num_depths, input_size=(cfg.height, cfg.width))
    table = evaluate_model(model, val, batch_size=1)
    assert set(table) == {"MVDepthNet", "winner-take-all"}
    assert table["MVDepthNet"] == pytest.approx(table["winner-take-all"])
    text = format_table(table, "title")
    assert text.splitlines()[0] == "title" and "winner-take-all" in text and "abs_rel" in text
    with pytest.raises(ValueError, match="input_size"):
        evaluate_model(MVDepthNet(width=0.125, num_depths=cfg.num_depths), val)


def test_thin_history_keeps_few_evenly_spaced_points_and_the_last():
    history = {"step": list(range(1, 6001)), "train_loss": [1.0 / s for s in range(1, 6001)],
               "val_step": [250, 500], "val_loss": [0.5, 0.4]}  # fmt: skip
    thin = thin_history(history, points=500)
    assert len(thin["step"]) <= 500 and thin["step"][-1] == 6000
    assert thin["train_loss"] == [1.0 / s for s in thin["step"]]
    assert set(np.diff(thin["step"])) == {12}
    assert thin["val_step"] == history["val_step"] and thin["val_loss"] == history["val_loss"]
    assert thin_history(history, points=10_000) == history


def test_evaluate_checkpoint_dict_scores_val_or_test_but_never_train(tmp_path, cache):
    cfg = _tiny_config(tmp_path, cache, steps=1)
    ckpt = train(cfg, progress=False)
    results = evaluate_checkpoint_dict(ckpt, split="val")
    assert set(results) == {"synthetic_val", "real_pair"}
    assert results["synthetic_val"]["samples"] == len(build_datasets(cfg)["val"])
    assert set(results["synthetic_val"]["metrics"]) == {"MVDepthNet", "winner-take-all"}
    with pytest.raises(ValueError, match="split must be one of"):
        evaluate_checkpoint_dict(ckpt, split="train")
