"""Plotting helpers shared by the chapters.

Figures follow the book's rules: titles, axis labels with units, and colour bars for depth
(metres) and inverse depth (1/m).

Interactive figures use plotly. In the built HTML book plotly.js is served once from the
book's own static files (``_config.yml``: ``html_js_files``), so :func:`show_plotly` emits
the figure without a copy of the library and with no CDN: the page works offline. In
Jupyter the same output carries plotly's own MIME type, which JupyterLab renders natively.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["show_depth", "show_plotly"]


def show_plotly(fig: Any) -> None:
    """Display a plotly figure that works in Jupyter and in the offline HTML book.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go
    from IPython.display import display

    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    html = fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/html": html}, raw=True)


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
