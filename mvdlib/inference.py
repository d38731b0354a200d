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
import weakref
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mvdlib._validation import check_choice, intrinsics, positive_float, rigid_pose, shape_str, value_checks
from mvdlib.conventions import MAX_DEPTH, PIXEL_RANGE, normalize_image
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples
from mvdlib.geometry import scale_intrinsics

__all__ = ["CHANNEL_ORDERS", "PRECISIONS", "DegenerateGeometryWarning", "fold_batchnorm", "inference_model", "predict"]

# What predict's precision argument accepts: float32 throughout, or the network under bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")
# Channel orders of images and networks: ours are trained on RGB; the authors' weights were fed
# cv2.imread's BGR (their example2.py).
CHANNEL_ORDERS = ("rgb", "bgr")


class DegenerateGeometryWarning(UserWarning):
    """A source view moves no point of the depth range by a pixel: the cost volume cannot tell depths apart."""


def _check_network(model: object) -> nn.Module:
    """An ``nn.Module`` with MVDepthNet's interface (``num_depths``, ``input_size``)."""
    if not isinstance(model, nn.Module) or not hasattr(model, "num_depths") or not hasattr(model, "input_size"):
        raise TypeError(
            f"model must be an MVDepthNet (an nn.Module with num_depths and input_size), got {type(model).__name__}"
        )
    return model


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode network with every BatchNorm folded into the convolution before it (chapter 10).

    In eval mode BatchNorm is the affine map ``y = gamma (x - mu) / sqrt(var + eps) + beta``
    with fixed statistics, so ``BN(W * x) = W' * x + b'`` with ``W' = W gamma / sqrt(var + eps)``
    and ``b' = beta - gamma mu / sqrt(var + eps)`` (per output channel); PyTorch's
    ``fuse_conv_bn_eval`` computes it. The copy's BatchNorms become ``nn.Identity``: one
    pass over each feature map less, the same output up to float32 rounding.

    Args:
        model: an MVDepthNet in eval mode (not changed); every ``nn.Sequential`` in which a
            ``Conv2d`` is followed by a ``BatchNorm2d`` is folded.
    Returns:
        The folded copy, in eval mode.
    """
    _check_network(model)
    if model.training:
        raise ValueError("model must be in eval mode (folding uses the running statistics), got training mode")
    folded = copy.deepcopy(model)
    for block in folded.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for i in range(1, len(block)):
            conv, bn = block[i - 1], block[i]
            if isinstance(bn, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d):
                block[i - 1] = fuse_conv_bn_eval(conv, bn)
                block[i] = nn.Identity()
    return folded.eval()


# The fast copy of each model predict() has seen, with a snapshot of the weights it was made from.
_FAST_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _same_weights(snapshot: list[Tensor], current: list[Tensor]) -> bool:
    """Whether every parameter and buffer equals its snapshot exactly (shape, dtype, device, values)."""
    return len(snapshot) == len(current) and all(
        a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
        for a, b in zip(snapshot, current, strict=True)
    )


def inference_model(model: nn.Module) -> nn.Module:
    """The fast inference copy of an eval-mode network: BatchNorm folded, channels_last on the CPU (chapter 10).

    :func:`predict` runs this copy. It is kept with a snapshot of the weights it was folded
    from, and reused only while every parameter and buffer of the model equals that snapshot
    exactly: any change (an optimizer step, ``load_state_dict``, a ``.data`` write,
    ``vector_to_parameters``, ``.to(dtype)``) makes a new copy. Comparing costs one read of the
    weights (about 0.08 s for the width-1 network on one thread), folding 0.2-1.4 s. Outputs
    equal the model's to about 1e-6 (float32 rounding of the folded weights; tests/test_inference.py).

    Args:
        model: an MVDepthNet in eval mode.
    Returns:
        The copy, in eval mode, on the model's device and in its dtype.
    """
    _check_network(model)
    with torch.inference_mode(False), torch.no_grad():  # ordinary tensors, even when called from predict
        current = [t.detach() for t in (*model.parameters(), *model.buffers())]
        cached = _FAST_MODELS.get(model)
        if cached is not None and _same_weights(cached[0], current):
            return cached[1]
        fast = fold_batchnorm(model)
        if next(fast.parameters()).device.type == "cpu":  # oneDNN's convolutions are faster on NHWC
            fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stub lacks memory_format
        _FAST_MODELS[model] = ([t.clone() for t in current], fast)
    return fast


def _images(x: Tensor | np.ndarray | Sequence[np.ndarray], name: str, batched: bool, max_value: float) -> np.ndarray:
    """RGB images as an array, checked: shape, numbers, finite, within ``0..max_value``.

    Float images of a 0..255 call whose values all lie in [0, 1] are refused: they are
    almost surely images scaled to [0, 1] (pass ``max_value=1.0`` for those).
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
    if max_value == PIXEL_RANGE and np.issubdtype(a.dtype, np.floating) and hi <= 1.0:
        raise ValueError(
            f"{name} looks scaled to [0, 1] (maximum {hi:.4g}) but 0..255 was expected: "
            "pass max_value=1.0 for such images, or multiply them by 255"
        )
    return a


def _parallax(K: Tensor, T_world_ref: Tensor, T_world_srcs: Tensor, size: tuple[int, int], depths: Tensor) -> Tensor:
    """Per source view, the longest stretch (pixels) of a reference pixel's epipolar segment inside the source image.

    A 5 x 5 grid of reference pixels is back-projected at every depth of the sweep and
    projected into each source view (float64); projections behind the camera or outside the
    image are dropped, and the extent of the rest (they lie on one line) is the parallax of
    that pixel. Below one pixel every plane of the sweep samples the same source pixels.

    Args:
        K: 3 x 3 intrinsics at the network's ``size`` (height, width). T_world_ref: 1 x 4 x 4;
        T_world_srcs: N x 4 x 4 camera-to-world poses. depths: D depths of the sweep, metres.
    Returns:
        N parallaxes, pixels.
    """
    h, w = size
    u, v = torch.meshgrid(torch.linspace(0, w - 1, 5), torch.linspace(0, h - 1, 5), indexing="xy")
    pix = torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(25)]).double()  # 3 x P
    K = K.double().cpu()
    rays = torch.linalg.solve(K, pix)  # depth-1 points in the reference camera
    T_src_ref = torch.linalg.solve(T_world_srcs.double().cpu(), T_world_ref.double().cpu())  # N x 4 x 4
    z = depths.double().cpu()[:, None, None, None]  # D x 1 x 1 x 1
    p = T_src_ref[:, :3, :3] @ (rays * z) + T_src_ref[:, :3, 3:]  # D x N x 3 x P
    q = K @ p
    uv = q[..., :2, :] / q[..., 2:, :].clamp(min=1e-300)  # D x N x 2 x P
    inside = (p[..., 2, :] > 1e-9) & (uv[..., 0, :] >= -0.5) & (uv[..., 0, :] <= w - 0.5)
    inside &= (uv[..., 1, :] >= -0.5) & (uv[..., 1, :] <= h - 0.5)  # D x N x P
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    lo = torch.where(inside[..., None, :], uv, inf).amin(dim=0)  # N x 2 x P
    hi = torch.where(inside[..., None, :], uv, -inf).amax(dim=0)
    extent = torch.where(inside.any(dim=0), (hi - lo).norm(dim=1), torch.zeros(()).double())  # N x P
    return extent.amax(dim=1)


def _warn_if_slow_bf16(device: torch.device) -> None:
    """Warn when bfloat16 runs on a CPU without native bf16 instructions (AVX512-BF16 or AMX)."""
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
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
    network (its fast copy, :func:`inference_model`) and returns ``1 / disp1`` resized back.
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
    Warns:
        DegenerateGeometryWarning: a source view moves no reference pixel by one pixel within its
            image (at the network's size) over the sweep's depths (zero or tiny baseline, tiny focal
            length, a source far away): its cost volume cannot tell depths apart. Names the view.
    """
    _check_network(model)
    if model.training:  # BatchNorm would normalise with this one image's statistics
        raise ValueError("model must be in eval mode (call model.eval()), got a model in training mode")
    max_value = positive_float(max_value, "max_value")
    check_choice(precision, "precision", PRECISIONS)
    check_choice(channel_order, "channel_order", CHANNEL_ORDERS)
    network_order = getattr(model, "channel_order", "rgb")
    check_choice(network_order, "model.channel_order", CHANNEL_ORDERS)
    dtype = next(model.parameters()).dtype
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
    device = next(model.parameters()).device
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
    fast = inference_model(model)
    if precision == "bf16":
        _warn_if_slow_bf16(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        inv_depth = fast(images[:1].to(dtype), cost.to(dtype))[0].float()  # 1 x 1 x h x w
    inv_depth = F.interpolate(inv_depth, size=(h, w), mode="bilinear", align_corners=False)
    inv_depth = inv_depth.clamp(min=1.0 / MAX_DEPTH)  # never inf: no farther than the far plane
    return (1.0 / inv_depth)[0, 0].cpu().numpy().astype(np.float32)
