"""How fast the synthetic data generator renders, before and after issue 16, and what its cache saves (chapter 2).

Prints (1) views rendered per second at 320x256 and 160x128, one view per call, and (2)
dataset samples (1 reference + 2 sources, trajectory sampling included) per second on a
cold cache, each timed two ways in one run: (a) ``mvdlib/data/synthetic.py`` as it was at
``benchmarks/baseline.py``'s commit, (b) now. The two alternate call by call on the same
scenes, so a change of load hits both; the tables give medians over scenes x repeats and
the ratio (a)/(b) of the medians. Last, (3) a cache miss (render and write) against a hit.

Where the time went (a, cProfile and per-stage timers, one thread, one 320x256 view, about
87 ms of CPU): texture lookup 33 ms (of it ``np.mod`` wrapping the texel coordinates 9 ms,
cv2.remap 2.4 ms, the rest gathers and sums over the ~1.4 hits per pixel of triplanar
mapping), Open3D's primary rays 15 ms and shadow rays 11 ms, normal and position
interpolation 15 ms, and 5 to 10 ms of validating every pose through torch, also in each of
the ~10 coarse depth probes of trajectory sampling. Now: the wrap is exact arithmetic on
power-of-two texture sizes (30x faster than np.mod, same bits), the probes skip the torch
validation, and a sample's views are cast in one Open3D call and shaded view by view. The
images are bit-identical (tests/test_synthetic.py checks hashes recorded before). The ray
casts and the per-pixel NumPy passes that remain are the floor of this design; a second
core helps through DataLoader workers (``mvdlib.training.schedule``, ``num_workers``).

    python benchmarks/data_generation.py [--repeats 5] [--scenes 3]

Wall-clock time is what a reader waits; CPU time (all threads of the process) is less
sensitive to other programs competing for the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import BASELINE_COMMIT, baseline_module  # noqa: E402

from mvdlib.data import synthetic as current  # noqa: E402

SIZES = ((256, 320), (128, 160))  # (height, width): MVDepthNet's input size and half of it


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def render_speed(modules, height: int, width: int, scenes: int, repeats: int) -> list[tuple[float, float]]:
    """Median (wall, CPU) seconds per rendered view of each module, alternating call by call."""
    K = current.default_intrinsics(height, width)
    times = [([], []) for _ in modules]
    for seed in range(scenes):
        built = [m.SyntheticScene(seed) for m in modules]
        T_ref, _ = built[-1].sample_trajectory(np.random.default_rng(seed))
        for m, scene in zip(modules, built, strict=True):
            m.render_view(scene, K, T_ref, height, width)  # warm-up
        for _ in range(repeats):
            for (walls, cpus), m, scene in zip(times, modules, built, strict=True):
                w, c = _timed(lambda m=m, scene=scene, T=T_ref: m.render_view(scene, K, T, height, width))
                walls.append(w)
                cpus.append(c)
    return [(statistics.median(w), statistics.median(c)) for w, c in times]


def sample_speed(modules, height: int, width: int, samples: int) -> list[tuple[float, float]]:
    """Median (wall, CPU) seconds per dataset sample rendered without a cache (scenes built beforehand)."""
    datasets = [
        m.SyntheticMultiViewDataset("train", 2, samples, height=height, width=width, cache=False) for m in modules
    ]
    for d in datasets:
        d.scene(0)
    times = [([], []) for _ in modules]
    for i in range(samples):
        for (walls, cpus), d in zip(times, datasets, strict=True):
            w, c = _timed(lambda d=d, i=i: d.render(i))
            walls.append(w)
            cpus.append(c)
    return [(statistics.median(w), statistics.median(c)) for w, c in times]


def cache_effect(height: int, width: int, samples: int) -> tuple[float, float]:
    """Median wall seconds per dataset sample on a cache miss and on a cache hit."""
    with tempfile.TemporaryDirectory() as cache_dir:
        data = current.SyntheticMultiViewDataset(
            "train", num_scenes=1, samples_per_scene=samples, height=height, width=width, cache_dir=cache_dir
        )
        data.scene(0)  # build the scene outside the timing: both passes use it
        miss = [_timed(lambda i=i: data[i])[0] for i in range(samples)]
        hit = [_timed(lambda i=i: data[i])[0] for i in range(samples)]
    return statistics.median(miss), statistics.median(hit)


def _table(title: str, unit: str, rows) -> None:
    print(title)
    head = f"{'size (W x H)':<14}{unit + '/s (a)':>16}{unit + '/s (b)':>16}{'CPU/s (b)':>12}"
    print(head + f"{'ratio wall':>12}{'ratio CPU':>11}")
    for size, ((wa, ca), (wb, cb)) in rows:
        print(f"{size:<14}{1 / wa:>16.1f}{1 / wb:>16.1f}{1 / cb:>12.1f}{wa / wb:>11.2f}x{ca / cb:>10.2f}x")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="renders per scene and size")
    parser.add_argument("--scenes", type=int, default=3, help="scenes per size")
    parser.add_argument("--samples", type=int, default=6, help="dataset samples per size")
    parser.add_argument("--cache-samples", type=int, default=4, help="dataset samples for the cache test")
    args = parser.parse_args()

    start = time.perf_counter()
    current.texture_bank()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; texture bank built in "
        f"{time.perf_counter() - start:.2f} s (once per process)"
    )
    modules = [baseline_module("mvdlib/data/synthetic.py"), current]
    modules[0].texture_bank()
    print(f"(a) mvdlib/data/synthetic.py at {BASELINE_COMMIT}, (b) now; medians, wall-clock unless marked CPU")
    print()
    sizes = [(f"{w} x {h}", h, w) for h, w in SIZES]
    views = [(s, render_speed(modules, h, w, args.scenes, args.repeats)) for s, h, w in sizes]
    _table("one view per call", "views", views)
    _table(
        "dataset samples (3 views, trajectory included), cold cache",
        "samples",
        [(s, sample_speed(modules, h, w, args.samples)) for s, h, w in sizes],
    )
    print("one dataset sample (1 reference + 2 sources, trajectory included), now: cache miss vs hit")
    print(f"{'size (W x H)':<14}{'miss (ms)':>12}{'hit (ms)':>12}{'speed-up':>10}")
    for height, width in SIZES:
        miss, hit = cache_effect(height, width, args.cache_samples)
        print(f"{f'{width} x {height}':<14}{1000 * miss:>12.1f}{1000 * hit:>12.1f}{miss / hit:>9.0f}x")


if __name__ == "__main__":
    main()
