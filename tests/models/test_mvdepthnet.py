"""Tests of mvdlib.models.mvdepthnet (the network and load_pretrained) and the MVDepthNet blocks of
mvdlib.layers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import mvdlib.models.mvdepthnet as mvd
from mvdlib.conventions import PIXEL_MEAN, PIXEL_STD, normalize_image
from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained

# The original network's state_dict keys and shapes (the project's shared/reference listing,
# copied here so that every checkout runs the comparison).
REFERENCE = Path(__file__).resolve().parent / "mvdepthnet_state_dict.txt"
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


# ---- load_pretrained refuses damaged files, non-finite weights and bad configs -----------------


def test_a_flipped_byte_in_a_committed_checkpoint_is_refused(tmp_path):
    path = tmp_path / DEFAULT_CHECKPOINT.name
    data = bytearray(DEFAULT_CHECKPOINT.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ValueError, match=r"mvdepthnet_cpu\.pt.*damaged.*git checkout -- data/mvdepthnet_cpu\.pt"):
        load_pretrained(path)


def test_non_finite_weights_are_refused(tmp_path):
    model = MVDepthNet(0.125, 8, input_size=(32, 32))
    state = model.state_dict()
    state["disp1.0.weight"][0, 0, 0, 0] = float("nan")
    torch.save({"model": state, "config": {"width": 0.125, "num_depths": 8, "input_size": [32, 32]}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"finite.*disp1\.0\.weight"):
        load_pretrained(tmp_path / "x.pt")


@pytest.mark.parametrize(
    ("config", "word"),
    [
        ({"width": 2.0}, "width"),
        ({"width": 20}, "width"),
        ({"num_depths": 100000}, "num_depths"),
        ({"input_size": [32000, 32000]}, "input_size"),
        ({"image_only": "no"}, "image_only"),
        ({"colour": 1}, "colour"),
        ([1, 2], "config"),
    ],
)
def test_checkpoint_config_is_checked_before_anything_is_built(tmp_path, monkeypatch, config, word):
    torch.save({"model": {}, "config": config}, tmp_path / "x.pt")

    def no_build(*args, **kwargs):
        raise AssertionError("MVDepthNet built before its config was checked")

    monkeypatch.setattr(mvd, "MVDepthNet", no_build)
    with pytest.raises(ValueError, match=word):
        load_pretrained(tmp_path / "x.pt")


@pytest.mark.parametrize(("device", "error"), [(3.5, TypeError), (True, TypeError), ("gpu7", ValueError)])
def test_load_pretrained_refuses_a_device_that_is_not_one(device, error):
    with pytest.raises(error, match="device"):
        load_pretrained(device=device)


def test_load_pretrained_records_the_channel_order_predict_feeds():
    assert load_pretrained().channel_order == "rgb"
    assert load_pretrained(channel_order="bgr").channel_order == "bgr"
    with pytest.raises(ValueError, match="channel_order"):
        load_pretrained(channel_order="BGRA")
