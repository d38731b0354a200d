"""The loss explorer of chapter 5: L1, L2, Huber, BerHu and the scale-invariant loss.

Four panels: each loss's penalty and its gradient along the error (Huber's delta and
BerHu's c move their curves), a line fit with outliers under each loss (the outlier
fraction moves it; the fits use delta = c = 1), and Eigen's scale-invariant loss of a
prediction multiplied by a global scale s (lambda moves it).
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from mvdlib._validation import as_tensor, check_choice, positive_int
from mvdlib.conventions import check_seed
from mvdlib.explorers.core import Explorer, Param, View, subplot_axes
from mvdlib.losses import BERHU_C_FRACTION, berhu_penalty, huber_penalty, scale_invariant_loss

__all__ = ["loss_penalty", "line_with_outliers", "fit_line", "loss_curves", "scale_invariant_curve", "loss_explorer"]

# The losses the explorer compares, and its default settings: Huber's delta and a fixed
# BerHu c of 1 (in the units of the error), Eigen's lambda = 0.5, a fifth of the points outliers.
LOSS_EXPLORER_LOSSES = ("L1", "L2", "Huber", "BerHu")
LOSS_EXPLORER_DEFAULTS = {"delta": 1.0, "c": 1.0, "lam": 0.5, "outlier_fraction": 0.2}
_LOSS_COLORS = {"L1": "#1f77b4", "L2": "#d62728", "Huber": "#2ca02c", "BerHu": "#9467bd", "scale-invariant": "#ff7f0e"}
_LINE_TRUE = (0.5, 1.0)  # slope, intercept of the explorer's clean line
_LINE_NOISE = 0.3  # inlier noise (std), in the units of y
_LINE_OUTLIER_OFFSET = (4.0, 12.0)  # outliers are pushed up by a uniform amount in this range


def loss_penalty(name: str, error: Tensor, delta: float = 1.0, c: float | None = None) -> Tensor:
    """The element-wise penalty of a named loss on residuals ``error`` (chapter 5).

    Args:
        name: one of ``LOSS_EXPLORER_LOSSES``.
        error: residuals (tensor of any shape).
        delta: Huber's threshold; c: BerHu's threshold (``None``: 0.2 max |error|, detached, as FCRN).
    Returns:
        Tensor of the same shape as ``error``.

    Example:
        >>> loss_penalty("Huber", torch.tensor([0.5, 3.0])).tolist()
        [0.125, 2.5]
    """
    check_choice(name, "name", LOSS_EXPLORER_LOSSES)
    if not isinstance(error, Tensor):
        raise TypeError(f"error must be a torch.Tensor of residuals, got {type(error).__name__}")
    if name == "L1":
        return error.abs()
    if name == "L2":
        return error**2
    if name == "Huber":
        return huber_penalty(error, delta)
    return berhu_penalty(error, BERHU_C_FRACTION * error.detach().abs().max() if c is None else c)


def line_with_outliers(n: int = 60, outlier_fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Points on the line y = 0.5 x + 1 with Gaussian noise, a fraction of them pushed up as outliers (chapter 5).

    Returns:
        ``(x, y, is_outlier)``: float64 tensors of n values in [0, 10], and a bool mask.

    Example:
        >>> x, y, is_outlier = line_with_outliers(n=10, outlier_fraction=0.2)
        >>> x.shape, int(is_outlier.sum())
        (torch.Size([10]), 2)
    """
    n = positive_int(n, "n")
    if not isinstance(outlier_fraction, (int, float)) or not 0.0 <= outlier_fraction < 1.0:
        raise ValueError(f"outlier_fraction must be a number in [0, 1), got {outlier_fraction!r}")
    g = torch.Generator().manual_seed(check_seed(seed))
    x = torch.rand(n, generator=g, dtype=torch.float64) * 10
    y = _LINE_TRUE[0] * x + _LINE_TRUE[1] + _LINE_NOISE * torch.randn(n, generator=g, dtype=torch.float64)
    order = torch.randperm(n, generator=g)
    is_outlier = torch.zeros(n, dtype=torch.bool)
    is_outlier[order[: round(outlier_fraction * n)]] = True
    lo, hi = _LINE_OUTLIER_OFFSET
    offset = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    return x, torch.where(is_outlier, y + offset, y), is_outlier


def _line_data(v: np.ndarray | Tensor, name: str) -> Tensor:
    """A finite 1-D float64 tensor of at least two values (for a line fit or a curve)."""
    t = as_tensor(v, name, torch.float64)
    if t.dim() != 1 or len(t) < 2 or not torch.isfinite(t).all():
        raise ValueError(f"{name} must be a finite 1-D array of at least 2 values, got shape {tuple(t.shape)}")
    return t


def fit_line(
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    name: str,
    delta: float = 1.0,
    c: float | None = None,
    iterations: int = 100,
) -> tuple[float, float]:
    """Fit y = a x + b minimising the mean penalty of a named loss, by iteratively reweighted least squares (chapter 5).

    Each iteration solves a weighted least-squares problem with weights ``rho'(e) / e`` of
    the current residuals ``e`` (the derivative ``rho'`` from autograd of
    :func:`loss_penalty`): the stationary point is where the loss's gradient vanishes.
    Starts from the L2 fit; the penalties are convex, so the result does not depend on it.

    Returns:
        ``(a, b)`` as floats.

    Example:
        >>> x, y, _ = line_with_outliers(seed=0)  # the truth is 0.5 x + 1, a fifth of the points pushed up
        >>> [round(v, 2) for v in fit_line(x, y, "Huber")], [round(v, 2) for v in fit_line(x, y, "L2")]
        ([0.5, 1.29], [0.59, 2.13])
    """
    check_choice(name, "name", LOSS_EXPLORER_LOSSES)
    x, y = _line_data(x, "x"), _line_data(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must have one length, got {len(x)} and {len(y)}")
    design = torch.stack([x, torch.ones_like(x)], dim=1)  # n x 2
    weights = torch.ones_like(x)
    tiny = 1e-9  # keeps 1 / |e| finite for L1 at a zero residual
    for _ in range(positive_int(iterations, "iterations")):
        wd = design * weights[:, None]
        params = torch.linalg.solve(design.T @ wd, wd.T @ y)  # 2
        e = (design @ params - y).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_penalty(name, e, delta, c).sum(), e)
        safe_e = torch.where(e.detach().abs() < tiny, torch.full_like(x, tiny), e.detach())
        weights = (grad / safe_e).clamp(min=0)
    return float(params[0]), float(params[1])


def loss_curves(
    errors: np.ndarray | Tensor, delta: float = 1.0, c: float = 1.0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each loss's penalty and its derivative along a 1-D grid of errors (chapter 5).

    Returns:
        ``{name: (values, gradients)}``, NumPy arrays like ``errors``.

    Example:
        >>> values, gradients = loss_curves(np.array([-2.0, 0.5, 2.0]))["L2"]
        >>> values.tolist(), gradients.tolist()
        ([4.0, 0.25, 4.0], [-4.0, 1.0, 4.0])
    """
    e = _line_data(errors, "errors").clone().requires_grad_(True)
    out = {}
    for name in LOSS_EXPLORER_LOSSES:
        value = loss_penalty(name, e, delta, c)
        (grad,) = torch.autograd.grad(value.sum(), e)
        out[name] = (value.detach().numpy(), grad.numpy())
    return out


def scale_invariant_curve(scales: np.ndarray | Tensor, lam: float, seed: int = 0) -> np.ndarray:
    """Scale-invariant loss of (true depth x s x log-normal noise) against the true depth, for each s (chapter 5).

    Returns:
        NumPy array like ``scales``.

    Example:
        >>> curve = scale_invariant_curve(np.array([0.5, 1.0, 2.0]), lam=1.0)
        >>> bool(np.allclose(curve, curve[1]))  # lambda = 1: blind to a global scale
        True
    """
    s = _line_data(scales, "scales").numpy()
    if (s <= 0).any():
        raise ValueError(f"scales must be positive, got {s.min()}")
    if not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be a number in [0, 1], got {lam!r}")
    g = torch.Generator().manual_seed(check_seed(seed))
    truth = 1 + 7 * torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    noisy = truth * torch.exp(0.1 * torch.randn(truth.shape, generator=g, dtype=torch.float64))
    return np.array([scale_invariant_loss(noisy * s, truth, lam=lam).item() for s in s])


def _grid(start: float, stop: float, step: float) -> list[float]:
    return [round(float(v), 2) for v in np.arange(start, stop + step / 2, step)]


def loss_explorer(seed: int = 0) -> Explorer:
    """The loss explorer: sliders for Huber's delta, BerHu's c, lambda and the outlier fraction (chapter 5).

    Args:
        seed: the seed of the line's points and of the scale-invariant example.
    Returns:
        An :class:`~mvdlib.explorers.core.Explorer`; ``.show()`` displays it.
    """
    errors = np.linspace(-4, 4, 161)
    scales = np.geomspace(0.25, 4, 41)
    grid = np.array([0.0, 10.0])
    d0, c0 = LOSS_EXPLORER_DEFAULTS["delta"], LOSS_EXPLORER_DEFAULTS["c"]

    @functools.cache
    def fits(fraction: float) -> tuple:
        x, y, outlier = line_with_outliers(outlier_fraction=fraction, seed=seed)
        lines = {name: fit_line(x, y, name, d0, c0) for name in LOSS_EXPLORER_LOSSES}
        return x.numpy(), y.numpy(), outlier.numpy(), lines

    @functools.cache
    def si_curve(lam: float) -> np.ndarray:
        return scale_invariant_curve(scales, lam, seed)

    def draw(delta: float, c: float, lam: float, outlier_fraction: float) -> View:
        traces = []
        curves = loss_curves(errors, delta, c)
        for k in (0, 1):  # the penalties, then their gradients
            for name, pair in curves.items():
                label = {"Huber": f"Huber (delta {delta:g})", "BerHu": f"BerHu (c {c:g})"}.get(name, name)
                traces.append(go.Scatter(x=errors, y=np.round(pair[k], 4), name=label, legendgroup=name,
                                         line={"color": _LOSS_COLORS[name]}, showlegend=k == 0,
                                         **subplot_axes(k + 1)))  # fmt: skip
        x, y, outlier, lines = fits(outlier_fraction)
        traces += [
            go.Scatter(
                x=x[~outlier],
                y=y[~outlier],
                mode="markers",
                name="inliers",
                marker={"color": "black", "size": 5},
                **subplot_axes(3),
            ),  # fmt: skip
            go.Scatter(
                x=x[outlier],
                y=y[outlier],
                mode="markers",
                name="outliers",
                marker={"color": "grey", "size": 6, "symbol": "x"},
                **subplot_axes(3),
            ),  # fmt: skip
        ]
        for name, (a, b) in lines.items():
            traces.append(go.Scatter(x=grid, y=a * grid + b, mode="lines", name=f"{name} fit: {a:.2f} x + {b:.2f}",
                                     legendgroup=name, showlegend=False, line={"color": _LOSS_COLORS[name],
                                     "dash": "dot"}, **subplot_axes(3)))  # fmt: skip
        traces.append(go.Scatter(x=scales, y=np.round(si_curve(lam), 5), name=f"scale-invariant (lambda {lam:g})",
                                 line={"color": _LOSS_COLORS["scale-invariant"]}, **subplot_axes(4)))  # fmt: skip
        return View(traces)

    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.2, horizontal_spacing=0.14,
                        subplot_titles=("penalty", "gradient d loss / d e",
                                        "line fit (truth 0.5 x + 1)",
                                        "scale-invariant loss"))  # fmt: skip
    fig.update_xaxes(title_text="error e", row=1, col=1)
    fig.update_xaxes(title_text="error e", row=1, col=2)
    fig.update_xaxes(title_text="x", row=2, col=1)
    fig.update_xaxes(title_text="global scale s", type="log", row=2, col=2)
    fig.update_yaxes(title_text="loss", range=[0, 8], row=1, col=1)
    fig.update_yaxes(title_text="d loss / d e", range=[-4, 4], row=1, col=2)
    fig.update_yaxes(title_text="y", row=2, col=1)
    fig.update_yaxes(title_text="loss (log m)^2", row=2, col=2)
    fig.update_layout(height=720, title={"text": "Loss explorer"}, legend={"font": {"size": 10}})
    thresholds = _grid(0.1, 3.0, 0.1)
    params = [
        Param("delta", thresholds, d0, "Huber delta", static_values=(0.2, 0.5, 1.0, 1.5, 2.0, 3.0)),
        Param("c", thresholds, c0, "BerHu c", static_values=(0.2, 0.5, 1.0, 1.5, 2.0, 3.0)),
        Param(
            "lam",
            _grid(0.0, 1.0, 0.05),
            LOSS_EXPLORER_DEFAULTS["lam"],
            "lambda",
            static_values=(0.0, 0.25, 0.5, 0.75, 1.0),
        ),  # fmt: skip
        Param(
            "outlier_fraction",
            _grid(0.0, 0.45, 0.05),
            LOSS_EXPLORER_DEFAULTS["outlier_fraction"],
            "outlier fraction",
            static_values=(0.0, 0.1, 0.2, 0.3, 0.4),
        ),  # fmt: skip
    ]
    return Explorer(params, draw, fig.layout.to_plotly_json())
