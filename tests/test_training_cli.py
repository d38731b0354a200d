"""Tests of the commands: ``python -m mvdlib.training`` and the old ``python -m mvdlib.train`` and
``python -m mvdlib.evaluate`` (named by the README, the chapters and the committed provenance), resume
from the command line, and the settings checked before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_training import tiny_config

import mvdlib.evaluate
import mvdlib.train
import mvdlib.training.__main__ as cli
from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.training.loop import train

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
    assert (
        edge_errors.__module__ == "mvdlib.metrics._edges" and load_single_views.__module__ == "mvdlib.data.single_view"
    )
    assert {fit_depth_network.__module__, train_two_stage.__module__} == {"mvdlib.training.single_view"}


# ---- resume from the command line; settings checked before any work ---------------------------

SMALL_RUN = {
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
    flags = {**SMALL_RUN, "--out": str(out), "--cache-dir": str(cache), **changes}
    return [x for kv in flags.items() for x in kv] + ["--no-progress"]


def test_resume_writes_to_out_not_to_the_path_stored_in_the_checkpoint(tmp_path, cache):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    cli.main(_argv(a, cache, **{"--steps": "2"}))
    shutil.copy(a, b)
    cli.main(_argv(b, cache, **{"--steps": "3"}) + ["--resume"])
    assert read_checkpoint(a)["step"] == 2  # untouched
    assert read_checkpoint(b)["step"] == 3
    assert read_checkpoint(b)["train_config"]["out"] == str(b)


def test_resume_with_only_out_and_steps_takes_the_other_settings_from_the_checkpoint(tmp_path, cache):
    out = tmp_path / "run.pt"
    cli.main(_argv(out, cache, **{"--steps": "2"}))
    cli.main(["--out", str(out), "--cache-dir", str(cache), "--steps", "3", "--resume", "--no-progress"])
    assert read_checkpoint(out)["train_config"]["model_width"] == 0.125


def test_resume_refuses_a_changed_setting_it_cannot_apply(tmp_path, cache, capsys):
    out = tmp_path / "run.pt"
    cli.main(_argv(out, cache, **{"--steps": "2"}))
    with pytest.raises(SystemExit):
        cli.main(_argv(out, cache, **{"--steps": "3", "--lr": "0.5"}) + ["--resume"])
    assert "lr" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lr"):
        train(tiny_config(tmp_path, cache, out=str(out), steps=3, lr=0.5), resume=True, progress=False)


def test_resume_applies_a_new_cache_dir(tmp_path, cache):
    out = tmp_path / "run.pt"
    cli.main(_argv(out, cache, **{"--steps": "1"}))
    other = tmp_path / "other_cache"
    cli.main(_argv(out, other, **{"--steps": "2"}) + ["--resume"])
    assert read_checkpoint(out)["train_config"]["cache_dir"] == str(other)
    assert list(other.rglob("*.npz"))


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
        cli.main(_argv(tmp_path / "run.pt", cache, **({"--steps": "2"} | {flag: value})))
    assert exc.value.code == 2
    assert flag.lstrip("-").replace("-", "_") in capsys.readouterr().err
    assert not (tmp_path / "run.pt").exists()


def test_a_diverging_run_prints_one_line_and_exits_non_zero(tmp_path, cache, capsys):
    out = tmp_path / "run.pt"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(_argv(out, cache, **{"--lr": "1e30", "--steps": "4"}))
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "diverged" in err and "step 2" in err
    assert read_checkpoint(out)["step"] == 1


def test_evaluate_refuses_a_checkpoint_with_nan_weights_in_one_line(tmp_path, tiny_checkpoint, capsys):
    from mvdlib.training.export import save_atomic

    name = next(k for k, v in tiny_checkpoint["model"].items() if v.is_floating_point())
    tiny_checkpoint["model"][name] = torch.full_like(tiny_checkpoint["model"][name], float("nan"))
    path = tmp_path / "nan.pt"
    save_atomic(tiny_checkpoint, path)
    with pytest.raises(SystemExit) as exit_info:
        mvdlib.evaluate.main(["--checkpoint", str(path), "--cache-dir", str(tmp_path / "cache")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "finite" in err and name in err


def test_resume_from_an_exported_checkpoint_says_to_use_init(tmp_path, cache, tiny_checkpoint, capsys):
    from mvdlib.training.export import save_atomic

    exported = tmp_path / "exported.pt"
    save_atomic({k: v for k, v in tiny_checkpoint.items() if k != "train_config"}, exported)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(_argv(exported, cache, **{"--steps": "2"}) + ["--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "exported checkpoint, not a training checkpoint" in err and "--init" in err
    with pytest.raises(ValueError, match="exported checkpoint, not a training checkpoint"):
        train(tiny_config(tmp_path, cache, out=str(exported), steps=2), resume=True, progress=False)


def test_evaluate_refuses_an_exported_checkpoint_whose_json_disagrees_with_its_weights(
    tmp_path, tiny_checkpoint, capsys
):
    import json

    from mvdlib.training.export import export_checkpoint

    exported = tmp_path / "exp.pt"
    export_checkpoint(tiny_checkpoint, exported, {}, "test")
    sidecar = exported.with_suffix(".json")
    provenance = json.loads(sidecar.read_text())
    provenance["train_config"].update(height=64, width=64, num_depths=8)
    sidecar.write_text(json.dumps(provenance))
    with pytest.raises(SystemExit) as exit_info:
        mvdlib.evaluate.main(["--checkpoint", str(exported), "--cache-dir", str(tmp_path / "cache")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "exp.json" in err and "num_depths" in err


def test_resume_with_fewer_steps_than_done_is_refused_and_the_same_steps_say_so(tmp_path, cache, capsys):
    out = tmp_path / "run.pt"
    cli.main(_argv(out, cache, **{"--steps": "2"}))
    before = out.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(_argv(out, cache, **{"--steps": "1"}) + ["--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "already at step 2" in err and "--steps 1" in err
    assert cli.main(_argv(out, cache, **{"--steps": "2"}) + ["--resume"])["step"] == 2
    assert "already at step 2" in capsys.readouterr().err
    assert out.read_bytes() == before
    with pytest.raises(ValueError, match="already at step 2"):
        train(tiny_config(tmp_path, cache, out=str(out), steps=1), resume=True, progress=False)


def _huge_weights_checkpoint(tiny_checkpoint, path: Path) -> Path:
    """The tiny run's checkpoint with the finite, huge weights of one diverging Adam step (lr 1e30)."""
    from mvdlib.training.export import save_atomic

    tiny_checkpoint["model"] = {
        k: v * 1e30 if v.is_floating_point() and "running" not in k else v for k, v in tiny_checkpoint["model"].items()
    }
    save_atomic(tiny_checkpoint, path)
    return path


def test_evaluate_and_export_of_huge_weights_end_in_one_line(tmp_path, tiny_checkpoint, capsys):
    path = _huge_weights_checkpoint(tiny_checkpoint, tmp_path / "huge.pt")
    cache = str(tmp_path / "cache")
    with pytest.raises(SystemExit) as exit_info:
        mvdlib.evaluate.main(["--checkpoint", str(path), "--cache-dir", cache])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "non-finite" in err
    with pytest.raises(SystemExit) as exit_info:
        mvdlib.evaluate.main(["--checkpoint", str(path), "--cache-dir", cache, "--export", str(tmp_path / "e.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "float16" in err
    assert not (tmp_path / "e.pt").exists()
