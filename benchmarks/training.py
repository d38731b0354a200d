"""CPU-preset training steps per second, data included: before and after the speed work of issue 16.

Times training steps of the cpu preset (quarter-width MVDepthNet, batch 4 at 160 x 128, 32
planes, 2 source views), data loading included, on a warm sample cache, three ways:

(a) before: the model in NCHW, ``torch.optim.Adam``'s default for-each update, each batch
    loaded and augmented in the training process (``mvdlib.train`` before issue 16);
(b) now: what ``python -m mvdlib.training`` does (channels_last model, fused Adam, one
    DataLoader worker loading the next batches, ``mvdlib.training.schedule.step_batches``);
(c) (b) with ``--autocast-bf16 true``: the forward pass in bfloat16 (opt-in: it changes the
    numbers the network learns by about 1%).

The paths alternate step by step, after two warm-up steps each, so a change of load on a
shared machine hits all of them; each step is timed from fetching its batch to the end of
the optimizer step. The table gives the median seconds per step and the median ratio.

Where the time goes in (a) (torch.profiler over 3 steps, 2 threads; per-shape view on one
thread): convolutions, forward and backward, 57% of a step, the first one alone (3 + 32
channels, 7 x 7, at full resolution) about 20%; BatchNorm forward and backward 10%; ReLU 5%;
Adam's per-parameter for-each loop (addcmul, lerp, addcdiv, sqrt) 8%; the cost volume's
grid_sample 2%; a batch from the warm cache (4 x ~2 ms) about 2%. One thread, CPU time per
step of the same batch: NCHW 540 ms, channels_last 447 ms (oneDNN stops reordering every
convolution's input and output), plus fused Adam 408 ms, plus bfloat16 autocast 268 ms. The
convolutions in float32 are the floor of (b); the DataLoader worker hides the batch loading,
and on a cold cache the rendering (~50 ms of one core per sample).

    python benchmarks/training.py [--steps 20] [--no-bf16] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.training.config import PRESETS, TrainConfig, config_from_dict
from mvdlib.training.loop import batch_loss
from mvdlib.training.schedule import build_datasets, step_batches


def before_speed_up(cfg: TrainConfig, train_set) -> tuple[MVDepthNet, torch.optim.Optimizer, object]:
    """Model, optimizer and batches as ``mvdlib.train`` set them up before issue 16 (the reference)."""
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width))
    in_process = dataclasses.replace(cfg, num_workers=0)
    return model, torch.optim.Adam(model.parameters(), lr=cfg.lr), iter(step_batches(train_set, in_process, 0))


def now(cfg: TrainConfig, train_set) -> tuple[MVDepthNet, torch.optim.Optimizer, object]:
    """Model, optimizer and batches as ``mvdlib.training.loop._train`` sets them up now."""
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width))
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    return model, optimizer, iter(step_batches(train_set, cfg, 0))


def one_step(model, optimizer, batches, cfg: TrainConfig) -> tuple[float, float]:
    """Wall and CPU seconds (this process's threads) of one training step: fetch the batch, loss, backward, Adam."""
    t0, c0 = time.perf_counter(), time.process_time()
    batch = next(batches)
    loss = batch_loss(model, batch, cfg.num_depths, autocast_bf16=cfg.autocast_bf16)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per path")
    parser.add_argument("--train-scenes", type=int, default=4, help="scenes whose samples the steps draw")
    parser.add_argument("--no-bf16", action="store_true", help="skip path (c)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        preset = {**dataclasses.asdict(TrainConfig()), **PRESETS["cpu"]}
        cfg = dataclasses.replace(
            config_from_dict(preset), steps=args.steps + 2, train_scenes=args.train_scenes,
            cache_dir=str(Path(tmp) / "cache"),
        )  # fmt: skip
        train_set = build_datasets(cfg)["train"]
        for i in range(len(train_set)):  # warm the cache: every path reads it
            train_set[i]
        paths = {"(a) before": (before_speed_up, cfg), "(b) now": (now, cfg)}
        if not args.no_bf16:
            paths["(c) now, bf16"] = (now, dataclasses.replace(cfg, autocast_bf16=True))
        states = {}
        for name, (setup, c) in paths.items():
            torch.manual_seed(0)
            states[name] = (*setup(c, train_set), c)
        times: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        for step in range(args.steps + 2):
            for name, state in states.items():
                t, c = one_step(*state)
                if step >= 2:  # two warm-up steps
                    times[name].append(t)
                    cpu[name].append(c)
    print(
        f"cpu preset: width {cfg.model_width}, batch {cfg.batch_size} at {cfg.width} x {cfg.height}, "
        f"{cfg.num_depths} planes, {cfg.num_workers} loader worker(s); {args.steps} steps per path; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("CPU: this process only (the loader worker of (b) and (c) runs in another)")
    print(f"{'path':<16}{'s / step':>10}{'steps / s':>11}{'ratio':>8}{'CPU s / step':>14}{'CPU ratio':>11}")
    for name, ts in times.items():
        t, c = statistics.median(ts), statistics.median(cpu[name])
        ratio = statistics.median(a / b for a, b in zip(times["(a) before"], ts, strict=True))
        cpu_ratio = statistics.median(a / b for a, b in zip(cpu["(a) before"], cpu[name], strict=True))
        print(f"{name:<16}{t:>10.3f}{1 / t:>11.2f}{ratio:>7.2f}x{c:>14.3f}{cpu_ratio:>10.2f}x")


if __name__ == "__main__":
    main()
