"""One definition, two renderers: the book's interactive explorers.

An :class:`Explorer` is its parameters (:class:`Param`: a name and the values a control
steps through) and one function from their values to the plotly traces it draws (a
:class:`View`). Two renderers show it, in the manner of HoloViews' ``DynamicMap``:

* :meth:`Explorer.live`: ipywidgets controls that update a ``plotly.graph_objects.FigureWidget``
  in place (a running kernel: JupyterLab, Colab);
* :meth:`Explorer.static`: the same function evaluated at every step of the HTML sliders,
  stored as plotly frames (the built book, no kernel).

:meth:`Explorer.show` displays both in one output: a frontend with a widget manager shows
the live one, the HTML book the static twin (``book/_ext/book_fixes.py`` drops the widget
view there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio
from plotly.basedatatypes import BaseTraceType

from mvdlib._validation import positive_int
from mvdlib.notebook import plotly_bundle, show_with_widget

__all__ = ["Param", "View", "Explorer", "subplot_axes"]

# Room the static renderer leaves for its sliders below the plots: each row of sliders
# (its current-value label, rail and tick labels) takes about this many pixels.
SLIDER_ROW_PX = 95
_AXIS_TITLE_PX = 70  # the x-axis tick labels and title under the lowest plot
# The animation a slider step runs: jump to the frame, redrawing heat maps and images.
_ANIMATE = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python scalar (ipywidgets and JSON want plain values)."""
    return value.item() if hasattr(value, "item") else value


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Param:
    """One control of an explorer.

    Args:
        name: the keyword the explorer's draw function takes.
        values: every value the live control offers, in order.
        default: the value shown first (one of ``values``).
        label: the control's caption (default: ``name``).
        static_values: the steps of the HTML slider, a subset of ``values`` holding
            ``default`` (``None``: all of ``values``; ``()``: fixed at ``default`` in the HTML).
    """

    name: str
    values: Sequence[Any]
    default: Any
    label: str | None = None
    static_values: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        values = tuple(_plain(v) for v in self.values)
        if not values:
            raise ValueError(f"Param {self.name!r}: values must be non-empty")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "default", _plain(self.default))
        if self.default not in values:
            raise ValueError(f"Param {self.name!r}: default must be one of values {values}, got {self.default!r}")
        steps = values if self.static_values is None else tuple(_plain(v) for v in self.static_values)
        if steps and (self.default not in steps or not set(steps) <= set(values)):
            raise ValueError(
                f"Param {self.name!r}: static_values must be a subset of values holding the default "
                f"{self.default!r}, got {steps}"
            )
        object.__setattr__(self, "static_values", steps)

    @property
    def caption(self) -> str:
        return self.label or self.name


@dataclass
class View:
    """What an explorer draws at one setting of its parameters.

    Args:
        traces: plotly traces, the same number and types at every setting; traces in
            subplots name their axes (``xaxis="x2"``): a frame replaces whole traces.
        layout: the layout properties that depend on the parameters (a title, say).
    """

    traces: list[BaseTraceType]
    layout: dict[str, Any] = field(default_factory=dict)


class Explorer:
    """Parameters and a function from their values to a :class:`View` (see the module docstring).

    Args:
        params: the controls, in the order they are shown.
        draw: ``draw(**values) -> View``, called with one value per parameter.
        layout: the parameter-independent layout (subplots, axis titles, height, ...).
    """

    def __init__(self, params: Sequence[Param], draw: Callable[..., View], layout: Mapping[str, Any]) -> None:
        names = [p.name for p in params]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"params must be non-empty with distinct names, got {names}")
        self.params = tuple(params)
        self.draw = draw
        self.layout = dict(layout)
        self._default_view: View | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def view(self, **values: Any) -> View:
        """The :class:`View` at ``values`` (missing parameters at their defaults)."""
        unknown = set(values) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}; this explorer has {list(self.defaults)}")
        for p in self.params:
            if p.name in values and _plain(values[p.name]) not in p.values:
                raise ValueError(f"{p.name} must be one of {p.values}, got {values[p.name]!r}")
        values = {**self.defaults, **{k: _plain(v) for k, v in values.items()}}
        if values == self.defaults and self._default_view is not None:
            return self._default_view  # drawn once: every renderer starts from it
        view = self.draw(**values)
        if not isinstance(view, View):
            raise TypeError(f"draw must return a View, got {type(view).__name__}")
        if values == self.defaults:
            self._default_view = view
        return view

    def figure(self, **values: Any) -> go.Figure:
        """A plain ``plotly.graph_objects.Figure`` of the view at ``values``."""
        return self._figure(self.view(**values))

    def _figure(self, view: View) -> go.Figure:
        fig = go.Figure(data=view.traces, layout=self.layout)
        fig.update_layout(view.layout)
        return fig

    # ---- the live renderer -------------------------------------------------------------

    def live(self) -> widgets.VBox:
        """ipywidgets controls above a ``FigureWidget`` that each change updates in place.

        Returns:
            ``ipywidgets.VBox`` whose ``controls`` attribute maps parameter names to controls
            and ``figure`` is the ``FigureWidget``.
        """
        fig = go.FigureWidget(self.figure())
        controls = {}
        for p in self.params:
            options = [(_label(v), v) for v in p.values]
            common = {"options": options, "value": p.default, "description": p.caption,
                      "style": {"description_width": "initial"}}  # fmt: skip
            if all(isinstance(v, str) for v in p.values):
                controls[p.name] = widgets.Dropdown(**common)
            else:
                controls[p.name] = widgets.SelectionSlider(**common, continuous_update=False,
                                                           layout={"width": "min(100%, 420px)"})  # fmt: skip

        def update(_change: Any = None) -> None:
            view = self.view(**{name: c.value for name, c in controls.items()})
            _check_same_structure(fig.data, view.traces)
            with fig.batch_update():
                for old, new in zip(fig.data, view.traces, strict=True):
                    old.update(new.to_plotly_json())
                fig.layout.update(view.layout)

        for c in controls.values():
            c.observe(update, names="value")
        box = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), fig])
        box.controls, box.figure = controls, fig
        return box

    # ---- the static renderer -----------------------------------------------------------

    def static(self) -> go.Figure:
        """The kernel-free twin: one plotly slider per parameter with ``static_values``.

        Each slider step is a frame holding only the traces (and layout keys) its parameter
        changes, evaluated with the other parameters at their defaults; so two parameters
        of the twin must change disjoint traces, else this raises ``ValueError`` (fix one of
        them with ``static_values=()``).

        Returns:
            ``plotly.graph_objects.Figure`` with frames and sliders.
        """
        base = self.view()
        fig = self._figure(base)
        swept = [p for p in self.params if len(p.static_values) > 1]
        owner: dict[str, str] = {}  # trace index or layout key -> the parameter that changes it
        frames, sliders = [], []
        for p in swept:
            views = {v: self.view(**{p.name: v}) for v in p.static_values}  # the default is drawn once
            for view in views.values():
                _check_same_structure(base.traces, view.traces)
            traces = sorted({i for view in views.values() for i, t in enumerate(view.traces)
                             if _differs(t, base.traces[i])})  # fmt: skip
            keys = sorted({k for view in views.values() for k in view.layout if view.layout[k] != base.layout.get(k)})
            for item in [f"trace {i}" for i in traces] + [f"layout {k!r}" for k in keys]:
                if item in owner:
                    raise ValueError(f"static sliders {owner[item]!r} and {p.name!r} both change {item}: "
                                     f"give one of them static_values=()")  # fmt: skip
                owner[item] = p.name
            steps = []
            for v, view in views.items():
                name = f"{p.name}={_label(v)}"
                layout = {k: view.layout.get(k, base.layout.get(k)) for k in keys}
                frames.append(go.Frame(name=name, data=[view.traces[i] for i in traces], traces=traces, layout=layout))
                steps.append({"method": "animate", "label": _label(v), "args": [[name], _ANIMATE]})
            active = p.static_values.index(p.default)
            sliders.append({"active": active, "steps": steps, "currentvalue": {"prefix": f"{p.caption}: "}})
        fig.frames = frames
        _place_sliders(fig, sliders)
        return fig

    # ---- both -----------------------------------------------------------------------------

    def show(self) -> None:
        """Display the explorer: live in a frontend with ipywidgets, its static twin in the HTML book.

        One output holds both, on ipywidgets 7 and 8 and plotly 5 to 7; in Colab the twin is
        HTML that loads plotly.js itself (:func:`mvdlib.notebook.plotly_bundle`).
        """
        show_with_widget(self.live(), plotly_bundle(self.static()))


def _differs(a: BaseTraceType, b: BaseTraceType) -> bool:
    return pio.to_json(a, validate=False) != pio.to_json(b, validate=False)


def _check_same_structure(old: Sequence[BaseTraceType], new: Sequence[BaseTraceType]) -> None:
    old_types, new_types = [t.type for t in old], [t.type for t in new]
    if old_types != new_types:
        raise ValueError(f"draw must return the same traces at every setting: got {new_types}, expected {old_types}")


def _place_sliders(fig: go.Figure, sliders: list[dict]) -> None:
    """Two sliders a row under the plots, the figure grown by the room they take."""
    if not sliders:
        return
    rows = (len(sliders) + 1) // 2
    margin = fig.layout.margin
    top = margin.t if margin.t is not None else 80
    bottom = (margin.b if margin.b is not None else 0) + _AXIS_TITLE_PX + rows * SLIDER_ROW_PX
    height = (fig.layout.height or 450) + rows * SLIDER_ROW_PX
    plot_px = height - top - bottom
    width = 1.0 if len(sliders) == 1 else 0.46
    for k, s in enumerate(sliders):
        row, col = divmod(k, 2)
        s.update(x=0.54 * col, len=width, xanchor="left", yanchor="top",
                 y=-(_AXIS_TITLE_PX + row * SLIDER_ROW_PX) / plot_px, pad={"t": 10, "b": 10})  # fmt: skip
    fig.update_layout(sliders=sliders, height=height, margin={"t": top, "b": bottom})


def subplot_axes(k: int) -> dict[str, str]:
    """The axes of the ``k``-th subplot (1-based) of ``plotly.subplots.make_subplots``, for a trace.

    Example:
        >>> subplot_axes(2)
        {'xaxis': 'x2', 'yaxis': 'y2'}
    """
    k = positive_int(k, "k")
    return {"xaxis": "x" if k == 1 else f"x{k}", "yaxis": "y" if k == 1 else f"y{k}"}
