"""The warp explorer of chapter 2: the photometric error of a source view warped with a scaled depth.

At the true depth (scale 1) the warped source lines up with the reference and the error
is darkest; a depth a few per cent off already shows edges everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from torch import Tensor

from mvdlib._validation import positive_int
from mvdlib.data.synthetic import warp_to_reference
from mvdlib.explorers.core import Explorer, Param, View

__all__ = ["warp_error_map", "warp_explorer"]

# Depth scale factors the HTML twin steps through (1 = the true depth); live, 0.80 to 1.20 by 0.01.
WARP_EXPLORER_SCALES = (0.8, 0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1, 1.2)
_WARP_ERROR_MAX = 60.0  # grey levels at the top of the colour scale


def warp_error_map(sample: Mapping[str, Tensor], view: int = 0, depth_scale: float = 1.0) -> np.ndarray:
    """|reference - source warped with ``depth_scale`` x depth|, mean over RGB (chapter 2).

    Args:
        sample: a dataset-form dict (see :func:`mvdlib.data.synthetic.warp_to_reference`).
        view: which source view.
        depth_scale: factor applied to the reference depth.
    Returns:
        H x W float NumPy array in grey levels, NaN where the warp is invalid.
    """
    warped, valid = warp_to_reference(sample, view, depth_scale)
    error = (warped - sample["ref_image"]).abs().mean(0).numpy()
    return np.where(valid.numpy(), error, np.nan)


def warp_explorer(sample: Mapping[str, Tensor], view: int = 0, step: int = 4) -> Explorer:
    """The warp explorer: a slider over the depth scale, the error map it gives (chapter 2).

    Args:
        sample: a dataset-form dict (synthetic sample or the real stereo pair).
        view: which source view.
        step: show every ``step``-th pixel, to keep the HTML twin small.
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    step = positive_int(step, "step")
    height, width = sample["ref_image"].shape[-2:]

    def draw(depth_scale: float) -> View:
        error = warp_error_map(sample, view, depth_scale)
        heat = go.Heatmap(z=np.round(error[::step, ::step], 1), x0=0, dx=step, y0=0, dy=step, zmin=0,
                          zmax=_WARP_ERROR_MAX, colorscale="Inferno",
                          colorbar={"title": {"text": "grey levels", "side": "right"}})  # fmt: skip
        title = f"depth x {depth_scale:.2f}: median error {np.nanmedian(error):.1f} grey levels"
        return View([heat], {"title": {"text": title}})

    layout = {
        "xaxis": {"title": {"text": "u (pixels)"}, "range": [0, width], "constrain": "domain"},
        "yaxis": {"title": {"text": "v (pixels)"}, "range": [height, 0], "scaleanchor": "x"},
        "height": 460,
    }
    scales = [round(float(s), 2) for s in np.arange(0.8, 1.205, 0.01)]
    return Explorer([Param("depth_scale", scales, 1.0, "depth scale", WARP_EXPLORER_SCALES)], draw, layout)
