"""The training command: ``python -m mvdlib.training --help`` (also ``python -m mvdlib.train``; chapter 11).

Every :class:`~mvdlib.training.config.TrainConfig` field is a flag (``--model-width 0.5``,
``--flip false``); ``--preset`` picks the base configuration, ``--resume`` continues from
``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from mvdlib._io import check_writable_folder
from mvdlib._validation import CommandLineParser
from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.runtime import default_device
from mvdlib.training.config import (
    PRESETS,
    TrainConfig,
    _check_resume_steps,
    _resumed_config,
    _saved_train_config,
    config_from_dict,
)
from mvdlib.training.loop import LR_DECAY, train
from mvdlib.training.preflight import check_out, preflight

__all__ = ["main"]

PROG = "python -m mvdlib.training"


def _bool_flag(text: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true/false (or 1/0, yes/no), got {text!r}")
    return words[text.lower()]


def _parser(prog: str) -> CommandLineParser:
    p = CommandLineParser(prog=prog, description="Train MVDepthNet on synthetic multi-view scenes.")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="base configuration (default: cpu)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, type=_bool_flag, default=None, metavar="BOOL")
        elif f.name == "lr_milestones":
            p.add_argument(
                flag,
                type=int,
                nargs="*",
                default=None,
                metavar="STEP",
                help=f"steps where the learning rate is multiplied by {LR_DECAY}; no steps: a constant learning rate",
            )
        else:
            kind = {"float": float, "int": int}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=None)
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None, prog: str = PROG) -> dict[str, Any]:
    """Command-line entry point; ``prog`` is the command recorded in the checkpoint (its provenance)."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None
    }
    base = {**dataclasses.asdict(TrainConfig()), **PRESETS[args.preset or "cpu"]}
    out = given.get("out", base["out"])
    try:
        check_out(out, args.resume)
        ckpt = read_checkpoint(out) if args.resume and Path(out).exists() else None
        saved = None if ckpt is None else _saved_train_config(ckpt, out)
        if saved is not None:  # resuming: the checkpoint's settings, then those given here
            base = {**saved, **(PRESETS[args.preset] if args.preset else {}), "out": out, "cache_dir": None}
        cfg = config_from_dict({**base, **given})  # paths (out, cache_dir) come from the command line only
        if cfg.steps < 1:
            raise ValueError(f"steps must be at least 1, got {cfg.steps}")
        if ckpt is not None and saved is not None:
            _resumed_config(cfg, saved)
            _check_resume_steps(ckpt["step"], cfg.steps, out)
        check_writable_folder(cfg.out, "out")
        preflight(cfg if saved is None else dataclasses.replace(cfg, init=None), default_device())
    except (ValueError, TypeError, OSError, RuntimeError, KeyError) as err:  # a bad file given: one line, exit 2
        parser.fail(err)
    if ckpt is not None and ckpt["step"] == cfg.steps:  # a finished run resumed again: nothing to do, say so
        print(f"{prog}: checkpoint {out} is already at step {cfg.steps} = --steps: nothing to train", file=sys.stderr)
        return ckpt
    command = f"{prog} " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        return train(cfg, resume=args.resume, progress=not args.no_progress, command=command)
    except FloatingPointError as err:  # a diverging run: one line, exit 2, the last good checkpoint kept
        parser.fail(err)


if __name__ == "__main__":
    main()
