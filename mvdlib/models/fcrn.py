"""FCRN: a residual encoder and an up-projection decoder for single-image depth (chapter 4).

Laina et al., "Deeper Depth Prediction with Fully Convolutional Residual Networks", 3DV
2016. The paper's encoder is ResNet-50 (to 1/32) and its decoder four up-projection
blocks (to 1/2). Here the encoder is a small ResNet (one basic residual block per stage,
He et al. 2016) that stops at 1/16, and the decoder has three 2x blocks, so the output is
at 1/2 of the input resolution as in the paper. ``width`` scales every channel count.

The decoder block is selectable, so chapter 4 can train the same network with
``"up_projection"`` (FCRN), ``"fast_up_projection"`` (the same function, computed with
four small convolutions), ``"transposed"`` (a 3x3 stride-2 transposed convolution, the
checkerboard-prone choice) or ``"bilinear"`` (bilinear 2x then a 3x3 convolution, the block
MVDepthNet uses).
"""

from __future__ import annotations

from torch import Tensor, nn

from mvdlib._validation import check_choice, positive_float, positive_int, shape_str
from mvdlib.layers import FastUpProjection, UpProjection, up_conv_layer

__all__ = ["DECODERS", "ENCODER_CHANNELS", "FCRN", "ResidualBlock", "decoder_block"]

# Channels of the stem and the three residual stages at width 1.0 (ResNet-18's first
# three stages: He et al. 2016, Table 1), and the decoder halving them block by block.
ENCODER_CHANNELS = (64, 64, 128, 256)
DECODERS = ("up_projection", "fast_up_projection", "transposed", "bilinear")
# Transposed-convolution kernel: 3 is not divisible by the stride 2, so output pixels
# receive unequal numbers of contributions (Odena et al. 2016) - the checkerboard case.
TRANSPOSED_KERNEL = 3
# The encoder halves the resolution four times (stem conv, max-pool, two strided stages).
INPUT_MULTIPLE = 16


class ResidualBlock(nn.Module):
    """A basic residual block: conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU (He et al. 2016).

    The shortcut is the identity, or a 1x1 convolution + BN when the shape changes.

    Shape: B x in x H x W -> B x out x H/stride x W/stride.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        in_channels, out_channels = positive_int(in_channels, "in_channels"), positive_int(out_channels, "out_channels")
        stride = positive_int(stride, "stride")
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(nn.functional.relu(self.bn1(self.conv1(x)))))
        return nn.functional.relu(y + self.shortcut(x))


def decoder_block(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    """One 2x up-sampling block of the chosen ``kind`` (one of ``DECODERS``; chapter 4).

    Returns:
        A module mapping B x in x H x W to B x out x 2H x 2W.
    """
    check_choice(kind, "kind (the decoder)", DECODERS)
    if kind == "up_projection":
        return UpProjection(in_channels, out_channels)
    if kind == "fast_up_projection":
        return FastUpProjection(in_channels, out_channels)
    if kind == "transposed":
        return nn.Sequential(
            nn.ConvTranspose2d(
                in_channels, out_channels, TRANSPOSED_KERNEL, stride=2, padding=1, output_padding=1, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
    return up_conv_layer(in_channels, out_channels)


class FCRN(nn.Module):
    """Fully convolutional residual network for depth, CPU-sized (Laina et al. 2016; chapter 4).

    Encoder: conv 7x7 stride 2 + BN + ReLU, max-pool (1/4), residual stages at 1/4, 1/8,
    1/16. A 1x1 convolution + BN (the paper's layer after ResNet), three decoder blocks
    halving the channels (1/2), then a 3x3 convolution to one channel: depth in metres.

    Args:
        width: scales every channel count (1.0: 64, 64, 128, 256 in the encoder).
        decoder: the up-sampling block, one of ``DECODERS``.
    Shape:
        B x 3 x H x W (H, W multiples of 16, image normalised) -> B x 1 x H/2 x W/2 depth.
    """

    def __init__(self, width: float = 1.0, decoder: str = "up_projection"):
        super().__init__()
        width = positive_float(width, "width")
        check_choice(decoder, "decoder", DECODERS)
        self.width = width
        self.decoder_kind = decoder
        c0, c1, c2, c3 = (max(2, round(c * width)) for c in ENCODER_CHANNELS)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c0, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),  # 1/4
            ResidualBlock(c0, c1),
            ResidualBlock(c1, c2, stride=2),  # 1/8
            ResidualBlock(c2, c3, stride=2),  # 1/16
        )
        self.bottleneck = nn.Sequential(nn.Conv2d(c3, c3, 1, bias=False), nn.BatchNorm2d(c3))
        chans = [c3, max(1, c3 // 2), max(1, c3 // 4), max(1, c3 // 8)]
        pairs = zip(chans[:-1], chans[1:], strict=True)
        self.decoder = nn.Sequential(*(decoder_block(decoder, a, b) for a, b in pairs))
        self.head = nn.Conv2d(chans[-1], 1, 3, padding=1)

    def forward(self, image: Tensor) -> Tensor:
        if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B x 3 x H x W, got shape {shape_str(image)}")
        if image.shape[-2] % INPUT_MULTIPLE or image.shape[-1] % INPUT_MULTIPLE:
            raise ValueError(f"image height and width must be multiples of {INPUT_MULTIPLE}, got {shape_str(image)}")
        return self.head(self.decoder(self.bottleneck(self.encoder(image))))

    def extra_repr(self) -> str:
        return f"width={self.width}, decoder={self.decoder_kind!r}"
