"""Tests of mvdlib.models.mvdepthnet and the MVDepthNet blocks of mvdlib.layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mvdlib import cost_volume as cv
from mvdlib.layers import conv_layer, depth_layer, down_conv_layer, up_conv_layer
from mvdlib.models.mvdepthnet import (
    PIXEL_MEAN,
    PIXEL_STD,
    MVDepthNet,
    fold_batchnorm,
    inference_model,
    load_pretrained,
    normalize_image,
    predict,
)

# The original network's state_dict keys and shapes (the project's shared/reference listing,
# copied here so that every checkout runs the comparison).
REFERENCE = Path(__file__).resolve().parent / "data" / "mvdepthnet_state_dict.txt"
ORIGINAL_PARAMETERS = 33_898_500  # depthNet_model.py of HKUST-Aerial-Robotics/MVDepthNet


def _reference_listing() -> dict[str, tuple[int, ...]]:
    """Keys and shapes, in order, from the reference listing of the original network."""
    out = {}
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split(" ", 1)
        out[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return out


@pytest.fixture(scope="module")
def full_model() -> MVDepthNet:
    torch.manual_seed(0)
    return MVDepthNet(width=1.0)


def test_state_dict_matches_original_keys_and_shapes(full_model):
    ref = _reference_listing()
    sd = full_model.state_dict()
    assert list(sd) == list(ref)
    assert {k: tuple(v.shape) for k, v in sd.items()} == ref


def test_parameter_count_is_the_originals(full_model):
    assert sum(p.numel() for p in full_model.parameters() if p.requires_grad) == ORIGINAL_PARAMETERS


def test_blocks_have_the_original_layouts():
    down = down_conv_layer(5, 8, 7)
    assert [type(m).__name__ for m in down] == ["Conv2d", "BatchNorm2d", "ReLU"] * 2
    assert down[0].stride == (1, 1) and down[3].stride == (2, 2) and down[0].padding == (3, 3)
    assert down[0].bias is None and down[3].bias is None
    up = up_conv_layer(8, 4)
    assert [type(m).__name__ for m in up] == ["Upsample", "Conv2d", "BatchNorm2d", "ReLU"]
    assert [type(m).__name__ for m in conv_layer(8, 4)] == ["Conv2d", "BatchNorm2d", "ReLU"]
    head = depth_layer(4)
    assert head[0].bias is not None and isinstance(head[1], torch.nn.Sigmoid)
    x = torch.randn(2, 5, 12, 10)
    assert down(x).shape == (2, 8, 6, 5)
    assert up(torch.randn(2, 8, 6, 5)).shape == (2, 4, 12, 10)


def test_up_conv_upsampling_is_bilinear_without_corner_alignment():
    up = up_conv_layer(1, 1)
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    # pixel-centre bilinear 2x: output centre u' maps to u = (u' + 1/2) / 2 - 1/2, edges clamped
    u = (np.arange(8) + 0.5) / 2 - 0.5
    v = (np.arange(6) + 0.5) / 2 - 0.5
    u, v = np.clip(u, 0, 3), np.clip(v, 0, 2)
    expected = np.array([[4 * vi + ui for ui in u] for vi in v])  # x is linear in (u, v): 4v + u
    np.testing.assert_allclose(up[0](x)[0, 0].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(("width", "size", "depths"), [(0.125, (32, 64), 64), (0.25, (64, 96), 32), (0.5, (64, 32), 8)])
def test_outputs_shapes_and_ranges(width, size, depths):
    torch.manual_seed(1)
    model = MVDepthNet(width=width, num_depths=depths)
    h, w = size
    out = model(torch.randn(2, 3, h, w), torch.rand(2, depths, h, w) * 10)
    assert len(out) == 4
    for s, o in enumerate(out):
        assert o.shape == (2, 1, h // 2**s, w // 2**s)
        assert (o > 0).all() and (o < 2).all()


def test_gradients_reach_every_layer():
    torch.manual_seed(2)
    model = MVDepthNet(width=0.125, num_depths=16)
    out = model(torch.randn(2, 3, 32, 64), torch.rand(2, 16, 32, 64))
    sum(o.mean() for o in out).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_forward_rejects_bad_inputs():
    model = MVDepthNet(width=0.125, num_depths=8)
    with pytest.raises(ValueError, match="cost_volume must"):
        model(torch.zeros(1, 3, 32, 32), torch.zeros(1, 9, 32, 32))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 48, 32), torch.zeros(1, 8, 48, 32))
    with pytest.raises(ValueError, match="ref_image must"):
        model(torch.zeros(1, 1, 32, 32), torch.zeros(1, 8, 32, 32))
    with pytest.raises(ValueError, match="input_size"):
        MVDepthNet(input_size=(100, 320))
    with pytest.raises(ValueError, match="width"):
        MVDepthNet(width=0)


def test_normalize_image_hand_values():
    img = np.stack([np.full((2, 2), PIXEL_MEAN), np.full((2, 2), PIXEL_MEAN + PIXEL_STD), np.zeros((2, 2))])
    out = normalize_image(img.astype(np.uint8))
    np.testing.assert_allclose(out[:, 0, 0].numpy(), [0.0, 1.0, -81.0 / 35.0], rtol=1e-6)
    with pytest.raises(ValueError, match="3 x H x W"):
        normalize_image(np.zeros((4, 2, 2)))


# ---- checkpoints ----------------------------------------------------------------------------


def test_load_pretrained_reads_the_authors_format(tmp_path, full_model):
    """A DataParallel-style {'state_dict': {'module.' + key: ...}} file loads into width 1.0."""
    sd = {"module." + k: v for k, v in full_model.state_dict().items()}
    path = tmp_path / "opensource_model.pth.tar"
    torch.save({"state_dict": sd, "epoch": 10}, path)
    model = load_pretrained(path)
    assert not model.training and model.width == 1.0 and not model.align_corners
    for k, v in full_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # trained with PyTorch 0.3, whose bilinear up-sampling aligned corners
    old_style = load_pretrained(path, align_corners=True)
    assert old_style.align_corners and all(
        m.align_corners for m in old_style.modules() if isinstance(m, torch.nn.Upsample)
    )


def test_load_pretrained_converts_float16_and_keeps_config(tmp_path):
    torch.manual_seed(3)
    model = MVDepthNet(width=0.125, num_depths=8, input_size=(32, 64)).eval()
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / "ours.pt"
    config = {"width": 0.125, "num_depths": 8, "align_corners": False, "input_size": [32, 64]}
    torch.save({"model": state, "config": config}, path)
    loaded = load_pretrained(path)
    assert loaded.input_size == (32, 64) and loaded.num_depths == 8
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x, c = torch.randn(1, 3, 32, 64), torch.rand(1, 8, 32, 64)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x, c)[0].numpy(), model(x, c)[0].numpy(), atol=5e-3)


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(tmp_path / "missing.pt")
    torch.manual_seed(4)
    good = tmp_path / "good.pt"
    model = MVDepthNet(width=0.125, num_depths=8)
    torch.save({"state_dict": model.state_dict()}, good)  # no config: read as the width-1.0 network
    with pytest.raises(ValueError, match="does not match"):
        load_pretrained(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_pretrained(truncated)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="must hold a dict"):
        load_pretrained(tmp_path / "list.pt")


# ---- predict ---------------------------------------------------------------------------------


class _WinnerTakeAllNet(MVDepthNet):
    """A stand-in whose 'prediction' is the winner-take-all inverse depth of its cost volume."""

    def forward(self, ref_image, cost_volume):
        return [cv.winner_take_all(cost_volume, cv.inverse_depth_samples(self.num_depths))]


def _shifted_pair(h: int, w: int, shift: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture moved left by ``shift`` pixels."""
    rng = np.random.default_rng(seed)
    big = rng.uniform(0, 255, size=(1, 3, h // 4, (w + shift) // 4 + 2))
    big = F.interpolate(torch.from_numpy(big), scale_factor=4, mode="bicubic", align_corners=False)
    big = big.clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
    return big[:h, :w].copy(), big[:h, shift : shift + w].copy()


@pytest.mark.parametrize("scale", [1, 2])
def test_predict_recovers_a_fronto_parallel_plane(scale):
    """A source camera moved by b along x sees a plane at depth z shifted by fx b / z pixels.

    Images at ``scale`` times the network's size check the resizing and the rescaled K.
    """
    h_net, w_net = 64, 96
    h, w = h_net * scale, w_net * scale
    fx = 80.0 * scale
    shift = 6 * scale  # disparity in pixels at the input resolution
    baseline = 0.1
    z = fx * baseline / shift
    ref, src = _shifted_pair(h, w, shift)
    K = np.array([[fx, 0, (w - 1) / 2], [0, fx, (h - 1) / 2], [0, 0, 1]], dtype=np.float32)
    T_ref = np.eye(4, dtype=np.float32)
    T_src = np.eye(4, dtype=np.float32)
    T_src[0, 3] = baseline  # source camera to the right: points move left in its image
    model = _WinnerTakeAllNet(width=0.125, num_depths=64, input_size=(h_net, w_net)).eval()
    depth = predict(model, ref, src[None], K, T_ref, T_src[None])
    assert depth.shape == (h, w) and depth.dtype == np.float32
    step = float(cv.inverse_depth_samples(64)[1] - cv.inverse_depth_samples(64)[0])
    inner = 1.0 / depth[8 * scale : -8 * scale, 8 * scale : -16 * scale]
    assert np.median(np.abs(inner - 1.0 / z)) <= step


def test_predict_validates_inputs():
    model = MVDepthNet(width=0.125, num_depths=8, input_size=(32, 32)).eval()
    img = np.zeros((32, 32, 3), np.uint8)
    K = np.array([[30.0, 0, 16], [0, 30, 16], [0, 0, 1]])
    eye = np.eye(4)
    with pytest.raises(ValueError, match="ref_rgb must be H x W x 3"):
        predict(model, img[..., 0], img[None], K, eye, eye[None])
    with pytest.raises(ValueError, match="src_rgbs must have the size"):
        predict(model, img, np.zeros((1, 16, 32, 3), np.uint8), K, eye, eye[None])
    with pytest.raises(ValueError, match="T_world_srcs must be N x 4 x 4"):
        predict(model, img, img[None], K, eye, np.stack([eye, eye]))
    with pytest.raises(TypeError, match="model must be an MVDepthNet"):
        predict(torch.nn.Identity(), img, img[None], K, eye, eye[None])
    with pytest.raises(ValueError, match="src_rgbs must be images of one size"):
        predict(model, img, [img, img[:16]], K, eye, np.stack([eye, eye]))
    with pytest.raises(ValueError, match="eval mode"):
        predict(model.train(), img, img[None], K, eye, eye[None])
    model.eval()
    out = predict(model, img, [img, img], K, eye, np.stack([eye, eye]))
    assert out.shape == (32, 32) and np.isfinite(out).all() and (out > 0.5).all()


def test_image_only_network_ignores_the_cost_volume():
    torch.manual_seed(5)
    model = MVDepthNet(width=0.125, num_depths=8, image_only=True).eval()
    x = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        a = model(x, torch.rand(1, 8, 32, 64))[0]
        b = model(x, torch.zeros(1, 8, 32, 64))[0]
        c = model(torch.randn(1, 3, 32, 64), torch.zeros(1, 8, 32, 64))[0]
    assert torch.equal(a, b) and not torch.equal(b, c)
    assert "image_only=True" in repr(model)


# ---- the inference fast path ----------------------------------------------------------------


def _model_with_trained_statistics(width: float, seed: int = 0) -> MVDepthNet:
    """A network whose BatchNorms hold non-trivial running statistics and affine parameters."""
    torch.manual_seed(seed)
    model = MVDepthNet(width=width, num_depths=16, input_size=(64, 96))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model.eval()


def _inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 64, 96, generator=g), 3 * torch.rand(2, 16, 64, 96, generator=g)


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_inference_model_matches_the_eager_network(width):
    model = _model_with_trained_statistics(width)
    ref, cost = _inputs()
    with torch.no_grad():
        eager = model(ref, cost)
    fast = inference_model(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the model itself is unchanged
    assert fast.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = fast(ref, cost)
    for a, b in zip(eager, out, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)


def test_fold_batchnorm_is_the_closed_form_affine_map():
    model = _model_with_trained_statistics(0.125)
    conv, bn = model.conv1[0], model.conv1[1]
    folded = fold_batchnorm(model).conv1[0]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(folded.weight, conv.weight * scale[:, None, None, None])
    torch.testing.assert_close(folded.bias, bn.bias - bn.running_mean * scale)


def test_inference_model_is_reused_until_the_weights_change():
    model = _model_with_trained_statistics(0.125)
    fast = inference_model(model)
    assert inference_model(model) is fast
    model.load_state_dict(_model_with_trained_statistics(0.125, seed=5).state_dict())
    renewed = inference_model(model)
    assert renewed is not fast
    ref, cost = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(renewed(ref, cost)[0], model(ref, cost)[0], rtol=0, atol=1e-4)


def test_fold_batchnorm_rejects_a_training_model():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(MVDepthNet(width=0.125, num_depths=16).train())
    with pytest.raises(TypeError, match="MVDepthNet"):
        fold_batchnorm(torch.nn.Conv2d(3, 3, 3))


def test_predict_runs_the_fast_copy_and_equals_the_eager_network():
    model = _model_with_trained_statistics(0.25)
    fast = inference_model(model)
    ref, src = _shifted_pair(64, 96, 4)
    K = np.array([[80.0, 0, 47.5], [0, 80.0, 31.5], [0, 0, 1]], dtype=np.float32)
    T_src = np.eye(4, dtype=np.float32)
    T_src[0, 3] = 0.1
    depth = predict(model, ref, src[None], K, np.eye(4), T_src[None])
    assert inference_model(model) is fast  # predict kept the copy it made
    # the eager network on the inputs predict builds (the images are at the network's size)
    images = normalize_image(torch.from_numpy(np.stack([ref, src]).astype(np.float32)).permute(0, 3, 1, 2))
    T_src_ref = torch.linalg.inv(torch.from_numpy(T_src))[None, None]
    cost = cv.multi_view_cost_volume(images[:1], images[None, 1:], K, T_src_ref, cv.inverse_depth_samples(16))
    with torch.no_grad():
        eager_inv_depth = model(images[:1], cost)[0][0, 0].numpy()
    np.testing.assert_allclose(1.0 / depth, eager_inv_depth, rtol=0, atol=1e-4)  # 1/m
