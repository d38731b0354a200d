"""Run in the Colab-like venv by ``scripts/colab_check.py``: every explorer's controls change its figure.

Builds each explorer of the book on a small synthetic sample, shows it (``Explorer.show``, with
``IPython.display.display`` recorded), then moves every control of the live renderer through
about four of its values, spread over its range, from Python, as a reader's clicks would, and
records whether the ``FigureWidget`` changed. Prints one JSON object: the widget stack's
versions, and per explorer and control the number of values tried that changed the figure;
exits 1 if a control never changes it or ``show`` does not emit a widget view and HTML that
loads plotly.js (what plotly's ``colab`` renderer writes).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import version

import IPython.display
import numpy as np
import plotly.io as pio
import torch

from mvdlib import cost_volume as cv
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.explorers import Explorer
from mvdlib.explorers.activations import activation_explorer
from mvdlib.explorers.cost_slices import cost_explorer_data, cost_slice_explorer
from mvdlib.explorers.fusion import fusion_explorer
from mvdlib.explorers.losses import loss_explorer
from mvdlib.explorers.scales import mvdepthnet_scales_explorer
from mvdlib.explorers.warp import warp_explorer
from mvdlib.notebook import WIDGET_VIEW_MIME, in_colab
from mvdlib.pointcloud import DepthView

TRIED = 4  # values tried per control


def explorers(cache: str) -> dict[str, Callable[[], Explorer]]:
    """Every explorer of the book, on a 32 x 40 synthetic sample."""
    sample = SyntheticMultiViewDataset("test", 1, 1, num_sources=2, height=32, width=40, cache_dir=cache)[0]
    K, depth = sample["K"].numpy(), sample["ref_depth"][0].numpy()
    views = [DepthView(depth, K, sample["T_world_ref"].numpy())] * 3
    gt = np.random.default_rng(0).uniform(0, 5, (500, 3))
    disps = [torch.rand(2, 1, 32 // 2**k, 40 // 2**k, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    data = cost_explorer_data(sample, inv_depths=cv.inverse_depth_samples(8))
    return {
        "warp": lambda: warp_explorer(sample, step=2),
        "losses": loss_explorer,
        "activations": lambda: activation_explorer(names=("sigmoid", "relu")),
        "cost_slices": lambda: cost_slice_explorer(data, pixels=[(5, 5)], plane_step=2, pixel_step=2),
        "scales": lambda: mvdepthnet_scales_explorer(disps, index=1),
        "fusion": lambda: fusion_explorer(views, gt, static_min_views=(0, 2)),
    }


def figure_state(fig) -> str:
    return pio.to_json({"data": [t.to_plotly_json() for t in fig.data], "layout": fig.layout.to_plotly_json()})


def probe(explorer: Explorer) -> tuple[dict[str, int], list[str]]:
    """Per control, how many of the values tried changed the live figure; and what ``show`` got wrong."""
    shown: list = []
    display = IPython.display.display
    IPython.display.display = lambda obj, raw=False: shown.append(obj)
    try:
        explorer.show()
    finally:
        IPython.display.display = display
    problems = []
    [bundle] = shown
    if WIDGET_VIEW_MIME not in bundle:
        problems.append("show() emitted no widget view")
    if in_colab() and "cdn.plot.ly" not in bundle.get("text/html", ""):
        problems.append("show()'s HTML does not load plotly.js (plotly's colab renderer does)")
    live = explorer.live()
    changed = {}
    for name, control in live.controls.items():
        default, count = control.value, 0
        others = [value for _label, value in control.options if value != default]
        for value in others[:: max(1, len(others) // TRIED)]:  # up to about TRIED values, spread out
            before = figure_state(live.figure)
            control.value = value
            count += figure_state(live.figure) != before
            control.value = default
        changed[name] = count
    return changed, problems


def main() -> int:
    report: dict = {
        "versions": {name: version(name) for name in ("ipywidgets", "plotly", "anywidget", "ipykernel")},
        "colab": in_colab(),
        "explorers": {},
    }
    failed = False
    with tempfile.TemporaryDirectory() as cache:
        for name, make in explorers(cache).items():
            changed, problems = probe(make())
            report["explorers"][name] = {"changed": changed, "problems": problems}
            failed |= bool(problems) or not all(changed.values())
    print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
