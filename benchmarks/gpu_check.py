"""The GPU check (``make gpu-check``): what a lent CUDA machine should measure, in one JSON file.

In order, each phase timed and written to the JSON as it ends (a phase that fails records its
error and the next one runs):

1. smoke (at most ``--smoke-limit`` seconds, 30 by default): the device is there, a small
   MVDepthNet trains one step on it and runs one prediction; the check stops here if not;
2. inference: width-1 MVDepthNet at 320 x 256 with 64 planes and two measurement frames,
   ``mvdlib.inference.predict`` per frame (cost volume included) in fp32, bf16 and fp16:
   median ms and peak device memory; ``predict(..., precision=)`` where ``predict`` has it,
   otherwise ``predict`` inside ``torch.autocast`` with that dtype;
3. training: the paper preset (``PRESETS["gpu"]``: width 1, batch 8 at 320 x 256, 64 planes)
   for ``--train-steps`` steps after two warm-up steps, data loading included (as
   ``mvdlib.training.loop`` trains: fused Adam, ``step_batches`` with the preset's loader
   workers): steps per second and peak device memory;
4. chapters: every chapter executed under ``MVDLIB_BUDGET=gpu`` with
   ``scripts/execute_notebooks.py``'s runner, ``--jobs`` at a time, the seconds of each.

The whole check stops starting new work after ``--budget`` seconds (540 by default, so that
it ends within 10 minutes of GPU time); what it skipped is named in the JSON.
``tests/test_gpu_check.py`` runs it on the emulated device (``tests/emulated_device.py``)
with tiny sizes.

    python benchmarks/gpu_check.py --out _build/gpu_check.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mvdlib
from mvdlib.inference import predict
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.runtime import BUDGET_ENV
from mvdlib.training.config import PRESETS, TrainConfig, config_from_dict
from mvdlib.training.loop import batch_loss
from mvdlib.training.schedule import build_datasets, step_batches

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
sys.path.insert(0, str(ROOT / "scripts"))
import execute_notebooks  # noqa: E402  # scripts/execute_notebooks.py: one notebook runner for CI and this check


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    """Peak allocated device memory since the last reset, MiB (``None`` off CUDA)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def frame(height: int, width: int, sources: int = 2) -> dict[str, np.ndarray]:
    """A random uint8 reference image, ``sources`` measurement frames and their poses (``predict``'s inputs)."""
    rng = np.random.default_rng(0)
    poses = np.repeat(np.eye(4, dtype=np.float32)[None], sources, axis=0)
    poses[:, 0, 3] = np.linspace(-0.1, 0.1, sources)
    f = 0.9 * width
    return {
        "ref_rgb": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "src_rgbs": rng.integers(0, 256, (sources, height, width, 3), dtype=np.uint8),
        "K": np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float32),
        "T_world_ref": np.eye(4, dtype=np.float32),
        "T_world_srcs": poses,
    }


def predict_in(model: MVDepthNet, inputs: dict[str, np.ndarray], precision: str, device: torch.device) -> np.ndarray:
    """One ``predict`` in ``precision``: its own ``precision=`` for fp32 and bf16, fp16 under ``torch.autocast``."""
    if precision in ("fp32", "bf16"):
        return predict(model, **inputs, precision=precision)  # type: ignore[arg-type]
    with torch.autocast(device.type, dtype=PRECISIONS[precision]):
        return predict(model, **inputs)  # type: ignore[arg-type]


def time_inference(
    device: torch.device, height: int, width: int, planes: int, model_width: float, repeats: int
) -> dict[str, Any]:
    """Median ms per ``predict`` and peak memory for each precision (an error message where one fails)."""
    model = MVDepthNet(model_width, planes, input_size=(height, width)).to(device).eval()
    inputs = frame(height, width)
    out: dict[str, Any] = {"size": [height, width], "planes": planes, "model_width": model_width}
    reference = None
    for precision in PRECISIONS:
        try:
            _reset_peak(device)
            depth = predict_in(model, inputs, precision, device)  # warm-up
            times = []
            for _ in range(repeats):
                _synchronize(device)
                t0 = time.perf_counter()
                predict_in(model, inputs, precision, device)
                _synchronize(device)
                times.append(1000 * (time.perf_counter() - t0))
            reference = depth if reference is None else reference
            out[precision] = {
                "ms": statistics.median(times),
                "peak_mib": _peak_mib(device),
                "max_rel_diff_vs_fp32": float(np.max(np.abs(depth - reference) / reference)),
            }
        except Exception as e:  # noqa: BLE001  # a precision the device lacks is a result, not a crash
            out[precision] = {"error": f"{type(e).__name__}: {e}"}
    return out


def time_training(cfg: TrainConfig, device: torch.device, steps: int) -> dict[str, Any]:
    """Steps per second of ``steps`` training steps after two warm-up steps, and the peak device memory."""
    torch.manual_seed(cfg.seed)
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    batches = iter(step_batches(build_datasets(cfg)["train"], cfg, 0))
    _reset_peak(device)
    t0 = 0.0
    for step in range(steps + 2):
        if step == 2:
            _synchronize(device)
            t0 = time.perf_counter()
        batch = {k: v.to(device) for k, v in next(batches).items()}
        loss = batch_loss(model, batch, cfg.num_depths, autocast_bf16=cfg.autocast_bf16)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _synchronize(device)
    seconds = time.perf_counter() - t0
    return {
        "steps": steps,
        "steps_per_s": steps / seconds,
        "peak_mib": _peak_mib(device),
        "loss": float(loss.detach()),
        "config": {k: getattr(cfg, k) for k in ("model_width", "height", "width", "num_depths", "batch_size")},
    }


def paper_config(cache_dir: str, steps: int, train_scenes: int, **overrides: Any) -> TrainConfig:
    """``PRESETS["gpu"]``: ``steps`` steps plus two warm-up ones over ``train_scenes`` scenes (cache: ``cache_dir``)."""
    preset = {**dataclasses.asdict(TrainConfig()), **PRESETS["gpu"], **overrides}
    return dataclasses.replace(
        config_from_dict(preset), steps=steps + 2, train_scenes=train_scenes, samples_per_scene=2, cache_dir=cache_dir
    )


def time_chapters(chapters: list[Path], jobs: int, timeout: int) -> dict[str, Any]:
    """Seconds of each chapter run top to bottom under the GPU budget (an error text where one fails)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results: dict[str, Any] = {}
    # the workers' kernels inherit the budget; this process's environment stays as it was
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=os.environ.__setitem__, initargs=(BUDGET_ENV, "gpu")
    ) as pool:
        futures = {p.stem: pool.submit(execute_notebooks.execute, p, timeout, threads) for p in chapters}
        for name, future in futures.items():
            _, seconds, error = future.result()
            results[name] = {"seconds": seconds} if error is None else {"seconds": seconds, "error": error[-2000:]}
    return results


def failures(report: dict[str, Any]) -> list[str]:
    """The phases (and chapters) that failed or were skipped, by name."""
    failed = [name for name, p in report["phases"].items() if "error" in p["result"]]
    chapters = report["phases"].get("chapters", {}).get("result", {})
    failed += [f"chapters/{name}" for name, c in chapters.items() if isinstance(c, dict) and "error" in c]
    return failed + [f"skipped {name}" for name in report["skipped"]]


def main(argv: list[str] | None = None, device: torch.device | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu_check.json")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds after which no new phase starts")
    parser.add_argument("--smoke-limit", type=float, default=30.0, help="seconds the smoke step may take")
    parser.add_argument("--size", type=int, nargs=2, default=[256, 320], metavar=("H", "W"))
    parser.add_argument("--planes", type=int, default=64)
    parser.add_argument("--model-width", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=10, help="timed predictions per precision")
    parser.add_argument("--train-steps", type=int, default=50)
    parser.add_argument("--train-scenes", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the paper preset's")
    parser.add_argument("--workers", type=int, default=None, help="data loader workers (default: the preset's)")
    parser.add_argument("--chapters", type=Path, nargs="*", default=None, help="default: every chapter")
    parser.add_argument("--jobs", type=int, default=4, help="chapters at a time (they share the GPU)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell of a chapter")
    args = parser.parse_args(argv)
    device = mvdlib.default_device() if device is None else device
    start = time.perf_counter()
    height, width = args.size
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "torch": torch.__version__,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "phases": {},
        "skipped": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def phase(name: str, run: Callable[[], Any]) -> bool:
        if time.perf_counter() - start > args.budget:
            report["skipped"].append(name)
            return False
        t0 = time.perf_counter()
        try:
            result, ok = run(), True
        except Exception as e:  # noqa: BLE001  # recorded in the JSON; the next phase still runs
            result, ok = {"error": f"{type(e).__name__}: {e}"}, False
        report["phases"][name] = {"seconds": time.perf_counter() - t0, "result": result}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{name}: {report['phases'][name]['seconds']:.1f} s{'' if ok else ' FAILED'}", flush=True)
        return ok

    with tempfile.TemporaryDirectory() as tmp:
        small = {"model_width": 0.25, "height": 64, "width": 64, "num_depths": 8, "batch_size": 2, "num_workers": 0}

        def smoke() -> dict[str, Any]:
            t0 = time.perf_counter()
            training = time_training(paper_config(tmp, 1, 1, **small), device, 1)
            inference = time_inference(device, 64, 64, 8, 0.25, 1)["fp32"]
            seconds = time.perf_counter() - t0
            if "error" in inference or seconds > args.smoke_limit:
                raise RuntimeError(f"smoke step: {inference}, {seconds:.1f} s (limit {args.smoke_limit} s)")
            return {"training": training, "inference": inference}

        if phase("smoke", smoke):
            phase(
                "inference", lambda: time_inference(device, height, width, args.planes, args.model_width, args.repeats)
            )
            overrides: dict[str, Any] = {"height": height, "width": width, "num_depths": args.planes}
            overrides["model_width"] = args.model_width
            for name in ("batch_size", "workers"):
                if getattr(args, name) is not None:
                    overrides["num_workers" if name == "workers" else name] = getattr(args, name)
            cfg = paper_config(tmp, args.train_steps, args.train_scenes, **overrides)
            phase("training", lambda: time_training(cfg, device, args.train_steps))
            chapters = sorted((ROOT / "chapters").glob("*.ipynb")) if args.chapters is None else args.chapters
            phase("chapters", lambda: time_chapters(chapters, args.jobs, args.timeout))
    report["total_seconds"] = time.perf_counter() - start
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"gpu check: {report['total_seconds']:.0f} s, {args.out}")
    return report


if __name__ == "__main__":
    problems = failures(main())
    if problems:
        print(f"gpu check: {', '.join(problems)}", file=sys.stderr)
    sys.exit(1 if problems else 0)
