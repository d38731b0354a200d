"""MVDepthNet: multi-view depth from a reference image and a plane-sweep cost volume (chapters 10-11).

Wang and Shen, "MVDepthNet: Real-time Multiview Depth Estimation Neural Network", 3DV 2018.
The network is an encoder-decoder: the encoder (``conv1``..``conv5``, each halving the
resolution) sees the normalised reference image concatenated with the cost volume, the
decoder (``upconvN`` bilinear up-sampling, ``iconvN`` fusion with skip connections) returns
four inverse-depth maps at 1, 1/2, 1/4 and 1/8 of the input resolution, each ``2 sigmoid(.)``.

At ``width=1.0`` the module has the keys and shapes of the authors' ``depthNet_model.py``
(33,898,500 parameters), so their released ``opensource_model.pth.tar`` loads with
:func:`load_pretrained`. Ports from the 2018 code (chapter 10):

* ``F.upsample`` is deprecated; the inverse-depth maps fed to the next scale are up-sampled
  with ``F.interpolate(mode="nearest")``, which is what ``F.upsample``'s default did.
* ``nn.Upsample(mode="bilinear")`` had no ``align_corners`` before PyTorch 0.4 and behaved
  like ``align_corners=True``; we default to ``align_corners=False`` (the modern default,
  consistent with the stride-2 encoder), and keep the old behaviour one argument away.
* The cost volume is built by :mod:`mvdlib.cost_volume` on any device instead of the
  original's hard-coded CUDA tensors.

This module holds the network and :func:`load_pretrained`; checkpoint files are read and
checked by :mod:`mvdlib.models.checkpoint`, and :mod:`mvdlib.inference` runs a trained
network (``fold_batchnorm``, ``inference_model``, ``predict``). Their names stay importable
from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mvdlib._validation import (
    check_choice,
    check_finite,
    check_shape,
    positive_float,
    positive_int,
    value_checks_enabled,
)
from mvdlib.conventions import (  # noqa: F401  (PIXEL_*, normalize_image: old path kept for readers' notebooks)
    NUM_DEPTHS,
    PAPER_SIZE,
    PIXEL_MEAN,
    PIXEL_STD,
    normalize_image,
)
from mvdlib.inference import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    CHANNEL_ORDERS,
    fold_batchnorm,
    inference_model,
    predict,
)
from mvdlib.layers import conv_layer, depth_layer, down_conv_layer, up_conv_layer
from mvdlib.models.checkpoint import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    DEFAULT_CHECKPOINT,
    IMAGE_ONLY_CHECKPOINT,
    checked_config,
    checkpoint_state,
    load_weights,
    read_checkpoint,
)

__all__ = ["INV_DEPTH_SCALE", "RESOLUTION_MULTIPLE", "MVDepthNet", "load_pretrained"]


# Inverse depth is predicted as INV_DEPTH_SCALE * sigmoid(.), so it lies in (0, 2) m^-1,
# i.e. depth > 0.5 m: the nearest plane of the paper's sweep.
INV_DEPTH_SCALE = 2.0

# The encoder halves the resolution five times, so H and W must be multiples of 2^5.
RESOLUTION_MULTIPLE = 32


# Channel counts of the original network at width 1.0.
ENCODER_CHANNELS = (128, 256, 512, 512, 512)
ENCODER_KERNELS = (7, 5, 3, 3, 3)
DECODER_CHANNELS = (512, 512, 256, 128, 64)  # upconv5 .. upconv1


def _channels(n: int, width: float) -> int:
    return max(1, round(n * width))


class MVDepthNet(nn.Module):
    """The MVDepthNet encoder-decoder (Wang and Shen 2018, Fig. 2; chapter 10).

    Args:
        width: multiplies every channel count (1.0 is the paper's network).
        num_depths: number of cost-volume planes ``D`` (the paper uses 64).
        align_corners: ``align_corners`` of the decoder's bilinear up-sampling (see the module doc).
        input_size: ``(height, width)`` the network was trained at; :func:`~mvdlib.inference.predict` resizes to it.
        image_only: ablation (chapter 11): replace the cost volume by zeros, which turns the same
            layers into a single-image network.
    """

    #: Its forward computes the same in channels_last (read by mvdlib.inference; a subclass must declare it anew).
    CHANNELS_LAST_SAFE = True

    def __init__(
        self,
        width: float = 1.0,
        num_depths: int = NUM_DEPTHS,
        align_corners: bool = False,
        input_size: tuple[int, int] = PAPER_SIZE,
        image_only: bool = False,
    ) -> None:
        super().__init__()
        self.width = positive_float(width, "width")
        self.num_depths = positive_int(num_depths, "num_depths")
        self.align_corners = bool(align_corners)
        if not isinstance(input_size, (tuple, list)) or len(input_size) != 2:
            raise ValueError(f"input_size must be (height, width), got {input_size!r}")
        h, w = (positive_int(s, "input_size") for s in input_size)
        if h % RESOLUTION_MULTIPLE or w % RESOLUTION_MULTIPLE:
            raise ValueError(f"input_size must be multiples of {RESOLUTION_MULTIPLE}, got {tuple(input_size)}")
        self.input_size = (h, w)
        self.image_only = bool(image_only)
        e1, e2, e3, e4, e5 = (_channels(c, self.width) for c in ENCODER_CHANNELS)
        d5, d4, d3, d2, d1 = (_channels(c, self.width) for c in DECODER_CHANNELS)
        k1, k2, k3, k4, k5 = ENCODER_KERNELS
        ac = self.align_corners
        self.conv1 = down_conv_layer(3 + self.num_depths, e1, k1)
        self.conv2 = down_conv_layer(e1, e2, k2)
        self.conv3 = down_conv_layer(e2, e3, k3)
        self.conv4 = down_conv_layer(e3, e4, k4)
        self.conv5 = down_conv_layer(e4, e5, k5)
        self.upconv5 = up_conv_layer(e5, d5, align_corners=ac)
        self.iconv5 = conv_layer(d5 + e4, d5)  # upconv5 + conv4
        self.upconv4 = up_conv_layer(d5, d4, align_corners=ac)
        self.iconv4 = conv_layer(d4 + e3, d4)  # upconv4 + conv3
        self.disp4 = depth_layer(d4)
        self.upconv3 = up_conv_layer(d4, d3, align_corners=ac)
        self.iconv3 = conv_layer(d3 + e2 + 1, d3)  # upconv3 + conv2 + up-sampled disp4
        self.disp3 = depth_layer(d3)
        self.upconv2 = up_conv_layer(d3, d2, align_corners=ac)
        self.iconv2 = conv_layer(d2 + e1 + 1, d2)  # upconv2 + conv1 + up-sampled disp3
        self.disp2 = depth_layer(d2)
        self.upconv1 = up_conv_layer(d2, d1, align_corners=ac)
        self.iconv1 = conv_layer(d1 + 1, d1)  # upconv1 + up-sampled disp2 (no skip at full res)
        self.disp1 = depth_layer(d1)

    def extra_repr(self) -> str:
        extra = ", image_only=True" if self.image_only else ""
        return f"width={self.width}, num_depths={self.num_depths}, align_corners={self.align_corners}{extra}"

    def forward(self, ref_image: Tensor, cost_volume: Tensor) -> list[Tensor]:
        """Predict inverse depth at four scales.

        Args:
            ref_image: B x 3 x H x W normalised reference image (:func:`~mvdlib.conventions.normalize_image`).
            cost_volume: B x D x H x W plane-sweep cost volume; H, W multiples of 32.
        Returns:
            ``[disp1, disp2, disp3, disp4]``: B x 1 x H/2^s x W/2^s inverse depth in (0, 2) m^-1, finest first.
        """
        sizes = check_shape(ref_image, "B 3 H W", "ref_image")
        b, h, w = sizes["B"], sizes["H"], sizes["W"]
        check_shape(cost_volume, f"{b} {self.num_depths} {h} {w}", "cost_volume")
        if value_checks_enabled():  # one device sync; training switches it off after the first step
            check_finite(ref_image, "ref_image")
            check_finite(cost_volume, "cost_volume")
        if h % RESOLUTION_MULTIPLE or w % RESOLUTION_MULTIPLE:
            raise ValueError(f"ref_image height and width must be multiples of {RESOLUTION_MULTIPLE}, got {h} x {w}")
        if self.image_only:
            cost_volume = torch.zeros_like(cost_volume)
        x = torch.cat((ref_image, cost_volume), 1)  # B x (3 + D) x H x W
        if cast(nn.Conv2d, self.conv1[0]).weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # a channels_last model: NHWC throughout
        conv1 = self.conv1(x)  # B x e1 x H/2 x W/2
        conv2 = self.conv2(conv1)  # H/4
        conv3 = self.conv3(conv2)  # H/8
        conv4 = self.conv4(conv3)  # H/16
        conv5 = self.conv5(conv4)  # H/32

        iconv5 = self.iconv5(torch.cat((self.upconv5(conv5), conv4), 1))  # H/16
        iconv4 = self.iconv4(torch.cat((self.upconv4(iconv5), conv3), 1))  # H/8
        disp4 = INV_DEPTH_SCALE * self.disp4(iconv4)
        iconv3 = self.iconv3(torch.cat((self.upconv3(iconv4), conv2, _up(disp4)), 1))  # H/4
        disp3 = INV_DEPTH_SCALE * self.disp3(iconv3)
        iconv2 = self.iconv2(torch.cat((self.upconv2(iconv3), conv1, _up(disp3)), 1))  # H/2
        disp2 = INV_DEPTH_SCALE * self.disp2(iconv2)
        iconv1 = self.iconv1(torch.cat((self.upconv1(iconv2), _up(disp2)), 1))  # H
        disp1 = INV_DEPTH_SCALE * self.disp1(iconv1)
        return [disp1, disp2, disp3, disp4]


def _up(disp: Tensor) -> Tensor:
    """2x nearest up-sampling: the behaviour of the original's ``F.upsample(disp, scale_factor=2)``."""
    return F.interpolate(disp, scale_factor=2, mode="nearest")


def load_pretrained(
    path: str | Path | None = None,
    device: torch.device | str | int | None = None,
    align_corners: bool | None = None,
    channel_order: str = "rgb",
) -> MVDepthNet:
    """An :class:`MVDepthNet` in eval mode with weights from a checkpoint file (chapters 10-11).

    Reads, with ``torch.load(weights_only=True)``:

    * our checkpoints (``python -m mvdlib.train``, training or exported, float16 weights are
      converted to float32): a dict with ``model`` or ``state_dict`` and a ``config``;
    * the authors' ``opensource_model.pth.tar``: a dict with ``state_dict`` (keys possibly
      prefixed ``module.`` by ``DataParallel``) for the width-1.0 network at 320 x 256.

    Args:
        path: checkpoint file; ``None`` loads the committed ``DEFAULT_CHECKPOINT``.
        device: where to put the model (default: CPU).
        align_corners: the decoder's up-sampling mode; default: what the checkpoint's config
            says, else ``False``. The authors' weights were trained with PyTorch 0.3, whose
            bilinear ``nn.Upsample`` aligned corners: load them with ``align_corners=True``.
        channel_order: the channel order the weights were trained on, ``"rgb"`` (ours) or
            ``"bgr"``: the authors' ``example2.py`` fed ``cv2.imread`` images, so load their
            weights with ``channel_order="bgr"``. Stored as the model's ``channel_order``;
            :func:`~mvdlib.inference.predict` reorders its input images to it.
    Returns:
        The model, in eval mode.
    Raises:
        ValueError: the file is damaged (:func:`~mvdlib.models.checkpoint.read_checkpoint`), its config is unknown or
            out of range (checked before anything is built), its weights do not fit the network
            or are not finite.
    """
    path = DEFAULT_CHECKPOINT if path is None else path
    if align_corners is not None and not isinstance(align_corners, bool):
        raise TypeError(f"align_corners must be True, False or None, got {align_corners!r}")
    check_choice(channel_order, "channel_order", CHANNEL_ORDERS)
    if device is not None and (isinstance(device, bool) or not isinstance(device, (torch.device, str, int))):
        raise TypeError(
            f"device must be a torch.device, a str such as 'cpu' or 'cuda:0', or a CUDA index, got {device!r}"
        )
    try:
        target = torch.device("cpu" if device is None else device)
    except RuntimeError as err:
        raise ValueError(f"device must name a device such as 'cpu' or 'cuda:0', got {device!r} ({err})") from err
    ckpt = read_checkpoint(path)
    path = Path(path)
    state = checkpoint_state(ckpt, path)
    config = checked_config(ckpt.get("config", {}), path)
    model = MVDepthNet(
        width=config.get("width", 1.0),
        num_depths=config.get("num_depths", NUM_DEPTHS),
        align_corners=config.get("align_corners", False) if align_corners is None else align_corners,
        input_size=tuple(config.get("input_size", PAPER_SIZE)),
        image_only=config.get("image_only", False),
    )
    load_weights(model, state, path)
    model.channel_order = channel_order  # type: ignore[assignment]  # a plain attribute; nn.Module types them Tensor | Module
    return model.to(target).eval()
