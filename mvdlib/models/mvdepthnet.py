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
"""

from __future__ import annotations

import copy
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mvdlib import cost_volume as cv
from mvdlib._io import verify_sha256
from mvdlib._validation import intrinsics, positive_float, positive_int, rigid_pose, shape_str
from mvdlib.conventions import PAPER_SIZE, PIXEL_MEAN, PIXEL_RANGE, PIXEL_STD, normalize_image
from mvdlib.geometry import relative_pose, scale_intrinsics
from mvdlib.layers import conv_layer, depth_layer, down_conv_layer, up_conv_layer
from mvdlib.resources import data_path

__all__ = [
    "DEFAULT_CHECKPOINT",
    "IMAGE_ONLY_CHECKPOINT",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "PAPER_SIZE",
    "MVDepthNet",
    "fold_batchnorm",
    "inference_model",
    "load_pretrained",
    "normalize_image",
    "predict",
    "read_checkpoint",
]


# Inverse depth is predicted as INV_DEPTH_SCALE * sigmoid(.), so it lies in (0, 2) m^-1,
# i.e. depth > 0.5 m: the nearest plane of the paper's sweep.
INV_DEPTH_SCALE = 2.0

# The encoder halves the resolution five times, so H and W must be multiples of 2^5.
RESOLUTION_MULTIPLE = 32


# Channel counts of the original network at width 1.0.
ENCODER_CHANNELS = (128, 256, 512, 512, 512)
ENCODER_KERNELS = (7, 5, 3, 3, 3)
DECODER_CHANNELS = (512, 512, 256, 128, 64)  # upconv5 .. upconv1

# The checkpoint our own `python -m mvdlib.train --preset cpu` wrote (provenance beside it).
DEFAULT_CHECKPOINT = data_path("mvdepthnet_cpu.pt")
# The same network and preset trained on the image alone (``--image-only``, zeros instead of
# the cost volume): the single-image baseline of chapter 11.
IMAGE_ONLY_CHECKPOINT = data_path("mvdepthnet_image_only_cpu.pt")


def _channels(n: int, width: float) -> int:
    return max(1, round(n * width))


class MVDepthNet(nn.Module):
    """The MVDepthNet encoder-decoder (Wang and Shen 2018, Fig. 2; chapter 10).

    Args:
        width: multiplies every channel count (1.0 is the paper's network).
        num_depths: number of cost-volume planes ``D`` (the paper uses 64).
        align_corners: ``align_corners`` of the decoder's bilinear up-sampling (see the module doc).
        input_size: ``(height, width)`` the network was trained at; :func:`predict` resizes to it.
        image_only: ablation (chapter 11): replace the cost volume by zeros, which turns the same
            layers into a single-image network.
    """

    def __init__(
        self,
        width: float = 1.0,
        num_depths: int = 64,
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
            ref_image: B x 3 x H x W normalised reference image (:func:`normalize_image`).
            cost_volume: B x D x H x W plane-sweep cost volume; H, W multiples of 32.
        Returns:
            ``[disp1, disp2, disp3, disp4]``: B x 1 x H/2^s x W/2^s inverse depth in (0, 2) m^-1, finest first.
        """
        if ref_image.dim() != 4 or ref_image.shape[1] != 3:
            raise ValueError(f"ref_image must be B x 3 x H x W, got shape {shape_str(ref_image)}")
        b, _, h, w = ref_image.shape
        if cost_volume.shape != (b, self.num_depths, h, w):
            raise ValueError(
                f"cost_volume must be B x D x H x W = {(b, self.num_depths, h, w)}, got shape {shape_str(cost_volume)}"
            )
        if h % RESOLUTION_MULTIPLE or w % RESOLUTION_MULTIPLE:
            raise ValueError(f"ref_image height and width must be multiples of {RESOLUTION_MULTIPLE}, got {h} x {w}")
        if self.image_only:
            cost_volume = torch.zeros_like(cost_volume)
        x = torch.cat((ref_image, cost_volume), 1)  # B x (3 + D) x H x W
        if self.conv1[0].weight.is_contiguous(memory_format=torch.channels_last):
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


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file safely (``weights_only=True``), with clear errors.

    A file with a provenance JSON beside it that records a ``sha256`` (the committed and the
    exported checkpoints) is checked against it first.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, differs from its recorded sha256, or not a dict.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path must be a checkpoint file, but it is not found: {path}")
    verify_sha256(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
        raise ValueError(
            f"checkpoint {path} could not be read: it is truncated, corrupt, or not a PyTorch checkpoint ({err})"
        ) from err
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint {path} must hold a dict, got {type(ckpt).__name__}")
    return ckpt


# Keys a checkpoint's ``config`` may hold, and the bounds checked before anything is built
# (width 1.0 is the paper's network; larger ones would only allocate memory to fail later).
CONFIG_KEYS = ("width", "num_depths", "align_corners", "input_size", "image_only")
MAX_WIDTH = 1.0
MAX_NUM_DEPTHS = 256
MAX_INPUT_SIDE = 4096


def _checked_config(config: Any, path: Path) -> dict[str, Any]:
    """A checkpoint's model config, validated (known keys, types, ranges) before any network is built."""
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint {path}: config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"checkpoint {path}: config has unknown keys {unknown}; known: {CONFIG_KEYS}")
    width = config.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= MAX_WIDTH:
        raise ValueError(f"checkpoint {path}: config width must be in (0, {MAX_WIDTH}], got {width!r}")
    num_depths = config.get("num_depths", 64)
    if isinstance(num_depths, bool) or not isinstance(num_depths, int) or not 0 < num_depths <= MAX_NUM_DEPTHS:
        raise ValueError(f"checkpoint {path}: config num_depths must be in 1..{MAX_NUM_DEPTHS}, got {num_depths!r}")
    size = config.get("input_size", PAPER_SIZE)
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_INPUT_SIDE for x in size)
    ):
        raise ValueError(f"checkpoint {path}: config input_size must be two sides in 1..{MAX_INPUT_SIDE}, got {size!r}")
    for key in ("align_corners", "image_only"):
        if not isinstance(config.get(key, False), bool):
            raise ValueError(f"checkpoint {path}: config {key} must be true or false, got {config[key]!r}")
    return config


def load_pretrained(
    path: str | Path | None = None, device: torch.device | str | None = None, align_corners: bool | None = None
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
    Returns:
        The model, in eval mode.
    Raises:
        ValueError: the file is damaged (see :func:`read_checkpoint`), its config is unknown or
            out of range (checked before anything is built), its weights do not fit the network
            or are not finite.
    """
    path = DEFAULT_CHECKPOINT if path is None else path
    if align_corners is not None and not isinstance(align_corners, bool):
        raise TypeError(f"align_corners must be True, False or None, got {align_corners!r}")
    ckpt = read_checkpoint(path)
    path = Path(path)
    state = ckpt.get("model", ckpt.get("state_dict"))
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(
            f"checkpoint {path} must contain a 'model' or 'state_dict' dict of tensors, got keys {sorted(ckpt)}"
        )
    state = {k.removeprefix("module."): v for k, v in state.items()}
    config = _checked_config(ckpt.get("config", {}), path)
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"checkpoint {path} must hold finite weights, got NaN or inf in {bad[:5]}")
    model = MVDepthNet(
        width=config.get("width", 1.0),
        num_depths=config.get("num_depths", 64),
        align_corners=config.get("align_corners", False) if align_corners is None else align_corners,
        input_size=tuple(config.get("input_size", PAPER_SIZE)),
        image_only=config.get("image_only", False),
    )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"checkpoint {path} does not match MVDepthNet(width={model.width}, num_depths={model.num_depths}): "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes (file vs model) {wrong[:5]}"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.to(device if device is not None else "cpu").eval()


def fold_batchnorm(model: MVDepthNet) -> MVDepthNet:
    """A copy of an eval-mode network with every BatchNorm folded into the convolution before it (chapter 10).

    In eval mode BatchNorm is the affine map ``y = gamma (x - mu) / sqrt(var + eps) + beta``
    with fixed statistics, so ``BN(W * x) = W' * x + b'`` with ``W' = W gamma / sqrt(var + eps)``
    and ``b' = beta - gamma mu / sqrt(var + eps)`` (per output channel); PyTorch's
    ``fuse_conv_bn_eval`` computes it. The copy's BatchNorms become ``nn.Identity``: one
    pass over each feature map less, the same output up to float32 rounding.

    Args:
        model: an :class:`MVDepthNet` in eval mode (not changed).
    Returns:
        The folded copy, in eval mode.
    """
    if not isinstance(model, MVDepthNet):
        raise TypeError(f"model must be an MVDepthNet, got {type(model).__name__}")
    if model.training:
        raise ValueError("model must be in eval mode (folding uses the running statistics), got training mode")
    folded = copy.deepcopy(model)
    for block in folded.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for i in range(1, len(block)):
            if isinstance(block[i], nn.BatchNorm2d) and isinstance(block[i - 1], nn.Conv2d):
                block[i - 1] = fuse_conv_bn_eval(block[i - 1], block[i])
                block[i] = nn.Identity()
    return folded.eval()


# The fast copy of each model predict() has seen, with the parameter versions it was made from.
_FAST_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_model(model: MVDepthNet) -> MVDepthNet:
    """The fast inference copy of an eval-mode network: BatchNorm folded, channels_last on the CPU (chapter 10).

    :func:`predict` runs this copy. It is made once per model and kept while the model
    lives; changing the model's weights in place (an optimizer step, ``load_state_dict``)
    bumps their version counters and makes a new copy. Outputs equal the model's to about
    1e-6 (float32 rounding of the folded weights; tests/test_mvdepthnet.py).

    Args:
        model: an :class:`MVDepthNet` in eval mode.
    Returns:
        An :class:`MVDepthNet` in eval mode, on the model's device.
    """
    if not isinstance(model, MVDepthNet):
        raise TypeError(f"model must be an MVDepthNet, got {type(model).__name__}")
    versions = tuple(t._version for t in (*model.parameters(), *model.buffers()))
    cached = _FAST_MODELS.get(model)
    if cached is not None and cached[0] == versions:
        return cached[1]
    with torch.inference_mode(False), torch.no_grad():  # ordinary tensors, even when called from predict
        fast = fold_batchnorm(model)
        if next(fast.parameters()).device.type == "cpu":  # oneDNN's convolutions are faster on NHWC
            fast = fast.to(memory_format=torch.channels_last)
    _FAST_MODELS[model] = (versions, fast)
    return fast


def _images(x: Any, name: str, batched: bool, max_value: float) -> np.ndarray:
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


@torch.inference_mode()
def predict(
    model: MVDepthNet,
    ref_rgb: Any,
    src_rgbs: Any,
    K: Any,
    T_world_ref: Any,
    T_world_srcs: Any,
    max_value: float = 255.0,
) -> np.ndarray:
    """Metric depth of a reference image from measurement frames with known poses (chapter 11).

    Resizes the images to ``model.input_size`` (rescaling ``K`` with ``scale_intrinsics``),
    normalises them, builds the multi-view plane-sweep cost volume on the normalised images
    (as the original), runs the network (its fast copy, :func:`inference_model`) and returns
    ``1 / disp1`` resized back.

    Args:
        model: an :class:`MVDepthNet` in eval mode (as :func:`load_pretrained` returns it).
        ref_rgb: H x W x 3 uint8 reference image.
        src_rgbs: N x H x W x 3 uint8 measurement frames (or a list of N images).
        K: 3 x 3 intrinsics of the H x W images, pixels.
        T_world_ref: 4 x 4 camera-to-world pose of the reference; T_world_srcs: N x 4 x 4.
        max_value: the white level of the images: 255 (uint8 or 0..255 floats) or 1.0 for
            floats in [0, 1]; they are rescaled to 0..255, the network's input range.
    Returns:
        H x W float32 depth in metres, finite everywhere; where the network's inverse depth falls below
        that of the sweep's far plane (``cost_volume.MAX_DEPTH``, 50 m, e.g. a saturated
        sigmoid) the depth is that far plane.
    """
    if not isinstance(model, MVDepthNet):
        raise TypeError(f"model must be an MVDepthNet, got {type(model).__name__}")
    if model.training:  # BatchNorm would normalise with this one image's statistics
        raise ValueError("model must be in eval mode (call model.eval()), got a model in training mode")
    max_value = positive_float(max_value, "max_value")
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
    Kt = intrinsics(K, "K")[0].float()
    T_ref = rigid_pose(T_world_ref, "T_world_ref").float()
    T_srcs = rigid_pose(T_world_srcs, "T_world_srcs").float()
    if T_srcs.shape[0] != n:
        raise ValueError(f"T_world_srcs must be N x 4 x 4 with N = {n} frames, got shape {shape_str(T_srcs)}")
    device = next(model.parameters()).device
    h, w = ref.shape[:2]
    h_net, w_net = model.input_size
    images = torch.from_numpy(np.concatenate([ref[None], srcs]).astype(np.float32)).permute(0, 3, 1, 2)
    if max_value != PIXEL_RANGE:
        images = images * (PIXEL_RANGE / max_value)
    images = F.interpolate(images.to(device), size=(h_net, w_net), mode="bilinear", align_corners=False)
    images = normalize_image(images)  # (1 + N) x 3 x h x w
    K_net = scale_intrinsics(Kt, w_net / w, h_net / h).to(device)
    T_src_refs = relative_pose(T_ref.expand(n, 4, 4), T_srcs).to(device)  # N x 4 x 4
    inv_depths = cv.inverse_depth_samples(model.num_depths).to(device)
    cost = cv.multi_view_cost_volume(images[:1], images[None, 1:], K_net, T_src_refs[None], inv_depths)
    inv_depth = inference_model(model)(images[:1], cost)[0]  # 1 x 1 x h x w
    inv_depth = F.interpolate(inv_depth, size=(h, w), mode="bilinear", align_corners=False)
    inv_depth = inv_depth.clamp(min=1.0 / cv.MAX_DEPTH)  # never inf: no farther than the far plane
    return (1.0 / inv_depth)[0, 0].cpu().numpy().astype(np.float32)
