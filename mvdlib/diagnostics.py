"""Small experiments on training mechanics: activations, gradients, dead units, initialization.

Chapters 6-8 measure what BatchNorm, the choice of activation and the initialization do to
a network. The measuring tools live here (forward hooks for activation statistics and dead
ReLUs, per-layer gradient norms), together with a cheap analytic depth task and a small
convolutional depth network that train in seconds on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mvdlib._validation import check_choice, positive_float, positive_int
from mvdlib.conventions import check_seed
from mvdlib.layers import ScratchBatchNorm2d, init_kaiming

__all__ = [
    "ACTIVATIONS",
    "INIT_SCHEMES",
    "NORMS",
    "SmallDepthNet",
    "activation_and_derivative",
    "activation_stats",
    "apply_init",
    "backward_rms",
    "dead_relu_fraction",
    "expected_derivative",
    "make_activation",
    "plain_stack",
    "toy_depth_batch",
    "train_toy_depth",
    "weight_gradient_norms",
]

# Slope of the leaky ReLU for negative inputs (PyTorch's default, Maas et al. 2013).
LEAKY_SLOPE = 0.01
# MVDepthNet's output: inverse depth = 2 * sigmoid(z) in (0, 2) 1/m, i.e. depth beyond 0.5 m,
# the nearest plane of its cost volume (Wang and Shen 2018).
MAX_INVERSE_DEPTH = 2.0

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, LEAKY_SLOPE),
    "2*sigmoid": lambda z: MAX_INVERSE_DEPTH * torch.sigmoid(z),
}

_MODULES: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
}

NORMS = ("none", "batch", "scratch")
INIT_SCHEMES = ("normal", "xavier", "kaiming_fan_in", "kaiming_fan_out")


def activation_and_derivative(name: str, z: Tensor) -> tuple[Tensor, Tensor]:
    """Evaluate an activation f and its derivative f' (by autograd) at z (chapter 7).

    Args:
        name: a key of ``ACTIVATIONS`` ("sigmoid", "tanh", "relu", "leaky_relu", "2*sigmoid").
        z: pre-activations, any shape.
    Returns:
        ``(f(z), f'(z))``, both shaped like ``z``; ReLU's derivative at 0 is taken as 0.
    """
    f = ACTIVATIONS[check_choice(name, "name", list(ACTIVATIONS))]
    if not isinstance(z, Tensor) or not z.is_floating_point():
        raise ValueError(f"z must be a floating-point tensor, got {type(z).__name__}")
    z = z.detach().requires_grad_()
    with torch.enable_grad():
        y = f(z)
        (dy,) = torch.autograd.grad(y.sum(), z)
    return y.detach(), dy


def expected_derivative(name: str, sigma: float, num: int = 20000) -> float:
    """E[f'(z)] for z ~ N(0, sigma^2): the average gain an activation passes back (chapter 7).

    Computed by the trapezoidal rule on [-10 sigma, 10 sigma] in float64; with an even
    ``num`` the kink of ReLU at z = 0 lies midway between grid points, where the rule is exact.

    Args:
        name: a key of ``ACTIVATIONS``.
        sigma: standard deviation of the pre-activations, > 0.
        num: number of grid points (even).
    Returns:
        The expectation: 1/2 for ReLU whatever sigma, 1/4 for the sigmoid as sigma -> 0.
    """
    sigma = positive_float(sigma, "sigma")
    num = positive_int(num, "num")
    if num < 2:
        raise ValueError(f"num must be at least 2 (the trapezoidal rule needs two grid points), got {num}")
    z = torch.linspace(-10.0 * sigma, 10.0 * sigma, num, dtype=torch.float64)
    _, df = activation_and_derivative(name, z)
    pdf = torch.exp(-0.5 * (z / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))
    return float(torch.trapezoid(df * pdf, z))


def make_activation(name: str) -> nn.Module:
    """An activation module by name: "sigmoid", "tanh", "relu" or "leaky_relu"."""
    return _MODULES[check_choice(name, "name (the activation)", list(_MODULES))]()


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "scratch":
        return ScratchBatchNorm2d(channels)
    return nn.Identity()


def plain_stack(
    widths: Sequence[int], activation: str = "relu", conv: bool = False, norm: str = "none", bias: bool = True
) -> nn.Sequential:
    """A deep stack of (Linear or 3x3 Conv2d) -> [BatchNorm] -> activation layers (chapters 7, 8).

    The last layer has an activation too, so every layer's output can be inspected alike.

    Args:
        widths: ``[n_0, n_1, ..., n_L]``: input features (or channels) and each layer's output.
        activation: see :func:`make_activation`.
        conv: 3x3 convolutions with padding 1 (input B x n_0 x H x W) instead of linear
            layers (input B x n_0).
        norm: "none", "batch" (``nn.BatchNorm2d``) or "scratch" (:class:`~mvdlib.layers.ScratchBatchNorm2d`); conv only.
        bias: whether the linear/conv layers carry a bias.
    Returns:
        ``nn.Sequential`` of L blocks, each itself a Sequential (layer, [norm,] activation).
    """
    widths = [positive_int(w, "widths[i]") for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must list the input and at least one layer, got {widths}")
    check_choice(norm, "norm", NORMS)
    if norm != "none" and not conv:
        raise ValueError(f"norm={norm!r} needs conv=True (BatchNorm2d works on B x C x H x W)")
    blocks = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=False):
        layer = nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias) if conv else nn.Linear(n_in, n_out, bias=bias)
        parts = [layer] + ([_norm_layer(norm, n_out)] if norm != "none" else []) + [make_activation(activation)]
        blocks.append(nn.Sequential(*parts))
    return nn.Sequential(*blocks)


class SmallDepthNet(nn.Module):
    """A small fully convolutional depth network for fast experiments (chapters 6-8).

    ``len(channels)`` blocks of 3x3 conv -> [BatchNorm] -> activation at full resolution, then
    a 3x3 conv to one channel and MVDepthNet's output ``2 * sigmoid``: inverse depth in
    (0, 2) 1/m. Initialised with :func:`mvdlib.layers.init_kaiming`.

    Args:
        channels: output channels of each hidden block.
        norm: "none", "batch" or "scratch".
        activation: see :func:`make_activation`.
        in_channels: channels of the input image.
    Shape:
        input B x in_channels x H x W; output B x 1 x H x W inverse depth.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 32, 16),
        norm: str = "none",
        activation: str = "relu",
        in_channels: int = 3,
    ):
        super().__init__()
        # a conv followed by BatchNorm needs no bias: BatchNorm's beta takes its place
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or len(channels) == 0:
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        channels = [positive_int(c, "channels[i]") for c in channels]
        in_channels = positive_int(in_channels, "in_channels")
        self.features = plain_stack([in_channels, *channels], activation, conv=True, norm=norm, bias=norm == "none")
        self.head = nn.Conv2d(channels[-1], 1, 3, padding=1)
        init_kaiming(self)

    def forward(self, x: Tensor) -> Tensor:
        return MAX_INVERSE_DEPTH * torch.sigmoid(self.head(self.features(x)))


# Toy depth task: a slanted background plane with nearer boxes in front, seen through fog.
# Depth ranges (m) lie inside MVDepthNet's 0.5 m .. 50 m; the fog length scale makes the
# intensity a monotonic cue over that range.
TOY_BACKGROUND_DEPTH = (3.0, 12.0)
TOY_BOX_DEPTH = (0.7, 3.0)
TOY_FOG_LENGTH = 4.0  # m: intensity falls to 1/e of the object's at this depth
TOY_NOISE = 0.05  # std of the additive image noise, in intensity units (0..1)


def toy_depth_batch(
    batch_size: int, height: int = 32, width: int = 32, seed: int = 0, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """An analytic depth task: images of boxes in front of a slanted plane seen through fog (chapters 6-8).

    Depth: a plane ``d0 + slope * v/H`` (d0 in 3..12 m) with one to three axis-aligned
    boxes in front (0.7..3 m). Image channel 0 is fog-attenuated brightness
    ``exp(-depth / 4 m)`` times a textured albedo, channels 1-2 are distractor textures;
    all channels get Gaussian noise. Depth is thus recoverable from local image content,
    which a few 3x3 convolutions learn in a few dozen steps.

    Args:
        batch_size, height, width: output size.
        seed: seeds a private generator (the global RNG is untouched).
        device: where the tensors are made (default CPU).
    Returns:
        ``(images, depth)``: B x 3 x H x W float32 in about [0, 1], and B x 1 x H x W depth in m.
    """
    b, h, w = (positive_int(v, n) for v, n in ((batch_size, "batch_size"), (height, "height"), (width, "width")))
    g = torch.Generator().manual_seed(check_seed(seed))

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    v = torch.linspace(0.0, 1.0, h).view(1, h, 1)  # 1 x H x 1, row coordinate / H
    u = torch.linspace(0.0, 1.0, w).view(1, 1, w)  # 1 x 1 x W
    depth = uniform(*TOY_BACKGROUND_DEPTH, b, 1, 1) + uniform(-2.0, 2.0, b, 1, 1) * v  # B x H x 1
    depth = depth.expand(b, h, w).clone()  # B x H x W
    for i in range(b):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            u0, v0 = uniform(0.0, 0.7, 2)
            du, dv = uniform(0.15, 0.5, 2)
            box = (u >= u0) & (u <= u0 + du) & (v >= v0) & (v <= v0 + dv)  # 1 x H x W
            depth[i][box[0]] = float(uniform(*TOY_BOX_DEPTH, 1))
    albedo = 0.8 + 0.2 * torch.rand(b, h, w, generator=g)
    brightness = albedo * torch.exp(-depth / TOY_FOG_LENGTH)
    distractors = torch.rand(b, 2, h, w, generator=g)
    images = torch.cat([brightness[:, None], distractors], dim=1)  # B x 3 x H x W
    images = images + TOY_NOISE * torch.randn(b, 3, h, w, generator=g)
    return images.to(device), depth[:, None].to(device)


def train_toy_depth(
    model: nn.Module,
    steps: int,
    lr: float,
    batch_size: int = 8,
    size: int = 32,
    seed: int = 0,
    optimizer: str = "sgd",
    momentum: float = 0.9,
) -> Tensor:
    """Train a model on :func:`toy_depth_batch` with an L1 loss on inverse depth (chapters 6-8).

    A fresh batch per step (seeds ``seed, seed + 1, ...``). Training stops at the first
    non-finite loss (divergence); the remaining entries are NaN.

    Args:
        model: maps B x 3 x S x S images to B x 1 x S x S inverse depth (1/m); trained in place.
        steps: number of optimiser steps.
        lr: learning rate.
        batch_size, size: batch size and image side (pixels).
        seed: first batch seed.
        optimizer: "sgd" (with ``momentum``) or "adam".
        momentum: SGD momentum.
    Returns:
        ``steps`` losses (``mean |1/d_pred - 1/d|``, in 1/m), float64.
    """
    _check_module(model)
    steps = positive_int(steps, "steps")
    lr = positive_float(lr, "lr")
    batch_size, size = positive_int(batch_size, "batch_size"), positive_int(size, "size")
    check_choice(optimizer, "optimizer", ("sgd", "adam"))
    params = list(model.parameters())
    if not params:
        raise ValueError("model must have trainable parameters")
    device = params[0].device
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr)
    losses = torch.full((steps,), float("nan"), dtype=torch.float64)
    model.train()
    for step in range(steps):
        images, depth = toy_depth_batch(batch_size, size, size, seed=seed + step, device=device)
        loss = F.l1_loss(model(images), 1.0 / depth)
        if not torch.isfinite(loss):
            break
        losses[step] = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def _check_module(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_probe(x: Tensor) -> None:
    """A probe batch: a finite, non-empty floating tensor (its shape is the model's business: :func:`_run`)."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.dim() == 0 or 0 in x.shape:
        raise ValueError(f"x must be a batch with no empty dimension, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite, got NaN or inf values")


def _run(model: nn.Module, x: Tensor) -> Tensor:
    """``model(x)``, with a shape the model cannot take reported as a ``ValueError`` naming ``x``."""
    try:
        return model(x)
    except RuntimeError as err:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit the model: {err}") from err


def _record_outputs(model: nn.Module, x: Tensor, types: tuple[type, ...]) -> list[tuple[str, Tensor]]:
    """Run model(x) without gradients; return (name, output) of every sub-module of the given types."""
    _check_module(model)
    _check_probe(x)
    records: list[tuple[str, Tensor]] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out, name=name: records.append((name, out.detach())))
        for name, m in model.named_modules()
        if isinstance(m, types)
    ]
    try:
        with torch.no_grad():
            _run(model, x)
    finally:
        for h in handles:
            h.remove()
    return records


def activation_stats(model: nn.Module, x: Tensor, types: tuple[type, ...] = (nn.ReLU,)) -> list[dict[str, float]]:
    """Mean and standard deviation of the output of each layer of the given types (chapter 8).

    Args:
        model: the network; its activations must be modules (e.g. ``nn.ReLU``), not functions.
        x: a probe input batch.
        types: module classes to record, in forward order.
    Returns:
        One dict per recorded layer: ``{"name", "mean", "std", "rms"}`` (rms = sqrt(E[a^2])).
    """
    stats = []
    for name, out in _record_outputs(model, x, types):
        a = out.double()
        stats.append(
            {"name": name, "mean": a.mean().item(), "std": a.std().item(), "rms": a.pow(2).mean().sqrt().item()}
        )
    return stats


def backward_rms(model: nn.Module, x: Tensor, types: tuple[type, ...] = (nn.ReLU,), seed: int = 0) -> list[float]:
    """RMS of the loss gradient with respect to each recorded layer's output (chapter 8).

    The loss is ``sum(model(x) * r)`` with r ~ N(0, 1) from ``seed``, so the gradient reaching
    the output has unit RMS and the list shows how backpropagation scales it layer by layer.

    Args:
        model: the network; the layers to watch must be modules of the given types.
        x: a probe input batch.
        types: module classes whose output gradients are recorded.
        seed: seeds the random upstream gradient r.
    Returns:
        One RMS per recorded layer, in forward order.
    """
    _check_module(model)
    _check_probe(x)
    records: list[Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: records.append(out))
        for m in model.modules()
        if isinstance(m, types)
    ]
    try:
        with torch.enable_grad():
            out = _run(model, x)
    finally:
        for h in handles:
            h.remove()
    if not records:
        return []
    g = torch.Generator(device=out.device).manual_seed(check_seed(seed))
    upstream = torch.randn(out.shape, generator=g, device=out.device, dtype=out.dtype)
    # autograd.grad, not backward: the parameters' .grad stay untouched
    grads = torch.autograd.grad((out * upstream).sum(), records, allow_unused=True)
    return [0.0 if gr is None else gr.detach().double().pow(2).mean().sqrt().item() for gr in grads]


def dead_relu_fraction(model: nn.Module, x: Tensor) -> list[float]:
    """For each ``nn.ReLU``, the fraction of its units that output 0 for every probe input (chapter 7).

    A unit is one entry of dimension 1: a feature of a linear layer, a channel of a
    convolution (dead if zero at every position of every image). Such a unit gets zero
    gradient from every example, so gradient descent cannot revive it.

    Args:
        model: the network; its ReLUs must be ``nn.ReLU`` modules.
        x: a probe batch, as large as practical (a unit alive on one unseen input is not dead).
    Returns:
        One fraction in [0, 1] per ReLU module, in forward order.
    """
    fractions = []
    for _, out in _record_outputs(model, x, (nn.ReLU,)):
        alive = (out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(dim=1)  # units
        fractions.append(1.0 - alive.double().mean().item())
    return fractions


def weight_gradient_norms(model: nn.Module, types: tuple[type, ...] = (nn.Linear, nn.Conv2d)) -> list[float]:
    """The L2 norm of ``weight.grad`` of each layer of the given types, in module order (chapter 7).

    Call after ``loss.backward()``.

    Args:
        model: the network.
        types: layer classes whose weights are measured.
    Returns:
        One norm per layer (0 for a layer whose gradient is None).
    """
    _check_module(model)
    return [
        0.0 if m.weight.grad is None else m.weight.grad.detach().double().norm().item()
        for m in model.modules()
        if isinstance(m, types)
    ]


def apply_init(model: nn.Module, scheme: str, std: float = 0.01) -> nn.Module:
    """Initialise every Linear/Conv2d weight by a named scheme, biases 0 (chapter 8).

    Schemes and weight variance, with fan_in = n_in * k * k and fan_out = n_out * k * k:
    "normal": std^2 (a fixed scale, e.g. the classic 0.01); "xavier": 2 / (fan_in + fan_out)
    (Glorot and Bengio 2010); "kaiming_fan_in": 2 / fan_in; "kaiming_fan_out": 2 / fan_out
    (He et al. 2015; for convolutions this is :func:`mvdlib.layers.init_kaiming`).
    BatchNorm layers get weight 1, bias 0. Uses the global RNG.

    Args:
        model: the network, initialised in place.
        scheme: one of ``INIT_SCHEMES``.
        std: the standard deviation for "normal".
    Returns:
        The same model.
    """
    _check_module(model)
    check_choice(scheme, "scheme", INIT_SCHEMES)
    std = positive_float(std, "std")
    init_kaiming(model)  # convolutions: Kaiming fan_out; BatchNorm: 1 and 0
    for m in model.modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        if scheme == "normal":
            nn.init.normal_(m.weight, 0.0, std)
        elif scheme == "xavier":
            nn.init.xavier_normal_(m.weight)
        elif scheme == "kaiming_fan_in":
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.Linear):  # kaiming_fan_out: convolutions already done by init_kaiming
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model
