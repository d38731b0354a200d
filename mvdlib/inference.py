"""Running a trained plane-sweep network: BatchNorm folded, a fast copy, depth from posed images (chapters 10-11).

:func:`predict` takes what a camera gives (RGB images, intrinsics, camera-to-world poses),
builds MVDepthNet's input (resize, ``(rgb - 81) / 35``, the cost volume of
:func:`mvdlib.cost_volume.cost_volume_from_world_poses`) and returns metric depth.

The functions work for any network with MVDepthNet's interface: an ``nn.Module`` with
``num_depths`` (the planes ``D``) and ``input_size`` (``(height, width)``) whose
``forward(ref_image, cost_volume)`` returns inverse-depth maps, finest first
(:class:`mvdlib.models.mvdepthnet.MVDepthNet`, or a reader's own re-implementation). This
module imports no network, so ``mvdlib.models.mvdepthnet`` can re-export it without an
import cycle.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_weights

from mvdlib._model_checks import (
    _check_eval_mode,
    _check_network,
    _check_weights,
    _UncopyableModelError,
)
from mvdlib._validation import check_choice, intrinsics, positive_float, rigid_pose, shape_str, value_checks
from mvdlib.conventions import MAX_DEPTH, PIXEL_RANGE, normalize_image
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples
from mvdlib.geometry import backproject, project, relative_pose, scale_intrinsics, transform_points
from mvdlib.runtime import native_bf16

__all__ = ["CHANNEL_ORDERS", "PRECISIONS", "DegenerateGeometryWarning", "fold_batchnorm", "inference_model", "predict"]

# What predict's precision argument accepts: float32 throughout, or the network under bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")
# Channel orders of images and networks: ours are trained on RGB; the authors' weights were fed
# cv2.imread's BGR (their example2.py).
CHANNEL_ORDERS = ("rgb", "bgr")


class DegenerateGeometryWarning(UserWarning):
    """A source view moves no point of the depth range by a pixel: the cost volume cannot tell depths apart."""


def _hooked(model: nn.Module) -> bool:
    """Whether a forward hook would see ``model``'s pass: one on any of its modules, or a global one."""
    glob = nn.modules.module
    return bool(glob._global_forward_hooks or glob._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in model.modules()
    )


def _plain(module: nn.Module, kind: type[nn.Module]) -> bool:
    """Whether ``module`` is exactly ``kind`` (no subclass) with no hooks and no parametrization."""
    return (
        type(module) is kind
        and not module._forward_hooks
        and not module._forward_pre_hooks
        and not parametrize.is_parametrized(module)
    )


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    """Whether ``bn(conv(x))`` is exactly the folded convolution: plain modules, BatchNorm with running statistics."""
    return (
        _plain(conv, nn.Conv2d)
        and _plain(bn, nn.BatchNorm2d)
        and not conv.training
        and not bn.training
        and cast(nn.BatchNorm2d, bn).running_mean is not None
        and cast(nn.BatchNorm2d, bn).running_var is not None
    )


class _FoldedSequential(nn.Sequential):
    """An ``nn.Sequential`` whose forward runs each folded Conv2d -> BatchNorm2d pair as one convolution.

    Made by :func:`fold_batchnorm` from a plain ``nn.Sequential`` (its class swapped, as
    ``torch.nn.utils.parametrize`` does): its modules stay as they are, so whatever else calls
    one of them (``seq[0](x)``, ``seq[:1](x)``) or reads its weights gets what the model gives.
    Only the chain, where the convolution's output goes to the BatchNorm alone, runs the fused
    weights, stored as the buffers ``fused_<key>_weight`` and ``fused_<key>_bias``.

    Attributes:
        folded: key of each folded convolution -> key of the BatchNorm after it (none in a
            slice ``seq[i:j]``, a new Sequential of the same modules that runs them unfolded).
    """

    def __init__(self, *args: nn.Module) -> None:
        super().__init__(*args)
        self.folded: dict[str, str] = {}

    def forward(self, input: Tensor) -> Tensor:
        """Run the modules in order, each folded pair as its fused convolution; B x C x H x W in, the chain's output."""
        skip = None
        for key, module in self._modules.items():
            if key == skip:
                continue
            if key in self.folded:
                weight, bias = getattr(self, f"fused_{key}_weight"), getattr(self, f"fused_{key}_bias")
                input = cast(nn.Conv2d, module)._conv_forward(input, weight, bias)
                skip = self.folded[key]
            else:
                input = module(input)
        return input

    def extra_repr(self) -> str:
        return "folded: " + ", ".join(f"{c}+{b}" for c, b in self.folded.items())


def _plain_chain(block: nn.Module) -> bool:
    """Whether ``block`` runs ``nn.Sequential``'s own forward: exactly that class, no forward set on the instance."""
    return type(block) is nn.Sequential and "forward" not in vars(block)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode network with every BatchNorm folded into the convolution before it (chapter 10).

    In eval mode BatchNorm is the affine map ``y = gamma (x - mu) / sqrt(var + eps) + beta``
    with fixed statistics, so ``BN(W * x) = W' * x + b'`` with ``W' = W gamma / sqrt(var + eps)``
    and ``b' = beta - gamma mu / sqrt(var + eps)`` (per output channel); PyTorch's
    ``fuse_conv_bn_weights`` computes it. The copy's Sequentials run each folded pair as one
    convolution with ``W'`` and ``b'``: one pass over each feature map less, the same output up
    to float32 rounding.

    A pair is folded only where that is exact: an ``nn.Conv2d`` directly followed by an
    ``nn.BatchNorm2d`` (not subclasses) in a plain ``nn.Sequential`` (exactly that class, no
    ``forward`` set on the instance: its forward passes the convolution's output to the
    BatchNorm alone), neither with a forward hook or a parametrization
    (``torch.nn.utils.parametrize``), both in eval mode, the BatchNorm with running statistics.
    The modules themselves stay in the copy: a forward that also calls the convolution by
    itself (``seq[0](x)``, ``seq[:1](x)``) or reads its weights gets the unfolded ones, as in
    the model. Every other module is copied as it is (hooks, parametrizations, train or eval
    mode): the copy computes what the model computes. The copy is a snapshot for running:
    its fused weights do not follow later edits of its modules (fold the model again).

    Args:
        model: an MVDepthNet in eval mode (not changed), its BatchNorm and dropout modules too.
    Returns:
        The folded copy.
    Raises:
        ValueError: the model or one of its BatchNorm or dropout modules is in training mode (named),
            or the model cannot be deep-copied (``copy.deepcopy``'s reason named).
    """
    _check_network(model)
    _check_eval_mode(model)
    try:
        folded = copy.deepcopy(model)
    except Exception as err:  # noqa: BLE001 -- deepcopy raises whatever copying an attribute raises
        raise _UncopyableModelError(
            f"model cannot be deep-copied ({type(err).__name__}: {err}), so no folded copy can be made "
            "(predict runs such a model unfolded)"
        ) from err
    for block in list(folded.modules()):
        if not _plain_chain(block):
            continue
        keys = list(block._modules)
        pairs = {
            a: b
            for a, b in zip(keys, keys[1:], strict=False)
            if _foldable(cast(nn.Module, block._modules[a]), cast(nn.Module, block._modules[b]))
        }
        if not pairs:
            continue
        for a, b in pairs.items():
            conv, bn = cast(nn.Conv2d, block._modules[a]), cast(nn.BatchNorm2d, block._modules[b])
            mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)  # _foldable checked them
            weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, mean, var, bn.eps, bn.weight, bn.bias)
            block.register_buffer(f"fused_{a}_weight", weight.detach(), persistent=False)
            block.register_buffer(f"fused_{a}_bias", bias.detach(), persistent=False)
        block.__class__ = _FoldedSequential
        cast(_FoldedSequential, block).folded = pairs
    return folded


def _channels_last_safe(model: nn.Module) -> bool:
    """Whether ``model`` computes the same in channels_last: an ``MVDepthNet`` as built, nothing else.

    A network's forward may depend on the memory layout (``.view`` of a feature map needs it
    contiguous) or hold weights without a channels_last form (``Conv3d``'s are 5-D), and only
    running it tells. So only MVDepthNet itself qualifies, the forward tests check: exactly that
    class, no forward set on the instance, every submodule a ``torch.nn`` layer, no tensor above 4-D.
    """
    return (
        vars(type(model)).get("CHANNELS_LAST_SAFE") is True  # declared by MVDepthNet itself, not by a subclass
        and "forward" not in vars(model)
        and all(type(m).__module__.startswith("torch.nn.") for m in model.modules() if m is not model)
        and all(t.dim() <= 4 for t in [*model.parameters(), *model.buffers()])
    )


def inference_model(model: nn.Module) -> nn.Module:
    """The fast inference copy of an eval-mode network: BatchNorm folded, channels_last on the CPU (chapter 10).

    The copy is converted to channels_last (oneDNN's faster layout) only when it is an
    ``MVDepthNet`` as built (``_channels_last_safe``); any other network, e.g. one with a
    ``Conv3d`` or one that flattens a feature map with ``.view``, keeps its own layout, so the
    copy computes what the model computes for every network that runs by itself.

    :func:`predict` makes this copy on every call, from the model as it is then: no copy is
    kept, so no change of the model (its weights, modules, hooks, parametrizations, BatchNorm
    settings, dtype) can leave a stale one. Making it costs a small fraction of a prediction
    (``benchmarks/inference_fold.py`` measures both). Outputs equal the model's to about 1e-6
    (float32 rounding of the folded weights; tests/test_inference.py).

    Args:
        model: an MVDepthNet in eval mode, its BatchNorm and dropout modules too.
    Returns:
        The copy, on the model's device and in its dtype.
    """
    _check_network(model)
    with torch.inference_mode(False), torch.no_grad():  # ordinary tensors, even when called from predict
        fast = fold_batchnorm(model)
        if next(fast.parameters()).device.type == "cpu" and _channels_last_safe(model):  # oneDNN: faster on NHWC
            fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stub lacks memory_format
    return fast


def _images(x: Tensor | np.ndarray | Sequence[np.ndarray], name: str, batched: bool, max_value: float) -> np.ndarray:
    """RGB images as an array, checked: shape, numbers, finite, within ``0..max_value``.

    Float images of a 0..255 call whose values all lie in [0, 1] are refused: they are
    almost surely images scaled to [0, 1] (pass ``max_value=1.0`` for those). An all-black
    image (all zero) is the same image on either scale and is taken.
    """
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    want = 4 if batched else 3
    if a.ndim != want or a.shape[-1] != 3 or 0 in a.shape:
        form = "N x H x W x 3" if batched else "H x W x 3"
        raise ValueError(f"{name} must be {form} RGB images, got shape {a.shape}")
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers 0..{max_value:g}, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    lo, hi = a.min(), a.max()
    if lo < 0 or hi > max_value:
        raise ValueError(f"{name} must lie in 0..{max_value:g} (max_value), got values in [{lo:.4g}, {hi:.4g}]")
    if max_value == PIXEL_RANGE and np.issubdtype(a.dtype, np.floating) and 0 < hi <= 1.0:  # black is black in both
        raise ValueError(
            f"{name} looks scaled to [0, 1] (maximum {hi:.4g}) but 0..255 was expected: "
            "pass max_value=1.0 for such images, or multiply them by 255"
        )
    return a


def _parallax(K: Tensor, T_world_ref: Tensor, T_world_srcs: Tensor, size: tuple[int, int], depths: Tensor) -> Tensor:
    """Per source view, the longest stretch (pixels) of a reference pixel's epipolar segment inside the source image.

    A 5 x 5 grid of reference pixels (corners included) is back-projected at every depth of
    the sweep and projected into each source view with :mod:`mvdlib.geometry` (float64);
    projections behind the camera or outside the image are dropped, and the extent of the
    rest (they lie on one line) is the parallax of that pixel. Below one pixel every plane of
    the sweep samples the same source pixels.

    Args:
        K: 3 x 3 intrinsics at the network's ``size`` (height, width). T_world_ref: 1 x 4 x 4;
        T_world_srcs: N x 4 x 4 camera-to-world poses. depths: D depths of the sweep, metres.
    Returns:
        N parallaxes, pixels.
    """
    h, w = size
    K = K.double().cpu()
    rays = backproject(torch.ones(1, 1, h, w, dtype=torch.float64), K)  # 1 x 3 x h x w, depth-1 points
    rows = torch.linspace(0, h - 1, 5).round().long()
    cols = torch.linspace(0, w - 1, 5).round().long()
    rays = rays[:, :, rows][..., cols].reshape(1, 3, 1, 25)  # 1 x 3 x 1 x P
    points = rays * depths.double().cpu()[:, None]  # 1 x 3 x D x P, reference camera
    T_srcs = T_world_srcs.double().cpu()
    T_src_ref = relative_pose(T_world_ref.double().cpu().expand_as(T_srcs), T_srcs)  # N x 4 x 4
    uv, _ = project(transform_points(T_src_ref, points), K)  # N x 2 x D x P, NaN behind the camera
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] <= w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= h - 0.5)  # N x D x P
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    lo = torch.where(inside[:, None], uv, inf).amin(dim=2)  # N x 2 x P
    hi = torch.where(inside[:, None], uv, -inf).amax(dim=2)
    extent = torch.where(inside.any(dim=1), (hi - lo).norm(dim=1), torch.zeros((), dtype=torch.float64))  # N x P
    return extent.amax(dim=1)


def _warn_if_slow_bf16(device: torch.device) -> None:
    """Warn when bfloat16 runs on a CPU without native bf16 instructions (AVX512-BF16 or AMX)."""
    if device.type == "cpu" and not native_bf16(device):
        warnings.warn(
            "precision='bf16' on a CPU without native bfloat16 (AVX512-BF16 or AMX): oneDNN emulates it, "
            "which may be slower than fp32; measure with benchmarks/inference.py",
            RuntimeWarning,
            stacklevel=3,
        )


@torch.inference_mode()
def predict(
    model: nn.Module,
    ref_rgb: Tensor | np.ndarray,
    src_rgbs: Tensor | np.ndarray | Sequence[np.ndarray],
    K: Tensor | np.ndarray,
    T_world_ref: Tensor | np.ndarray,
    T_world_srcs: Tensor | np.ndarray,
    max_value: float = PIXEL_RANGE,
    precision: str = "fp32",
    channel_order: str = "rgb",
) -> np.ndarray:
    """Metric depth of a reference image from measurement frames with known poses (chapter 11).

    Resizes the images to ``model.input_size`` (rescaling ``K`` with ``scale_intrinsics``),
    normalises them, builds the multi-view plane-sweep cost volume on the normalised images
    (as the original) with :func:`mvdlib.cost_volume.cost_volume_from_world_poses`, runs the
    network (its fast copy, :func:`inference_model`; the model itself when it has forward hooks,
    so that they see the pass: a copy would carry copies of hook objects, or when ``copy.deepcopy``
    cannot copy it) and returns ``1 / disp1`` resized back.
    The inputs are checked once, here; the cost volume below runs without value checks.

    Args:
        model: an MVDepthNet in eval mode (as ``load_pretrained`` returns it).
        ref_rgb: H x W x 3 uint8 reference image.
        src_rgbs: N x H x W x 3 uint8 measurement frames (or a list of N images).
        K: 3 x 3 (or 1 x 3 x 3) intrinsics of the H x W images, pixels; one camera for all images.
        T_world_ref: 4 x 4 camera-to-world pose of the reference; T_world_srcs: N x 4 x 4.
        max_value: the white level of the images: 255 (uint8 or 0..255 floats) or 1.0 for
            floats in [0, 1]; they are rescaled to 0..255, the network's input range.
        precision: ``"fp32"`` (the network in its own dtype) or ``"bf16"``: the network under
            ``torch.autocast(dtype=torch.bfloat16)``, the cost volume in float32 (chapter 11
            measures its speed and accuracy); on a CPU without native bfloat16 a ``RuntimeWarning``
            says it may be slow.
        channel_order: the order of the images' channels, ``"rgb"`` or ``"bgr"`` (``cv2.imread``).
            They are reordered to the network's ``channel_order`` attribute (``load_pretrained``
            sets it; ``"rgb"`` when absent).
    Returns:
        H x W float32 depth in metres, finite everywhere; where the network's inverse depth falls below
        that of the sweep's far plane (``MAX_DEPTH``, 50 m, e.g. a saturated sigmoid) the depth
        is that far plane.
    Raises:
        ValueError: a bad argument, named; also a model without parameters, or with a NaN or
            infinite weight or BatchNorm statistic or a negative BatchNorm variance (named: it would
            make every depth NaN), or a network whose output is NaN or inf (the pixels counted).
    Warns:
        DegenerateGeometryWarning: a source view moves no reference pixel by one pixel within its
            image (at the network's size) over the sweep's depths (zero or tiny baseline, tiny focal
            length, a source far away): its cost volume cannot tell depths apart. Names the view.
    """
    _check_network(model)
    _check_eval_mode(model)
    max_value = positive_float(max_value, "max_value")
    check_choice(precision, "precision", PRECISIONS)
    check_choice(channel_order, "channel_order", CHANNEL_ORDERS)
    network_order = getattr(model, "channel_order", "rgb")
    check_choice(network_order, "model.channel_order", CHANNEL_ORDERS)
    first = _check_weights(model)
    dtype = first.dtype
    if not dtype.is_floating_point:
        raise ValueError(f"model must have floating-point weights, got {dtype}")
    ref = _images(ref_rgb, "ref_rgb", False, max_value)
    if isinstance(src_rgbs, (list, tuple)):
        shapes = {np.shape(s) for s in src_rgbs}
        if len(shapes) != 1:
            raise ValueError(f"src_rgbs must be images of one size, got sizes {sorted(shapes)}")
        src_rgbs = np.stack(list(src_rgbs))
    srcs = _images(src_rgbs, "src_rgbs", True, max_value)
    if srcs.shape[1:] != ref.shape:
        raise ValueError(f"src_rgbs must have the size of ref_rgb {ref.shape}, got {srcs.shape[1:]}")
    n = srcs.shape[0]
    Kt = intrinsics(K, "K")
    if Kt.shape[0] != 1:
        raise ValueError(f"K must be one 3 x 3 matrix (the images share one camera), got shape {shape_str(Kt)}")
    T_ref = rigid_pose(T_world_ref, "T_world_ref").float()
    if T_ref.shape[0] != 1:
        raise ValueError(f"T_world_ref must be one 4 x 4 pose, got shape {shape_str(T_ref)}")
    T_srcs = rigid_pose(T_world_srcs, "T_world_srcs").float()
    if T_srcs.shape[0] != n:
        raise ValueError(f"T_world_srcs must be N x 4 x 4 with N = {n} frames, got shape {shape_str(T_srcs)}")
    device = first.device
    h, w = ref.shape[:2]
    # MVDepthNet's plain attributes (_check_network checked they exist); nn.Module types them Tensor | Module
    h_net, w_net = cast("tuple[int, int]", model.input_size)
    images = torch.from_numpy(np.concatenate([ref[None], srcs]).astype(np.float32)).permute(0, 3, 1, 2)
    if channel_order != network_order:
        images = images.flip(1)
    if max_value != PIXEL_RANGE:
        images = images * (PIXEL_RANGE / max_value)
    images = F.interpolate(images.to(device), size=(h_net, w_net), mode="bilinear", align_corners=False)
    with value_checks(False):  # K, the poses and the images were checked above
        images = normalize_image(images)  # (1 + N) x 3 x h x w
        K_net = scale_intrinsics(Kt[0].float(), w_net / w, h_net / h)
        inv_depths = inverse_depth_samples(cast(int, model.num_depths)).to(device)
        cost = cost_volume_from_world_poses(images[:1], images[None, 1:], K_net, T_ref, T_srcs[None], inv_depths)
        parallax = _parallax(K_net, T_ref, T_srcs, (h_net, w_net), 1.0 / inv_depths)
    for j in torch.nonzero(parallax < 1.0).flatten().tolist():
        warnings.warn(
            f"source view {j} (T_world_srcs[{j}]) moves no reference pixel by one pixel within its image "
            f"over the sweep's depths (largest {parallax[j]:.3g} px at the network's {h_net} x {w_net}): "
            "its baseline is zero or too small for this focal length and depth range, or it does not see the "
            "reference's scene; the depth is unreliable",
            DegenerateGeometryWarning,
            stacklevel=3,
        )
    try:  # the model itself when hooked (hooks see its own modules) or when it cannot be copied
        fast = model if _hooked(model) else inference_model(model)
    except _UncopyableModelError:
        fast = model
    if precision == "bf16":
        _warn_if_slow_bf16(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        inv_depth = fast(images[:1].to(dtype), cost.to(dtype))[0].float()  # 1 x 1 x h x w
    non_finite = int((~torch.isfinite(inv_depth)).sum())
    if non_finite:
        raise ValueError(
            f"model: the network produced non-finite depth at {non_finite} of {inv_depth.numel()} pixels "
            f"of its {h_net} x {w_net} output (NaN or inf inverse depth; its weights are finite)"
        )
    inv_depth = F.interpolate(inv_depth, size=(h, w), mode="bilinear", align_corners=False)
    inv_depth = inv_depth.clamp(min=1.0 / MAX_DEPTH)  # never inf: no farther than the far plane
    return (1.0 / inv_depth)[0, 0].cpu().numpy().astype(np.float32)
