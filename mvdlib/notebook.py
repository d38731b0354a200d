"""What a chapter needs to run in any Jupyter, not only in the book's build.

The book's pages quote run-dependent numbers with MyST-NB's ``{glue}`` role; the chapters
record them with :func:`glue`, which is MyST-NB's own where it is installed (the book's
environment) and, in Colab or a plain Jupyter, where no page is being built, shows the value
only when asked to.

Figures and widgets are shown through :func:`plotly_bundle` and :func:`show_with_widget`,
which serve every frontend the book meets from one code path: JupyterLab and the HTML book
(plotly's MIME type, HTML that the book's own plotly.js draws) and Google Colab (HTML that
loads plotly.js itself, as plotly's ``colab`` renderer writes it), on ipywidgets 7 (Colab's)
and 8.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import IPython.display

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["glue", "in_colab", "plotly_bundle", "show_plotly", "show_with_widget", "widget_bundle"]

# The MIME type of a widget view; ipywidgets 7 and 8 both write version 2.0 of it.
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` for the page's ``{glue}`` roles (``myst_nb.glue``).

    Args:
        name: the key the page's Markdown refers to.
        value: any displayable object.
        display: also show the value in the cell's output.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"display must be a bool, got {type(display).__name__}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # no book build here (Colab, a fresh Jupyter): nothing to glue into
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display)


def in_colab() -> bool:
    """Whether this kernel runs in Google Colab (whose kernel imports ``google.colab`` at start).

    ``sys.modules["google.colab"] = None`` blocks that import (as tests and some sites do): not Colab.
    """
    return sys.modules.get("google.colab") is not None


def plotly_bundle(fig: go.Figure) -> dict[str, Any]:
    """The MIME bundle of a static plotly figure for the frontend this kernel serves.

    In Colab it is what plotly's ``colab`` renderer writes (``text/html`` that loads plotly.js
    from its CDN; Colab does not draw plotly's MIME type), without playing the frames on load;
    elsewhere :func:`mvdlib.viz.plotly_bundle` (plotly's MIME type and HTML for the book).

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    Returns:
        ``{mime type: data}``.
    """
    from mvdlib.viz import plotly_bundle as book_bundle

    if not in_colab():
        return book_bundle(fig)
    import plotly.graph_objects as go
    import plotly.io as pio

    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    renderer = copy.copy(pio.renderers["colab"])
    renderer.auto_play = False
    renderer.config = {**(renderer.config or {}), "responsive": True}
    return dict(renderer.to_mimebundle(fig.to_dict()))


def widget_bundle(widget: ipywidgets.Widget) -> dict[str, Any]:
    """The MIME bundle that shows an ipywidgets widget, the same on ipywidgets 7 and 8.

    ipywidgets 8 writes it in ``_repr_mimebundle_``, ipywidgets 7 (Colab's) in
    ``_ipython_display_``; both write this bundle.

    Args:
        widget: any ``ipywidgets.DOMWidget`` (a ``VBox``, a ``FigureWidget``, ...).
    Returns:
        ``{"text/plain": ..., "application/vnd.jupyter.widget-view+json": {...}}``.
    """
    import ipywidgets

    if not isinstance(widget, ipywidgets.DOMWidget):
        raise TypeError(f"widget must be an ipywidgets.DOMWidget, got {type(widget).__name__}")
    text = repr(widget)
    return {
        "text/plain": text if len(text) <= 110 else text[:110] + "…",
        WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
    }


def show_plotly(fig: go.Figure) -> None:
    """Display a static plotly figure so that it draws in Jupyter, in Colab and in the offline HTML book.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
    """
    IPython.display.display(plotly_bundle(fig), raw=True)


def show_with_widget(widget: ipywidgets.Widget, fallback: Mapping[str, Any]) -> None:
    """Display ``widget`` and, in the same output, ``fallback`` for a frontend without a widget manager.

    A live kernel's frontend draws the widget; the HTML book (and a saved notebook opened
    without a kernel) draws the richest type of ``fallback`` it knows.

    Args:
        widget: the ipywidgets widget.
        fallback: a MIME bundle (e.g. :func:`plotly_bundle` of a static figure): a non-empty
            mapping from MIME types (``"type/subtype"``) to data that is not ``None``.
    Raises:
        TypeError: ``widget`` is not an ipywidgets DOM widget, or ``fallback`` not a mapping.
        ValueError: ``fallback`` is empty, has a key that is no MIME type, or a ``None`` value (named).
    """
    if not isinstance(fallback, Mapping):
        kind = type(fallback).__name__
        raise TypeError(f"fallback must be a mapping of MIME types to data (a MIME bundle), got {kind}")
    if not fallback:
        raise ValueError("fallback must hold at least one MIME type (a MIME bundle), got an empty mapping")
    for key, data in fallback.items():
        if not isinstance(key, str) or key.count("/") != 1 or not all(key.split("/")):
            raise ValueError(f"fallback keys must be MIME types such as 'text/html', got {key!r}")
        if data is None:
            raise ValueError(f"fallback[{key!r}] must be the data of that type, got None")
    bundle = {**fallback, **widget_bundle(widget)}
    IPython.display.display(bundle, raw=True)
