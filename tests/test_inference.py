"""Tests of mvdlib/inference.py: BatchNorm folding, the fast inference copy and predict (chapters 10-11)."""

from __future__ import annotations

import copy
import re
import types
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mvdlib.cost_volume
import mvdlib.geometry
import mvdlib.inference
from mvdlib import cost_volume as cv
from mvdlib._validation import intrinsics, value_checks_enabled
from mvdlib.conventions import normalize_image
from mvdlib.data.camera import default_intrinsics
from mvdlib.geometry import relative_pose, scale_intrinsics
from mvdlib.inference import fold_batchnorm, inference_model, predict
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.runtime import native_bf16

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
    moved = eye.copy()
    moved[0, 3] = 0.1
    out = predict(model, img, [img, img], K, eye, np.stack([moved, 2 * moved - eye]))
    assert out.shape == (32, 32) and np.isfinite(out).all() and (out > 0.5).all()


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
    batchnorms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert sum(len(getattr(m, "folded", ())) for m in fast.modules()) == batchnorms  # every one folded
    assert type(model.conv1) is torch.nn.Sequential  # the model itself is unchanged
    assert fast.conv1.fused_0_weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = fast(ref, cost)
    for a, b in zip(eager, out, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)


def test_fold_batchnorm_is_the_closed_form_affine_map():
    model = _model_with_trained_statistics(0.125)
    conv, bn = model.conv1[0], model.conv1[1]
    folded = fold_batchnorm(model).conv1
    assert folded.folded == {"0": "1", "3": "4"}  # both conv-BN pairs of the encoder block
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(folded.fused_0_weight, conv.weight * scale[:, None, None, None])
    torch.testing.assert_close(folded.fused_0_bias, bn.bias - bn.running_mean * scale)
    torch.testing.assert_close(folded[0].weight, conv.weight, rtol=0, atol=0)  # the module itself is kept


def test_inference_model_is_made_anew_from_the_model_as_it_is():
    model = _model_with_trained_statistics(0.125)
    fast = inference_model(model)
    assert inference_model(model) is not fast  # nothing kept that could go stale
    model.load_state_dict(_model_with_trained_statistics(0.125, seed=5).state_dict())
    ref, cost = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(inference_model(model)(ref, cost)[0], model(ref, cost)[0], rtol=0, atol=1e-4)
        assert not torch.allclose(fast(ref, cost)[0], model(ref, cost)[0], rtol=0, atol=1e-4)


def _change_by_optimizer_step(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ref, cost = _inputs()
    model(ref, cost)[0].mean().backward()
    opt.step()


def _change_by_data_write(model):
    for p in model.parameters():
        p.data.mul_(0.5)


def _change_by_load_state_dict(model):
    model.load_state_dict(_model_with_trained_statistics(0.125, seed=5).state_dict())


def _change_by_vector_to_parameters(model):
    vec = torch.nn.utils.parameters_to_vector(model.parameters())
    torch.nn.utils.vector_to_parameters(vec * 0.5, model.parameters())


def _change_by_buffer_data_write(model):
    model.conv1[1].running_mean.data.add_(1.0)


def _change_by_dtype(model):
    model.to(torch.float64)


@pytest.mark.parametrize(
    "change",
    [
        _change_by_optimizer_step,
        _change_by_data_write,
        _change_by_load_state_dict,
        _change_by_vector_to_parameters,
        _change_by_buffer_data_write,
        _change_by_dtype,
    ],
)
def test_predict_sees_every_change_of_the_weights(change):
    """The fast copy is remade whatever way the weights change, also those that bump no version counter."""
    model = _model_with_trained_statistics(0.125)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=1, h=64, w=96)
    before = predict(model, ref, srcs, K, T_ref, T_srcs)
    change(model)
    model.eval()
    after = predict(model, ref, srcs, K, T_ref, T_srcs)
    fresh = _predict_by_hand(copy.deepcopy(model).float(), ref, srcs, K, T_ref, T_srcs)
    assert not np.array_equal(after, before) or change is _change_by_dtype
    np.testing.assert_allclose(after, fresh, rtol=1e-4)


def test_fold_batchnorm_rejects_a_training_model():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(MVDepthNet(width=0.125, num_depths=16).train())
    with pytest.raises(TypeError, match="MVDepthNet"):
        fold_batchnorm(torch.nn.Conv2d(3, 3, 3))


def test_predict_runs_the_fast_copy_and_equals_the_eager_network():
    model = _model_with_trained_statistics(0.25)
    ref, src = _shifted_pair(64, 96, 4)
    K = np.array([[80.0, 0, 47.5], [0, 80.0, 31.5], [0, 0, 1]], dtype=np.float32)
    T_src = np.eye(4, dtype=np.float32)
    T_src[0, 3] = 0.1
    depth = predict(model, ref, src[None], K, np.eye(4), T_src[None])
    # the eager network on the inputs predict builds (the images are at the network's size)
    images = normalize_image(torch.from_numpy(np.stack([ref, src]).astype(np.float32)).permute(0, 3, 1, 2))
    T_src_ref = torch.linalg.inv(torch.from_numpy(T_src))[None, None]
    cost = cv.multi_view_cost_volume(images[:1], images[None, 1:], K, T_src_ref, cv.inverse_depth_samples(16))
    with torch.no_grad():
        eager_inv_depth = model(images[:1], cost)[0][0, 0].numpy()
    np.testing.assert_allclose(1.0 / depth, eager_inv_depth, rtol=0, atol=1e-4)  # 1/m


def _posed_views(n: int = 3, h: int = 64, w: int = 96) -> tuple:
    """A reference image, ``n`` measurement frames of the same texture, their K and poses."""
    ref, _ = _shifted_pair(h, w, 0)
    srcs = np.stack([_shifted_pair(h, w, 2 * (j + 1))[1] for j in range(n)])
    K = np.array([[80.0, 0, (w - 1) / 2], [0, 80.0, (h - 1) / 2], [0, 0, 1]], dtype=np.float32)
    T_srcs = np.repeat(np.eye(4, dtype=np.float32)[None], n, axis=0)
    T_srcs[:, 0, 3] = 0.05 * (np.arange(n) + 1)
    return ref, srcs, K, np.eye(4, dtype=np.float32), T_srcs


def _predict_by_hand(model, ref, srcs, K, T_ref, T_srcs) -> np.ndarray:
    """predict's steps written out, with the relative poses and the multi-view volume assembled by hand."""
    h, w = ref.shape[:2]
    h_net, w_net = model.input_size
    n = srcs.shape[0]
    images = torch.from_numpy(np.concatenate([ref[None], srcs]).astype(np.float32)).permute(0, 3, 1, 2)
    images = normalize_image(F.interpolate(images, size=(h_net, w_net), mode="bilinear", align_corners=False))
    K_net = scale_intrinsics(torch.from_numpy(K).float(), w_net / w, h_net / h)
    T_src_refs = relative_pose(torch.from_numpy(T_ref).expand(n, 4, 4), torch.from_numpy(T_srcs))
    inv_depths = cv.inverse_depth_samples(model.num_depths)
    cost = cv.multi_view_cost_volume(images[:1], images[None, 1:], K_net, T_src_refs[None], inv_depths)
    with torch.no_grad():
        inv_depth = inference_model(model)(images[:1], cost)[0]
    inv_depth = F.interpolate(inv_depth, size=(h, w), mode="bilinear", align_corners=False).clamp(min=1.0 / 50.0)
    return (1.0 / inv_depth)[0, 0].numpy().astype(np.float32)


def test_predict_equals_the_hand_assembled_volume_bit_for_bit():
    model = _model_with_trained_statistics(0.25)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=2, h=80, w=120)  # resized to the network's 64 x 96
    np.testing.assert_array_equal(
        predict(model, ref, srcs, K, T_ref, T_srcs), _predict_by_hand(model, ref, srcs, K, T_ref, T_srcs)
    )


def test_predict_refuses_a_batch_of_intrinsics():
    model = MVDepthNet(width=0.125, num_depths=8, input_size=(32, 32)).eval()
    img = np.zeros((32, 32, 3), np.uint8)
    K = np.array([[30.0, 0, 16], [0, 30, 16], [0, 0, 1]])
    T_src = np.eye(4)
    T_src[0, 3] = 0.2
    with pytest.raises(ValueError, match="K must be one 3 x 3 matrix"):
        predict(model, img, img[None], np.stack([K, 2 * K - np.diag([0, 0, 1])]), np.eye(4), T_src[None])
    out = predict(model, img, img[None], K[None], np.eye(4), T_src[None])  # a batch of one is one matrix
    assert out.shape == (32, 32)


def test_predict_checks_K_once_whatever_the_number_of_views(monkeypatch):
    """One value check of K (finite, last row, focal lengths), not one per view and step."""
    checked = []

    def counting(K, name="K"):
        checked.append(value_checks_enabled())
        return intrinsics(K, name)

    for module in (mvdlib.inference, mvdlib.cost_volume, mvdlib.geometry):
        monkeypatch.setattr(module, "intrinsics", counting)
    model = _model_with_trained_statistics(0.125)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=3)
    predict(model, ref, srcs, K, T_ref, T_srcs)
    assert checked.count(True) == 1
    checked.clear()
    images = torch.rand(1, 3, 3, 64, 96)
    cv.cost_volume_from_world_poses(images[:, 0], images, K, T_ref, T_srcs, cv.inverse_depth_samples(8))
    assert checked == [True]  # the public cost volume checks K once for its three views


# ---- predict refuses images in [0, 1] unless told, and never returns inf ---------------------


def _scene_inputs():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    srcs = rng.integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    T_srcs = np.stack([np.eye(4), np.eye(4)])
    T_srcs[:, 0, 3] = [0.1, -0.1]
    return ref, srcs, default_intrinsics(32, 64), np.eye(4), T_srcs


def test_predict_refuses_images_scaled_to_one_unless_told():
    model = MVDepthNet(0.125, 8, input_size=(32, 64)).eval()
    ref, srcs, K, T_ref, T_srcs = _scene_inputs()
    with pytest.raises(ValueError, match="ref_rgb.*max_value"):
        predict(model, ref / 255.0, srcs / 255.0, K, T_ref, T_srcs)
    with pytest.raises(ValueError, match="src_rgbs"):
        predict(model, ref, srcs * 2.0, K, T_ref, T_srcs)
    expected = predict(model, ref, srcs, K, T_ref, T_srcs)
    scaled = predict(model, ref / 255.0, srcs / 255.0, K, T_ref, T_srcs, max_value=1.0)
    np.testing.assert_allclose(scaled, expected, rtol=1e-4)


def test_predict_never_returns_infinite_depth():
    model = MVDepthNet(0.125, 8, input_size=(32, 64)).eval()
    with torch.no_grad():
        model.disp1[0].bias.fill_(-1e4)  # the sigmoid saturates to 0: inverse depth 0
    depth = predict(model, *_scene_inputs())
    assert np.isfinite(depth).all() and depth.max() <= 50.0


# ---- degenerate geometry, dtypes, precision, channel order ------------------------------------


def _moved(T_srcs: np.ndarray, j: int, baseline: float) -> np.ndarray:
    T = T_srcs.copy()
    T[j, :3, 3] = [baseline, 0, 0]
    return T


@pytest.mark.parametrize(
    ("case", "bad"),
    [("zero baseline", 1), ("1e-7 m baseline", 0), ("tiny K", None), ("source 1e6 m away", 1)],
)
def test_predict_warns_on_degenerate_geometry_naming_the_view(case, bad):
    model = _model_with_trained_statistics(0.125)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=2)
    if case == "zero baseline":
        T_srcs = _moved(T_srcs, 1, 0.0)
    elif case == "1e-7 m baseline":
        T_srcs = _moved(T_srcs, 0, 1e-7)
    elif case == "tiny K":
        K = K.copy()
        K[:2] *= 1e-3
    else:
        T_srcs = _moved(T_srcs, 1, 1e6)
    with pytest.warns(mvdlib.inference.DegenerateGeometryWarning) as record:
        predict(model, ref, srcs, K, T_ref, T_srcs)
    named = sorted(int(str(w.message).split()[2]) for w in record)
    assert named == ([0, 1] if bad is None else [bad])


def test_predict_does_not_warn_on_ordinary_geometry():
    model = _model_with_trained_statistics(0.125)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict(model, *_posed_views(n=2))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_predict_runs_models_of_any_float_dtype(dtype):
    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    expected = predict(model, *views)
    depth = predict(copy.deepcopy(model).to(dtype), *views)
    assert depth.dtype == np.float32 and np.isfinite(depth).all()
    tol = {torch.float64: 1e-4, torch.float16: 2e-2, torch.bfloat16: 1e-1}[dtype]
    np.testing.assert_allclose(1 / depth, 1 / expected, rtol=0, atol=tol)  # inverse depth, 1/m


def test_predict_bf16_is_close_to_fp32_and_says_when_the_cpu_lacks_bf16():
    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    fp32 = predict(model, *views)
    native = native_bf16("cpu")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        bf16 = predict(model, *views, precision="bf16")
    slow = [w for w in record if "without native bfloat16" in str(w.message)]
    assert len(slow) == (0 if native else 1)
    assert not np.array_equal(bf16, fp32)  # it did run in bfloat16
    np.testing.assert_allclose(1 / bf16, 1 / fp32, rtol=0, atol=5e-2)
    with pytest.raises(ValueError, match="precision"):
        predict(model, *views, precision="fp16")


def test_predict_bgr_input_with_channel_order_bgr_equals_rgb_input():
    model = _model_with_trained_statistics(0.125)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=2)
    rgb = predict(model, ref, srcs, K, T_ref, T_srcs)
    bgr = predict(model, ref[..., ::-1], srcs[..., ::-1], K, T_ref, T_srcs, channel_order="bgr")
    np.testing.assert_array_equal(bgr, rgb)
    assert not np.array_equal(predict(model, ref[..., ::-1], srcs[..., ::-1], K, T_ref, T_srcs), rgb)
    model.channel_order = "bgr"  # what load_pretrained(channel_order="bgr") sets: the network is fed BGR
    np.testing.assert_array_equal(
        predict(model, ref, srcs, K, T_ref, T_srcs),
        predict(model, ref[..., ::-1], srcs[..., ::-1], K, T_ref, T_srcs, channel_order="bgr"),
    )
    with pytest.raises(ValueError, match="channel_order"):
        predict(model, ref, srcs, K, T_ref, T_srcs, channel_order="rgba")


# ---- predict sees structural changes of the model -------------------------------------------


class _Halve(torch.nn.Module):
    """A parametrization: the weight used is half the stored one."""

    def forward(self, w):
        return 0.5 * w


def _change_by_parametrization(model):
    torch.nn.utils.parametrize.register_parametrization(model.conv1[0], "weight", _Halve())


def _change_by_swapped_activation(model):
    model.conv1[2] = torch.nn.LeakyReLU(0.3)


def _change_by_identity_activation(model):
    model.conv1[5] = torch.nn.Identity()


def _change_by_forward_hook_on_conv(model):
    model.conv1[0].register_forward_hook(lambda module, args, out: out * 0.5)


def _change_by_forward_pre_hook_on_bn(model):
    model.conv1[1].register_forward_pre_hook(lambda module, args: (args[0] + 1.0,))


def _change_by_batchnorm_eps(model):
    model.conv1[1].eps = 10.0


def _change_by_batchnorm_without_running_statistics(model):
    model.conv1[1].track_running_stats = False  # eval mode then normalises with the batch's statistics
    model.conv1[1].running_mean = None
    model.conv1[1].running_var = None


def _predict_with_the_plain_model(monkeypatch, model, views) -> np.ndarray:
    """predict running the model itself (nothing folded, nothing cached): the reference."""
    with monkeypatch.context() as m:
        m.setattr(mvdlib.inference, "inference_model", lambda model: model)
        return predict(model, *views)


@pytest.mark.parametrize(
    "change",
    [
        _change_by_parametrization,
        _change_by_swapped_activation,
        _change_by_identity_activation,
        _change_by_forward_hook_on_conv,
        _change_by_forward_pre_hook_on_bn,
        _change_by_batchnorm_eps,
        _change_by_batchnorm_without_running_statistics,
    ],
)
def test_predict_sees_every_change_of_the_structure(monkeypatch, change):
    """Parametrizations, swapped modules, hooks, BatchNorm settings: predict equals the un-folded model after each."""
    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    before = predict(model, *views)
    change(model)
    after = predict(model, *views)
    plain = _predict_with_the_plain_model(monkeypatch, model, views)
    assert not np.array_equal(plain, before)  # the change matters
    np.testing.assert_allclose(1 / after, 1 / plain, rtol=0, atol=1e-4)  # inverse depth, 1/m


def test_predict_refuses_a_submodule_in_training_mode():
    model = _model_with_trained_statistics(0.125)
    model.conv2.train()  # BatchNorm would normalise with this one image's statistics and update its own
    with pytest.raises(ValueError, match=r"module conv2\.1 of model is in training mode"):
        predict(model, *_posed_views(n=1))
    with pytest.raises(ValueError, match=r"module conv2\.1 of model is in training mode"):
        fold_batchnorm(model)


def test_predict_keeps_the_mode_of_mode_free_modules():
    """A module put in after model.eval() (in training mode) that computes the same in both modes is accepted."""
    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    before = predict(model, *views)
    model.conv1[2] = torch.nn.ReLU()  # a new module is in training mode
    np.testing.assert_array_equal(predict(model, *views), before)


def test_parallax_of_a_sideways_baseline_is_the_disparity_range():
    """A source b metres to the side: every pixel's segment spans f b (1/z_near - 1/z_far) pixels."""
    f, b, h, w = 80.0, 0.01, 64, 96
    K = torch.tensor([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    T_srcs = torch.eye(4).repeat(2, 1, 1)
    T_srcs[0, 0, 3], T_srcs[1, 1, 3] = b, 2 * b
    depths = 1.0 / cv.inverse_depth_samples(16)
    parallax = mvdlib.inference._parallax(K, torch.eye(4)[None], T_srcs, (h, w), depths)
    span = (1 / depths.min() - 1 / depths.max()).item()
    torch.testing.assert_close(parallax, torch.tensor([f * b * span, f * 2 * b * span], dtype=torch.float64))


class _Recorder:
    """A forward hook that keeps what its module returned (as a reader records activations)."""

    def __init__(self):
        self.outputs = []

    def __call__(self, module, args, out):
        self.outputs.append(out.detach().clone())


def test_predict_runs_hooks_on_the_model_itself():
    """A hook object registered on the model sees predict's pass (a copy of the model would copy the hook too)."""
    model = _model_with_trained_statistics(0.125)
    recorder = _Recorder()
    model.conv1[2].register_forward_hook(recorder)
    predict(model, *_posed_views(n=1))
    assert len(recorder.outputs) == 1 and recorder.outputs[0].shape[1] == model.conv1[0].out_channels


# ---- folding only where it is exact: Sequentials that are not a plain chain (issue 22, round 3) ---


class _ResidualSequential(torch.nn.Sequential):
    """A Sequential subclass with its own forward: the convolution's output is used twice."""

    def forward(self, x):
        y = self[0](x)
        return self[2](self[1](y)) + y


def _subclass_with_own_forward(model):
    model.iconv1 = _ResidualSequential(*model.iconv1)  # conv, BatchNorm, ReLU


def _forward_patched_on_the_instance(model):
    def forward(self, x):
        return torch.nn.Sequential.forward(self, x) + 10.0 * self[0](x)  # the raw convolution used again

    model.iconv2.forward = types.MethodType(forward, model.iconv2)  # a copy of the model rebinds it to its copy


class _Tap(torch.nn.Module):
    """A parent whose forward adds what the Sequential's first module computes, called as ``seq[0]`` or ``seq[:1]``."""

    def __init__(self, seq, by_slice):
        super().__init__()
        self.seq = seq
        self.by_slice = by_slice

    def forward(self, x):
        first = self.seq[:1] if self.by_slice else self.seq[0]  # seq[:1]: a new Sequential holding the convolution
        return self.seq(x) + 10.0 * first(x)


def _seq_item_called_by_the_parent(model):
    model.iconv3 = _Tap(model.iconv3, by_slice=False)


def _seq_slice_called_by_the_parent(model):
    model.iconv4 = _Tap(model.iconv4, by_slice=True)


@pytest.mark.parametrize(
    "change",
    [
        _subclass_with_own_forward,
        _forward_patched_on_the_instance,
        _seq_item_called_by_the_parent,
        _seq_slice_called_by_the_parent,
    ],
)
def test_fold_batchnorm_equals_the_unfolded_model_when_a_sequential_is_not_a_plain_chain(monkeypatch, change):
    """A convolution whose output reaches more than its BatchNorm must not be folded: outputs equal the model's."""
    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    before = predict(model, *views)
    change(model)
    model.eval()
    ref, cost = _inputs()
    with torch.no_grad():
        eager = model(ref, cost)
        folded = fold_batchnorm(model)(ref, cost)
    for a, b in zip(eager, folded, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)
    plain = _predict_with_the_plain_model(monkeypatch, model, views)
    assert not np.array_equal(plain, before)  # the change matters
    np.testing.assert_allclose(1 / predict(model, *views), 1 / plain, rtol=0, atol=1e-4)  # inverse depth, 1/m


# ---- models predict cannot copy, non-finite or missing weights, black frames (issue 22, round 3) ---


def test_predict_runs_a_model_that_cannot_be_deep_copied_unfolded(monkeypatch):
    """A model holding a lock (or anything deepcopy refuses): predict runs it as it is; fold_batchnorm says why not."""
    import threading

    model = _model_with_trained_statistics(0.125)
    views = _posed_views(n=1)
    expected = predict(model, *views)
    model.lock = threading.Lock()
    with pytest.raises(ValueError, match=r"model cannot be deep-copied \(TypeError"):
        fold_batchnorm(model)
    np.testing.assert_allclose(1 / predict(model, *views), 1 / expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(predict(model, *views), _predict_with_the_plain_model(monkeypatch, model, views))


@pytest.mark.parametrize(("where", "name"), [("weight", "conv2.0.weight"), ("running_var", "conv2.1.running_var")])
def test_predict_refuses_a_model_with_non_finite_weights_naming_them(where, name):
    model = _model_with_trained_statistics(0.125)
    with torch.no_grad():
        getattr(model.conv2[0 if where == "weight" else 1], where).view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=rf"model must have finite weights, got NaN or inf in \['{re.escape(name)}'\]"):
        predict(model, *_posed_views(n=1))


class _WeightlessNet(torch.nn.Module):
    """MVDepthNet's interface without a single parameter."""

    num_depths = 8
    input_size = (64, 96)

    def forward(self, ref_image, cost_volume):
        return [cv.winner_take_all(cost_volume, cv.inverse_depth_samples(self.num_depths))]


def test_predict_refuses_a_model_without_parameters():
    with pytest.raises(ValueError, match="model must have parameters"):
        predict(_WeightlessNet().eval(), *_posed_views(n=1))


def test_predict_takes_an_all_black_frame():
    """Black is black in 0..255 and in [0, 1]: a float frame of zeros is not refused as 'scaled to [0, 1]'."""
    model = _model_with_trained_statistics(0.125)
    ref, srcs, K, T_ref, T_srcs = _posed_views(n=1)
    black = np.zeros_like(ref)
    expected = predict(model, black, srcs, K, T_ref, T_srcs)
    np.testing.assert_array_equal(predict(model, black.astype(np.float32), srcs, K, T_ref, T_srcs), expected)
    np.testing.assert_array_equal(
        predict(model, black.astype(np.float64), srcs.astype(np.float32), K, T_ref, T_srcs), expected
    )
    with pytest.raises(ValueError, match="ref_rgb looks scaled to"):  # a dark but not black frame still is
        predict(model, (ref / 255.0).astype(np.float32), srcs, K, T_ref, T_srcs)


class _Conv3dNet(torch.nn.Module):
    """A network with a Conv3d over the cost volume (a 5-D weight): no channels_last form exists for it."""

    num_depths, input_size = 8, (64, 96)

    def __init__(self):
        super().__init__()
        self.c3 = torch.nn.Conv3d(1, 1, 3, padding=1)
        self.head = torch.nn.Conv2d(3 + 8, 1, 3, padding=1)

    def forward(self, ref_image, cost_volume):
        cost = self.c3(cost_volume[:, None])[:, 0]
        return [torch.sigmoid(self.head(torch.cat([ref_image, cost], 1))) * 2]


class _FlattenNet(torch.nn.Module):
    """An Eigen-style fully connected bottleneck that flattens a feature map with ``.view``."""

    num_depths, input_size = 8, (64, 96)

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3 + 8, 2, 3, stride=8, padding=1)
        self.fc = torch.nn.Linear(2 * 8 * 12, 64 * 96)

    def forward(self, ref_image, cost_volume):
        f = self.conv(torch.cat([ref_image, cost_volume], 1))
        return [torch.sigmoid(self.fc(f.view(f.shape[0], -1))).view(-1, 1, 64, 96) * 2]


@pytest.mark.parametrize("net", [_Conv3dNet, _FlattenNet])
def test_predict_equals_the_model_itself_for_networks_that_channels_last_would_break(monkeypatch, net):
    torch.manual_seed(0)
    model = net().eval()
    views = _posed_views(n=1)
    np.testing.assert_array_equal(predict(model, *views), _predict_with_the_plain_model(monkeypatch, model, views))


def test_predict_refuses_a_negative_batchnorm_variance_naming_it():
    model = _model_with_trained_statistics(0.125)
    with torch.no_grad():
        model.conv2[1].running_var[0] = -1.0
    with pytest.raises(
        ValueError, match=r"running_var must not be negative, got negative values in \['conv2.1.running_var'\]"
    ):
        predict(model, *_posed_views(n=1))


class _NaNNet(_FlattenNet):
    """Finite weights, a NaN output (the log of a negative number)."""

    def forward(self, ref_image, cost_volume):
        return [torch.log(super().forward(ref_image, cost_volume)[0] - 100)]


def test_predict_refuses_a_network_output_that_is_not_finite():
    with pytest.raises(ValueError, match=rf"network produced non-finite depth at {64 * 96} of {64 * 96} pixels"):
        predict(_NaNNet().eval(), *_posed_views(n=1))
