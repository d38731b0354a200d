"""Tests of the commands: ``python -m mvdlib.training`` and the old ``python -m mvdlib.train`` and
``python -m mvdlib.evaluate`` (named by the README, the chapters and the committed provenance)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mvdlib.evaluate
import mvdlib.train
import mvdlib.training.__main__ as cli
from mvdlib.models.mvdepthnet import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--no-progress", "--model-width", "0.125", "--height", "32", "--width", "64", "--num-depths", "8",
        "--batch-size", "1", "--steps", "1", "--train-scenes", "1", "--samples-per-scene", "1",
        "--val-scenes", "1", "--val-every", "1", "--ckpt-every", "1"]  # fmt: skip


@pytest.mark.parametrize("module", ["mvdlib.training", "mvdlib.train", "mvdlib.evaluate", "mvdlib.training.evaluate"])
def test_every_command_runs_and_names_itself(module):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: python -m {module} ")


def test_the_old_and_new_entry_points_record_their_own_command(tmp_path):
    cache = str(tmp_path / "cache")
    new = cli.main([*TINY, "--out", str(tmp_path / "a.pt"), "--cache-dir", cache])
    old = mvdlib.train.main([*TINY, "--out", str(tmp_path / "b.pt"), "--cache-dir", cache])
    assert new["command"].startswith("python -m mvdlib.training --no-progress")
    assert old["command"].startswith("python -m mvdlib.train --no-progress")
    assert read_checkpoint(tmp_path / "b.pt")["command"] == old["command"]


def test_the_old_modules_keep_the_names_readers_import():
    from mvdlib.evaluate import compare_real_pair, evaluate_model, evaluate_real_pair, format_table, predict_batch
    from mvdlib.models.eigen import edge_errors, fit_depth_network, load_single_views, train_two_stage
    from mvdlib.train import TrainConfig, build_datasets, collate_samples, cost_volume_for_batch, flip_horizontal, train

    assert mvdlib.train.__all__ == ["main"] and mvdlib.evaluate.__all__ == ["main"]
    assert TrainConfig.__module__ == "mvdlib.training.config"
    assert {f.__module__ for f in (build_datasets, train, cost_volume_for_batch)} == {
        "mvdlib.training.schedule",
        "mvdlib.training.loop",
    }
    assert collate_samples.__module__ == "mvdlib.data.sample" and flip_horizontal.__module__ == "mvdlib.data.augment"
    assert {
        f.__module__ for f in (compare_real_pair, evaluate_model, evaluate_real_pair, format_table, predict_batch)
    } == {"mvdlib.training.evaluate"}
    assert edge_errors.__module__ == "mvdlib.metrics" and load_single_views.__module__ == "mvdlib.data.single_view"
    assert {fit_depth_network.__module__, train_two_stage.__module__} == {"mvdlib.training.single_view"}
