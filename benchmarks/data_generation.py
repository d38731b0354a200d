"""How fast the synthetic data generator renders, and what its disk cache saves (chapter 2).

Prints a table of rendered views per second at 320x256 and 160x128 (median over repeats of
single-view renders of several scenes), the time of one dataset sample (reference plus
sources, trajectory sampling included), and the time of a cache miss (render and write)
against a cache hit (read).

    python benchmarks/data_generation.py [--repeats 5] [--scenes 3]

Timings depend on the machine and on its load; the script prints both. Wall-clock time is
what a reader waits; CPU time (all threads of the process) is less sensitive to other
programs competing for the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from mvdlib.data.synthetic import (
    SyntheticMultiViewDataset,
    SyntheticScene,
    default_intrinsics,
    render_view,
    texture_bank,
)

SIZES = ((256, 320), (128, 160))  # (height, width): MVDepthNet's input size and half of it


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def render_speed(height: int, width: int, scenes: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds per rendered view over ``scenes`` scenes x ``repeats``."""
    K = default_intrinsics(height, width)
    walls, cpus = [], []
    for seed in range(scenes):
        scene = SyntheticScene(seed)
        T_ref, _ = scene.sample_trajectory(np.random.default_rng(seed))
        render_view(scene, K, T_ref, height, width)  # warm-up
        for _ in range(repeats):
            w, c = _timed(lambda scene=scene, T_ref=T_ref: render_view(scene, K, T_ref, height, width))
            walls.append(w)
            cpus.append(c)
    return statistics.median(walls), statistics.median(cpus)


def cache_effect(height: int, width: int, samples: int) -> tuple[float, float]:
    """Median wall seconds per dataset sample on a cache miss and on a cache hit."""
    with tempfile.TemporaryDirectory() as cache_dir:
        data = SyntheticMultiViewDataset(
            "train", num_scenes=1, samples_per_scene=samples, height=height, width=width, cache_dir=cache_dir
        )
        data.scene(0)  # build the scene outside the timing: both passes use it
        miss = [_timed(lambda i=i: data[i])[0] for i in range(samples)]
        hit = [_timed(lambda i=i: data[i])[0] for i in range(samples)]
    return statistics.median(miss), statistics.median(hit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="renders per scene and size")
    parser.add_argument("--scenes", type=int, default=3, help="scenes per size")
    parser.add_argument("--cache-samples", type=int, default=4, help="dataset samples for the cache test")
    args = parser.parse_args()

    start = time.perf_counter()
    texture_bank()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; texture bank built in "
        f"{time.perf_counter() - start:.2f} s (once per process)"
    )
    print()
    print(f"{'size (W x H)':<14}{'views/s (wall)':>16}{'views/s (CPU)':>16}{'ms/view (wall)':>16}")
    for height, width in SIZES:
        wall, cpu = render_speed(height, width, args.scenes, args.repeats)
        print(f"{f'{width} x {height}':<14}{1 / wall:>16.1f}{1 / cpu:>16.1f}{1000 * wall:>16.1f}")
    print()
    print("one dataset sample (1 reference + 2 sources, trajectory included): cache miss vs hit")
    print(f"{'size (W x H)':<14}{'miss (ms)':>12}{'hit (ms)':>12}{'speed-up':>10}")
    for height, width in SIZES:
        miss, hit = cache_effect(height, width, args.cache_samples)
        print(f"{f'{width} x {height}':<14}{1000 * miss:>12.1f}{1000 * hit:>12.1f}{miss / hit:>9.0f}x")


if __name__ == "__main__":
    main()
