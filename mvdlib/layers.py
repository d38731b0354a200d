"""Network building blocks taught in the book (conventions in ``book/conventions.md``).

Sections: BatchNorm and initialization (chapters 6-8), FCRN up-projection (chapter 4),
MVDepthNet's blocks (chapter 10).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mvdlib._validation import check_finite, check_shape, positive_float, positive_int, value_checks_enabled

__all__ = [
    "FastUpConv",
    "FastUpProjection",
    "ScratchBatchNorm2d",
    "UpConv",
    "UpProjection",
    "conv_layer",
    "depth_layer",
    "down_conv_layer",
    "init_kaiming",
    "interleave",
    "unpool_zeros",
    "up_conv_layer",
]

# ---- BatchNorm and initialization (chapters 6-8) -----------------------------------------


class ScratchBatchNorm2d(nn.Module):
    """Batch normalization over B x C x H x W, its four steps written out (Ioffe and Szegedy 2015, chapter 6).

    In training mode, for each channel c over the m = B*H*W values of the batch:
    (1) mean mu_c, (2) biased variance sigma_c^2, (3) x_hat = (x - mu_c) / sqrt(sigma_c^2 + eps),
    (4) y = gamma_c * x_hat + beta_c. The running statistics are updated as PyTorch does,
    running = (1 - momentum) * running + momentum * batch, with the *unbiased* variance
    sigma_c^2 * m / (m - 1); ``momentum=None`` gives the cumulative average. In evaluation mode
    steps 1-2 are replaced by the running statistics. Parameter and buffer names equal
    ``nn.BatchNorm2d``'s, so the two swap via ``load_state_dict``.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance before the square root.
        momentum: weight of the current batch in the running statistics, in (0, 1], or None.
        affine: learn gamma (``weight``, init 1) and beta (``bias``, init 0).
    Shape:
        input and output B x C x H x W.

    Example:
        >>> y = ScratchBatchNorm2d(2)(torch.randn(4, 2, 3, 3))
        >>> y.mean(dim=(0, 2, 3)).abs().max() < 1e-6  # each channel normalised over the batch
        tensor(True)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.eps = positive_float(eps, "eps")
        if momentum is not None and not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1] or None, got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        if self.affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        check_shape(x, "B C H W", "input")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"input must have num_features={self.num_features} channels (dim 1), got shape {tuple(x.shape)}"
            )
        per_channel = (1, -1, 1, 1)  # C -> 1 x C x 1 x 1, to broadcast over B, H, W
        if self.training:
            if value_checks_enabled():  # a NaN would poison running_mean for good
                check_finite(x, "input")
            m = x.shape[0] * x.shape[2] * x.shape[3]
            if m <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
            mean = x.mean(dim=(0, 2, 3))  # step 1: C
            var = (x - mean.view(per_channel)).pow(2).mean(dim=(0, 2, 3))  # step 2, biased: C
            with torch.no_grad():
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1.0 - f).add_(f * mean.detach().to(self.running_mean.dtype))
                unbiased = var.detach().to(self.running_var.dtype) * (m / (m - 1))
                self.running_var.mul_(1.0 - f).add_(f * unbiased)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(per_channel)) / torch.sqrt(var.view(per_channel) + self.eps)  # step 3
        if not self.affine:
            return x_hat
        return self.weight.view(per_channel) * x_hat + self.bias.view(per_channel)  # step 4

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


def init_kaiming(module: nn.Module) -> nn.Module:
    """Initialise a network as MVDepthNet does (He et al. 2015; Wang and Shen 2018, chapter 8).

    Every ``Conv2d`` and ``ConvTranspose2d`` weight is drawn from N(0, 2 / fan_out)
    (``kaiming_normal_``, ``mode='fan_out'``, ReLU gain sqrt(2)) and its bias, if any, set
    to 0; every BatchNorm (``nn.BatchNorm2d`` or :class:`ScratchBatchNorm2d`) gets weight 1
    and bias 0. PyTorch reads the fans from the weight's shape, so fan_out is
    ``out_channels * kh * kw`` for a convolution and ``in_channels * kh * kw`` for a
    transposed convolution (whose weight is in x out x kh x kw). Uses the global RNG.

    Args:
        module: a network; all its sub-modules are visited.
    Returns:
        The same module, initialised in place.

    Example:
        >>> conv = init_kaiming(nn.Conv2d(3, 8, 3))
        >>> bool((conv.bias == 0).all())
        True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, ScratchBatchNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


# ---- FCRN up-projection (chapter 4) ------------------------------------------------------


def unpool_zeros(x: Tensor) -> Tensor:
    """FCRN's 2x unpooling: each value goes to the top-left of a 2x2 block of zeros (chapter 4).

    Args:
        x: B x C x H x W.
    Returns:
        B x C x 2H x 2W with ``out[..., 2i, 2j] = x[..., i, j]`` and zeros elsewhere.

    Example:
        >>> unpool_zeros(torch.tensor([[[[1.0, 2.0]]]]))[0, 0].tolist()
        [[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    check_shape(x, "B C H W", "x")
    out = x.new_zeros(x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3])
    out[..., ::2, ::2] = x
    return out


def interleave(ee: Tensor, eo: Tensor, oe: Tensor, oo: Tensor) -> Tensor:
    """Interleave four B x C x H x W maps into one B x C x 2H x 2W map (chapter 4).

    ``ee`` fills (even row, even column), ``eo`` (even, odd), ``oe`` (odd, even), ``oo`` (odd, odd).

    Example:
        >>> ee, eo, oe, oo = (torch.full((1, 1, 1, 1), v) for v in (1.0, 2.0, 3.0, 4.0))
        >>> interleave(ee, eo, oe, oo)[0, 0].tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    maps = {"ee": ee, "eo": eo, "oe": oe, "oo": oo}
    for name, m in maps.items():
        check_shape(m, "B C H W", name)
    shapes = {name: tuple(m.shape) for name, m in maps.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"ee, eo, oe, oo must have one shape, got {shapes}")
    b, c, h, w = ee.shape
    even_rows = torch.stack((ee, eo), dim=-1).reshape(b, c, h, 2 * w)  # columns interleaved
    odd_rows = torch.stack((oe, oo), dim=-1).reshape(b, c, h, 2 * w)
    return torch.stack((even_rows, odd_rows), dim=-2).reshape(b, c, 2 * h, 2 * w)  # rows interleaved


# FCRN's up-convolution kernel (Laina et al. 2016, Fig. 2): 5x5 on the unpooled map.
UP_CONV_KERNEL = 5


class UpConv(nn.Module):
    """Unpool 2x with zeros, then a 5x5 convolution (padding 2): FCRN's up-convolution (chapter 4).

    Shape: B x in x H x W -> B x out x 2H x 2W.

    Example:
        >>> UpConv(4, 2)(torch.rand(1, 4, 3, 5)).shape
        torch.Size([1, 2, 6, 10])
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        positive_int(in_channels, "in_channels")
        positive_int(out_channels, "out_channels")
        self.conv = nn.Conv2d(in_channels, out_channels, UP_CONV_KERNEL, padding=UP_CONV_KERNEL // 2, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(unpool_zeros(x))


class FastUpConv(nn.Module):
    """FCRN's fast up-convolution: four small convolutions whose interleaved outputs equal :class:`UpConv`.

    On the unpooled map only every other row and column is non-zero, so an output pixel at
    (even, even) sees the 5x5 kernel's taps ``W[0::2, 0::2]`` (3x3), at (even, odd)
    ``W[0::2, 1::2]`` (3x2), at (odd, even) ``W[1::2, 0::2]`` (2x3), at (odd, odd)
    ``W[1::2, 1::2]`` (2x2). Each runs on the small input, 4x fewer multiplications in all
    and no zeros stored (Laina et al. 2016, section 3.2; chapter 4).

    Shape: B x in x H x W -> B x out x 2H x 2W.

    Example:
        >>> slow = UpConv(4, 2)
        >>> fast = FastUpConv(4, 2).copy_from(slow)
        >>> x = torch.rand(1, 4, 3, 5)
        >>> torch.allclose(fast(x), slow(x), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        positive_int(in_channels, "in_channels")
        positive_int(out_channels, "out_channels")
        self.conv_ee = nn.Conv2d(in_channels, out_channels, (3, 3), bias=bias)
        self.conv_eo = nn.Conv2d(in_channels, out_channels, (3, 2), bias=bias)
        self.conv_oe = nn.Conv2d(in_channels, out_channels, (2, 3), bias=bias)
        self.conv_oo = nn.Conv2d(in_channels, out_channels, (2, 2), bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        xp = nn.functional.pad(x, (1, 1, 1, 1))  # B x C x (H+2) x (W+2)
        # Three-tap directions use rows/columns i-1, i, i+1; two-tap ones use i, i+1 (drop the first pad).
        return interleave(
            self.conv_ee(xp),
            self.conv_eo(xp[..., :, 1:]),
            self.conv_oe(xp[..., 1:, :]),
            self.conv_oo(xp[..., 1:, 1:]),
        )

    @torch.no_grad()
    def copy_from(self, up: UpConv) -> FastUpConv:
        """Take the four kernels (and the bias) from an :class:`UpConv`'s 5x5 kernel; returns self."""
        if not isinstance(up, UpConv):
            raise TypeError(f"up must be an UpConv, got {type(up).__name__}")
        if up.conv.weight.shape[:2] != self.conv_ee.weight.shape[:2]:
            raise ValueError(
                f"up must have {tuple(self.conv_ee.weight.shape[:2])} (out, in) channels, "
                f"got {tuple(up.conv.weight.shape[:2])}"
            )
        w = up.conv.weight  # out x in x 5 x 5
        for conv, rows, cols in (
            (self.conv_ee, 0, 0),
            (self.conv_eo, 0, 1),
            (self.conv_oe, 1, 0),
            (self.conv_oo, 1, 1),
        ):
            conv.weight.copy_(w[:, :, rows::2, cols::2])
            if conv.bias is not None:
                conv.bias.copy_(up.conv.bias)
        return self


class UpProjection(nn.Module):
    """FCRN's up-projection block: 2x up-sampling with a residual projection (Laina et al. 2016, Fig. 2; chapter 4).

    Main branch: up-convolution (unpool + 5x5 conv), BN, ReLU, 3x3 conv, BN. Projection
    branch: up-convolution, BN. Output: ReLU(main + projection).

    Args:
        in_channels, out_channels: channel counts (FCRN halves the channels at each block).
        batch_norm: use BatchNorm after each convolution (as FCRN); without it the
            convolutions carry biases.
    Shape:
        B x in x H x W -> B x out x 2H x 2W.

    Example:
        >>> UpProjection(8, 4)(torch.rand(2, 8, 3, 5)).shape
        torch.Size([2, 4, 6, 10])
    """

    up_conv_class: type[nn.Module] = UpConv

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True):
        super().__init__()
        bias = not batch_norm

        def norm() -> nn.Module:
            return nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()

        self.up_main = self.up_conv_class(in_channels, out_channels, bias=bias)
        self.bn_main = norm()
        self.conv_main = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.bn_main2 = norm()
        self.up_proj = self.up_conv_class(in_channels, out_channels, bias=bias)
        self.bn_proj = norm()

    def forward(self, x: Tensor) -> Tensor:
        check_shape(x, "B C H W", "x")
        main = torch.relu(self.bn_main(self.up_main(x)))
        main = self.bn_main2(self.conv_main(main))
        return torch.relu(main + self.bn_proj(self.up_proj(x)))


class FastUpProjection(UpProjection):
    """:class:`UpProjection` with both up-convolutions computed by :class:`FastUpConv` (chapter 4).

    Same parameters (re-arranged), same output: :meth:`copy_from` takes an
    ``UpProjection``'s weights, after which the two blocks agree to rounding error.

    Example:
        >>> slow = UpProjection(8, 4).eval()
        >>> fast = FastUpProjection(8, 4).copy_from(slow).eval()
        >>> x = torch.rand(1, 8, 3, 5)
        >>> torch.allclose(fast(x), slow(x), atol=1e-5)
        True
    """

    up_conv_class = FastUpConv

    @torch.no_grad()
    def copy_from(self, slow: UpProjection) -> FastUpProjection:
        """Copy every weight, bias and BatchNorm statistic from an :class:`UpProjection`; returns self."""
        if type(slow) is not UpProjection:
            raise TypeError(f"slow must be an UpProjection, got {type(slow).__name__}")
        self.up_main.copy_from(slow.up_main)
        self.up_proj.copy_from(slow.up_proj)
        for name in ("bn_main", "conv_main", "bn_main2", "bn_proj"):
            getattr(self, name).load_state_dict(getattr(slow, name).state_dict())
        return self


# ---- MVDepthNet blocks (chapter 10) ------------------------------------------------------
# The four Sequential layouts of the original depthNet_model.py (Wang and Shen 2018), in the
# same order, so that a state_dict key such as ``conv1.3.weight`` means the same layer here
# and in the authors' released weights. Convolutions followed by BatchNorm carry no bias.


def _sizes(in_channels: int, out_channels: int, kernel_size: int) -> tuple[int, int, int]:
    """Checked channel counts and an odd kernel size of a conv block."""
    k = positive_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
    return positive_int(in_channels, "in_channels"), positive_int(out_channels, "out_channels"), k


def down_conv_layer(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """MVDepthNet encoder block: two ``k x k`` conv-BN-ReLU, the second with stride 2 (chapter 10).

    Indices 0/3 are the convolutions, 1/4 the BatchNorms, 2/5 the ReLUs.

    Args:
        in_channels, out_channels: channel counts; kernel_size: odd ``k`` (padding ``(k-1)/2``).
    Returns:
        A module mapping ``B x in x H x W`` to ``B x out x ceil(H/2) x ceil(W/2)``.

    Example:
        >>> down_conv_layer(3, 8, 7)(torch.rand(2, 3, 32, 40)).shape
        torch.Size([2, 8, 16, 20])
    """
    in_channels, out_channels, kernel_size = _sizes(in_channels, out_channels, kernel_size)
    pad = (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=pad, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size, stride=2, padding=pad, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_layer(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """MVDepthNet decoder fusion block ``iconv``: one ``k x k`` conv-BN-ReLU, stride 1 (chapter 10).

    Returns:
        A module mapping ``B x in x H x W`` to ``B x out x H x W``.

    Example:
        >>> conv_layer(8, 4)(torch.rand(2, 8, 16, 20)).shape
        torch.Size([2, 4, 16, 20])
    """
    in_channels, out_channels, kernel_size = _sizes(in_channels, out_channels, kernel_size)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def up_conv_layer(
    in_channels: int, out_channels: int, kernel_size: int = 3, align_corners: bool = False
) -> nn.Sequential:
    """MVDepthNet decoder block ``upconv``: 2x bilinear up-sampling, then conv-BN-ReLU (chapter 10).

    Index 0 is the parameter-free ``nn.Upsample`` (so the conv is ``upconv.1``, as in the
    original). The 2018 code relied on PyTorch 0.3's bilinear default, which behaved like
    ``align_corners=True``; we default to ``False``, which keeps the pixel-centre grid of a
    stride-2 encoder aligned (chapter 10 discusses the port).

    Returns:
        A module mapping ``B x in x H x W`` to ``B x out x 2H x 2W``.

    Example:
        >>> up_conv_layer(8, 4)(torch.rand(2, 8, 16, 20)).shape
        torch.Size([2, 4, 32, 40])
    """
    in_channels, out_channels, kernel_size = _sizes(in_channels, out_channels, kernel_size)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def depth_layer(in_channels: int) -> nn.Sequential:
    """MVDepthNet prediction head ``disp``: a 3x3 conv with bias, then a sigmoid (chapter 10).

    The network scales the output by 2, so predicted inverse depth lies in (0, 2) m^-1.

    Returns:
        A module mapping ``B x in x H x W`` to ``B x 1 x H x W`` in (0, 1).

    Example:
        >>> out = depth_layer(8)(torch.rand(1, 8, 4, 4))
        >>> out.shape, bool(((out > 0) & (out < 1)).all())
        (torch.Size([1, 1, 4, 4]), True)
    """
    in_channels = positive_int(in_channels, "in_channels")
    return nn.Sequential(nn.Conv2d(in_channels, 1, 3, padding=1), nn.Sigmoid())
