"""CPU-preset training steps per second, data included: before and after the speed work of issue 16.

Times ``mvdlib.train.train`` on the cpu preset (quarter-width MVDepthNet, batch 4 at
160 x 128, 32 planes, 2 source views) for a few steps, two ways in one run:

(a) before: ``mvdlib/train.py`` as it was at ``benchmarks/baseline.py``'s commit (NCHW
    model, for-each Adam, batches loaded in the training process);
(b) now: ``mvdlib.train`` with the cpu preset (channels_last model, fused Adam, one
    DataLoader worker loading the next batches).

The runs alternate, one of each per round, on the same warm sample cache (filled first), so
a change of load hits both. Seconds per step are the run's wall time over its steps (model
set-up, data-loader start and the final validation and checkpoint included: a fixed cost
that a 6000-step run spreads thin); the table gives the medians over rounds and the ratio.

Where the time goes (torch.profiler, one thread, batch of 4 at 160 x 128): convolutions,
forward and backward, are about 75% of a step; the first convolution alone (3 + 32
channels, 7 x 7, at full resolution) about 20%, BatchNorm 8%, Adam's per-parameter loop
(addcmul, lerp, addcdiv, sqrt) 8%, the cost volume's grid_sample 2%, data loading from the
warm cache under 1%. On NCHW tensors oneDNN reorders every convolution's input and output;
channels_last removes the reorders (a fifth of the CPU time of a step), the fused Adam the
per-parameter loop. The convolutions themselves are the floor: a further 1.7x would need
bfloat16, which changes the numbers the network learns.

    python benchmarks/training.py [--steps 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import BASELINE_COMMIT, baseline_module  # noqa: E402

from mvdlib import train as current  # noqa: E402


def _seconds_per_step(module, cfg) -> float:
    t0 = time.perf_counter()
    module.train(module.config_from_dict(dataclasses.asdict(cfg)), progress=False)
    return (time.perf_counter() - t0) / cfg.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="training steps per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each times (a) and (b) once")
    parser.add_argument("--train-scenes", type=int, default=4, help="scenes whose samples the runs draw")
    args = parser.parse_args()
    old = baseline_module("mvdlib/train.py")
    fields = {f.name for f in dataclasses.fields(old.TrainConfig)}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(
            current.config_from_dict({**dataclasses.asdict(current.TrainConfig()), **current.PRESETS["cpu"]}),
            steps=args.steps, train_scenes=args.train_scenes, val_scenes=1, val_every=10**9, ckpt_every=10**9,
            cache_dir=str(Path(tmp) / "cache"), out=str(Path(tmp) / "run.pt"),
        )  # fmt: skip
        for dataset in current.build_datasets(cfg).values():  # warm the cache: both runs read it
            for i in range(len(dataset)):
                dataset[i]
        old_cfg = old.config_from_dict({k: v for k, v in dataclasses.asdict(cfg).items() if k in fields})
        times = {"(a) before": [], "(b) now": []}
        for _ in range(args.rounds):
            times["(a) before"].append(_seconds_per_step(old, old_cfg))
            times["(b) now"].append(_seconds_per_step(current, cfg))
    print(
        f"cpu preset: width {cfg.model_width}, batch {cfg.batch_size} at {cfg.width} x {cfg.height}, "
        f"{cfg.num_depths} planes; {args.steps} steps x {args.rounds} rounds; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"baseline (a): mvdlib/train.py at {BASELINE_COMMIT}")
    print(f"{'path':<14}{'s / step':>10}{'steps / s':>11}{'ratio':>8}")
    base = statistics.median(times["(a) before"])
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:<14}{t:>10.3f}{1 / t:>11.2f}{base / t:>7.2f}x")


if __name__ == "__main__":
    main()
