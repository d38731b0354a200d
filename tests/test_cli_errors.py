"""Every bad command line of train, evaluate and capture is one line on stderr and exit code 2 (issue 22, item 8)."""

from __future__ import annotations

import pytest
import torch

import mvdlib.capture
import mvdlib.evaluate
import mvdlib.train
import mvdlib.training.__main__
import mvdlib.training.evaluate
from mvdlib.models.mvdepthnet import MVDepthNet


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "junk.pt").write_bytes(b"not a checkpoint")
    (d / "afile").write_text("x")
    wide = MVDepthNet(0.25, 8, input_size=(32, 32))
    torch.save({"model": wide.state_dict(), "config": {"width": 0.25, "num_depths": 8}}, d / "raw.pt")
    return d


def _one_line_exit_2(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2, err
    # argparse's usage, then the error on one line (the last), no traceback
    assert err[0].startswith("usage:") and ": error: " in err[-1] and not any(": error: " in e for e in err[:-1]), err
    assert not any("Traceback" in e for e in err), err
    return err[-1]


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
    ["--out", "{d}/afile/x.pt"],
    ["--resume", "--out", "{d}/junk.pt"],
]


@pytest.mark.parametrize("main", [mvdlib.training.__main__.main, mvdlib.train.main])
@pytest.mark.parametrize("argv", TRAIN_BAD, ids=" ".join)
def test_bad_training_command_lines_are_one_line_errors(main, argv, files, capsys):
    argv = [a.format(d=files) for a in argv]
    _one_line_exit_2(main, [*argv, "--height", "32", "--width", "32"] if "--height" not in argv else argv, capsys)


EVALUATE_BAD = [
    ["--checkpoint", "{d}/missing.pt"],
    ["--checkpoint", "{d}/junk.pt"],
    ["--checkpoint", "{d}/afile"],
    ["--checkpoint", "{d}/raw.pt"],
    ["--checkpoint", "{d}/raw.pt", "--export", "{d}/afile/x.pt"],
    ["--split", "nope"],
    ["--cache-dir", "{d}/afile"],
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
]


@pytest.mark.parametrize("argv", CAPTURE_BAD, ids=" ".join)
def test_bad_capture_command_lines_are_one_line_errors(argv, files, capsys):
    _one_line_exit_2(mvdlib.capture.main, [a.format(d=files) for a in argv], capsys)
