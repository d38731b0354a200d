"""MVDepthNet inference speed at 320 x 256: milliseconds per frame, cost volume included (chapter 10).

Prints one row per (device, network): the paper's width-1.0 network with 64 planes and the
CPU preset's network (``mvdlib.train`` defaults) on the same input size. A frame is one
reference image with two measurement frames: normalisation, the multi-view plane-sweep
cost volume and the forward pass.

    python benchmarks/inference.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from mvdlib import cost_volume as cv
from mvdlib.models.mvdepthnet import PAPER_SIZE, MVDepthNet, normalize_image
from mvdlib.train import TrainConfig

NUM_SOURCES = 2


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_frame(model: MVDepthNet, device: torch.device, repeats: int) -> float:
    """Median milliseconds for one frame (after one warm-up run)."""
    h, w = PAPER_SIZE
    g = torch.Generator().manual_seed(0)
    ref = (torch.rand(1, 3, h, w, generator=g) * 255).to(device)
    srcs = (torch.rand(1, NUM_SOURCES, 3, h, w, generator=g) * 255).to(device)
    K = torch.tensor([[285.0, 0, 159.5], [0, 285.0, 127.5], [0, 0, 1]], device=device)
    T = torch.eye(4, device=device).repeat(1, NUM_SOURCES, 1, 1)
    T[0, :, 0, 3] = torch.linspace(-0.1, 0.1, NUM_SOURCES)
    inv_depths = cv.inverse_depth_samples(model.num_depths, device=device)
    times = []
    for i in range(repeats + 1):
        _synchronize(device)
        t0 = time.perf_counter()
        r, s = normalize_image(ref), normalize_image(srcs)
        model(r, cv.multi_view_cost_volume(r, s, K, T, inv_depths))
        _synchronize(device)
        if i:  # the first run is a warm-up
            times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per row (median reported)")
    args = p.parse_args()
    cpu = TrainConfig()
    nets = [
        ("paper (width 1.0, 64 planes)", 1.0, 64),
        (f"cpu preset (width {cpu.model_width}, {cpu.num_depths} planes)", cpu.model_width, cpu.num_depths),
    ]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    size = f"{PAPER_SIZE[1]} x {PAPER_SIZE[0]}"
    print(
        f"MVDepthNet inference at {size}, {NUM_SOURCES} measurement frames, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(f"{'device':<8}{'network':<38}{'parameters':>12}{'ms / frame':>12}")
    for device in devices:
        for name, width, depths in nets:
            model = MVDepthNet(width=width, num_depths=depths).to(device).eval()
            n = sum(p.numel() for p in model.parameters())
            print(f"{device.type:<8}{name:<38}{n:>12,}{time_frame(model, device, args.repeats):>12.1f}", flush=True)


if __name__ == "__main__":
    main()
