"""The scale explorer of chapter 10: MVDepthNet's four inverse-depth outputs, finest first.

Each output is drawn over the full image, so a coarse map's pixels show as blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from torch import Tensor

from mvdlib._validation import check_int, check_shape
from mvdlib.explorers.core import Explorer, Param, View

__all__ = ["mvdepthnet_scales_explorer"]

_INV_DEPTH_MAX = 1.0  # 1/m at the top of the colour scale: 1 m and closer is the darkest colour


def mvdepthnet_scales_explorer(disps: Sequence[Tensor], index: int = 0) -> Explorer:
    """The scale explorer: a slider over the network's outputs disp1 (finest) to disp4 (chapter 10).

    Args:
        disps: the network's outputs, finest first, each B x 1 x h_s x w_s inverse depth (1/m).
        index: which image of the batch.
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    if len(disps) == 0:
        raise ValueError("disps must be a non-empty list of B x 1 x h x w maps, got an empty list")
    batch = {check_shape(d, "B 1 h w", f"disps[{k}]")["B"] for k, d in enumerate(disps)}
    index = check_int(index, "index", min=0, max=min(batch) - 1)
    maps = [d[index, 0].detach().cpu().float().numpy() for d in disps]
    height, width = maps[0].shape

    def draw(output: int) -> View:
        m = maps[output - 1]
        step = width / m.shape[1]  # full-resolution pixels per pixel of this output
        centre = (step - 1) / 2  # a coarse pixel's centre, in disp1's pixel-centre coordinates
        heat = go.Heatmap(z=np.round(m, 4), x0=centre, dx=step, y0=centre, dy=step, zmin=0, zmax=_INV_DEPTH_MAX,
                          colorscale="Magma", reversescale=True,
                          colorbar={"title": {"text": "inverse depth (1/m)", "side": "right"}})  # fmt: skip
        return View([heat], {"title": {"text": f"disp{output}: {m.shape[1]} x {m.shape[0]} pixels"}})

    layout = {
        "xaxis": {"title": {"text": "u (pixels of disp1)"}, "range": [0, width], "constrain": "domain"},
        "yaxis": {"title": {"text": "v (pixels of disp1)"}, "range": [height, 0], "scaleanchor": "x"},
        "height": 460,
    }
    outputs = list(range(1, len(maps) + 1))
    return Explorer([Param("output", outputs, 1, "output disp")], draw, layout)
