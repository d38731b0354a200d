"""Time one plane-sweep cost volume (default 1 x 64 x 256 x 320, MVDepthNet's size) three ways.

(a) the original MVDepthNet ``getVolume`` (one ``grid_sample`` per plane), ported in
    ``tests/reference_cost_volume.py``;
(b) a naive all-planes-at-once version: every plane's grid, warped image and difference
    materialised as D x C x H x W tensors;
(c) ``mvdlib.cost_volume.plane_sweep_cost_volume``.

The methods run interleaved, one call of each per round, so that a change of load on a
shared machine hits all of them alike; the table gives the median time of each and the
median over rounds of the ratio (a)/(x). Beside it: the arithmetic and memory-traffic
floors for that size, from a measured matrix-multiply rate and copy bandwidth.

Tried for issue 16 (target: 4x over (a)), not adopted: gathering the four bilinear taps by
hand, with integer indices into a zero-bordered channels-last copy of the source and
``torch.lerp`` for the weights (8 planes per gather, the homography evaluated in pixel units
as a + s b): equal to (c) within 1.5e-3, but 353 ms against (c)'s 73 ms per volume (one
thread, CPU time, medians of 5): torch's indexing makes ~15 passes over planes x pixels where
grid_sample makes one. A faster volume needs one fused kernel (C++ or Triton), not more
tensor operations.

    python benchmarks/cost_volume.py                 # CPU, all threads torch sees
    python benchmarks/cost_volume.py --threads 1     # CPU, one thread
    python benchmarks/cost_volume.py --device cuda   # GPU (if present)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_cost_volume import original_get_volume, original_precompute  # noqa: E402

from mvdlib.cost_volume import inverse_depth_samples, plane_sweep_cost_volume  # noqa: E402
from mvdlib.geometry import axis_angle_to_matrix  # noqa: E402

# Work per output cost value C[d, v, u] for C = 3 channels, counted as floating-point
# operations (an FMA is 2): the homogeneous point a + s b (3 FMA = 6), the perspective
# divide (3), the bilinear weights and tap positions (~8), 4 taps x C multiply-adds (24),
# C subtractions, C absolute values and C - 1 additions (8).
FLOPS_PER_COST = 6 + 3 + 8 + 24 + 8
# Bytes that must move to or from memory per output value: the float32 result, written once
# (the two images, 2 x C x H x W floats, stay in cache).
BYTES_PER_COST = 4


def naive_all_planes(ref, src, KRKiUV, KT, inv_depths):
    """All planes at once: D x 3 x HW points, one grid_sample over a batch of D copies of src."""
    _, c, h, w = ref.shape
    d = len(inv_depths)
    transformed = KRKiUV / inv_depths.view(d, 1, 1) + KT  # D x 3 x WH (column-major pixels)
    uv = transformed[:, :2] / transformed[:, 2:]
    base = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=ref.device).view(1, 2, 1)
    grid = ((uv - base) / base).view(d, 2, w, h).permute(0, 3, 2, 1)  # D x H x W x 2
    warped = F.grid_sample(src.expand(d, c, h, w), grid, align_corners=True)  # D x C x H x W
    return (warped - ref).abs().sum(1)[None]


def _timed(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _rates(device: torch.device) -> tuple[float, float]:
    """Measured float32 matrix-multiply rate (FLOP/s) and copy bandwidth (bytes/s): medians of 5."""
    n = 1024
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    x = torch.rand(2**24, device=device)  # 64 MB, beyond the caches
    y = torch.empty_like(x)
    a @ b, y.copy_(x)  # warm up
    mm = statistics.median(_timed(lambda: a @ b, device) for _ in range(5))
    cp = statistics.median(_timed(lambda: y.copy_(x), device) for _ in range(5))
    return 2 * n**3 / mm, 2 * x.numel() * 4 / cp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--planes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15, help="rounds; each round times every method once")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--chunks", type=int, nargs="*", default=[], help="also time these planes_per_chunk")
    args = parser.parse_args()
    device = torch.device(args.device)
    h, w = args.height, args.width
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    ref = ((torch.rand(1, 3, h, w) * 255 - 81.0) / 35.0).to(device)  # MVDepthNet's normalisation
    src = ((torch.rand(1, 3, h, w) * 255 - 81.0) / 35.0).to(device)
    K = torch.tensor([[0.89 * w, 0.0, w / 2], [0.0, 1.19 * h, h / 2], [0.0, 0.0, 1.0]])
    T = torch.eye(4)
    T[:3, :3] = axis_angle_to_matrix(torch.tensor([0.02, -0.05, 0.01]))
    T[:3, 3] = torch.tensor([0.15, -0.02, 0.05])
    s = inverse_depth_samples(args.planes, device=device)
    KRKiUV, KT = (x.to(device) for x in original_precompute(K.numpy(), T.numpy(), h, w))
    K, T = K.to(device), T.to(device)

    methods: dict[str, Callable[[], torch.Tensor]] = {
        "(a) original loop": lambda: original_get_volume(ref, src, KRKiUV, KT, s),
        "(b) naive all planes": lambda: naive_all_planes(ref, src, KRKiUV, KT, s),
        "(c) mvdlib": lambda: plane_sweep_cost_volume(ref, src, K, T, s),
    }
    for chunk in args.chunks:
        methods[f"(c) mvdlib, {chunk} planes/chunk"] = lambda chunk=chunk: plane_sweep_cost_volume(
            ref, src, K, T, s, planes_per_chunk=chunk
        )

    with torch.no_grad():
        expected = methods["(c) mvdlib"]()
        diffs = {name: (fn() - expected).abs().max().item() for name, fn in methods.items()}
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                times[name].append(_timed(fn, device))
        flop_rate, bandwidth = _rates(device)

    base = times["(a) original loop"]
    threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(
        f"cost volume 1 x {args.planes} x {h} x {w}, C = 3, device {device}, torch threads {threads}, "
        f"{args.repeats} rounds"
    )
    print(f"{'method':34s} {'median ms':>10s} {'min ms':>8s} {'speed-up vs (a)':>16s} {'max |diff| vs (c)':>18s}")
    for name, ts in times.items():
        ratio = statistics.median(b / t for b, t in zip(base, ts, strict=True))
        print(f"{name:34s} {1e3 * statistics.median(ts):10.1f} {1e3 * min(ts):8.1f} {ratio:15.2f}x {diffs[name]:18.2e}")
    count = args.planes * h * w
    print(
        f"floor, arithmetic: {FLOPS_PER_COST * count / 1e6:.0f} MFLOP at the measured matmul rate "
        f"{flop_rate / 1e9:.1f} GFLOP/s = {1e3 * FLOPS_PER_COST * count / flop_rate:.1f} ms"
    )
    print(
        f"floor, memory traffic: {BYTES_PER_COST * count / 1e6:.0f} MB written at the measured copy bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s = {1e3 * BYTES_PER_COST * count / bandwidth:.1f} ms"
    )
    print(f"(4 x 3 bilinear taps per value: {12 * count / 1e6:.0f} M gathered loads, the part no vector unit hides)")
    print("what limits (c): grid_sample's bilinear gathers (over half its CPU time), then the coordinate and")
    print("|difference| passes over D x C x H x W values. (a) calls grid_sample once per plane with a batch of one")
    print("(one CPU thread) on a transposed, non-contiguous grid, and launches ~10 small kernels per plane on a GPU.")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
