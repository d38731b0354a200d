"""Training single-image depth networks: a generic fitting loop and Eigen's two stages (chapters 3-4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from mvdlib._validation import (
    as_tensor,
    check_finite,
    depth_map,
    positive_float,
    positive_int,
    shape_str,
    value_checks_enabled,
)
from mvdlib.conventions import check_seed, valid_depth
from mvdlib.losses import downsample_target, scale_invariant_loss
from mvdlib.models.eigen import EigenCoarseFine

__all__ = ["fit_depth_network", "train_two_stage"]


def fit_depth_network(
    model: nn.Module,
    images: Tensor,
    depths: Tensor,
    steps: int,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = scale_invariant_loss,
    forward: Callable[[Tensor], Tensor] | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
    lr: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
) -> list[float]:
    """Train a single-image depth network with Adam on random mini-batches (chapters 3 and 4).

    The prediction may be coarser than the ground truth: the target is brought to its size
    with :func:`mvdlib.losses.downsample_target` (nearest, so invalid pixels stay invalid).

    Args:
        model: the network (put in training mode here).
        images: N x 3 x H x W network inputs (already normalised).
        depths: N x 1 x H x W ground-truth depth; 0 or non-finite is invalid.
        steps: number of optimisation steps.
        loss_fn: ``loss_fn(pred, target)`` -> scalar; invalid target pixels are 0.
        forward: maps a batch of images to B x 1 x h x w depth (default: ``model``).
        parameters: what to optimise (default: all of ``model``'s parameters).
        lr: Adam learning rate; batch_size: images per step; seed: the batch sampler's seed.
    Returns:
        The loss of every step.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Softplus())
        >>> losses = fit_depth_network(net, torch.randn(4, 3, 8, 8), torch.full((4, 1, 8, 8), 2.0), steps=3)
        >>> len(losses)
        3
    """
    images = as_tensor(images, "images")
    if value_checks_enabled():
        check_finite(images, "images")  # NaN would reach every weight in the first step
    depths = depth_map(depths, "depths")
    if images.dim() != 4 or images.shape[0] != depths.shape[0] or images.shape[-2:] != depths.shape[-2:]:
        raise ValueError(
            f"images must be N x C x H x W matching depths {shape_str(depths)}, got shape {shape_str(images)}"
        )
    steps = positive_int(steps, "steps")
    batch_size = positive_int(batch_size, "batch_size")
    forward = model if forward is None else forward
    params = list(model.parameters() if parameters is None else parameters)
    optimizer = torch.optim.Adam(params, lr=positive_float(lr, "lr"))
    generator = torch.Generator().manual_seed(check_seed(seed, "seed"))
    device = next(model.parameters()).device
    model.train()
    history = []
    for _ in range(steps):
        idx = torch.randint(images.shape[0], (min(batch_size, images.shape[0]),), generator=generator)
        x, y = images[idx].to(device), depths[idx].to(device)
        pred = forward(x)
        target = downsample_target(y, valid_depth(y), tuple(pred.shape[-2:]))
        loss = loss_fn(pred, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def train_two_stage(
    model: EigenCoarseFine,
    images: Tensor,
    depths: Tensor,
    coarse_steps: int,
    fine_steps: int,
    lam: float = 0.5,
    lr: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Eigen's two-stage training: the coarse network, then the fine one with the coarse fixed (chapter 3).

    Both stages minimise :func:`mvdlib.losses.scale_invariant_loss` with weight ``lam``
    (the paper's 0.5). In stage 2 the coarse network is frozen and in evaluation mode
    (no dropout), as the paper holds it fixed while training the fine network.

    Args:
        model: an :class:`mvdlib.models.eigen.EigenCoarseFine`.
        images: N x 3 x H x W normalised images; depths: N x 1 x H x W depth (0 invalid).
        coarse_steps, fine_steps: optimisation steps of each stage.
        lam, lr, batch_size, seed: as in :func:`fit_depth_network` and the loss.
    Returns:
        ``{"coarse": [...], "fine": [...]}``, the loss of every step of each stage.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = EigenCoarseFine(32, 32, channels=(4, 4, 4, 4), hidden=8, fine_channels=4)
        >>> history = train_two_stage(net, torch.randn(2, 3, 32, 32), torch.ones(2, 1, 32, 32), 2, 1)
        >>> len(history["coarse"]), len(history["fine"])
        (2, 1)
    """
    if not isinstance(model, EigenCoarseFine):
        raise TypeError(f"model must be an EigenCoarseFine, got {type(model).__name__}")

    def loss_fn(pred: Tensor, target: Tensor) -> Tensor:
        return scale_invariant_loss(pred, target, lam=lam)

    coarse = fit_depth_network(
        model, images, depths, coarse_steps, forward=lambda x: model(x, "coarse"),
        parameters=model.coarse_parameters(), loss_fn=loss_fn, lr=lr, batch_size=batch_size, seed=seed,
    )  # fmt: skip

    def fine_forward(x: Tensor) -> Tensor:
        model.coarse_features.eval()
        model.coarse_head.eval()
        with torch.no_grad():
            coarse_log = model.coarse_log_depth(x)
        return torch.exp(model.fine_log_depth(x, coarse_log))

    fine = fit_depth_network(
        model,
        images,
        depths,
        fine_steps,
        forward=fine_forward,
        parameters=model.fine_parameters(),
        loss_fn=loss_fn,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
    )
    model.eval()
    return {"coarse": coarse, "fine": fine}
