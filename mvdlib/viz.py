"""Plotting helpers shared by the chapters.

Figures follow the book's rules: titles, axis labels with units, and colour bars for depth
(metres) and inverse depth (1/m).

Interactive figures use plotly. In the built HTML book plotly.js is served once from the
book's own static files (``_config.yml``: ``html_js_files``), so :func:`show_plotly` emits
the figure without a copy of the library and with no CDN: the page works offline. In
Jupyter the same output carries plotly's own MIME type, which JupyterLab renders natively.
"""

from __future__ import annotations

import json
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plotly_bundle", "show_depth", "show_plotly"]


def plotly_bundle(fig: Any) -> dict[str, Any]:
    """The MIME bundle of a plotly figure for Jupyter (plotly's MIME type) and the offline HTML book.

    The HTML loads no copy of plotly.js (the book serves one) and does not play the
    figure's frames on load: plotly's default ``auto_play`` animates through every frame
    when the page opens, and heat maps and images are not drawn while it runs.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    Returns:
        ``{"application/vnd.plotly.v1+json": ..., "text/html": ...}``.
    """
    import plotly.graph_objects as go

    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    html = fig.to_html(full_html=False, include_plotlyjs=False, auto_play=False, config={"responsive": True})
    return {"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}


def show_plotly(fig: Any) -> None:
    """Display a plotly figure that works in Jupyter and in the offline HTML book.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    """
    from IPython.display import display

    display(plotly_bundle(fig), raw=True)


def show_depth(
    ax: plt.Axes,
    depth: np.ndarray,
    title: str,
    inverse: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma_r",
) -> Any:
    """Show a depth (or inverse-depth) map with a labelled colour bar.

    Args:
        ax: the matplotlib axes to draw into.
        depth: H x W depth in metres (or inverse depth in 1/m when ``inverse``);
            0 or non-finite pixels are shown blank.
        title: the axes title.
        inverse: label the colour bar as inverse depth.
        vmin, vmax: colour range (defaults: the valid values' range).
    Returns:
        The image artist.
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"depth must be HxW, got shape {d.shape}")
    shown = np.where(np.isfinite(d) & (d > 0), d, np.nan)
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.set_xlabel("u (pixels)")
    ax.set_ylabel("v (pixels)")
    cbar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("inverse depth (1/m)" if inverse else "depth (m)")
    return im
