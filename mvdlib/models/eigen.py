"""Eigen's coarse/fine network for single-image depth (chapter 3).

Eigen, Puhrsch and Fergus, "Depth Map Prediction from a Single Image using a Multi-Scale
Deep Network", NeurIPS 2014. The *coarse* network sees the whole image: convolutions and
pooling, then fully connected layers whose every output pixel depends on every input
pixel, so it can predict the global layout (a floor receding, a wall ahead). The *fine*
network sees only local patches; it receives the coarse prediction as an extra feature
map and refines it. Both predict log depth at 1/4 of the input resolution. Training is
in two stages, as in the paper: first the coarse network alone, then the fine network
with the coarse one held fixed (:func:`mvdlib.training.single_view.train_two_stage`).

The paper's network (input 304 x 228; its coarse part has ~ 7.1e7 parameters, 5.0e7 of them
in the first fully connected layer: chapter 3 counts them) is shrunk here
to CPU size: the layer sequence and the data flow are the paper's; the channel counts,
kernel sizes and the fully connected width are arguments.
"""

from __future__ import annotations

import importlib

import torch
from torch import Tensor, nn

from mvdlib._validation import as_tensor, check_finite, positive_int, shape_str, value_checks_enabled

# Names that lived here until the layout of issue 20 and that readers' notebooks (the student
# edition among them) import from this path. Their homes sit above this module (training
# imports the network), so they are looked up when first asked for (PEP 562), never at import.
MOVED = {
    "EDGE_RELATIVE_STEP": "mvdlib.metrics",
    "edge_errors": "mvdlib.metrics",
    "load_single_views": "mvdlib.data.single_view",
    "fit_depth_network": "mvdlib.training.single_view",
    "train_two_stage": "mvdlib.training.single_view",
}

__all__ = ["COARSE_STRIDE", "OUTPUT_STRIDE", "EigenCoarseFine"]

# The coarse network pools the image down to 1/16 before its fully connected layers here
# (the paper's goes to 1/32 of 304 x 228); H and W must be multiples of it.
COARSE_STRIDE = 16
# Both networks predict at 1/4 of the input resolution (paper: 74 x 55 for 304 x 228).
OUTPUT_STRIDE = 4


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
        if value_checks_enabled():  # one device sync; a NaN input would give a NaN depth map without a word
            check_finite(as_tensor(image, "image"), "image")
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


def __getattr__(name: str) -> object:
    """The names in :data:`MOVED`, from their new homes (``from mvdlib.models.eigen import edge_errors``)."""
    if name in MOVED:
        return getattr(importlib.import_module(MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
