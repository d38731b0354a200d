"""The fusion explorer of chapter 12: the consistency filter's two knobs, seen from above.

``min_views`` (m) is how many other views must agree with a point, ``rel_tol`` (tau) how
closely; the title scores each setting against the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from mvdlib.explorers.core import Explorer, Param, View
from mvdlib.metrics import precision_recall_fscore
from mvdlib.pointcloud import DepthView, fuse

__all__ = ["fusion_explorer"]

# Every 4th pixel fused on a 3 cm grid, scored from 5,000 sampled points at 10 cm: about a
# second a setting on a laptop. 4,000 points are drawn per setting.
_FUSION_STRIDE, _FUSION_VOXEL, _FUSION_THRESHOLD, _FUSION_SAMPLE, _FUSION_PLOT_POINTS = 4, 0.03, 0.1, 5000, 4000
FUSION_TOLERANCES = (0.005, 0.01, 0.02, 0.05, 0.1)


def fusion_explorer(
    views: Sequence[DepthView],
    gt_points: np.ndarray,
    static_min_views: Sequence[int] = (0, 1, 2, 3, 5),
    rel_tol: float = 0.02,
) -> Explorer:
    """The fusion explorer: sliders over ``min_views`` and the tolerance tau (chapter 12).

    The HTML twin steps through ``static_min_views`` at ``rel_tol``.

    Args:
        views: depth maps with cameras, as for :func:`mvdlib.pointcloud.fuse`.
        gt_points: M x 3 ground-truth points.
        static_min_views: the HTML slider's settings of ``min_views`` (those below ``len(views)``).
        rel_tol: the default tolerance, one of ``FUSION_TOLERANCES``.
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    if len(views) < 2:
        raise ValueError(f"views must hold at least 2 depth views, got {len(views)}")
    counts = list(range(len(views)))
    static = [m for m in static_min_views if m in counts]

    def draw(min_views: int, rel_tol: float) -> View:
        points, colors = fuse(views, min_views, rel_tol, voxel_size=_FUSION_VOXEL, stride=_FUSION_STRIDE)
        p, r, f = precision_recall_fscore(points, gt_points, _FUSION_THRESHOLD, sample=_FUSION_SAMPLE)
        keep = np.random.default_rng(0).permutation(len(points))[:_FUSION_PLOT_POINTS]
        rgb: str | list[str] = "black"
        if colors is not None:
            rgb = [f"rgb({r},{g},{b})" for r, g, b in (colors[keep] * 255).round().astype(int)]
        dots = go.Scattergl(x=np.round(points[keep, 0], 4), y=np.round(points[keep, 1], 4), mode="markers",
                            marker={"size": 2, "color": rgb}, showlegend=False)  # fmt: skip
        title = (f"min_views={min_views}, tau={rel_tol:.1%}: {len(points):,} points, "
                 f"P {p:.2f} R {r:.2f} F {f:.2f} at {100 * _FUSION_THRESHOLD:.0f} cm")  # fmt: skip
        return View([dots], {"title": {"text": title, "font": {"size": 13}}})

    layout = {"xaxis": {"title": {"text": "x (m)"}}, "yaxis": {"title": {"text": "y (m)"}, "scaleanchor": "x"},
              "height": 620}  # fmt: skip
    params = [
        Param("min_views", counts, static[min(2, len(static) - 1)] if static else 0, "min_views m", static),
        Param("rel_tol", FUSION_TOLERANCES, rel_tol, "tau", static_values=()),
    ]
    return Explorer(params, draw, layout)
