"""Every bad command line of train, evaluate, capture and grade is one line on stderr and exit code 2 (issue 22)."""

from __future__ import annotations

import pytest
import torch

import mvdlib.capture
import mvdlib.classroom.grade
import mvdlib.evaluate
import mvdlib.train
import mvdlib.training.__main__
import mvdlib.training.evaluate
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.training.export import save_atomic


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "junk.pt").write_bytes(b"not a checkpoint")
    (d / "afile").write_text("x")
    wide = MVDepthNet(0.25, 8, input_size=(32, 32))
    torch.save({"model": wide.state_dict(), "config": {"width": 0.25, "num_depths": 8}}, d / "raw.pt")
    save_atomic({"model": wide.state_dict(), "train_config": {"steps": 1}, "step": 1}, d / "run.pt")
    (d / "folder.pt").mkdir()
    (d / "link.pt").symlink_to(d / "run.pt")
    return d


def _one_line_exit_2(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2, err
    assert len(err) == 1 and err[0].startswith("python -m mvdlib.") and ": error: " in err[0], err  # no usage block
    return err[0]


TRAIN_BAD = [
    ["--num-depths", "1"],
    ["--num-workers", "-1"],
    ["--steps", "0"],
    ["--model-width", "nan"],
    ["--model-width", "50", "--height", "4096", "--width", "4096"],
    ["--init", "{d}/missing.pt"],
    ["--init", "{d}/junk.pt"],
    ["--init", "{d}/afile"],
    ["--init", "{d}/raw.pt"],
    ["--cache-dir", "{d}/afile"],
    ["--cache-dir", "{d}/afile/views"],
    ["--out", "{d}/afile/x.pt"],
    ["--resume", "--out", "{d}/junk.pt"],
    ["--lr-milestones", "5", "3"],
    ["--lr-milestones", "3", "3"],
    ["--out", "{d}"],
    ["--out", "{d}/folder.pt"],
    ["--out", "{d}/afile"],
    ["--out", "{d}/junk.pt"],
    ["--out", "{d}/run.pt"],
    ["--model-width", "0.001"],
    ["--model-width", "2"],
    ["--no-such-flag"],
    ["--steps", "many"],
    ["--num-workers", "100000"],
    ["--num-sources", "100000"],
    ["--train-scenes", "100000000"],
    ["--test-scenes", "1000001"],
    ["--out", "{d}/x.txt"],
    ["--out", "{d}/x.json"],
    ["--lr-milestones", ""],
]


@pytest.mark.parametrize("main", [mvdlib.training.__main__.main, mvdlib.train.main])
@pytest.mark.parametrize("argv", TRAIN_BAD, ids=" ".join)
def test_bad_training_command_lines_are_one_line_errors(main, argv, files, capsys):
    argv = [a.format(d=files) for a in argv]
    _one_line_exit_2(main, [*argv, "--height", "32", "--width", "32"] if "--height" not in argv else argv, capsys)


# --export paths that would overwrite the training checkpoint it reads, or its provenance JSON
EXPORT_CLOBBERS = [
    ["--checkpoint", "{d}/run.pt", "--export", "{d}/run.pt"],
    ["--checkpoint", "{d}/run.pt", "--export", "{d}/./run.pt"],
    ["--checkpoint", "{d}/link.pt", "--export", "{d}/run.pt"],  # the same file through a symbolic link
    ["--checkpoint", "{d}/run.pt", "--export", "{d}/run.pth"],  # its JSON would be run.json, the checkpoint's
    ["--checkpoint", "{d}/run.pt", "--export", "{d}/x.json"],  # the weights and the JSON would be one file
]

EVALUATE_BAD = [
    ["--checkpoint", "{d}/missing.pt"],
    ["--checkpoint", "{d}/junk.pt"],
    ["--checkpoint", "{d}/afile"],
    ["--checkpoint", "{d}/raw.pt"],
    ["--checkpoint", "{d}/raw.pt", "--export", "{d}/afile/x.pt"],
    ["--split", "nope"],
    ["--cache-dir", "{d}/afile"],
    *EXPORT_CLOBBERS,
]


@pytest.mark.parametrize("main", [mvdlib.training.evaluate.main, mvdlib.evaluate.main])
@pytest.mark.parametrize("argv", EVALUATE_BAD, ids=" ".join)
def test_bad_evaluate_command_lines_are_one_line_errors(main, argv, files, capsys):
    _one_line_exit_2(main, [a.format(d=files) for a in argv], capsys)


CAPTURE_BAD = [
    ["--model", "{d}/missing.pt"],
    ["--model", "{d}/junk.pt"],
    ["--model", "{d}/afile"],
    ["--scene-seed", "-1"],
    ["--seed", "-1"],
    ["--out", "{d}/afile/c.npz"],
    ["--out", "{d}/c.txt"],
    ["--out", "{d}/folder.pt"],
    ["--seed", "x"],
]


@pytest.mark.parametrize("argv", CAPTURE_BAD, ids=" ".join)
def test_bad_capture_command_lines_are_one_line_errors(argv, files, capsys):
    _one_line_exit_2(mvdlib.capture.main, [a.format(d=files) for a in argv], capsys)


def test_the_chosen_errors_say_what_to_do(files, capsys):
    """Decreasing milestones, an existing checkpoint as --out, a too narrow network: the message names the fix."""
    train = mvdlib.training.__main__.main
    small = ["--height", "32", "--width", "32"]
    assert "increasing" in _one_line_exit_2(train, ["--lr-milestones", "5", "3", *small], capsys)
    assert "--resume" in _one_line_exit_2(train, ["--out", str(files / "run.pt"), *small], capsys)
    assert "is a folder" in _one_line_exit_2(train, ["--out", str(files), *small], capsys)
    assert "not a training checkpoint" in _one_line_exit_2(train, ["--out", str(files / "afile"), *small], capsys)
    assert "model_width" in _one_line_exit_2(train, ["--model-width", "0.001", *small], capsys)
    assert ".npz" in _one_line_exit_2(mvdlib.capture.main, ["--out", str(files / "c.txt")], capsys)
    assert ".pt or .pth" in _one_line_exit_2(train, ["--out", str(files / "x.txt"), *small], capsys)
    assert "at most 200" in _one_line_exit_2(train, ["--num-sources", "201", *small], capsys)


@pytest.mark.parametrize("argv", EXPORT_CLOBBERS, ids=" ".join)
def test_export_never_overwrites_the_checkpoint_it_reads_or_its_json(argv, files, capsys):
    before = (files / "run.pt").read_bytes()
    line = _one_line_exit_2(mvdlib.training.evaluate.main, [a.format(d=files) for a in argv], capsys)
    assert "--export" in line and ("overwrite" in line or ".json" in line), line
    assert (files / "run.pt").read_bytes() == before and not (files / "run.json").exists()


def test_an_empty_lr_milestones_flag_means_a_constant_learning_rate(files, monkeypatch):
    """``--lr-milestones`` with no steps is how the command line says 'no milestones' (its --help says so)."""
    monkeypatch.setattr(mvdlib.training.__main__, "train", lambda cfg, **kwargs: cfg)
    small = ["--height", "32", "--width", "32", "--out", str(files / "new.pt")]
    assert mvdlib.training.__main__.main(["--lr-milestones", *small]).lr_milestones == ()
    help_text = mvdlib.training.__main__._parser("train").format_help()
    assert "no steps: a constant learning rate" in " ".join(help_text.split())


GRADE_BAD = [
    ["{d}/" + "x" * 300],
    ["{d}", "--source", "{d}/" + "y" * 300],
    ["{d}/missing"],
    ["{d}", "--timeout", "-1"],
    ["{d}", "--timeout", "nan"],
    ["{d}", "--jobs", "0"],
    ["{d}", "--jobs", "two"],
    ["{d}", "--no-such-flag"],
    [],
]


@pytest.mark.parametrize("argv", GRADE_BAD, ids=" ".join)
def test_bad_grade_command_lines_are_one_line_errors(argv, files, capsys):
    _one_line_exit_2(mvdlib.classroom.grade.main, [a.format(d=files) for a in argv], capsys)
