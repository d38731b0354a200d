"""What making ``predict``'s folded copy costs against a whole ``predict`` (chapter 10).

``mvdlib.inference.predict`` makes its fast copy (``inference_model``: a deep copy of the
network, BatchNorm folded into the convolutions, channels_last on the CPU) anew on every call
instead of keeping one, so that no change of the model can leave a stale copy. This prints the
median over repeats of (a) ``inference_model(model)`` alone and (b) one ``predict`` (which
includes (a)) for the paper's width-1.0 network with 64 planes at 320 x 256, one reference image
and two measurement frames; the two alternate within each repeat, so a change of load on a
shared machine hits both. The share (a)/(b) is what the copy costs.

    python benchmarks/inference_fold.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from mvdlib.conventions import PAPER_SIZE
from mvdlib.inference import inference_model, predict
from mvdlib.models.mvdepthnet import MVDepthNet


def main() -> None:
    """Parse the arguments, time both, print the medians and the share."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MVDepthNet(width=1.0, input_size=PAPER_SIZE).eval()
    h, w = PAPER_SIZE
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    srcs = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    K = np.array([[0.8 * w, 0, (w - 1) / 2], [0, 0.8 * w, (h - 1) / 2], [0, 0, 1]])
    T_srcs = np.repeat(np.eye(4)[None], 2, axis=0)
    T_srcs[0, 0, 3], T_srcs[1, 1, 3] = 0.1, 0.1
    copies, predicts = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        inference_model(model)
        copies.append(time.perf_counter() - start)
        start = time.perf_counter()
        predict(model, ref, srcs, K, np.eye(4), T_srcs)
        predicts.append(time.perf_counter() - start)
    a, b = statistics.median(copies), statistics.median(predicts)
    print(f"width 1.0, {h} x {w}, 64 planes, 2 sources, {args.threads} thread(s), {args.repeats} repeats")
    print(f"(a) inference_model: median {a:.3f} s  {[round(t, 3) for t in copies]}")
    print(f"(b) predict:         median {b:.3f} s  {[round(t, 3) for t in predicts]}")
    print(f"(a)/(b) = {a / b:.1%}")


if __name__ == "__main__":
    main()
