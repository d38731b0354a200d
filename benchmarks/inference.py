"""MVDepthNet inference speed at 320 x 256: milliseconds per frame, cost volume included (chapter 10).

Prints one row per (device, network, path): the paper's width-1.0 network with 64 planes
and the CPU preset's network (``mvdlib.training.config`` defaults) on the same input size, each run
(a) eagerly, as built (BatchNorm layers, NCHW), and (b) through
``mvdlib.inference.inference_model``, the copy ``predict`` runs (BatchNorm folded
into the convolutions, channels_last on the CPU, ``torch.inference_mode``). A frame is one
reference image with two measurement frames: normalisation, the multi-view plane-sweep
cost volume and the forward pass. The two paths alternate within each repeat, so a change
of load on a shared machine hits both; the ratio is the median over repeats of (a)/(b),
and the largest difference of their inverse-depth outputs is printed beside it. (c) is
``predict(..., precision="bf16")``'s path: the same copy under ``torch.autocast`` in
bfloat16 (the cost volume stays float32); its ratio is (b)/(c), median over repeats, with its
largest inverse-depth difference from (b). On a CPU without native bfloat16 (AVX512-BF16 or
AMX) oneDNN emulates it and (c) may be slower than (b); the header says which CPU this is.

Where the time goes (torch.profiler, width 1.0, eager, one CPU thread): the 24 convolutions
are 92% of a frame, oneDNN's reorders of NCHW tensors to and from its blocked layout
included; BatchNorm 2%; the cost volume's grid_sample (2 views x 64 planes) 2%; bilinear
up-sampling 1%. Folding removes the BatchNorm passes, channels_last most of the reorders
(together 1.2x in CPU time on one thread). The convolutions themselves, about 150 GFLOP at
about 100 GFLOP/s per core in float32, are the floor; torch.compile was not tried (minutes
of compilation on 2 cores, longer than a chapter's budget).

    python benchmarks/inference.py [--repeats 3] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mvdlib import cost_volume as cv
from mvdlib.conventions import PAPER_SIZE, normalize_image
from mvdlib.inference import inference_model
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.training.config import TrainConfig

NUM_SOURCES = 2


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _frame_inputs(device: torch.device, num_depths: int):
    h, w = PAPER_SIZE
    g = torch.Generator().manual_seed(0)
    ref = (torch.rand(1, 3, h, w, generator=g) * 255).to(device)
    srcs = (torch.rand(1, NUM_SOURCES, 3, h, w, generator=g) * 255).to(device)
    K = torch.tensor([[285.0, 0, 159.5], [0, 285.0, 127.5], [0, 0, 1]], device=device)
    T = torch.eye(4, device=device).repeat(1, NUM_SOURCES, 1, 1)
    T[0, :, 0, 3] = torch.linspace(-0.1, 0.1, NUM_SOURCES)
    return ref, srcs, K, T, cv.inverse_depth_samples(num_depths, device=device)


def run_frame(net: MVDepthNet, inputs, bf16: bool = False) -> torch.Tensor:
    """One frame: normalise, build the cost volume, run the network (in bfloat16 autocast if ``bf16``)."""
    ref, srcs, K, T, inv_depths = inputs
    r, s = normalize_image(ref), normalize_image(srcs)
    cost = cv.multi_view_cost_volume(r, s, K, T, inv_depths)
    with torch.autocast(ref.device.type, dtype=torch.bfloat16, enabled=bf16):
        return net(r, cost)[0].float()


@torch.inference_mode()
def time_paths(model: MVDepthNet, device: torch.device, repeats: int) -> dict[str, float]:
    """Median ms per frame of (a) the eager model, (b) its inference copy, (c) the copy in bf16; ratios, max |diff|."""
    fast = inference_model(model)
    inputs = _frame_inputs(device, model.num_depths)
    fp32 = run_frame(fast, inputs)  # also the warm-ups
    diff = (run_frame(model, inputs) - fp32).abs().max().item()
    bf16_diff = (run_frame(fast, inputs, bf16=True) - fp32).abs().max().item()
    paths = (("eager", model, False), ("fast", fast, False), ("bf16", fast, True))
    times: dict[str, list[float]] = {k: [] for name, _, _ in paths for k in (name, name + " cpu")}
    for _ in range(repeats):
        for name, net, bf16 in paths:
            _synchronize(device)
            t0, c0 = time.perf_counter(), time.process_time()
            run_frame(net, inputs, bf16)
            _synchronize(device)
            times[name].append(1000 * (time.perf_counter() - t0))
            times[name + " cpu"].append(1000 * (time.process_time() - c0))

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    return {
        **{k: statistics.median(v) for k, v in times.items()},
        "ratio": ratio("eager", "fast"),
        "cpu ratio": ratio("eager cpu", "fast cpu"),
        "diff": diff,
        "bf16 ratio": ratio("fast", "bf16"),
        "bf16 diff": bf16_diff,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per path (median reported)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the CPU, and CUDA when present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cpu = TrainConfig()
    nets = [
        ("paper (width 1.0, 64 planes)", 1.0, 64),
        (f"cpu preset (width {cpu.model_width}, {cpu.num_depths} planes)", cpu.model_width, cpu.num_depths),
    ]
    if args.device is not None:
        devices = [torch.device(args.device)]
    else:
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    size = f"{PAPER_SIZE[1]} x {PAPER_SIZE[0]}"
    native = "native" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "no native"
    print(
        f"MVDepthNet inference at {size}, {NUM_SOURCES} measurement frames, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads, CPU with {native} bfloat16 ({torch.backends.cpu.get_cpu_capability()})"
    )
    print(f"{'device':<8}{'network':<38}{'(a) eager ms':>13}{'(b) predict ms':>15}", end="")
    print(f"{'ratio':>8}{'CPU ratio':>10}{'max |diff|':>12}{'(c) bf16 ms':>12}{'(b)/(c)':>9}{'bf16 |diff|':>12}")
    for device in devices:
        for name, width, depths in nets:
            torch.manual_seed(0)
            model = MVDepthNet(width=width, num_depths=depths).to(device).eval()
            r = time_paths(model, device, args.repeats)
            print(f"{device.type:<8}{name:<38}{r['eager']:>13.1f}{r['fast']:>15.1f}", end="")
            print(f"{r['ratio']:>7.2f}x{r['cpu ratio']:>9.2f}x{r['diff']:>12.1e}", end="")
            print(f"{r['bf16']:>12.1f}{r['bf16 ratio']:>8.2f}x{r['bf16 diff']:>12.1e}", flush=True)


if __name__ == "__main__":
    main()
