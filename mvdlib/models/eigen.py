"""Eigen's coarse/fine network for single-image depth, and a small training loop (chapter 3).

Eigen, Puhrsch and Fergus, "Depth Map Prediction from a Single Image using a Multi-Scale
Deep Network", NeurIPS 2014. The *coarse* network sees the whole image: convolutions and
pooling, then fully connected layers whose every output pixel depends on every input
pixel, so it can predict the global layout (a floor receding, a wall ahead). The *fine*
network sees only local patches; it receives the coarse prediction as an extra feature
map and refines it. Both predict log depth at 1/4 of the input resolution. Training is
in two stages, as in the paper: first the coarse network alone, then the fine network
with the coarse one held fixed.

The paper's network (input 304 x 228; its coarse part has ~ 7.1e7 parameters, 5.0e7 of them
in the first fully connected layer: chapter 3 counts them) is shrunk here
to CPU size: the layer sequence and the data flow are the paper's; the channel counts,
kernel sizes and the fully connected width are arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from mvdlib._validation import as_tensor, depth_map, positive_float, positive_int, shape_str
from mvdlib.losses import downsample_target, scale_invariant_loss

__all__ = [
    "COARSE_STRIDE",
    "EDGE_RELATIVE_STEP",
    "OUTPUT_STRIDE",
    "EigenCoarseFine",
    "edge_errors",
    "fit_depth_network",
    "load_single_views",
    "train_two_stage",
]

# The coarse network pools the image down to 1/16 before its fully connected layers here
# (the paper's goes to 1/32 of 304 x 228); H and W must be multiples of it.
COARSE_STRIDE = 16
# Both networks predict at 1/4 of the input resolution (paper: 74 x 55 for 304 x 228).
OUTPUT_STRIDE = 4
# A pixel is on a depth edge when the depth changes by more than this fraction of its
# depth to a neighbour (the book's choice: larger than the slope of any floor or wall seen
# at our resolutions, smaller than an object standing in front of a wall).
EDGE_RELATIVE_STEP = 0.05


class EigenCoarseFine(nn.Module):
    """Eigen et al. 2014's coarse (global) and fine (local) networks, CPU-sized (chapter 3).

    Coarse: conv(5x5, stride 2) + max-pool, conv(5x5) + max-pool, conv(3x3), conv(3x3) +
    max-pool (1/16), then fully connected ``hidden`` units (ReLU, dropout) and a fully
    connected layer with one output per pixel of the H/4 x W/4 log-depth map.
    Fine: conv(9x9, stride 2) + max-pool (1/4), concatenate the coarse log depth,
    conv(5x5), conv(5x5) to one channel, the refined log depth.

    Args:
        height, width: the input size, multiples of ``COARSE_STRIDE`` (16).
        channels: the coarse network's four convolution widths.
        hidden: width of the first fully connected layer (paper: 4096).
        fine_channels: width of the fine network (paper: 63 + 1 coarse channel).
        dropout: dropout after the first fully connected layer (paper: 0.5).
    Shape:
        ``forward(image)``: B x 3 x H x W normalised image -> B x 1 x H/4 x W/4 depth in metres.
    """

    def __init__(
        self,
        height: int = 64,
        width: int = 80,
        channels: tuple[int, int, int, int] = (32, 64, 96, 64),
        hidden: int = 512,
        fine_channels: int = 32,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")
        if height % COARSE_STRIDE or width % COARSE_STRIDE:
            raise ValueError(f"height and width must be multiples of {COARSE_STRIDE}, got {height} x {width}")
        if len(channels) != 4:
            raise ValueError(f"channels must have 4 entries, got {channels!r}")
        c1, c2, c3, c4 = (positive_int(c, "channels") for c in channels)
        positive_int(hidden, "hidden")
        positive_int(fine_channels, "fine_channels")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.out_size = (height // OUTPUT_STRIDE, width // OUTPUT_STRIDE)
        relu = nn.ReLU(inplace=True)
        self.coarse_features = nn.Sequential(
            nn.Conv2d(3, c1, 5, stride=2, padding=2), relu, nn.MaxPool2d(2),  # 1/4
            nn.Conv2d(c1, c2, 5, padding=2), relu, nn.MaxPool2d(2),  # 1/8
            nn.Conv2d(c2, c3, 3, padding=1), relu,
            nn.Conv2d(c3, c4, 3, padding=1), relu, nn.MaxPool2d(2),  # 1/16
        )  # fmt: skip
        flat = c4 * (height // COARSE_STRIDE) * (width // COARSE_STRIDE)
        self.coarse_head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, self.out_size[0] * self.out_size[1]),
        )
        self.fine_features = nn.Sequential(
            nn.Conv2d(3, fine_channels - 1, 9, stride=2, padding=4), nn.ReLU(inplace=True), nn.MaxPool2d(2)
        )  # 1/4, one channel left for the coarse prediction
        self.fine_head = nn.Sequential(
            nn.Conv2d(fine_channels, fine_channels, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(fine_channels, 1, 5, padding=2),
        )

    def _check(self, image: Tensor) -> None:
        if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[1:] != (3, self.height, self.width):
            raise ValueError(f"image must be B x 3 x {self.height} x {self.width}, got shape {shape_str(image)}")

    def coarse_log_depth(self, image: Tensor) -> Tensor:
        """The coarse network's log depth, B x 1 x H/4 x W/4."""
        self._check(image)
        flat = self.coarse_head(self.coarse_features(image))  # B x (H/4 * W/4)
        return flat.view(-1, 1, *self.out_size)

    def fine_log_depth(self, image: Tensor, coarse_log_depth: Tensor) -> Tensor:
        """The fine network's log depth, given the coarse one; B x 1 x H/4 x W/4."""
        self._check(image)
        features = self.fine_features(image)  # B x (fine-1) x H/4 x W/4
        return self.fine_head(torch.cat([features, coarse_log_depth], dim=1))

    def forward(self, image: Tensor, stage: str = "fine") -> Tensor:
        """Predicted depth in metres at 1/4 resolution: ``stage="coarse"`` or ``"fine"``."""
        if stage not in ("coarse", "fine"):
            raise ValueError(f"stage must be 'coarse' or 'fine', got {stage!r}")
        coarse = self.coarse_log_depth(image)
        if stage == "coarse":
            return torch.exp(coarse)
        return torch.exp(self.fine_log_depth(image, coarse))

    def coarse_parameters(self) -> list[nn.Parameter]:
        """Parameters trained in stage 1."""
        return [*self.coarse_features.parameters(), *self.coarse_head.parameters()]

    def fine_parameters(self) -> list[nn.Parameter]:
        """Parameters trained in stage 2."""
        return [*self.fine_features.parameters(), *self.fine_head.parameters()]

    def extra_repr(self) -> str:
        return f"input={self.height}x{self.width}, output={self.out_size[0]}x{self.out_size[1]}"


def load_single_views(
    split: str = "train",
    num_scenes: int = 12,
    samples_per_scene: int = 8,
    height: int = 64,
    width: int = 80,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Reference views of :class:`mvdlib.data.synthetic.SyntheticMultiViewDataset` as single-image data (chapters 3-4).

    Rendered once and cached on disk by the dataset (one source view per sample, unused).

    Returns:
        ``(rgb, depth)``: N x 3 x H x W float32 RGB in 0..255 and N x 1 x H x W depth in metres.
    """
    from mvdlib.data.synthetic import SyntheticMultiViewDataset

    dataset = SyntheticMultiViewDataset(
        split, num_scenes=num_scenes, samples_per_scene=samples_per_scene, num_sources=1,
        height=height, width=width, seed=seed,
    )  # fmt: skip
    samples = [dataset[i] for i in range(len(dataset))]
    return torch.stack([s["ref_image"] for s in samples]), torch.stack([s["ref_depth"] for s in samples])


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
    """
    images = as_tensor(images, "images")
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
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    history = []
    for _ in range(steps):
        idx = torch.randint(images.shape[0], (min(batch_size, images.shape[0]),), generator=generator)
        x, y = images[idx].to(device), depths[idx].to(device)
        pred = forward(x)
        target = downsample_target(y, torch.isfinite(y) & (y > 0), tuple(pred.shape[-2:]))
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
        model: an :class:`EigenCoarseFine`.
        images: N x 3 x H x W normalised images; depths: N x 1 x H x W depth (0 invalid).
        coarse_steps, fine_steps: optimisation steps of each stage.
        lam, lr, batch_size, seed: as in :func:`fit_depth_network` and the loss.
    Returns:
        ``{"coarse": [...], "fine": [...]}``, the loss of every step of each stage.
    """
    if not isinstance(model, EigenCoarseFine):
        raise TypeError(f"model must be an EigenCoarseFine, got {type(model).__name__}")

    def loss_fn(pred: Tensor, target: Tensor) -> Tensor:
        return scale_invariant_loss(pred, target, lam=lam)

    common = dict(loss_fn=loss_fn, lr=lr, batch_size=batch_size, seed=seed)
    coarse = fit_depth_network(
        model, images, depths, coarse_steps, forward=lambda x: model(x, "coarse"),
        parameters=model.coarse_parameters(), **common,
    )  # fmt: skip

    def fine_forward(x: Tensor) -> Tensor:
        model.coarse_features.eval()
        model.coarse_head.eval()
        with torch.no_grad():
            coarse_log = model.coarse_log_depth(x)
        return torch.exp(model.fine_log_depth(x, coarse_log))

    fine = fit_depth_network(
        model, images, depths, fine_steps, forward=fine_forward, parameters=model.fine_parameters(), **common
    )
    model.eval()
    return {"coarse": coarse, "fine": fine}


def _gradient_magnitude(d: Tensor) -> Tensor:
    """|grad d| by forward differences (replicated at the last row/column), B x 1 x H x W."""
    dx = torch.diff(d, dim=-1, append=d[..., -1:])
    dy = torch.diff(d, dim=-2, append=d[..., -1:, :])
    return torch.sqrt(dx**2 + dy**2)


def edge_errors(pred: Tensor, gt: Tensor, relative_step: float = EDGE_RELATIVE_STEP) -> dict[str, float]:
    """RMSE on and off depth edges, and how much of the edges' depth gradient survives (chapters 3 and 4).

    Edge pixels are those where the true depth changes by more than ``relative_step``
    times its value to a neighbour. ``sharpness`` is ``mean |grad pred| / mean |grad gt|``
    over the edge pixels: 1 for edges as steep as the truth, near 0 for blurred ones.

    Args:
        pred: B x 1 x H x W predicted depth (at the resolution of ``gt``).
        gt: B x 1 x H x W true depth; 0 or non-finite is invalid (and so are its neighbours' steps).
        relative_step: the edge threshold.
    Returns:
        dict with ``rmse``, ``rmse_edges``, ``rmse_flat`` (metres), ``sharpness``, ``edge_fraction``.
    """
    g = depth_map(gt, "gt")
    p = as_tensor(pred, "pred").to(g.dtype)
    if p.shape != g.shape:
        raise ValueError(f"pred must have the shape of gt {shape_str(g)}, got {shape_str(p)}")
    relative_step = positive_float(relative_step, "relative_step")
    valid = torch.isfinite(g) & (g > 0)
    if not valid.any():
        raise ValueError("gt has no valid pixel")
    g0 = torch.where(valid, g, torch.zeros_like(g))
    grad_g = _gradient_magnitude(g0)
    near_invalid = _gradient_magnitude(valid.to(g.dtype)) > 0
    edges = valid & ~near_invalid & (grad_g > relative_step * g0)
    flat = valid & ~edges
    sq = (p - g0) ** 2

    def rmse(m: Tensor) -> float:
        return float(torch.sqrt(sq[m].mean())) if m.any() else float("nan")

    sharpness = float(_gradient_magnitude(p)[edges].mean() / grad_g[edges].mean()) if edges.any() else float("nan")
    return {
        "rmse": rmse(valid),
        "rmse_edges": rmse(edges),
        "rmse_flat": rmse(flat),
        "sharpness": sharpness,
        "edge_fraction": float(edges.sum() / valid.sum()),
    }
